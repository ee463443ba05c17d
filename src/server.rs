//! The HTTP edge: the Slack Events API endpoint, health and readiness probes, and
//! metrics; and the event dispatch that Socket Mode shares.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use moka::future::Cache;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bot::{Bot, Request};
use crate::metrics::Metrics;
use crate::slack::events::{Envelope, Inbound};
use crate::slack::signature::{SignatureVerifier, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Slack events are a few KiB; anything near this is not from Slack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long an event id or message is remembered as answered. Slack retries
/// within minutes, so an hour covers every retry.
const ANSWERED_TTL: Duration = Duration::from_secs(60 * 60);

/// Everything the routes need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` when events arrive only over Socket Mode.
    verifier: Option<SignatureVerifier>,
    bot: Arc<Bot>,
    metrics: Arc<Metrics>,
    seen: Cache<String, ()>,
    work: TaskTracker,
    /// Event ids acked but not yet answered.
    in_flight: Mutex<HashSet<String>>,
}

impl AppState {
    pub fn new(verifier: Option<SignatureVerifier>, bot: Arc<Bot>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                bot,
                metrics,
                seen: Cache::builder()
                    .time_to_live(ANSWERED_TTL)
                    .max_capacity(100_000)
                    .build(),
                work: TaskTracker::new(),
                in_flight: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Waits until every reply acked so far has been posted (or has failed).
    pub async fn wait_idle(&self) {
        self.inner.work.close();
        self.inner.work.wait().await;
        self.inner.work.reopen();
    }

    /// Lets acked replies finish for at most `limit`; logs each one that did not.
    /// Returns how many were lost.
    pub async fn drain(&self, limit: Duration) -> usize {
        self.inner.work.close();
        if tokio::time::timeout(limit, self.inner.work.wait())
            .await
            .is_ok()
        {
            return 0;
        }
        let lost: Vec<String> = self
            .inner
            .in_flight
            .lock()
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for event_id in &lost {
            tracing::error!(%event_id, "shutting down before this acked event was answered");
        }
        lost.len()
    }

    /// True the first time `key` is seen within [`ANSWERED_TTL`].
    async fn first_sighting(&self, key: String) -> bool {
        self.inner.seen.entry(key).or_insert(()).await.is_fresh()
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/slack/events", post(slack_events))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready unless the last call to the on-call source failed.
async fn readyz(State(state): State<AppState>) -> Response {
    let source = state.inner.bot.source_name();
    match state.inner.bot.source_healthy() {
        Some(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the last {source} call failed\n"),
        )
            .into_response(),
        Some(true) => format!("ready: the last {source} call succeeded\n").into_response(),
        None => format!("ready: no {source} call yet\n").into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.inner.metrics.render(),
    )
        .into_response()
}

async fn slack_events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let received = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let Some(verifier) = &state.inner.verifier else {
        return (
            StatusCode::NOT_FOUND,
            "the Events API endpoint is off: this bot receives events over Socket Mode\n",
        )
            .into_response();
    };
    if let Err(reason) = verifier.verify(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body)
    {
        tracing::warn!(%reason, "refused a request to /slack/events");
        state.record("unknown", "rejected_signature", received);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match state
        .dispatch(&body, header("x-slack-retry-num"), received)
        .await
    {
        Reply::Ack => StatusCode::OK.into_response(),
        Reply::Challenge(challenge) => {
            Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        Reply::NotJson => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// What to answer Slack for a delivered event body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack,
    Challenge(String),
    NotJson,
}

impl AppState {
    /// Handles one authenticated event body, from the HTTP endpoint or Socket
    /// Mode: parses, dedupes, starts the answer without waiting, counts it.
    pub async fn dispatch(&self, body: &[u8], retry: Option<&str>, received: Instant) -> Reply {
        let envelope = match Envelope::parse(body, self.inner.bot.identity()) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%error, "authenticated event body that is not JSON");
                self.record("unknown", "malformed", received);
                return Reply::NotJson;
            }
        };
        let (event_type, outcome, reply) = match envelope {
            Envelope::UrlVerification { challenge } => {
                ("url_verification", "answered", Reply::Challenge(challenge))
            }
            Envelope::Unhandled => ("other", "ignored", Reply::Ack),
            Envelope::Callback {
                event_id,
                event_type,
                event,
            } => {
                let span = tracing::info_span!(
                    "slack_event",
                    %event_id,
                    channel = tracing::field::Empty,
                    retry = retry.unwrap_or("0")
                );
                let outcome = accept(self, event_id, event, received)
                    .instrument(span)
                    .await;
                (event_type, outcome, Reply::Ack)
            }
        };
        self.record(event_type, outcome, received);
        reply
    }

    fn record(&self, event_type: &'static str, outcome: &'static str, received: Instant) {
        self.inner.metrics.event(event_type, outcome);
        self.inner.metrics.ack_latency(received.elapsed());
    }
}

/// Decides whether an event gets an answer, and if so starts it. Returns the
/// outcome for metrics.
async fn accept(
    state: &AppState,
    event_id: String,
    event: Inbound,
    received: Instant,
) -> &'static str {
    let request = match event {
        Inbound::Request(request) => request,
        Inbound::Ignored(reason) => {
            tracing::debug!(reason = reason.as_str(), "event ignored");
            return "ignored";
        }
    };
    tracing::Span::current().record("channel", request.channel.as_str());
    // A retry has the same event id; the same message can also come back under a
    // new one. Either way it is answered once.
    let message_key = format!("message:{}:{}", request.channel, request.ts);
    if !state.first_sighting(format!("event:{event_id}")).await
        || !state.first_sighting(message_key).await
    {
        tracing::info!("duplicate delivery, already answered");
        return "duplicate";
    }
    if let Ok(mut in_flight) = state.inner.in_flight.lock() {
        in_flight.insert(event_id.clone());
    }
    let state_for_task = state.clone();
    state.inner.work.spawn(
        async move {
            answer(&state_for_task, &request, received).await;
            if let Ok(mut in_flight) = state_for_task.inner.in_flight.lock() {
                in_flight.remove(&event_id);
            }
        }
        .instrument(tracing::Span::current()),
    );
    "answered"
}

async fn answer(state: &AppState, request: &Request, received: Instant) {
    match state.inner.bot.answer(request).await {
        Ok(()) => {
            state.inner.metrics.reply("posted");
            state.inner.metrics.reply_latency(received.elapsed());
            tracing::info!(user = %request.user, "answered");
        }
        Err(error) => {
            state.inner.metrics.reply("failed");
            tracing::error!(%error, "could not post the reply; it is lost");
        }
    }
}
