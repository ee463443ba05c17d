//! Who is on call: the on-call provider behind one question, with caching,
//! coalescing, stale answers during outages, and each person's Slack account.

mod cached;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use moka::future::Cache;

use crate::metrics::Metrics;
use crate::model::{OnCall, Person, RotationPlan, Timeline};
use crate::outbound::BackoffPolicy;
use crate::providers::{Provider, ProviderError};
use crate::slack::{SlackApi, SlackError};
use cached::{Cached, Changes, Got};

pub use cached::{Freshness, NoAnswer};

/// How long an email's Slack account (or its absence) is remembered.
pub const SLACK_USER_TTL: Duration = Duration::from_secs(60 * 60);

/// A person on call, with their Slack account when they have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    pub person: Person,
    pub slack_user: Option<String>,
}

/// An on-call answer and how current it is.
#[derive(Debug, Clone)]
pub struct Answer {
    pub on_call: Arc<OnCall>,
    pub freshness: Freshness,
}

/// A schedule's timeline (each rotation's shifts) over the weeks ahead, and
/// how current it is.
#[derive(Debug, Clone)]
pub struct TimelineAnswer {
    pub timeline: Arc<Timeline>,
    pub freshness: Freshness,
}

/// A timeline older than this is not served during an outage: it reaches only
/// [`TIMELINE_AHEAD`] past its read, and the weeks it shows would be cut short.
pub const TIMELINE_STALE_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// How far ahead the cached timeline reaches: "when am I on?" and the Home
/// tab look four weeks ahead, and a cached read may be up to a day old.
pub const TIMELINE_AHEAD: Duration = Duration::from_secs(29 * 24 * 60 * 60);

impl Changes for OnCall {
    fn next_change(&self, _now: SystemTime) -> Option<SystemTime> {
        self.next_handover()
    }
}

impl Changes for Timeline {
    fn next_change(&self, now: SystemTime) -> Option<SystemTime> {
        self.next_change_after(now)
    }
}

const HEALTH_UNKNOWN: u8 = 0;
const HEALTH_OK: u8 = 1;
const HEALTH_FAILED: u8 = 2;

/// On-call answers, timelines and Slack accounts, cached. Concurrent misses for
/// the same schedule share one upstream call; when the source fails, the last
/// good answer is served with its age, and the source is left alone for a
/// backoff window.
pub struct OnCallDirectory {
    provider: Arc<Provider>,
    slack: Arc<SlackApi>,
    metrics: Arc<Metrics>,
    answers: Cached<OnCall>,
    timelines: Cached<Timeline>,
    slack_users: Cache<String, Option<String>>,
    /// Email (lower case) → Slack id, for people whose emails differ.
    email_overrides: HashMap<String, String>,
    /// Atlassian account id → Slack id, for people whose email is hidden.
    account_overrides: HashMap<String, String>,
    last_call: AtomicU8,
}

impl OnCallDirectory {
    pub fn new(
        provider: Arc<Provider>,
        slack: Arc<SlackApi>,
        ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            provider,
            slack,
            metrics,
            answers: Cached::new(ttl),
            timelines: Cached::new(ttl).with_stale_limit(TIMELINE_STALE_LIMIT),
            slack_users: Cache::builder()
                .time_to_live(SLACK_USER_TTL)
                .max_capacity(10_000)
                .build(),
            email_overrides: HashMap::new(),
            account_overrides: HashMap::new(),
            last_call: AtomicU8::new(HEALTH_UNKNOWN),
        }
    }

    /// Slack ids for people whose OpsGenie username is not their Slack email.
    pub fn with_email_overrides(mut self, overrides: HashMap<String, String>) -> Self {
        self.email_overrides = overrides
            .into_iter()
            .map(|(email, user)| (email.to_lowercase(), user))
            .collect();
        self
    }

    pub fn with_backoff(mut self, policy: BackoffPolicy) -> Self {
        self.answers.set_backoff(policy);
        self.timelines.set_backoff(policy);
        self
    }

    /// The on-call provider's name ("OpsGenie").
    pub fn source_name(&self) -> &'static str {
        self.provider.name()
    }

    /// `Some(true)` when the last call to the source succeeded, `Some(false)` when
    /// it failed, `None` before the first.
    pub fn source_healthy(&self) -> Option<bool> {
        match self.last_call.load(Ordering::Relaxed) {
            HEALTH_OK => Some(true),
            HEALTH_FAILED => Some(false),
            _ => None,
        }
    }

    /// Who is on call for `schedule`: fresh from the cache or the source, or the
    /// last good answer when the source is failing.
    pub async fn on_call(&self, schedule: &str) -> Result<Answer, NoAnswer> {
        let got = self
            .answers
            .get(schedule, || {
                self.tracked(schedule, self.ask_provider(schedule))
            })
            .await?;
        self.count(&got);
        Ok(Answer {
            on_call: got.value,
            freshness: got.freshness,
        })
    }

    /// Asks the source now, bypassing the cache, and caches the fresh answer.
    pub async fn refresh(&self, schedule: &str) -> Result<Arc<OnCall>, ProviderError> {
        self.answers
            .refresh(
                schedule,
                self.tracked(schedule, self.ask_provider(schedule)),
            )
            .await
    }

    /// The schedule's timeline from now to [`TIMELINE_AHEAD`]: one read per
    /// schedule at a time, kept until the next shift starts or ends (or the
    /// TTL), the last good one served with its age during an outage. "When am
    /// I on?", the Home tab and its "next" read it, however many ask at once.
    pub async fn timeline(&self, schedule: &str) -> Result<TimelineAnswer, NoAnswer> {
        // Not counted in the source's health, which follows the on-call
        // reads: a failing timeline costs detail, not answers.
        let read = || async {
            let from = SystemTime::now();
            let until = from + TIMELINE_AHEAD;
            let plans = self.provider.plan(schedule, from, until).await;
            if let Err(error) = &plans {
                tracing::warn!(%error, %schedule, "timeline read failed; backing off");
            }
            Ok(Timeline {
                plans: plans?,
                from,
                until,
            })
        };
        let got = self.timelines.get(schedule, read).await?;
        if matches!(got.freshness, Freshness::Stale { .. }) {
            self.metrics.stale_answer();
        }
        Ok(TimelineAnswer {
            timeline: got.value,
            freshness: got.freshness,
        })
    }

    /// Counts an on-call answer: from the cache or not, and stale or not
    /// (`oncall_cache_lookups_total` counts on-call answers alone).
    fn count<T>(&self, got: &Got<T>) {
        self.metrics.cache(got.hit);
        if matches!(got.freshness, Freshness::Stale { .. }) {
            self.metrics.stale_answer();
        }
    }

    /// A provider read that marks the source's health as it ends.
    async fn tracked<T>(
        &self,
        schedule: &str,
        read: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let result = read.await;
        let up = result.is_ok();
        self.last_call.store(
            if up { HEALTH_OK } else { HEALTH_FAILED },
            Ordering::Relaxed,
        );
        self.metrics.source_up(up);
        if let Err(error) = &result {
            tracing::warn!(%error, %schedule, "on-call lookup failed; backing off");
        }
        result
    }

    /// Who is on call for `schedule`, straight from the provider. The rotations
    /// are extra detail: when only they fail, the answer is given without them.
    /// The rotations come from the schedule's timeline, the same cached read
    /// the Home tab and "when am I on?" use.
    async fn ask_provider(&self, schedule: &str) -> Result<OnCall, ProviderError> {
        if self.provider.on_call_is_the_timeline() {
            // Boxed, as the timeline below: not inlined into every answer's future.
            return Box::pin(self.ask_timeline(schedule)).await;
        }
        // Boxed: the timeline's read nests a cache lookup in this one's, and the
        // two futures inline would be a large one on every answer's stack.
        let (people, timeline) = tokio::join!(
            self.provider.on_call_people(schedule),
            Box::pin(self.timeline(schedule))
        );
        let now = SystemTime::now();
        let rotations = match timeline {
            Ok(TimelineAnswer {
                timeline,
                freshness: Freshness::Fresh,
            }) => timeline
                .plans
                .iter()
                .map(|plan| plan.clone().at(now))
                .collect(),
            // Stale or failed (logged where it was read): the answer is
            // given without rotation detail.
            Ok(_) | Err(_) => Vec::new(),
        };
        Ok(OnCall {
            schedule: schedule.to_owned(),
            people: people?,
            rotations,
        })
    }

    /// Who is on call for `schedule` where that is the timeline's people now
    /// (PagerDuty): one read, kept as the timeline too.
    async fn ask_timeline(&self, schedule: &str) -> Result<OnCall, ProviderError> {
        let from = SystemTime::now();
        let until = from + TIMELINE_AHEAD;
        let timeline = self
            .timelines
            .refresh(schedule, async {
                Ok(Timeline {
                    plans: self.provider.plan(schedule, from, until).await?,
                    from,
                    until,
                })
            })
            .await?;
        let now = SystemTime::now();
        let rotations: Vec<_> = timeline
            .plans
            .iter()
            .map(|plan| plan.clone().at(now))
            .collect();
        let mut people = Vec::new();
        for shift in rotations.iter().flat_map(|rotation| &rotation.current) {
            if !people.contains(&shift.person) {
                people.push(shift.person.clone());
            }
        }
        Ok(OnCall {
            schedule: schedule.to_owned(),
            people,
            rotations,
        })
    }

    /// The people on call with their Slack accounts, looked up concurrently. A
    /// failed lookup is not remembered, and the person is shown by email meanwhile.
    pub async fn responders(&self, on_call: &OnCall) -> Vec<Responder> {
        join_all(on_call.everyone().into_iter().map(|person| async move {
            let slack_user = self.slack_user(&person).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "could not look up a Slack account by email");
                None
            });
            Responder { person, slack_user }
        }))
        .await
    }

    /// Who is on call for `schedule` at `at` (uncached: such questions are rare).
    pub async fn on_call_at(
        &self,
        schedule: &str,
        at: SystemTime,
    ) -> Result<Vec<Person>, ProviderError> {
        self.provider.on_call_people_at(schedule, at).await
    }

    /// Each rotation's shifts over `from` .. `until` (uncached).
    pub async fn plan(
        &self,
        schedule: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<RotationPlan>, ProviderError> {
        self.provider.plan(schedule, from, until).await
    }

    /// How the thread names `person`: a mention when they have a Slack
    /// account, else their email (or name), escaped.
    pub async fn mention_of(&self, person: &Person) -> String {
        match self.slack_user(person).await {
            Ok(Some(user)) => format!("<@{user}>"),
            _ => crate::slack::markup::escape(person.email.as_deref().unwrap_or(&person.name)),
        }
    }

    /// The person's Slack user (`None`: they have none, or no email to find it
    /// by): an explicit mapping first, else `users.lookupByEmail`, cached.
    pub async fn slack_user(&self, person: &Person) -> Result<Option<String>, Arc<SlackError>> {
        let mapped = person
            .account_id
            .as_ref()
            .and_then(|account| self.account_overrides.get(account))
            .or_else(|| {
                let email = person.email.as_ref()?.to_lowercase();
                self.email_overrides.get(&email)
            });
        if let Some(user) = mapped {
            return Ok(Some(user.clone()));
        }
        let Some(email) = &person.email else {
            return Ok(None);
        };
        self.slack_users
            .try_get_with_by_ref(email.as_str(), self.slack.user_id_by_email(email))
            .await
    }

    /// How the provider knows the Slack user `user` (email `email`): by the
    /// Atlassian account an explicit mapping gives them (JSM people whose
    /// email is hidden), and by the email a mapping gives them, else theirs.
    pub fn provider_person(&self, user: &str, email: Option<&str>, name: &str) -> Person {
        let account_id = self
            .account_overrides
            .iter()
            .find(|(_, mapped)| *mapped == user)
            .map(|(account, _)| account.clone());
        let email = self
            .email_overrides
            .iter()
            .find(|(_, mapped)| *mapped == user)
            .map(|(email, _)| email.clone())
            .or_else(|| email.map(str::to_owned));
        Person {
            name: email.clone().unwrap_or_else(|| name.to_owned()),
            email,
            account_id,
        }
    }

    /// Slack ids for people known by Atlassian account id (JSM), whose email may
    /// be hidden.
    pub fn with_account_overrides(mut self, overrides: HashMap<String, String>) -> Self {
        self.account_overrides = overrides;
        self
    }

    /// Forgets cached answers, so the next answer comes fresh from the provider.
    /// A backoff window after a failure stays: clearing is no way around it. The
    /// last good answers stay too, as a fallback for outages.
    pub fn clear(&self) {
        self.answers.clear();
        self.timelines.clear();
        self.slack_users.invalidate_all();
    }

    /// Drops the cached answer and timeline for `schedule` (after an
    /// override), the timeline first: an answer is built from it.
    pub async fn forget(&self, schedule: &str) {
        self.timelines.forget(schedule).await;
        self.answers.forget(schedule).await;
    }

    /// The schedule's timeline if the cache holds a fresh one; nobody is
    /// asked.
    pub async fn cached_timeline(&self, schedule: &str) -> Option<Arc<Timeline>> {
        self.timelines.peek(schedule).await
    }
}
