//! The on-call providers behind one seam: OpsGenie, and JSM Operations (its
//! successor). Each knows only the plain types of [`crate::model`] and the shared
//! REST plumbing of [`crate::outbound`]; each adds its own auth and the errors
//! only it can have.
//!
//! [`Provider`] is an enum rather than a trait: the set of providers is closed and
//! small, calls are dispatched statically without boxing async methods, and a new
//! operation (the alert actions to come) fails to compile until every provider
//! has it. Tests fake the providers over HTTP, not through the seam.

mod alert_actions;
mod alert_body;
pub mod jsm;
pub mod opsgenie;
pub mod pagerduty;
mod timeline;
pub mod webhook;

use std::time::SystemTime;

use crate::model::{Alert, OverrideRequest, Person, RotationPlan};
use crate::outbound::{RestError, Retryable};

pub use alert_actions::{ActingUser, ActionError, AlertVerb};
pub use jsm::{JsmClient, JsmConfig, JsmError};
pub use opsgenie::OpsGenieClient;
pub use pagerduty::{PagerDutyClient, PagerDutyConfig, PagerDutyError};

/// A failed provider call.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Rest(#[from] RestError),
    /// A failure several callers waited on (a cached lookup's).
    #[error(transparent)]
    Shared(std::sync::Arc<RestError>),
    #[error(transparent)]
    Jsm(#[from] JsmError),
    #[error(transparent)]
    PagerDuty(#[from] PagerDutyError),
}

impl ProviderError {
    /// An outage or overload rather than a configuration mistake.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Rest(error) => error.retry_hint().is_some(),
            Self::Shared(error) => error.retry_hint().is_some(),
            Self::Jsm(_) | Self::PagerDuty(_) => false,
        }
    }
}

/// Where on-call answers come from and alerts go. Both boxed: the clients
/// differ in size by hundreds of bytes (JSM carries its caches), and the enum
/// need not be as large as the larger.
#[derive(Debug)]
pub enum Provider {
    OpsGenie(Box<OpsGenieClient>),
    Jsm(Box<JsmClient>),
    PagerDuty(Box<PagerDutyClient>),
}

impl Provider {
    /// The system's name, as people know it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpsGenie(_) => "OpsGenie",
            Self::Jsm(_) => "JSM Operations",
            Self::PagerDuty(_) => "PagerDuty",
        }
    }

    /// Who is on call for `schedule` right now, in the provider's order.
    pub async fn on_call_people(&self, schedule: &str) -> Result<Vec<Person>, ProviderError> {
        Ok(match self {
            Self::OpsGenie(client) => client
                .on_call_emails(schedule)
                .await?
                .iter()
                .map(|email| Person::with_email(email))
                .collect(),
            Self::Jsm(client) => client.on_call_people(schedule).await?,
            Self::PagerDuty(client) => client.on_call_people(schedule).await?,
        })
    }

    /// Who is on call for `schedule` at `at`, in the provider's order.
    pub async fn on_call_people_at(
        &self,
        schedule: &str,
        at: SystemTime,
    ) -> Result<Vec<Person>, ProviderError> {
        Ok(match self {
            Self::OpsGenie(client) => client
                .on_call_emails_at(schedule, at)
                .await?
                .iter()
                .map(|email| Person::with_email(email))
                .collect(),
            Self::Jsm(client) => client.on_call_people_at(schedule, at).await?,
            Self::PagerDuty(client) => client.on_call_people_at(schedule, at).await?,
        })
    }

    /// Each rotation's shifts over `from` .. `until`, in the schedule's order.
    pub async fn plan(
        &self,
        schedule: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<RotationPlan>, ProviderError> {
        match self {
            Self::OpsGenie(client) => Ok(client.plan(schedule, from, until).await?),
            Self::Jsm(client) => client.plan(schedule, from, until).await,
            Self::PagerDuty(client) => client.plan(schedule, from, until).await,
        }
    }

    /// Whether who is on call is exactly who the schedule's timeline has on
    /// now (PagerDuty: the final schedule, or the levels), so that one read
    /// answers both. OpsGenie and JSM name on-call people (escalations, no
    /// rotation) that no rotation shows.
    pub fn on_call_is_the_timeline(&self) -> bool {
        matches!(self, Self::PagerDuty(_))
    }

    /// Finds `schedule` where the provider names schedules by id or by name
    /// (PagerDuty): the id is remembered. Elsewhere there is nothing to find.
    pub async fn find_schedule(&self, schedule: &str) -> Result<(), ProviderError> {
        match self {
            Self::PagerDuty(client) => client.schedule_id(schedule).await.map(drop),
            Self::OpsGenie(_) | Self::Jsm(_) => Ok(()),
        }
    }

    /// Creates `alert`; returns the provider's request id.
    pub async fn create_alert(&self, alert: &Alert) -> Result<String, ProviderError> {
        Ok(match self {
            Self::OpsGenie(client) => client.create_alert(alert).await?,
            Self::Jsm(client) => client.create_alert(alert).await?,
            Self::PagerDuty(client) => client.create_alert(alert).await?,
        })
    }

    /// Makes a schedule override; returns its alias (the bot's own on
    /// OpsGenie, JSM's on JSM).
    pub async fn make_override(&self, request: &OverrideRequest) -> Result<String, ActionError> {
        match self {
            Self::OpsGenie(client) => client.create_override(request).await,
            Self::Jsm(client) => client.create_override(request).await,
            Self::PagerDuty(client) => client.create_override(request).await,
        }
    }

    /// The alias of the override `request` would make, when the schedule holds
    /// it: how a write that may have landed is read back (by the bot's alias on
    /// OpsGenie; on JSM, which names overrides itself, by person and span).
    pub async fn find_override(
        &self,
        request: &OverrideRequest,
    ) -> Result<Option<String>, ActionError> {
        match self {
            Self::OpsGenie(client) => client.find_override(request).await,
            Self::Jsm(client) => client.find_override(request).await,
            Self::PagerDuty(client) => client.find_override(request).await,
        }
    }

    /// Deletes the override with this alias from `schedule`.
    pub async fn delete_override(&self, schedule: &str, alias: &str) -> Result<(), ActionError> {
        match self {
            Self::OpsGenie(client) => client.delete_override(schedule, alias).await,
            Self::Jsm(client) => client.delete_override(schedule, alias).await,
            Self::PagerDuty(client) => client.delete_override(schedule, alias).await,
        }
    }

    /// The alias of the alert the provider knows by `id`, for webhooks that
    /// name it so (PagerDuty's notes); `None` where the webhooks carry it.
    pub async fn alias_of(&self, id: &str) -> Result<Option<String>, ProviderError> {
        match self {
            Self::PagerDuty(client) => Ok(client.incident_key(id).await?),
            Self::OpsGenie(_) | Self::Jsm(_) => Ok(None),
        }
    }

    /// The email of the person the provider knows by `id` (PagerDuty's
    /// webhooks name people so).
    pub async fn email_of(&self, id: &str) -> Result<Option<String>, ProviderError> {
        match self {
            Self::PagerDuty(client) => Ok(client.person(id).await?.email),
            Self::OpsGenie(_) | Self::Jsm(_) => Ok(None),
        }
    }

    /// Acts on the alert with this alias as `by`; `Ok` once the provider says it
    /// happened.
    pub async fn act_on_alert(
        &self,
        alias: &str,
        verb: AlertVerb<'_>,
        by: ActingUser<'_>,
    ) -> Result<(), ActionError> {
        match self {
            Self::OpsGenie(client) => client.act_on_alert(alias, verb, by).await,
            Self::Jsm(client) => client.act_on_alert(alias, verb, by).await,
            Self::PagerDuty(client) => client.act_on_alert(alias, verb, by).await,
        }
    }
}
