//! The OpsGenie client: on-call recipients, the timeline read as rotations, alerts.

use std::sync::Arc;
use std::time::SystemTime;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use super::wire::{OnCallsResponse, TimelineResponse};
use crate::metrics::Metrics;
use crate::model::{Alert, OverrideRequest, Person, RotationPlan};
use crate::outbound::{Credential, RestClient, RestError, RetryPolicy, System, Timeouts};
use crate::providers::alert_actions::{ActingUser, ActionError, AlertApi, AlertVerb};
use crate::providers::alert_body::{Accepted, CreateAlertBody};

pub const US_API_URL: &str = "https://api.opsgenie.com";
pub const EU_API_URL: &str = "https://api.eu.opsgenie.com";

const OPSGENIE: System = System {
    name: "OpsGenie",
    label: "opsgenie",
};

const API_KEY: Credential = Credential {
    name: "the API key",
    advice: "check OPSGENIE_API_KEY, its permissions, and OPSGENIE_REGION (us or eu)",
};

/// A small OpsGenie REST client: one base URL, one API key.
#[derive(Clone)]
pub struct OpsGenieClient {
    rest: RestClient,
    base_url: Url,
    api_key: SecretString,
}

impl std::fmt::Debug for OpsGenieClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsGenieClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl OpsGenieClient {
    pub fn new(
        base_url: Url,
        api_key: SecretString,
        timeouts: Timeouts,
    ) -> Result<Self, RestError> {
        let rest = RestClient::new(OPSGENIE, timeouts)?;
        // Checked once here, so that no call fails on it later.
        rest.url(&base_url, &[])?;
        Ok(Self {
            rest,
            base_url,
            api_key,
        })
    }

    /// Counts every HTTP call by outcome.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.rest = self.rest.with_metrics(metrics);
        self
    }

    /// How transient failures (429, 5xx, timeouts) are retried.
    pub fn with_retry_policy(mut self, retries: RetryPolicy) -> Self {
        self.rest = self.rest.with_retry_policy(retries);
        self
    }

    /// The key, as OpsGenie takes it.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header(
            reqwest::header::AUTHORIZATION,
            format!("GenieKey {}", self.api_key.expose_secret()),
        )
    }

    /// `GET {base}/{segments…}?{query}` with the key; `call` names it in metrics.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, RestError> {
        let mut url = self.rest.url(&self.base_url, segments)?;
        url.query_pairs_mut().extend_pairs(query);
        self.rest
            .call(call, API_KEY, |http| self.authorized(http.get(url.clone())))
            .await
    }

    /// The usernames (emails) on call right now for the schedule with this name.
    pub async fn on_call_emails(&self, schedule: &str) -> Result<Vec<String>, RestError> {
        let answer: OnCallsResponse = self
            .get(
                "on_calls",
                &["v2", "schedules", schedule, "on-calls"],
                &[("scheduleIdentifierType", "name"), ("flat", "true")],
            )
            .await?;
        Ok(answer.data.on_call_recipients)
    }

    /// Each rotation's shifts that overlap `from` .. `until`, in the schedule's
    /// order, from the timeline starting at `from`.
    pub async fn plan(
        &self,
        schedule: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<RotationPlan>, RestError> {
        let days = until
            .duration_since(from)
            .map_or(1, |span| span.as_secs().div_ceil(24 * 60 * 60).max(1));
        let date = crate::outbound::rfc3339(from);
        let interval = days.to_string();
        let answer: TimelineResponse = self
            .get(
                "timeline",
                &["v2", "schedules", schedule, "timeline"],
                &[
                    ("identifierType", "name"),
                    ("date", &date),
                    ("intervalUnit", "days"),
                    ("interval", &interval),
                ],
            )
            .await?;
        Ok(plans_of(answer, from, until))
    }

    /// The usernames (emails) on call at `at` for the schedule with this name.
    pub async fn on_call_emails_at(
        &self,
        schedule: &str,
        at: SystemTime,
    ) -> Result<Vec<String>, RestError> {
        let date = crate::outbound::rfc3339(at);
        let answer: OnCallsResponse = self
            .get(
                "on_calls",
                &["v2", "schedules", schedule, "on-calls"],
                &[
                    ("scheduleIdentifierType", "name"),
                    ("flat", "true"),
                    ("date", &date),
                ],
            )
            .await?;
        Ok(answer.data.on_call_recipients)
    }

    /// Creates an alert; OpsGenie accepts it with 202 and a request id, returned here.
    pub async fn create_alert(&self, alert: &Alert) -> Result<String, RestError> {
        let url = self.rest.url(&self.base_url, &["v2", "alerts"])?;
        let body = CreateAlertBody::from(alert);
        let accepted: Accepted = self
            .rest
            .call("alerts", API_KEY, |http| {
                self.authorized(http.post(url.clone()).json(&body))
            })
            .await?;
        Ok(accepted.request_id)
    }

    /// Makes the override: the person (by username, an email) on call over the
    /// span in place of whoever is in the named rotations (all of them when
    /// none are named), under the bot's alias for it. Returns the alias.
    pub async fn create_override(&self, request: &OverrideRequest) -> Result<String, ActionError> {
        let Some(username) = request.who.email.as_deref() else {
            return Err(ActionError::Refused(
                "OpsGenie needs the person's email, and their Slack profile shows none".to_owned(),
            ));
        };
        let mut url = self.rest.url(
            &self.base_url,
            &["v2", "schedules", &request.schedule, "overrides"],
        )?;
        url.query_pairs_mut()
            .append_pair("scheduleIdentifierType", "name");
        let rotations: Vec<serde_json::Value> = request
            .rotations
            .iter()
            .map(|rotation| match &rotation.id {
                Some(id) => serde_json::json!({ "id": id }),
                None => serde_json::json!({ "name": rotation.name }),
            })
            .collect();
        let mut body = serde_json::json!({
            "alias": request.alias,
            "user": {"type": "user", "username": username},
            "startDate": crate::outbound::rfc3339(request.from),
            "endDate": crate::outbound::rfc3339(request.until),
        });
        if !rotations.is_empty() {
            body["rotations"] = rotations.into();
        }
        let created: Result<serde_json::Value, RestError> = self
            .rest
            .write("overrides", API_KEY, |http| {
                self.authorized(http.post(url.clone()).json(&body))
            })
            .await;
        let created = created.map_err(|error| {
            ActionError::from_rest_or_forbidden(error, "the bot's API key may not change schedules")
        })?;
        Ok(created["data"]["alias"]
            .as_str()
            .unwrap_or(&request.alias)
            .to_owned())
    }

    /// The override with the request's alias, when the schedule holds it.
    pub async fn find_override(
        &self,
        request: &OverrideRequest,
    ) -> Result<Option<String>, ActionError> {
        let mut url = self.rest.url(
            &self.base_url,
            &[
                "v2",
                "schedules",
                &request.schedule,
                "overrides",
                &request.alias,
            ],
        )?;
        url.query_pairs_mut()
            .append_pair("scheduleIdentifierType", "name");
        let found: Result<serde_json::Value, RestError> = self
            .rest
            .call("overrides", API_KEY, |http| {
                self.authorized(http.get(url.clone()))
            })
            .await;
        match found {
            Ok(_) => Ok(Some(request.alias.clone())),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(error) => Err(ActionError::Failed(error)),
        }
    }

    /// Deletes the override with this alias from the schedule.
    pub async fn delete_override(&self, schedule: &str, alias: &str) -> Result<(), ActionError> {
        let mut url = self.rest.url(
            &self.base_url,
            &["v2", "schedules", schedule, "overrides", alias],
        )?;
        url.query_pairs_mut()
            .append_pair("scheduleIdentifierType", "name");
        let deleted: Result<serde_json::Value, RestError> = self
            .rest
            .write("overrides", API_KEY, |http| {
                self.authorized(http.delete(url.clone()))
            })
            .await;
        deleted.map(drop).map_err(|error| {
            ActionError::from_rest_or_forbidden(error, "the bot's API key may not change schedules")
        })
    }

    /// Acts on the alert with this alias, and waits for OpsGenie to say whether
    /// it happened.
    pub async fn act_on_alert(
        &self,
        alias: &str,
        verb: AlertVerb<'_>,
        by: ActingUser<'_>,
    ) -> Result<(), ActionError> {
        let authorization = format!("GenieKey {}", self.api_key.expose_secret());
        AlertApi {
            rest: &self.rest,
            credential: API_KEY,
            alerts_url: self.rest.url(&self.base_url, &["v2", "alerts"])?,
            authorization: &authorization,
        }
        .act(alias, verb, by)
        .await
    }
}

/// The timeline's rotations in the schedule's order, each with its people's
/// shifts overlapping `from` .. `until`, by start (people by username).
fn plans_of(answer: TimelineResponse, from: SystemTime, until: SystemTime) -> Vec<RotationPlan> {
    answer.data.plans(from, until, |participant| {
        (!participant.name.is_empty()).then(|| Person::with_email(&participant.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const FAST_RETRIES: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        backoff: crate::outbound::BackoffPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
        deadline: Duration::from_secs(2),
    };

    async fn client_for(server: &MockServer) -> OpsGenieClient {
        OpsGenieClient::new(
            server.uri().parse().expect("URL"),
            SecretString::from("genie-key"),
            Timeouts {
                connect: Duration::from_secs(1),
                total: Duration::from_millis(500),
            },
        )
        .expect("client")
        .with_retry_policy(FAST_RETRIES)
    }

    fn on_calls(schedule: &str) -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(path(format!("/v2/schedules/{schedule}/on-calls")))
    }

    #[tokio::test]
    async fn sends_the_documented_on_call_request_and_reads_the_recipients() {
        let server = MockServer::start().await;
        // The name is one path segment, percent-encoded.
        on_calls("SRE%20schedule")
            .and(query_param("scheduleIdentifierType", "name"))
            .and(query_param("flat", "true"))
            .and(header("authorization", "GenieKey genie-key"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {"_parent": {"id": "1", "name": "SRE schedule", "enabled": true},
                         "onCallRecipients": ["alice@corp.example", "bob@corp.example"]},
                "took": 0.2, "requestId": "r"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let emails = client_for(&server)
            .await
            .on_call_emails("SRE schedule")
            .await
            .expect("on-call people");
        assert_eq!(emails, ["alice@corp.example", "bob@corp.example"]);
    }

    #[tokio::test]
    async fn a_schedule_with_nobody_on_call_is_an_empty_list() {
        let server = MockServer::start().await;
        on_calls("Quiet")
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {"_parent": {"id": "1", "name": "Quiet", "enabled": true}},
                "took": 0.1, "requestId": "r"
            })))
            .mount(&server)
            .await;
        let emails = client_for(&server).await.on_call_emails("Quiet").await;
        assert_eq!(emails.expect("an answer"), Vec::<String>::new());
    }

    #[tokio::test]
    async fn unauthorized_is_a_configuration_error_and_not_retried() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(401).set_body_json(
                serde_json::json!({"message": "Key format is not valid!", "took": 0.0, "requestId": "r"}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .await
            .on_call_emails("S")
            .await
            .expect_err("401");
        assert!(
            matches!(error, RestError::Unauthorized { status: 401, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("OPSGENIE_REGION"), "{error}");
    }

    #[tokio::test]
    async fn an_unknown_schedule_is_not_found_and_not_retried() {
        let server = MockServer::start().await;
        on_calls("Nope")
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!(
                {"message": "Schedule with identifier [Nope] not found", "took": 0.0, "requestId": "r"}
            )))
            .expect(1)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .await
            .on_call_emails("Nope")
            .await
            .expect_err("404");
        assert!(
            matches!(&error, RestError::NotFound { message, .. } if message.contains("[Nope]")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(503))
            .expect(3)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .await
            .on_call_emails("S")
            .await
            .expect_err("503");
        assert!(
            matches!(error, RestError::Server { status: 503, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn rate_limits_are_retried_after_the_servers_wait() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!(
                {"data": {"onCallRecipients": ["alice@corp.example"]}}
            )))
            .mount(&server)
            .await;
        let emails = client_for(&server).await.on_call_emails("S").await;
        assert_eq!(emails.expect("answer after 429"), ["alice@corp.example"]);
        let requests = server.received_requests().await.expect("recorded");
        assert_eq!(requests.len(), 2);
    }

    #[tokio::test]
    async fn a_retry_after_of_u64_max_neither_panics_nor_waits() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(
                ResponseTemplate::new(429).insert_header("retry-after", "18446744073709551615"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let started = std::time::Instant::now();
        let error = client_for(&server)
            .await
            .on_call_emails("S")
            .await
            .expect_err("429");
        assert!(matches!(error, RestError::RateLimited { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn error_texts_carry_the_message_field_cut_short_never_the_body() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(500).set_body_string("<html>CANARY-500</html>"))
            .mount(&server)
            .await;
        on_calls("T")
            .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({
                "message": format!("bad {}", "x".repeat(5_000)), "secret": "CANARY-422"
            })))
            .mount(&server)
            .await;
        let client = client_for(&server).await;
        let server_error = client.on_call_emails("S").await.expect_err("500");
        assert_eq!(server_error.to_string(), "OpsGenie failed (HTTP 500)");
        let rejected = client
            .on_call_emails("T")
            .await
            .expect_err("422")
            .to_string();
        assert!(!rejected.contains("CANARY"), "{rejected}");
        assert!(rejected.starts_with("OpsGenie rejected the request (HTTP 422): bad xxx"));
        assert!(rejected.chars().count() < 300, "{rejected}");
    }

    #[tokio::test]
    async fn a_hung_opsgenie_times_out() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let client = client_for(&server)
            .await
            .with_retry_policy(RetryPolicy::none());
        let error = client.on_call_emails("S").await.expect_err("timeout");
        assert!(matches!(error, RestError::Timeout { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_body_that_is_not_the_documented_json_is_a_decode_error() {
        let server = MockServer::start().await;
        on_calls("S")
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
            .expect(1)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .await
            .on_call_emails("S")
            .await
            .expect_err("decode");
        assert!(matches!(error, RestError::Decode { .. }), "{error:?}");
    }

    #[test]
    fn the_api_key_is_not_in_debug_output() {
        let client = OpsGenieClient::new(
            "https://api.opsgenie.com".parse().expect("URL"),
            SecretString::from("genie-secret-key"),
            Timeouts::default(),
        )
        .expect("client");
        assert!(!format!("{client:?}").contains("genie-secret-key"));
    }

    fn accepted(request_id: &str) -> ResponseTemplate {
        ResponseTemplate::new(202).set_body_json(serde_json::json!({
            "result": "Request will be processed", "took": 0.01, "requestId": request_id
        }))
    }

    fn request_status(success: bool, status: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"success": success, "isSuccess": success, "status": status,
                     "action": "Acknowledge", "alias": "a"},
            "took": 0.01, "requestId": "r1"
        }))
    }

    #[tokio::test]
    async fn an_action_waits_for_its_request_to_be_processed_and_reads_the_outcome() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/alerts/slack-C1-1.1/acknowledge"))
            .and(query_param("identifierType", "alias"))
            .and(header("authorization", "GenieKey genie-key"))
            .and(body_json(serde_json::json!({
                "user": "alice@corp.example", "source": "oncall-bot", "note": "from Slack"
            })))
            .respond_with(accepted("r1"))
            .expect(1)
            .mount(&server)
            .await;
        // Not processed yet at the first ask, as OpsGenie answers then.
        Mock::given(method("GET"))
            .and(path("/v2/alerts/requests/r1"))
            .respond_with(ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"message": "Request not found", "took": 0.0, "requestId": "x"}),
            ))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/alerts/requests/r1"))
            .respond_with(request_status(false, "Alert is already closed"))
            .mount(&server)
            .await;
        let by = ActingUser {
            user: "alice@corp.example",
            note: "from Slack",
        };
        let outcome = client_for(&server)
            .await
            .act_on_alert("slack-C1-1.1", AlertVerb::Acknowledge, by)
            .await;
        match outcome {
            Err(ActionError::Refused(reason)) => assert_eq!(reason, "Alert is already closed"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let asked = server
            .received_requests()
            .await
            .expect("recorded")
            .iter()
            .filter(|request| request.url.path() == "/v2/alerts/requests/r1")
            .count();
        assert_eq!(asked, 2, "asked again after the 404");
    }

    #[tokio::test]
    async fn an_assignment_names_the_owner_and_a_rejection_is_a_refusal_in_opsgenies_words() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/alerts/a/assign"))
            .and(body_json(serde_json::json!({
                "user": "bob@corp.example", "source": "oncall-bot", "note": "n",
                "owner": {"type": "user", "username": "bob@corp.example"}
            })))
            .respond_with(accepted("r2"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/alerts/requests/r2"))
            .respond_with(request_status(true, "Assigned"))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v2/alerts/a/close"))
            .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({
                "message": "User does not have permission", "took": 0.0, "requestId": "x"
            })))
            .mount(&server)
            .await;
        let client = client_for(&server).await;
        let by = ActingUser {
            user: "bob@corp.example",
            note: "n",
        };
        let assign = AlertVerb::Assign {
            owner: "bob@corp.example",
        };
        assert!(client.act_on_alert("a", assign, by).await.is_ok());
        match client.act_on_alert("a", AlertVerb::Close, by).await {
            Err(ActionError::Refused(reason)) => {
                assert_eq!(reason, "User does not have permission")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn override_request(rotations: Vec<crate::model::RotationRef>) -> OverrideRequest {
        OverrideRequest {
            schedule: "SRE schedule".into(),
            who: Person::with_email("bob@corp.example"),
            from: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_460_400),
            until: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_474_800),
            rotations,
            alias: "oncall-bot-0123456789abcdef".into(),
        }
    }

    #[tokio::test]
    async fn an_override_names_its_alias_and_rotations_and_is_deleted_by_alias() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/schedules/SRE%20schedule/overrides"))
            .and(query_param("scheduleIdentifierType", "name"))
            .and(header("authorization", "GenieKey genie-key"))
            .and(body_json(serde_json::json!({
                "alias": "oncall-bot-0123456789abcdef",
                "user": {"type": "user", "username": "bob@corp.example"},
                "startDate": "2026-11-23T19:00:00Z",
                "endDate": "2026-11-23T23:00:00Z",
                "rotations": [{"id": "rot-1"}, {"name": "Backup"}],
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "data": {"alias": "oncall-bot-0123456789abcdef"}, "took": 0.1, "requestId": "r"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(
                "/v2/schedules/SRE%20schedule/overrides/oncall-bot-0123456789abcdef",
            ))
            .and(query_param("scheduleIdentifierType", "name"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "result": "Deleted", "took": 0.1, "requestId": "r"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let client = client_for(&server).await;
        let rotations = vec![
            crate::model::RotationRef {
                id: Some("rot-1".into()),
                name: "Weekly".into(),
            },
            crate::model::RotationRef {
                id: None,
                name: "Backup".into(),
            },
        ];
        let alias = client
            .create_override(&override_request(rotations))
            .await
            .expect("made");
        assert_eq!(alias, "oncall-bot-0123456789abcdef");
        client
            .delete_override("SRE schedule", &alias)
            .await
            .expect("deleted");
    }

    #[tokio::test]
    async fn an_override_is_not_sent_again_after_a_5xx_but_is_after_a_429() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(502))
            .expect(1)
            .mount(&server)
            .await;
        let client = client_for(&server).await;
        let failed = client.create_override(&override_request(vec![])).await;
        assert!(
            matches!(
                failed,
                Err(ActionError::Failed(RestError::Server { status: 502, .. }))
            ),
            "{failed:?}"
        );
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "data": {"alias": "oncall-bot-0123456789abcdef"}
            })))
            .expect(1)
            .mount(&server)
            .await;
        assert!(client
            .create_override(&override_request(vec![]))
            .await
            .is_ok());
        let refused = client
            .create_override(&OverrideRequest {
                who: Person {
                    email: None,
                    name: "x".into(),
                    account_id: None,
                },
                ..override_request(vec![])
            })
            .await;
        assert!(matches!(refused, Err(ActionError::Refused(_))));
    }
}
