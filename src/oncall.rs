//! Who is on call: the on-call provider behind one question, with caching,
//! coalescing, stale answers during outages, and each person's Slack account.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;
use moka::future::Cache;

use crate::metrics::Metrics;
use crate::model::{OnCall, Person, RotationPlan};
use crate::outbound::BackoffPolicy;
use crate::providers::{Provider, ProviderError};
use crate::slack::{SlackApi, SlackError};

/// How long an email's Slack account (or its absence) is remembered.
pub const SLACK_USER_TTL: Duration = Duration::from_secs(60 * 60);

/// A person on call, with their Slack account when they have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    pub person: Person,
    pub slack_user: Option<String>,
}

/// How current an answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// The source is failing; this is the last good answer, this old.
    Stale {
        age: Duration,
    },
}

/// An on-call answer and how current it is.
#[derive(Debug, Clone)]
pub struct Answer {
    pub on_call: Arc<OnCall>,
    pub freshness: Freshness,
}

/// Why there is no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum NoAnswer {
    #[error("the on-call lookup failed: {0}")]
    Failed(Arc<ProviderError>),
    #[error(
        "the on-call provider failed moments ago; not asking it again for another {}",
        humantime::format_duration(Duration::from_secs(.0.as_secs().max(1)))
    )]
    BackingOff(Duration),
}

/// A good answer and when it was fetched.
#[derive(Debug)]
struct Snapshot {
    on_call: Arc<OnCall>,
    fetched_at: Instant,
}

/// After a failure, no upstream try for this schedule until `until`.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    delay: Duration,
    /// The failure was an outage (stale answers apply), not a configuration error.
    transient: bool,
}

const HEALTH_UNKNOWN: u8 = 0;
const HEALTH_OK: u8 = 1;
const HEALTH_FAILED: u8 = 2;

/// On-call answers and Slack accounts, cached. Concurrent misses for the same key
/// share one upstream call; when the source fails, the last good answer is served
/// with its age, and the source is left alone for a backoff window.
pub struct OnCallDirectory {
    provider: Arc<Provider>,
    slack: Arc<SlackApi>,
    metrics: Arc<Metrics>,
    fresh: Cache<String, Arc<Snapshot>>,
    last_good: Cache<String, Arc<Snapshot>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    backoff_policy: BackoffPolicy,
    slack_users: Cache<String, Option<String>>,
    /// Email (lower case) → Slack id, for people whose emails differ.
    email_overrides: HashMap<String, String>,
    /// Atlassian account id → Slack id, for people whose email is hidden.
    account_overrides: HashMap<String, String>,
    last_call: AtomicU8,
}

/// Fresh answers live for the TTL, but never past the next hand-over.
struct HandoverExpiry {
    ttl: Duration,
}

impl HandoverExpiry {
    fn lifetime(&self, snapshot: &Snapshot) -> Duration {
        match snapshot.on_call.next_handover() {
            Some(handover) => handover
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .min(self.ttl),
            None => self.ttl,
        }
    }
}

impl moka::Expiry<String, Arc<Snapshot>> for HandoverExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        snapshot: &Arc<Snapshot>,
        _: Instant,
    ) -> Option<Duration> {
        Some(self.lifetime(snapshot))
    }

    fn expire_after_update(
        &self,
        _: &String,
        snapshot: &Arc<Snapshot>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(snapshot))
    }
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
            fresh: Cache::builder()
                .expire_after(HandoverExpiry { ttl })
                .max_capacity(1_000)
                .build(),
            last_good: Cache::builder().max_capacity(1_000).build(),
            backoff: Mutex::new(HashMap::new()),
            backoff_policy: BackoffPolicy::default(),
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
        self.backoff_policy = policy;
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
        if let Some(snapshot) = self.fresh.get(schedule).await {
            self.metrics.cache(true);
            return Ok(fresh(&snapshot));
        }
        self.metrics.cache(false);
        if let Some(backoff) = self.current_backoff(schedule) {
            let wait = backoff.until.saturating_duration_since(Instant::now());
            return self
                .stale(schedule, backoff.transient)
                .await
                .ok_or(NoAnswer::BackingOff(wait));
        }
        let fetched = self
            .fresh
            .try_get_with_by_ref(schedule, self.fetch(schedule))
            .await;
        match fetched {
            Ok(snapshot) => Ok(fresh(&snapshot)),
            Err(error) => self
                .stale(schedule, error.is_transient())
                .await
                .ok_or(NoAnswer::Failed(error)),
        }
    }

    /// Asks the source now, bypassing the cache, and caches the fresh answer.
    pub async fn refresh(&self, schedule: &str) -> Result<Arc<OnCall>, ProviderError> {
        let snapshot = self.fetch(schedule).await?;
        let on_call = Arc::clone(&snapshot.on_call);
        self.fresh.insert(schedule.to_owned(), snapshot).await;
        Ok(on_call)
    }

    /// One upstream try; remembers a success as the last good answer and a
    /// failure as a backoff window.
    async fn fetch(&self, schedule: &str) -> Result<Arc<Snapshot>, ProviderError> {
        match self.ask_provider(schedule).await {
            Ok(on_call) => {
                self.last_call.store(HEALTH_OK, Ordering::Relaxed);
                self.metrics.source_up(true);
                if let Ok(mut backoff) = self.backoff.lock() {
                    backoff.remove(schedule);
                }
                let snapshot = Arc::new(Snapshot {
                    on_call: Arc::new(on_call),
                    fetched_at: Instant::now(),
                });
                self.last_good
                    .insert(schedule.to_owned(), Arc::clone(&snapshot))
                    .await;
                Ok(snapshot)
            }
            Err(error) => {
                self.last_call.store(HEALTH_FAILED, Ordering::Relaxed);
                self.metrics.source_up(false);
                self.back_off(schedule, error.is_transient());
                tracing::warn!(%error, %schedule, "on-call lookup failed; backing off");
                Err(error)
            }
        }
    }

    /// Who is on call for `schedule`, straight from the provider. The rotations
    /// are extra detail: when only they fail, the answer is given without them.
    async fn ask_provider(&self, schedule: &str) -> Result<OnCall, ProviderError> {
        let (people, rotations) = tokio::join!(
            self.provider.on_call_people(schedule),
            self.provider.rotations(schedule)
        );
        let rotations = rotations.unwrap_or_else(|error| {
            tracing::warn!(%error, %schedule, "no rotation detail; answering without it");
            Vec::new()
        });
        Ok(OnCall {
            schedule: schedule.to_owned(),
            people: people?,
            rotations,
        })
    }

    fn back_off(&self, schedule: &str, transient: bool) {
        let Ok(mut backoffs) = self.backoff.lock() else {
            return;
        };
        let delay = self
            .backoff_policy
            .after(backoffs.get(schedule).map(|previous| previous.delay));
        backoffs.insert(
            schedule.to_owned(),
            Backoff {
                until: Instant::now() + delay,
                delay,
                transient,
            },
        );
    }

    fn current_backoff(&self, schedule: &str) -> Option<Backoff> {
        let backoffs = self.backoff.lock().ok()?;
        backoffs
            .get(schedule)
            .copied()
            .filter(|backoff| backoff.until > Instant::now())
    }

    /// The last good answer, when the failure is one where an old answer helps.
    async fn stale(&self, schedule: &str, transient: bool) -> Option<Answer> {
        if !transient {
            return None;
        }
        let snapshot = self.last_good.get(schedule).await?;
        self.metrics.stale_answer();
        Some(Answer {
            on_call: Arc::clone(&snapshot.on_call),
            freshness: Freshness::Stale {
                age: snapshot.fetched_at.elapsed(),
            },
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
        self.fresh.invalidate_all();
        self.slack_users.invalidate_all();
    }

    /// Drops the cached answer for `schedule` (after an override).
    pub async fn forget(&self, schedule: &str) {
        self.fresh.invalidate(schedule).await;
    }
}

fn fresh(snapshot: &Snapshot) -> Answer {
    Answer {
        on_call: Arc::clone(&snapshot.on_call),
        freshness: Freshness::Fresh,
    }
}
