//! Who is on call: the on-call source behind one question, with caching and
//! coalescing, and each person's Slack account.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use moka::future::Cache;

use crate::opsgenie::{OpsGenieClient, OpsGenieError};
use crate::slack::{SlackApi, SlackError};

/// How long an email's Slack account (or its absence) is remembered.
pub const SLACK_USER_TTL: Duration = Duration::from_secs(60 * 60);

/// The people on call for a schedule, as the source reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub schedule: String,
    /// Emails (OpsGenie usernames), in the source's order.
    pub emails: Vec<String>,
}

/// A person on call, with their Slack account when they have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    pub email: String,
    pub slack_user: Option<String>,
}

/// Where on-call answers come from. One variant per system; the bot only ever asks
/// [`OnCallSource::on_call`].
#[derive(Debug, Clone)]
pub enum OnCallSource {
    OpsGenie(OpsGenieClient),
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    OpsGenie(#[from] OpsGenieError),
}

impl OnCallSource {
    /// Who is on call for `schedule` right now, straight from the source.
    pub async fn on_call(&self, schedule: &str) -> Result<OnCall, LookupError> {
        let emails = match self {
            Self::OpsGenie(client) => client.on_call_emails(schedule).await?,
        };
        Ok(OnCall {
            schedule: schedule.to_owned(),
            emails,
        })
    }
}

/// On-call answers and Slack accounts, cached. Concurrent misses for the same key
/// share one upstream call.
pub struct OnCallDirectory {
    source: OnCallSource,
    slack: Arc<SlackApi>,
    on_call: Cache<String, Arc<OnCall>>,
    slack_users: Cache<String, Option<String>>,
}

impl OnCallDirectory {
    pub fn new(source: OnCallSource, slack: Arc<SlackApi>, ttl: Duration) -> Self {
        Self {
            source,
            slack,
            on_call: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(1_000)
                .build(),
            slack_users: Cache::builder()
                .time_to_live(SLACK_USER_TTL)
                .max_capacity(10_000)
                .build(),
        }
    }

    /// Who is on call for `schedule`, from the cache when it is fresh.
    pub async fn on_call(&self, schedule: &str) -> Result<Arc<OnCall>, Arc<LookupError>> {
        self.on_call
            .try_get_with_by_ref(schedule, async {
                self.source.on_call(schedule).await.map(Arc::new)
            })
            .await
    }

    /// Asks the source now, bypassing the cache, and caches the fresh answer.
    pub async fn refresh(&self, schedule: &str) -> Result<Arc<OnCall>, LookupError> {
        let on_call = Arc::new(self.source.on_call(schedule).await?);
        self.on_call
            .insert(schedule.to_owned(), Arc::clone(&on_call))
            .await;
        Ok(on_call)
    }

    /// The people on call with their Slack accounts, looked up concurrently. A
    /// failed lookup is not remembered, and the person is shown by email meanwhile.
    pub async fn responders(&self, on_call: &OnCall) -> Vec<Responder> {
        join_all(on_call.emails.iter().map(|email| async move {
            let slack_user = self.slack_user(email).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "could not look up a Slack account by email");
                None
            });
            Responder {
                email: email.clone(),
                slack_user,
            }
        }))
        .await
    }

    /// The Slack user with this email (`None`: nobody has it), cached.
    pub async fn slack_user(&self, email: &str) -> Result<Option<String>, Arc<SlackError>> {
        self.slack_users
            .try_get_with_by_ref(email, self.slack.user_id_by_email(email))
            .await
    }

    /// Forgets every cached answer, so the next ones come fresh from upstream.
    pub fn clear(&self) {
        self.on_call.invalidate_all();
        self.slack_users.invalidate_all();
    }
}
