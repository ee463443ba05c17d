//! Load benchmark: fires signed mentions at the real router (over loopback TCP) with
//! wiremock fakes for Slack and OpsGenie, and prints what it measured.
//!
//! ```sh
//! cargo run --release --example load -- [MENTIONS] [CONCURRENCY]   # default 5000 64
//! ```

use std::time::{Duration, Instant};

use futures_util::StreamExt;

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

use helpers::{mention, spawn_app, TestApp};

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Sends `count` distinct mentions, `concurrency` at a time; returns each ack's latency.
async fn fire(app: &TestApp, prefix: &str, count: usize, concurrency: usize) -> Vec<Duration> {
    futures_util::stream::iter(0..count)
        .map(|n| {
            let body = mention(
                &format!("Ev{prefix}{n}"),
                "CLOAD",
                &format!("{prefix}.{n:06}"),
                "<@UBOT> the site is down",
            );
            async move {
                let started = Instant::now();
                let status = app.deliver(&body).await.status();
                assert_eq!(status, 200, "every signed mention is acked");
                started.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn report(label: &str, mut latencies: Vec<Duration>, wall: Duration) {
    latencies.sort();
    println!(
        "{label}: {} acks in {:.2?} = {:.0} acks/s; ack latency p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        latencies.len(),
        wall,
        latencies.len() as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let concurrency: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(64);
    let app = spawn_app().await;

    let started = Instant::now();
    let latencies = fire(&app, "1", count, concurrency).await;
    report("sustained", latencies, started.elapsed());
    app.settle().await;
    let replies_delivered = app.replies().len();
    println!(
        "replies delivered: {replies_delivered}/{count} (all answered {:.2?} after the first mention)",
        started.elapsed()
    );

    app.deliver(&mention("EvClear", "CLOAD", "2.0", "<@UBOT> cache clear"))
        .await;
    app.settle().await;
    let burst = 200.min(count);
    let started = Instant::now();
    let latencies = fire(&app, "3", burst, burst).await;
    report("burst after cache clear", latencies, started.elapsed());
    app.settle().await;

    println!(
        "OpsGenie on-call calls: {} (one before the burst, one after cache clear)",
        app.on_call_lookups().await
    );
    println!(
        "users.lookupByEmail calls: {} (two people, looked up again after cache clear)",
        app.email_lookups().await
    );
    println!(
        "replies delivered in all: {} of {}",
        app.replies().len(),
        count + 1 + burst
    );
}
