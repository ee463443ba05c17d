//! Answering while the on-call system (OpsGenie, JSM or PagerDuty) or Slack
//! misbehave. Every test about the on-call system runs once per provider.

use std::time::Duration;

use oncall_bot::outbound::BackoffPolicy;
use oncall_bot::outbound::Timeouts;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// An app whose cache expires at once and whose calls time out quickly.
async fn spawn_impatient_app(upstream: Upstream, backoff: BackoffPolicy) -> TestApp {
    spawn_app_on(upstream, |config| {
        config.cache_ttl = Duration::from_millis(1);
        config.source_backoff = backoff;
        config.timeouts = Timeouts {
            connect: Duration::from_millis(300),
            total: Duration::from_millis(300),
        };
    })
    .await
}

const QUICK_BACKOFF: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(1),
    max: Duration::from_millis(1),
};

async fn ask(app: &TestApp, event: &str, ts: &str) -> String {
    app.answer_to(&mention(event, "C1", ts, "<@UBOT> is prod down?"))
        .await
}

#[tokio::test]
async fn a_hung_or_failing_source_gets_the_last_good_answer_with_its_age() {
    for upstream in ALL_UPSTREAMS {
        for (case, failure) in [
            (
                "timeout",
                on_call_answer(&[]).set_delay(Duration::from_secs(3)),
            ),
            ("503", ResponseTemplate::new(503)),
            ("429", ResponseTemplate::new(429)),
        ] {
            let case = format!("{upstream:?} {case}");
            let app = spawn_impatient_app(upstream, QUICK_BACKOFF).await;
            let fresh = ask(&app, "Ev1", "1.1").await;
            assert_eq!(
                fresh,
                format!(
                    "On call for *SRE_schedule* right now: {}",
                    upstream.on_call_now()
                ),
                "{case}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            app.on_call_lookup()
                .respond_with(failure)
                .mount(app.upstream_server())
                .await;
            let stale = ask(&app, "Ev2", "1.2").await;
            assert_eq!(
                stale,
                format!(
                    "{} is not answering; this is who was on call for *SRE_schedule* less than a minute ago: {}",
                    upstream.name(),
                    upstream.on_call_now()
                ),
                "{case}"
            );
        }
    }
}

#[tokio::test]
async fn with_nothing_cached_a_failing_source_gets_the_neutral_sentence() {
    for upstream in ALL_UPSTREAMS {
        for (case, failure) in [
            (
                "timeout",
                on_call_answer(&[]).set_delay(Duration::from_secs(3)),
            ),
            ("503", ResponseTemplate::new(503)),
        ] {
            let app = spawn_impatient_app(upstream, QUICK_BACKOFF).await;
            app.on_call_lookup()
                .respond_with(failure)
                .mount(app.upstream_server())
                .await;
            let text = ask(&app, "Ev1", "1.1").await;
            assert!(
                text.starts_with("Sorry, I could not find out who is on call right now."),
                "{upstream:?} {case}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_burst_during_an_outage_makes_one_upstream_try_per_backoff_window() {
    for upstream in ALL_UPSTREAMS {
        burst_during_an_outage(upstream).await;
    }
}

async fn burst_during_an_outage(upstream: Upstream) {
    let app = spawn_impatient_app(
        upstream,
        BackoffPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
        },
    )
    .await;
    ask(&app, "EvWarm", "0.1").await;
    let warm_lookups = app.upstream_on_call_lookups().await;
    assert_eq!(warm_lookups, 1, "{upstream:?}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.on_call_lookup()
        .respond_with(ResponseTemplate::new(503))
        .mount(app.upstream_server())
        .await;

    let burst = |round: u32| {
        let app = &app;
        futures_util::future::join_all((0..50).map(move |n| async move {
            let body = mention(
                &format!("Ev{round}-{n}"),
                "C1",
                &format!("{round}.{n}"),
                "<@UBOT> down?",
            );
            app.deliver(&body).await
        }))
    };
    burst(1).await;
    app.settle().await;
    // One try: the client's own attempts (3) for the whole burst.
    let first_window = app.upstream_on_call_lookups().await - warm_lookups;
    assert_eq!(first_window, 3, "{upstream:?}");
    burst(2).await;
    app.settle().await;
    assert_eq!(
        app.upstream_on_call_lookups().await - warm_lookups,
        3,
        "{upstream:?}: still inside the window"
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    burst(3).await;
    app.settle().await;
    assert_eq!(
        app.upstream_on_call_lookups().await - warm_lookups,
        6,
        "{upstream:?}: one more try after the window"
    );

    let replies = app.replies();
    assert_eq!(replies.len(), 151, "{upstream:?}");
    let stale = format!("{} is not answering", upstream.name());
    assert!(
        replies[1..]
            .iter()
            .all(|post| post.text.starts_with(&stale)),
        "{upstream:?}"
    );
}

#[tokio::test]
async fn a_rate_limited_reply_is_retried_and_posted_exactly_once() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(serde_json::json!({"ok": false, "error": "ratelimited"})),
        )
        .up_to_n_times(1)
        .mount(app.slack.server())
        .await;
    let started = std::time::Instant::now();
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> help me"))
        .await;
    app.settle().await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not waited out"
    );
    assert_eq!(
        requests_to(app.slack.server(), "/chat.postMessage").await,
        2
    );
    assert_eq!(app.replies().len(), 1);
}

#[tokio::test]
async fn readiness_stays_up_through_an_outage_which_shows_in_the_text_and_gauge() {
    for upstream in ALL_UPSTREAMS {
        readyz_follows(upstream).await;
    }
}

async fn readyz_follows(upstream: Upstream) {
    let app = spawn_impatient_app(upstream, QUICK_BACKOFF).await;
    let source_up = |text: &str, value: u8| text.contains(&format!("oncall_bot_source_up {value}"));
    let name = upstream.name();
    assert_eq!(
        app.readiness().await,
        (200, format!("ready: no {name} call yet\n")),
        "{upstream:?}"
    );
    assert!(source_up(&app.metrics().await, 1));
    ask(&app, "Ev1", "1.1").await;
    assert_eq!(app.readyz().await.0, 200, "{upstream:?}");
    // An outage for exactly the three attempts of the next lookup.
    app.on_call_lookup()
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(3)
        .mount(app.upstream_server())
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    ask(&app, "Ev2", "1.2").await;
    // The process can still take events: the outage shows in the text and the
    // gauge, never in the status.
    assert_eq!(
        app.readiness().await,
        (
            200,
            format!("ready: the last {name} call failed; stale answers cover it\n")
        ),
        "{upstream:?}"
    );
    assert!(source_up(&app.metrics().await, 0), "{upstream:?}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let text = ask(&app, "Ev3", "1.3").await;
    assert_eq!(
        app.readiness().await,
        (200, format!("ready: the last {name} call succeeded\n")),
        "{upstream:?}: {text}"
    );
    assert!(source_up(&app.metrics().await, 1), "{upstream:?}");
}

#[tokio::test]
async fn metrics_count_events_replies_calls_and_latencies_as_they_flow() {
    for upstream in ALL_UPSTREAMS {
        metrics_flow(upstream).await;
    }
}

async fn metrics_flow(upstream: Upstream) {
    let app = spawn_app_on(upstream, |_| {}).await;
    let body = mention("Ev1", "C1", "1.1", "<@UBOT> prod down");
    app.deliver(&body).await;
    // Answered before the next mention, so that one is a cache hit.
    app.settle().await;
    app.deliver_with(&body, &[("x-slack-retry-num", "1")]).await;
    app.deliver(&direct_message("Ev2", BOT_USER, "1.2", "my own message"))
        .await;
    app.deliver(&mention("Ev3", "C1", "1.3", "<@UBOT> again"))
        .await;
    app.http
        .post(format!("{}/slack/events", app.address))
        .body("{}")
        .send()
        .await
        .expect("answers");
    app.settle().await;

    let text = app.metrics().await;
    for line in [
        r#"oncall_bot_slack_events_total{type="app_mention",outcome="answered"} 2"#,
        r#"oncall_bot_slack_events_total{type="app_mention",outcome="duplicate"} 1"#,
        r#"oncall_bot_slack_events_total{type="message",outcome="ignored"} 1"#,
        r#"oncall_bot_slack_events_total{type="unknown",outcome="rejected_signature"} 1"#,
        r#"oncall_bot_replies_total{outcome="posted"} 2"#,
        format!(
            r#"oncall_bot_source_calls_total{{source="{}",call="{}",outcome="ok"}} 1"#,
            upstream.label(),
            upstream.on_call_call()
        )
        .as_str(),
        r#"oncall_bot_oncall_cache_lookups_total{result="miss"} 1"#,
        r#"oncall_bot_oncall_cache_lookups_total{result="hit"} 1"#,
        "oncall_bot_ack_latency_seconds_count 5",
        "oncall_bot_reply_latency_seconds_count 2",
    ] {
        assert!(text.contains(line), "{upstream:?}: missing {line}:\n{text}");
    }
}

#[tokio::test]
async fn over_max_in_flight_an_event_gets_503_unrecorded_and_its_retry_is_answered() {
    // Acked at once, so that the first two are in flight as the third comes.
    let app = spawn_app_with(|config| {
        config.max_in_flight = 2;
        config.ack_budget = Duration::ZERO;
    })
    .await;
    hold_the_next_lookup(&app).await;
    let bodies = distinct_mentions(3);
    let mut statuses = Vec::new();
    for body in &bodies {
        statuses.push(app.deliver(body).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 503]);
    app.settle().await;
    let retry = app
        .deliver_with(&bodies[2], &[("x-slack-retry-num", "1")])
        .await;
    assert_eq!(
        retry.status(),
        200,
        "the shed event was not recorded as seen"
    );
    app.settle().await;
    assert_eq!(app.replies().len(), 3);
    let text = app.metrics().await;
    assert!(
        text.contains(r#"oncall_bot_slack_events_total{type="app_mention",outcome="shed"} 1"#),
        "{text}"
    );
}

/// Slack that takes `delay` to answer each `chat.postMessage`, noting when each
/// one arrived.
struct SlowSlack {
    delay: Duration,
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl wiremock::Respond for SlowSlack {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.push(std::time::Instant::now());
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"ok": true, "ts": "1.0"}))
            .set_delay(self.delay)
    }
}

#[tokio::test]
async fn a_burst_of_replies_to_a_slow_slack_waits_its_turn_instead_of_opening_a_connection_each() {
    let app = spawn_app().await;
    let delay = Duration::from_millis(400);
    let arrivals = std::sync::Arc::default();
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(SlowSlack {
            delay,
            arrivals: std::sync::Arc::clone(&arrivals),
        })
        .mount(app.slack.server())
        .await;
    let burst = 150;
    let app = &app;
    let deliveries = distinct_mentions(burst)
        .into_iter()
        .map(|body| async move { app.deliver(&body).await.status().as_u16() });
    let statuses = futures_util::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    app.settle().await;

    let mut arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    arrivals.sort();
    assert_eq!(arrivals.len(), burst, "every reply is posted, none twice");
    // A call keeps its turn until Slack answers, `delay` later: within any
    // stretch shorter than that, no more calls arrive than there are turns.
    let most_at_once = (0..arrivals.len())
        .map(|first| {
            arrivals[first..]
                .iter()
                .take_while(|at| at.duration_since(arrivals[first]) < delay / 2)
                .count()
        })
        .max()
        .unwrap_or_default();
    assert!(
        most_at_once <= oncall_bot::outbound::MAX_CONCURRENT_CALLS,
        "{most_at_once} calls to Slack at once"
    );
    // ...and the turns are used: replies are not sent one by one either.
    assert!(
        most_at_once >= oncall_bot::outbound::MAX_CONCURRENT_CALLS / 2,
        "only {most_at_once} calls to Slack at once"
    );
}
