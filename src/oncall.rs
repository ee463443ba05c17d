//! Who is on call: the on-call source behind one question, with caching,
//! coalescing, stale answers during outages, and each person's Slack account.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;
use moka::future::Cache;

use crate::jsm::{JsmClient, JsmError};
use crate::metrics::Metrics;
use crate::opsgenie::{OpsGenieClient, OpsGenieError};
use crate::outbound::Retryable;
use crate::slack::{SlackApi, SlackError};

/// How long an email's Slack account (or its absence) is remembered.
pub const SLACK_USER_TTL: Duration = Duration::from_secs(60 * 60);

/// Someone on call, as the on-call source knows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Person {
    /// The email (OpsGenie username, or an Atlassian account's visible email).
    pub email: Option<String>,
    /// How to show the person when there is no Slack account to mention.
    pub name: String,
    /// The Atlassian account id (JSM), for explicit Slack mappings.
    pub account_id: Option<String>,
}

impl Person {
    /// A person known by email alone (OpsGenie).
    pub fn with_email(email: &str) -> Self {
        Self {
            email: Some(email.to_owned()),
            name: email.to_owned(),
            account_id: None,
        }
    }
}

/// The people on call for a schedule, as the source reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub schedule: String,
    /// In the source's order.
    pub people: Vec<Person>,
    /// The schedule's rotations in order (primary first), when the source tells;
    /// empty otherwise.
    pub rotations: Vec<Rotation>,
}

impl OnCall {
    /// The next moment someone's shift ends: the answer is stale after it.
    pub fn next_handover(&self) -> Option<SystemTime> {
        self.rotations
            .iter()
            .flat_map(|rotation| rotation.current.iter().map(|shift| shift.until))
            .min()
    }

    /// Everyone the answer names: on call now, and next.
    pub fn everyone(&self) -> Vec<Person> {
        let mut people = self.people.clone();
        for rotation in &self.rotations {
            for shift in rotation.current.iter().chain(&rotation.next) {
                if !people.contains(&shift.person) {
                    people.push(shift.person.clone());
                }
            }
        }
        people
    }
}

/// One rotation of a schedule: who is on call in it now, and who is next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub name: String,
    pub current: Vec<Shift>,
    pub next: Option<Shift>,
}

/// A person's turn in a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub person: Person,
    pub starts: SystemTime,
    pub until: SystemTime,
    /// An override in OpsGenie put this person here.
    pub is_override: bool,
}

/// A person on call, with their Slack account when they have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    pub person: Person,
    pub slack_user: Option<String>,
}

/// Where on-call answers come from. One variant per system; the bot only ever asks
/// [`OnCallSource::on_call`].
#[derive(Debug, Clone)]
pub enum OnCallSource {
    OpsGenie(Arc<OpsGenieClient>),
    Jsm(Arc<JsmClient>),
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    OpsGenie(#[from] OpsGenieError),
    #[error(transparent)]
    Jsm(#[from] JsmError),
}

impl LookupError {
    /// An outage or overload rather than a configuration mistake.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::OpsGenie(error) => error.retry_hint().is_some(),
            Self::Jsm(error) => error.retry_hint().is_some(),
        }
    }
}

impl OnCallSource {
    /// Who is on call for `schedule` right now, straight from the source.
    /// The rotations are extra detail: when only they fail, the answer is still
    /// given, without them.
    pub async fn on_call(&self, schedule: &str) -> Result<OnCall, LookupError> {
        let (people, rotations) = match self {
            Self::OpsGenie(client) => {
                let (emails, rotations) =
                    tokio::join!(client.on_call_emails(schedule), client.rotations(schedule));
                let rotations = rotations.unwrap_or_else(|error| {
                    tracing::warn!(%error, %schedule, "no rotation detail; answering without it");
                    Vec::new()
                });
                let people = emails?
                    .iter()
                    .map(|email| Person::with_email(email))
                    .collect();
                (people, rotations)
            }
            Self::Jsm(client) => (client.on_call_people(schedule).await?, Vec::new()),
        };
        Ok(OnCall {
            schedule: schedule.to_owned(),
            people,
            rotations,
        })
    }

    /// The system's name, as people know it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpsGenie(_) => "OpsGenie",
            Self::Jsm(_) => "JSM Operations",
        }
    }
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
pub enum LookupFailure {
    #[error("the on-call lookup failed: {0}")]
    Failed(Arc<LookupError>),
    #[error("the on-call source failed moments ago; backing off for {0:?}")]
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

/// How long to wait after a failed refresh before the next upstream try.
#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
        }
    }
}

const HEALTH_UNKNOWN: u8 = 0;
const HEALTH_OK: u8 = 1;
const HEALTH_FAILED: u8 = 2;

/// On-call answers and Slack accounts, cached. Concurrent misses for the same key
/// share one upstream call; when the source fails, the last good answer is served
/// with its age, and the source is left alone for a backoff window.
pub struct OnCallDirectory {
    source: OnCallSource,
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
        source: OnCallSource,
        slack: Arc<SlackApi>,
        ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            source,
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

    /// The on-call source's name ("OpsGenie").
    pub fn source_name(&self) -> &'static str {
        self.source.name()
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
    pub async fn on_call(&self, schedule: &str) -> Result<Answer, LookupFailure> {
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
                .ok_or(LookupFailure::BackingOff(wait));
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
                .ok_or(LookupFailure::Failed(error)),
        }
    }

    /// Asks the source now, bypassing the cache, and caches the fresh answer.
    pub async fn refresh(&self, schedule: &str) -> Result<Arc<OnCall>, LookupError> {
        let snapshot = self.fetch(schedule).await?;
        let on_call = Arc::clone(&snapshot.on_call);
        self.fresh.insert(schedule.to_owned(), snapshot).await;
        Ok(on_call)
    }

    /// One upstream try; remembers a success as the last good answer and a
    /// failure as a backoff window.
    async fn fetch(&self, schedule: &str) -> Result<Arc<Snapshot>, LookupError> {
        match self.source.on_call(schedule).await {
            Ok(on_call) => {
                self.last_call.store(HEALTH_OK, Ordering::Relaxed);
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
                self.back_off(schedule, error.is_transient());
                tracing::warn!(%error, %schedule, "on-call lookup failed; backing off");
                Err(error)
            }
        }
    }

    fn back_off(&self, schedule: &str, transient: bool) {
        let Ok(mut backoffs) = self.backoff.lock() else {
            return;
        };
        let delay = backoffs
            .get(schedule)
            .map(|previous| (previous.delay * 2).min(self.backoff_policy.max))
            .unwrap_or(self.backoff_policy.initial);
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

    /// Slack ids for people known by Atlassian account id (JSM), whose email may
    /// be hidden.
    pub fn with_account_overrides(mut self, overrides: HashMap<String, String>) -> Self {
        self.account_overrides = overrides;
        self
    }

    /// Forgets cached answers and any backoff, so the next answer comes fresh from
    /// the source. The last good answers stay, as a fallback for outages.
    pub fn clear(&self) {
        self.fresh.invalidate_all();
        self.slack_users.invalidate_all();
        if let Ok(mut backoffs) = self.backoff.lock() {
            backoffs.clear();
        }
    }
}

fn fresh(snapshot: &Snapshot) -> Answer {
    Answer {
        on_call: Arc::clone(&snapshot.on_call),
        freshness: Freshness::Fresh,
    }
}

/// "12 minutes", "less than a minute", "3 hours", "2 days".
pub fn describe_age(age: Duration) -> String {
    let minutes = age.as_secs() / 60;
    let plural = |count: u64, unit: &str| {
        if count == 1 {
            format!("1 {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };
    match minutes {
        0 => "less than a minute".to_owned(),
        1..=119 => plural(minutes, "minute"),
        120..=2879 => plural(minutes / 60, "hour"),
        _ => plural(minutes / 1440, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_a_person_would_say_them() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(describe_age(Duration::from_secs(59)), "less than a minute");
        assert_eq!(describe_age(minutes(1)), "1 minute");
        assert_eq!(describe_age(minutes(12)), "12 minutes");
        assert_eq!(describe_age(minutes(119)), "119 minutes");
        assert_eq!(describe_age(minutes(120)), "2 hours");
        assert_eq!(describe_age(minutes(60 * 47)), "47 hours");
        assert_eq!(describe_age(minutes(60 * 48)), "2 days");
    }
}
