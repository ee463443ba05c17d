//! The built binary, over real TCP, as an operator runs it.

use std::process::Stdio;
use std::time::Duration;

use oncall_bot::slack::signature::unix_now;
use tokio::process::Command;

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

#[tokio::test]
async fn the_binary_serves_and_answers_a_signed_mention() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    opsgenie.set_on_call(SCHEDULE, &["alice@corp.example"]);
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("serve")
        .env_clear()
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_API_URL", slack.url())
        .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
        .env("OPSGENIE_SCHEDULE", SCHEDULE)
        .env("OPSGENIE_API_URL", opsgenie.url())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await {
            ready = response.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the binary never became healthy");

    let body = mention("EvSmoke", "C1", "1700000000.000100", "<@UBOT> help me");
    let (timestamp, signature) = sign(&body, unix_now());
    let response = http
        .post(format!("{base}/slack/events"))
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .expect("the binary answers");
    assert_eq!(response.status(), 200);

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
    child.start_kill().expect("the binary stops");
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
        stderr.contains("SLACK_SIGNING_SECRET is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains(BOT_TOKEN), "{stderr}");
}

#[tokio::test]
async fn a_malformed_variable_stops_start_up_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("serve")
        .env_clear()
        .env("ONCALL_CACHE_TTL", "soon")
        .output()
        .await
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ONCALL_CACHE_TTL"), "{stderr}");
}
