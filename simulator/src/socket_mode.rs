//! The simulated Slack end of Socket Mode: a WebSocket server on loopback that
//! says `hello`, pushes `events_api` envelopes, and records the bot's acks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::lock;

/// When one connection opened, and when it ended (and who ended it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub opened: Instant,
    pub closed: Option<Instant>,
    /// The bot sent a Close frame (rather than the socket just ending).
    pub closed_by_bot: bool,
    /// Pings the bot sent on it.
    pub pings: usize,
}

#[derive(Debug, Default)]
struct State {
    connections: usize,
    log: Vec<ConnectionRecord>,
    current: Option<mpsc::UnboundedSender<Message>>,
    acks: Vec<String>,
    /// What came back with an ack, by envelope id (a form's errors).
    ack_payloads: std::collections::HashMap<String, Value>,
    /// Events API envelopes sent and not acked yet, by id: Slack delivers
    /// them again on the app's next connection.
    unacked: std::collections::BTreeMap<String, Value>,
    envelopes: u64,
}

/// Slack's Socket Mode WebSocket endpoint, simulated.
pub struct SocketModeServer {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for SocketModeServer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl SocketModeServer {
    /// Binds a loopback port and starts accepting (needs a Tokio runtime).
    pub fn start() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let listener = TcpListener::from_std(listener)?;
        let state = Arc::new(Mutex::new(State::default()));
        let accepting = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            accepting,
        })
    }

    /// What `apps.connections.open` hands out.
    pub fn url(&self) -> String {
        format!("ws://{}/link/?ticket=simulated", self.address)
    }

    /// How many connections the bot has opened so far.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// Pushes an Events API payload to the open connection; returns its envelope
    /// id, or `None` when no connection is open.
    pub fn send_event(&self, payload: &str, retry_attempt: u32) -> Option<String> {
        self.send_envelope(
            "events_api",
            payload,
            json!({
                "accepts_response_payload": false,
                "retry_attempt": retry_attempt,
                "retry_reason": if retry_attempt > 0 { "timeout" } else { "" },
            }),
        )
    }

    /// Pushes a slash command payload in a `slash_commands` envelope.
    pub fn send_slash_command(&self, payload: &str) -> Option<String> {
        self.send_envelope(
            "slash_commands",
            payload,
            json!({"accepts_response_payload": true}),
        )
    }

    /// Pushes an interactivity payload (a button click) in an `interactive`
    /// envelope.
    pub fn send_interactive(&self, payload: &str) -> Option<String> {
        let submission = payload.contains("\"view_submission\"");
        self.send_envelope(
            "interactive",
            payload,
            json!({"accepts_response_payload": submission}),
        )
    }

    /// Wraps `payload` (JSON) in an envelope of `kind` with `fields`, and sends
    /// it on the open connection; returns the envelope id, or `None` when no
    /// connection is open.
    fn send_envelope(&self, kind: &str, payload: &str, fields: Value) -> Option<String> {
        let mut state = lock(&self.state);
        state.envelopes += 1;
        let envelope_id = format!("envelope-{:04}", state.envelopes);
        let payload: Value = serde_json::from_str(payload).ok()?;
        let mut frame = json!({"envelope_id": envelope_id, "type": kind, "payload": payload});
        if let (Some(frame), Value::Object(fields)) = (frame.as_object_mut(), fields) {
            frame.extend(fields);
        }
        if kind == "events_api" {
            state.unacked.insert(envelope_id.clone(), frame.clone());
        }
        let sender = state.current.as_ref()?;
        sender.send(Message::text(frame.to_string())).ok()?;
        Some(envelope_id)
    }

    /// Every connection so far, in the order they opened.
    pub fn connection_log(&self) -> Vec<ConnectionRecord> {
        lock(&self.state).log.clone()
    }

    /// Sends Slack's `disconnect` frame (`refresh_requested`, `warning`, …) on the
    /// open connection, which stays open until the bot lets it go. Returns whether
    /// a connection was open.
    pub fn send_disconnect(&self, reason: &str) -> bool {
        let frame = json!({
            "type": "disconnect", "reason": reason,
            "debug_info": {"host": "simulated"}
        });
        let state = lock(&self.state);
        state
            .current
            .as_ref()
            .is_some_and(|sender| sender.send(Message::text(frame.to_string())).is_ok())
    }

    /// The envelope ids the bot acked, in order.
    pub fn acks(&self) -> Vec<String> {
        lock(&self.state).acks.clone()
    }

    /// The payload the bot sent back with its ack of `envelope_id`, if any.
    pub fn ack_payload(&self, envelope_id: &str) -> Option<Value> {
        lock(&self.state).ack_payloads.get(envelope_id).cloned()
    }

    /// Closes the open connection, as Slack does now and then.
    pub fn drop_connection(&self) {
        if let Some(sender) = lock(&self.state).current.take() {
            let _ = sender.send(Message::Close(None));
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
            continue;
        };
        let (mut sink, mut stream) = socket.split();
        let (sender, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let hello = json!({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "simulated", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "ASIM"}
        });
        let _ = sender.send(Message::text(hello.to_string()));
        let index = {
            let mut state = lock(&state);
            // What the previous connection left un-acked comes again, as a
            // retry.
            for frame in state.unacked.values_mut() {
                let attempt = frame["retry_attempt"].as_u64().unwrap_or(0) + 1;
                frame["retry_attempt"] = json!(attempt);
                frame["retry_reason"] = json!("timeout");
                let _ = sender.send(Message::text(frame.to_string()));
            }
            state.connections += 1;
            state.current = Some(sender.clone());
            state.log.push(ConnectionRecord {
                opened: Instant::now(),
                closed: None,
                closed_by_bot: false,
                pings: 0,
            });
            state.log.len() - 1
        };
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
        });
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut closed_by_bot = false;
            while let Some(Ok(message)) = stream.next().await {
                match message {
                    Message::Text(text) => {
                        let ack = serde_json::from_str::<Value>(text.as_str()).ok();
                        let envelope_id = ack
                            .as_ref()
                            .and_then(|value| value["envelope_id"].as_str().map(str::to_owned));
                        if let (Some(envelope_id), Some(ack)) = (envelope_id, ack) {
                            let mut state = lock(&state);
                            state.unacked.remove(&envelope_id);
                            if !ack["payload"].is_null() {
                                state
                                    .ack_payloads
                                    .insert(envelope_id.clone(), ack["payload"].clone());
                            }
                            state.acks.push(envelope_id);
                        }
                    }
                    // Slack answers pings, as any WebSocket peer does.
                    Message::Ping(data) => {
                        lock(&state).log[index].pings += 1;
                        let _ = sender.send(Message::Pong(data));
                    }
                    Message::Close(_) => {
                        closed_by_bot = true;
                        break;
                    }
                    _ => {}
                }
            }
            let mut state = lock(&state);
            let record = &mut state.log[index];
            record.closed = Some(Instant::now());
            record.closed_by_bot = closed_by_bot;
        });
    }
}
