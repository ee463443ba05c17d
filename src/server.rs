//! The HTTP edge: the Slack Events API endpoint and the health probe.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use moka::future::Cache;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bot::{Bot, Request};
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
    verifier: SignatureVerifier,
    bot: Arc<Bot>,
    seen: Cache<String, ()>,
    work: TaskTracker,
}

impl AppState {
    pub fn new(verifier: SignatureVerifier, bot: Arc<Bot>) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                bot,
                seen: Cache::builder()
                    .time_to_live(ANSWERED_TTL)
                    .max_capacity(100_000)
                    .build(),
                work: TaskTracker::new(),
            }),
        }
    }

    /// The replies acked but not yet posted.
    pub fn in_flight(&self) -> &TaskTracker {
        &self.inner.work
    }

    /// Waits until every reply acked so far has been posted (or has failed).
    pub async fn wait_idle(&self) {
        self.inner.work.close();
        self.inner.work.wait().await;
        self.inner.work.reopen();
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
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn slack_events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(reason) =
        state
            .inner
            .verifier
            .verify(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body)
    {
        tracing::warn!(%reason, "refused a request to /slack/events");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let envelope = match Envelope::parse(&body, state.inner.bot.identity()) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::warn!(%error, "signed request with a body that is not JSON");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match envelope {
        Envelope::UrlVerification { challenge } => {
            Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        Envelope::Unhandled => StatusCode::OK.into_response(),
        Envelope::Callback { event_id, event } => {
            let retry = header("x-slack-retry-num").unwrap_or("0");
            let span = tracing::info_span!("slack_event", %event_id, channel = tracing::field::Empty, retry);
            accept(state, event_id, event).instrument(span).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Decides whether an event gets an answer, and if so starts it without waiting.
async fn accept(state: AppState, event_id: String, event: Inbound) {
    let request = match event {
        Inbound::Request(request) => request,
        Inbound::Ignored(reason) => {
            tracing::debug!(reason = reason.as_str(), "event ignored");
            return;
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
        return;
    }
    let bot = Arc::clone(&state.inner.bot);
    state
        .inner
        .work
        .spawn(answer(bot, request).instrument(tracing::Span::current()));
}

async fn answer(bot: Arc<Bot>, request: Request) {
    match bot.answer(&request).await {
        Ok(()) => tracing::info!(user = %request.user, "answered"),
        Err(error) => tracing::error!(%error, "could not post the reply"),
    }
}
