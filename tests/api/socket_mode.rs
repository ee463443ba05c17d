//! Socket Mode against a local WebSocket fake of Slack: every behaviour of the
//! HTTP path holds there too.

use std::time::Duration;

use oncall_bot::outbound::BackoffPolicy;
use oncall_bot_simulator::SocketModeServer;

use crate::helpers::*;

const APP_TOKEN: &str = "xapp-1-test";

/// The app with Socket Mode only (no signing secret), connected to the fake.
async fn spawn_socket_app() -> (TestApp, SocketModeServer) {
    let mut server = None;
    let app = spawn_app_with_workspace(|slack, config| {
        server = Some(
            slack
                .enable_socket_mode(APP_TOKEN)
                .expect("a WebSocket port"),
        );
        config.signing_secret = None;
        config.app_token = Some(APP_TOKEN.into());
        config.socket_reconnect = BackoffPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
    })
    .await;
    let server = server.expect("Socket Mode is on");
    wait_until("the bot connects", || server.connections() == 1).await;
    (app, server)
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn an_envelope_is_acked_by_id_and_the_mention_answered_in_thread() {
    let (app, server) = spawn_socket_app().await;
    let envelope = server
        .send_event(
            &mention("Ev1", "C1", "1700000000.000100", "<@UBOT> prod is down"),
            0,
        )
        .expect("sent");
    wait_until("the envelope is acked", || {
        server.acks().contains(&envelope)
    })
    .await;
    wait_until("the reply is posted", || !app.replies().is_empty()).await;
    let replies = app.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].thread_ts.as_deref(), Some("1700000000.000100"));
    assert_eq!(
        replies[0].text,
        "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"
    );
}

#[tokio::test]
async fn redeliveries_are_acked_and_answered_once_and_own_messages_ignored() {
    let (app, server) = spawn_socket_app().await;
    let body = mention("Ev1", "C1", "1.1", "<@UBOT> prod down");
    let first = server.send_event(&body, 0).expect("sent");
    let retry = server.send_event(&body, 1).expect("sent");
    let own = server
        .send_event(&direct_message("Ev2", BOT_USER, "1.2", "my own words"), 0)
        .expect("sent");
    wait_until("all three are acked", || server.acks().len() == 3).await;
    assert_eq!(server.acks(), [first, retry, own]);
    // Acks go out before dispatch: wait until all three were dispatched, so the
    // count below cannot be taken before the own message had its chance.
    app.wait_for_metrics(&[
        r#"oncall_bot_slack_events_total{type="app_mention",outcome="answered"} 1"#,
        r#"oncall_bot_slack_events_total{type="app_mention",outcome="duplicate"} 1"#,
        r#"oncall_bot_slack_events_total{type="message",outcome="ignored"} 1"#,
    ])
    .await;
    app.settle().await;
    assert_eq!(app.replies().len(), 1);
}

#[tokio::test]
async fn the_bot_reconnects_after_the_socket_drops_and_keeps_answering() {
    let (app, server) = spawn_socket_app().await;
    server.drop_connection();
    wait_until("the bot reconnects", || server.connections() == 2).await;
    let envelope = server
        .send_event(&mention("Ev9", "C1", "9.9", "<@UBOT> still there?"), 0)
        .expect("sent");
    wait_until("the envelope is acked", || {
        server.acks().contains(&envelope)
    })
    .await;
    wait_until("the reply is posted", || app.replies().len() == 1).await;
}

#[tokio::test]
async fn without_a_signing_secret_the_http_endpoint_is_off_but_probes_work() {
    let (app, _server) = spawn_socket_app().await;
    let events = app
        .deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> hi"))
        .await;
    assert_eq!(events.status(), 404);
    for probe in ["healthz", "readyz", "metrics"] {
        let response = app
            .http
            .get(format!("{}/{probe}", app.address))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 200, "{probe}");
    }
}
