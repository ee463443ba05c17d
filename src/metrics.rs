//! What the bot does, counted for Prometheus (`GET /metrics`, OpenMetrics text).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `app_mention`, `message`, `url_verification`, `other`, `unknown`.
    pub r#type: &'static str,
    /// `answered`, `ignored`, `duplicate`, `shed`, `rejected_signature`,
    /// `malformed`.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// `opsgenie`, `jsm`.
    pub source: &'static str,
    /// `on_calls`, `timeline`, `alerts`, `schedules`, `users`, `tenant_info`.
    pub call: &'static str,
    /// `ok`, `unauthorized`, `not_found`, `rate_limited`, `client_error`,
    /// `server_error`, `timeout`, `transport`.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// `claim`, `release`, `allowance`, `cache_clear`, `lease`, `put`, `get`,
    /// `advance`.
    pub op: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoopLabels {
    /// `notices`, `usergroup_sync`, `socket_mode`, `store_subscription`.
    pub r#loop: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit`, `miss`.
    pub result: &'static str,
}

/// Every metric the bot exports. Shared behind an `Arc`; counting is lock-free.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    replies: Family<OutcomeLabels, Counter>,
    source_calls: Family<UpstreamLabels, Counter>,
    oncall_cache: Family<CacheLabels, Counter>,
    stale_answers: Counter,
    source_up: Gauge,
    alerts: Family<OutcomeLabels, Counter>,
    alert_webhooks: Family<OutcomeLabels, Counter>,
    overrides: Family<OutcomeLabels, Counter>,
    task_panics: Family<KindLabels, Counter>,
    loop_restarts: Family<LoopLabels, Counter>,
    loop_last_success: Family<LoopLabels, Gauge>,
    usergroup_syncs: Family<OutcomeLabels, Counter>,
    store_errors: Family<OperationLabels, Counter>,
    ack_latency: Histogram,
    reply_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oncall_bot");
        let events = Family::<EventLabels, Counter>::default();
        let replies = Family::<OutcomeLabels, Counter>::default();
        let source_calls = Family::<UpstreamLabels, Counter>::default();
        let oncall_cache = Family::<CacheLabels, Counter>::default();
        let stale_answers = Counter::default();
        let source_up = Gauge::default();
        // Up until a call fails: no call yet is no sign of trouble.
        source_up.set(1);
        let alerts = Family::<OutcomeLabels, Counter>::default();
        let alert_webhooks = Family::<OutcomeLabels, Counter>::default();
        let overrides = Family::<OutcomeLabels, Counter>::default();
        let task_panics = Family::<KindLabels, Counter>::default();
        let loop_restarts = Family::<LoopLabels, Counter>::default();
        let loop_last_success = Family::<LoopLabels, Gauge>::default();
        let usergroup_syncs = Family::<OutcomeLabels, Counter>::default();
        let store_errors = Family::<OperationLabels, Counter>::default();
        // 100 µs … ~13 s
        let ack_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        // 1 ms … ~65 s
        let reply_latency = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register(
            "slack_events",
            "Slack events received, by type and outcome",
            events.clone(),
        );
        registry.register(
            "replies",
            "Replies posted to Slack, by outcome",
            replies.clone(),
        );
        registry.register(
            "source_calls",
            "HTTP calls to the on-call source (OpsGenie or JSM), by call and outcome",
            source_calls.clone(),
        );
        registry.register(
            "oncall_cache_lookups",
            "On-call cache lookups, by result",
            oncall_cache.clone(),
        );
        registry.register(
            "stale_answers",
            "Answers served from the last good on-call answer because the source failed",
            stale_answers.clone(),
        );
        registry.register(
            "source_up",
            "1 unless the last call to the on-call provider (OpsGenie or JSM) failed",
            source_up.clone(),
        );
        registry.register("alerts", "Alerts raised, by outcome", alerts.clone());
        registry.register(
            "alert_webhooks",
            "Deliveries of the provider's alert webhook, by what became of them",
            alert_webhooks.clone(),
        );
        registry.register(
            "loop_restarts",
            "Background loops started again after they panicked or stopped, by loop",
            loop_restarts.clone(),
        );
        registry.register(
            "loop_last_success_timestamp_seconds",
            "When a background loop's round last went well (Unix seconds), by loop",
            loop_last_success.clone(),
        );
        registry.register(
            "task_panics",
            "Work that panicked (its place under MAX_IN_FLIGHT given back), by kind",
            task_panics.clone(),
        );
        registry.register(
            "overrides",
            "Requests to take the call, by outcome",
            overrides.clone(),
        );
        registry.register(
            "usergroup_syncs",
            "User group syncs, by outcome",
            usergroup_syncs.clone(),
        );
        registry.register(
            "store_errors",
            "Operations on the shared state (Redis) that failed or timed out, by operation",
            store_errors.clone(),
        );
        registry.register(
            "ack_latency_seconds",
            "Time from receiving a Slack event to acking it",
            ack_latency.clone(),
        );
        registry.register(
            "reply_latency_seconds",
            "Time from receiving a request to its reply being posted",
            reply_latency.clone(),
        );
        Self {
            registry,
            events,
            replies,
            source_calls,
            oncall_cache,
            stale_answers,
            source_up,
            alerts,
            alert_webhooks,
            overrides,
            task_panics,
            loop_restarts,
            loop_last_success,
            usergroup_syncs,
            store_errors,
            ack_latency,
            reply_latency,
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "could not encode metrics");
        }
        text
    }

    /// An operation on the shared state that failed or timed out.
    pub fn store_error(&self, op: &'static str) {
        self.store_errors
            .get_or_create(&OperationLabels { op })
            .inc();
    }

    pub fn event(&self, event_type: &'static str, outcome: &'static str) {
        self.events
            .get_or_create(&EventLabels {
                r#type: event_type,
                outcome,
            })
            .inc();
    }

    pub fn reply(&self, outcome: &'static str) {
        self.replies.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn source_call(&self, source: &'static str, call: &'static str, outcome: &'static str) {
        self.source_calls
            .get_or_create(&UpstreamLabels {
                source,
                call,
                outcome,
            })
            .inc();
    }

    pub fn cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.oncall_cache
            .get_or_create(&CacheLabels { result })
            .inc();
    }

    pub fn stale_answer(&self) {
        self.stale_answers.inc();
    }

    /// Whether the last call to the on-call provider succeeded.
    pub fn source_up(&self, up: bool) {
        self.source_up.set(i64::from(up));
    }

    pub fn alert(&self, outcome: &'static str) {
        self.alerts.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// A webhook delivery: `shown`, `unchanged`, `repeated`, `not_ours`,
    /// `other_action`.
    pub fn alert_webhook(&self, outcome: &'static str) {
        self.alert_webhooks
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A request to take the call: `asked`, `refused`, `made`, `failed`,
    /// `undone`.
    pub fn take_call(&self, outcome: &'static str) {
        self.overrides
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Work that panicked: `answer`, `click`, `take_call_click`,
    /// `slash_command`, `alert_webhook`.
    pub fn task_panic(&self, kind: &'static str) {
        self.task_panics.get_or_create(&KindLabels { kind }).inc();
    }

    /// A background loop was started again.
    pub fn loop_restart(&self, name: &'static str) {
        self.loop_restarts
            .get_or_create(&LoopLabels { r#loop: name })
            .inc();
    }

    /// A background loop's round went well at `at`.
    pub fn loop_success(&self, name: &'static str, at: std::time::SystemTime) {
        let seconds = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
        self.loop_last_success
            .get_or_create(&LoopLabels { r#loop: name })
            .set(seconds);
    }

    pub fn usergroup_sync(&self, outcome: &'static str) {
        self.usergroup_syncs
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn ack_latency(&self, elapsed: Duration) {
        self.ack_latency.observe(elapsed.as_secs_f64());
    }

    pub fn reply_latency(&self, elapsed: Duration) {
        self.reply_latency.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition_with_their_labels() {
        let metrics = Metrics::new();
        metrics.event("app_mention", "answered");
        metrics.event("app_mention", "answered");
        metrics.cache(false);
        metrics.ack_latency(Duration::from_millis(2));
        let text = metrics.render();
        assert!(
            text.contains(
                r#"oncall_bot_slack_events_total{type="app_mention",outcome="answered"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"oncall_bot_oncall_cache_lookups_total{result="miss"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("oncall_bot_ack_latency_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
