//! Socket Mode against a local WebSocket fake of Slack: every behaviour of the
//! HTTP path holds there too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oncall_bot::config::settings::SocketTimings;
use oncall_bot::config::ServeConfig;
use oncall_bot::outbound::BackoffPolicy;
use oncall_bot_simulator::SocketModeServer;

use tokio::net::TcpListener;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const APP_TOKEN: &str = "xapp-1-test";

/// The app with Socket Mode only (no signing secret), connected to the fake.
async fn spawn_socket_app() -> (TestApp, SocketModeServer) {
    spawn_socket_app_with(|_| {}).await
}

/// Pings every 100 ms; a link silent for 600 ms is replaced.
const QUICK_TIMINGS: SocketTimings = SocketTimings {
    connect_timeout: Duration::from_secs(1),
    ping_interval: Duration::from_millis(100),
    idle_timeout: Duration::from_millis(600),
};

async fn spawn_socket_app_with(
    adjust: impl FnOnce(&mut ServeConfig),
) -> (TestApp, SocketModeServer) {
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
        adjust(config);
    })
    .await;
    let server = server.expect("Socket Mode is on");
    wait_until("the bot connects", || server.connections() == 1).await;
    (app, server)
}

/// Sends `body` as a new envelope, and waits until it is acked and the bot has
/// posted `replies` in all.
async fn ask_over_socket(app: &TestApp, server: &SocketModeServer, body: &str, replies: usize) {
    let envelope = server.send_event(body, 0).expect("sent");
    wait_until("the envelope is acked", || {
        server.acks().contains(&envelope)
    })
    .await;
    wait_until("the reply is posted", || app.replies().len() == replies).await;
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
    // Each is acked once its answer is posted (or it is found answered):
    // in any order.
    let mut acks = server.acks();
    acks.sort();
    assert_eq!(acks, [first, retry, own]);
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
    ask_over_socket(
        &app,
        &server,
        &mention("Ev9", "C1", "9.9", "<@UBOT> still there?"),
        1,
    )
    .await;
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

#[tokio::test]
async fn readiness_follows_the_socket_link() {
    let (app, server) = spawn_socket_app().await;
    wait_until_async("ready", || async { app.readyz().await.0 == 200 }).await;
    // Slack stops handing out connections, and the open one drops.
    Mock::given(path("/apps.connections.open"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": false, "error": "internal_error"})),
        )
        .mount(app.slack.server())
        .await;
    server.drop_connection();
    wait_until_async("not ready", || async { app.readyz().await.0 == 503 }).await;
    let (_, text) = app.readyz().await;
    assert!(
        text.starts_with("not ready: Socket Mode is not connected"),
        "{text}"
    );
}

#[tokio::test]
async fn a_half_open_link_is_noticed_and_replaced() {
    let mut server = None;
    let app = spawn_app_with_workspace(|slack, config| {
        let sim = slack
            .enable_socket_mode(APP_TOKEN)
            .expect("a WebSocket port");
        server = Some(sim);
        config.signing_secret = None;
        config.app_token = Some(APP_TOKEN.into());
        config.socket_timings = QUICK_TIMINGS;
        config.socket_reconnect = BackoffPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
    })
    .await;
    let server = server.expect("Socket Mode is on");
    // Route the bot through the proxy from its next connection on.
    let target: std::net::SocketAddr = server
        .url()
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|address| address.parse().ok())
        .expect("the fake's address");
    let stalling = crate::stalling_proxy::StallingProxy::start(target).await;
    Mock::given(path("/apps.connections.open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ok": true,
            "url": format!("ws://{}/link/?ticket=via-proxy", stalling.address)
        })))
        .mount(app.slack.server())
        .await;
    wait_until("the bot connects directly", || server.connections() == 1).await;
    server.drop_connection();
    wait_until("the bot connects through the proxy", || {
        server.connections() == 2
    })
    .await;

    // Pings and pongs keep a healthy link: no reconnect for several idle timeouts.
    tokio::time::sleep(QUICK_TIMINGS.idle_timeout * 3).await;
    assert_eq!(server.connections(), 2, "a healthy link is kept");
    assert!(server.connection_log()[1].pings >= 3, "the bot pings");

    let stalled_at = std::time::Instant::now();
    stalling.stall();
    wait_until("the bot replaces the silent link", || {
        server.connections() == 3
    })
    .await;
    let noticed = stalled_at.elapsed();
    assert!(
        noticed >= QUICK_TIMINGS.idle_timeout / 2 && noticed < QUICK_TIMINGS.idle_timeout * 4,
        "noticed after {noticed:?}"
    );
    ask_over_socket(
        &app,
        &server,
        &mention("Ev1", "C1", "1.1", "<@UBOT> still there?"),
        1,
    )
    .await;
}

#[tokio::test]
async fn on_disconnect_the_next_link_opens_before_the_old_one_is_let_go() {
    let (app, server) = spawn_socket_app().await;
    assert!(server.send_disconnect("refresh_requested"));
    wait_until("the second connection", || server.connections() == 2).await;
    wait_until("the first is let go", || {
        server.connection_log()[0].closed.is_some()
    })
    .await;
    let log = server.connection_log();
    assert!(log[0].closed_by_bot, "the bot closed the old link itself");
    assert!(
        log[1].opened <= log[0].closed.expect("closed"),
        "the new link was open before the old one closed: {log:?}"
    );
    assert_eq!(app.readyz().await.0, 200);
    ask_over_socket(&app, &server, &mention("Ev1", "C1", "1.1", "<@UBOT> hi"), 1).await;
}

#[tokio::test]
async fn over_max_in_flight_an_envelope_is_left_unacked_and_answered_when_redelivered() {
    let (app, server) = spawn_socket_app_with(|config| config.max_in_flight = 2).await;
    hold_the_next_lookup(&app).await;
    let bodies = distinct_mentions(3);
    let first = server.send_event(&bodies[0], 0).expect("sent");
    let second = server.send_event(&bodies[1], 0).expect("sent");
    let third = server.send_event(&bodies[2], 0).expect("sent");
    app.wait_for_metrics(&[
        r#"oncall_bot_slack_events_total{type="app_mention",outcome="answered"} 2"#,
        r#"oncall_bot_slack_events_total{type="app_mention",outcome="shed"} 1"#,
    ])
    .await;
    wait_until("the admitted two are acked", || server.acks().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        server.acks(),
        [first, second],
        "the shed envelope is not acked"
    );
    app.settle().await;
    let again = server.send_event(&bodies[2], 1).expect("redelivered");
    wait_until("the redelivery is acked", || server.acks().contains(&again)).await;
    assert!(!server.acks().contains(&third));
    app.settle().await;
    let mut threads: Vec<String> = app
        .replies()
        .iter()
        .filter_map(|post| post.thread_ts.clone())
        .collect();
    threads.sort();
    assert_eq!(threads, ["1.1", "1.2", "1.3"]);
}

#[tokio::test]
async fn a_websocket_handshake_that_never_completes_is_given_up_and_retried() {
    // A server that accepts TCP and then says nothing, like a black-holed proxy.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let silent_address = silent.local_addr().expect("an address");
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let (app, server) = spawn_socket_app_with(|config| {
        config.socket_timings = SocketTimings {
            connect_timeout: Duration::from_millis(200),
            ..QUICK_TIMINGS
        };
    })
    .await;
    Mock::given(path("/apps.connections.open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ok": true, "url": format!("ws://{silent_address}/link")
        })))
        .mount(app.slack.server())
        .await;
    server.drop_connection();
    wait_until(
        "the bot gives up on the silent handshake and tries again",
        || attempts.load(Ordering::SeqCst) >= 2,
    )
    .await;
    assert_eq!(app.readyz().await.0, 503, "not connected meanwhile");
}

#[tokio::test]
async fn a_button_click_arrives_as_an_interactive_envelope_is_acked_and_acts() {
    let (app, server) = spawn_socket_app_with(|config| {
        config.alerts = Some(oncall_bot::alerting::AlertPolicy::default());
    })
    .await;
    let thread = "1795460000.000100";
    let alias = &alias_for("C1", thread, thread);
    ask_over_socket(
        &app,
        &server,
        &mention("Ev1", "C1", thread, "<@UBOT> prod is down"),
        1,
    )
    .await;
    let answer = app.replies().remove(0);
    assert!(answer.blocks.is_some(), "the alert's card");
    let click = oncall_bot_simulator::events::ButtonClick::on(&answer, "UBOB", "alert_take", alias);
    let envelope = server.send_interactive(&click.payload()).expect("sent");
    wait_until("the envelope is acked", || {
        server.acks().contains(&envelope)
    })
    .await;
    wait_until("the answer is updated", || !app.slack.updates().is_empty()).await;
    let actions: Vec<(String, String)> = app
        .opsgenie
        .alert_book()
        .actions()
        .into_iter()
        .map(|record| {
            let user = record.body["user"].as_str().unwrap_or_default().to_owned();
            (record.action, user)
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("acknowledge".to_owned(), "bob@corp.example".to_owned()),
            ("assign".to_owned(), "bob@corp.example".to_owned())
        ]
    );
    let updated = app.slack.message(&answer.ts).expect("the answer");
    assert!(
        updated.text.ends_with("Taken by <@UBOB>"),
        "{}",
        updated.text
    );
}

#[tokio::test]
async fn a_slash_command_arrives_as_a_slash_commands_envelope_is_acked_and_answered() {
    let (app, server) = spawn_socket_app().await;
    let payload = oncall_bot_simulator::events::slash_command_json(
        "UBOB",
        "C1",
        "",
        &app.slack.response_url(),
    );
    let envelope = server.send_slash_command(&payload).expect("sent");
    wait_until("the envelope is acked", || {
        server.acks().contains(&envelope)
    })
    .await;
    wait_until("the command is answered", || {
        !app.slack.command_responses().is_empty()
    })
    .await;
    let responses = app.slack.command_responses();
    assert_eq!(responses[0]["response_type"], "ephemeral");
    assert_eq!(
        responses[0]["text"],
        "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"
    );
}
