//! The shared state in Redis (or Valkey): one multiplexed connection through
//! redis-rs's `ConnectionManager` (it reconnects by itself), and one pub/sub
//! connection that hears cache clears. Every key starts with the prefix and has
//! an expiry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{socket2, TcpSettings};
use redis::Script;
use secrecy::ExposeSecret;

use super::{StateConfig, StoreError, STORE_TIMEOUT};
use crate::supervise::LoopHandle;

/// How often the subscription that hears cache clears is pinged: a link a NAT
/// or a load balancer dropped without a word is found within this (and the
/// ping's own second).
pub const SUBSCRIPTION_PING: Duration = Duration::from_secs(5);

/// How long the cache's generation is kept: any clear within it is seen by a
/// replica that reconnects.
const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Renews the lease when this process holds it, takes it when nobody does.
const HOLD_LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Deletes the lease only when this process holds it.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A sliding window: forget what is older than the window, then count one
/// more use unless the limit is reached. One script, so that two replicas
/// cannot both take the last use.
const TAKE_ALLOWANCE: &str = r"
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 1
";

/// Sets the key to the number when it is greater than the one held (or none
/// is): whether it was.
const ADVANCE: &str = r"
local held = tonumber(redis.call('GET', KEYS[1]))
local offered = tonumber(ARGV[1])
if held and held >= offered then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Takes a piece of work: free, or held by a holder whose time ran out (taken
/// over, and what it was doing said), or done, or busy. The value is
/// `done`, or `<phase>:<holder>:<deadline in ms, Redis's clock>`, kept for the
/// dedupe window so that a lapsed holder's phase can still be read.
const BEGIN_WORK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function take()
  redis.call('SET', KEYS[1], ARGV[4] .. ':' .. ARGV[1] .. ':' .. (now + tonumber(ARGV[2])), 'PX', ARGV[3])
end
local held = redis.call('GET', KEYS[1])
if not held then
  take()
  return 'mine'
end
if held == 'done' then
  return 'done'
end
local phase, holder, deadline = string.match(held, '^(%a+):([^:]+):(%d+)$')
if not phase then
  -- A value of an earlier version's claim (`1`): taken, so done.
  return 'done'
end
if holder == ARGV[1] then
  take()
  return 'mine'
end
if tonumber(deadline) > now then
  return 'busy'
end
take()
return 'over:' .. phase
";

/// Renews the holder's claim in `phase` for a while more; 0 when it is not
/// the holder's any more.
const MARK_WORK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('GET', KEYS[1])
if not held then
  return 0
end
local phase, holder = string.match(held, '^(%a+):([^:]+):')
if holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[1] .. ':' .. (now + tonumber(ARGV[3])), 'PX', ARGV[4])
return 1
";

/// Gives the work up, if the holder still holds it.
const ABANDON_WORK: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^%a+:([^:]+):') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The Redis side of [`super::SharedState`]; cheap to clone.
#[derive(Clone)]
pub struct RedisState {
    client: redis::Client,
    /// The connection commands go over; replaced when it stalls.
    connection: Arc<std::sync::Mutex<ConnectionManager>>,
    /// Commands in a row that got no answer in time on this connection.
    stalls: Arc<std::sync::atomic::AtomicU32>,
    prefix: Arc<str>,
    /// This process's lease token: random, so that only it renews or
    /// releases what it took.
    token: Arc<str>,
    /// The last cache generation this process knows of (0: none yet).
    generation: Arc<AtomicU64>,
    hold_lease: Arc<Script>,
    release_lease: Arc<Script>,
    take_allowance: Arc<Script>,
    advance: Arc<Script>,
    begin_work: Arc<Script>,
    mark_work: Arc<Script>,
    abandon_work: Arc<Script>,
}

/// Commands in a row without an answer before the connection is replaced.
const STALLS_BEFORE_NEW_CONNECTION: u32 = 2;

/// A connection manager (connected lazily) with the store's bounds.
fn connect(client: &redis::Client) -> Result<ConnectionManager, StoreError> {
    ConnectionManager::new_lazy_with_config(
        client.clone(),
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(STORE_TIMEOUT))
            .set_response_timeout(Some(STORE_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200)),
    )
    .map_err(|error| StoreError::BadUrl(error.category().to_owned()))
}

fn failed(error: redis::RedisError) -> StoreError {
    StoreError::Redis(error.to_string())
}

impl RedisState {
    pub fn new(config: &StateConfig) -> Result<Self, StoreError> {
        let url = config.url.expose_secret();
        // Said here rather than by redis-rs, whose error may repeat the URL
        // (and its password).
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(StoreError::BadUrl(
                "it must start with redis:// or rediss://".to_owned(),
            ));
        }
        let parsed = redis::Client::open(url).map_err(|error| {
            StoreError::BadUrl(format!("{} (the URL does not parse)", error.category()))
        })?;
        // TCP keepalive and a user timeout: a peer gone without a word (a NAT
        // or load balancer that dropped its state) is noticed by the kernel.
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(
                socket2::TcpKeepalive::new()
                    .with_time(Duration::from_secs(15))
                    .with_interval(Duration::from_secs(5)),
            )
            .set_user_timeout(Duration::from_secs(30));
        let client =
            redis::Client::open(parsed.get_connection_info().clone().set_tcp_settings(tcp))
                .map_err(|error| StoreError::BadUrl(error.category().to_owned()))?;
        let connection = connect(&client)?;
        Ok(Self {
            client,
            connection: Arc::new(std::sync::Mutex::new(connection)),
            stalls: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            prefix: config.prefix.as_str().into(),
            token: format!(
                "{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            )
            .into(),
            generation: Arc::new(AtomicU64::new(0)),
            hold_lease: Arc::new(Script::new(HOLD_LEASE)),
            release_lease: Arc::new(Script::new(RELEASE_LEASE)),
            take_allowance: Arc::new(Script::new(TAKE_ALLOWANCE)),
            advance: Arc::new(Script::new(ADVANCE)),
            begin_work: Arc::new(Script::new(BEGIN_WORK)),
            mark_work: Arc::new(Script::new(MARK_WORK)),
            abandon_work: Arc::new(Script::new(ABANDON_WORK)),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn connection(&self) -> ConnectionManager {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What became of a command: a connection that answered nothing
    /// [`STALLS_BEFORE_NEW_CONNECTION`] times in a row is dropped for a new
    /// one. redis-rs reconnects by itself only when a connection breaks; one
    /// that goes quiet (its peer black-holed by a NAT or a proxy) would be kept
    /// for good.
    pub fn note(&self, answered: bool) {
        use std::sync::atomic::Ordering;
        if answered {
            self.stalls.store(0, Ordering::Relaxed);
            return;
        }
        let stalls = self.stalls.fetch_add(1, Ordering::Relaxed) + 1;
        if stalls < STALLS_BEFORE_NEW_CONNECTION {
            return;
        }
        match connect(&self.client) {
            Ok(fresh) => {
                *self
                    .connection
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                self.stalls.store(0, Ordering::Relaxed);
                tracing::warn!(
                    stalls,
                    "the shared state's connection stopped answering; replaced"
                );
            }
            Err(error) => tracing::warn!(%error, "could not make a new shared-state connection"),
        }
    }

    pub async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.connection())
            .await
            .map_err(failed)?;
        Ok(set.is_some())
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(failed)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.connection())
            .await
            .map_err(failed)
    }

    pub async fn advance(&self, key: &str, value: u64, ttl: Duration) -> Result<bool, StoreError> {
        let advanced: i64 = self
            .advance
            .key(self.key(key))
            .arg(value)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await
            .map_err(failed)?;
        Ok(advanced == 1)
    }

    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(failed)
    }

    pub async fn take_allowance(
        &self,
        key: &str,
        member: &str,
        limit: u32,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let taken: i64 = self
            .take_allowance
            .key(self.key(key))
            .arg(now)
            .arg(millis(window))
            .arg(limit)
            .arg(member)
            .invoke_async(&mut self.connection())
            .await
            .map_err(failed)?;
        Ok(taken == 1)
    }

    pub async fn give_back_allowance(&self, key: &str, member: &str) -> Result<(), StoreError> {
        redis::cmd("ZREM")
            .arg(self.key(key))
            .arg(member)
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(failed)
    }

    fn generation_key(&self) -> String {
        self.key("cache-generation")
    }

    fn clears_channel(&self) -> String {
        self.key("cache-clears")
    }

    /// A new cache generation, published; this process knows it already, so
    /// its own message does not clear its cache a second time.
    pub async fn announce_cache_clear(&self) -> Result<(), StoreError> {
        let (generation,): (u64,) = redis::pipe()
            .atomic()
            .incr(self.generation_key(), 1)
            .expire(self.generation_key(), GENERATION_TTL.as_secs() as i64)
            .ignore()
            .query_async(&mut self.connection())
            .await
            .map_err(failed)?;
        self.generation.fetch_max(generation, Ordering::Relaxed);
        redis::cmd("PUBLISH")
            .arg(self.clears_channel())
            .arg(generation)
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(failed)
    }

    /// Hears cache clears until the process ends: subscribes, then reads the
    /// current generation (a clear missed while disconnected still counts),
    /// then follows the messages, pinging the subscription every
    /// [`SUBSCRIPTION_PING`] (Redis answers `PING` on a subscribed connection):
    /// a link that goes quiet is dropped and made again. Tells `handle` of
    /// every subscription made and every ping answered; says once when it is
    /// lost and once when it is back.
    pub async fn watch_cache_clears(
        self,
        on_clear: Arc<dyn Fn() + Send + Sync>,
        handle: LoopHandle,
    ) {
        let mut lost = false;
        loop {
            let result = self.follow_clears(&on_clear, &handle, &mut lost).await;
            if let Err(error) = result {
                handle.failed(&error);
                if !lost {
                    tracing::warn!(%error, "not hearing other replicas' cache clears; reconnecting");
                    lost = true;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn follow_clears(
        &self,
        on_clear: &Arc<dyn Fn() + Send + Sync>,
        handle: &LoopHandle,
        lost: &mut bool,
    ) -> Result<(), StoreError> {
        let mut pubsub = tokio::time::timeout(STORE_TIMEOUT * 5, self.client.get_async_pubsub())
            .await
            .map_err(|_| StoreError::Timeout(STORE_TIMEOUT * 5))?
            .map_err(failed)?;
        tokio::time::timeout(STORE_TIMEOUT * 5, pubsub.subscribe(self.clears_channel()))
            .await
            .map_err(|_| StoreError::Timeout(STORE_TIMEOUT * 5))?
            .map_err(failed)?;
        let current: Option<u64> = tokio::time::timeout(
            STORE_TIMEOUT * 5,
            redis::cmd("GET")
                .arg(self.generation_key())
                .query_async(&mut self.connection()),
        )
        .await
        .map_err(|_| StoreError::Timeout(STORE_TIMEOUT * 5))?
        .map_err(failed)?;
        self.heard(current.unwrap_or(0), on_clear);
        if std::mem::take(lost) {
            tracing::info!("hearing other replicas' cache clears again");
        }
        handle.succeeded();
        let (mut sink, mut messages) = pubsub.split();
        let mut pings = tokio::time::interval(SUBSCRIPTION_PING);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pings.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return Err(StoreError::Redis("the subscription ended".to_owned()));
                    };
                    if let Ok(generation) = message.get_payload::<u64>() {
                        self.heard(generation, on_clear);
                    }
                }
                _ = pings.tick() => {
                    let pong = tokio::time::timeout(STORE_TIMEOUT * 5, sink.ping::<String>()).await;
                    match pong {
                        Ok(Ok(_)) => handle.succeeded(),
                        Ok(Err(error)) => return Err(failed(error)),
                        Err(_) => {
                            return Err(StoreError::Redis(
                                "the subscription did not answer a ping".to_owned(),
                            ))
                        }
                    }
                }
            }
        }
    }

    /// A generation seen: newer than known means someone cleared the cache.
    fn heard(&self, generation: u64, on_clear: &Arc<dyn Fn() + Send + Sync>) {
        let known = self.generation.fetch_max(generation, Ordering::Relaxed);
        if generation > known {
            tracing::info!("another replica cleared the on-call cache; cleared here too");
            on_clear();
        }
    }

    pub async fn begin_work(
        &self,
        key: &str,
        phase: super::Phase,
        hold: Duration,
        keep: Duration,
    ) -> Result<super::Work, StoreError> {
        let answer: String = self
            .begin_work
            .key(self.key(key))
            .arg(&*self.token)
            .arg(millis(hold))
            .arg(millis(keep))
            .arg(phase.as_str())
            .invoke_async(&mut self.connection())
            .await
            .map_err(failed)?;
        Ok(match answer.as_str() {
            "done" => super::Work::Done,
            "busy" => super::Work::Busy,
            "over:posting" => super::Work::TakenOver { was_posting: true },
            over if over.starts_with("over:") => super::Work::TakenOver { was_posting: false },
            _ => super::Work::Mine,
        })
    }

    pub async fn mark_work(
        &self,
        key: &str,
        phase: super::Phase,
        hold: Duration,
        keep: Duration,
    ) -> Result<bool, StoreError> {
        let held: i64 = self
            .mark_work
            .key(self.key(key))
            .arg(&*self.token)
            .arg(phase.as_str())
            .arg(millis(hold))
            .arg(millis(keep))
            .invoke_async(&mut self.connection())
            .await
            .map_err(failed)?;
        Ok(held == 1)
    }

    pub async fn abandon_work(&self, key: &str) -> Result<(), StoreError> {
        self.abandon_work
            .key(self.key(key))
            .arg(&*self.token)
            .invoke_async::<i64>(&mut self.connection())
            .await
            .map(drop)
            .map_err(failed)
    }

    pub async fn hold_lease(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        let held: i64 = self
            .hold_lease
            .key(self.key(&format!("lease:{name}")))
            .arg(&*self.token)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await
            .map_err(failed)?;
        Ok(held == 1)
    }

    pub async fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        self.release_lease
            .key(self.key(&format!("lease:{name}")))
            .arg(&*self.token)
            .invoke_async::<i64>(&mut self.connection())
            .await
            .map(drop)
            .map_err(failed)
    }

    /// The server's name and version, from `INFO server`.
    pub async fn ping(&self) -> Result<String, StoreError> {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut self.connection())
            .await
            .map_err(failed)?;
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|value| value.trim().to_owned())
        };
        Ok(match (field("valkey_version:"), field("redis_version:")) {
            (Some(version), _) => format!("Valkey {version}"),
            (None, Some(version)) => format!("Redis {version}"),
            (None, None) => "a Redis-compatible server".to_owned(),
        })
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
