//! What the overrides service remembers between a question and its answer:
//! requests waiting for their Confirm, and overrides it made (for Undo). In
//! this process, and in the shared state when there is one, so that a click
//! landing on another replica finds them. Entries are small JSON, each with
//! its own expiry.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::future::Cache;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{Person, RotationRef};
use crate::store::SharedState;

/// A person as the provider knows them, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPerson {
    pub email: Option<String>,
    pub name: String,
    pub account_id: Option<String>,
}

impl From<&Person> for StoredPerson {
    fn from(person: &Person) -> Self {
        Self {
            email: person.email.clone(),
            name: person.name.clone(),
            account_id: person.account_id.clone(),
        }
    }
}

impl From<StoredPerson> for Person {
    fn from(person: StoredPerson) -> Self {
        Self {
            email: person.email,
            name: person.name,
            account_id: person.account_id,
        }
    }
}

/// A rotation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRotation {
    pub id: Option<String>,
    pub name: String,
}

impl From<&RotationRef> for StoredRotation {
    fn from(rotation: &RotationRef) -> Self {
        Self {
            id: rotation.id.clone(),
            name: rotation.name.clone(),
        }
    }
}

impl From<StoredRotation> for RotationRef {
    fn from(rotation: StoredRotation) -> Self {
        Self {
            id: rotation.id,
            name: rotation.name,
        }
    }
}

/// A Slack message: (channel, ts).
pub type Place = (String, String);

/// A request to take the call, waiting for its asker's Confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    /// The Slack user who asked; only theirs counts.
    pub asker: String,
    pub schedule: String,
    /// How the team is named (the team's name, or the schedule's).
    pub label: String,
    pub from: SystemTime,
    pub until: SystemTime,
    /// Who goes on call, as the provider knows them.
    pub taker: StoredPerson,
    /// The rotations the override replaces (all when empty).
    pub rotations: Vec<StoredRotation>,
    /// The thread it was asked in (none for `/oncall`).
    pub thread: Option<Place>,
}

/// An override the bot made, remembered for Undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    pub id: String,
    pub schedule: String,
    pub label: String,
    /// The provider's name for it.
    pub alias: String,
    pub taker: String,
    /// The Slack users it replaces: they may undo it too.
    pub replaced: Vec<String>,
    pub from: SystemTime,
    pub until: SystemTime,
    pub made_at: SystemTime,
    /// The thread it was asked in, and the announcement.
    pub thread: Option<Place>,
    pub announcement: Option<Place>,
}

/// Entries of one kind, here and in the shared state.
pub struct Book<T> {
    local: Cache<String, T>,
    shared: Arc<SharedState>,
    /// What the shared keys of this kind start with.
    kind: &'static str,
}

impl<T> Book<T>
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// At most `capacity` entries here, none older than `longest`.
    pub fn new(
        shared: Arc<SharedState>,
        kind: &'static str,
        capacity: u64,
        longest: Duration,
    ) -> Self {
        Self {
            local: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(longest)
                .build(),
            shared,
            kind,
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:{id}", self.kind)
    }

    /// Keeps `value` under `id` for `ttl` (at most the book's longest here).
    pub async fn put(&self, id: &str, value: &T, ttl: Duration) {
        self.local.insert(id.to_owned(), value.clone()).await;
        if self.shared.is_shared() {
            match serde_json::to_string(value) {
                Ok(json) => self.shared.put(&self.key(id), &json, ttl).await,
                Err(error) => tracing::warn!(%error, kind = self.kind, "could not share an entry"),
            }
        }
    }

    /// The entry under `id`. With shared state, what it holds decides (another
    /// replica may have used or removed the entry); this process's copy is
    /// used only while the store fails, or when there is none.
    pub async fn get(&self, id: &str) -> Option<T> {
        if self.shared.is_shared() {
            match self.shared.get(&self.key(id)).await {
                Some(Some(json)) => return serde_json::from_str(&json).ok(),
                Some(None) => {
                    self.local.invalidate(id).await;
                    return None;
                }
                None => {}
            }
        }
        self.local.get(id).await
    }

    /// Forgets `id`, here and in the shared state.
    pub async fn remove(&self, id: &str) {
        self.local.invalidate(id).await;
        self.shared.release(&self.key(id)).await;
    }
}
