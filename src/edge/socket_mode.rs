//! Socket Mode: Slack pushes events over a WebSocket the bot opens, so no public
//! URL is needed. Each envelope is acked the moment it arrives, and its payload,
//! parsed once, goes to the same inbox as the HTTP endpoint's (dedupe,
//! own-message filter, spans, metrics).
//!
//! slack-morphism has a Socket Mode listener, but it parses envelopes into its own
//! strict models (one it cannot model is never acked, so Slack redelivers it) and
//! acks only after the handler returns; this small loop acks first and hands the
//! raw payload to our tolerant parser.

use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use super::inbox::Inbox;
use crate::outbound::BackoffPolicy;
use crate::slack::events::Envelope;
use crate::slack::{SlackApi, SlackError};

/// One Socket Mode frame, as far as we read it.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type", default)]
    kind: String,
    envelope_id: Option<String>,
    payload: Option<serde_json::Value>,
    retry_attempt: Option<u32>,
    reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("apps.connections.open failed: {0}")]
    Open(#[from] SlackError),
    #[error("the WebSocket failed: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// Keeps one Socket Mode connection open, reconnecting with backoff.
pub struct SocketMode {
    /// A client holding the app-level token.
    app: Arc<SlackApi>,
    inbox: Inbox,
    reconnect: BackoffPolicy,
}

impl SocketMode {
    pub fn new(app: Arc<SlackApi>, inbox: Inbox, reconnect: BackoffPolicy) -> Self {
        Self {
            app,
            inbox,
            reconnect,
        }
    }

    /// Connects, serves, and reconnects forever (until the task is dropped).
    pub async fn run(self) {
        let mut delay = None;
        loop {
            let started = Instant::now();
            match self.connection().await {
                Ok(()) => tracing::info!("Socket Mode connection closed; reconnecting"),
                Err(error) => tracing::warn!(%error, "Socket Mode connection failed"),
            }
            // A connection that lived a while resets the backoff.
            if started.elapsed() > self.reconnect.max {
                delay = None;
            }
            let wait = self.reconnect.after(delay);
            tokio::time::sleep(wait).await;
            delay = Some(wait);
        }
    }

    /// One connection, served until Slack closes it or asks for a new one
    /// (`Ok`), or it fails.
    async fn connection(&self) -> Result<(), SocketError> {
        let url = self.app.open_socket_url().await?;
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        while let Some(message) = socket.next().await {
            let text = match message? {
                Message::Text(text) => text,
                Message::Ping(data) => {
                    socket.send(Message::Pong(data)).await?;
                    continue;
                }
                Message::Close(_) => return Ok(()),
                _ => continue,
            };
            let received = Instant::now();
            let frame: Frame = match serde_json::from_str(text.as_str()) {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::debug!(%error, "Socket Mode frame that is not JSON");
                    continue;
                }
            };
            if let Some(envelope_id) = &frame.envelope_id {
                let ack = serde_json::json!({ "envelope_id": envelope_id }).to_string();
                socket.send(Message::text(ack)).await?;
            }
            match frame.kind.as_str() {
                "hello" => tracing::info!("Socket Mode connected"),
                "disconnect" => {
                    tracing::info!(
                        reason = frame.reason.as_deref().unwrap_or("none given"),
                        "Slack asked for a new Socket Mode connection"
                    );
                    return Ok(());
                }
                "events_api" => {
                    let Some(payload) = frame.payload else {
                        continue;
                    };
                    let retry = frame.retry_attempt.unwrap_or(0).to_string();
                    let envelope = Envelope::from_value(payload, self.inbox.identity());
                    self.inbox.accept(envelope, Some(&retry), received).await;
                }
                other => tracing::debug!(kind = other, "Socket Mode frame ignored"),
            }
        }
        Ok(())
    }
}
