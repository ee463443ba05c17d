//! `oncall-bot check`: each problem is named in plain words, and the exit code follows.

use oncall_bot::check::{self, Level, Report};
use oncall_bot::config::ServeConfig;
use oncall_bot::usergroup_sync::UserGroupSpec;
use oncall_bot_simulator::{OpsGenieAccount, SlackWorkspace};
use tokio::process::Command;

use crate::helpers::*;

async fn check_with(
    adjust: impl FnOnce(&SlackWorkspace, &OpsGenieAccount, &mut ServeConfig),
) -> Report {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let mut config = test_config(&slack, &opsgenie);
    adjust(&slack, &opsgenie, &mut config);
    check::run(&config, None).await
}

fn at_level(report: &Report, level: Level) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|finding| finding.level == level)
        .map(|finding| finding.text.clone())
        .collect()
}

fn failures(report: &Report) -> Vec<String> {
    at_level(report, Level::Fail)
}

/// The scopes answering mentions needs: a bot without the features' own.
const ANSWERING_SCOPES: &[&str] = &[
    "app_mentions:read",
    "chat:write",
    "im:history",
    "users:read",
    "users:read.email",
];

#[tokio::test]
async fn a_working_setup_passes_every_check() {
    let report = check_with(|_, _, _| {}).await;
    assert!(report.all_ok(), "{:?}", report.findings);
    let texts: Vec<String> = report
        .findings
        .iter()
        .map(|finding| finding.to_string())
        .collect();
    assert!(
        texts.contains(
            &"ok   Slack: SLACK_BOT_TOKEN works: bot @ops (UBOT) in Simulated".to_owned()
        ),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"ok   OpsGenie: schedule `SRE_schedule` answers; on call now: alice@corp.example, bob@corp.example".to_owned()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"ok   Slack: the Home tab can be published (views.publish, tried for one person on call)".to_owned()),
        "{texts:?}"
    );
}

#[tokio::test]
async fn a_home_tab_that_is_off_in_the_apps_settings_fails_the_check() {
    let report = check_with(|slack, _, _| slack.set_home_enabled(false)).await;
    assert!(!report.all_ok());
    let failed: Vec<String> = report
        .findings
        .iter()
        .filter(|finding| finding.level == Level::Fail)
        .map(|finding| finding.text.clone())
        .collect();
    assert_eq!(
        failed,
        ["Slack: the Home tab cannot be published (Slack refused the call: not_enabled); turn it \
          on in the app's settings (App Home → Home Tab, as manifest.yml does), see docs/app-home.md"]
    );
}

#[tokio::test]
async fn a_wrong_slack_token_is_named() {
    let report = check_with(|_, _, config| config.slack.bot_token = "xoxb-wrong".into()).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("SLACK_BOT_TOKEN is refused (invalid_auth)"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_user_token_in_place_of_the_bot_token_is_named() {
    let report =
        check_with(|_, _, config| config.slack.bot_token = "xoxp-a-user-token".into()).await;
    assert!(
        failures(&report)
            .iter()
            .any(|text| text.contains("does not start with xoxb-")),
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn a_missing_scope_is_named_with_the_fix() {
    let report = check_with(|slack, _, _| {
        // Everything answering needs but the email lookup.
        slack.set_scopes(&ANSWERING_SCOPES[..4]);
    })
    .await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("lacks the scope(s) users:read.email"),
        "{failed:?}"
    );
    assert!(failed[0].contains("reinstall the app"), "{failed:?}");
}

#[tokio::test]
async fn reminders_and_topics_need_their_scopes() {
    let report = check_with(|slack, _, config| {
        slack.set_scopes(ANSWERING_SCOPES);
        config.announcements = vec![oncall_bot::handovers::AnnounceSpec {
            label: SCHEDULE.to_owned(),
            schedule: SCHEDULE.to_owned(),
            channel: None,
            remind_before: Some(std::time::Duration::from_secs(3600)),
        }];
        config.topics = vec![oncall_bot::handovers::TopicSpec {
            channel: "C0PAYHELP".to_owned(),
            schedule: SCHEDULE.to_owned(),
        }];
    })
    .await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("lacks the scope(s) im:write, channels:read, channels:write.topic"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn cron_mode_needs_the_user_group_scopes_reported_once() {
    let report = check_with(|slack, _, config| {
        slack.set_scopes(ANSWERING_SCOPES);
        config.usergroups = vec![UserGroupSpec {
            group: "opsoncall".parse().expect("a handle"),
            schedules: vec![SCHEDULE.to_owned()],
            always: Vec::new(),
        }];
    })
    .await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "the missing scopes, once: {failed:?}");
    assert!(
        failed[0].contains("lacks the scope(s) usergroups:read, usergroups:write"),
        "{failed:?}"
    );
    assert_eq!(
        at_level(&report, Level::Skip),
        ["Slack: @opsoncall: not checked until the token has the user-group scopes"]
    );
}

#[tokio::test]
async fn cron_mode_needs_an_existing_group() {
    let report = check_with(|_, _, config| {
        config.usergroups = vec![UserGroupSpec {
            group: "opsoncall".parse().expect("a handle"),
            schedules: vec![SCHEDULE.to_owned()],
            always: Vec::new(),
        }];
    })
    .await;
    assert_eq!(
        failures(&report),
        ["Slack: there is no user group @opsoncall; create it first"]
    );
}

#[tokio::test]
async fn a_wrong_key_is_named_and_a_key_from_the_other_region_is_recognised() {
    let report =
        check_with(|_, _, config| opsgenie_of(config).api_key = "not-the-key".into()).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("OPSGENIE_API_KEY is refused (HTTP 401)"),
        "{failed:?}"
    );

    let slack = start_slack().await;
    let this_region = OpsGenieAccount::start("a-key-of-the-other-region-only").await;
    let other_region = start_opsgenie().await;
    let config = test_config(&slack, &this_region);
    let report = check::run(&config, Some(other_region.url().parse().expect("a URL"))).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("works in the other region: set OPSGENIE_REGION"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn an_unknown_schedule_is_named() {
    let report =
        check_with(|_, _, config| opsgenie_of(config).schedule = "SRE_Schedule".into()).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("no schedule named `SRE_Schedule`"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn someone_on_call_without_a_slack_account_is_a_warning_not_a_failure() {
    let report = check_with(|_, opsgenie, _| {
        opsgenie.set_on_call(SCHEDULE, &["alice@corp.example", "dave@contractor.example"]);
    })
    .await;
    assert!(failures(&report).is_empty(), "{:?}", report.findings);
    assert!(report.all_ok(), "a deploy gate passes");
    let warned = at_level(&report, Level::Warn);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("nobody in the workspace has the email dave@contractor.example"),
        "{warned:?}"
    );
}

#[tokio::test]
async fn a_step_after_a_failure_is_skipped_not_passed() {
    let report = check_with(|_, _, config| opsgenie_of(config).schedule = "Nope".into()).await;
    let skipped = at_level(&report, Level::Skip);
    assert_eq!(
        skipped,
        ["Slack lookups of the people on call: not checked until the above is fixed"]
    );
    let shown: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(
            &"skip Slack lookups of the people on call: not checked until the above is fixed"
                .to_owned()
        ),
        "{shown:?}"
    );
}

#[tokio::test]
async fn with_alerts_on_it_says_what_it_did_not_test_and_why() {
    let report = check_with(|_, _, config| {
        config.alerts = Some(oncall_bot::alerting::AlertPolicy {
            team: Some("SRE".into()),
            ..Default::default()
        })
    })
    .await;
    assert!(report.all_ok());
    assert_eq!(
        at_level(&report, Level::Skip),
        [
            "Alerts: P4 alerts in OpsGenie, routed to team SRE, at most 3 per person per 10m; \
          not tested: creating an alert would page someone. OPSGENIE_API_KEY needs the Create \
          and Update Access right"
        ]
    );
}

#[tokio::test]
async fn with_alerts_on_it_says_whether_the_key_may_act_on_alerts_and_whether_the_webhook_is_on() {
    let report = check_with(|_, _, config| {
        config.alerts = Some(oncall_bot::alerting::AlertPolicy::default());
        config.webhooks.opsgenie = Some("hook-token".into());
    })
    .await;
    let ok = at_level(&report, Level::Ok);
    assert!(
        ok.contains(&"Alerts: the key may act on OpsGenie alerts (the buttons and `@ops ack|take|close` will work)".to_owned()),
        "{ok:?}"
    );
    assert!(
        ok.iter().any(|text| text.starts_with(
            "Alerts, both ways: OPSGENIE_WEBHOOK_TOKEN is set, so POST /opsgenie/webhook takes"
        )),
        "{ok:?}"
    );

    let report = check_with(|_, _, config| {
        config.alerts = Some(oncall_bot::alerting::AlertPolicy::default());
    })
    .await;
    let warned = at_level(&report, Level::Warn);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].starts_with("Alerts, both ways: OPSGENIE_WEBHOOK_TOKEN is not set"));
}

#[tokio::test]
async fn a_key_that_may_not_act_on_alerts_fails_the_check() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/acknowledge$"))
        .respond_with(
            wiremock::ResponseTemplate::new(403).set_body_json(serde_json::json!({
                "message": "Insufficient access rights", "took": 0.0, "requestId": "x"
            })),
        )
        .mount(opsgenie.server())
        .await;
    let mut config = test_config(&slack, &opsgenie);
    config.alerts = Some(oncall_bot::alerting::AlertPolicy::default());
    let report = check::run(&config, None).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].starts_with("Alerts: the key may not act on OpsGenie alerts, so the buttons will fail: OpsGenie refused the API key (HTTP 403)"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_bot_token_given_as_the_app_token_is_named() {
    let report = check_with(|_, _, config| config.app_token = Some(BOT_TOKEN.into())).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("SLACK_APP_TOKEN is not an app-level token"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn the_subcommand_exits_zero_when_all_pass_and_non_zero_otherwise() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let run = |schedule: &str| {
        Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
            .arg("check")
            .env_clear()
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("SLACK_API_URL", slack.url())
            .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
            .env("OPSGENIE_SCHEDULE", schedule)
            .env("OPSGENIE_API_URL", opsgenie.url())
            .output()
    };
    let good = run(SCHEDULE).await.expect("runs");
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{stdout}");
    assert!(stdout.ends_with("All checks passed.\n"), "{stdout}");

    opsgenie.set_on_call(SCHEDULE, &["alice@corp.example", "dave@contractor.example"]);
    let warned = run(SCHEDULE).await.expect("runs");
    let stdout = String::from_utf8_lossy(&warned.stdout);
    assert!(warned.status.success(), "a warning passes: {stdout}");
    assert!(
        stdout
            .contains("warn Slack: nobody in the workspace has the email dave@contractor.example"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("No check failed; the warnings above are worth a look.\n"),
        "{stdout}"
    );

    let bad = run("Nope").await.expect("runs");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL OpsGenie: there is no schedule named `Nope`"),
        "{stdout}"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("check")
        .env_clear()
        .output()
        .await
        .expect("runs");
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stdout)
            .contains("FAIL configuration: missing: SLACK_BOT_TOKEN"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_unreachable_slack_or_opsgenie_is_one_plain_line_each() {
    let slack_port = free_port();
    let opsgenie_port = free_port();
    let report = check_with(|_, _, config| {
        config.slack.api_url = format!("http://127.0.0.1:{slack_port}/api")
            .parse()
            .expect("a URL");
        opsgenie_of(config).api_url = format!("http://127.0.0.1:{opsgenie_port}/")
            .parse()
            .expect("a URL");
    })
    .await;
    let failed = failures(&report);
    assert_eq!(
        failed[0],
        format!(
            "Slack: cannot reach http://127.0.0.1:{slack_port}/api (could not connect to \
             127.0.0.1:{slack_port}: connection refused); check SLACK_API_URL and the network"
        )
    );
    assert_eq!(
        failed[1],
        format!(
            "OpsGenie: the on-call lookup failed: could not reach OpsGenie: could not connect \
             to 127.0.0.1:{opsgenie_port}: connection refused"
        )
    );
    for line in &failed {
        for debug_form in ["Some(", "hyper", "ConnectError", "Os {", "\n"] {
            assert!(!line.contains(debug_form), "{line}");
        }
    }
}

/// `openssl s_server` on a free port with a fresh self-signed certificate:
/// TLS that no public root vouches for. Killed when dropped.
async fn untrusted_tls_server() -> (tokio::process::Child, u16, tempdir::Dir) {
    let dir = tempdir::Dir::new("untrusted-tls");
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (scripts/test installs it)");
    assert!(made.status.success(), "{made:?}");
    let port = free_port();
    let server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_server starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (server, port, dir)
}

/// Temporary directories, removed when dropped.
mod tempdir {
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
            std::fs::create_dir_all(&path).expect("a temporary directory");
            Self(path)
        }

        pub fn path(&self, file: &str) -> std::path::PathBuf {
            self.0.join(file)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[tokio::test]
async fn an_https_slack_url_speaks_tls_and_an_untrusted_certificate_is_said_in_words() {
    let (_server, port, _dir) = untrusted_tls_server().await;
    let report = check_with(|_, _, config| {
        config.slack.api_url = format!("https://127.0.0.1:{port}/api")
            .parse()
            .expect("a URL");
    })
    .await;
    let failed = failures(&report);
    let slack = failed
        .iter()
        .find(|line| line.starts_with("Slack:"))
        .unwrap_or_else(|| panic!("no Slack failure in {failed:?}"));
    assert!(
        slack.contains(&format!(
            "TLS handshake with 127.0.0.1:{port} failed: its certificate is not one the bot \
             can trust (self-signed?)"
        )),
        "{slack}"
    );
    for debug_form in ["Some(", "Other(", "hyper", "Os {", "\n"] {
        assert!(!slack.contains(debug_form), "{slack}");
    }
}

#[tokio::test]
async fn with_state_url_it_pings_the_store_and_says_what_is_shared() {
    let mut redis = crate::redis_server::RedisServer::start().await;
    let url = redis.url();
    let state = |url: &str| oncall_bot::store::StateConfig {
        url: url.to_owned().into(),
        prefix: "oncall-bot:".to_owned(),
    };
    let report = check_with(|_, _, config| config.state = Some(state(&url))).await;
    assert!(report.all_ok(), "{:?}", report.findings);
    let ok = at_level(&report, Level::Ok);
    assert!(
        ok.iter()
            .any(|text| text.starts_with("Replicas: STATE_URL reaches Redis ")),
        "{ok:?}"
    );
    redis.stop();
    let report = check_with(|_, _, config| config.state = Some(state(&url))).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].starts_with("Replicas: STATE_URL does not answer: "),
        "{failed:?}"
    );
    assert!(!failed[0].contains("Some("), "{failed:?}");
}

#[tokio::test]
async fn taking_the_call_warns_without_the_scopes_it_needs_to_tell_and_to_read_groups() {
    let report = check_with(|slack, _, config| {
        slack.set_scopes(ANSWERING_SCOPES);
        config.take_call.default.allowed = vec!["S0LEADS".into()];
    })
    .await;
    let warned = at_level(&report, Level::Warn);
    assert!(
        warned.iter().any(|line| line.starts_with(
            "Taking the call: take_call_allowed names user groups, but the token lacks usergroups:read"
        )),
        "{warned:?}"
    );
    assert!(
        warned
            .iter()
            .any(|line| line.starts_with("Taking the call: the token lacks im:write")),
        "{warned:?}"
    );
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    // With every scope the manifests ask for, nothing to say.
    let report = check_with(|_, _, config| {
        config.take_call.default.allowed = vec!["S0LEADS".into()];
    })
    .await;
    assert!(
        !at_level(&report, Level::Warn)
            .iter()
            .any(|line| line.starts_with("Taking the call")),
        "{:?}",
        at_level(&report, Level::Warn)
    );
}
