//! One read of the provider per schedule at a time, its answer kept until the
//! next change (a hand-over) or the TTL, and the last good answer kept for
//! outages, with a backoff window after a failure. The on-call answer and the
//! timeline both go through it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A good answer, when it was fetched, and under which generation of the
/// cache its read began.
#[derive(Debug)]
struct Snapshot<T> {
    value: Arc<T>,
    fetched_at: Instant,
    generation: u64,
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
///
/// Forgetting bumps a generation: an answer whose read began before is not
/// served again, even when the read ends after the forgetting (moka keeps
/// what an in-flight `try_get_with` returns).
pub struct Cached<T> {
    fresh: Cache<String, Arc<Snapshot<T>>>,
    last_good: Cache<String, Arc<Snapshot<T>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    policy: BackoffPolicy,
    generation: AtomicU64,
    /// The last good answer is served only while younger than this.
    stale_limit: Option<Duration>,
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
            generation: AtomicU64::new(0),
            stale_limit: None,
        }
    }

    /// The last good answer is not served once older than `limit`.
    pub fn with_stale_limit(mut self, limit: Duration) -> Self {
        self.stale_limit = Some(limit);
        self
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The fresh answer for `key`, if the cache holds one of this generation.
    async fn current(&self, key: &str) -> Option<Arc<Snapshot<T>>> {
        let snapshot = self.fresh.get(key).await?;
        if snapshot.generation == self.generation() {
            return Some(snapshot);
        }
        self.fresh.invalidate(key).await;
        None
    }

    /// The fresh answer for `key`, without asking anyone when there is none.
    pub async fn peek(&self, key: &str) -> Option<Arc<T>> {
        self.current(key)
            .await
            .map(|snapshot| Arc::clone(&snapshot.value))
    }

    pub fn set_backoff(&mut self, policy: BackoffPolicy) {
        self.policy = policy;
    }

    /// The answer for `key`: fresh from the cache, else from `fetch` (one at a
    /// time per key), else the last good one when the failure is an outage.
    /// `fetch` makes the read only on a miss: a read's future is large, and a
    /// hit (nearly every answer) should not build one.
    pub async fn get<F, R>(&self, key: &str, fetch: F) -> Result<Got<T>, NoAnswer>
    where
        F: FnOnce() -> R,
        R: Future<Output = Result<T, ProviderError>>,
    {
        if let Some(snapshot) = self.current(key).await {
            return Ok(fresh(&snapshot, true));
        }
        if let Some(backoff) = self.current_backoff(key) {
            let wait = backoff.until.saturating_duration_since(Instant::now());
            return self
                .stale(key, backoff.transient)
                .await
                .ok_or(NoAnswer::BackingOff(wait));
        }
        // Boxed: the read is large, and only a miss needs its room.
        let fetched = Box::pin(
            self.fresh
                .try_get_with_by_ref(key, self.fetch(key, fetch())),
        )
        .await;
        match fetched {
            // Forgotten while it was read: the caller gets it (it asked
            // before the forgetting), the next caller reads again.
            Ok(snapshot) if snapshot.generation != self.generation() => {
                self.fresh.invalidate(key).await;
                Ok(fresh(&snapshot, false))
            }
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
        let generation = self.generation();
        match fetch.await {
            Ok(value) => {
                if let Ok(mut backoff) = self.backoff.lock() {
                    backoff.remove(key);
                }
                let snapshot = Arc::new(Snapshot {
                    value: Arc::new(value),
                    fetched_at: Instant::now(),
                    generation,
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
        let age = snapshot.fetched_at.elapsed();
        if self.stale_limit.is_some_and(|limit| age > limit) {
            return None;
        }
        Some(Got {
            value: Arc::clone(&snapshot.value),
            freshness: Freshness::Stale { age },
            hit: true,
        })
    }

    /// Forgets the fresh answers; the last good ones stay, for outages, and
    /// so does a backoff window: clearing is no way around it.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.fresh.invalidate_all();
    }

    /// Forgets the fresh answer for `key`, and any being read: the
    /// generation moves on for every key (forgetting is rare: after an
    /// override), so other keys are read once more too.
    pub async fn forget(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::RestError;

    #[derive(Debug)]
    struct Answer(u32);

    impl Changes for Answer {
        fn next_change(&self, _now: SystemTime) -> Option<SystemTime> {
            None
        }
    }

    fn outage() -> ProviderError {
        ProviderError::Rest(RestError::Server {
            system: "OpsGenie",
            status: 503,
        })
    }

    #[tokio::test]
    async fn an_answer_read_across_a_forget_is_not_served_again() {
        let cache = Cached::<Answer>::new(Duration::from_secs(60));
        let reads = AtomicU64::new(0);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let slow = async {
            reads.fetch_add(1, Ordering::Relaxed);
            let _ = released.await;
            Ok(Answer(1))
        };
        let forget = async {
            tokio::task::yield_now().await;
            cache.forget("payments").await;
            let _ = release.send(());
        };
        let (first, ()) = tokio::join!(cache.get("payments", || slow), forget);
        assert_eq!(
            first.map(|got| got.value.0).ok(),
            Some(1),
            "its asker gets it"
        );
        let read_again = async {
            reads.fetch_add(1, Ordering::Relaxed);
            Ok(Answer(2))
        };
        let second = cache.get("payments", || read_again).await;
        assert_eq!(
            second.map(|got| (got.value.0, got.hit)).ok(),
            Some((2, false))
        );
        assert_eq!(
            reads.load(Ordering::Relaxed),
            2,
            "read again after the forget"
        );
        let third = cache.get("payments", || async { Ok(Answer(3)) }).await;
        assert_eq!(
            third.map(|got| (got.value.0, got.hit)).ok(),
            Some((2, true))
        );
        assert_eq!(cache.peek("payments").await.map(|answer| answer.0), Some(2));
    }

    #[tokio::test]
    async fn the_last_good_answer_covers_an_outage_only_while_young_enough() {
        let mut cache = Cached::<Answer>::new(Duration::ZERO);
        cache.set_backoff(BackoffPolicy {
            initial: Duration::ZERO,
            max: Duration::ZERO,
        });
        let good = cache.get("payments", || async { Ok(Answer(1)) }).await;
        assert!(good.is_ok());
        let stale = cache.get("payments", || async { Err(outage()) }).await;
        assert!(
            matches!(stale, Ok(Got { freshness: Freshness::Stale { .. }, ref value, .. }) if value.0 == 1),
            "{:?}",
            stale.as_ref().map(|got| got.value.0).err()
        );
        let limited = cache.with_stale_limit(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let none = limited.get("payments", || async { Err(outage()) }).await;
        assert!(matches!(none, Err(NoAnswer::Failed(_))));
    }
}
