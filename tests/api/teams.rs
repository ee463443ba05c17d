//! Many teams, many schedules: routing by team and channel, rotations and
//! hand-overs, email overrides, merged user groups, and config file errors.

use std::time::{Duration, SystemTime};

use oncall_bot::config::file;
use oncall_bot::usergroup_sync::{UserGroupRef, UserGroupSpec};
use oncall_bot_simulator::{SimRotation, SimShift};
use tokio::process::Command;

use crate::helpers::*;

const CONFIG: &str = r#"
[[team]]
name = "payments"
aliases = ["pay", "billing"]
schedule = "Payments_schedule"

[[team]]
name = "database"

[[channel]]
id = "C0PAYHELP"
team = "payments"

[email_overrides]
"dave@old-domain.example" = "UDAVE"
"#;

async fn spawn_team_app() -> TestApp {
    let teams = file::parse(std::path::Path::new("oncall.toml"), CONFIG).expect("valid");
    let app = spawn_app_with(|config| {
        config.routing = teams.routing;
        config.email_overrides = teams.email_overrides;
    })
    .await;
    app.opsgenie
        .set_on_call("Payments_schedule", &["carol@corp.example"]);
    app.opsgenie
        .set_on_call("database_schedule", &["bob@corp.example"]);
    app
}

async fn ask(app: &TestApp, channel: &str, ts: &str, text: &str) -> String {
    app.answer_to(&mention(&format!("Ev{channel}{ts}"), channel, ts, text))
        .await
}

#[tokio::test]
async fn a_team_is_picked_by_its_name_or_an_alias_in_the_message() {
    let app = spawn_team_app().await;
    let carol = "On call for *Payments_schedule* right now: <@UCAROL>";
    assert_eq!(ask(&app, "C1", "1.1", "<@UBOT> payments").await, carol);
    assert_eq!(
        ask(&app, "C1", "1.2", "<@UBOT> who is on call for BILLING?").await,
        carol
    );
    assert_eq!(ask(&app, "C1", "1.3", "<@UBOT> team pay").await, carol);
    assert_eq!(
        ask(&app, "C1", "1.4", "<@UBOT> the site is down").await,
        "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"
    );
}

#[tokio::test]
async fn a_team_without_a_schedule_uses_the_name_schedule_fallback() {
    let app = spawn_team_app().await;
    assert_eq!(
        ask(&app, "C1", "1.1", "<@UBOT> is the database slow?").await,
        "On call for *database_schedule* right now: <@UBOB>"
    );
}

#[tokio::test]
async fn an_unknown_team_gets_the_known_teams() {
    let app = spawn_team_app().await;
    assert_eq!(
        ask(&app, "C1", "1.1", "<@UBOT> team paymints").await,
        "I don't know a team called *paymints*. Known teams: *payments* (pay, billing), *database*."
    );
    assert_eq!(app.on_call_lookups().await, 0);
}

#[tokio::test]
async fn a_channel_answers_for_its_own_team_unless_another_is_named() {
    let app = spawn_team_app().await;
    assert_eq!(
        ask(&app, "C0PAYHELP", "1.1", "<@UBOT> checkout fails").await,
        "On call for *Payments_schedule* right now: <@UCAROL>"
    );
    assert_eq!(
        ask(&app, "C0PAYHELP", "1.2", "<@UBOT> database locks").await,
        "On call for *database_schedule* right now: <@UBOB>"
    );
}

#[tokio::test]
async fn an_email_override_maps_an_opsgenie_user_to_a_slack_id_without_a_lookup() {
    let app = spawn_team_app().await;
    app.opsgenie
        .set_on_call(SCHEDULE, &["Dave@old-domain.example"]);
    assert_eq!(
        ask(&app, "C1", "1.1", "<@UBOT> anyone?").await,
        "On call for *SRE_schedule* right now: <@UDAVE>"
    );
    assert_eq!(app.email_lookups().await, 0);
}

#[tokio::test]
async fn help_lists_the_teams() {
    let app = spawn_team_app().await;
    let help = ask(&app, "C1", "1.1", "<@UBOT> help").await;
    assert!(
        help.ends_with("• `@ops <team>` or `@ops team <name>`: who is on call for a team: *payments* (pay, billing), *database*"),
        "{help}"
    );
}

fn at(offset_secs: i64) -> SystemTime {
    let now = SystemTime::now();
    if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    }
}

fn shift(email: &str, from: SystemTime, to: SystemTime, is_override: bool) -> SimShift {
    SimShift {
        email: email.into(),
        from,
        to,
        is_override,
    }
}

fn slack_date(time: SystemTime) -> String {
    oncall_bot::bot::slack_date(time)
}

#[tokio::test]
async fn two_rotations_are_answered_as_primary_and_secondary_with_until_times() {
    let app = spawn_app().await;
    // Whole seconds, as the timeline carries them.
    let second = |time: SystemTime| {
        let secs = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    };
    let (start, handover, later) = (
        second(at(-3600)),
        second(at(7200)),
        second(at(7200 + 604_800)),
    );
    app.opsgenie.set_rotations(
        SCHEDULE,
        vec![
            SimRotation {
                name: "Weekly".into(),
                shifts: vec![
                    shift("alice@corp.example", start, handover, false),
                    shift("bob@corp.example", handover, later, false),
                ],
            },
            SimRotation {
                name: "Backup".into(),
                shifts: vec![shift("carol@corp.example", start, handover, true)],
            },
        ],
    );
    let text = ask(&app, "C1", "1.1", "<@UBOT> who?").await;
    assert_eq!(
        text,
        format!(
            "On call for *SRE_schedule* right now:\n\
             • primary (Weekly): <@UALICE> until {until}; next: <@UBOB>\n\
             • secondary (Backup): <@UCAROL> (override) until {until}",
            until = slack_date(handover)
        )
    );
}

#[tokio::test]
async fn the_cached_answer_expires_at_the_hand_over_not_at_the_ttl() {
    let app = spawn_app().await;
    let handover = at(2);
    app.opsgenie.set_rotations(
        SCHEDULE,
        vec![SimRotation {
            name: "Weekly".into(),
            shifts: vec![
                shift("alice@corp.example", at(-3600), handover, false),
                shift("bob@corp.example", handover, at(3600), false),
            ],
        }],
    );
    let before = ask(&app, "C1", "1.1", "<@UBOT> who?").await;
    assert!(
        before.starts_with("On call for *SRE_schedule* right now: <@UALICE> until"),
        "{before}"
    );
    // The TTL is five minutes; the hand-over is in two seconds.
    while SystemTime::now() < handover + Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = ask(&app, "C1", "1.2", "<@UBOT> who now?").await;
    assert!(
        after.starts_with("On call for *SRE_schedule* right now: <@UBOB> until"),
        "{after}"
    );
    assert_eq!(app.on_call_lookups().await, 2);
}

#[tokio::test]
async fn a_user_group_merges_two_schedules_and_keeps_its_always_members() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    slack.add_user_group("S0OPS", "opsoncall", &["UBOB"]);
    opsgenie.set_on_call(SCHEDULE, &["alice@corp.example"]);
    opsgenie.set_on_call(
        "SRE_secondary_schedule",
        &["bob@corp.example", "alice@corp.example"],
    );
    let mut config = sync_config(&slack, &opsgenie, "opsoncall");
    config.usergroups = vec![UserGroupSpec {
        group: UserGroupRef::Handle("opsoncall".into()),
        schedules: vec![SCHEDULE.into(), "SRE_secondary_schedule".into()],
        always: vec!["UCAROL".into()],
    }];
    let results = oncall_bot::startup::run_sync(config).await.expect("starts");
    assert_eq!(results.len(), 1);
    let report = results.into_iter().next().expect("one").expect("synced");
    assert_eq!(
        report.to_string(),
        "@opsoncall updated from [UBOB] to [UALICE, UBOB, UCAROL]"
    );
}

#[tokio::test]
async fn a_config_file_error_stops_start_up_naming_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("oncall-bot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join("oncall.toml");
    std::fs::write(
        &path,
        "[[team]]\nname = \"payments\"\nschedul = \"Payments\"\n",
    )
    .expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("serve")
        .env_clear()
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
        .env("OPSGENIE_SCHEDULE", SCHEDULE)
        .env("ONCALL_CONFIG", &path)
        .output()
        .await
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {}:3:1: unknown field `schedul`, expected one of `name`, `aliases`, `schedule`, `announce_channel`, `remind_before`, `take_call`, `take_call_allowed`, `take_call_max`, `escalation_policy`",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_duration_beyond_its_bound_in_the_file_stops_serve_and_fails_check_in_one_line() {
    let dir = std::env::temp_dir().join(format!("oncall-bot-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join("oncall.toml");
    std::fs::write(&path, "remind_before = \"9000y\"\n").expect("written");
    for subcommand in ["serve", "check"] {
        let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
            .arg(subcommand)
            .env_clear()
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
            .env("OPSGENIE_SCHEDULE", SCHEDULE)
            .env("ONCALL_CONFIG", &path)
            .output()
            .await
            .expect("runs");
        assert!(!output.status.success(), "{subcommand}");
        let said = format!(
            "{}:1:17: remind_before: `9000y` is more than 7 days",
            path.display()
        );
        if subcommand == "serve" {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.trim(), format!("error: {said}"));
        } else {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(stdout.trim(), format!("FAIL configuration: {said}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
