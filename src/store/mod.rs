//! What several replicas share: the state seam. Without `STATE_URL` there is
//! nothing to share and every answer here is `None`, so each caller keeps to its
//! own memory, exactly as a single process always did. With it, Redis (or
//! Valkey) holds what must be seen by every replica: the messages answered, the
//! alerts raised and each person's recent alerts, the cache's generation, and
//! the user-group sync's lease.
//!
//! Every operation is bounded ([`STORE_TIMEOUT`]) and never fails its caller:
//! when Redis is down, slow or refusing, the answer is `None` and the caller
//! falls back to its own memory (a possible double answer is better than
//! silence). An outage is logged once, when it starts, and once when it ends;
//! each failed operation is counted in `/metrics`.

mod redis;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::metrics::Metrics;
use crate::supervise::LoopHandle;

pub use self::redis::RedisState;

/// How long one operation may take before the caller goes on without it.
pub const STORE_TIMEOUT: Duration = Duration::from_millis(200);

/// Where the shared state lives.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// `redis://host:6379/0` or `rediss://…`; may carry a password, so secret.
    pub url: SecretString,
    /// Every key starts with it (`oncall-bot:`), so that one Redis can serve
    /// several bots.
    pub prefix: String,
}

/// A `STATE_URL` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("STATE_URL is not a Redis URL (redis://host:port/db or rediss://…): {0}")]
    BadUrl(String),
    #[error("Redis did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("Redis refused or failed: {0}")]
    Redis(String),
}

/// A claim is renewed for at most this long: work that hangs longer lets it
/// lapse, for another replica to take over.
const RENEW_AT_MOST: Duration = Duration::from_secs(120);

/// What [`SharedState::begin_work`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Nobody held it: this process does it now.
    Mine,
    /// Its holder's time ran out (it died, or lost its link): this process
    /// does it now. `was_posting`: the holder was posting its result, which
    /// may have landed.
    TakenOver { was_posting: bool },
    /// Another replica is doing it, and renewing its claim.
    Busy,
    /// Done already.
    Done,
}

/// What a holder is doing with its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Working,
    /// Its result is on its way out: from here, a holder that dies may have
    /// done it.
    Posting,
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::Posting => "posting",
        }
    }
}

/// The shared state, or none; cheap to share behind an `Arc`.
pub struct SharedState {
    redis: Option<RedisState>,
    metrics: Arc<Metrics>,
    /// Whether the last operation failed: an outage is logged at its start.
    down: AtomicBool,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("shared", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl SharedState {
    /// Nothing shared: one process.
    pub fn local(metrics: Arc<Metrics>) -> Self {
        Self {
            redis: None,
            metrics,
            down: AtomicBool::new(false),
        }
    }

    /// Shared through Redis at `config.url`. Connects on first use, so a Redis
    /// that is down at start-up delays nothing; only a URL that cannot be used
    /// is an error.
    pub fn redis(config: &StateConfig, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        Ok(Self {
            redis: Some(RedisState::new(config)?),
            metrics,
            down: AtomicBool::new(false),
        })
    }

    /// Whether replicas share state (`STATE_URL` is set).
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Runs one operation within [`STORE_TIMEOUT`]; `None` when there is no
    /// store or it failed (logged at the outage's start, counted always).
    async fn run<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Option<T> {
        let outcome = match tokio::time::timeout(STORE_TIMEOUT, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StoreError::Timeout(STORE_TIMEOUT)),
        };
        if let Some(redis) = &self.redis {
            redis.note(outcome.is_ok());
        }
        match outcome {
            Ok(value) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "shared state (Redis) is reachable again; replicas share it again"
                    );
                }
                Some(value)
            }
            Err(error) => {
                self.metrics.store_error(op);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        op,
                        "shared state (Redis) unavailable; each replica keeps to its own memory until it is back"
                    );
                }
                None
            }
        }
    }

    /// Takes `key` for `ttl` unless someone holds it: `Some(true)` when this
    /// call took it, `Some(false)` when it was taken (by any replica).
    pub async fn claim(&self, key: &str, ttl: Duration) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        self.run("claim", redis.claim(key, ttl)).await
    }

    /// Claims the work `key` *in progress*, in `phase`, for `hold` (renewed
    /// with [`Self::mark_work`] while the work goes on), the record kept for
    /// `keep`; see [`Work`]. `None` without a store or while it fails.
    pub async fn begin_work(
        &self,
        key: &str,
        phase: Phase,
        hold: Duration,
        keep: Duration,
    ) -> Option<Work> {
        let redis = self.redis.as_ref()?;
        self.run("begin_work", redis.begin_work(key, phase, hold, keep))
            .await
    }

    /// Renews this process's claim of `key` in `phase` for `hold` more:
    /// `Some(false)` when it is not this process's any more.
    pub async fn mark_work(
        &self,
        key: &str,
        phase: Phase,
        hold: Duration,
        keep: Duration,
    ) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        self.run("mark_work", redis.mark_work(key, phase, hold, keep))
            .await
    }

    /// Runs `work` while renewing this process's claim of `key` every third
    /// of `hold`, in the phase `posting` says at each renewal; `renewed` is
    /// set once a renewal was made.
    pub async fn renewing<T>(
        &self,
        key: &str,
        posting: &AtomicBool,
        renewed: &AtomicBool,
        hold: Duration,
        keep: Duration,
        work: impl Future<Output = T>,
    ) -> T {
        if !self.is_shared() {
            return work.await;
        }
        // The renewals run beside the work (a slow renewal never holds it
        // up), and stop after RENEW_AT_MOST: work that hangs longer lets its
        // claim lapse, and another replica takes it over.
        let renewals = async {
            let mut ticks = tokio::time::interval(hold / 3);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            let until = tokio::time::Instant::now() + RENEW_AT_MOST;
            loop {
                ticks.tick().await;
                if tokio::time::Instant::now() > until {
                    tracing::warn!("work held its claim too long; letting the claim lapse");
                    return std::future::pending::<()>().await;
                }
                let phase = if posting.load(Ordering::Relaxed) {
                    Phase::Posting
                } else {
                    Phase::Working
                };
                renewed.store(true, Ordering::Relaxed);
                if self.mark_work(key, phase, hold, keep).await == Some(false) {
                    tracing::warn!("another replica took this work over");
                }
            }
        };
        tokio::select! {
            done = work => done,
            () = renewals => unreachable!("the renewals never end"),
        }
    }

    /// The work `key` is *done*, for `keep`.
    pub async fn finish_work(&self, key: &str, keep: Duration) {
        self.put(key, "done", keep).await;
    }

    /// Gives the work `key` up (it did not happen), if this process holds it.
    pub async fn abandon_work(&self, key: &str) {
        if let Some(redis) = &self.redis {
            self.run("abandon_work", redis.abandon_work(key)).await;
        }
    }

    /// Keeps `value` under `key` for `ttl`.
    pub async fn put(&self, key: &str, value: &str, ttl: Duration) {
        if let Some(redis) = &self.redis {
            self.run("put", redis.put(key, value, ttl)).await;
        }
    }

    /// What [`Self::put`] kept: `Some(None)` when nothing is kept under `key`.
    pub async fn get(&self, key: &str) -> Option<Option<String>> {
        let redis = self.redis.as_ref()?;
        self.run("get", redis.get(key)).await
    }

    /// Raises the number under `key` to `value` when it is greater (kept for
    /// `ttl`): `Some(false)` when `key` holds as much or more already. Exact up
    /// to 2^53 (Lua's numbers).
    pub async fn advance(&self, key: &str, value: u64, ttl: Duration) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        self.run("advance", redis.advance(key, value, ttl)).await
    }

    /// Gives `key` up (a claim for something that did not happen).
    pub async fn release(&self, key: &str) {
        if let Some(redis) = &self.redis {
            self.run("release", redis.release(key)).await;
        }
    }

    /// Counts one use of `key`'s allowance of `limit` per `window` under
    /// `member`: `Some(false)` when the allowance is used up.
    pub async fn take_allowance(
        &self,
        key: &str,
        member: &str,
        limit: u32,
        window: Duration,
    ) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        self.run(
            "allowance",
            redis.take_allowance(key, member, limit, window),
        )
        .await
    }

    /// Gives back what [`Self::take_allowance`] counted under `member`.
    pub async fn give_back_allowance(&self, key: &str, member: &str) {
        if let Some(redis) = &self.redis {
            self.run("allowance", redis.give_back_allowance(key, member))
                .await;
        }
    }

    /// Tells every replica to forget its cached answers.
    pub async fn announce_cache_clear(&self) {
        if let Some(redis) = &self.redis {
            self.run("cache_clear", redis.announce_cache_clear()).await;
        }
    }

    /// The loop that calls `on_clear` whenever another replica clears the
    /// cache (for a [`crate::supervise::Supervisor`] to run); `None` without a
    /// store.
    pub fn cache_clear_watcher(
        &self,
        on_clear: impl Fn() + Send + Sync + 'static,
    ) -> Option<impl Fn(LoopHandle) -> futures_util::future::BoxFuture<'static, ()> + Send + 'static>
    {
        let redis = self.redis.clone()?;
        let on_clear: Arc<dyn Fn() + Send + Sync> = Arc::new(on_clear);
        Some(move |handle: LoopHandle| {
            let redis = redis.clone();
            let on_clear = Arc::clone(&on_clear);
            Box::pin(async move { redis.watch_cache_clears(on_clear, handle).await })
                as futures_util::future::BoxFuture<'static, ()>
        })
    }

    /// Holds the lease `name` for `ttl` from now: takes it when free, renews it
    /// when this process holds it. `Some(false)`: another replica holds it.
    pub async fn hold_lease(&self, name: &str, ttl: Duration) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        self.run("lease", redis.hold_lease(name, ttl)).await
    }

    /// Lets the lease go, if this process holds it.
    pub async fn release_lease(&self, name: &str) {
        if let Some(redis) = &self.redis {
            self.run("lease", redis.release_lease(name)).await;
        }
    }

    /// For `check`: what answers at `STATE_URL`, or why nothing does.
    pub async fn ping(&self) -> Option<Result<String, StoreError>> {
        let redis = self.redis.as_ref()?;
        Some(
            match tokio::time::timeout(Duration::from_secs(2), redis.ping()).await {
                Ok(answer) => answer,
                Err(_) => Err(StoreError::Timeout(Duration::from_secs(2))),
            },
        )
    }
}
