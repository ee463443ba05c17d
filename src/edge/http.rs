//! The HTTP edge: the Slack Events API route (verify, parse, hand to the inbox),
//! health and readiness probes, and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::inbox::{Inbox, Reply};
use super::socket_mode::LinkStatus;
use crate::slack::events::Envelope;
use crate::slack::signature::{
    SignatureError, SignatureVerifier, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// Slack events are a few KiB; anything near this is not from Slack. The route
/// reads the body itself, within this, once the headers pass.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the routes need; cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    /// `None` when events arrive only over Socket Mode.
    verifier: Option<Arc<SignatureVerifier>>,
    inbox: Inbox,
    /// The Socket Mode link, when events arrive over it.
    socket: Option<LinkStatus>,
    /// A request's body must arrive within this once its headers pass.
    body_timeout: Duration,
}

impl HttpState {
    pub fn new(
        verifier: Option<SignatureVerifier>,
        inbox: Inbox,
        socket: Option<LinkStatus>,
        body_timeout: Duration,
    ) -> Self {
        Self {
            verifier: verifier.map(Arc::new),
            inbox,
            socket,
            body_timeout,
        }
    }
}

pub fn app(state: HttpState) -> Router {
    Router::new()
        .route("/slack/events", post(slack_events))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// "This process can take events": 200 once started, and in Socket Mode while the
/// link is up. The on-call provider's health is told in the text (and in the
/// `source_up` gauge), never in the status: an upstream blip must not pull every
/// replica out of the Service at once, and stale answers cover it meanwhile.
async fn readyz(State(state): State<HttpState>) -> Response {
    let bot = state.inbox.bot();
    let source = bot.source_name();
    let upstream = match bot.source_healthy() {
        Some(false) => format!("the last {source} call failed; stale answers cover it"),
        Some(true) => format!("the last {source} call succeeded"),
        None => format!("no {source} call yet"),
    };
    match &state.socket {
        Some(link) if !link.is_up() => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: Socket Mode is not connected; {upstream}\n"),
        )
            .into_response(),
        _ => format!("ready: {upstream}\n").into_response(),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.inbox.metrics().render(),
    )
        .into_response()
}

async fn slack_events(State(state): State<HttpState>, request: Request) -> Response {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let Some(verifier) = &state.verifier else {
        return (
            StatusCode::NOT_FOUND,
            "the Events API endpoint is off: this bot receives events over Socket Mode\n",
        )
            .into_response();
    };
    // Refused from the headers alone, before a byte of the body is waited for.
    if let Err(reason) =
        SignatureVerifier::check_headers(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER))
    {
        return refuse(&state, reason, received);
    }
    let declared = header("content-length").and_then(|length| length.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let read = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY_BYTES));
    let body = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
        Ok(Err(error)) => {
            tracing::debug!(%error, "the request body broke off");
            return StatusCode::BAD_REQUEST.into_response();
        }
        Err(_) => {
            tracing::warn!("a request body did not arrive in time");
            return StatusCode::REQUEST_TIMEOUT.into_response();
        }
    };
    if let Err(reason) = verifier.verify(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body)
    {
        return refuse(&state, reason, received);
    }
    let envelope = match Envelope::parse(&body, state.inbox.identity()) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::warn!(%error, "authenticated event body that is not JSON");
            state.inbox.record("unknown", "malformed", received);
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match state
        .inbox
        .accept(envelope, header("x-slack-retry-num"), received)
    {
        Reply::Ack => StatusCode::OK.into_response(),
        Reply::Challenge(challenge) => {
            Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        Reply::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: too many replies in flight; Slack will deliver this event again\n",
        )
            .into_response(),
    }
}

fn refuse(state: &HttpState, reason: SignatureError, received: Instant) -> Response {
    tracing::warn!(%reason, "refused a request to /slack/events");
    state
        .inbox
        .record("unknown", "rejected_signature", received);
    StatusCode::UNAUTHORIZED.into_response()
}
