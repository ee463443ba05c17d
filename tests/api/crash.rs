//! Nothing lost when a replica dies: two replicas of the real binary on a real
//! `redis-server`, Slack's side played by a driver that delivers signed events
//! as Slack does (a 3 s timeout, redelivery on failure with the retry headers,
//! the retry delays shortened), a simulated Slack whose `chat.postMessage`
//! answers slowly so that work is in flight, and `kill -9` of a replica under
//! load. Every message is answered, none twice but in the counted window (a
//! replica killed between its post and its record), and no alert pages twice.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oncall_bot::slack::signature::unix_now;
use oncall_bot_simulator::{OpsGenieAccount, SlackWorkspace};
use tokio::process::Child;

use crate::helpers::*;
use crate::redis_server::RedisServer;

/// Slack's retries come at once, after about a minute and after about five;
/// here after these.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(800),
];
/// How long Slack waits for an ack.
const SLACK_TIMEOUT: Duration = Duration::from_secs(3);
const MESSAGES: usize = 40;
/// One message every this, from two channels' worth of people.
const PACE: Duration = Duration::from_millis(60);

/// One `oncall-bot serve` process, on a port it keeps across restarts.
struct Replica {
    port: u16,
    child: Option<Child>,
}

impl Replica {
    async fn start(
        slack: &SlackWorkspace,
        opsgenie: &OpsGenieAccount,
        redis: &str,
        port: u16,
    ) -> Self {
        let mut command = serve_command(slack, opsgenie, port);
        command
            .env("STATE_URL", redis)
            .env("ALERT_MODE", "every")
            .env("ALERT_RATE_LIMIT", "1000/10m")
            .env("ALERT_ALIAS_SECRET", ALIAS_SECRET)
            .env(
                "ACK_BUDGET",
                std::env::var("CRASH_ACK_BUDGET").unwrap_or("2s".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("the binary starts");
        let replica = Self {
            port,
            child: Some(child),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let url = format!("http://127.0.0.1:{port}/readyz");
            if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return replica;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the replica on {port} never became ready");
    }

    /// `kill -9`: no drain, no goodbye.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL");
            let _ = child.wait().await;
        }
    }

    /// The sum of a counter's series in `/metrics` whose lines start so.
    async fn counter(&self, line_start: &str) -> u64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        let Ok(response) = reqwest::get(&url).await else {
            return 0;
        };
        response
            .text()
            .await
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with(line_start))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|value| value as u64)
            .sum()
    }
}

const POSSIBLE_DUPLICATES: &str = "oncall_bot_replies_total{outcome=\"possible_duplicate\"}";

/// Delivers `body` as Slack does, first to `ports[first]`, then (on a
/// failure: no 2xx within 3 s, a failed connection, another status) again
/// with the retry headers, to the next replica each time, as a load balancer
/// would send it; `true` once a delivery was acked.
async fn deliver_like_slack(
    http: &reqwest::Client,
    ports: &[u16],
    first: usize,
    body: &str,
) -> bool {
    let mut reason = "";
    for attempt in 0..=RETRY_DELAYS.len() {
        let port = ports[(first + attempt) % ports.len()];
        let (timestamp, signature) = sign(body, unix_now());
        let mut request = http
            .post(format!("http://127.0.0.1:{port}/slack/events"))
            .timeout(SLACK_TIMEOUT)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned());
        if attempt > 0 {
            request = request
                .header("x-slack-retry-num", attempt.to_string())
                .header("x-slack-retry-reason", reason);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return true,
            Ok(_) => reason = "http_error",
            Err(error) if error.is_timeout() => reason = "http_timeout",
            Err(_) => reason = "connection_failed",
        }
        if let Some(delay) = RETRY_DELAYS.get(attempt) {
            tokio::time::sleep(*delay).await;
        }
    }
    false
}

/// What to do to the replicas, and when (from the start of the load).
enum Step {
    Kill(usize),
    Restart(usize),
}

/// Runs the load with `steps` done to the replicas meanwhile; asserts what
/// must hold whatever dies when.
async fn crash_under_load(steps: Vec<(Duration, Step)>) {
    let redis = RedisServer::start().await;
    let slack = start_slack().await;
    // Slack answers each post a while after it lands: posts are in flight when
    // a replica dies (before its post, during it, after it).
    slack.set_post_delay(Duration::from_millis(300));
    let opsgenie = start_opsgenie().await;
    // And OpsGenie each alert: a replica may die having paged, not answered.
    opsgenie.set_alert_delay(Duration::from_millis(300));
    let ports = [free_port(), free_port()];
    let url = redis.url();
    let replicas = Arc::new(tokio::sync::Mutex::new(vec![
        Replica::start(&slack, &opsgenie, &url, ports[0]).await,
        Replica::start(&slack, &opsgenie, &url, ports[1]).await,
    ]));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let messages: Vec<(String, String)> = (0..MESSAGES)
        .map(|n| {
            let ts = format!("1700000000.{:06}", 100 + n);
            let body = mention(
                &format!("EvCrash{n}"),
                "C1",
                &ts,
                "<@UBOT> checkout is down",
            );
            (ts, body)
        })
        .collect();
    let load = futures_util::future::join_all(messages.iter().enumerate().map(|(n, (_, body))| {
        let http = &http;
        async move {
            tokio::time::sleep(PACE * n as u32).await;
            deliver_like_slack(http, &ports, n % 2, body).await
        }
    }));
    // The possible duplicates a replica counted, read just before it is killed.
    let mut counted = 0;
    let chaos = async {
        for (at, step) in &steps {
            tokio::time::sleep_until((started + *at).into()).await;
            let mut replicas = replicas.lock().await;
            match step {
                Step::Kill(index) => {
                    counted += replicas[*index].counter(POSSIBLE_DUPLICATES).await;
                    replicas[*index].kill().await;
                }
                Step::Restart(index) => {
                    replicas[*index] = Replica::start(&slack, &opsgenie, &url, ports[*index]).await;
                }
            }
        }
    };
    let (acked, ()) = tokio::join!(load, chaos);
    assert!(
        acked.iter().all(|acked| *acked),
        "every delivery was acked in the end"
    );

    // Every message answered at least once (posts may still be on their way).
    let replies_per_thread = || {
        let mut per_thread: HashMap<String, usize> = HashMap::new();
        for post in slack.posts() {
            if let Some(thread) = post.thread_ts {
                *per_thread.entry(thread).or_default() += 1;
            }
        }
        per_thread
    };
    wait_until_async("every message is answered", || async {
        let per_thread = replies_per_thread();
        messages.iter().all(|(ts, _)| per_thread.contains_key(ts))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_thread = replies_per_thread();
    let duplicates: usize = per_thread.values().map(|posts| posts - 1).sum();
    eprintln!(
        "{} messages: {} answered, {duplicates} twice; {counted} possible duplicates counted before the end",
        MESSAGES,
        per_thread.len()
    );
    for replica in replicas.lock().await.iter() {
        counted += replica.counter(POSSIBLE_DUPLICATES).await;
    }
    assert!(
        duplicates as u64 <= counted,
        "{duplicates} messages answered twice, {counted} counted as possible duplicates"
    );
    // No alert paged twice: one page per message, a re-raise counted.
    let pages = opsgenie.alert_book().all_pages();
    assert_eq!(pages.len(), MESSAGES, "one alert per message");
    assert!(pages.values().all(|pages| *pages == 1), "{pages:?}");
    let mut replicas = replicas.lock().await;
    for replica in replicas.iter_mut() {
        replica.kill().await;
    }
}

#[tokio::test]
async fn a_replica_killed_under_load_loses_nothing_the_survivor_answers_it() {
    crash_under_load(vec![(Duration::from_millis(900), Step::Kill(0))]).await;
}

#[tokio::test]
async fn replicas_killed_and_restarted_in_turn_lose_nothing() {
    crash_under_load(vec![
        (Duration::from_millis(600), Step::Kill(0)),
        (Duration::from_millis(1_100), Step::Restart(0)),
        (Duration::from_millis(1_500), Step::Kill(1)),
        (Duration::from_millis(2_000), Step::Restart(1)),
    ])
    .await;
}

#[tokio::test]
async fn an_envelope_a_killed_process_left_unacked_is_delivered_again_and_answered_once() {
    const APP_TOKEN: &str = "xapp-1-crash";
    let redis = RedisServer::start().await;
    let slack = start_slack().await;
    let server = slack
        .enable_socket_mode(APP_TOKEN)
        .expect("a WebSocket port");
    let opsgenie = start_opsgenie().await;
    opsgenie.set_alert_delay(Duration::from_millis(400));
    let socket_bot = || {
        let mut command = serve_command(&slack, &opsgenie, free_port());
        command
            .env_remove("SLACK_SIGNING_SECRET")
            .env("SLACK_APP_TOKEN", APP_TOKEN)
            .env("STATE_URL", redis.url())
            .env("ALERT_MODE", "every")
            .env("ALERT_ALIAS_SECRET", ALIAS_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command.spawn().expect("the binary starts")
    };
    let mut first = socket_bot();
    wait_until("the bot connects", || server.connections() == 1).await;
    let body = mention(
        "EvSocketCrash",
        "C1",
        "1700000000.000900",
        "<@UBOT> checkout is down",
    );
    let envelope = server.send_event(&body, 0).expect("sent");
    // Killed while it raises the alert: paged, not answered, not acked.
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.start_kill().expect("SIGKILL");
    let _ = first.wait().await;
    assert!(
        !server.acks().contains(&envelope),
        "not acked by the dead process"
    );
    assert!(slack.posts().is_empty());

    let mut second = socket_bot();
    wait_until_async("the envelope, delivered again, is acked", || async {
        server.acks().contains(&envelope)
    })
    .await;
    wait_until("the answer is posted", || !slack.posts().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answers: Vec<_> = slack
        .posts()
        .into_iter()
        .filter(|post| post.thread_ts.as_deref() == Some("1700000000.000900"))
        .collect();
    assert_eq!(answers.len(), 1, "answered once");
    let pages = opsgenie.alert_book().all_pages();
    assert_eq!(
        pages.values().copied().collect::<Vec<_>>(),
        [1],
        "paged once: {pages:?}"
    );
    let _ = second.start_kill();
}
