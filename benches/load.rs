//! Load benchmark: the real binary (`oncall-bot serve`, its own process) against
//! the simulated Slack and OpsGenie, fed signed mentions over loopback.
//!
//! ```sh
//! cargo bench --bench load                 # 20000 mentions, 64 connections
//! cargo bench --bench load -- 5000 32      # MENTIONS CONNECTIONS
//! ```
//!
//! Prints acks/s, ack latency, mention-to-reply latency, replies lost, upstream
//! calls and the bot's peak RSS. Figures, not assertions: machines are noisy.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use oncall_bot::slack::signature::unix_now;
use oncall_bot_simulator::{OpsGenieAccount, SlackWorkspace};

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../tests/api/logs.rs"]
mod logs;

use helpers::*;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    )
}

/// Peak resident set of a process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Round {
    sent_at: HashMap<String, Instant>,
    ack_latencies: Vec<Duration>,
    wall: Duration,
}

/// Sends `count` distinct signed mentions over at most `connections` connections.
async fn fire(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    count: usize,
    connections: usize,
) -> Round {
    let started = Instant::now();
    let results: Vec<(String, Instant, Duration)> = futures_util::stream::iter(0..count)
        .map(|n| {
            let ts = format!("{prefix}.{n:06}");
            let body = mention(
                &format!("Ev{prefix}-{n}"),
                "CLOAD",
                &ts,
                "<@UBOT> the site is down",
            );
            async move {
                let (timestamp, signature) = sign(&body, unix_now());
                let sent = Instant::now();
                let response = http
                    .post(format!("{base}/slack/events"))
                    .header("x-slack-request-timestamp", timestamp)
                    .header("x-slack-signature", signature)
                    .body(body)
                    .send()
                    .await;
                let status = response
                    .map(|response| response.status().as_u16())
                    .unwrap_or(0);
                assert_eq!(status, 200, "every signed mention is acked");
                (ts, sent, sent.elapsed())
            }
        })
        .buffer_unordered(connections)
        .collect()
        .await;
    let wall = started.elapsed();
    let mut sent_at = HashMap::new();
    let mut ack_latencies = Vec::new();
    for (ts, sent, latency) in results {
        sent_at.insert(ts, sent);
        ack_latencies.push(latency);
    }
    Round {
        sent_at,
        ack_latencies,
        wall,
    }
}

/// Waits until every mention of `round` has its reply (or 60 s pass); returns the
/// mention-to-reply latencies and how many replies never came.
async fn replies_for(slack: &SlackWorkspace, round: &Round) -> (Vec<Duration>, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let posts = slack.posts();
        let latencies: Vec<Duration> = posts
            .iter()
            .filter_map(|post| {
                let sent = round.sent_at.get(post.thread_ts.as_deref()?)?;
                Some(post.received_at.duration_since(*sent))
            })
            .collect();
        let lost = round.sent_at.len().saturating_sub(latencies.len());
        if lost == 0 || Instant::now() > deadline {
            return (latencies, lost);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report(label: &str, round: &Round, reply_latencies: Vec<Duration>, lost: usize) {
    let count = round.ack_latencies.len();
    println!("{label}: {count} mentions in {:.2?}", round.wall);
    println!(
        "  acks/s {:.0}; ack latency {}",
        count as f64 / round.wall.as_secs_f64(),
        summary(round.ack_latencies.clone())
    );
    println!(
        "  mention-to-reply {}; replies lost {lost}",
        summary(reply_latencies)
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let count = numbers.first().copied().unwrap_or(20_000);
    let connections = numbers.get(1).copied().unwrap_or(64);

    let slack = start_slack().await;
    let opsgenie: OpsGenieAccount = start_opsgenie().await;
    let port = free_port();
    let mut bot = serve_command(&slack, &opsgenie, port)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the bot starts");
    let pid = bot.id().expect("a pid");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("a client");
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("oncall-bot serve (pid {pid}), {count} mentions over {connections} connections");

    let sustained = fire(&http, &base, "1", count, connections).await;
    let (latencies, lost) = replies_for(&slack, &sustained).await;
    report("sustained", &sustained, latencies, lost);
    let lookups_before_clear =
        requests_to(opsgenie.server(), "/v2/schedules/SRE_schedule/on-calls").await;

    let body = mention("EvClear", "CLOAD", "2.000000", "<@UBOT> cache clear");
    let (timestamp, signature) = sign(&body, unix_now());
    http.post(format!("{base}/slack/events"))
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .expect("acked");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let burst_size = 500.min(count.max(1));
    let burst = fire(&http, &base, "3", burst_size, burst_size).await;
    let (latencies, lost) = replies_for(&slack, &burst).await;
    report("burst after cache clear", &burst, latencies, lost);

    let lookups = requests_to(opsgenie.server(), "/v2/schedules/SRE_schedule/on-calls").await;
    println!(
        "upstream: OpsGenie on-call calls {lookups} ({lookups_before_clear} before cache clear), \
         users.lookupByEmail {}, chat.postMessage {}",
        requests_to(slack.server(), "/users.lookupByEmail").await,
        requests_to(slack.server(), "/chat.postMessage").await,
    );
    match peak_rss_kib(pid) {
        Some(kib) => println!("bot peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("bot peak RSS: unknown (no /proc)"),
    }
    let _ = bot.start_kill();
}
