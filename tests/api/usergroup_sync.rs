//! Cron mode: the user group follows the people on call.

use std::process::Stdio;
use std::time::Duration;

use oncall_bot::config::SyncConfig;
use oncall_bot::startup;
use oncall_bot::usergroup_sync::{
    SyncError, SyncOutcome, UserGroupRef, UserGroupSpec, UserGroupSync,
};
use tokio::process::Command;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const GROUP_ID: &str = "S0OPSONCALL";

/// The sync of the one group `config` names.
fn one_sync(config: &SyncConfig) -> Result<UserGroupSync, oncall_bot::startup::StartupError> {
    let mut syncs = startup::user_group_syncs(config)?;
    assert_eq!(syncs.len(), 1);
    Ok(syncs.remove(0))
}
const HANDLE: &str = "opsoncall";

async fn workspace_with_group(
    members: &[&str],
) -> (
    oncall_bot_simulator::SlackWorkspace,
    oncall_bot_simulator::OpsGenieAccount,
) {
    let slack = start_slack().await;
    slack.add_user_group(GROUP_ID, HANDLE, members);
    (slack, start_opsgenie().await)
}

fn members(slack: &oncall_bot_simulator::SlackWorkspace) -> Vec<String> {
    slack
        .user_group(HANDLE)
        .map(|group| group.users)
        .unwrap_or_default()
}

async fn updates(slack: &oncall_bot_simulator::SlackWorkspace) -> usize {
    requests_to(slack.server(), "/usergroups.users.update").await
}

#[tokio::test]
async fn the_first_sync_sets_the_members_and_the_second_changes_nothing() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    let sync = one_sync(&sync_config(&slack, &opsgenie, HANDLE)).expect("sync");

    let first = sync.run_once().await.expect("first sync");
    assert_eq!(
        first.outcome,
        SyncOutcome::Updated {
            from: vec!["UCAROL".into()],
            to: vec!["UALICE".into(), "UBOB".into()]
        }
    );
    assert_eq!(
        first.to_string(),
        "@opsoncall updated from [UCAROL] to [UALICE, UBOB]"
    );
    assert_eq!(members(&slack), ["UALICE", "UBOB"]);

    let second = sync.run_once().await.expect("second sync");
    assert_eq!(second.to_string(), "@opsoncall unchanged: [UALICE, UBOB]");
    assert_eq!(updates(&slack).await, 1);
}

#[tokio::test]
async fn the_group_can_be_named_by_handle_with_at_sign_or_by_id() {
    for group in ["@opsoncall", GROUP_ID] {
        let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
        let sync = one_sync(&sync_config(&slack, &opsgenie, group)).expect("sync");
        sync.run_once().await.expect("synced");
        assert_eq!(members(&slack), ["UALICE", "UBOB"], "{group}");
    }
}

#[tokio::test]
async fn an_unknown_handle_is_named_in_the_error() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    let sync = one_sync(&sync_config(&slack, &opsgenie, "nosuchgroup")).expect("sync");
    let error = sync.run_once().await.expect_err("no such group");
    assert!(
        matches!(&error, SyncError::NoSuchGroup(handle) if handle == "nosuchgroup"),
        "{error}"
    );
    assert_eq!(updates(&slack).await, 0);
}

#[tokio::test]
async fn a_person_without_a_slack_account_is_skipped_and_the_others_synced() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    opsgenie.set_on_call(SCHEDULE, &["alice@corp.example", "dave@contractor.example"]);
    let sync = one_sync(&sync_config(&slack, &opsgenie, HANDLE)).expect("sync");
    let report = sync.run_once().await.expect("synced");
    assert_eq!(report.skipped, ["dave@contractor.example"]);
    assert_eq!(members(&slack), ["UALICE"]);
}

#[tokio::test]
async fn when_nobody_can_be_resolved_the_group_is_left_as_it_is() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    for on_call in [vec!["dave@contractor.example"], vec![]] {
        opsgenie.set_on_call(SCHEDULE, &on_call);
        let sync = one_sync(&sync_config(&slack, &opsgenie, HANDLE)).expect("sync");
        let error = sync
            .run_once()
            .await
            .expect_err("nobody to put in the group");
        assert!(
            matches!(error, SyncError::NobodyResolvable { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("left as it is"), "{error}");
    }
    assert_eq!(updates(&slack).await, 0);
    assert_eq!(members(&slack), ["UCAROL"]);
}

#[tokio::test]
async fn an_opsgenie_outage_leaves_the_group_and_names_the_error() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    on_call_request()
        .respond_with(ResponseTemplate::new(503))
        .mount(opsgenie.server())
        .await;
    let sync = one_sync(&sync_config(&slack, &opsgenie, HANDLE)).expect("sync");
    let error = sync.run_once().await.expect_err("OpsGenie is down");
    assert!(matches!(error, SyncError::OnCall { .. }), "{error}");
    assert!(
        error.to_string().contains("OpsGenie failed (HTTP 503)"),
        "{error}"
    );
    assert_eq!(updates(&slack).await, 0);
}

#[tokio::test]
async fn a_slack_failure_leaves_the_group_and_names_the_error() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    Mock::given(path("/usergroups.users.list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": false, "error": "missing_scope"})),
        )
        .mount(slack.server())
        .await;
    let sync = one_sync(&sync_config(&slack, &opsgenie, HANDLE)).expect("sync");
    let error = sync.run_once().await.expect_err("Slack refused");
    assert!(error.to_string().contains("missing_scope"), "{error}");
    assert_eq!(updates(&slack).await, 0);
}

#[tokio::test]
async fn permission_denied_explains_the_user_token_fix_which_then_works() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    slack.restrict_user_group_edits("xoxp-user-token");
    let mut config = sync_config(&slack, &opsgenie, HANDLE);
    let sync = one_sync(&config).expect("sync");
    let error = sync
        .run_once()
        .await
        .expect_err("the bot may not edit groups");
    assert!(
        matches!(error, SyncError::PermissionDenied { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("restricts who may edit user groups"),
        "{message}"
    );
    assert!(
        message.contains("SLACK_USER_TOKEN") && message.contains("usergroups:write"),
        "{message}"
    );
    assert_eq!(members(&slack), ["UCAROL"]);

    config.slack.user_token = Some("xoxp-user-token".into());
    let sync = one_sync(&config).expect("sync");
    sync.run_once().await.expect("the user token may");
    assert_eq!(members(&slack), ["UALICE", "UBOB"]);
}

#[tokio::test]
async fn a_slack_rate_limit_is_waited_out() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    Mock::given(method("GET"))
        .and(path("/usergroups.users.list"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(serde_json::json!({"ok": false, "error": "ratelimited"})),
        )
        .up_to_n_times(1)
        .mount(slack.server())
        .await;
    let sync = one_sync(&sync_config(&slack, &opsgenie, HANDLE)).expect("sync");
    let started = std::time::Instant::now();
    sync.run_once().await.expect("synced after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not waited out"
    );
    assert_eq!(members(&slack), ["UALICE", "UBOB"]);
    assert_eq!(
        requests_to(slack.server(), "/usergroups.users.list").await,
        2
    );
}

#[tokio::test]
async fn serve_syncs_on_an_interval_and_picks_up_a_schedule_change() {
    let app = spawn_app_with(|config| {
        config.usergroups = vec![UserGroupSpec {
            group: UserGroupRef::Handle(HANDLE.into()),
            schedules: vec![SCHEDULE.to_owned()],
            always: Vec::new(),
        }];
        config.usergroup_interval = Duration::from_millis(100);
    })
    .await;
    app.slack.add_user_group(GROUP_ID, HANDLE, &["UCAROL"]);
    wait_for_members(&app.slack, &["UALICE", "UBOB"]).await;

    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> who?"))
        .await;
    app.settle().await;
    assert!(app.replies()[0].text.contains("<@UALICE>, <@UBOB>"));

    app.opsgenie.set_on_call(SCHEDULE, &["carol@corp.example"]);
    wait_for_members(&app.slack, &["UCAROL"]).await;

    // The cache TTL is 5 minutes: only the sync's refresh can make the next answer
    // name Carol.
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> who now?"))
        .await;
    app.settle().await;
    assert!(
        app.replies()[1].text.contains("<@UCAROL>"),
        "{:?}",
        app.replies()
    );
}

async fn wait_for_members(slack: &oncall_bot_simulator::SlackWorkspace, wanted: &[&str]) {
    for _ in 0..100 {
        if members(slack) == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the group never became {wanted:?}; it is {:?}",
        members(slack)
    );
}

async fn run_binary(
    slack: &oncall_bot_simulator::SlackWorkspace,
    opsgenie: &oncall_bot_simulator::OpsGenieAccount,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("sync-usergroup")
        .env_clear()
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_API_URL", slack.url())
        .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
        .env("OPSGENIE_SCHEDULE", SCHEDULE)
        .env("OPSGENIE_API_URL", opsgenie.url())
        .env("SLACK_USERGROUP", HANDLE)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the binary runs")
}

#[tokio::test]
async fn the_subcommand_prints_one_line_and_exits_zero_or_non_zero() {
    let (slack, opsgenie) = workspace_with_group(&["UCAROL"]).await;
    let output = run_binary(&slack, &opsgenie).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "@opsoncall updated from [UCAROL] to [UALICE, UBOB]"
    );

    opsgenie.set_on_call(SCHEDULE, &["dave@contractor.example"]);
    let output = run_binary(&slack, &opsgenie).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Slack cannot empty a user group"),
        "{stderr}"
    );
    assert!(stderr.contains("dave@contractor.example"), "{stderr}");
    assert_eq!(members(&slack), ["UALICE", "UBOB"]);
}
