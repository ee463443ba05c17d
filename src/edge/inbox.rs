//! The one intake for Slack events, whichever door they came through: dedupe by
//! message (whichever event id it came under), admission within `MAX_IN_FLIGHT`,
//! start the answer without waiting, track what is in flight, and drain it at
//! shutdown. It knows no HTTP framework and no socket.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::recent::RecentKeys;
use crate::bot::Bot;
use crate::metrics::Metrics;
use crate::model::{
    AlertUpdate, BotIdentity, Click, OverrideButton, OverrideClick, Request, SlashCommand,
};
use crate::overrides::{Confirmation, UndoClick};
use crate::slack::events::{Envelope, Inbound};
use crate::store::SharedState;

/// How long a message is remembered as answered. Slack retries
/// within about five minutes; this covers every retry with room to spare.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What to answer the door an envelope came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack,
    /// The URL verification's challenge, echoed.
    Challenge(String),
    /// Too much work in flight: not recorded as seen, so Slack's redelivery is
    /// answered later. HTTP answers 503; Socket Mode does not ack.
    Overloaded,
}

/// The intake; cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    inner: Arc<Inner>,
}

struct Inner {
    bot: Arc<Bot>,
    metrics: Arc<Metrics>,
    /// What other replicas answered (`STATE_URL`); without it, only this
    /// process's own memory counts.
    shared: Arc<SharedState>,
    max_in_flight: usize,
    books: Mutex<Books>,
    work: TaskTracker,
}

/// What was seen and what is in flight, under one lock so that "is it new?",
/// "is there room?" and "record it" are one step.
struct Books {
    seen: RecentKeys,
    /// Event ids acked but not yet answered.
    in_flight: HashSet<String>,
}

impl Inbox {
    pub fn new(
        bot: Arc<Bot>,
        metrics: Arc<Metrics>,
        shared: Arc<SharedState>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                bot,
                metrics,
                shared,
                max_in_flight,
                books: Mutex::new(Books {
                    seen: RecentKeys::new(DEDUPE_WINDOW, Instant::now()),
                    in_flight: HashSet::new(),
                }),
                work: TaskTracker::new(),
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

    fn books(&self) -> MutexGuard<'_, Books> {
        // The books hold no invariant a panic could break halfway.
        self.inner
            .books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles one authenticated, parsed envelope: dedupes, admits, starts the
    /// answer without waiting, counts it. `retry` is Slack's retry number.
    pub fn accept(&self, envelope: Envelope, retry: Option<&str>, received: Instant) -> Reply {
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
                let (outcome, reply) = span.in_scope(|| self.start(event_id, event, received));
                (event_type, outcome, reply)
            }
        };
        self.record(event_type, outcome, received);
        reply
    }

    /// A click on an alert button: acted on after the ack, tracked like an
    /// answer so that shutdown lets it finish.
    pub fn accept_click(&self, click: Click, received: Instant) {
        let outcome = match self.inner.bot.alert_threads() {
            Some(threads) => {
                let threads = Arc::clone(threads);
                let span = tracing::info_span!(
                    "slack_interaction",
                    action = click.action.as_str(),
                    channel = %click.channel,
                    user = %click.user
                );
                self.inner
                    .work
                    .spawn(async move { threads.click(&click).await }.instrument(span));
                "answered"
            }
            None => {
                tracing::info!("a click on an alert button, but alerts are off; ignored");
                "ignored"
            }
        };
        self.record("block_actions", outcome, received);
    }

    /// A click on Confirm or Undo of a request to take the call: the override
    /// is made (or deleted) after the ack, and the outcome said where the
    /// button was: in its thread, in place of the message, or at the click's
    /// `response_url` when the message was ephemeral (`/oncall`).
    pub fn accept_override_click(&self, click: OverrideClick, received: Instant) {
        let Some(overrides) = self.inner.bot.overrides().cloned() else {
            tracing::info!("a click on Confirm or Undo, but taking the call is off; ignored");
            self.record("block_actions", "ignored", received);
            return;
        };
        let bot = Arc::clone(&self.inner.bot);
        let span =
            tracing::info_span!("take_call_click", channel = %click.channel, user = %click.user);
        self.inner.work.spawn(
            async move {
                let (reply, in_place) = match &click.button {
                    OverrideButton::Confirm { request } => {
                        let reply = overrides
                            .confirm(Confirmation::Button {
                                request,
                                user: &click.user,
                            })
                            .await;
                        (reply, false)
                    }
                    OverrideButton::Undo { made } => {
                        let message = match (click.ephemeral, &click.message_ts) {
                            (false, Some(ts)) => Some((click.channel.as_str(), ts.as_str())),
                            _ => None,
                        };
                        let reply = overrides
                            .undo(UndoClick {
                                made,
                                user: &click.user,
                                message,
                            })
                            .await;
                        (reply, true)
                    }
                };
                if let Err(error) = bot.say_where_clicked(&click, &reply, in_place).await {
                    tracing::error!(%error, "could not say what became of the click");
                }
            }
            .instrument(span),
        );
        self.record("block_actions", "answered", received);
    }

    /// A slash command: answered at its `response_url` after the ack.
    pub fn accept_command(&self, command: SlashCommand, received: Instant) {
        let bot = Arc::clone(&self.inner.bot);
        let metrics = Arc::clone(&self.inner.metrics);
        let span =
            tracing::info_span!("slash_command", channel = %command.channel, user = %command.user);
        self.inner.work.spawn(
            async move {
                match bot.answer_command(&command).await {
                    Ok(()) => {
                        metrics.reply("posted");
                        tracing::info!("answered the command");
                    }
                    Err(error) => {
                        metrics.reply("failed");
                        tracing::error!(%error, "could not answer the command");
                    }
                }
            }
            .instrument(span),
        );
        self.record("slash_command", "answered", received);
    }

    /// One delivery of the provider's webhook: reflected in its thread after
    /// the 200.
    pub fn accept_alert_update(&self, update: AlertUpdate) {
        let Some(threads) = self.inner.bot.alert_threads() else {
            tracing::info!("an alert webhook, but alerts are off; ignored");
            return;
        };
        let threads = Arc::clone(threads);
        let metrics = Arc::clone(&self.inner.metrics);
        let span = tracing::info_span!("alert_webhook", alias = %update.alias);
        self.inner.work.spawn(
            async move {
                let reflected = threads.reflect(&update).await;
                metrics.alert_webhook(reflected.as_str());
                tracing::info!(reflected = reflected.as_str(), "alert webhook handled");
            }
            .instrument(span),
        );
    }

    /// Counts an event and how long it took to ack; the doors call it for what
    /// they refuse before parsing (`rejected_signature`, `malformed`).
    pub fn record(&self, event_type: &'static str, outcome: &'static str, received: Instant) {
        self.inner.metrics.event(event_type, outcome);
        self.inner.metrics.ack_latency(received.elapsed());
    }

    /// Decides whether an event gets an answer, and if so starts it. Returns the
    /// outcome for metrics.
    fn start(&self, event_id: String, event: Inbound, received: Instant) -> (&'static str, Reply) {
        let request = match event {
            Inbound::Request(request) => request,
            Inbound::Ignored(reason) => {
                tracing::debug!(reason = reason.as_str(), "event ignored");
                return ("ignored", Reply::Ack);
            }
        };
        tracing::Span::current().record("channel", request.channel.as_str());
        // A retry has the same event id and the same message; the same message
        // can also come back under a new event id (an `app_mention` and a
        // `message` for one post). The message is the key either way: one key,
        // 8 bytes, per event seen.
        let message_key = (request.channel.as_str(), request.ts.as_str());
        {
            let now = Instant::now();
            let mut books = self.books();
            if books.seen.contains(&message_key, now) {
                drop(books);
                tracing::info!("duplicate delivery, already answered");
                return ("duplicate", Reply::Ack);
            }
            if books.in_flight.len() >= self.inner.max_in_flight {
                drop(books);
                tracing::warn!(
                    max_in_flight = self.inner.max_in_flight,
                    "too much work in flight; not acked, so Slack delivers it again"
                );
                return ("shed", Reply::Overloaded);
            }
            books.seen.insert(&message_key, now);
            books.in_flight.insert(event_id.clone());
        }
        let inbox = self.clone();
        self.inner.work.spawn(
            async move {
                if inbox.answered_elsewhere(&request).await {
                    inbox.inner.metrics.reply("answered_elsewhere");
                    tracing::info!("duplicate delivery, answered by another replica");
                } else {
                    inbox.answer(&request, received).await;
                }
                inbox.books().in_flight.remove(&event_id);
            }
            .instrument(tracing::Span::current()),
        );
        ("answered", Reply::Ack)
    }

    /// Whether another replica took this message first: the shared record
    /// decides, after the ack so that Redis is never on the ack's path. Without
    /// a store, or while it fails, this process's own record (made before the
    /// ack) stands.
    async fn answered_elsewhere(&self, request: &Request) -> bool {
        if !self.inner.shared.is_shared() {
            return false;
        }
        let key = format!("seen:{}:{}", request.channel, request.ts);
        self.inner.shared.claim(&key, DEDUPE_WINDOW).await == Some(false)
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
        let lost: Vec<String> = self.books().in_flight.iter().cloned().collect();
        for event_id in &lost {
            tracing::error!(%event_id, "shutting down before this acked event was answered");
        }
        lost.len()
    }
}
