//! The one intake for Slack events, whichever door they came through: dedupe by
//! message (whichever event id it came under), admission within `MAX_IN_FLIGHT`,
//! start the answer without waiting, track what is in flight, and drain it at
//! shutdown. It knows no HTTP framework and no socket.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::recent::RecentKeys;
use crate::bot::{Bot, FormErrors};
use crate::metrics::Metrics;
use crate::model::{
    AlertUpdate, BotIdentity, Click, FormField, FormOpening, FormSubmission, IncidentEvent,
    OverrideButton, OverrideClick, Request, SlashCommand,
};
use crate::overrides::{Confirmation, Said, UndoClick};
use crate::slack::events::{Envelope, Inbound};
use crate::store::{Phase, SharedState, Work};

/// How old an incident event (PagerDuty's) may be when it arrives: no older
/// than the hour in which the alert threads remember each delivery, so that a
/// signed body sent again is either remembered there or too old here.
const INCIDENT_EVENT_MAX_AGE: Duration = Duration::from_secs(60 * 60);

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
    /// How long an event's ack may wait for its answer (`ACK_BUDGET`; zero:
    /// acked at once).
    ack_budget: Duration,
    metrics: Arc<Metrics>,
    /// What other replicas answered (`STATE_URL`); without it, only this
    /// process's own memory counts.
    shared: Arc<SharedState>,
    max_in_flight: usize,
    books: Mutex<Books>,
    work: TaskTracker,
    /// Busy notices on their way.
    busy_notices: std::sync::atomic::AtomicUsize,
}

/// What was seen and what is in flight, under one lock so that "is it new?",
/// "is there room?" and "record it" are one step.
struct Books {
    seen: RecentKeys,
    /// Messages being answered here, by `channel:ts`: a second delivery waits
    /// on the first.
    answering: HashMap<String, tokio::sync::watch::Sender<Progress>>,
    /// Work acked but not finished (answers, clicks, commands, webhook
    /// deliveries), by ticket: what it is, for the log at shutdown.
    in_flight: HashMap<u64, String>,
    next_ticket: u64,
}

/// One place of `MAX_IN_FLIGHT`, given back when dropped: when the work ends,
/// however it ends (a panic included).
struct Slot {
    inner: Arc<Inner>,
    ticket: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner
            .books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight
            .remove(&self.ticket);
    }
}

/// How many "busy, try again" notices may be on their way at once: past
/// `MAX_IN_FLIGHT`, a flood of clicks must not become a flood of notices.
const MAX_BUSY_NOTICES: usize = 64;

/// What a person is told when the work for them failed unexpectedly.
pub const PANIC_TEXT: &str =
    "Sorry, something went wrong on my side while doing that; it has been logged. Please try again.";

/// By when a form's check must be done, from the moment its request came in:
/// Slack waits three seconds for the answer that keeps the form open with
/// errors, and the answer must travel.
pub const FORM_CHECK_WITHIN: Duration = Duration::from_millis(2_500);

/// What a form shows when it could not be checked in time.
const FORM_SLOW_TEXT: &str = "I could not check this in time; please submit again.";

/// Where the answer to a message stands, for a second delivery that waits on
/// it in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Working,
    Answered,
    /// Given up without an answer (it surely did not land): take it again.
    Released,
}

/// What the held work came to, for the ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Posted,
    /// Another replica took the message over: it answers.
    Superseded,
    /// Surely not posted: Slack should deliver it again.
    NotPosted,
}

/// A claim won with less of the budget left than this is answered, but not
/// acked in the same breath.
const LATE_CLAIM: Duration = Duration::from_millis(300);

/// How often a delivery waiting on another replica's claim looks again.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// What a person is told when their click or command was not taken.
pub const BUSY_TEXT: &str =
    "I am busy with many requests right now, so I did nothing; please try again in a moment.";

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
                ack_budget: Duration::ZERO,
                metrics,
                shared,
                max_in_flight,
                books: Mutex::new(Books {
                    seen: RecentKeys::new(DEDUPE_WINDOW, Instant::now()),
                    answering: HashMap::new(),
                    in_flight: HashMap::new(),
                    next_ticket: 0,
                }),
                work: TaskTracker::new(),
                busy_notices: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    /// Holds each event's ack until its answer is posted, for at most
    /// `budget` from its arrival (`ACK_BUDGET`).
    pub fn with_ack_budget(self, budget: Duration) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.ack_budget = budget;
                Self {
                    inner: Arc::new(inner),
                }
            }
            // Only called while building, before any clone.
            Err(inner) => Self { inner },
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

    /// A place for `what` within `MAX_IN_FLIGHT`, or `None` when there is no room.
    fn admit(&self, what: String) -> Option<Slot> {
        let mut books = self.books();
        Self::admit_in(&mut books, &self.inner, what)
    }

    fn admit_in(books: &mut Books, inner: &Arc<Inner>, what: String) -> Option<Slot> {
        if books.in_flight.len() >= inner.max_in_flight {
            return None;
        }
        books.next_ticket += 1;
        let ticket = books.next_ticket;
        books.in_flight.insert(ticket, what);
        Some(Slot {
            inner: Arc::clone(inner),
            ticket,
        })
    }

    /// How much work is in flight.
    pub fn in_flight(&self) -> usize {
        self.books().in_flight.len()
    }

    /// What a message's answer says in its thread when its work panicked.
    fn sorry_in_thread(&self, request: &Request) -> impl Future<Output = ()> + Send + 'static {
        let (bot, request) = (Arc::clone(&self.inner.bot), request.clone());
        async move {
            let _ = bot
                .say_in_thread(&request.channel, &request.thread_ts, PANIC_TEXT)
                .await;
        }
    }

    /// Runs `work` on the tracker in its `slot`: a panic is caught, logged as
    /// an error in the work's span, counted (`task_panics_total{kind}`), and
    /// `on_panic` runs (to tell the person something went wrong); the slot is
    /// given back whatever happens.
    fn spawn_in<W, P>(
        &self,
        slot: Slot,
        kind: &'static str,
        span: tracing::Span,
        work: W,
        on_panic: P,
    ) where
        W: Future<Output = ()> + Send + 'static,
        P: Future<Output = ()> + Send + 'static,
    {
        let metrics = Arc::clone(&self.inner.metrics);
        self.inner.work.spawn(
            async move {
                let _slot = slot;
                if AssertUnwindSafe(work).catch_unwind().await.is_err() {
                    metrics.task_panic(kind);
                    tracing::error!(kind, "the work panicked; its place is given back");
                    on_panic.await;
                }
            }
            .instrument(span),
        );
    }

    /// Runs `work` within `MAX_IN_FLIGHT` (see [`Self::spawn_in`]); `false`,
    /// with nothing started, when there is no room.
    pub fn run_guarded<W>(&self, kind: &'static str, what: String, work: W) -> bool
    where
        W: Future<Output = ()> + Send + 'static,
    {
        match self.admit(what) {
            Some(slot) => {
                self.spawn_in(slot, kind, tracing::Span::current(), work, async {});
                true
            }
            None => false,
        }
    }

    /// Tells a person privately that their click or command was not taken,
    /// unless too many such notices are on their way already.
    fn tell_busy(&self, tell: impl Future<Output = ()> + Send + 'static) {
        use std::sync::atomic::Ordering;
        let inner = Arc::clone(&self.inner);
        if inner.busy_notices.fetch_add(1, Ordering::Relaxed) >= MAX_BUSY_NOTICES {
            inner.busy_notices.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("too busy to even say so; a click or command dropped");
            return;
        }
        tokio::spawn(async move {
            tell.await;
            inner.busy_notices.fetch_sub(1, Ordering::Relaxed);
        });
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

    /// Handles one authenticated, parsed envelope as [`Self::accept`] does,
    /// but, with an `ACK_BUDGET`, acks a person's message only once its answer
    /// is posted, or once the budget runs out (then the answer goes on, as
    /// with an ack first): a process that dies with the message unanswered
    /// has not acked it, and Slack delivers it again.
    pub async fn accept_event(
        &self,
        envelope: Envelope,
        retry: Option<&str>,
        received: Instant,
    ) -> Reply {
        if self.inner.ack_budget.is_zero() {
            return self.accept(envelope, retry, received);
        }
        let Envelope::Callback {
            event_id,
            event_type,
            event: Inbound::Request(request),
        } = envelope
        else {
            return self.accept(envelope, retry, received);
        };
        let span = tracing::info_span!(
            "slack_event",
            %event_id,
            channel = %request.channel,
            retry = retry.unwrap_or("0")
        );
        let (outcome, reply) = self
            .answer_within_budget(request, received)
            .instrument(span)
            .await;
        self.record(event_type, outcome, received);
        reply
    }

    /// Claims the message (here, then across replicas), answers it, and
    /// waits for the answer until the budget runs out.
    async fn answer_within_budget(
        &self,
        request: Request,
        received: Instant,
    ) -> (&'static str, Reply) {
        let deadline = received + self.inner.ack_budget;
        let key = format!("{}:{}", request.channel, request.ts);
        // Here: answered, being answered (wait for it), or ours.
        let (slot, progress, unclaimed) = loop {
            let waiting = {
                let now = Instant::now();
                let mut books = self.books();
                if books.seen.contains(&key.as_str(), now) {
                    return ("duplicate", Reply::Ack);
                }
                match books.answering.get(&key) {
                    Some(sender) => sender.subscribe(),
                    None => {
                        let Some(slot) =
                            Self::admit_in(&mut books, &self.inner, format!("the message {key}"))
                        else {
                            tracing::warn!(
                                max_in_flight = self.inner.max_in_flight,
                                "too much work in flight; not acked, so Slack delivers it again"
                            );
                            return ("shed", Reply::Overloaded);
                        };
                        let (sender, _) = tokio::sync::watch::channel(Progress::Working);
                        books.answering.insert(key.clone(), sender.clone());
                        // From here, however this delivery ends (its handler
                        // dropped by a closed connection included), nobody
                        // waits on this claim for ever.
                        let unclaimed = Unclaimed {
                            inbox: self.clone(),
                            key: key.clone(),
                            progress: sender.clone(),
                        };
                        break (slot, sender, unclaimed);
                    }
                }
            };
            match wait_for(waiting, deadline).await {
                Some(Progress::Answered) => return ("duplicate", Reply::Ack),
                Some(Progress::Released) => continue,
                _ => {
                    tracing::info!(
                        "the same message is being answered here; Slack may deliver it again"
                    );
                    return ("in_progress", Reply::Overloaded);
                }
            }
        };
        // Across replicas, within the budget: the store is on the ack's path
        // now, bounded as every call to it (and when it fails, this process's
        // own claim stands).
        let hold = claim_hold(self.inner.ack_budget);
        let key_shared = format!("answer:{key}");
        loop {
            match self
                .inner
                .shared
                .begin_work(&key_shared, Phase::Posting, hold, DEDUPE_WINDOW)
                .await
            {
                Some(Work::Done) => {
                    self.settle(&key, Progress::Answered, &progress);
                    return ("duplicate", Reply::Ack);
                }
                Some(Work::Busy) if Instant::now() + CLAIM_POLL < deadline => {
                    tokio::time::sleep(CLAIM_POLL).await;
                }
                Some(Work::Busy) => {
                    self.settle(&key, Progress::Released, &progress);
                    tracing::info!("another replica is answering it; Slack delivers it again");
                    return ("in_progress", Reply::Overloaded);
                }
                Some(Work::TakenOver { was_posting }) => {
                    tracing::warn!(
                        was_posting,
                        "took over a message whose replica stopped answering it"
                    );
                    if was_posting {
                        // Its replica died while posting: that post may have
                        // landed, and this answer is a second one. Counted
                        // now, whatever becomes of this answer.
                        self.inner.metrics.reply("possible_duplicate");
                    }
                    break;
                }
                Some(Work::Mine) | None => break,
            }
        }
        drop(progress);
        // Won with too little of the budget left for the answer to come within
        // it: answered all the same, but not acked, so that a death now loses
        // nothing (Slack's retry finds it answered, or takes it over).
        let too_late = deadline.saturating_duration_since(Instant::now()) < LATE_CLAIM;
        let (done, outcome) = tokio::sync::oneshot::channel();
        let inbox = self.clone();
        let on_panic = self.sorry_in_thread(&request);
        self.spawn_in(
            slot,
            "answer",
            tracing::Span::current(),
            async move {
                // However the work ends (a panic included), nobody waits on
                // it here for ever.
                let _unclaimed = unclaimed;
                let held = inbox
                    .answer_claimed(&request, &key, &key_shared, received)
                    .await;
                let _ = done.send(held);
            },
            on_panic,
        );
        if too_late {
            tracing::info!("claimed with too little budget left; Slack delivers it again");
            return ("claimed_late", Reply::Overloaded);
        }
        match tokio::time::timeout_at(deadline.into(), outcome).await {
            Ok(Ok(Held::Posted | Held::Superseded)) | Ok(Err(_)) => ("answered", Reply::Ack),
            Ok(Ok(Held::NotPosted)) => ("failed", Reply::Overloaded),
            Err(_) => {
                tracing::info!("the answer outlasted the ack budget; acked, the answer goes on");
                ("answered_late", Reply::Ack)
            }
        }
    }

    /// Answers a claimed message, renewing the shared claim meanwhile, and
    /// records what came of it here and across replicas.
    async fn answer_claimed(
        &self,
        request: &Request,
        key: &str,
        key_shared: &str,
        received: Instant,
    ) -> Held {
        let shared = &self.inner.shared;
        // The claim was begun *posting*: a quick answer costs no more round
        // trips to the store than the claim and its record. A slow one is
        // renewed as *working* meanwhile (a replica that dies then has posted
        // nothing), and marked *posting* again before it posts.
        let posting = std::sync::atomic::AtomicBool::new(false);
        let renewed = std::sync::atomic::AtomicBool::new(false);
        let hold = claim_hold(self.inner.ack_budget);
        let bot = &self.inner.bot;
        let posted = shared
            .renewing(key_shared, &posting, &renewed, hold, DEDUPE_WINDOW, async {
                let reply = Box::pin(bot.reply_to(request)).await;
                posting.store(true, std::sync::atomic::Ordering::Relaxed);
                if renewed.load(std::sync::atomic::Ordering::Relaxed)
                    && shared
                        .mark_work(key_shared, Phase::Posting, hold, DEDUPE_WINDOW)
                        .await
                        == Some(false)
                {
                    // Its claim lapsed and another replica took it over:
                    // that one answers.
                    return None;
                }
                Some(bot.post_reply(request, reply).await)
            })
            .await;
        let Some(posted) = posted else {
            tracing::warn!(
                "another replica took this message over while it was worked out; it answers"
            );
            if let Some(progress) = self.books().answering.get(key).cloned() {
                self.settle(key, Progress::Released, &progress);
            }
            return Held::Superseded;
        };
        let progress = self.books().answering.get(key).cloned();
        let held = match posted {
            Ok(()) => {
                self.inner.metrics.reply("posted");
                self.inner.metrics.reply_latency(received.elapsed());
                tracing::info!(user = %request.user, "answered");
                Held::Posted
            }
            Err(error) if error.may_have_landed() => {
                self.inner.metrics.reply("uncertain");
                tracing::warn!(
                    %error,
                    "the reply may have been posted; not sent again, so it is never posted twice"
                );
                Held::Posted
            }
            Err(error) => {
                self.inner.metrics.reply("failed");
                tracing::error!(%error, "could not post the reply; Slack delivers it again if the ack was held");
                Held::NotPosted
            }
        };
        match held {
            Held::Posted => {
                shared.finish_work(key_shared, DEDUPE_WINDOW).await;
                if let Some(progress) = progress {
                    self.settle(key, Progress::Answered, &progress);
                }
            }
            Held::NotPosted | Held::Superseded => {
                shared.abandon_work(key_shared).await;
                if let Some(progress) = progress {
                    self.settle(key, Progress::Released, &progress);
                }
            }
        }
        held
    }

    /// The message `key` is answered (remembered as seen) or given up, and
    /// whoever waits on it here is told.
    fn settle(
        &self,
        key: &str,
        outcome: Progress,
        progress: &tokio::sync::watch::Sender<Progress>,
    ) {
        let mut books = self.books();
        if outcome == Progress::Answered {
            books.seen.insert(&key, Instant::now());
        }
        let ours = books
            .answering
            .get(key)
            .is_some_and(|held| held.same_channel(progress));
        if ours {
            books.answering.remove(key);
        }
        drop(books);
        progress.send_replace(outcome);
    }

    /// A click on an alert button: acted on after the ack, tracked like an
    /// answer so that shutdown lets it finish; over `MAX_IN_FLIGHT`, the clicker
    /// is told privately to try again (Slack never sends a click twice).
    pub fn accept_click(&self, click: Click, received: Instant) {
        let Some(threads) = self.inner.bot.alert_threads().cloned() else {
            tracing::info!("a click on an alert button, but alerts are off; ignored");
            self.record("block_actions", "ignored", received);
            return;
        };
        let span = tracing::info_span!(
            "slack_interaction",
            action = click.action.as_str(),
            channel = %click.channel,
            user = %click.user
        );
        let Some(slot) = self.admit(format!("a click on {}", click.action.as_str())) else {
            let bot = Arc::clone(&self.inner.bot);
            self.tell_busy(async move {
                bot.tell_privately(
                    &click.channel,
                    &click.user,
                    click.thread_ts.as_deref(),
                    BUSY_TEXT,
                )
                .await;
            });
            self.record("block_actions", "shed", received);
            return;
        };
        let (bot, place) = (
            Arc::clone(&self.inner.bot),
            (
                click.channel.clone(),
                click.user.clone(),
                click.thread_ts.clone(),
            ),
        );
        self.spawn_in(
            slot,
            "click",
            span,
            async move { threads.click(&click).await },
            async move {
                bot.tell_privately(&place.0, &place.1, place.2.as_deref(), PANIC_TEXT)
                    .await;
            },
        );
        self.record("block_actions", "answered", received);
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
        let Some(slot) = self.admit("a click on Confirm or Undo".to_owned()) else {
            self.tell_busy(async move {
                bot.tell_clicker(&click, BUSY_TEXT).await.unwrap_or_else(
                    |error| tracing::warn!(%error, "could not say the bot is busy"),
                );
            });
            self.record("block_actions", "shed", received);
            return;
        };
        let on_panic = {
            let (bot, click) = (Arc::clone(&bot), click.clone());
            async move {
                let _ = bot.tell_clicker(&click, PANIC_TEXT).await;
            }
        };
        self.spawn_in(
            slot,
            "take_call_click",
            span,
            async move {
                let (said, in_place) = match &click.button {
                    OverrideButton::Confirm { request } => {
                        let said = overrides
                            .confirm(Confirmation::Button {
                                request,
                                user: &click.user,
                            })
                            .await;
                        (said, false)
                    }
                    OverrideButton::Cover { request } => {
                        let said = overrides
                            .cover(request, &click.user, click.user_team.as_deref())
                            .await;
                        (said, true)
                    }
                    OverrideButton::Withdraw { request } => {
                        let said = overrides.withdraw(request, &click.user).await;
                        (said, true)
                    }
                    OverrideButton::Undo { made } => {
                        let message = match (click.ephemeral, &click.message_ts) {
                            (false, Some(ts)) => Some((click.channel.as_str(), ts.as_str())),
                            _ => None,
                        };
                        let said = overrides
                            .undo(UndoClick {
                                made,
                                user: &click.user,
                                message,
                                thread_ts: click.thread_ts.as_deref(),
                            })
                            .await;
                        (said, true)
                    }
                };
                let told = match said {
                    Said::Public(reply) => bot.say_where_clicked(&click, &reply, in_place).await,
                    Said::Private(text) => bot.tell_clicker(&click, &text).await,
                };
                if let Err(error) = told {
                    tracing::error!(%error, "could not say what became of the click");
                }
            },
            on_panic,
        );
        self.record("block_actions", "answered", received);
    }

    /// A Home tab button: the form is opened with its trigger (good for three
    /// seconds) right after the ack. Over `MAX_IN_FLIGHT` nothing opens, and
    /// the person may click again.
    pub fn accept_form_opening(&self, opening: FormOpening, received: Instant) {
        let bot = Arc::clone(&self.inner.bot);
        let span = tracing::info_span!("home_button", user = %opening.user);
        let Some(slot) = self.admit("a Home tab button".to_owned()) else {
            tracing::warn!(user = %opening.user, "too busy to open a form");
            self.record("block_actions", "shed", received);
            return;
        };
        self.spawn_in(
            slot,
            "open_form",
            span,
            async move {
                if let Err(error) = Box::pin(bot.open_form(&opening)).await {
                    tracing::error!(%error, "could not open the form");
                }
            },
            async {},
        );
        self.record("block_actions", "answered", received);
    }

    /// A submitted form: checked before the ack, so that what is wrong shows
    /// in the form (`Err`, within [`FORM_CHECK_WITHIN`]); when it is right,
    /// the request is made after the ack and the form closes (`Ok`).
    pub async fn accept_submission(
        &self,
        form: FormSubmission,
        received: Instant,
    ) -> Result<(), FormErrors> {
        let span = tracing::info_span!("form_submission", user = %form.user);
        // A form sent again (Slack's retry, a second press after an error) is
        // acted on once: its view is the key, here and, after the ack, in
        // the shared state.
        let key = form.view_id.clone().map(|view| format!("form:{view}"));
        if let Some(key) = &key {
            if self.books().seen.contains(&key.as_str(), Instant::now()) {
                tracing::info!(parent: &span, "a form submitted again; acted on once");
                self.record("view_submission", "duplicate", received);
                return Ok(());
            }
        }
        let Some(slot) = self.admit("a form".to_owned()) else {
            self.record("view_submission", "shed", received);
            return Err(vec![(FormField::Team, BUSY_TEXT.to_owned())]);
        };
        let bot = Arc::clone(&self.inner.bot);
        let budget = FORM_CHECK_WITHIN.saturating_sub(received.elapsed());
        let check = Box::pin(AssertUnwindSafe(bot.check_form(&form)).catch_unwind());
        let checked = match tokio::time::timeout(budget, check)
            .instrument(span.clone())
            .await
        {
            Ok(Ok(checked)) => checked,
            Ok(Err(_)) => {
                self.inner.metrics.task_panic("form_check");
                tracing::error!(parent: &span, "checking a form panicked");
                self.record("view_submission", "failed", received);
                return Err(vec![(FormField::Team, PANIC_TEXT.to_owned())]);
            }
            Err(_) => {
                tracing::warn!(parent: &span, "a form could not be checked in time");
                self.record("view_submission", "slow", received);
                return Err(vec![(FormField::When, FORM_SLOW_TEXT.to_owned())]);
            }
        };
        let request = match checked {
            Ok(request) => request,
            Err(errors) => {
                tracing::info!(parent: &span, fields = errors.len(), "a form sent back with errors");
                self.record("view_submission", "refused", received);
                return Err(errors);
            }
        };
        if let Some(key) = &key {
            self.books().seen.insert(&key.as_str(), Instant::now());
        }
        let on_panic = {
            let (bot, user) = (Arc::clone(&bot), request.user.clone());
            async move { bot.tell_by_dm(&user, PANIC_TEXT).await }
        };
        let shared = Arc::clone(&self.inner.shared);
        self.spawn_in(
            slot,
            "form",
            span,
            async move {
                if let Some(key) = key {
                    if shared.claim(&key, DEDUPE_WINDOW).await == Some(false) {
                        tracing::info!("a form another replica acted on already");
                        return;
                    }
                }
                if let Err(error) = Box::pin(bot.act_on_form(&request)).await {
                    tracing::error!(%error, "could not answer the form");
                }
            },
            on_panic,
        );
        self.record("view_submission", "answered", received);
        Ok(())
    }

    /// A slash command: answered at its `response_url` after the ack; over
    /// `MAX_IN_FLIGHT`, the caller is told there to try again.
    pub fn accept_command(&self, command: SlashCommand, received: Instant) {
        let bot = Arc::clone(&self.inner.bot);
        let metrics = Arc::clone(&self.inner.metrics);
        let span =
            tracing::info_span!("slash_command", channel = %command.channel, user = %command.user);
        let Some(slot) = self.admit("a slash command".to_owned()) else {
            self.tell_busy(async move {
                bot.respond_privately(&command.response_url, BUSY_TEXT)
                    .await;
            });
            self.record("slash_command", "shed", received);
            return;
        };
        let on_panic = {
            let (bot, url) = (Arc::clone(&bot), command.response_url.clone());
            async move { bot.respond_privately(&url, PANIC_TEXT).await }
        };
        self.spawn_in(
            slot,
            "slash_command",
            span,
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
            },
            on_panic,
        );
        self.record("slash_command", "answered", received);
    }

    /// One delivery of the provider's webhook: reflected in its thread after
    /// the 200. `false` when there is no room: the door answers 503, and the
    /// provider delivers it again.
    pub fn accept_alert_update(&self, update: AlertUpdate) -> bool {
        let Some(threads) = self.inner.bot.alert_threads().cloned() else {
            tracing::info!("an alert webhook, but alerts are off; ignored");
            return true;
        };
        let Some(slot) = self.admit("a webhook delivery".to_owned()) else {
            self.inner.metrics.alert_webhook("shed");
            return false;
        };
        let metrics = Arc::clone(&self.inner.metrics);
        let span = tracing::info_span!("alert_webhook", alias = %update.alias);
        self.spawn_in(
            slot,
            "alert_webhook",
            span,
            async move {
                let reflected = threads.reflect(&update).await;
                metrics.alert_webhook(reflected.as_str());
                tracing::info!(reflected = reflected.as_str(), "alert webhook handled");
            },
            async {},
        );
        true
    }

    /// One delivery of a webhook that names its alert by the provider's id
    /// (PagerDuty's v3): dropped when its `webhook_id` came before (deliveries
    /// are at least once), else looked up and reflected after the 2xx. `false`
    /// when there is no room (the door answers 503, and it comes again).
    pub fn accept_incident_event(&self, event: IncidentEvent, webhook_id: Option<&str>) -> bool {
        let Some(threads) = self.inner.bot.alert_threads().cloned() else {
            tracing::info!("an alert webhook, but alerts are off; ignored");
            return true;
        };
        // PagerDuty's signature covers no time: the event's own (signed)
        // time bounds a replay. Within the hour the deliveries' dedupe drops
        // it; past it, this does.
        let age = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos())
            .saturating_sub(event.updated_at);
        if age > INCIDENT_EVENT_MAX_AGE.as_nanos() {
            self.inner.metrics.alert_webhook("too_old");
            tracing::info!(
                incident = %event.incident,
                "an incident event over an hour old (or with no time); ignored"
            );
            return true;
        }
        // Seen by its delivery id, or by the event's own id (signed, so that
        // a body sent again under a fresh delivery id is known too).
        let keys: Vec<(&str, &str)> = webhook_id
            .map(|id| ("webhook", id))
            .into_iter()
            .chain(event.event_id.as_deref().map(|id| ("event", id)))
            .collect();
        if keys
            .iter()
            .any(|key| self.books().seen.contains(key, Instant::now()))
        {
            self.inner.metrics.alert_webhook("repeated");
            return true;
        }
        let Some(slot) = self.admit("a webhook delivery".to_owned()) else {
            // Not marked seen: the delivery answered 503 comes again.
            self.inner.metrics.alert_webhook("shed");
            return false;
        };
        {
            let mut books = self.books();
            for key in &keys {
                books.seen.insert(key, Instant::now());
            }
        }
        let metrics = Arc::clone(&self.inner.metrics);
        let span = tracing::info_span!("alert_webhook", incident = %event.incident);
        self.spawn_in(
            slot,
            "alert_webhook",
            span,
            async move {
                let reflected = Box::pin(threads.reflect_event(&event)).await;
                metrics.alert_webhook(reflected.as_str());
                tracing::info!(reflected = reflected.as_str(), "alert webhook handled");
            },
            async {},
        );
        true
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
            Inbound::HomeOpened { user } => return self.open_home(event_id, user),
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
        let slot = {
            let now = Instant::now();
            let mut books = self.books();
            if books.seen.contains(&message_key, now) {
                drop(books);
                tracing::info!("duplicate delivery, already answered");
                return ("duplicate", Reply::Ack);
            }
            let Some(slot) =
                Self::admit_in(&mut books, &self.inner, format!("the event {event_id}"))
            else {
                drop(books);
                tracing::warn!(
                    max_in_flight = self.inner.max_in_flight,
                    "too much work in flight; not acked, so Slack delivers it again"
                );
                return ("shed", Reply::Overloaded);
            };
            books.seen.insert(&message_key, now);
            slot
        };
        let inbox = self.clone();
        let on_panic = self.sorry_in_thread(&request);
        self.spawn_in(
            slot,
            "answer",
            tracing::Span::current(),
            async move {
                if inbox.answered_elsewhere(&request).await {
                    inbox.inner.metrics.reply("answered_elsewhere");
                    tracing::info!("duplicate delivery, answered by another replica");
                } else {
                    inbox.answer(&request, received).await;
                }
            },
            on_panic,
        );
        ("answered", Reply::Ack)
    }

    /// A Home tab opened: published after the ack, once per event (a retry of
    /// the event is acked and dropped; publishing twice would do no harm).
    fn open_home(&self, event_id: String, user: String) -> (&'static str, Reply) {
        let key = ("app_home_opened", event_id.as_str());
        let slot = {
            let now = Instant::now();
            let mut books = self.books();
            if books.seen.contains(&key, now) {
                return ("duplicate", Reply::Ack);
            }
            let Some(slot) = Self::admit_in(&mut books, &self.inner, "a Home tab".to_owned())
            else {
                return ("shed", Reply::Overloaded);
            };
            books.seen.insert(&key, now);
            slot
        };
        let bot = Arc::clone(&self.inner.bot);
        self.spawn_in(
            slot,
            "home",
            tracing::Span::current(),
            async move {
                match Box::pin(bot.publish_home(&user)).await {
                    Ok(()) => tracing::info!("Home tab published"),
                    Err(error) => tracing::error!(%error, "could not publish the Home tab"),
                }
            },
            async {},
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
        let lost: Vec<String> = self.books().in_flight.values().cloned().collect();
        for what in &lost {
            tracing::error!(%what, "shutting down before this acked work was done");
        }
        lost.len()
    }
}

/// Gives up the message's claim here when its delivery or its work ended
/// without settling it: only this claim, not a later one for the same message.
struct Unclaimed {
    inbox: Inbox,
    key: String,
    progress: tokio::sync::watch::Sender<Progress>,
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        let mut books = self.inbox.books();
        let ours = books
            .answering
            .get(&self.key)
            .is_some_and(|held| held.same_channel(&self.progress));
        if ours {
            books.answering.remove(&self.key);
            drop(books);
            self.progress.send_replace(Progress::Released);
        }
    }
}

/// How long a claim *in progress* lasts unless renewed: half the ack budget
/// (a replica that dies leaves the message to another within it), at least
/// 200 ms.
fn claim_hold(budget: Duration) -> Duration {
    (budget / 2).max(Duration::from_millis(200))
}

/// Waits until `progress` leaves `Working`, or `deadline`; `None` then.
async fn wait_for(
    mut progress: tokio::sync::watch::Receiver<Progress>,
    deadline: Instant,
) -> Option<Progress> {
    let settled = progress.wait_for(|now| *now != Progress::Working);
    match tokio::time::timeout_at(deadline.into(), settled).await {
        Ok(Ok(now)) => Some(*now),
        // The sender is gone: the work ended without settling (a panic).
        Ok(Err(_)) => Some(Progress::Released),
        Err(_) => None,
    }
}
