//! Load benchmark: the real binary (`oncall-bot serve`, its own process) against
//! the simulated Slack and OpsGenie, fed signed mentions over loopback.
//!
//! ```sh
//! cargo bench --bench load                      # the three phases below
//! cargo bench --bench load -- --rate 1000 --seconds 10 --connections 64
//! cargo bench --bench load -- --flat-out 60000 --connections 64
//! cargo bench --bench load -- --flat-out-for 30  # flat out for 30 s
//! cargo bench --bench load -- --redis            # with STATE_URL (starts redis-server)
//! cargo bench --bench load -- --floor            # the same phases against the floor
//! ```
//!
//! Phases by default: an offered rate (1,000 mentions/s for 10 s: each connection
//! sends its share on a clock, so latency is not queueing behind a saturated
//! loop), flat out (60,000 mentions over 64 connections), and a burst of 200 after
//! `cache clear`. Per phase it prints the offered and achieved rate, ack latency,
//! mention-to-reply latency, CPU per answered event (the bot's user+system time
//! from /proc), peak RSS, replies lost and duplicated, events shed (503) and
//! answered on Slack's retry, what is still unanswered after the load stops, and
//! upstream calls. The bot logs at its default level (info) into /dev/null.
//! Figures, not assertions: machines are noisy.
//!
//! `--floor` runs the chosen phases against `floor.rs` instead of the bot: the
//! same ack and the same reply over the same hyper and tokio, with none of the
//! bot's own work, so the bot's CPU per event reads against what the I/O alone
//! costs on the machine at hand.

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

mod floor;

/// Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times, on every mainstream
/// architecture (read with `getconf CLK_TCK`).
const TICKS_PER_SECOND: f64 = 100.0;

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

/// The process's user + system CPU time so far, from /proc (Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / TICKS_PER_SECOND))
}

/// How a phase sends its mentions.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// `per_second` in all, spread evenly over the connections, for `seconds`.
    Rate { per_second: usize, seconds: u64 },
    /// `count` as fast as the bot acks them.
    FlatOut { count: usize },
    /// As fast as the bot acks, for `seconds`.
    FlatOutFor { seconds: u64 },
}

struct Round {
    sent_at: HashMap<String, Instant>,
    ack_latencies: Vec<Duration>,
    /// Events answered 503 first (shed), then acked on Slack's retry.
    shed: usize,
    wall: Duration,
}

/// Posts one signed mention as Slack does: a 503 is delivered again a second
/// later with `X-Slack-Retry-Num`, up to three times. Returns whether it was
/// shed first, and the first delivery's ack latency.
async fn deliver(http: &reqwest::Client, base: &str, body: &str) -> (bool, Duration) {
    let mut shed = false;
    let first_sent = Instant::now();
    let mut first_latency = None;
    for retry in 0..4u32 {
        let (timestamp, signature) = sign(body, unix_now());
        let sent = Instant::now();
        let mut request = http
            .post(format!("{base}/slack/events"))
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned());
        if retry > 0 {
            request = request.header("x-slack-retry-num", retry.to_string());
        }
        let status = request
            .send()
            .await
            .map(|response| response.status().as_u16())
            .unwrap_or(0);
        first_latency.get_or_insert(sent.elapsed());
        match status {
            200 => return (shed, first_latency.unwrap_or_default()),
            503 => {
                shed = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => panic!("a signed mention got HTTP {other}"),
        }
    }
    panic!(
        "a mention was shed four times in a row ({:?})",
        first_sent.elapsed()
    );
}

fn mention_body(prefix: &str, n: usize) -> (String, String) {
    let ts = format!("{prefix}.{n:06}");
    let body = mention(
        &format!("Ev{prefix}-{n}"),
        "CLOAD",
        &ts,
        "<@UBOT> the site is down",
    );
    (ts, body)
}

async fn fire(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    pace: Pace,
    connections: usize,
) -> Round {
    let started = Instant::now();
    let results: Vec<(String, Instant, bool, Duration)> = match pace {
        Pace::FlatOut { count } => {
            futures_util::stream::iter(0..count)
                .map(|n| async move {
                    let (ts, body) = mention_body(prefix, n);
                    let sent = Instant::now();
                    let (shed, latency) = deliver(http, base, &body).await;
                    (ts, sent, shed, latency)
                })
                .buffer_unordered(connections)
                .collect()
                .await
        }
        Pace::FlatOutFor { seconds } => {
            let until = started + Duration::from_secs(seconds);
            let per_connection =
                futures_util::future::join_all((0..connections).map(|c| async move {
                    let mut sent_here = Vec::new();
                    let mut n = c;
                    while Instant::now() < until {
                        let (ts, body) = mention_body(prefix, n);
                        let sent = Instant::now();
                        let (shed, latency) = deliver(http, base, &body).await;
                        sent_here.push((ts, sent, shed, latency));
                        n += connections;
                    }
                    sent_here
                }))
                .await;
            per_connection.into_iter().flatten().collect()
        }
        Pace::Rate {
            per_second,
            seconds,
        } => {
            let total = per_second * seconds as usize;
            let gap = Duration::from_secs_f64(connections as f64 / per_second as f64);
            let per_connection =
                futures_util::future::join_all((0..connections).map(|c| async move {
                    // Each connection starts at its own offset, then keeps its clock.
                    let mut next = started + gap.mul_f64(c as f64 / connections as f64);
                    let mut sent_here = Vec::new();
                    let mut n = c;
                    while n < total {
                        tokio::time::sleep_until(next.into()).await;
                        let (ts, body) = mention_body(prefix, n);
                        let sent = Instant::now();
                        let (shed, latency) = deliver(http, base, &body).await;
                        sent_here.push((ts, sent, shed, latency));
                        n += connections;
                        next += gap;
                    }
                    sent_here
                }))
                .await;
            per_connection.into_iter().flatten().collect()
        }
    };
    let wall = started.elapsed();
    let mut round = Round {
        sent_at: HashMap::new(),
        ack_latencies: Vec::new(),
        shed: 0,
        wall,
    };
    for (ts, sent, shed, latency) in results {
        round.sent_at.insert(ts, sent);
        round.ack_latencies.push(latency);
        round.shed += usize::from(shed);
    }
    round
}

/// Replies to `round`'s mentions: the latencies of the first reply to each, how
/// many are duplicated, and how many are missing, once every mention has its
/// reply or `wait` has passed since the load stopped.
async fn replies_for(
    slack: &SlackWorkspace,
    round: &Round,
    wait: Duration,
) -> (Vec<Duration>, usize, usize) {
    let deadline = Instant::now() + wait;
    loop {
        let posts = slack.posts();
        let mut first: HashMap<&str, Duration> = HashMap::new();
        let mut duplicates = 0;
        for post in &posts {
            let Some(thread) = post.thread_ts.as_deref() else {
                continue;
            };
            let Some(sent) = round.sent_at.get(thread) else {
                continue;
            };
            if first
                .insert(thread, post.received_at.duration_since(*sent))
                .is_some()
            {
                duplicates += 1;
            }
        }
        let missing = round.sent_at.len().saturating_sub(first.len());
        if missing == 0 || Instant::now() > deadline {
            return (first.into_values().collect(), duplicates, missing);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bot under load, and what talks to it.
struct Bench<'a> {
    pid: u32,
    slack: &'a SlackWorkspace,
    http: &'a reqwest::Client,
    base: &'a str,
}

impl Bench<'_> {
    /// Runs one phase and prints its figures.
    async fn phase(&self, label: &str, prefix: &str, pace: Pace, connections: usize) {
        let cpu_before = cpu_time(self.pid);
        let round = fire(self.http, self.base, prefix, pace, connections).await;
        // Right after the load stops: what was acked but is not answered yet.
        let (_, _, unanswered_at_stop) = replies_for(self.slack, &round, Duration::ZERO).await;
        let (latencies, duplicates, lost) =
            replies_for(self.slack, &round, Duration::from_secs(60)).await;
        let cpu_after = cpu_time(self.pid);
        let count = round.ack_latencies.len();
        let answered = count.saturating_sub(lost);
        let offered = match pace {
            Pace::Rate { per_second, .. } => format!("{per_second}/s"),
            Pace::FlatOut { .. } | Pace::FlatOutFor { .. } => "flat out".to_owned(),
        };
        println!(
            "{label}: {count} mentions over {connections} connections in {:.2?}",
            round.wall
        );
        println!(
            "  offered {offered}, achieved {:.0}/s; ack {}",
            count as f64 / round.wall.as_secs_f64(),
            summary(round.ack_latencies.clone())
        );
        println!(
            "  mention-to-reply {}; unanswered when the load stopped {unanswered_at_stop}, \
             after 60 s {lost}; duplicated {duplicates}; shed (503, answered on retry) {}",
            summary(latencies),
            round.shed
        );
        match (cpu_before, cpu_after) {
            (Some(before), Some(after)) if answered > 0 => println!(
                "  CPU {:.3} ms per answered event ({:.2?} in all); peak RSS so far {}",
                (after - before).as_secs_f64() * 1000.0 / answered as f64,
                after - before,
                peak_rss_kib(self.pid)
                    .map(|kib| format!("{:.1} MiB", kib as f64 / 1024.0))
                    .unwrap_or_else(|| "unknown".to_owned())
            ),
            _ => println!("  CPU: unknown (no /proc)"),
        }
    }
}

/// `--name value` from the command line, parsed.
fn option<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
}

fn main() {
    if std::env::var_os(floor::ENV).is_some() {
        return floor::serve();
    }
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(bench());
}

async fn bench() {
    let connections: usize = option("--connections").unwrap_or(64);
    let chosen: Vec<Pace> = [
        option::<usize>("--rate").map(|per_second| Pace::Rate {
            per_second,
            seconds: option("--seconds").unwrap_or(10),
        }),
        option::<usize>("--flat-out").map(|count| Pace::FlatOut { count }),
        option::<u64>("--flat-out-for").map(|seconds| Pace::FlatOutFor { seconds }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let phases = if chosen.is_empty() {
        vec![
            Pace::Rate {
                per_second: 1_000,
                seconds: 10,
            },
            Pace::FlatOut { count: 60_000 },
        ]
    } else {
        chosen
    };

    let slack = start_slack().await;
    let opsgenie: OpsGenieAccount = start_opsgenie().await;
    let port = free_port();
    // The default log level (info: a line per answer), as operators run it;
    // the lines go nowhere, their cost stays in the figures.
    let floor = std::env::args().any(|arg| arg == "--floor");
    let mut command = serve_command(&slack, &opsgenie, port);
    if floor {
        // This executable again, as the floor (`floor.rs`), with the bot's
        // environment (listen address, Slack's URL and token).
        let mut floor_command =
            tokio::process::Command::new(std::env::current_exe().expect("its own path"));
        floor_command
            .env_clear()
            .env(floor::ENV, "1")
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("SLACK_API_URL", slack.url())
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command = floor_command;
    }
    // Knobs for experiments, passed on when set: `RUST_LOG=warn cargo bench ...`.
    for name in ["RUST_LOG", "MALLOC_ARENA_MAX"] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    // `--redis`: the shared state of several replicas, on a real redis-server.
    let redis = std::env::args()
        .any(|arg| arg == "--redis")
        .then(RedisChild::start);
    if let Some(redis) = &redis {
        command.env("STATE_URL", redis.url());
        println!("state shared in Redis at {}", redis.url());
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the bot starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections.max(200))
        .build()
        .expect("a client");
    let bot = Bench {
        pid: child.id().expect("a pid"),
        slack: &slack,
        http: &http,
        base: &base,
    };
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let name = if floor {
        "the floor (benches/floor.rs)"
    } else {
        "oncall-bot serve"
    };
    println!("{name} (pid {}) on {base}", bot.pid);

    for (n, pace) in phases.iter().enumerate() {
        let label = match pace {
            Pace::Rate { .. } => "offered rate",
            Pace::FlatOut { .. } => "flat out",
            Pace::FlatOutFor { .. } => "flat out for a while",
        };
        let prefix = format!("{}", n + 1);
        bot.phase(label, &prefix, *pace, connections).await;
    }
    if floor {
        // The floor has no cache and no upstream but Slack: nothing more to tell.
        match peak_rss_kib(bot.pid) {
            Some(kib) => println!("floor peak RSS: {:.1} MiB", kib as f64 / 1024.0),
            None => println!("floor peak RSS: unknown (no /proc)"),
        }
        let _ = child.start_kill();
        return;
    }
    let lookups_before_clear =
        requests_to(opsgenie.server(), "/v2/schedules/SRE_schedule/on-calls").await;

    let body = mention("EvClear", "CLOAD", "9.000000", "<@UBOT> cache clear");
    deliver(&http, &base, &body).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    bot.phase(
        "burst after cache clear",
        "10",
        Pace::FlatOut { count: 200 },
        200,
    )
    .await;

    let lookups = requests_to(opsgenie.server(), "/v2/schedules/SRE_schedule/on-calls").await;
    println!(
        "upstream: OpsGenie on-call calls {lookups} ({lookups_before_clear} before cache clear), \
         users.lookupByEmail {}, chat.postMessage {}",
        requests_to(slack.server(), "/users.lookupByEmail").await,
        requests_to(slack.server(), "/chat.postMessage").await,
    );
    match peak_rss_kib(bot.pid) {
        Some(kib) => println!("bot peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("bot peak RSS: unknown (no /proc)"),
    }
    let _ = child.start_kill();
}

/// A `redis-server` for `--redis`, on a free port, stopped with the benchmark.
struct RedisChild {
    port: u16,
    child: std::process::Child,
}

impl RedisChild {
    fn start() -> Self {
        let port = free_port();
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, child };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
