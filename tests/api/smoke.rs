//! The built binary, over real TCP, as an operator runs it.

use std::process::Stdio;
use std::time::Duration;

use oncall_bot::slack::signature::unix_now;
use oncall_bot_simulator::{OpsGenieAccount, SlackWorkspace};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::helpers::*;

struct RunningBot {
    child: Child,
    base: String,
    port: u16,
    http: reqwest::Client,
}

/// Starts `oncall-bot serve` against the simulations and waits until it is healthy.
async fn start_bot(
    slack: &SlackWorkspace,
    opsgenie: &OpsGenieAccount,
    extra: &[(&str, &str)],
) -> RunningBot {
    let port = free_port();
    let mut command = serve_command(slack, opsgenie, port);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    let child = command.spawn().expect("the binary starts");
    let bot = RunningBot {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
        http: reqwest::Client::new(),
    };
    for _ in 0..200 {
        if let Ok(response) = bot.http.get(format!("{}/healthz", bot.base)).send().await {
            assert_eq!(response.status(), 200);
            return bot;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the binary never became healthy");
}

impl RunningBot {
    async fn deliver(&self, body: &str) -> u16 {
        let (timestamp, signature) = sign(body, unix_now());
        self.http
            .post(format!("{}/slack/events", self.base))
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned())
            .send()
            .await
            .expect("the binary answers")
            .status()
            .as_u16()
    }

    /// Sends SIGTERM and waits for the exit; returns whether it was a success, and stderr.
    async fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().expect("running").to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the binary exits after SIGTERM")
            .expect("an exit status");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).await.expect("stderr");
        }
        (status.success(), stderr)
    }
}

/// Runs `command` (a start that must fail): its stderr, and the `error:` lines.
async fn failed_start(command: &mut Command) -> (String, Vec<String>) {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let errors = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .map(str::to_owned)
        .collect();
    (stderr, errors)
}

#[tokio::test]
async fn the_binary_answers_a_signed_mention() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    opsgenie.set_on_call(SCHEDULE, &["alice@corp.example"]);
    let bot = start_bot(&slack, &opsgenie, &[]).await;
    let body = mention("EvSmoke", "C1", "1700000000.000100", "<@UBOT> help me");
    assert_eq!(bot.deliver(&body).await, 200);
    let mut replies = Vec::new();
    for _ in 0..100 {
        replies = slack.posts();
        if !replies.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].text,
        "On call for *SRE_schedule* right now: <@UALICE>"
    );
    assert_eq!(replies[0].thread_ts.as_deref(), Some("1700000000.000100"));
    let (success, _) = bot.terminate().await;
    assert!(success);
}

#[tokio::test]
async fn sigterm_finishes_every_acked_reply_before_exiting_zero_with_json_logs() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    // Replies wait a second on OpsGenie, so they are in flight at SIGTERM.
    on_call_request()
        .respond_with(on_call_answer(&["bob@corp.example"]).set_delay(Duration::from_secs(1)))
        .mount(opsgenie.server())
        .await;
    // Acked at once (ACK_BUDGET=0), so that they are in flight at SIGTERM.
    let bot = start_bot(
        &slack,
        &opsgenie,
        &[("LOG_FORMAT", "json"), ("ACK_BUDGET", "0")],
    )
    .await;
    for n in 0..5 {
        let body = mention(
            &format!("Ev{n}"),
            "C1",
            &format!("1700000000.00010{n}"),
            "<@UBOT> hi",
        );
        assert_eq!(bot.deliver(&body).await, 200);
    }
    assert!(slack.posts().is_empty(), "the replies are still in flight");
    let (success, stderr) = bot.terminate().await;
    assert!(success, "{stderr}");
    assert_eq!(slack.posts().len(), 5, "{stderr}");
    assert!(slack
        .posts()
        .iter()
        .all(|post| post.text.contains("<@UBOB>")));

    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON line: {line}");
    }
    assert!(
        stderr.contains("every acked event was answered"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_variable_stops_start_up_with_one_line_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("serve")
        .env_clear()
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
        .env("OPSGENIE_SCHEDULE", SCHEDULE)
        .output()
        .await
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.trim() == "error: missing: SLACK_APP_TOKEN or SLACK_SIGNING_SECRET",
        "{stderr}"
    );
    assert!(!stderr.contains(BOT_TOKEN), "{stderr}");
}

#[tokio::test]
async fn a_malformed_variable_stops_start_up_with_one_line_naming_it_exit_1() {
    let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("serve")
        .env_clear()
        .env("ONCALL_CACHE_TTL", "soon")
        .output()
        .await
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "error: ONCALL_CACHE_TTL=soon: expected seconds (300) or a duration (5m, 1h30m)\n"
    );
}

#[tokio::test]
async fn every_missing_variable_and_an_unreadable_file_are_one_line_each() {
    let run = |env: &'static [(&'static str, &'static str)]| async move {
        let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
            .arg("serve")
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .await
            .expect("the binary runs");
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert_eq!(
        run(&[]).await,
        "error: missing: SLACK_BOT_TOKEN, OPSGENIE_API_KEY, OPSGENIE_SCHEDULE, and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET\n"
    );
    assert_eq!(
        run(&[
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_APP_TOKEN", "xapp-1"),
            ("OPSGENIE_API_KEY", "k"),
            ("ONCALL_CONFIG", "/nonexistent/oncall.toml"),
        ])
        .await,
        "error: ONCALL_CONFIG=/nonexistent/oncall.toml: cannot read the file: there is no such file\n"
    );
}

#[tokio::test]
async fn serve_with_a_wrong_token_stops_naming_the_variable_and_never_listens() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let port = free_port();
    let (stderr, error_lines) = failed_start(
        serve_command(&slack, &opsgenie, port).env("SLACK_BOT_TOKEN", "xoxb-wrong-token"),
    )
    .await;
    // In check's words: the cause once, and what to do.
    assert_eq!(
        error_lines,
        [
            "error: Slack: the token in SLACK_BOT_TOKEN is refused (invalid_auth); copy the Bot \
          User OAuth Token (xoxb-…) again from OAuth & Permissions, and reinstall the app if it \
          was revoked"
        ],
        "{stderr}"
    );
    assert!(!stderr.contains("xoxb-wrong-token"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after a failed start"
    );
    assert_eq!(
        requests_to(
            opsgenie.server(),
            &format!("/v2/schedules/{SCHEDULE}/on-calls")
        )
        .await,
        0,
        "no on-call lookup before Slack accepts the token"
    );
}

#[tokio::test]
async fn an_unreachable_slack_stops_start_up_with_one_plain_line() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let nobody = free_port();
    let (stderr, errors) = failed_start(
        serve_command(&slack, &opsgenie, free_port())
            .env("SLACK_API_URL", format!("http://127.0.0.1:{nobody}/api")),
    )
    .await;
    assert_eq!(
        errors,
        [format!(
            "error: Slack: cannot reach http://127.0.0.1:{nobody}/api (could not connect to \
             127.0.0.1:{nobody}: connection refused); check SLACK_API_URL and the network"
        )
        .as_str()],
        "{stderr}"
    );
    for debug_form in ["Some(", "hyper", "ConnectError", "Os {"] {
        assert!(!stderr.contains(debug_form), "{stderr}");
    }
}

#[tokio::test]
async fn a_plain_http_url_off_this_machine_stops_start_up_with_one_line() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let (stderr, _) = failed_start(
        serve_command(&slack, &opsgenie, free_port())
            .env("SLACK_API_URL", "http://slack.example/api"),
    )
    .await;
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: SLACK_API_URL=http://slack.example/api: a plain http:// URL"),
        "{stderr}"
    );
    assert_eq!(requests_to(slack.server(), "/auth.test").await, 0);
}

#[tokio::test]
async fn a_refused_app_token_stops_start_up_naming_it() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let _socket = slack.enable_socket_mode("xapp-1-right").expect("a port");
    let port = free_port();
    let (stderr, errors) = failed_start(
        serve_command(&slack, &opsgenie, port)
            .env_remove("SLACK_SIGNING_SECRET")
            .env("SLACK_APP_TOKEN", BOT_TOKEN),
    )
    .await;
    assert_eq!(
        errors,
        [
            "error: Socket Mode: SLACK_APP_TOKEN is not an app-level token: generate one (xapp-…) \
          under Basic Information → App-Level Tokens with the connections:write scope"
        ],
        "{stderr}"
    );
}

#[tokio::test]
async fn one_start_up_line_says_what_runs_and_text_logs_carry_no_colour_codes() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let _socket = slack.enable_socket_mode("xapp-1-ok").expect("a port");
    let bot = start_bot(
        &slack,
        &opsgenie,
        &[
            ("SLACK_APP_TOKEN", "xapp-1-ok"),
            ("ALERT_ON_MENTION", "true"),
            ("ALERT_TEAM", "SRE"),
        ],
    )
    .await;
    let port = bot.port;
    let (success, stderr) = bot.terminate().await;
    assert!(success, "{stderr}");
    let expected = format!(
        "oncall-bot {} on 127.0.0.1:{port}: OpsGenie schedule SRE_schedule; events over Socket \
         Mode and the Events API (/slack/events); alerts P4 for every request to team SRE, at \
         most 3 per person per 10m; user-group sync off; state in this process",
        env!("CARGO_PKG_VERSION"),
    );
    assert!(
        stderr.lines().any(|line| line.ends_with(&expected)),
        "{expected}\nnot in:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a piped log:\n{stderr}"
    );
    assert!(
        !stderr.contains("Some("),
        "Debug output in the log:\n{stderr}"
    );
}

#[tokio::test]
async fn help_groups_options_by_topic_marks_what_is_required_and_shows_only_what_a_command_uses() {
    let help = |command: &'static str| async move {
        let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
            .args([command, "--help"])
            .env_clear()
            .output()
            .await
            .expect("runs");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let serve = help("serve").await;
    let headings: Vec<&str> = serve
        .lines()
        .filter(|line| line.ends_with(':') && !line.starts_with(' '))
        .collect();
    assert_eq!(
        headings,
        [
            "Options:",
            "Slack:",
            "On-call provider:",
            "Alerts:",
            "Replicas:",
            "User groups:",
            "Outbound calls:",
            "Server:",
            "Logging:"
        ],
        "{serve}"
    );
    assert!(serve.contains("Bot token (xoxb-…). Required"), "{serve}");
    assert!(serve.starts_with("Answer in Slack: events over Socket Mode and/or the Events API"));
    let check = help("check").await;
    for unused in [
        "--listen-addr",
        "--max-in-flight",
        "--shutdown-drain-timeout",
    ] {
        assert!(!check.contains(unused), "{unused} in:\n{check}");
    }
    let sync = help("sync-usergroup").await;
    for unused in [
        "--listen-addr",
        "--slack-signing-secret",
        "--alert-mode",
        "--max-in-flight",
        "--state-url",
    ] {
        assert!(!sync.contains(unused), "{unused} in:\n{sync}");
    }
}
