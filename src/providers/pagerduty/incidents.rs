//! Incidents: raised through the Events API v2 with the bot's alias as the
//! `dedup_key` (a repeat while it is open pages nobody again), and acted on
//! through the REST API as the person who clicked (`From: <their email>`),
//! the incident found by its key.

use serde::Deserialize;
use serde_json::json;

use super::client::{PagerDutyClient, PagerDutyError, API_TOKEN};
use crate::model::{Alert, Priority};
use crate::outbound::RestError;
use crate::providers::alert_actions::{ActingUser, ActionError, AlertVerb};
use crate::providers::ProviderError;

/// PagerDuty cuts a trigger's summary at this many characters.
const MAX_SUMMARY_CHARS: usize = 1024;

/// `ALERT_PRIORITY` as an Events API severity: P1 critical, P2 error, P3
/// warning, P4 and P5 info (PagerDuty has four severities; its priorities are
/// an account's own and not set by the Events API).
pub fn severity(priority: Priority) -> &'static str {
    match priority {
        Priority::P1 => "critical",
        Priority::P2 => "error",
        Priority::P3 => "warning",
        Priority::P4 | Priority::P5 => "info",
    }
}

#[derive(Debug, Deserialize)]
struct Enqueued {
    #[serde(default)]
    dedup_key: String,
}

#[derive(Debug, Deserialize)]
struct IncidentsPage {
    #[serde(default)]
    incidents: Vec<IncidentSummary>,
}

#[derive(Debug, Deserialize)]
struct IncidentSummary {
    id: String,
    #[serde(default)]
    status: String,
}

#[derive(Debug, Deserialize)]
struct IncidentAnswer {
    incident: IncidentSummary,
}

#[derive(Debug, Deserialize)]
struct UsersPage {
    #[serde(default)]
    users: Vec<UserSummary>,
}

#[derive(Debug, Deserialize)]
struct UserSummary {
    id: String,
    #[serde(default)]
    email: String,
}

impl PagerDutyClient {
    /// Raises an incident through the Events API v2; returns its dedup key.
    /// Retried like a read: the dedup key makes a repeat harmless.
    pub async fn create_alert(&self, alert: &Alert) -> Result<String, ProviderError> {
        let Some(routing_key) = &self.config().routing_key else {
            return Err(PagerDutyError::NoRoutingKey.into());
        };
        let summary: String = alert.message.chars().take(MAX_SUMMARY_CHARS).collect();
        let mut details = serde_json::Map::new();
        details.insert("description".to_owned(), json!(alert.description));
        for (key, value) in &alert.details {
            details.insert(key.clone(), json!(value));
        }
        let links: Vec<serde_json::Value> = alert
            .description
            .lines()
            .filter_map(|line| line.strip_prefix("Slack message: "))
            .map(|href| json!({"href": href.trim(), "text": "The Slack thread"}))
            .collect();
        let body = json!({
            "routing_key": secrecy::ExposeSecret::expose_secret(routing_key),
            "event_action": "trigger",
            "dedup_key": alert.alias,
            "payload": {
                "summary": summary,
                "source": alert.source,
                "severity": severity(alert.priority),
                "custom_details": details,
            },
            "links": links,
        });
        let url = self
            .rest()
            .url(&self.config().events_url, &["v2", "enqueue"])?;
        let enqueued: Enqueued = self
            .rest()
            .call("enqueue", ROUTING_KEY, |http| {
                http.post(url.clone()).json(&body)
            })
            .await?;
        Ok(if enqueued.dedup_key.is_empty() {
            alert.alias.clone()
        } else {
            enqueued.dedup_key
        })
    }

    /// The incident raised under `key` (the bot's alias): the open one when
    /// the key was raised again after a resolve, else the latest (PagerDuty
    /// lists them oldest first).
    async fn incident_by_key(&self, key: &str) -> Result<Option<IncidentSummary>, RestError> {
        let page: IncidentsPage = self
            .get(
                "incidents",
                &["incidents"],
                &[
                    ("incident_key", key.to_owned()),
                    ("date_range", "all".to_owned()),
                ],
            )
            .await?;
        let mut incidents = page.incidents;
        let open = incidents
            .iter()
            .rposition(|incident| incident.status != "resolved");
        Ok(match open {
            Some(at) => Some(incidents.swap_remove(at)),
            None => incidents.pop(),
        })
    }

    /// The key (the bot's alias) of the incident with this id: looked up once
    /// (concurrent deliveries about it wait on the one lookup), then kept.
    pub async fn incident_key(&self, id: &str) -> Result<Option<String>, ProviderError> {
        #[derive(Deserialize)]
        struct Answer {
            incident: Keyed,
        }
        #[derive(Deserialize)]
        struct Keyed {
            incident_key: Option<String>,
        }
        let fetch = async {
            let answer: Answer = self.get("incident", &["incidents", id], &[]).await?;
            Ok::<_, RestError>(answer.incident.incident_key)
        };
        self.incident_keys()
            .try_get_with_by_ref(id, fetch)
            .await
            .map_err(ProviderError::Shared)
    }

    /// The PagerDuty user with exactly this email.
    pub(super) async fn user_id_by_email(&self, email: &str) -> Result<Option<String>, RestError> {
        let page: UsersPage = self
            .get("users", &["users"], &[("query", email.to_owned())])
            .await?;
        Ok(page
            .users
            .into_iter()
            .find(|user| user.email.eq_ignore_ascii_case(email))
            .map(|user| user.id))
    }

    /// Acts on the incident raised under `alias` as `by` (their email, which
    /// PagerDuty takes in `From`): acknowledge, reassign to them, resolve.
    /// A write that may have landed is read back.
    pub async fn act_on_alert(
        &self,
        alias: &str,
        verb: AlertVerb<'_>,
        by: ActingUser<'_>,
    ) -> Result<(), ActionError> {
        let refusal = |error: RestError| {
            ActionError::from_rest_or_forbidden(
                error,
                "PagerDuty does not let the bot's API key act on incidents (it needs write access)",
            )
        };
        let incident = self
            .incident_by_key(alias)
            .await
            .map_err(refusal)?
            .ok_or_else(|| {
                ActionError::Refused("PagerDuty has no incident raised for this message".to_owned())
            })?;
        let (body, wanted) = match verb {
            AlertVerb::Acknowledge => (
                json!({"incident": {"type": "incident_reference", "status": "acknowledged"}}),
                Some("acknowledged"),
            ),
            AlertVerb::Close => (
                json!({"incident": {"type": "incident_reference", "status": "resolved"}}),
                Some("resolved"),
            ),
            AlertVerb::Assign { owner } => {
                let user = self
                    .user_id_by_email(owner)
                    .await
                    .map_err(refusal)?
                    .ok_or_else(|| {
                        ActionError::Refused(format!(
                            "PagerDuty has no user with the email {owner}"
                        ))
                    })?;
                (
                    json!({"incident": {"type": "incident_reference", "assignments": [
                        {"assignee": {"id": user, "type": "user_reference"}}
                    ]}}),
                    None,
                )
            }
        };
        let url = self
            .rest()
            .url(&self.config().api_url, &["incidents", &incident.id])
            .map_err(ActionError::Failed)?;
        let written: Result<IncidentAnswer, RestError> = self
            .rest()
            .write("incident_update", API_TOKEN, |http| {
                self.authorized(http.put(url.clone()))
                    .header("From", by.user)
                    .json(&body)
            })
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(error) if error.may_have_landed() => {
                // Read back: the incident says whether it happened.
                let answer: IncidentAnswer = self
                    .get("incident", &["incidents", &incident.id], &[])
                    .await
                    .map_err(refusal)?;
                match wanted {
                    Some(status) if answer.incident.status == status => Ok(()),
                    _ => Err(ActionError::Failed(error)),
                }
            }
            Err(error) => Err(refusal(error)),
        }
    }
}

/// The Events API's credential: the routing key in the body.
const ROUTING_KEY: crate::outbound::Credential = crate::outbound::Credential {
    name: "PAGERDUTY_ROUTING_KEY",
    advice: "check it: an Events API v2 integration key of the service the incidents go to",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_map_to_the_four_severities() {
        let mapped: Vec<&str> = [
            Priority::P1,
            Priority::P2,
            Priority::P3,
            Priority::P4,
            Priority::P5,
        ]
        .into_iter()
        .map(severity)
        .collect();
        assert_eq!(mapped, ["critical", "error", "warning", "info", "info"]);
    }

    #[tokio::test]
    async fn a_key_raised_again_after_a_resolve_is_acted_on_in_its_open_incident() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/incidents"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "incidents": [
                    {"id": "PINC1", "status": "resolved"},
                    {"id": "PINC2", "status": "triggered"},
                    {"id": "PINC3", "status": "resolved"}
                ]
            })))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path("/incidents/PINC2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"incident": {"id": "PINC2", "status": "acknowledged"}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let client = crate::providers::PagerDutyClient::new(
            crate::providers::PagerDutyConfig {
                api_url: server.uri().parse().expect("a URL"),
                events_url: server.uri().parse().expect("a URL"),
                api_token: "t".into(),
                schedule: "PSRE001".into(),
                routing_key: None,
                escalation_policies: Default::default(),
            },
            crate::outbound::Timeouts::default(),
        )
        .expect("a client");
        let acted = client
            .act_on_alert(
                "key",
                AlertVerb::Acknowledge,
                ActingUser {
                    user: "bob@corp.example",
                    note: "",
                },
            )
            .await;
        assert!(acted.is_ok(), "{acted:?}");
    }
}
