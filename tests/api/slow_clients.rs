//! Slow, idle and unsigned clients, over raw sockets: none can hold the server,
//! and shutdown is bounded whatever they do.

use std::time::{Duration, Instant};

use oncall_bot::config::settings::HttpLimits;
use oncall_bot::slack::signature::unix_now;
use oncall_bot::startup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

const LIMITS: HttpLimits = HttpLimits {
    header_timeout: Duration::from_millis(300),
    body_timeout: Duration::from_millis(300),
    max_connections: 2,
};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connects")
}

/// What the server sends until it closes, or 3 s pass.
async fn response_of(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(read)) => {
                received.extend_from_slice(&buffer[..read]);
                if received.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn unsigned_or_stale_requests_get_401_without_their_body_being_waited_for() {
    let app = spawn_app_with(|config| config.http_limits = LIMITS).await;
    let stale = (unix_now() - 600).to_string();
    for headers in [
        String::new(),
        format!("X-Slack-Request-Timestamp: {stale}\r\nX-Slack-Signature: v0=00\r\n"),
        format!("X-Slack-Request-Timestamp: {}\r\n", unix_now()),
    ] {
        let mut stream = connect(&app).await;
        let head = format!(
            "POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n\
             Content-Length: 100000\r\n{headers}\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("sent");
        let started = Instant::now();
        let response = response_of(&mut stream).await;
        assert!(
            response.starts_with("HTTP/1.1 401"),
            "{headers:?}: {response}"
        );
        assert!(
            started.elapsed() < LIMITS.body_timeout,
            "answered before any body timeout"
        );
    }
}

#[tokio::test]
async fn a_body_that_trickles_gets_408_when_its_time_is_up() {
    let app = spawn_app_with(|config| config.http_limits = LIMITS).await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n\
         X-Slack-Request-Timestamp: {}\r\nX-Slack-Signature: v0=00\r\n\r\n{{\"type\":",
        unix_now()
    );
    stream.write_all(head.as_bytes()).await.expect("sent");
    let response = response_of(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
}

#[tokio::test]
async fn headers_that_trickle_are_cut_off_and_free_their_slot() {
    let app = spawn_app_with(|config| config.http_limits = LIMITS).await;
    // Two slow clients hold both connection slots...
    let mut slow = Vec::new();
    for _ in 0..LIMITS.max_connections {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"POST /slack/events HTTP/1.1\r\nHost: b")
            .await
            .expect("sent");
        slow.push(stream);
    }
    // ...so a third client waits for the header timeout to free one.
    let started = Instant::now();
    let healthz = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("served once a slot is free");
    assert_eq!(healthz.status(), 200);
    assert!(
        started.elapsed() >= LIMITS.header_timeout / 2,
        "the connection cap held it back"
    );
    for mut stream in slow {
        let mut buffer = [0u8; 64];
        let ended = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await;
        assert!(
            matches!(ended, Ok(Ok(_)) | Ok(Err(_))),
            "the trickling connection was closed"
        );
    }
}

#[tokio::test]
async fn shutdown_is_bounded_with_idle_and_trickling_connections_open() {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let mut config = test_config(&slack, &opsgenie);
    config.drain_timeout = Duration::from_secs(1);
    config.http_limits = HttpLimits {
        header_timeout: Duration::from_secs(30),
        ..LIMITS
    };
    let services = startup::build(&config).await.expect("builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(startup::serve(listener, services, async {
        let _ = stopped.await;
    }));
    // An idle keep-alive connection, after one request...
    let mut idle = TcpStream::connect(address).await.expect("connects");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
        .await
        .expect("sent");
    assert!(response_of(&mut idle).await.starts_with("HTTP/1.1 200"));
    // ...and one sending its headers a byte at a time.
    let mut trickling = TcpStream::connect(address).await.expect("connects");
    trickling
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .expect("sent");

    let started = Instant::now();
    let _ = stop.send(());
    let finished = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns");
    assert!(finished.expect("no panic").is_ok());
    assert!(
        started.elapsed() < config.drain_timeout + Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}
