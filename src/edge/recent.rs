//! A set of recently seen keys that forgets by time and only by time.
//!
//! Slack retries an event within about five minutes. A cache with an admission
//! policy (moka's TinyLFU) may refuse a new key when full, and a refused key is a
//! retry answered twice; this set keeps every key for at least one window and at
//! most two, whatever the load, so its size is bounded by the events of two
//! windows and nothing else. Keys are kept as 64-bit keyed hashes: 8 bytes
//! each, and a collision among a million keys is about one chance in 10^7.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, RandomState};
use std::time::{Duration, Instant};

/// Two generations of hashed keys; the older one is dropped whole when the
/// newer one is a window old.
#[derive(Debug)]
pub struct RecentKeys {
    window: Duration,
    hasher: RandomState,
    current: HashSet<u64>,
    previous: HashSet<u64>,
    current_since: Instant,
}

impl RecentKeys {
    pub fn new(window: Duration, now: Instant) -> Self {
        Self {
            window,
            hasher: RandomState::new(),
            current: HashSet::new(),
            previous: HashSet::new(),
            current_since: now,
        }
    }

    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.current_since);
        if age < self.window {
            return;
        }
        if age >= self.window * 2 {
            // Nothing was added for two windows: both generations are old.
            self.previous.clear();
        } else {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.clear();
        self.current_since = now;
    }

    /// Whether `key` was recorded within the last window (at least).
    pub fn contains(&mut self, key: &impl Hash, now: Instant) -> bool {
        self.rotate(now);
        let hash = self.hasher.hash_one(key);
        self.current.contains(&hash) || self.previous.contains(&hash)
    }

    /// Records `key` as seen now.
    pub fn insert(&mut self, key: &impl Hash, now: Instant) {
        self.rotate(now);
        let hash = self.hasher.hash_one(key);
        self.current.insert(hash);
    }

    /// How many keys are held (both generations).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_forgotten_within_the_window_however_many_there_are() {
        let start = Instant::now();
        let mut recent = RecentKeys::new(Duration::from_secs(600), start);
        for n in 0..300_000u32 {
            recent.insert(&("event", n), start);
        }
        let later = start + Duration::from_secs(599);
        assert!((0..300_000u32).all(|n| recent.contains(&("event", n), later)));
        assert!(!recent.contains(&("event", 300_000u32), later));
    }

    #[test]
    fn keys_are_kept_one_window_at_least_and_two_at_most() {
        let window = Duration::from_secs(10);
        let start = Instant::now();
        let mut recent = RecentKeys::new(window, start);
        recent.insert(&"a", start);
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        recent.insert(&"b", at(9));
        assert!(
            recent.contains(&"a", at(10)),
            "rotated into the old generation"
        );
        assert!(recent.contains(&"b", at(18)));
        assert!(!recent.contains(&"a", at(20)), "two windows on, gone");
        assert!(!recent.contains(&"b", at(45)));
        assert!(recent.is_empty(), "memory follows the window, not history");
    }
}
