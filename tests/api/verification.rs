//! The events endpoint refuses what Slack did not sign, and acks what it did.

use std::time::{Duration, Instant};

use crate::helpers::*;
use oncall_bot::slack::signature::{unix_now, SignatureVerifier};

async fn post_raw(app: &TestApp, body: &str, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/slack/events", app.address))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("the app answers")
}

#[tokio::test]
async fn url_verification_is_answered_with_the_challenge() {
    let app = spawn_app().await;
    let response = app
        .deliver(&fixture("python-slack-events-api_url_challenge.json"))
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["challenge"], "valid_challenge_token");
}

#[tokio::test]
async fn forged_stale_and_unsigned_requests_get_401_and_cause_nothing() {
    let app = spawn_app().await;
    let body = mention("Ev1", "C1", "1700000000.000001", "<@UBOT> help!");
    let now = unix_now();
    let (timestamp, signature) = sign(&body, now);
    let (stale_timestamp, stale_signature) = sign(&body, now - 301);
    let forged = signed_with_another_secret(&body, now);
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no headers", vec![]),
        (
            "no signature",
            vec![("x-slack-request-timestamp", timestamp.clone())],
        ),
        (
            "no timestamp",
            vec![("x-slack-signature", signature.clone())],
        ),
        (
            "signed with another secret",
            vec![
                ("x-slack-request-timestamp", timestamp.clone()),
                ("x-slack-signature", forged),
            ],
        ),
        (
            "stale by 301 s",
            vec![
                ("x-slack-request-timestamp", stale_timestamp),
                ("x-slack-signature", stale_signature),
            ],
        ),
        (
            "signature of another timestamp",
            vec![
                ("x-slack-request-timestamp", (now - 1).to_string()),
                ("x-slack-signature", signature.clone()),
            ],
        ),
    ];
    for (case, headers) in cases {
        let response = post_raw(&app, &body, &headers).await;
        assert_eq!(response.status(), 401, "{case}");
    }
    app.settle().await;
    assert!(app.replies().is_empty());
    assert_eq!(app.on_call_lookups().await, 0);
}

fn signed_with_another_secret(body: &str, timestamp: i64) -> String {
    SignatureVerifier::new("another-secret".into()).sign(&timestamp.to_string(), body.as_bytes())
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_gets_400() {
    let app = spawn_app().await;
    let response = app.deliver("{\"type\": \"event_callback\", ").await;
    assert_eq!(response.status(), 400);
    app.settle().await;
    assert!(app.replies().is_empty());
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let app = spawn_app().await;
    let text = "a".repeat(1024 * 1024);
    let response = app.deliver(&mention("Ev1", "C1", "1.1", &text)).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn events_are_acked_within_the_ack_budget_before_a_slow_opsgenie_answers() {
    let app = spawn_app_with(|config| config.ack_budget = Duration::from_millis(400)).await;
    on_call_request()
        .respond_with(
            on_call_answer(&["alice@corp.example"]).set_delay(Duration::from_millis(1500)),
        )
        .mount(app.opsgenie.server())
        .await;
    let started = Instant::now();
    let response = app
        .deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> the site is down"))
        .await;
    let acked_after = started.elapsed();
    assert_eq!(response.status(), 200);
    // The ack waits for the answer at most ACK_BUDGET, then the answer goes on.
    assert!(
        acked_after >= Duration::from_millis(400) && acked_after < Duration::from_millis(1200),
        "acked after {acked_after:?}"
    );
    app.settle().await;
    assert_eq!(app.replies().len(), 1);
}

#[tokio::test]
async fn unknown_event_types_and_envelopes_are_acked_and_ignored() {
    let app = spawn_app().await;
    for body in [
        fixture("python-slack-events-api_reaction_added.json"),
        r#"{"type": "app_rate_limited", "minute_rate_limited": 1518467820}"#.to_owned(),
        r#"{"type": "event_callback", "event": {"type": "message"}}"#.to_owned(),
        r#"{"hello": "world"}"#.to_owned(),
        "[1, 2, 3]".to_owned(),
    ] {
        assert_eq!(app.deliver(&body).await.status(), 200, "{body}");
    }
    app.settle().await;
    assert!(app.replies().is_empty());
}

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
}
