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
mod timeline;
pub mod webhook;

use std::time::SystemTime;

use crate::model::{Alert, OverrideRequest, Person, RotationPlan};
use crate::outbound::{RestError, Retryable};

pub use alert_actions::{ActingUser, ActionError, AlertVerb};
pub use jsm::{JsmClient, JsmConfig, JsmError};
pub use opsgenie::OpsGenieClient;

/// A failed provider call.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error(transparent)]
    Jsm(#[from] JsmError),
}

impl ProviderError {
    /// An outage or overload rather than a configuration mistake.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Rest(error) => error.retry_hint().is_some(),
            Self::Jsm(_) => false,
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
}

impl Provider {
    /// The system's name, as people know it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpsGenie(_) => "OpsGenie",
            Self::Jsm(_) => "JSM Operations",
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
        }
    }

    /// Creates `alert`; returns the provider's request id.
    pub async fn create_alert(&self, alert: &Alert) -> Result<String, ProviderError> {
        Ok(match self {
            Self::OpsGenie(client) => client.create_alert(alert).await?,
            Self::Jsm(client) => client.create_alert(alert).await?,
        })
    }

    /// Makes a schedule override; returns its alias (the bot's own on
    /// OpsGenie, JSM's on JSM).
    pub async fn make_override(&self, request: &OverrideRequest) -> Result<String, ActionError> {
        match self {
            Self::OpsGenie(client) => client.create_override(request).await,
            Self::Jsm(client) => client.create_override(request).await,
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
        }
    }

    /// Deletes the override with this alias from `schedule`.
    pub async fn delete_override(&self, schedule: &str, alias: &str) -> Result<(), ActionError> {
        match self {
            Self::OpsGenie(client) => client.delete_override(schedule, alias).await,
            Self::Jsm(client) => client.delete_override(schedule, alias).await,
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
        }
    }
}
