//! The JSM Operations client: cloud id, schedules by name, on-call people with
//! their emails (through Jira's user lookup), alerts through the integration API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::future::Cache;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::wire::{OnCalls, SchedulePage, TenantInfo, UserPage};
use crate::metrics::Metrics;
use crate::model::{Alert, OverrideRequest, Person, RotationPlan};
use crate::outbound::{Credential, RestClient, RestError, RetryPolicy, System, Timeouts};
use crate::providers::alert_actions::{ActingUser, ActionError, AlertApi, AlertVerb};
use crate::providers::alert_body::{Accepted, CreateAlertBody};
use crate::providers::timeline::FinalTimeline;
use crate::providers::ProviderError;

pub const DEFAULT_JSM_API_URL: &str = "https://api.atlassian.com";

/// Schedules are looked up by name this many at a time.
const PAGE_SIZE: usize = 50;
/// At most this many pages (1,000 schedules) per lookup, so that a server that
/// ignores `offset` cannot keep the lookup going forever.
const MAX_SCHEDULE_PAGES: usize = 20;
/// Jira's bulk user lookup takes at most this many account ids a call.
const USERS_PER_CALL: usize = 100;
/// How long an account's email and name are remembered.
const USER_TTL: Duration = Duration::from_secs(60 * 60);

const JSM: System = System {
    name: "JSM",
    label: "jsm",
};

const CLASSIC_TOKEN_ADVICE: &str = "check it; an Atlassian API token with scopes may be \
     refused here, so use a classic API token (id.atlassian.com → Security → Create API token)";

const BASIC_AUTH: Credential = Credential {
    name: "JSM_EMAIL / JSM_API_TOKEN",
    advice: CLASSIC_TOKEN_ADVICE,
};

const INTEGRATION_KEY: Credential = Credential {
    name: "JSM_INTEGRATION_KEY",
    advice: CLASSIC_TOKEN_ADVICE,
};

/// What only JSM can get wrong; every HTTP failure is a [`RestError`].
#[derive(Debug, thiserror::Error)]
pub enum JsmError {
    #[error(
        "JSM Operations has no schedule named `{0}` (check JSM_SCHEDULE or the team's schedule)"
    )]
    UnknownSchedule(String),
    #[error("alerts through JSM need JSM_INTEGRATION_KEY (an API integration's key)")]
    NoIntegrationKey,
}

/// Where the JSM site and API are, and the credentials.
#[derive(Debug, Clone)]
pub struct JsmConfig {
    /// `https://acme.atlassian.net`
    pub site_url: Url,
    /// `https://api.atlassian.com`, or a fake's.
    pub api_url: Url,
    pub email: String,
    pub api_token: SecretString,
    /// Discovered from the site when not given.
    pub cloud_id: Option<String>,
    /// The default schedule's name.
    pub schedule: String,
    /// For alerts (`ALERT_ON_MENTION`).
    pub integration_key: Option<SecretString>,
    /// Atlassian account id → Slack user id.
    pub account_overrides: HashMap<String, String>,
}

/// A small JSM Operations client: cloud id, schedules by name, on-call people
/// with their emails, alerts.
pub struct JsmClient {
    rest: RestClient,
    config: JsmConfig,
    cloud_id: OnceCell<String>,
    schedule_ids: Mutex<HashMap<String, String>>,
    /// Held while a schedule is looked up by name.
    schedule_lookup: tokio::sync::Mutex<()>,
    users: Cache<String, Person>,
}

impl std::fmt::Debug for JsmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsmClient")
            .field("site_url", &self.config.site_url.as_str())
            .field("api_url", &self.config.api_url.as_str())
            .finish_non_exhaustive()
    }
}

impl JsmClient {
    pub fn new(config: JsmConfig, timeouts: Timeouts) -> Result<Self, RestError> {
        let rest = RestClient::new(JSM, timeouts)?;
        // Checked once here, so that no call fails on them later.
        for url in [&config.site_url, &config.api_url] {
            rest.url(url, &[])?;
        }
        Ok(Self {
            rest,
            cloud_id: OnceCell::new_with(config.cloud_id.clone()),
            config,
            schedule_ids: Mutex::new(HashMap::new()),
            schedule_lookup: tokio::sync::Mutex::new(()),
            users: Cache::builder()
                .time_to_live(USER_TTL)
                .max_capacity(10_000)
                .build(),
        })
    }

    /// How transient failures (429, 5xx, timeouts) are retried.
    pub fn with_retry_policy(mut self, retries: RetryPolicy) -> Self {
        self.rest = self.rest.with_retry_policy(retries);
        self
    }

    /// Counts every HTTP call by outcome.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.rest = self.rest.with_metrics(metrics);
        self
    }

    /// The site's cloud id: configured, or asked of the site once.
    pub async fn cloud_id(&self) -> Result<String, ProviderError> {
        self.cloud_id
            .get_or_try_init(|| async {
                let url = self
                    .rest
                    .url(&self.config.site_url, &["_edge", "tenant_info"])?;
                let info: TenantInfo = self.get_json("tenant_info", url).await?;
                tracing::info!(cloud_id = %info.cloud_id, "discovered the JSM cloud id");
                Ok(info.cloud_id)
            })
            .await
            .cloned()
    }

    /// The id of the schedule called `name` (any case), looked up once.
    pub async fn schedule_id(&self, name: &str) -> Result<String, ProviderError> {
        let key = name.to_lowercase();
        if let Some(id) = self
            .schedule_ids
            .lock()
            .ok()
            .and_then(|ids| ids.get(&key).cloned())
        {
            return Ok(id);
        }
        // One lookup per name at a time: the on-calls and the timeline ask
        // together on a first answer.
        let _one_at_a_time = self.schedule_lookup.lock().await;
        if let Some(id) = self
            .schedule_ids
            .lock()
            .ok()
            .and_then(|ids| ids.get(&key).cloned())
        {
            return Ok(id);
        }
        let cloud_id = self.cloud_id().await?;
        for page in 0..MAX_SCHEDULE_PAGES {
            let offset = page * PAGE_SIZE;
            let mut url = self.ops_url(&cloud_id, &["schedules"])?;
            url.query_pairs_mut()
                .append_pair("query", name)
                .append_pair("offset", &offset.to_string())
                .append_pair("size", &PAGE_SIZE.to_string());
            let found_page: SchedulePage = self.get_json("schedules", url).await?;
            if let Some(found) = found_page
                .values
                .iter()
                .find(|schedule| schedule.name.eq_ignore_ascii_case(name))
            {
                if let Ok(mut ids) = self.schedule_ids.lock() {
                    ids.insert(key, found.id.clone());
                }
                return Ok(found.id.clone());
            }
            if found_page.values.len() < PAGE_SIZE {
                return Err(JsmError::UnknownSchedule(name.to_owned()).into());
            }
        }
        tracing::warn!(
            pages = MAX_SCHEDULE_PAGES,
            "JSM kept returning full pages of schedules; stopped looking"
        );
        Err(JsmError::UnknownSchedule(name.to_owned()).into())
    }

    /// Who is on call for the schedule called `name`, with emails where visible.
    pub async fn on_call_people(&self, name: &str) -> Result<Vec<Person>, ProviderError> {
        self.on_calls(name, None).await
    }

    /// Who is on call at `at` for the schedule with this name.
    pub async fn on_call_people_at(
        &self,
        name: &str,
        at: std::time::SystemTime,
    ) -> Result<Vec<Person>, ProviderError> {
        self.on_calls(name, Some(at)).await
    }

    /// The schedule's on-call users, now or at `at`.
    async fn on_calls(
        &self,
        name: &str,
        at: Option<std::time::SystemTime>,
    ) -> Result<Vec<Person>, ProviderError> {
        let cloud_id = self.cloud_id().await?;
        let schedule_id = self.schedule_id(name).await?;
        let mut url = self.ops_url(&cloud_id, &["schedules", &schedule_id, "on-calls"])?;
        url.query_pairs_mut().append_pair("flat", "true");
        if let Some(at) = at {
            url.query_pairs_mut()
                .append_pair("date", &crate::outbound::rfc3339(at));
        }
        let on_calls: OnCalls = self.get_json("on_calls", url).await?;
        Ok(self.people(&on_calls.on_call_users).await?)
    }

    /// Each rotation's shifts over `from` .. `until`, from the schedule's
    /// timeline. JSM splits a period that spans "now" into two (one ending now,
    /// one starting now); they are merged back, so that until-times are right.
    pub async fn plan(
        &self,
        name: &str,
        from: std::time::SystemTime,
        until: std::time::SystemTime,
    ) -> Result<Vec<RotationPlan>, ProviderError> {
        let cloud_id = self.cloud_id().await?;
        let schedule_id = self.schedule_id(name).await?;
        let days = until
            .duration_since(from)
            .map_or(1, |span| span.as_secs().div_ceil(24 * 60 * 60).max(1));
        let mut url = self.ops_url(&cloud_id, &["schedules", &schedule_id, "timeline"])?;
        url.query_pairs_mut()
            .append_pair("date", &crate::outbound::rfc3339(from))
            .append_pair("intervalUnit", "days")
            .append_pair("interval", &days.to_string());
        let timeline: FinalTimeline = self.get_json("timeline", url).await?;
        let accounts: Vec<String> = timeline
            .users()
            .filter(|participant| !participant.id.is_empty())
            .map(|participant| participant.id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let people: HashMap<String, Person> = self
            .people(&accounts)
            .await?
            .into_iter()
            .filter_map(|person| person.account_id.clone().map(|id| (id, person)))
            .collect();
        Ok(timeline.plans(from, until, |participant| {
            people.get(&participant.id).cloned()
        }))
    }

    /// Makes the override: the person (by Atlassian account id, found by email
    /// when the timeline did not give it) on call over the span in place of
    /// whoever is in the rotations given. JSM names the override itself;
    /// returns its alias.
    pub async fn create_override(
        &self,
        request: &OverrideRequest,
    ) -> Result<String, crate::providers::ActionError> {
        use crate::providers::ActionError;
        let cloud_id = self.cloud_id().await.map_err(refusal_or_failure)?;
        let schedule_id = self
            .schedule_id(&request.schedule)
            .await
            .map_err(refusal_or_failure)?;
        let account_id =
            match (&request.who.account_id, &request.who.email) {
                (Some(account_id), _) => account_id.clone(),
                (None, Some(email)) => self.account_by_email(email).await?,
                (None, None) => return Err(ActionError::Refused(
                    "JSM needs the person's Atlassian account, and the bot knows neither it nor \
                     their email"
                        .to_owned(),
                )),
            };
        let url = self.ops_url(&cloud_id, &["schedules", &schedule_id, "overrides"])?;
        let rotation_ids: Vec<&str> = request
            .rotations
            .iter()
            .filter_map(|rotation| rotation.id.as_deref())
            .collect();
        let body = serde_json::json!({
            "responder": {"type": "user", "id": account_id},
            "startDate": crate::outbound::rfc3339(request.from),
            "endDate": crate::outbound::rfc3339(request.until),
            "rotationIds": rotation_ids,
        });
        let created: Result<serde_json::Value, RestError> = self
            .rest
            .write("overrides", BASIC_AUTH, |http| {
                http.post(url.clone())
                    .basic_auth(
                        &self.config.email,
                        Some(self.config.api_token.expose_secret()),
                    )
                    .json(&body)
            })
            .await;
        let created = created.map_err(|error| {
            ActionError::from_rest_or_forbidden(
                error,
                "the bot's Atlassian account may not change this schedule",
            )
        })?;
        created["alias"].as_str().map(str::to_owned).ok_or_else(|| {
            ActionError::Failed(RestError::Decode {
                system: "JSM Operations",
                detail: "the new override has no alias".to_owned(),
            })
        })
    }

    /// The override of this person over exactly this span, when the schedule
    /// holds one (JSM names overrides itself, so they are matched by person
    /// and span). Pages through the list, at most 20 pages of 100.
    pub async fn find_override(
        &self,
        request: &OverrideRequest,
    ) -> Result<Option<String>, crate::providers::ActionError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            values: Vec<Listed>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listed {
            alias: String,
            responder: Option<super::wire::Responder>,
            start_date: Option<String>,
            end_date: Option<String>,
        }
        const PAGE: usize = 100;
        let cloud_id = self.cloud_id().await.map_err(refusal_or_failure)?;
        let schedule_id = self
            .schedule_id(&request.schedule)
            .await
            .map_err(refusal_or_failure)?;
        let account_id = match (&request.who.account_id, &request.who.email) {
            (Some(account_id), _) => account_id.clone(),
            (None, Some(email)) => self.account_by_email(email).await?,
            (None, None) => return Ok(None),
        };
        let (from, until) = (
            crate::outbound::rfc3339(request.from),
            crate::outbound::rfc3339(request.until),
        );
        let same_time = |date: &Option<String>, wanted: &str| {
            date.as_deref()
                .and_then(|date| humantime::parse_rfc3339_weak(date).ok())
                .map(crate::outbound::rfc3339)
                .as_deref()
                == Some(wanted)
        };
        for page in 0..20 {
            let mut url = self.ops_url(&cloud_id, &["schedules", &schedule_id, "overrides"])?;
            url.query_pairs_mut()
                .append_pair("offset", &(page * PAGE).to_string())
                .append_pair("size", &PAGE.to_string());
            let listed: Page = self.get_json("overrides", url).await?;
            let found = listed.values.iter().find(|listed| {
                listed
                    .responder
                    .as_ref()
                    .is_some_and(|responder| responder.id == account_id)
                    && same_time(&listed.start_date, &from)
                    && same_time(&listed.end_date, &until)
            });
            if let Some(found) = found {
                return Ok(Some(found.alias.clone()));
            }
            if listed.values.len() < PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// The Atlassian account with exactly this email, by Jira's user search.
    async fn account_by_email(&self, email: &str) -> Result<String, crate::providers::ActionError> {
        let mut search = self.rest.url(
            &self.config.site_url,
            &["rest", "api", "3", "user", "search"],
        )?;
        search.query_pairs_mut().append_pair("query", email);
        let found: Vec<super::wire::User> = self.get_json("users", search).await?;
        found
            .into_iter()
            .find(|user| {
                user.email_address
                    .as_deref()
                    .is_some_and(|address| address.eq_ignore_ascii_case(email))
            })
            .map(|user| user.account_id)
            .ok_or_else(|| {
                crate::providers::ActionError::Refused(format!(
                    "no Atlassian account with the email {email} is visible to the bot"
                ))
            })
    }

    /// Deletes the override with this alias from the schedule.
    pub async fn delete_override(
        &self,
        schedule: &str,
        alias: &str,
    ) -> Result<(), crate::providers::ActionError> {
        let cloud_id = self.cloud_id().await.map_err(refusal_or_failure)?;
        let schedule_id = self
            .schedule_id(schedule)
            .await
            .map_err(refusal_or_failure)?;
        let url = self.ops_url(&cloud_id, &["schedules", &schedule_id, "overrides", alias])?;
        let deleted: Result<serde_json::Value, RestError> = self
            .rest
            .write("overrides", BASIC_AUTH, |http| {
                http.delete(url.clone()).basic_auth(
                    &self.config.email,
                    Some(self.config.api_token.expose_secret()),
                )
            })
            .await;
        deleted.map(drop).map_err(|error| {
            crate::providers::ActionError::from_rest_or_forbidden(
                error,
                "the bot's Atlassian account may not change this schedule",
            )
        })
    }

    /// Account ids → people, from the cache or Jira's bulk user lookup.
    async fn people(&self, account_ids: &[String]) -> Result<Vec<Person>, RestError> {
        let mut known: HashMap<String, Person> = HashMap::new();
        let mut unknown = Vec::new();
        for account_id in account_ids {
            match self.users.get(account_id).await {
                Some(person) => {
                    known.insert(account_id.clone(), person);
                }
                None => unknown.push(account_id.clone()),
            }
        }
        for batch in unknown.chunks(USERS_PER_CALL) {
            let mut url = self
                .rest
                .url(&self.config.site_url, &["rest", "api", "3", "user", "bulk"])?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("maxResults", &USERS_PER_CALL.to_string());
                for account_id in batch {
                    query.append_pair("accountId", account_id);
                }
            }
            let page: UserPage = self.get_json("users", url).await?;
            for user in page.values {
                let person = Person {
                    name: if user.display_name.is_empty() {
                        user.account_id.clone()
                    } else {
                        user.display_name.clone()
                    },
                    email: user.email_address.filter(|email| !email.is_empty()),
                    account_id: Some(user.account_id.clone()),
                };
                self.users
                    .insert(user.account_id.clone(), person.clone())
                    .await;
                known.insert(user.account_id, person);
            }
        }
        Ok(account_ids
            .iter()
            .map(|account_id| {
                known.remove(account_id).unwrap_or_else(|| Person {
                    email: None,
                    name: account_id.clone(),
                    account_id: Some(account_id.clone()),
                })
            })
            .collect())
    }

    /// Creates an alert through the integration API (same body as OpsGenie's).
    pub async fn create_alert(&self, alert: &Alert) -> Result<String, ProviderError> {
        let Some(key) = &self.config.integration_key else {
            return Err(JsmError::NoIntegrationKey.into());
        };
        let url = self.rest.url(
            &self.config.api_url,
            &["jsm", "ops", "integration", "v2", "alerts"],
        )?;
        let body = CreateAlertBody::from(alert);
        let accepted: Accepted = self
            .rest
            .call("alerts", INTEGRATION_KEY, |http| {
                http.post(url.clone())
                    .header(
                        reqwest::header::AUTHORIZATION,
                        format!("GenieKey {}", key.expose_secret()),
                    )
                    .json(&body)
            })
            .await?;
        Ok(accepted.request_id)
    }

    /// Acts on the alert with this alias through the integration API (the key of
    /// the integration that raised it), and waits for JSM to say whether it
    /// happened.
    pub async fn act_on_alert(
        &self,
        alias: &str,
        verb: AlertVerb<'_>,
        by: ActingUser<'_>,
    ) -> Result<(), ActionError> {
        let Some(key) = &self.config.integration_key else {
            return Err(ActionError::Refused(JsmError::NoIntegrationKey.to_string()));
        };
        let authorization = format!("GenieKey {}", key.expose_secret());
        AlertApi {
            rest: &self.rest,
            credential: INTEGRATION_KEY,
            alerts_url: self.rest.url(
                &self.config.api_url,
                &["jsm", "ops", "integration", "v2", "alerts"],
            )?,
            authorization: &authorization,
        }
        .act(alias, verb, by)
        .await
    }

    fn ops_url(&self, cloud_id: &str, rest: &[&str]) -> Result<Url, RestError> {
        let mut segments = vec!["jsm", "ops", "api", cloud_id, "v1"];
        segments.extend_from_slice(rest);
        self.rest.url(&self.config.api_url, &segments)
    }

    /// A GET with the account's email and API token (HTTP basic auth).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        url: Url,
    ) -> Result<T, RestError> {
        self.rest
            .call(call, BASIC_AUTH, |http| {
                http.get(url.clone()).basic_auth(
                    &self.config.email,
                    Some(self.config.api_token.expose_secret()),
                )
            })
            .await
    }
}

/// A JSM failure as an action's outcome: what JSM says no to is a refusal.
fn refusal_or_failure(error: ProviderError) -> crate::providers::ActionError {
    match error {
        ProviderError::Rest(error) => crate::providers::ActionError::Failed(error),
        ProviderError::Shared(error) => crate::providers::ActionError::Failed((*error).clone()),
        ProviderError::Jsm(error) => crate::providers::ActionError::Refused(error.to_string()),
        ProviderError::PagerDuty(error) => {
            crate::providers::ActionError::Refused(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const CLOUD: &str = "cloud-1";
    /// base64("bot@corp.example:atlassian-secret-token")
    const BASIC: &str = "Basic Ym90QGNvcnAuZXhhbXBsZTphdGxhc3NpYW4tc2VjcmV0LXRva2Vu";

    const FAST_RETRIES: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        backoff: crate::outbound::BackoffPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
        deadline: Duration::from_secs(2),
    };

    fn config_for(server: &MockServer) -> JsmConfig {
        JsmConfig {
            site_url: server.uri().parse().expect("URL"),
            api_url: server.uri().parse().expect("URL"),
            email: "bot@corp.example".into(),
            api_token: "atlassian-secret-token".into(),
            cloud_id: Some(CLOUD.into()),
            schedule: "SRE schedule".into(),
            integration_key: Some("integration-secret-key".into()),
            account_overrides: HashMap::new(),
        }
    }

    fn client_for(server: &MockServer) -> JsmClient {
        JsmClient::new(
            config_for(server),
            Timeouts {
                connect: Duration::from_secs(1),
                total: Duration::from_millis(500),
            },
        )
        .expect("client")
        .with_retry_policy(FAST_RETRIES)
    }

    fn schedules() -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(path(format!("/jsm/ops/api/{CLOUD}/v1/schedules")))
    }

    /// The schedule `SRE schedule` is `sch-1`; its on-call user is Alice.
    async fn mount_happy_path(server: &MockServer) {
        schedules()
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "values": [{"id": "sch-0", "name": "SRE schedule 2"},
                           {"id": "sch-1", "name": "sre SCHEDULE"}]
            })))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!(
                "/jsm/ops/api/{CLOUD}/v1/schedules/sch-1/on-calls"
            )))
            .and(query_param("flat", "true"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"onCallUsers": ["acc-alice"]})),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/api/3/user/bulk"))
            .and(query_param("accountId", "acc-alice"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "values": [{"accountId": "acc-alice", "displayName": "Alice",
                            "emailAddress": "alice@corp.example"}]
            })))
            .mount(server)
            .await;
    }

    #[tokio::test]
    async fn sends_the_documented_requests_with_basic_auth_and_reads_the_people() {
        let server = MockServer::start().await;
        mount_happy_path(&server).await;
        let people = client_for(&server)
            .on_call_people("SRE schedule")
            .await
            .expect("people");
        assert_eq!(
            people,
            [Person {
                email: Some("alice@corp.example".into()),
                name: "Alice".into(),
                account_id: Some("acc-alice".into()),
            }]
        );
        let requests = server.received_requests().await.expect("recorded");
        assert_eq!(requests.len(), 3);
        let lookup = &requests[0];
        assert_eq!(
            lookup.url.query(),
            Some("query=SRE+schedule&offset=0&size=50")
        );
        for request in &requests {
            assert_eq!(
                request
                    .headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok()),
                Some(BASIC),
                "{}",
                request.url
            );
        }
    }

    #[tokio::test]
    async fn alerts_go_to_the_integration_api_with_the_integration_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/jsm/ops/integration/v2/alerts"))
            .and(header("authorization", "GenieKey integration-secret-key"))
            .respond_with(
                ResponseTemplate::new(202).set_body_json(serde_json::json!({"requestId": "req-7"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let alert = Alert {
            alias: "slack-1".into(),
            message: "help".into(),
            description: "d".into(),
            priority: crate::model::Priority::P4,
            team: None,
            tags: vec![],
            source: "oncall-bot".into(),
            details: Default::default(),
        };
        let request_id = client_for(&server)
            .create_alert(&alert)
            .await
            .expect("accepted");
        assert_eq!(request_id, "req-7");
    }

    #[tokio::test]
    async fn refused_credentials_are_named_and_not_retried() {
        for status in [401, 403] {
            let server = MockServer::start().await;
            schedules()
                .respond_with(ResponseTemplate::new(status))
                .expect(1)
                .mount(&server)
                .await;
            let error = client_for(&server)
                .on_call_people("SRE schedule")
                .await
                .expect_err("refused");
            assert!(
                matches!(error, ProviderError::Rest(RestError::Unauthorized { status: s, credential, .. }) if s == status && credential == BASIC_AUTH.name),
                "{error:?}"
            );
            assert!(error.to_string().contains("classic API token"), "{error}");
        }
    }

    #[tokio::test]
    async fn an_unknown_resource_is_not_found_and_not_retried() {
        let server = MockServer::start().await;
        schedules()
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(serde_json::json!({"errorMessages": ["Site not found"]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .on_call_people("SRE schedule")
            .await
            .expect_err("404");
        assert!(
            matches!(&error, ProviderError::Rest(RestError::NotFound { message, .. }) if message == "Site not found"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_schedule_name_that_matches_nothing_is_an_unknown_schedule() {
        let server = MockServer::start().await;
        schedules()
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"values": []})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .on_call_people("Nope")
            .await
            .expect_err("unknown");
        assert!(
            matches!(&error, ProviderError::Jsm(JsmError::UnknownSchedule(name)) if name == "Nope"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_server_that_ignores_offset_cannot_keep_the_lookup_going() {
        let server = MockServer::start().await;
        let full_page: Vec<serde_json::Value> = (0..PAGE_SIZE)
            .map(|n| serde_json::json!({"id": format!("sch-{n}"), "name": format!("Other {n}")}))
            .collect();
        schedules()
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"values": full_page})),
            )
            .mount(&server)
            .await;
        let error = client_for(&server)
            .on_call_people("SRE schedule")
            .await
            .expect_err("never found");
        assert!(
            matches!(&error, ProviderError::Jsm(JsmError::UnknownSchedule(_))),
            "{error:?}"
        );
        let requests = server.received_requests().await.expect("recorded");
        assert_eq!(requests.len(), MAX_SCHEDULE_PAGES);
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let server = MockServer::start().await;
        schedules()
            .respond_with(ResponseTemplate::new(502))
            .expect(3)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .on_call_people("SRE schedule")
            .await
            .expect_err("502");
        assert!(
            matches!(
                error,
                ProviderError::Rest(RestError::Server { status: 502, .. })
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_rate_limit_is_retried_after_the_servers_wait() {
        let server = MockServer::start().await;
        schedules()
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        mount_happy_path(&server).await;
        let started = std::time::Instant::now();
        let people = client_for(&server).on_call_people("SRE schedule").await;
        assert!(started.elapsed() >= Duration::from_secs(1), "waited out");
        assert_eq!(people.expect("answer after 429").len(), 1);
    }

    #[tokio::test]
    async fn a_hung_jsm_times_out() {
        let server = MockServer::start().await;
        schedules()
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let client = client_for(&server).with_retry_policy(RetryPolicy::none());
        let error = client
            .on_call_people("SRE schedule")
            .await
            .expect_err("timeout");
        assert!(
            matches!(error, ProviderError::Rest(RestError::Timeout { .. })),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_the_documented_json_is_a_decode_error() {
        let server = MockServer::start().await;
        schedules()
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
            .expect(1)
            .mount(&server)
            .await;
        let error = client_for(&server)
            .on_call_people("SRE schedule")
            .await
            .expect_err("decode");
        assert!(
            matches!(error, ProviderError::Rest(RestError::Decode { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn the_credentials_are_not_in_debug_output() {
        let server_uri = "https://acme.atlassian.net";
        let mut config = JsmConfig {
            site_url: server_uri.parse().expect("URL"),
            api_url: DEFAULT_JSM_API_URL.parse().expect("URL"),
            email: "bot@corp.example".into(),
            api_token: "atlassian-secret-token".into(),
            cloud_id: None,
            schedule: "S".into(),
            integration_key: Some("integration-secret-key".into()),
            account_overrides: HashMap::new(),
        };
        let client = JsmClient::new(config.clone(), Timeouts::default()).expect("client");
        for shown in [format!("{client:?}"), format!("{config:?}")] {
            assert!(!shown.contains("atlassian-secret-token"), "{shown}");
            assert!(!shown.contains("integration-secret-key"), "{shown}");
        }
        config.integration_key = None;
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[tokio::test]
    async fn an_override_goes_to_the_responders_account_with_its_rotation_ids_and_is_deleted() {
        let server = MockServer::start().await;
        mount_happy_path(&server).await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/jsm/ops/api/{CLOUD}/v1/schedules/sch-1/overrides"
            )))
            .and(header("authorization", BASIC))
            .and(wiremock::matchers::body_json(serde_json::json!({
                "responder": {"type": "user", "id": "acc-erin"},
                "startDate": "2026-11-23T19:00:00Z",
                "endDate": "2026-11-23T23:00:00Z",
                "rotationIds": ["rot-1"],
            })))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({"alias": "c73c3ffa-jsm"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!(
                "/jsm/ops/api/{CLOUD}/v1/schedules/sch-1/overrides/c73c3ffa-jsm"
            )))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/rest/api/3/user/search"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .expect(0)
            .mount(&server)
            .await;
        let client = client_for(&server);
        let request = OverrideRequest {
            schedule: "SRE schedule".into(),
            // Known by account (a hidden email): no search by email.
            who: Person {
                email: None,
                name: "Erin".into(),
                account_id: Some("acc-erin".into()),
            },
            from: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_460_400),
            until: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_474_800),
            rotations: vec![crate::model::RotationRef {
                id: Some("rot-1".into()),
                name: "Weekly".into(),
            }],
            alias: "ignored-by-jsm".into(),
        };
        let alias = client.create_override(&request).await.expect("made");
        assert_eq!(alias, "c73c3ffa-jsm", "JSM names it");
        client
            .delete_override("SRE schedule", &alias)
            .await
            .expect("a 204 is deleted");
    }
}
