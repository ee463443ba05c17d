//! Taking the call: the one home for schedule overrides. A request is checked
//! against the take-the-call policy ([`policy`]: the workspace, guests, the
//! schedule's rotations, the longest span), waits for its asker's Confirm
//! ([`book`]), then makes an override that replaces only the taker's
//! rotation(s), announces it where the team sees it and to each person it
//! replaces, and can be undone until its span starts. The `Bot` calls this
//! service; it knows neither HTTP nor wire formats.

pub mod book;
mod cover;
pub mod policy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::future::Cache;

use crate::metrics::Metrics;
use crate::model::{
    BotIdentity, OverrideButton, OverrideRequest, Person, RotationPlan, RotationRef, ThreadMessage,
};
use crate::oncall::OnCallDirectory;
use crate::providers::{ActionError, Provider};
use crate::slack::markup::{escape, slack_date};
use crate::slack::{SlackApi, SlackUser};
use crate::store::SharedState;
use crate::workspace::{self, Affiliation};
use book::{Book, Made as MadeOverride, Pending, StoredPerson, StoredRotation};
pub use cover::CoverRequest;
use policy::{check_span, Refusal};
pub use policy::{TakeCallPolicies, TakeCallPolicy};

/// How long a question to confirm stays open.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(10 * 60);

/// An override that starts at once can still be undone this long after it
/// was made (one that starts later, until it starts).
pub const UNDO_GRACE: Duration = Duration::from_secs(15 * 60);

/// How far back and ahead the timeline is read to find a schedule's people.
const MEMBERSHIP_WINDOW: Duration = Duration::from_secs(28 * 24 * 60 * 60);

/// How long the members of a user group named in `take_call_allowed` are
/// remembered.
const GROUP_TTL: Duration = Duration::from_secs(5 * 60);

/// How long a confirm or an undo is remembered as done.
const ONCE_WINDOW: Duration = Duration::from_secs(60 * 60);

/// How long an override is remembered for Undo beyond its start.
const MADE_TTL_MARGIN: Duration = Duration::from_secs(60 * 60);

/// Where a team's overrides are announced, and how the team is named there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub label: String,
    pub channel: Option<String>,
}

/// A request to take the call, as the `Bot` read it.
#[derive(Debug, Clone, Copy)]
pub struct TakeRequest<'a> {
    pub asker: &'a str,
    /// The asker's workspace, as the event or command names it.
    pub asker_team: Option<&'a str>,
    pub schedule: &'a str,
    /// How the answer names the schedule: its team's name, or its own.
    pub label: &'a str,
    pub from: SystemTime,
    pub until: SystemTime,
    /// The thread it was asked in; `None` for `/oncall` (no `@ops yes` then).
    pub thread: Option<(&'a str, &'a str)>,
}

/// Which pending request a confirmation is for.
#[derive(Debug, Clone, Copy)]
pub enum Confirmation<'a> {
    /// The Confirm button: the request's id.
    Button { request: &'a str, user: &'a str },
    /// `@ops yes` in a thread: the user's own request there.
    InThread {
        channel: &'a str,
        thread_ts: &'a str,
        user: &'a str,
    },
}

/// Where a click on Undo happened.
#[derive(Debug, Clone, Copy)]
pub struct UndoClick<'a> {
    pub made: &'a str,
    pub user: &'a str,
    /// The message the button is on, when it is not ephemeral, and its thread.
    pub message: Option<(&'a str, &'a str)>,
    pub thread_ts: Option<&'a str>,
}

/// When the shared state cannot say whether a confirm or an undo was done
/// already: better not to act than to act twice.
const CANNOT_BE_SURE_TEXT: &str = "I could not make sure this is done only once just now, so I \
did nothing; please try again in a minute.";

/// What making an override came to.
enum Made {
    Done(ThreadMessage),
    /// Not made; `retry`: it surely did not land, so the same Confirm may be
    /// pressed again.
    NotMade {
        text: String,
        retry: bool,
    },
}

/// What a confirmation or an undo comes to: news for where the button was (the
/// thread, the message in place), or words for the clicker alone, which must
/// not take the place of anything others read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Public(ThreadMessage),
    Private(String),
}

impl Said {
    /// As a thread reply (for `@ops yes`, which its writer said in the open).
    pub fn into_message(self) -> ThreadMessage {
        match self {
            Self::Public(message) => message,
            Self::Private(text) => ThreadMessage::plain(text),
        }
    }
}

/// The person taking the call, and the rotations their override replaces.
struct Standing {
    taker: Person,
    rotations: Vec<RotationRef>,
    /// In those rotations (rather than let in by `take_call_allowed`).
    member: bool,
}

/// The overrides service.
pub struct Overrides {
    provider: Arc<Provider>,
    directory: Arc<OnCallDirectory>,
    slack: Arc<SlackApi>,
    shared: Arc<SharedState>,
    metrics: Arc<Metrics>,
    home: BotIdentity,
    policies: TakeCallPolicies,
    /// Schedule → where its overrides are announced.
    announcements: HashMap<String, Announcement>,
    pending: Book<Pending>,
    /// (channel, thread, asker) → their pending request's id, for `@ops yes`.
    in_threads: Book<String>,
    made: Book<MadeOverride>,
    covers: Book<cover::Cover>,
    /// The requests for cover this process made that may still be open.
    open_covers: std::sync::Mutex<Vec<String>>,
    groups: Cache<String, Arc<Vec<String>>>,
    /// Confirms and undos done, when there is no shared state to say so.
    done_here: Cache<String, ()>,
    /// Requests per person in the current window, when there is no shared
    /// state to count them.
    asks: Cache<String, Arc<std::sync::atomic::AtomicU32>>,
}

impl Overrides {
    pub fn new(
        provider: Arc<Provider>,
        directory: Arc<OnCallDirectory>,
        slack: Arc<SlackApi>,
        shared: Arc<SharedState>,
        metrics: Arc<Metrics>,
        home: BotIdentity,
    ) -> Self {
        Self {
            pending: Book::new(Arc::clone(&shared), "take", 10_000, CONFIRM_WITHIN),
            in_threads: Book::new(Arc::clone(&shared), "take-thread", 10_000, CONFIRM_WITHIN),
            made: Book::new(
                Arc::clone(&shared),
                "made",
                10_000,
                policy::DEFAULT_MAX_SPAN * 52,
            ),
            covers: Book::new(
                Arc::clone(&shared),
                "cover",
                10_000,
                policy::HORIZON + Duration::from_secs(2 * 60 * 60),
            ),
            open_covers: std::sync::Mutex::new(Vec::new()),
            groups: Cache::builder()
                .time_to_live(GROUP_TTL)
                .max_capacity(1_000)
                .build(),
            done_here: Cache::builder()
                .time_to_live(ONCE_WINDOW)
                .max_capacity(10_000)
                .build(),
            asks: Cache::builder()
                .time_to_live(policy::ASKS_PER)
                .max_capacity(10_000)
                .build(),
            provider,
            directory,
            slack,
            shared,
            metrics,
            home,
            policies: TakeCallPolicies::default(),
            announcements: HashMap::new(),
        }
    }

    /// The take-the-call rules of each schedule.
    pub fn with_policies(mut self, policies: TakeCallPolicies) -> Self {
        self.policies = policies;
        self
    }

    /// Where each schedule's overrides are announced.
    pub fn with_announcements(mut self, announcements: HashMap<String, Announcement>) -> Self {
        self.announcements = announcements;
        self
    }

    fn source(&self) -> &'static str {
        self.provider.name()
    }

    /// `take call …`: checks the request, and asks its asker to confirm it, or
    /// says in one sentence why not. Nothing is created yet.
    pub async fn ask(&self, request: TakeRequest<'_>) -> ThreadMessage {
        match self.check(&request).await {
            Ok(message) => {
                self.metrics.take_call("asked");
                message
            }
            Err(refusal) => {
                self.metrics.take_call("refused");
                tracing::info!(refusal = ?refusal, "a request to take the call refused");
                ThreadMessage::plain(refusal.text())
            }
        }
    }

    /// The checks a request passes before anyone is asked (Slack, the
    /// provider): taking the call is on for the schedule, and the span is
    /// one that may be taken now. A form shows a refusal here beside its
    /// fields.
    pub fn check_quickly(
        &self,
        schedule: &str,
        label: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<(), Refusal> {
        let policy = self.policies.for_schedule(schedule);
        if !policy.enabled {
            return Err(Refusal::Off {
                label: label.to_owned(),
            });
        }
        check_span(from, until, SystemTime::now(), policy)
    }

    /// Whether requests for cover for `schedule` have a channel of their own.
    pub fn has_announce_channel(&self, schedule: &str) -> bool {
        self.announce_channel(schedule).is_some()
    }

    /// The checks every request to take someone's call passes, asking Slack
    /// and the provider: the team's rules, the span, the person's allowance,
    /// their workspace, no guest, and their place in the schedule's rotations.
    async fn admit(
        &self,
        user: &str,
        user_team: Option<&str>,
        schedule: &str,
        label: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Standing, Refusal> {
        let policy = self.policies.for_schedule(schedule);
        if !policy.enabled {
            return Err(Refusal::Off {
                label: label.to_owned(),
            });
        }
        check_span(from, until, SystemTime::now(), policy)?;
        if !self.within_allowance(user).await {
            return Err(Refusal::TooMany);
        }
        let person = self.slack.user(user).await.map_err(|error| {
            tracing::warn!(%error, "could not look up who asks to take the call");
            Refusal::CannotCheck {
                what: "who you are",
            }
        })?;
        let who = Affiliation::of(
            user_team,
            None,
            person.team_id.as_deref(),
            person.enterprise_id.as_deref(),
        );
        if !workspace::belongs(&self.home, &who, &[]) {
            return Err(Refusal::Outsider);
        }
        if person.guest {
            return Err(Refusal::Guest);
        }
        self.standing(schedule, label, user, &person, policy).await
    }

    async fn check(&self, request: &TakeRequest<'_>) -> Result<ThreadMessage, Refusal> {
        let standing = self
            .admit(
                request.asker,
                request.asker_team,
                request.schedule,
                request.label,
                request.from,
                request.until,
            )
            .await?;
        let now = SystemTime::now();
        let from = request.from.max(now);
        let replaced = self
            .replaced(request.schedule, &standing, from, request.until)
            .await;
        let id = new_id();
        let pending = Pending {
            id: id.clone(),
            asker: request.asker.to_owned(),
            schedule: request.schedule.to_owned(),
            label: request.label.to_owned(),
            from: request.from,
            until: request.until,
            taker: StoredPerson::from(&standing.taker),
            rotations: standing
                .rotations
                .iter()
                .map(StoredRotation::from)
                .collect(),
            thread: request
                .thread
                .map(|(channel, ts)| (channel.to_owned(), ts.to_owned())),
        };
        self.pending.put(&id, &pending, CONFIRM_WITHIN).await;
        if let Some((channel, thread_ts)) = request.thread {
            let key = thread_key(channel, thread_ts, request.asker);
            self.in_threads.put(&key, &id, CONFIRM_WITHIN).await;
        }
        let how = if request.thread.is_some() {
            "Confirm with the button, or reply `@ops yes` here."
        } else {
            "Confirm with the button."
        };
        let text = format!(
            "<@{}>, take the call for *{}*{} from {} until {}{}? {how}",
            request.asker,
            escape(request.label),
            rotations_phrase(&standing.rotations),
            slack_date(from),
            slack_date(request.until),
            replacing_phrase(&unpinged_names(&replaced)),
        );
        Ok(ThreadMessage::plain(text).with_button(OverrideButton::Confirm { request: id }))
    }

    /// Whether the asker may take the call for `schedule`, in which rotations,
    /// and as whom the provider knows them: a person of one of its rotations
    /// (over four weeks back and ahead, matched as the answers match people),
    /// or someone `take_call_allowed` names, who replaces the first rotation.
    async fn standing(
        &self,
        schedule: &str,
        label: &str,
        asker_id: &str,
        asker: &SlackUser,
        policy: &TakeCallPolicy,
    ) -> Result<Standing, Refusal> {
        let now = SystemTime::now();
        let plans = self
            .directory
            .plan(
                schedule,
                now.checked_sub(MEMBERSHIP_WINDOW)
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                now + MEMBERSHIP_WINDOW,
            )
            .await
            .map_err(|error| {
                tracing::warn!(%error, %schedule, "could not read the rotations to check a taker");
                Refusal::CannotCheck {
                    what: "the schedule's rotations",
                }
            })?;
        let mut rotations = Vec::new();
        let mut taker: Option<Person> = None;
        for plan in &plans {
            for person in people_of(plan) {
                if self
                    .directory
                    .slack_user(&person)
                    .await
                    .ok()
                    .flatten()
                    .as_deref()
                    == Some(asker_id)
                {
                    rotations.push(rotation_ref(plan));
                    taker.get_or_insert(person);
                    break;
                }
            }
        }
        if let Some(taker) = taker {
            return Ok(Standing {
                taker,
                rotations,
                member: true,
            });
        }
        if !self.allowed(asker_id, policy).await {
            return Err(Refusal::NotInRotation {
                label: label.to_owned(),
            });
        }
        Ok(Standing {
            taker: self
                .directory
                .provider_person(asker_id, asker.email.as_deref(), &asker.name),
            rotations: plans.first().map(rotation_ref).into_iter().collect(),
            member: false,
        })
    }

    /// Counts one request of `user` against [`policy::ASKS`] per
    /// [`policy::ASKS_PER`]: across replicas when they share state, else here.
    async fn within_allowance(&self, user: &str) -> bool {
        use std::sync::atomic::{AtomicU32, Ordering};
        let key = format!("take-asks:{user}");
        if let Some(within) = self
            .shared
            .take_allowance(&key, &new_id(), policy::ASKS, policy::ASKS_PER)
            .await
        {
            return within;
        }
        let count = self
            .asks
            .entry_by_ref(user)
            .or_insert_with(async { Arc::new(AtomicU32::new(0)) })
            .await
            .into_value();
        count.fetch_add(1, Ordering::Relaxed) < policy::ASKS
    }

    /// Whether `take_call_allowed` names the user, or a user group they are in.
    async fn allowed(&self, user: &str, policy: &TakeCallPolicy) -> bool {
        if policy.allows_by_name(user) {
            return true;
        }
        for group in policy.allowed_groups() {
            let lookup = async {
                self.slack
                    .user_group_members(group)
                    .await
                    .map(Arc::new)
                    .map_err(Arc::new)
            };
            match self.groups.try_get_with_by_ref(group, lookup).await {
                Ok(members) if members.iter().any(|member| member == user) => return true,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, %group, "could not read a user group of take_call_allowed")
                }
            }
        }
        false
    }

    /// Everyone on call in the replaced rotations at any moment of the span,
    /// but the taker.
    async fn replaced(
        &self,
        schedule: &str,
        standing: &Standing,
        from: SystemTime,
        until: SystemTime,
    ) -> Vec<Person> {
        let plans = match self.directory.plan(schedule, from, until).await {
            Ok(plans) => plans,
            Err(error) => {
                tracing::warn!(%error, %schedule, "could not read whom an override replaces");
                return Vec::new();
            }
        };
        let mut replaced: Vec<Person> = Vec::new();
        for plan in plans.iter().filter(|plan| {
            standing.rotations.is_empty() || standing.rotations.contains(&rotation_ref(plan))
        }) {
            for shift in &plan.shifts {
                let overlaps = shift.starts < until && shift.until > from;
                if overlaps && shift.person != standing.taker && !replaced.contains(&shift.person) {
                    replaced.push(shift.person.clone());
                }
            }
        }
        replaced
    }

    async fn mentions(&self, people: &[Person]) -> Vec<String> {
        let mut names = Vec::with_capacity(people.len());
        for person in people {
            names.push(self.directory.mention_of(person).await);
        }
        names
    }

    /// A confirmation: makes the override of the asker's pending request,
    /// once, announces it, and answers with an Undo button. Anything but the
    /// outcome of a made override is for the clicker alone.
    pub async fn confirm(&self, confirmation: Confirmation<'_>) -> Said {
        let (id, user) = match confirmation {
            Confirmation::Button { request, user } => (Some(request.to_owned()), user),
            Confirmation::InThread {
                channel,
                thread_ts,
                user,
            } => (
                self.in_threads
                    .get(&thread_key(channel, thread_ts, user))
                    .await,
                user,
            ),
        };
        let pending = match id {
            Some(id) => self.pending.get(&id).await,
            None => None,
        };
        let Some(pending) = pending else {
            return Said::Private(
                "You have no request to take the call waiting here (one expires after 10 \
                 minutes, or was confirmed already)."
                    .to_owned(),
            );
        };
        if pending.asker != user {
            return Said::Private(format!(
                "Only <@{}>, who asked to take the call, can confirm it.",
                pending.asker
            ));
        }
        let claim = format!("confirmed:{}", pending.id);
        match self.first_time(&claim).await {
            Some(true) => {}
            Some(false) => return Said::Private("That request was confirmed already.".to_owned()),
            None => return Said::Private(CANNOT_BE_SURE_TEXT.to_owned()),
        }
        self.pending.remove(&pending.id).await;
        if let Some((channel, thread_ts)) = &pending.thread {
            self.in_threads
                .remove(&thread_key(channel, thread_ts, &pending.asker))
                .await;
        }
        match self.make(&pending).await {
            Made::Done(message) => Said::Public(message),
            Made::NotMade { text, retry } => {
                if retry {
                    // Surely not made: the same Confirm may be pressed again.
                    self.not_done(&claim).await;
                    self.pending
                        .put(&pending.id, &pending, CONFIRM_WITHIN)
                        .await;
                    if let Some((channel, thread_ts)) = &pending.thread {
                        let key = thread_key(channel, thread_ts, &pending.asker);
                        self.in_threads.put(&key, &pending.id, CONFIRM_WITHIN).await;
                    }
                }
                Said::Private(text)
            }
        }
    }

    async fn make(&self, pending: &Pending) -> Made {
        let now = SystemTime::now();
        let from = pending.from.max(now);
        if pending.until <= now {
            return Made::NotMade {
                text: Refusal::Past {
                    ended: pending.until,
                }
                .text(),
                retry: false,
            };
        }
        let rotations: Vec<RotationRef> =
            pending.rotations.iter().cloned().map(Into::into).collect();
        let standing = Standing {
            taker: pending.taker.clone().into(),
            rotations,
            member: true,
        };
        let replaced = self
            .replaced(&pending.schedule, &standing, from, pending.until)
            .await;
        let request = OverrideRequest {
            schedule: pending.schedule.clone(),
            who: standing.taker.clone(),
            from,
            until: pending.until,
            rotations: standing.rotations.clone(),
            alias: format!("oncall-bot-{}", pending.id),
        };
        let alias = match self.provider.make_override(&request).await {
            Ok(alias) => alias,
            Err(ActionError::Failed(error)) if error.may_have_landed() => {
                // It may be there all the same: read back before saying so.
                tracing::warn!(%error, "the override may have been made; reading back");
                match self.provider.find_override(&request).await {
                    Ok(Some(alias)) => alias,
                    Ok(None) => {
                        self.metrics.take_call("failed");
                        return Made::NotMade {
                            text: format!(
                                "I could not reach {} to take the call, and it shows no such \
                                 override; nothing changed. Please press Confirm again.",
                                self.source()
                            ),
                            retry: true,
                        };
                    }
                    Err(error) => {
                        self.metrics.take_call("uncertain");
                        tracing::error!(%error, "could not find out whether the override was made");
                        return Made::NotMade {
                            text: format!(
                                "I could not reach {} to take the call, nor find out whether \
                                 the override was made: check the schedule there before \
                                 trying again.",
                                self.source()
                            ),
                            retry: false,
                        };
                    }
                }
            }
            Err(error) => {
                self.metrics.take_call("failed");
                let retry = matches!(error, ActionError::Failed(_));
                return Made::NotMade {
                    text: self.not_made(error),
                    retry,
                };
            }
        };
        Made::Done(
            self.made(pending, &standing, &replaced, alias, from, now)
                .await,
        )
    }

    /// Records, announces and answers an override that is made.
    async fn made(
        &self,
        pending: &Pending,
        standing: &Standing,
        replaced: &[Person],
        alias: String,
        from: SystemTime,
        now: SystemTime,
    ) -> ThreadMessage {
        self.metrics.take_call("made");
        tracing::info!(schedule = %pending.schedule, "call taken through an override");
        self.forget_everywhere(&pending.schedule).await;
        let mut replaced_users = Vec::new();
        for person in replaced {
            if let Ok(Some(user)) = self.directory.slack_user(person).await {
                if user != pending.asker && !replaced_users.contains(&user) {
                    replaced_users.push(user);
                }
            }
        }
        let what = format!(
            "*{}*{} from {} until {}",
            escape(&pending.label),
            rotations_phrase(&standing.rotations),
            slack_date(from),
            slack_date(pending.until),
        );
        let replacing = replacing_phrase(&self.mentions(replaced).await);
        let mut made = MadeOverride {
            id: pending.id.clone(),
            schedule: pending.schedule.clone(),
            label: pending.label.clone(),
            alias,
            taker: pending.asker.clone(),
            replaced: replaced_users.clone(),
            from,
            until: pending.until,
            made_at: now,
            thread: pending.thread.clone(),
            announcement: None,
        };
        let undo = OverrideButton::Undo {
            made: pending.id.clone(),
        };
        let announced = ThreadMessage::plain(format!(
            "<@{}> took the call for {what}{replacing}.",
            pending.asker
        ))
        .with_button(undo.clone());
        if let Some(channel) = self.announce_channel(&pending.schedule) {
            match self
                .slack
                .post_message_with_blocks(&channel, &announced)
                .await
            {
                Ok(ts) => made.announcement = Some((channel, ts)),
                Err(error) => tracing::warn!(%error, "could not announce an override"),
            }
        }
        for user in &replaced_users {
            let dm = ThreadMessage::plain(format!(
                "<@{}> took the call for {what}, in your place: you are not on call then. \
                 If that is a mistake, press Undo.",
                pending.asker
            ))
            .with_button(undo.clone());
            if let Err(error) = self.direct_message(user, &dm).await {
                tracing::warn!(%error, "could not tell someone they are replaced");
            }
        }
        // Kept until the span starts (Undo's window), and a little longer.
        let ttl = from.duration_since(now).unwrap_or(Duration::ZERO) + UNDO_GRACE + MADE_TTL_MARGIN;
        self.made.put(&made.id, &made, ttl).await;
        ThreadMessage::plain(format!(
            "Done: <@{}> is on call for {what}{replacing}. Undo it with the button, until it \
             starts.",
            pending.asker
        ))
        .with_button(undo)
    }

    fn not_made(&self, error: ActionError) -> String {
        let source = self.source();
        match error {
            ActionError::Refused(reason) => format!(
                "{source} did not take the override: {}. Nothing changed.",
                escape(reason.trim_end_matches('.'))
            ),
            ActionError::Failed(error) => {
                tracing::warn!(%error, "could not create the override");
                format!(
                    "I could not reach {source} to take the call; nothing changed. Please try \
                     again."
                )
            }
        }
    }

    /// A click on Undo: deletes the override (the taker's, or someone's it
    /// replaces) until its span starts, and says so where it was announced and
    /// in its thread. A refusal is for the clicker alone.
    pub async fn undo(&self, click: UndoClick<'_>) -> Said {
        let source = self.source();
        let Some(made) = self.made.get(click.made).await else {
            return Said::Private(format!(
                "I no longer know that override (it was undone, or is long past); change it in \
                 {source} if it is still there."
            ));
        };
        if made.taker != click.user && !made.replaced.iter().any(|user| user == click.user) {
            return Said::Private(format!(
                "Only <@{}>, who took the call, or the people they replace can undo it.",
                made.taker
            ));
        }
        if !undo_open(&made, SystemTime::now()) {
            return Said::Private(format!(
                "Too late to undo: it started {}. Change it in {source}.",
                slack_date(made.from)
            ));
        }
        let claim = format!("undone:{}", made.id);
        match self.first_time(&claim).await {
            Some(true) => {}
            Some(false) => return Said::Private("It was undone already.".to_owned()),
            None => return Said::Private(CANNOT_BE_SURE_TEXT.to_owned()),
        }
        if let Err(error) = self
            .provider
            .delete_override(&made.schedule, &made.alias)
            .await
        {
            self.not_done(&claim).await;
            return Said::Private(match error {
                ActionError::Refused(reason) => format!(
                    "{source} did not delete the override: {}. Nothing changed.",
                    escape(reason.trim_end_matches('.'))
                ),
                ActionError::Failed(error) => {
                    tracing::warn!(%error, "could not delete the override");
                    format!(
                        "I could not reach {source} to undo it; nothing changed as far as I know. \
                         Please try again."
                    )
                }
            });
        }
        self.metrics.take_call("undone");
        tracing::info!(schedule = %made.schedule, "an override undone");
        self.made.remove(&made.id).await;
        self.forget_everywhere(&made.schedule).await;
        let text = format!(
            "<@{}> undid the override: <@{}> no longer takes the call for *{}* from {} until \
             {}.",
            click.user,
            made.taker,
            escape(&made.label),
            slack_date(made.from),
            slack_date(made.until)
        );
        let undone = ThreadMessage::plain(text.clone());
        let clicked = click
            .message
            .map(|(channel, ts)| (channel.to_owned(), ts.to_owned()));
        if let Some(announcement) = &made.announcement {
            if clicked.as_ref() != Some(announcement) {
                if let Err(error) = self
                    .slack
                    .update_message(&announcement.0, &announcement.1, &undone)
                    .await
                {
                    tracing::warn!(%error, "could not update the announcement of an override");
                }
            }
        }
        if let Some((channel, thread_ts)) = &made.thread {
            // Said in the thread unless the click was on a message in it.
            let in_thread = click.message.is_some_and(|(clicked, ts)| {
                clicked == channel
                    && (ts == thread_ts || click.thread_ts == Some(thread_ts.as_str()))
            });
            if !in_thread {
                if let Err(error) = self.slack.post_in_thread(channel, thread_ts, &text).await {
                    tracing::warn!(%error, "could not say in the thread that an override is undone");
                }
            }
        }
        Said::Public(undone)
    }

    async fn direct_message(
        &self,
        user: &str,
        message: &ThreadMessage,
    ) -> Result<(), crate::slack::SlackError> {
        let channel = self.slack.open_dm(user).await?;
        self.slack
            .post_message_with_blocks(&channel, message)
            .await
            .map(drop)
    }

    fn announce_channel(&self, schedule: &str) -> Option<String> {
        self.announcements
            .get(schedule)
            .and_then(|announcement| announcement.channel.clone())
    }

    /// Drops the cached answer for `schedule` here, and every replica's.
    async fn forget_everywhere(&self, schedule: &str) {
        self.directory.forget(schedule).await;
        self.shared.announce_cache_clear().await;
    }

    /// `Some(true)` the first time `key` is done (by any replica, with shared
    /// state); `None` when the shared state cannot say (never guessed from
    /// this process's memory alone, when replicas share: two could act).
    async fn first_time(&self, key: &str) -> Option<bool> {
        let key = format!("once:{key}");
        if self.shared.is_shared() {
            return self.shared.claim(&key, ONCE_WINDOW).await;
        }
        Some(
            self.done_here
                .entry_by_ref(&key)
                .or_insert(())
                .await
                .is_fresh(),
        )
    }

    /// Lets `key` be done again (what it claimed did not happen).
    async fn not_done(&self, key: &str) {
        let key = format!("once:{key}");
        self.shared.release(&key).await;
        self.done_here.invalidate(&key).await;
    }
}

/// Whether an override may still be undone at `now`: until its span starts,
/// or within [`UNDO_GRACE`] of its making when it started at once.
fn undo_open(made: &MadeOverride, now: SystemTime) -> bool {
    let started_at_once = made.from
        <= made
            .made_at
            .checked_add(Duration::from_secs(60))
            .unwrap_or(made.made_at);
    let grace = made.made_at.checked_add(UNDO_GRACE).unwrap_or(made.made_at);
    now < made.from || (started_at_once && now < grace)
}

/// The distinct people of a rotation's own shifts (not overrides: covering
/// once does not make someone a member), in order.
fn people_of(plan: &RotationPlan) -> Vec<Person> {
    let mut people: Vec<Person> = Vec::new();
    for shift in plan.shifts.iter().filter(|shift| !shift.is_override) {
        if !people.contains(&shift.person) {
            people.push(shift.person.clone());
        }
    }
    people
}

fn rotation_ref(plan: &RotationPlan) -> RotationRef {
    RotationRef {
        id: plan.id.clone(),
        name: plan.name.clone(),
    }
}

/// " (rotation *Weekly*)", " (rotations *A* and *B*)", or nothing.
fn rotations_phrase(rotations: &[RotationRef]) -> String {
    let names: Vec<String> = rotations
        .iter()
        .map(|rotation| format!("*{}*", escape(&rotation.name)))
        .collect();
    match names.as_slice() {
        [] => String::new(),
        // PagerDuty's final schedule: an override there covers every layer.
        [_] if rotations[0].id.is_none()
            && rotations[0].name == crate::providers::pagerduty::FINAL_SCHEDULE =>
        {
            " (the whole schedule, every layer of it)".to_owned()
        }
        [one] => format!(" (rotation {one})"),
        [rest @ .., last] => format!(" (rotations {} and {last})", rest.join(", ")),
    }
}

/// How a question names people without notifying them (they are told once
/// the override is made): their email, else their name, escaped.
fn unpinged_names(people: &[Person]) -> Vec<String> {
    people
        .iter()
        .map(|person| escape(person.email.as_deref().unwrap_or(&person.name)))
        .collect()
}

/// ", replacing @alice, @bob", or nothing.
fn replacing_phrase(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(", replacing {}", names.join(", "))
    }
}

fn thread_key(channel: &str, thread_ts: &str, user: &str) -> String {
    format!("{channel}:{thread_ts}:{user}")
}

/// A new request's id: 64 random bits, in hex.
fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_can_be_undone_until_it_starts_or_briefly_after_an_immediate_one() {
        let at = |minutes: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(minutes * 60);
        let made = |made_at: u64, from: u64| MadeOverride {
            id: "1".into(),
            schedule: "S".into(),
            label: "S".into(),
            alias: "a".into(),
            taker: "UBOB".into(),
            replaced: vec![],
            from: at(from),
            until: at(from + 60),
            made_at: at(made_at),
            thread: None,
            announcement: None,
        };
        // Tomorrow's: until it starts, however long ago it was made.
        let later = made(0, 24 * 60);
        assert!(undo_open(&later, at(24 * 60 - 1)));
        assert!(!undo_open(&later, at(24 * 60)));
        // Starting at once: 15 minutes of grace, then no more.
        let now = made(100, 100);
        assert!(undo_open(&now, at(114)));
        assert!(!undo_open(&now, at(115)));
    }

    #[test]
    fn rotations_and_the_replaced_are_named_escaped() {
        let rotation = |name: &str| RotationRef {
            id: None,
            name: name.into(),
        };
        assert_eq!(rotations_phrase(&[]), "");
        assert_eq!(
            rotations_phrase(&[rotation("Weekly")]),
            " (rotation *Weekly*)"
        );
        assert_eq!(
            rotations_phrase(&[rotation("A"), rotation("B"), rotation("<!here>")]),
            " (rotations *A*, *B* and *&lt;!here&gt;*)"
        );
        assert_eq!(replacing_phrase(&[]), "");
        assert_eq!(
            replacing_phrase(&["<@UALICE>".into(), "carol@x".into()]),
            ", replacing <@UALICE>, carol@x"
        );
        assert_eq!(new_id().len(), 16);
        assert_ne!(new_id(), new_id());
    }
}
