//! The one intake for Slack events, whichever door they came through: dedupe by
//! event id and by message, start the answer without waiting, track what is in
//! flight, and drain it at shutdown. It knows no HTTP framework and no socket.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bot::Bot;
use crate::metrics::Metrics;
use crate::model::{BotIdentity, Request};
use crate::slack::events::{Envelope, Inbound};

/// How long an event id or message is remembered as answered. Slack retries
/// within minutes, so an hour covers every retry.
const ANSWERED_TTL: Duration = Duration::from_secs(60 * 60);

/// What to answer the door an envelope came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack,
    /// The URL verification's challenge, echoed.
    Challenge(String),
}

/// The intake; cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    inner: Arc<Inner>,
}

struct Inner {
    bot: Arc<Bot>,
    metrics: Arc<Metrics>,
    seen: Cache<String, ()>,
    work: TaskTracker,
    /// Event ids acked but not yet answered.
    in_flight: Mutex<HashSet<String>>,
}

impl Inbox {
    pub fn new(bot: Arc<Bot>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
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

    /// Who the bot is, so that the doors can tell its own messages when parsing.
    pub fn identity(&self) -> &BotIdentity {
        self.inner.bot.identity()
    }

    pub fn bot(&self) -> &Bot {
        &self.inner.bot
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Handles one authenticated, parsed envelope: dedupes, starts the answer
    /// without waiting, counts it. `retry` is Slack's retry number, when it said.
    pub async fn accept(
        &self,
        envelope: Envelope,
        retry: Option<&str>,
        received: Instant,
    ) -> Reply {
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
                let outcome = self.start(event_id, event, received).instrument(span).await;
                (event_type, outcome, Reply::Ack)
            }
        };
        self.record(event_type, outcome, received);
        reply
    }

    /// Counts an event and how long it took to ack; the doors call it for what
    /// they refuse before parsing (`rejected_signature`, `malformed`).
    pub fn record(&self, event_type: &'static str, outcome: &'static str, received: Instant) {
        self.inner.metrics.event(event_type, outcome);
        self.inner.metrics.ack_latency(received.elapsed());
    }

    /// Decides whether an event gets an answer, and if so starts it. Returns the
    /// outcome for metrics.
    async fn start(&self, event_id: String, event: Inbound, received: Instant) -> &'static str {
        let request = match event {
            Inbound::Request(request) => request,
            Inbound::Ignored(reason) => {
                tracing::debug!(reason = reason.as_str(), "event ignored");
                return "ignored";
            }
        };
        tracing::Span::current().record("channel", request.channel.as_str());
        // A retry has the same event id; the same message can also come back under
        // a new one. Either way it is answered once.
        let message_key = format!("message:{}:{}", request.channel, request.ts);
        if !self.first_sighting(format!("event:{event_id}")).await
            || !self.first_sighting(message_key).await
        {
            tracing::info!("duplicate delivery, already answered");
            return "duplicate";
        }
        if let Ok(mut in_flight) = self.inner.in_flight.lock() {
            in_flight.insert(event_id.clone());
        }
        let inbox = self.clone();
        self.inner.work.spawn(
            async move {
                inbox.answer(&request, received).await;
                if let Ok(mut in_flight) = inbox.inner.in_flight.lock() {
                    in_flight.remove(&event_id);
                }
            }
            .instrument(tracing::Span::current()),
        );
        "answered"
    }

    async fn answer(&self, request: &Request, received: Instant) {
        match self.inner.bot.answer(request).await {
            Ok(()) => {
                self.inner.metrics.reply("posted");
                self.inner.metrics.reply_latency(received.elapsed());
                tracing::info!(user = %request.user, "answered");
            }
            Err(error) if error.may_have_landed() => {
                self.inner.metrics.reply("uncertain");
                tracing::warn!(
                    %error,
                    "the reply may have been posted; not sent again, so it is never posted twice"
                );
            }
            Err(error) => {
                self.inner.metrics.reply("failed");
                tracing::error!(%error, "could not post the reply; it is lost");
            }
        }
    }

    /// True the first time `key` is seen within [`ANSWERED_TTL`].
    async fn first_sighting(&self, key: String) -> bool {
        self.inner.seen.entry(key).or_insert(()).await.is_fresh()
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
}
