//! Several replicas sharing one real `redis-server` (`STATE_URL`): a retry or a
//! second event for a message answered elsewhere gets no second reply, alerts
//! are raised once, `cache clear` reaches every replica, one replica syncs the
//! user group, and with Redis gone each keeps answering on its own.

use std::time::Duration;

use oncall_bot::alerting::{AlertPolicy, RateLimit};
use oncall_bot::config::ServeConfig;
use oncall_bot::edge::Inbox;
use oncall_bot::metrics::Metrics;
use oncall_bot::startup;
use oncall_bot::store::{SharedState, StateConfig};
use oncall_bot::usergroup_sync::{UserGroupRef, UserGroupSpec};
use oncall_bot_simulator::{OpsGenieAccount, SlackWorkspace};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::*;
use crate::logs::CapturedLogs;
use crate::redis_server::RedisServer;

const PREFIX: &str = "test-bot:";

/// One `serve` process, in-process: its address, intake, and how to stop it.
pub struct Replica {
    address: String,
    inbox: Inbox,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<Result<(), startup::StartupError>>>,
}

impl Replica {
    pub async fn start(config: &ServeConfig) -> Self {
        let services = startup::build(config).await.expect("the replica starts");
        let inbox = services.inbox.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = format!("http://{}", listener.local_addr().expect("an address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(startup::serve(listener, services, async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            inbox,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// A signed delivery, as Slack makes it; `retry` sets X-Slack-Retry-Num.
    async fn deliver(&self, body: &str, retry: Option<&str>) -> u16 {
        let (timestamp, signature) = sign(body, unix_now());
        let mut request = reqwest::Client::new()
            .post(format!("{}/slack/events", self.address))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned());
        if let Some(retry) = retry {
            request = request.header("x-slack-retry-num", retry);
        }
        let status = request.send().await.expect("the replica answers").status();
        self.inbox.wait_idle().await;
        status.as_u16()
    }

    /// A signed button click, answered 200 and handled.
    async fn click(&self, click: &oncall_bot_simulator::events::ButtonClick<'_>) {
        let status =
            oncall_bot_simulator::events::EventsEndpoint::new(&self.address, SIGNING_SECRET)
                .click(click)
                .await
                .expect("the replica answers");
        assert_eq!(status, 200);
        self.inbox.wait_idle().await;
    }

    /// A signed event, delivered and answered.
    pub async fn deliver_event(&self, body: &str) -> u16 {
        self.deliver(body, None).await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.address))
            .await
            .expect("the replica answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("text"))
    }

    /// The sum of a counter's series in `/metrics` whose lines start so (0
    /// when there are none).
    async fn counter(&self, line_start: &str) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .filter(|line| line.starts_with(line_start))
            .filter_map(|line| line.rsplit(' ').next())
            .filter_map(|value| value.parse::<f64>().ok())
            .map(|value| value as u64)
            .sum()
    }

    /// Stops it as SIGTERM would: drains, releases its lease.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }
}

/// Two replicas of one bot, on one Slack, one OpsGenie and one Redis.
struct Replicas {
    slack: SlackWorkspace,
    opsgenie: OpsGenieAccount,
    redis: RedisServer,
    a: Replica,
    b: Replica,
}

async fn spawn_replicas(adjust: impl Fn(&mut ServeConfig)) -> Replicas {
    let redis = RedisServer::start().await;
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let mut config = test_config(&slack, &opsgenie);
    config.state = Some(StateConfig {
        url: redis.url().into(),
        prefix: PREFIX.to_owned(),
    });
    adjust(&mut config);
    let a = Replica::start(&config).await;
    let b = Replica::start(&config).await;
    let replicas = Replicas {
        slack,
        opsgenie,
        redis,
        a,
        b,
    };
    replicas.wait_until_both_hear_cache_clears().await;
    replicas
}

impl Replicas {
    async fn wait_until_both_hear_cache_clears(&self) {
        let channel = format!("{PREFIX}cache-clears");
        for _ in 0..200 {
            let answer = self
                .redis
                .command(&["PUBSUB", "NUMSUB", &channel])
                .await
                .unwrap_or_default();
            if answer.ends_with(":2") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the replicas never subscribed to {channel}");
    }

    async fn on_call_lookups(&self) -> usize {
        requests_to(
            self.opsgenie.server(),
            &format!("/v2/schedules/{SCHEDULE}/on-calls"),
        )
        .await
    }
}

fn alerting(config: &mut ServeConfig) {
    config.alerts = Some(AlertPolicy::default());
}

#[tokio::test]
async fn a_retry_that_lands_on_the_other_replica_is_answered_once() {
    let replicas = spawn_replicas(|_| {}).await;
    let event = mention("Ev1", "C1", "1700000000.000100", "<@UBOT> prod is down");
    assert_eq!(replicas.a.deliver(&event, None).await, 200);
    assert_eq!(replicas.b.deliver(&event, Some("1")).await, 200);
    assert_eq!(replicas.a.deliver(&event, Some("2")).await, 200);
    assert_eq!(replicas.slack.posts().len(), 1);
    assert_eq!(
        replicas
            .b
            .counter("oncall_bot_slack_events_total{type=\"app_mention\",outcome=\"duplicate\"}")
            .await,
        1,
        "B finds it answered in the shared state, and acks it without a word"
    );
}

#[tokio::test]
async fn the_same_message_under_a_new_event_id_on_the_other_replica_gets_no_reply_and_no_second_alert(
) {
    let replicas = spawn_replicas(alerting).await;
    let ts = "1700000000.000100";
    replicas
        .a
        .deliver(&mention("Ev1", "C1", ts, "<@UBOT> checkout is down"), None)
        .await;
    replicas
        .b
        .deliver(&mention("Ev2", "C1", ts, "<@UBOT> checkout is down"), None)
        .await;
    assert_eq!(replicas.slack.posts().len(), 1);
    assert_eq!(replicas.opsgenie.alerts().len(), 1);
}

#[tokio::test]
async fn an_alert_is_raised_once_and_the_per_person_limit_counts_every_replica() {
    let replicas = spawn_replicas(|config| {
        config.alerts = Some(AlertPolicy {
            rate_limit: RateLimit {
                count: 1,
                per: Duration::from_secs(600),
            },
            ..AlertPolicy::default()
        });
    })
    .await;
    replicas
        .a
        .deliver(
            &mention("Ev1", "C1", "1.1", "<@UBOT> checkout is down"),
            None,
        )
        .await;
    replicas
        .b
        .deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> still down"), None)
        .await;
    assert_eq!(replicas.opsgenie.alerts().len(), 1);
    let posts = replicas.slack.posts();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1]
            .text
            .contains("You raised alerts in OpsGenie moments ago"),
        "{}",
        posts[1].text
    );
}

#[tokio::test]
async fn cache_clear_on_one_replica_makes_the_others_next_answer_fresh() {
    let replicas = spawn_replicas(|_| {}).await;
    replicas
        .a
        .deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> who?"), None)
        .await;
    replicas
        .b
        .deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> who?"), None)
        .await;
    replicas
        .b
        .deliver(&mention("Ev3", "C1", "1.3", "<@UBOT> who?"), None)
        .await;
    assert_eq!(
        replicas.on_call_lookups().await,
        2,
        "one per replica, then cached"
    );

    replicas
        .opsgenie
        .set_on_call(SCHEDULE, &["carol@corp.example"]);
    replicas
        .a
        .deliver(&mention("Ev4", "C1", "1.4", "<@UBOT> cache clear"), None)
        .await;
    // The clear travels through Redis pub/sub.
    tokio::time::sleep(Duration::from_millis(300)).await;
    replicas
        .b
        .deliver(&mention("Ev5", "C1", "1.5", "<@UBOT> who now?"), None)
        .await;
    assert_eq!(replicas.on_call_lookups().await, 3, "one fresh lookup on B");
    let last = replicas.slack.posts().pop().expect("an answer");
    assert!(last.text.contains("<@UCAROL>"), "{}", last.text);
}

#[tokio::test]
async fn one_replica_syncs_the_user_group_and_the_other_takes_over_when_it_stops() {
    let interval = Duration::from_millis(400);
    let mut replicas = spawn_replicas(|config| {
        config.usergroups = vec![UserGroupSpec {
            group: UserGroupRef::Handle("opsoncall".into()),
            schedules: vec![SCHEDULE.to_owned()],
            always: Vec::new(),
        }];
        config.usergroup_interval = interval;
    })
    .await;
    replicas
        .slack
        .add_user_group("S0ONCALL", "opsoncall", &["UCAROL"]);
    tokio::time::sleep(interval * 5).await;
    let syncs = "oncall_bot_usergroup_syncs_total";
    let (a, b) = (
        replicas.a.counter(syncs).await,
        replicas.b.counter(syncs).await,
    );
    // Two seconds is five intervals: one writer syncs about five times; two
    // would have synced about ten.
    assert!(
        (a == 0) != (b == 0),
        "exactly one replica syncs: A {a}, B {b}"
    );
    assert!(
        (3..=8).contains(&(a + b)),
        "one sync per interval: {}",
        a + b
    );
    let lookups = replicas.on_call_lookups().await;
    assert!((3..=8).contains(&lookups), "{lookups} lookups");
    assert_eq!(
        replicas
            .slack
            .user_group("opsoncall")
            .map(|group| group.users),
        Some(vec!["UALICE".to_owned(), "UBOB".to_owned()])
    );

    // The holder stops (a rolling update): the other takes over.
    let (holder, other) = if a > 0 {
        (&mut replicas.a, &replicas.b)
    } else {
        (&mut replicas.b, &replicas.a)
    };
    holder.shut_down().await;
    let before = other.counter(syncs).await;
    assert_eq!(before, 0);
    tokio::time::sleep(interval * 2).await;
    assert!(
        other.counter(syncs).await >= 1,
        "the other replica took the sync over"
    );
}

#[tokio::test]
async fn with_redis_gone_both_replicas_still_answer_and_share_again_once_it_is_back() {
    let (logs, _guard) = CapturedLogs::start();
    let mut replicas = spawn_replicas(|_| {}).await;
    replicas.redis.stop();

    // Each replica keeps to its own memory: a retry landing elsewhere is
    // answered again, which is better than not at all.
    for (n, replica) in [&replicas.a, &replicas.b, &replicas.a]
        .into_iter()
        .enumerate()
    {
        let event = mention(&format!("Ev{n}"), "C1", &format!("1.{n}"), "<@UBOT> who?");
        assert_eq!(replica.deliver(&event, None).await, 200);
    }
    let retry = mention("Ev0", "C1", "1.0", "<@UBOT> who?");
    replicas.b.deliver(&retry, Some("1")).await;
    assert_eq!(replicas.slack.posts().len(), 4);
    assert_eq!(replicas.a.get("/readyz").await.0, 200);
    assert!(
        replicas
            .a
            .counter("oncall_bot_store_errors_total{op=\"begin_work\"}")
            .await
            >= 2
    );
    let outage_lines = logs
        .text()
        .matches("shared state (Redis) unavailable")
        .count();
    assert_eq!(
        outage_lines,
        2,
        "once per replica per outage:\n{}",
        logs.text()
    );

    replicas.redis.restart().await;
    // The first call after the restart may still find the old connection
    // broken; a few messages later both replicas share again.
    for n in 10..14 {
        let replica = if n % 2 == 0 { &replicas.a } else { &replicas.b };
        let event = mention(&format!("Ev{n}"), "C1", &format!("1.{n}"), "<@UBOT> who?");
        replica.deliver(&event, None).await;
    }
    let before = replicas.slack.posts().len();
    let event = mention("Ev20", "C1", "1.20", "<@UBOT> after the outage");
    replicas.a.deliver(&event, None).await;
    replicas.b.deliver(&event, Some("1")).await;
    assert_eq!(replicas.slack.posts().len(), before + 1, "shared again");
    assert!(logs
        .text()
        .contains("shared state (Redis) is reachable again"));
}

/// The store itself, as two processes would use it.
async fn two_stores(redis: &RedisServer) -> (SharedState, SharedState) {
    let config = StateConfig {
        url: redis.url().into(),
        prefix: PREFIX.to_owned(),
    };
    let open =
        || SharedState::redis(&config, std::sync::Arc::new(Metrics::new())).expect("a Redis URL");
    (open(), open())
}

#[tokio::test]
async fn a_lease_is_held_by_one_process_renewed_by_it_and_free_when_released_or_expired() {
    let redis = RedisServer::start().await;
    let (a, b) = two_stores(&redis).await;
    let ttl = Duration::from_millis(300);
    assert_eq!(a.hold_lease("sync", ttl).await, Some(true));
    assert_eq!(b.hold_lease("sync", ttl).await, Some(false));
    assert_eq!(a.hold_lease("sync", ttl).await, Some(true), "renewed");
    // B cannot release what A holds.
    b.release_lease("sync").await;
    assert_eq!(b.hold_lease("sync", ttl).await, Some(false));
    a.release_lease("sync").await;
    assert_eq!(
        b.hold_lease("sync", ttl).await,
        Some(true),
        "free once released"
    );
    // B dies without releasing: the lease expires with it.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(
        a.hold_lease("sync", ttl).await,
        Some(true),
        "free once expired"
    );
    let ttl_left: i64 = redis
        .command(&["PTTL", &format!("{PREFIX}lease:sync")])
        .await
        .and_then(|answer| answer.trim_start_matches(':').parse().ok())
        .unwrap_or(-1);
    assert!(
        (1..=300).contains(&ttl_left),
        "every key expires: {ttl_left}"
    );
}

#[tokio::test]
async fn claims_and_allowances_are_shared_and_every_key_expires() {
    let redis = RedisServer::start().await;
    let (a, b) = two_stores(&redis).await;
    assert_eq!(
        a.claim("seen:C1:1.1", Duration::from_secs(60)).await,
        Some(true)
    );
    assert_eq!(
        b.claim("seen:C1:1.1", Duration::from_secs(60)).await,
        Some(false)
    );
    b.release("seen:C1:1.1").await;
    assert_eq!(
        b.claim("seen:C1:1.1", Duration::from_secs(60)).await,
        Some(true)
    );

    let window = Duration::from_secs(600);
    assert_eq!(
        a.take_allowance("alerts-by:U1", "alias-1", 2, window).await,
        Some(true)
    );
    assert_eq!(
        b.take_allowance("alerts-by:U1", "alias-2", 2, window).await,
        Some(true)
    );
    assert_eq!(
        a.take_allowance("alerts-by:U1", "alias-3", 2, window).await,
        Some(false)
    );
    b.give_back_allowance("alerts-by:U1", "alias-2").await;
    assert_eq!(
        a.take_allowance("alerts-by:U1", "alias-3", 2, window).await,
        Some(true)
    );

    a.announce_cache_clear().await;
    let keys = redis
        .command(&["KEYS", &format!("{PREFIX}*")])
        .await
        .unwrap_or_default();
    let keys: Vec<&str> = keys
        .lines()
        .filter(|line| line.starts_with(PREFIX))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for key in keys {
        let ttl = redis.command(&["PTTL", key]).await.unwrap_or_default();
        assert!(
            ttl.starts_with(':') && ttl != ":-1",
            "{key} has no expiry: {ttl}"
        );
    }
}

#[tokio::test]
async fn an_alerts_thread_follows_it_whichever_replica_the_webhook_or_the_click_reaches() {
    let replicas = spawn_replicas(|config| {
        config.alerts = Some(AlertPolicy::default());
        config.webhooks.opsgenie = Some("hook-token".into());
    })
    .await;
    let thread = "1795460000.000100";
    let alias = &alias_for("C1", thread, thread);
    replicas
        .a
        .deliver(
            &mention("Ev1", "C1", thread, "<@UBOT> checkout is down"),
            None,
        )
        .await;
    let answer = replicas.slack.posts().remove(0);

    // OpsGenie's webhook reaches B, which did not post the answer, twice.
    let acknowledged = oncall_bot_simulator::events::alert_webhook(
        "Acknowledge",
        alias,
        "carol@corp.example",
        1_795_460_100_000_000_000,
        "",
        serde_json::json!({}),
    );
    for replica in [&replicas.b, &replicas.a] {
        let status = reqwest::Client::new()
            .post(format!("{}/opsgenie/webhook", replica.address))
            .header("authorization", "Bearer hook-token")
            .body(acknowledged.clone())
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status.as_u16(), 200);
        replica.inbox.wait_idle().await;
    }
    let updated = replicas.slack.message(&answer.ts).expect("the answer");
    assert!(
        updated.text.contains("Acknowledged by <@UCAROL>"),
        "B updated A's answer in place: {}",
        updated.text
    );
    let posts = replicas.slack.posts();
    assert_eq!(posts.len(), 2, "one reply for the outside action, not two");
    assert_eq!(replicas.slack.updates().len(), 1);

    // The same click delivered to both replicas acts once.
    assert!(updated.blocks.is_some(), "the card");
    let click =
        oncall_bot_simulator::events::ButtonClick::on(&updated, "UBOB", "alert_close", alias);
    for replica in [&replicas.a, &replicas.b] {
        replica.click(&click).await;
    }
    let closes = replicas
        .opsgenie
        .alert_book()
        .actions()
        .into_iter()
        .filter(|record| record.action == "close")
        .count();
    assert_eq!(closes, 1);
}

#[tokio::test]
async fn a_slow_redis_is_cut_short_by_the_stores_bound_and_the_event_still_answered() {
    let replicas = spawn_replicas(|_| {}).await;
    // The server stops answering anyone for a second.
    let sleeper = {
        let url_port = replicas.redis.url();
        tokio::spawn(async move {
            let port: u16 = url_port
                .trim_start_matches("redis://127.0.0.1:")
                .trim_end_matches("/0")
                .parse()
                .expect("a port");
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connects");
            tokio::io::AsyncWriteExt::write_all(
                &mut stream,
                b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$1\r\n1\r\n",
            )
            .await
            .expect("sent");
            let mut answer = [0u8; 16];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut answer).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = replicas
        .a
        .deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> who?"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(replicas.slack.posts().len(), 1, "answered all the same");
    // Had the claim waited out the server's second, Redis would have answered
    // it: an error counted means the bound cut it short (no timing asserted).
    assert!(
        replicas
            .a
            .counter("oncall_bot_store_errors_total{op=\"begin_work\"}")
            .await
            >= 1
    );
    let _ = sleeper.await;
}

#[tokio::test]
async fn a_confirm_landing_on_the_other_replica_takes_the_call_once_and_both_answer_fresh() {
    use oncall_bot_simulator::events::{in_thread, ButtonClick};
    use oncall_bot_simulator::{SimRotation, SimShift};
    let replicas = spawn_replicas(|_| {}).await;
    let shift = |email: &str, from: i64, to: i64| SimShift {
        email: email.into(),
        from: crate::in_time::hours(from),
        to: crate::in_time::hours(to),
        is_override: false,
    };
    replicas.opsgenie.set_rotations(
        SCHEDULE,
        vec![SimRotation {
            name: "Weekly".into(),
            shifts: vec![
                shift("alice@corp.example", -1, 30),
                shift("bob@corp.example", 30, 60),
            ],
        }],
    );
    // Both replicas hold the answer with Alice in their caches.
    replicas
        .a
        .deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> who?"), None)
        .await;
    replicas
        .b
        .deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> who?"), None)
        .await;
    let thread = "1700000000.000100";
    let ask = oncall_bot_simulator::events::app_mention(
        "Ev3",
        "C1",
        "UBOB",
        thread,
        "<@UBOT> take call until tomorrow 09:00",
    );
    replicas.a.deliver(&ask, None).await;
    let question = replicas.slack.posts().pop().expect("A asks");
    let request = question.blocks.as_ref().expect("a button")[1]["elements"][0]["value"]
        .as_str()
        .expect("the request's id")
        .to_owned();
    // The Confirm lands on B, which did not ask: it finds the request in Redis.
    let click = ButtonClick::on(&question, "UBOB", "take_call_confirm", &request);
    for replica in [&replicas.b, &replicas.a] {
        replica.click(&click).await;
    }
    assert_eq!(replicas.opsgenie.overrides().len(), 1, "made once");
    assert!(replicas.slack.posts().iter().any(|post| post
        .text
        .starts_with("Done: <@UBOB> is on call for *SRE_schedule*")));
    // `@ops yes` on A for the same request finds it done.
    replicas
        .a
        .deliver(
            &in_thread(
                &oncall_bot_simulator::events::app_mention(
                    "Ev4",
                    "C1",
                    "UBOB",
                    "1700000000.000200",
                    "<@UBOT> yes",
                ),
                thread,
            ),
            None,
        )
        .await;
    assert_eq!(replicas.opsgenie.overrides().len(), 1);
    // Both replicas dropped their cached answer: Bob shows on both.
    wait_until_async("both replicas answer with the override", || async {
        let mut fresh = true;
        for (index, replica) in [&replicas.a, &replicas.b].into_iter().enumerate() {
            replica
                .deliver(
                    &mention(
                        &format!("Ev5{index}"),
                        "C1",
                        &format!("2.{index}"),
                        "<@UBOT> who now?",
                    ),
                    None,
                )
                .await;
            fresh &= replicas
                .slack
                .posts()
                .last()
                .is_some_and(|post| post.text.contains("<@UBOB> (override)"));
        }
        fresh
    })
    .await;
}

#[tokio::test]
async fn redis_links_black_holed_by_the_network_are_replaced_and_replicas_share_again() {
    let (logs, _guard) = CapturedLogs::start();
    let redis = RedisServer::start().await;
    let target: std::net::SocketAddr = format!("127.0.0.1:{}", redis.port())
        .parse()
        .expect("an address");
    let proxy = crate::stalling_proxy::StallingProxy::start(target).await;
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let mut config = test_config(&slack, &opsgenie);
    config.state = Some(StateConfig {
        url: format!("redis://{}/0", proxy.address).into(),
        prefix: PREFIX.to_owned(),
    });
    let (a, b) = (Replica::start(&config).await, Replica::start(&config).await);
    let replicas = Replicas {
        slack,
        opsgenie,
        redis,
        a,
        b,
    };
    replicas.wait_until_both_hear_cache_clears().await;
    // Every link the replicas have goes quiet, without a word.
    proxy.stall();
    let started = std::time::Instant::now();
    let mut round = 0;
    loop {
        round += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "still answering twice after {round} rounds"
        );
        let ts = format!("1700000100.{round:06}");
        let event = mention(&format!("EvBH{round}"), "C1", &ts, "<@UBOT> help");
        replicas.a.deliver(&event, None).await;
        replicas.b.deliver(&event, Some("1")).await;
        let answers = replicas
            .slack
            .posts()
            .iter()
            .filter(|post| post.thread_ts.as_deref() == Some(ts.as_str()))
            .count();
        if answers == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let healed = started.elapsed();
    // A cache clear on A reaches B again.
    replicas.wait_until_both_hear_cache_clears().await;
    let lookups = replicas.on_call_lookups().await;
    replicas
        .b
        .deliver(&mention("EvB1", "C1", "1.1", "<@UBOT> who?"), None)
        .await;
    replicas
        .opsgenie
        .set_on_call(SCHEDULE, &["carol@corp.example"]);
    replicas
        .a
        .deliver(&mention("EvA1", "C1", "1.2", "<@UBOT> cache clear"), None)
        .await;
    wait_until_async("B's next answer is fresh", || async {
        replicas
            .b
            .deliver(
                &mention(
                    &format!("EvB{}", replicas.slack.posts().len()),
                    "C1",
                    &format!("1.{}", replicas.slack.posts().len() + 10),
                    "<@UBOT> who now?",
                ),
                None,
            )
            .await;
        replicas
            .slack
            .posts()
            .last()
            .is_some_and(|post| post.text.contains("<@UCAROL>"))
    })
    .await;
    assert!(replicas.on_call_lookups().await > lookups);
    let logged = logs.text();
    assert!(
        logged.contains("reachable again")
            || logged.contains("hearing other replicas' cache clears again"),
        "{logged}"
    );
    println!("black-holed Redis links healed within {healed:?} ({round} rounds)");
}

#[tokio::test]
async fn a_sync_stops_when_its_lease_is_lost_mid_way() {
    let (logs, _guard) = CapturedLogs::start();
    let redis = RedisServer::start().await;
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    slack.add_user_group("S0ONCALL", "opsoncall", &["UCAROL"]);
    // Reading the group's members takes a while: the sync is under way.
    wiremock::Mock::given(wiremock::matchers::path("/usergroups.users.list"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(1500))
                .set_body_json(serde_json::json!({"ok": true, "users": ["UCAROL"]})),
        )
        .mount(slack.server())
        .await;
    let mut config = test_config(&slack, &opsgenie);
    config.state = Some(StateConfig {
        url: redis.url().into(),
        prefix: PREFIX.to_owned(),
    });
    config.usergroups = vec![UserGroupSpec {
        group: UserGroupRef::Handle("opsoncall".into()),
        schedules: vec![SCHEDULE.to_owned()],
        always: Vec::new(),
    }];
    config.usergroup_interval = Duration::from_secs(2);
    let replica = Replica::start(&config).await;
    wait_until_async("the sync reads the group's members", || async {
        requests_to(slack.server(), "/usergroups.users.list").await == 1
    })
    .await;
    // Another replica holds the lease now (it expired here, say, during a pause).
    let keys = redis
        .command(&["KEYS", &format!("{PREFIX}lease:*")])
        .await
        .expect("answers");
    let key = keys.lines().last().expect("the lease's key").to_owned();
    assert_eq!(
        redis
            .command(&["SET", &key, "another-replica", "PX", "60000"])
            .await
            .as_deref(),
        Some("+OK")
    );
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        requests_to(slack.server(), "/usergroups.users.update").await,
        0,
        "the sync stopped before writing the group"
    );
    assert!(
        logs.text()
            .contains("another replica holds the user-group lease now; this sync stopped"),
        "{}",
        logs.text()
    );
    drop(replica);
}

/// Four teams announced and three channels' topics, all on one schedule, on
/// two replicas: how many timeline reads the idle rounds cost.
async fn idle_timeline_reads(tick: Duration, rounds: u32) -> (usize, usize) {
    let replicas = spawn_replicas(|config| {
        let teams = ["payments", "search", "database", "checkout"];
        config.routing = oncall_bot::routing::Routing::new(
            teams
                .iter()
                .map(|name| oncall_bot::routing::Team {
                    name: (*name).to_owned(),
                    aliases: Vec::new(),
                    schedule: SCHEDULE.to_owned(),
                })
                .collect(),
            &[],
        )
        .expect("routing");
        config.announcements = teams
            .iter()
            .map(|name| oncall_bot::handovers::AnnounceSpec {
                label: (*name).to_owned(),
                schedule: SCHEDULE.to_owned(),
                channel: Some(format!("C0{}", name.to_uppercase())),
                remind_before: None,
            })
            .collect();
        config.topics = ["C0TOPIC1", "C0TOPIC2", "C0TOPIC3"]
            .iter()
            .map(|channel| oncall_bot::handovers::TopicSpec {
                channel: (*channel).to_owned(),
                schedule: SCHEDULE.to_owned(),
            })
            .collect();
        config.announce_interval = tick;
    })
    .await;
    replicas.opsgenie.set_rotations(
        SCHEDULE,
        vec![oncall_bot_simulator::SimRotation {
            name: "Weekly".into(),
            shifts: vec![oncall_bot_simulator::SimShift {
                email: "alice@corp.example".into(),
                from: crate::in_time::hours(-1),
                to: crate::in_time::hours(30),
                is_override: false,
            }],
        }],
    );
    tokio::time::sleep(tick * rounds).await;
    let timeline = format!("/v2/schedules/{SCHEDULE}/timeline");
    let reads = requests_to(replicas.opsgenie.server(), &timeline).await;
    (reads, replicas.on_call_lookups().await)
}

#[tokio::test]
async fn idle_rounds_read_each_schedule_once_whatever_the_teams_channels_and_replicas() {
    let rounds = 10;
    let (timeline_reads, on_call_reads) =
        idle_timeline_reads(Duration::from_millis(150), rounds).await;
    println!(
        "idle, two replicas, 4 announced teams and 3 topic channels on one schedule, \
         {rounds} rounds: {timeline_reads} timeline reads, {on_call_reads} on-call reads"
    );
    // One read per round (by the lease holder), give or take the round under
    // way; before, each replica read once per team every round (80 here).
    assert!(
        timeline_reads <= rounds as usize + 1,
        "{timeline_reads} timeline reads in {rounds} rounds"
    );
    assert_eq!(on_call_reads, 0, "topics are kept from the same timeline");
}

#[tokio::test]
async fn cover_asked_from_the_home_tab_on_one_replica_is_covered_once_whichever_gets_the_clicks() {
    use oncall_bot::handovers::AnnounceSpec;
    use oncall_bot_simulator::events::{ButtonClick, EventsEndpoint, FilledForm};
    use oncall_bot_simulator::{SimRotation, SimShift};
    let replicas = spawn_replicas(|config| {
        config.announcements = vec![AnnounceSpec {
            label: SCHEDULE.to_owned(),
            schedule: SCHEDULE.to_owned(),
            channel: Some("C0ONCALL".to_owned()),
            remind_before: None,
        }];
        config.announce_interval = Duration::from_secs(3600);
    })
    .await;
    let tomorrow = crate::take_call::tomorrow;
    let shift = |email: &str, from: std::time::SystemTime, to: std::time::SystemTime| SimShift {
        email: email.into(),
        from,
        to,
        is_override: false,
    };
    replicas.opsgenie.set_rotations(
        SCHEDULE,
        vec![SimRotation {
            name: "Weekly".into(),
            shifts: vec![
                shift(
                    "alice@corp.example",
                    crate::in_time::hours(-1),
                    tomorrow(11),
                ),
                shift("bob@corp.example", tomorrow(11), tomorrow(35)),
            ],
        }],
    );
    // Alice asks from the Home tab's form, on A.
    let (status, body) = EventsEndpoint::new(&replicas.a.address, SIGNING_SECRET)
        .interact(
            &FilledForm {
                user: "UALICE",
                callback_id: "form_cover",
                team: Some("default"),
                when: Some("tomorrow 09:00-10:00"),
                ..FilledForm::default()
            }
            .payload(),
        )
        .await
        .expect("A answers");
    assert_eq!((status, body.as_str()), (200, ""));
    replicas.a.inbox.wait_idle().await;
    let request = replicas
        .slack
        .posts()
        .into_iter()
        .find(|post| post.channel == "C0ONCALL")
        .expect("the request for cover");
    let id = request.blocks.as_ref().expect("buttons")[1]["elements"][0]["value"]
        .as_str()
        .expect("the request's id")
        .to_owned();
    // Bob clicks I'll cover on both replicas at once.
    let click = ButtonClick::on(&request, "UBOB", "cover_take", &id);
    let (to_a, to_b) = (
        EventsEndpoint::new(&replicas.a.address, SIGNING_SECRET),
        EventsEndpoint::new(&replicas.b.address, SIGNING_SECRET),
    );
    let (on_a, on_b) = tokio::join!(to_a.click(&click), to_b.click(&click));
    assert_eq!((on_a.expect("A"), on_b.expect("B")), (200, 200));
    replicas.a.inbox.wait_idle().await;
    replicas.b.inbox.wait_idle().await;
    assert_eq!(replicas.opsgenie.overrides().len(), 1, "covered once");
    let covered = replicas.slack.message(&request.ts).expect("the request");
    assert!(
        covered.text.ends_with("was covered by <@UBOB>."),
        "{}",
        covered.text
    );
    assert!(
        replicas
            .slack
            .ephemerals()
            .iter()
            .any(|told| told.user == "UBOB" && told.text.contains("already")),
        "the second click is told privately: {:?}",
        replicas.slack.ephemerals()
    );
}

#[tokio::test]
async fn a_delivery_dropped_while_waiting_on_the_other_replica_leaves_no_claim_behind() {
    let replicas = spawn_replicas(|_| {}).await;
    // A's answer takes a while to post: its claim is in progress meanwhile.
    replicas.slack.set_post_delay(Duration::from_millis(1_200));
    let event = mention("EvHeld", "C1", "1700000000.000300", "<@UBOT> prod is down");
    let (timestamp, signature) = sign(&event, unix_now());
    let to = |replica: &Replica, timeout: Duration| {
        reqwest::Client::new()
            .post(format!("{}/slack/events", replica.address))
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp.clone())
            .header("x-slack-signature", signature.clone())
            .body(event.clone())
            .send()
    };
    let on_a = tokio::spawn(to(&replicas.a, Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // B waits on A's claim; the sender gives up (a proxy's timeout) and
    // B's handler is dropped mid-wait.
    assert!(to(&replicas.b, Duration::from_millis(300)).await.is_err());
    let acked = on_a.await.expect("joined").expect("A answers");
    assert_eq!(acked.status(), 200);
    // Slack's retry on B finds it answered: acked, not left waiting on a
    // claim nobody holds.
    let retry = to(&replicas.b, Duration::from_secs(5))
        .await
        .expect("B answers");
    assert_eq!(retry.status(), 200);
    assert_eq!(replicas.slack.posts().len(), 1);
}

#[tokio::test]
async fn a_claim_left_by_an_earlier_version_counts_as_done() {
    let redis = RedisServer::start().await;
    let (one, _) = two_stores(&redis).await;
    // Earlier versions claimed alerts with `SET alert:<alias> 1 NX`.
    one.put(
        "alert:slack-C1-1.1-0123456789abcdef",
        "1",
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        one.begin_work(
            "alert:slack-C1-1.1-0123456789abcdef",
            oncall_bot::store::Phase::Posting,
            Duration::from_secs(2),
            Duration::from_secs(60)
        )
        .await,
        Some(oncall_bot::store::Work::Done)
    );
}

/// Two replicas answering from the simulated PagerDuty, alerts and its
/// webhook on, sharing one Redis.
async fn spawn_replicas_on_pagerduty(
    adjust: impl Fn(&mut ServeConfig),
) -> (Replicas, oncall_bot_simulator::PagerDutyAccount) {
    let pagerduty = start_pagerduty().await;
    let config = pagerduty_config(&pagerduty, SCHEDULE);
    let replicas = spawn_replicas(|serve| {
        serve.source = oncall_bot::config::SourceConfig::PagerDuty(config.clone());
        serve.alerts = Some(AlertPolicy::default());
        serve.webhooks.pagerduty = Some(PD_WEBHOOK_SECRET.into());
        adjust(serve);
    })
    .await;
    (replicas, pagerduty)
}

#[tokio::test]
async fn on_pagerduty_two_replicas_page_once_follow_the_thread_and_take_the_call_once() {
    use oncall_bot_simulator::events::{app_mention, ButtonClick};
    use oncall_bot_simulator::pagerduty::{webhook_body, webhook_signature};
    let (replicas, pagerduty) = spawn_replicas_on_pagerduty(|config| {
        config.announce_interval = Duration::from_secs(3600);
    })
    .await;
    let thread = "1795460000.000100";
    let alias = alias_for("C1", thread, thread);
    // The same message under two event ids, one on each replica.
    for (replica, event) in [(&replicas.a, "Ev1"), (&replicas.b, "Ev2")] {
        replica
            .deliver(
                &mention(event, "C1", thread, "<@UBOT> checkout is down"),
                None,
            )
            .await;
    }
    assert_eq!(replicas.slack.posts().len(), 1, "one answer");
    assert_eq!(pagerduty.events().len(), 1, "one trigger");
    assert_eq!(pagerduty.alert_book().pages(&alias), 1, "paged once");
    let answer = replicas.slack.posts().remove(0);

    // PagerDuty delivers the acknowledgement to B, then the same delivery to A.
    pagerduty.set_incident_status(&alias, "acknowledged");
    let body = webhook_body(
        &pagerduty,
        "incident.acknowledged",
        &alias,
        Some("PUSRCAR"),
        &humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        None,
    );
    for replica in [&replicas.b, &replicas.a] {
        let status = reqwest::Client::new()
            .post(format!("{}/pagerduty/webhook", replica.address))
            .header("content-type", "application/json")
            .header("x-webhook-id", "delivery-1")
            .header(
                "x-pagerduty-signature",
                webhook_signature(PD_WEBHOOK_SECRET, &body),
            )
            .body(body.clone())
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status.as_u16(), 202);
        replica.inbox.wait_idle().await;
    }
    let updated = replicas.slack.message(&answer.ts).expect("the answer");
    assert!(
        updated.text.contains("Acknowledged by <@UCAROL>"),
        "B updated A's answer in place: {}",
        updated.text
    );
    assert_eq!(replicas.slack.posts().len(), 2, "one reply, not two");

    // The same Close click on both replicas resolves it once.
    let click = ButtonClick::on(&updated, "UBOB", "alert_close", &alias);
    for replica in [&replicas.a, &replicas.b] {
        replica.click(&click).await;
    }
    let closes = pagerduty
        .alert_book()
        .actions()
        .into_iter()
        .filter(|record| record.action == "close")
        .count();
    assert_eq!(closes, 1);

    // Taking the call asked on A and confirmed on B and on A: one override.
    let take = "1795460100.000100";
    replicas
        .a
        .deliver(
            &app_mention(
                "Ev3",
                "C1",
                "UBOB",
                take,
                "<@UBOT> take call tomorrow 09:00-10:00",
            ),
            None,
        )
        .await;
    let question = replicas.slack.posts().pop().expect("A asks");
    let request = question.blocks.as_ref().expect("a button")[1]["elements"][0]["value"]
        .as_str()
        .expect("the request's id")
        .to_owned();
    let confirm = ButtonClick::on(&question, "UBOB", "take_call_confirm", &request);
    for replica in [&replicas.b, &replicas.a] {
        replica.click(&confirm).await;
    }
    assert_eq!(pagerduty.overrides().len(), 1, "made once");
    assert_eq!(pagerduty.live_overrides(PD_SCHEDULE_ID).len(), 1);
}
