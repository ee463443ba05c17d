//! The HTTP edge: the Slack Events API route (verify, parse, hand to the inbox),
//! health and readiness probes, and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::inbox::{Inbox, Reply};
use super::socket_mode::LinkStatus;
use crate::config::WebhookTokens;
use crate::providers::pagerduty::webhook::{parse_incident_event, signature_matches};
use crate::providers::webhook::{parse_alert_update, WebhookError};
use crate::slack::commands::command_of_form;
use crate::slack::events::Envelope;
use crate::slack::form_errors;
use crate::slack::interactions::{payload_of_form, Interaction};
use crate::slack::signature::{
    SignatureError, SignatureVerifier, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::supervise::Supervisor;

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
    /// The providers' webhook tokens; a route without one answers 404.
    webhooks: Arc<WebhookTokens>,
    /// The background loops, listed by `/readyz`.
    supervisor: Option<Supervisor>,
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
            webhooks: Arc::new(WebhookTokens::default()),
            supervisor: None,
        }
    }

    /// `/readyz` lists the background loops and how each stands.
    pub fn with_supervisor(mut self, supervisor: Supervisor) -> Self {
        self.supervisor = Some(supervisor);
        self
    }

    /// Turns on the webhook routes whose tokens are set.
    pub fn with_webhook_tokens(mut self, tokens: WebhookTokens) -> Self {
        self.webhooks = Arc::new(tokens);
        self
    }
}

pub fn app(state: HttpState) -> Router {
    Router::new()
        .route("/slack/events", post(slack_events))
        .route("/slack/interactions", post(slack_interactions))
        .route("/slack/commands", post(slack_commands))
        .route("/opsgenie/webhook", post(opsgenie_webhook))
        .route("/jsm/webhook", post(jsm_webhook))
        .route("/pagerduty/webhook", post(pagerduty_webhook))
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
    let loops = state
        .supervisor
        .as_ref()
        .map(|supervisor| supervisor.describe(std::time::SystemTime::now()))
        .unwrap_or_default();
    match &state.socket {
        Some(link) if !link.is_up() => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: Socket Mode is not connected; {upstream}\n{loops}"),
        )
            .into_response(),
        _ => format!("ready: {upstream}\n{loops}").into_response(),
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

/// A request from Slack, its signature checked: the headers first (401 before a
/// byte of the body is waited for), then the body within its size and time,
/// then the signature over it. `Err` is the answer to give.
async fn verified_body(
    state: &HttpState,
    request: Request,
    received: Instant,
) -> Result<(axum::http::request::Parts, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let Some(verifier) = &state.verifier else {
        return Err((
            StatusCode::NOT_FOUND,
            "the Events API endpoint is off: this bot receives events over Socket Mode\n",
        )
            .into_response());
    };
    if let Err(reason) =
        SignatureVerifier::check_headers(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER))
    {
        return Err(refuse(state, &parts, reason, received));
    }
    let body = read_body(state, &parts, body).await?;
    if let Err(reason) = verifier.verify(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body)
    {
        return Err(refuse(state, &parts, reason, received));
    }
    Ok((parts, body))
}

/// The body, within [`MAX_BODY_BYTES`] and the body timeout.
async fn read_body(
    state: &HttpState,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
) -> Result<Bytes, Response> {
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|length| length.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    }
    let read = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY_BYTES));
    match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(StatusCode::PAYLOAD_TOO_LARGE.into_response())
        }
        Ok(Err(error)) => {
            tracing::debug!(%error, "the request body broke off");
            Err(StatusCode::BAD_REQUEST.into_response())
        }
        Err(_) => {
            tracing::warn!("a request body did not arrive in time");
            Err(StatusCode::REQUEST_TIMEOUT.into_response())
        }
    }
}

async fn slack_events(State(state): State<HttpState>, request: Request) -> Response {
    let received = Instant::now();
    let (parts, body) = match verified_body(&state, request, received).await {
        Ok(verified) => verified,
        Err(answer) => return answer,
    };
    let envelope = match Envelope::parse(&body, state.inbox.identity()) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::warn!(%error, "authenticated event body that is not JSON");
            state.inbox.record("unknown", "malformed", received);
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let retry = parts
        .headers
        .get("x-slack-retry-num")
        .and_then(|value| value.to_str().ok());
    match state.inbox.accept_event(envelope, retry, received).await {
        Reply::Ack => StatusCode::OK.into_response(),
        Reply::Challenge(challenge) => {
            Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        Reply::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not answered yet (too much in flight, or its answer still under way): Slack will deliver this event again\n",
        )
            .into_response(),
    }
}

/// Slack's interactivity requests (a click on a button, a form submitted):
/// signed like events, form-encoded, acked at once with an empty 200; the work
/// follows. A form is checked first, and what is wrong goes back in the
/// acknowledgement for Slack to show beside its fields.
async fn slack_interactions(State(state): State<HttpState>, request: Request) -> Response {
    let received = Instant::now();
    let (_, body) = match verified_body(&state, request, received).await {
        Ok(verified) => verified,
        Err(answer) => return answer,
    };
    let parsed = payload_of_form(&body)
        .ok_or(())
        .and_then(|payload| Interaction::parse(payload.as_bytes()).map_err(drop));
    match parsed {
        Ok(Interaction::Click(click)) => state.inbox.accept_click(*click, received),
        Ok(Interaction::Override(click)) => state.inbox.accept_override_click(*click, received),
        Ok(Interaction::OpenForm(opening)) => state.inbox.accept_form_opening(opening, received),
        Ok(Interaction::Submit(form)) => {
            return match state.inbox.accept_submission(*form, received).await {
                Ok(()) => StatusCode::OK.into_response(),
                Err(errors) => Json(form_errors(&errors)).into_response(),
            };
        }
        Ok(Interaction::Ignored(reason)) => {
            tracing::debug!(reason, "interaction ignored");
            state.inbox.record("interaction", "ignored", received);
        }
        Err(()) => {
            tracing::warn!("authenticated interaction without a JSON payload");
            state.inbox.record("interaction", "malformed", received);
            return StatusCode::BAD_REQUEST.into_response();
        }
    }
    StatusCode::OK.into_response()
}

/// The largest body an unsigned `ssl_check` may have: Slack's is
/// `ssl_check=1&token=…`, well under this.
const MAX_SSL_CHECK_BYTES: usize = 256;

/// Whether an unsigned request is Slack's `ssl_check=1` probe of the
/// slash-command URL (which Slack may send unsigned): only a declared, tiny
/// form body is read for it, within the body timeout, so that every other
/// unsigned request is still refused before its body is waited for.
async fn is_ssl_check(state: &HttpState, request: Request) -> Result<bool, Response> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let signed = header(TIMESTAMP_HEADER).is_some() || header(SIGNATURE_HEADER).is_some();
    let tiny = header("content-length")
        .and_then(|length| length.parse::<usize>().ok())
        .is_some_and(|length| length <= MAX_SSL_CHECK_BYTES);
    let form = header("content-type")
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    if signed || !tiny || !form {
        return Ok(false);
    }
    let body = read_body(state, &parts, body).await?;
    Ok(form_urlencoded::parse(&body).any(|(key, value)| key == "ssl_check" && value == "1"))
}

/// `/oncall …`: signed like events, form-encoded, acked at once with an empty
/// 200 (Slack shows nothing); the answer follows at the `response_url`.
/// Slack's `ssl_check=1` probe is answered 200 and nothing is done.
async fn slack_commands(State(state): State<HttpState>, request: Request) -> Response {
    let received = Instant::now();
    let signed = request.headers().contains_key(SIGNATURE_HEADER)
        || request.headers().contains_key(TIMESTAMP_HEADER);
    let request = if signed {
        request
    } else {
        // Kept whole for the refusal below when it is not the probe.
        let (parts, body) = request.into_parts();
        let probe = Request::from_parts(parts.clone(), body);
        match is_ssl_check(&state, probe).await {
            Ok(true) => {
                tracing::debug!("Slack's ssl_check of the slash-command URL");
                return StatusCode::OK.into_response();
            }
            Ok(false) => Request::from_parts(parts, axum::body::Body::empty()),
            Err(answer) => return answer,
        }
    };
    let (_, body) = match verified_body(&state, request, received).await {
        Ok(verified) => verified,
        Err(answer) => return answer,
    };
    if form_urlencoded::parse(&body).any(|(key, value)| key == "ssl_check" && value == "1") {
        tracing::debug!("Slack's ssl_check of the slash-command URL, signed");
        return StatusCode::OK.into_response();
    }
    match command_of_form(&body) {
        Ok(command) => {
            state.inbox.accept_command(command, received);
            StatusCode::OK.into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "authenticated slash command that cannot be read");
            state.inbox.record("slash_command", "malformed", received);
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

async fn opsgenie_webhook(State(state): State<HttpState>, request: Request) -> Response {
    let token = state.webhooks.opsgenie.clone();
    alert_webhook(&state, token.as_ref(), "OPSGENIE_WEBHOOK_TOKEN", request).await
}

async fn jsm_webhook(State(state): State<HttpState>, request: Request) -> Response {
    let token = state.webhooks.jsm.clone();
    alert_webhook(&state, token.as_ref(), "JSM_WEBHOOK_TOKEN", request).await
}

/// PagerDuty's v3 webhook: authentic when an `X-PagerDuty-Signature` entry is
/// the HMAC of the raw body under `PAGERDUTY_WEBHOOK_SECRET` (checked before
/// anything is parsed; 400 without the header, 401 when none matches), then
/// acknowledged and reflected after the 2xx, each `X-Webhook-Id` once.
async fn pagerduty_webhook(State(state): State<HttpState>, request: Request) -> Response {
    let Some(secret) = state.webhooks.pagerduty.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "this webhook is off: set PAGERDUTY_WEBHOOK_SECRET to turn it on\n",
        )
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let header_value = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let Some(signature) = header_value("x-pagerduty-signature") else {
        tracing::warn!("refused a PagerDuty delivery: no signature");
        return StatusCode::BAD_REQUEST.into_response();
    };
    let webhook_id = header_value("x-webhook-id");
    let body = match read_body(&state, &parts, body).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    if !signature_matches(secret.expose_secret().as_bytes(), &signature, &body) {
        tracing::warn!("refused a PagerDuty delivery: no signature matches");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    hand_on_delivery(
        &state,
        parse_incident_event(&body),
        |event| {
            state
                .inbox
                .accept_incident_event(event, webhook_id.as_deref())
        },
        StatusCode::ACCEPTED,
    )
}

/// A read webhook delivery handed on to the inbox, answered as its provider
/// expects: `taken` (what it does not reflect too, so that it is not
/// retried), 503 when there is no room (it comes again), 400 for a body that
/// is no delivery.
fn hand_on_delivery<T>(
    state: &HttpState,
    read: Result<T, WebhookError>,
    accept: impl FnOnce(T) -> bool,
    taken: StatusCode,
) -> Response {
    match read {
        Ok(delivery) => {
            if !accept(delivery) {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy: too much work in flight; deliver it again\n",
                )
                    .into_response();
            }
        }
        Err(WebhookError::OtherAction(action)) => {
            state.inbox.metrics().alert_webhook("other_action");
            tracing::debug!(%action, "webhook delivery not reflected");
        }
        Err(error @ WebhookError::Malformed(_)) => {
            tracing::warn!(%error, "refused a webhook delivery");
            return StatusCode::BAD_REQUEST.into_response();
        }
    }
    taken.into_response()
}

/// A provider's outgoing webhook: `Authorization: Bearer <token>` compared in
/// constant time (401 otherwise), then the delivery handed on after the 200.
/// Deliveries the bot does not reflect are answered 200 too, so the provider
/// does not retry them.
async fn alert_webhook(
    state: &HttpState,
    token: Option<&SecretString>,
    variable: &str,
    request: Request,
) -> Response {
    let Some(token) = token else {
        return (
            StatusCode::NOT_FOUND,
            format!("this webhook is off: set {variable} to turn it on\n"),
        )
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        tracing::warn!(route = %parts.uri.path(), "refused a webhook delivery: wrong or missing token");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body = match read_body(state, &parts, body).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    hand_on_delivery(
        state,
        parse_alert_update(&body),
        |update| state.inbox.accept_alert_update(update),
        StatusCode::OK,
    )
}

fn refuse(
    state: &HttpState,
    parts: &axum::http::request::Parts,
    reason: SignatureError,
    received: Instant,
) -> Response {
    tracing::warn!(%reason, route = %parts.uri.path(), "refused a request");
    state
        .inbox
        .record("unknown", "rejected_signature", received);
    StatusCode::UNAUTHORIZED.into_response()
}
