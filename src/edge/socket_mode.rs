//! Socket Mode: Slack pushes events over a WebSocket the bot opens, so no public
//! URL is needed. Each payload is parsed once and handed to the same inbox as the
//! HTTP endpoint's; the envelope is acked once the inbox took it, and left un-acked
//! (for Slack to deliver again) when the inbox is full.
//!
//! The link cannot die silently: the handshake is bounded in time, the bot pings,
//! and a connection that hears nothing (no frame, no pong) for `idle_timeout` is
//! dropped and replaced. When Slack announces a `disconnect`, the next connection
//! is opened before the old one is let go. Reconnects back off with jitter, so
//! that many bots do not return at the same instant.
//!
//! slack-morphism has a Socket Mode listener, but it parses envelopes into its own
//! strict models (one it cannot model is never acked, so Slack redelivers it) and
//! acks only after the handler returns; this small loop keeps our tolerant parser.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::inbox::{Inbox, Reply};
use crate::config::settings::SocketTimings;
use crate::outbound::BackoffPolicy;
use crate::slack::commands::command_of_json;
use crate::slack::events::Envelope;
use crate::slack::form_errors;
use crate::slack::interactions::Interaction;
use crate::slack::{SlackApi, SlackError};
use crate::supervise::LoopHandle;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The next connection, being opened while the current one still serves.
type Opening<'a> = Pin<Box<dyn Future<Output = Result<Socket, SocketError>> + Send + 'a>>;

/// One Socket Mode frame, as far as we read it.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type", default)]
    kind: String,
    envelope_id: Option<String>,
    /// Left raw: the payload is parsed once, by [`Envelope::parse`].
    payload: Option<Box<serde_json::value::RawValue>>,
    retry_attempt: Option<u32>,
    reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("apps.connections.open failed: {0}")]
    Open(#[from] SlackError),
    #[error("the WebSocket handshake took longer than {}", humantime::format_duration(*.0))]
    HandshakeTimeout(Duration),
    #[error("the WebSocket failed: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("nothing heard from Slack for {}; the link is presumed dead", humantime::format_duration(*.0))]
    Silent(Duration),
}

/// Whether the Socket Mode link is up (Slack said `hello`), for readiness.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus(Arc<AtomicBool>);

impl LinkStatus {
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }
}

/// What a frame asks of the connection loop.
enum Next {
    Continue,
    /// Slack asked for a new connection (`disconnect`).
    Replace,
}

/// Keeps one Socket Mode connection open, reconnecting with backoff.
#[derive(Clone)]
pub struct SocketMode {
    /// A client holding the app-level token.
    app: Arc<SlackApi>,
    inbox: Inbox,
    reconnect: BackoffPolicy,
    timings: SocketTimings,
    status: LinkStatus,
    /// Told of each link that comes up (set by [`Self::run`]).
    handle: Option<LoopHandle>,
}

impl SocketMode {
    pub fn new(
        app: Arc<SlackApi>,
        inbox: Inbox,
        reconnect: BackoffPolicy,
        timings: SocketTimings,
    ) -> Self {
        Self {
            app,
            inbox,
            reconnect,
            timings,
            status: LinkStatus::default(),
            handle: None,
        }
    }

    /// Whether the link is up; shared with the readiness probe.
    pub fn status(&self) -> LinkStatus {
        self.status.clone()
    }

    /// Connects, serves, and reconnects forever (until the task is dropped),
    /// telling `handle` of each link that comes up and each that fails.
    pub async fn run(self, handle: LoopHandle) {
        let this = Self {
            handle: Some(handle.clone()),
            ..self
        };
        this.run_with(handle).await;
    }

    async fn run_with(self, handle: LoopHandle) {
        let mut delay = None;
        let mut opened_ahead: Option<Socket> = None;
        loop {
            let started = Instant::now();
            let socket = match opened_ahead.take() {
                Some(socket) => Ok(socket),
                None => self.open().await,
            };
            let ended = match socket {
                Ok(socket) => self.serve(socket).await,
                Err(error) => Err(error),
            };
            match ended {
                Ok(Some(next)) => {
                    tracing::info!("Socket Mode: moved to the next connection");
                    opened_ahead = Some(next);
                    delay = None;
                    continue;
                }
                Ok(None) => tracing::info!("Socket Mode connection closed; reconnecting"),
                Err(error) => {
                    handle.failed(&error);
                    tracing::warn!(%error, "Socket Mode connection failed");
                }
            }
            self.status.set(false);
            // A connection that lived a while resets the backoff.
            if started.elapsed() > self.reconnect.max {
                delay = None;
            }
            let wait = self.reconnect.after(delay);
            delay = Some(wait);
            tokio::time::sleep(jittered(wait)).await;
        }
    }

    /// `apps.connections.open`, then the WebSocket handshake within its bound.
    async fn open(&self) -> Result<Socket, SocketError> {
        let url = self.app.open_socket_url().await?;
        let limit = self.timings.connect_timeout;
        let (socket, _) = tokio::time::timeout(limit, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| SocketError::HandshakeTimeout(limit))??;
        Ok(socket)
    }

    /// Serves one connection. `Ok(Some(next))`: Slack asked for a new one and
    /// `next` is open already; `Ok(None)`: Slack closed it.
    async fn serve(&self, mut socket: Socket) -> Result<Option<Socket>, SocketError> {
        // Acks written later than their frame was read (a form's, after its
        // check): the loop writes them, so that it never waits on a check.
        let (later, mut late_acks) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut pings = tokio::time::interval(self.timings.ping_interval);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pings.tick().await;
        let mut last_heard = tokio::time::Instant::now();
        let mut next: Option<Opening<'_>> = None;
        loop {
            let silent_since = last_heard + self.timings.idle_timeout;
            tokio::select! {
                message = socket.next() => {
                    let Some(message) = message else {
                        return Ok(None);
                    };
                    last_heard = tokio::time::Instant::now();
                    let text = match message? {
                        Message::Text(text) => text,
                        Message::Ping(data) => {
                            socket.send(Message::Pong(data)).await?;
                            continue;
                        }
                        Message::Close(_) => return Ok(None),
                        _ => continue,
                    };
                    if let Next::Replace = self.frame(&mut socket, text.as_str(), &later).await? {
                        if next.is_none() {
                            next = Some(Box::pin(self.open()));
                        }
                    }
                }
                Some(ack) = late_acks.recv() => socket.send(Message::text(ack)).await?,
                _ = pings.tick() => socket.send(Message::Ping(Vec::new().into())).await?,
                () = tokio::time::sleep_until(silent_since) => {
                    return Err(SocketError::Silent(self.timings.idle_timeout));
                }
                opened = async {
                    match next.as_mut() {
                        Some(opening) => opening.await,
                        None => std::future::pending().await,
                    }
                }, if next.is_some() => {
                    match opened {
                        Ok(replacement) => {
                            // Best effort: the old connection is going anyway.
                            let _ = socket.close(None).await;
                            return Ok(Some(replacement));
                        }
                        Err(error) => {
                            tracing::warn!(%error, "Socket Mode: the next connection failed; keeping this one");
                            next = None;
                        }
                    }
                }
            }
        }
    }

    /// Handles one text frame: acks what the inbox took, leaves the rest.
    async fn frame(
        &self,
        socket: &mut Socket,
        text: &str,
        later: &tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<Next, SocketError> {
        let received = Instant::now();
        let frame: Frame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::debug!(%error, "Socket Mode frame that is not JSON");
                return Ok(Next::Continue);
            }
        };
        let ack = match frame.kind.as_str() {
            "hello" => {
                self.status.set(true);
                if let Some(handle) = &self.handle {
                    handle.succeeded();
                }
                tracing::info!("Socket Mode connected");
                true
            }
            "disconnect" => {
                tracing::info!(
                    reason = frame.reason.as_deref().unwrap_or("none given"),
                    "Slack asked for a new Socket Mode connection; opening it before letting this one go"
                );
                return Ok(Next::Replace);
            }
            "events_api" => match frame.payload {
                Some(payload) => {
                    let retry = frame.retry_attempt.unwrap_or(0).to_string();
                    match Envelope::parse(payload.get().as_bytes(), self.inbox.identity()) {
                        // Answered (within ACK_BUDGET) in a task of its own,
                        // which sends the ack through `later`; left un-acked
                        // when the inbox is full, for Slack to deliver again.
                        Ok(envelope) => {
                            let (inbox, later) = (self.inbox.clone(), later.clone());
                            let envelope_id = frame.envelope_id.clone();
                            tokio::spawn(async move {
                                let reply =
                                    inbox.accept_event(envelope, Some(&retry), received).await;
                                if let (true, Some(envelope_id)) =
                                    (reply != Reply::Overloaded, envelope_id)
                                {
                                    let ack = serde_json::json!({ "envelope_id": envelope_id });
                                    // A link replaced meanwhile: the envelope is
                                    // delivered again, and found answered.
                                    let _ = later.send(ack.to_string());
                                }
                            });
                            return Ok(Next::Continue);
                        }
                        // Cannot happen (the frame parsed), but an unreadable
                        // payload is acked and dropped, never redelivered forever.
                        Err(error) => {
                            tracing::debug!(%error, "Socket Mode payload that is not JSON");
                            true
                        }
                    }
                }
                None => true,
            },
            "slash_commands" => {
                match frame
                    .payload
                    .map(|payload| command_of_json(payload.get().as_bytes()))
                {
                    Some(Ok(command)) => self.inbox.accept_command(command, received),
                    Some(Err(error)) => tracing::debug!(%error, "slash command ignored"),
                    None => tracing::debug!("Socket Mode command without a payload"),
                }
                true
            }
            "interactive" => {
                match frame
                    .payload
                    .map(|payload| Interaction::parse(payload.get().as_bytes()))
                {
                    Some(Ok(Interaction::Click(click))) => {
                        self.inbox.accept_click(*click, received);
                    }
                    Some(Ok(Interaction::Override(click))) => {
                        self.inbox.accept_override_click(*click, received);
                    }
                    Some(Ok(Interaction::OpenForm(opening))) => {
                        self.inbox.accept_form_opening(opening, received);
                    }
                    Some(Ok(Interaction::Submit(form))) => {
                        // Checked in a task of its own; its ack, with the
                        // form's errors when it has any, comes back through
                        // `later`.
                        if let Some(envelope_id) = frame.envelope_id.clone() {
                            let (inbox, later) = (self.inbox.clone(), later.clone());
                            tokio::spawn(async move {
                                let mut ack = serde_json::json!({ "envelope_id": envelope_id });
                                if let Err(errors) = inbox.accept_submission(*form, received).await
                                {
                                    ack["payload"] = form_errors(&errors);
                                }
                                // The connection may be gone; Slack then
                                // shows the form an error, and it is sent again.
                                let _ = later.send(ack.to_string());
                            });
                        }
                        return Ok(Next::Continue);
                    }
                    Some(Ok(Interaction::Ignored(reason))) => {
                        tracing::debug!(reason, "interaction ignored");
                    }
                    // Acked and dropped, never redelivered forever.
                    Some(Err(_)) | None => {
                        tracing::debug!("Socket Mode interaction without a payload")
                    }
                }
                true
            }
            other => {
                tracing::debug!(kind = other, "Socket Mode frame ignored");
                true
            }
        };
        if let (true, Some(envelope_id)) = (ack, &frame.envelope_id) {
            let ack = serde_json::json!({ "envelope_id": envelope_id }).to_string();
            socket.send(Message::text(ack)).await?;
        }
        Ok(Next::Continue)
    }
}

/// `wait` scaled by a random factor in [0.5, 1]: reconnects spread out.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_all_of_the_wait() {
        let wait = Duration::from_secs(8);
        for _ in 0..1_000 {
            let jittered = jittered(wait);
            assert!(jittered >= wait / 2 && jittered <= wait, "{jittered:?}");
        }
    }
}
