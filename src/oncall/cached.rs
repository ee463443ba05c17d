//! One read of the provider per schedule at a time, its answer kept until the
//! next change (a hand-over) or the TTL, and the last good answer kept for
//! outages, with a backoff window after a failure. The on-call answer and the
//! timeline both go through it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;

use crate::outbound::BackoffPolicy;
use crate::providers::ProviderError;

/// An answer that knows when it stops being true.
pub trait Changes {
    /// The next moment the answer changes (someone's shift ends or starts).
    fn next_change(&self, now: SystemTime) -> Option<SystemTime>;
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
struct Snapshot<T> {
    value: Arc<T>,
    fetched_at: Instant,
}

/// After a failure, no upstream try for this key until `until`.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    delay: Duration,
    /// The failure was an outage (stale answers apply), not a configuration error.
    transient: bool,
}

/// What a lookup came to, for the caller's metrics.
pub struct Got<T> {
    pub value: Arc<T>,
    pub freshness: Freshness,
    /// Answered from the cache, without asking the provider.
    pub hit: bool,
}

/// Fresh answers live for the TTL, but never past their next change.
struct ChangeExpiry {
    ttl: Duration,
}

impl ChangeExpiry {
    fn lifetime<T: Changes>(&self, snapshot: &Snapshot<T>) -> Duration {
        let now = SystemTime::now();
        match snapshot.value.next_change(now) {
            Some(change) => change
                .duration_since(now)
                .unwrap_or(Duration::ZERO)
                .min(self.ttl),
            None => self.ttl,
        }
    }
}

impl<T: Changes + Send + Sync + 'static> moka::Expiry<String, Arc<Snapshot<T>>> for ChangeExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        snapshot: &Arc<Snapshot<T>>,
        _: Instant,
    ) -> Option<Duration> {
        Some(self.lifetime(snapshot))
    }

    fn expire_after_update(
        &self,
        _: &String,
        snapshot: &Arc<Snapshot<T>>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(snapshot))
    }
}

/// Answers by key (a schedule): concurrent misses share one upstream call
/// (moka's `try_get_with`), a failure opens a backoff window, and during an
/// outage the last good answer is served with its age.
pub struct Cached<T> {
    fresh: Cache<String, Arc<Snapshot<T>>>,
    last_good: Cache<String, Arc<Snapshot<T>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    policy: BackoffPolicy,
}

impl<T: Changes + Send + Sync + 'static> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            fresh: Cache::builder()
                .expire_after(ChangeExpiry { ttl })
                .max_capacity(1_000)
                .build(),
            last_good: Cache::builder().max_capacity(1_000).build(),
            backoff: Mutex::new(HashMap::new()),
            policy: BackoffPolicy::default(),
        }
    }

    pub fn set_backoff(&mut self, policy: BackoffPolicy) {
        self.policy = policy;
    }

    /// The answer for `key`: fresh from the cache, else from `fetch` (one at a
    /// time per key), else the last good one when the failure is an outage.
    pub async fn get<F>(&self, key: &str, fetch: F) -> Result<Got<T>, NoAnswer>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        if let Some(snapshot) = self.fresh.get(key).await {
            return Ok(fresh(&snapshot, true));
        }
        if let Some(backoff) = self.current_backoff(key) {
            let wait = backoff.until.saturating_duration_since(Instant::now());
            return self
                .stale(key, backoff.transient)
                .await
                .ok_or(NoAnswer::BackingOff(wait));
        }
        let fetched = self
            .fresh
            .try_get_with_by_ref(key, self.fetch(key, fetch))
            .await;
        match fetched {
            Ok(snapshot) => Ok(fresh(&snapshot, false)),
            Err(error) => self
                .stale(key, error.is_transient())
                .await
                .ok_or(NoAnswer::Failed(error)),
        }
    }

    /// Asks now, bypassing the cache, and keeps the fresh answer.
    pub async fn refresh<F>(&self, key: &str, fetch: F) -> Result<Arc<T>, ProviderError>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        let snapshot = self.fetch(key, fetch).await?;
        let value = Arc::clone(&snapshot.value);
        self.fresh.insert(key.to_owned(), snapshot).await;
        Ok(value)
    }

    /// One upstream try: a success is also the last good answer, a failure
    /// opens a backoff window.
    async fn fetch<F>(&self, key: &str, fetch: F) -> Result<Arc<Snapshot<T>>, ProviderError>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        match fetch.await {
            Ok(value) => {
                if let Ok(mut backoff) = self.backoff.lock() {
                    backoff.remove(key);
                }
                let snapshot = Arc::new(Snapshot {
                    value: Arc::new(value),
                    fetched_at: Instant::now(),
                });
                self.last_good
                    .insert(key.to_owned(), Arc::clone(&snapshot))
                    .await;
                Ok(snapshot)
            }
            Err(error) => {
                self.back_off(key, error.is_transient());
                Err(error)
            }
        }
    }

    fn back_off(&self, key: &str, transient: bool) {
        let Ok(mut backoffs) = self.backoff.lock() else {
            return;
        };
        let delay = self
            .policy
            .after(backoffs.get(key).map(|previous| previous.delay));
        backoffs.insert(
            key.to_owned(),
            Backoff {
                until: Instant::now() + delay,
                delay,
                transient,
            },
        );
    }

    fn current_backoff(&self, key: &str) -> Option<Backoff> {
        let backoffs = self.backoff.lock().ok()?;
        backoffs
            .get(key)
            .copied()
            .filter(|backoff| backoff.until > Instant::now())
    }

    /// The last good answer, when the failure is one where an old answer helps.
    async fn stale(&self, key: &str, transient: bool) -> Option<Got<T>> {
        if !transient {
            return None;
        }
        let snapshot = self.last_good.get(key).await?;
        Some(Got {
            value: Arc::clone(&snapshot.value),
            freshness: Freshness::Stale {
                age: snapshot.fetched_at.elapsed(),
            },
            hit: true,
        })
    }

    /// Forgets the fresh answers; the last good ones stay, for outages, and
    /// so does a backoff window: clearing is no way around it.
    pub fn clear(&self) {
        self.fresh.invalidate_all();
    }

    /// Forgets the fresh answer for `key`.
    pub async fn forget(&self, key: &str) {
        self.fresh.invalidate(key).await;
    }
}

fn fresh<T>(snapshot: &Snapshot<T>, hit: bool) -> Got<T> {
    Got {
        value: Arc::clone(&snapshot.value),
        freshness: Freshness::Fresh,
        hit,
    }
}
