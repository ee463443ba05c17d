//! Acting on an alert by its alias: OpsGenie's `POST /v2/alerts/{alias}/{verb}`,
//! which JSM's integration API mirrors under `/jsm/ops/integration/v2/alerts`.
//!
//! Both answer 202 and do the work later: whether it happened (an alert already
//! closed, an alias nobody raised) is told only by the request's status, asked
//! of `…/alerts/requests/{requestId}`, which answers 404 until it is processed.

use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::alert_body::Accepted;
use crate::outbound::{Credential, RestClient, RestError, Retryable};

/// What the bot asks the provider to do to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertVerb<'a> {
    Acknowledge,
    /// Make this user (their email, the provider's username) the owner.
    Assign {
        owner: &'a str,
    },
    Close,
}

impl AlertVerb<'_> {
    fn path(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Assign { .. } => "assign",
            Self::Close => "close",
        }
    }
}

/// On whose behalf, and the note that goes with the action.
#[derive(Debug, Clone, Copy)]
pub struct ActingUser<'a> {
    /// The person's email when known, else their name.
    pub user: &'a str,
    pub note: &'a str,
}

/// An action that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The provider said no: the reason is its own, for the person who acted.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Failed(#[from] RestError),
}

impl ActionError {
    /// A refusal the caller can show as it is, or a failure (outage, key).
    fn from_rest(error: RestError) -> Self {
        match error {
            RestError::NotFound { message, .. } | RestError::Rejected { message, .. } => {
                Self::Refused(message)
            }
            other => Self::Failed(other),
        }
    }

    /// [`Self::from_rest`] for an action the bot's credentials may not be
    /// allowed to take: their refusal is said as `forbidden`.
    pub(super) fn from_rest_or_forbidden(error: RestError, forbidden: &str) -> Self {
        match error {
            RestError::Unauthorized { .. } => Self::Refused(forbidden.to_owned()),
            other => Self::from_rest(other),
        }
    }

    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Failed(error) if error.retry_hint().is_some())
    }
}

#[derive(Debug, Serialize)]
struct ActionBody<'a> {
    user: &'a str,
    source: &'a str,
    note: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Owner<'a>>,
}

#[derive(Debug, Serialize)]
struct Owner<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    username: &'a str,
}

#[derive(Debug, Deserialize)]
struct RequestStatus {
    data: RequestStatusData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestStatusData {
    #[serde(default)]
    is_success: bool,
    #[serde(default)]
    status: String,
}

/// How often, and how far apart, a request's status is asked for.
const STATUS_POLLS: u32 = 6;
const STATUS_POLL_GAP: Duration = Duration::from_millis(250);

/// One provider's alert API: where it is, and how to authenticate.
pub(super) struct AlertApi<'a> {
    pub rest: &'a RestClient,
    pub credential: Credential,
    /// `…/v2/alerts`
    pub alerts_url: Url,
    /// The `Authorization` header's value.
    pub authorization: &'a str,
}

impl AlertApi<'_> {
    /// Sends the action, then waits (briefly) for the provider to say whether it
    /// happened. A status that never comes counts as done: the request was
    /// accepted, and the webhook will tell the thread otherwise.
    pub async fn act(
        &self,
        alias: &str,
        verb: AlertVerb<'_>,
        by: ActingUser<'_>,
    ) -> Result<(), ActionError> {
        let url = self.url(&[alias, verb.path()], &[("identifierType", "alias")])?;
        let body = ActionBody {
            user: by.user,
            source: "oncall-bot",
            note: by.note,
            owner: match verb {
                AlertVerb::Assign { owner } => Some(Owner {
                    kind: "user",
                    username: owner,
                }),
                _ => None,
            },
        };
        let sent: Result<Accepted, RestError> = self
            .rest
            .write(verb.path(), self.credential, |http| {
                http.post(url.clone())
                    .header(reqwest::header::AUTHORIZATION, self.authorization)
                    .json(&body)
            })
            .await;
        let accepted = match sent {
            Ok(accepted) => accepted,
            // It may have happened all the same: read the alert before saying.
            Err(error) if error.may_have_landed() => {
                tracing::warn!(%error, "the alert action may have been taken; reading back");
                return match self.happened(alias, verb).await {
                    Some(true) => Ok(()),
                    _ => Err(ActionError::Failed(error)),
                };
            }
            Err(error) => return Err(ActionError::from_rest(error)),
        };
        if accepted.request_id.is_empty() {
            return Ok(());
        }
        self.outcome(&accepted.request_id).await
    }

    /// Whether the alert shows what `verb` does (acknowledged, closed, its
    /// owner): how an action whose answer was lost is read back. `None` when
    /// the alert cannot be read either.
    async fn happened(&self, alias: &str, verb: AlertVerb<'_>) -> Option<bool> {
        #[derive(Deserialize)]
        struct Alert {
            data: AlertState,
        }
        #[derive(Deserialize)]
        struct AlertState {
            #[serde(default)]
            acknowledged: bool,
            #[serde(default)]
            status: String,
            #[serde(default)]
            owner: String,
        }
        let url = self.url(&[alias], &[("identifierType", "alias")]).ok()?;
        let alert: Alert = self
            .rest
            .call("alert", self.credential, |http| {
                http.get(url.clone())
                    .header(reqwest::header::AUTHORIZATION, self.authorization)
            })
            .await
            .map_err(|error| tracing::warn!(%error, "could not read the alert back"))
            .ok()?;
        let state = alert.data;
        Some(match verb {
            AlertVerb::Acknowledge => state.acknowledged,
            AlertVerb::Close => state.status == "closed",
            AlertVerb::Assign { owner } => state.owner.eq_ignore_ascii_case(owner),
        })
    }

    async fn outcome(&self, request_id: &str) -> Result<(), ActionError> {
        let url = self.url(&["requests", request_id], &[])?;
        for _ in 0..STATUS_POLLS {
            let status: Result<RequestStatus, RestError> = self
                .rest
                .call("request_status", self.credential, |http| {
                    http.get(url.clone())
                        .header(reqwest::header::AUTHORIZATION, self.authorization)
                })
                .await;
            match status {
                Ok(status) if status.data.is_success => return Ok(()),
                Ok(status) => return Err(ActionError::Refused(status.data.status)),
                // Not processed yet.
                Err(RestError::NotFound { .. }) => tokio::time::sleep(STATUS_POLL_GAP).await,
                Err(error) => {
                    tracing::warn!(%error, "could not read the action's outcome; taking it as done");
                    return Ok(());
                }
            }
        }
        tracing::warn!("the action's outcome was not ready in time; taking it as done");
        Ok(())
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, RestError> {
        let mut url = self.rest.url(&self.alerts_url, segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }
}
