use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::future::Cache;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::wire::{Accepted, ErrorBody, OnCalls, SchedulePage, TenantInfo, UserPage};
use crate::alerting::Alert;
use crate::metrics::Metrics;
use crate::oncall::Person;
use crate::opsgenie::CreateAlertBody;
use crate::outbound::{
    http_client, join_path, with_retries, HttpFailure, RetryPolicy, Retryable, Timeouts,
};

pub const DEFAULT_JSM_API_URL: &str = "https://api.atlassian.com";

/// Schedules are looked up by name this many at a time.
const PAGE_SIZE: usize = 50;
/// Jira's bulk user lookup takes at most this many account ids a call.
const USERS_PER_CALL: usize = 100;
/// How long an account's email and name are remembered.
const USER_TTL: Duration = Duration::from_secs(60 * 60);

const BASIC_AUTH: &str = "JSM_EMAIL / JSM_API_TOKEN";
const INTEGRATION_KEY: &str = "JSM_INTEGRATION_KEY";

/// A failed JSM call, sorted by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum JsmError {
    #[error(
        "JSM refused {credential} (HTTP {status}): check it; an Atlassian API token with \
         scopes may be refused here, so use a classic API token (id.atlassian.com → \
         Security → Create API token)"
    )]
    Unauthorized {
        status: u16,
        credential: &'static str,
    },
    #[error(
        "JSM Operations has no schedule named `{0}` (check JSM_SCHEDULE or the team's schedule)"
    )]
    UnknownSchedule(String),
    #[error("JSM has no such resource (HTTP 404): {0}")]
    NotFound(String),
    #[error("JSM rate-limited the call (Retry-After: {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("JSM rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("JSM failed (HTTP {status})")]
    Server { status: u16 },
    #[error("JSM did not answer in time")]
    Timeout,
    #[error("could not reach JSM: {0}")]
    Transport(String),
    #[error("JSM's answer could not be read: {0}")]
    Decode(String),
    #[error("the URL `{0}` cannot take a path")]
    BadUrl(String),
    #[error("alerts through JSM need JSM_INTEGRATION_KEY (an API integration's key)")]
    NoIntegrationKey,
}

impl Retryable for JsmError {
    fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::Server { .. } | Self::Timeout | Self::Transport(_) => Some(None),
            Self::Unauthorized { .. }
            | Self::UnknownSchedule(_)
            | Self::NotFound(_)
            | Self::Rejected { .. }
            | Self::Decode(_)
            | Self::BadUrl(_)
            | Self::NoIntegrationKey => None,
        }
    }
}

impl From<reqwest::Error> for JsmError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_decode() {
            Self::Decode(error.to_string())
        } else {
            Self::Transport(error.to_string())
        }
    }
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
    http: reqwest::Client,
    config: JsmConfig,
    cloud_id: OnceCell<String>,
    schedule_ids: Mutex<HashMap<String, String>>,
    users: Cache<String, Person>,
    retries: RetryPolicy,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for JsmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsmClient")
            .field("site_url", &self.config.site_url.as_str())
            .field("api_url", &self.config.api_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Which credential a call uses.
#[derive(Clone, Copy)]
enum Auth {
    Basic,
    IntegrationKey,
}

impl JsmClient {
    pub fn new(config: JsmConfig, timeouts: Timeouts) -> Result<Self, JsmError> {
        for url in [&config.site_url, &config.api_url] {
            if url.cannot_be_a_base() {
                return Err(JsmError::BadUrl(url.to_string()));
            }
        }
        let http = http_client(timeouts)?;
        Ok(Self {
            http,
            cloud_id: OnceCell::new_with(config.cloud_id.clone()),
            config,
            schedule_ids: Mutex::new(HashMap::new()),
            users: Cache::builder()
                .time_to_live(USER_TTL)
                .max_capacity(10_000)
                .build(),
            retries: RetryPolicy {
                max_attempts: 3,
                initial_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(1),
                deadline: Duration::from_secs(3),
            },
            metrics: None,
        })
    }

    pub fn with_retries(mut self, retries: RetryPolicy) -> Self {
        self.retries = retries;
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The site's cloud id: configured, or asked of the site once.
    pub async fn cloud_id(&self) -> Result<String, JsmError> {
        self.cloud_id
            .get_or_try_init(|| async {
                let url = url_with(&self.config.site_url, &["_edge", "tenant_info"])?;
                let info: TenantInfo = self.get_json("tenant_info", url, Auth::Basic).await?;
                tracing::info!(cloud_id = %info.cloud_id, "discovered the JSM cloud id");
                Ok(info.cloud_id)
            })
            .await
            .cloned()
    }

    /// The id of the schedule called `name` (any case), looked up once.
    pub async fn schedule_id(&self, name: &str) -> Result<String, JsmError> {
        let key = name.to_lowercase();
        if let Some(id) = self
            .schedule_ids
            .lock()
            .ok()
            .and_then(|ids| ids.get(&key).cloned())
        {
            return Ok(id);
        }
        let cloud_id = self.cloud_id().await?;
        let mut offset = 0;
        loop {
            let mut url = self.ops_url(&cloud_id, &["schedules"])?;
            url.query_pairs_mut()
                .append_pair("query", name)
                .append_pair("offset", &offset.to_string())
                .append_pair("size", &PAGE_SIZE.to_string());
            let page: SchedulePage = self.get_json("schedules", url, Auth::Basic).await?;
            if let Some(found) = page
                .values
                .iter()
                .find(|schedule| schedule.name.eq_ignore_ascii_case(name))
            {
                if let Ok(mut ids) = self.schedule_ids.lock() {
                    ids.insert(key, found.id.clone());
                }
                return Ok(found.id.clone());
            }
            if page.values.len() < PAGE_SIZE {
                return Err(JsmError::UnknownSchedule(name.to_owned()));
            }
            offset += PAGE_SIZE;
        }
    }

    /// Who is on call for the schedule called `name`, with emails where visible.
    pub async fn on_call_people(&self, name: &str) -> Result<Vec<Person>, JsmError> {
        let cloud_id = self.cloud_id().await?;
        let schedule_id = self.schedule_id(name).await?;
        let mut url = self.ops_url(&cloud_id, &["schedules", &schedule_id, "on-calls"])?;
        url.query_pairs_mut().append_pair("flat", "true");
        let on_calls: OnCalls = self.get_json("on_calls", url, Auth::Basic).await?;
        self.people(&on_calls.on_call_users).await
    }

    /// Account ids → people, from the cache or Jira's bulk user lookup.
    async fn people(&self, account_ids: &[String]) -> Result<Vec<Person>, JsmError> {
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
            let mut url = url_with(&self.config.site_url, &["rest", "api", "3", "user", "bulk"])?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("maxResults", &USERS_PER_CALL.to_string());
                for account_id in batch {
                    query.append_pair("accountId", account_id);
                }
            }
            let page: UserPage = self.get_json("users", url, Auth::Basic).await?;
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
    pub async fn create_alert(&self, alert: &Alert) -> Result<String, JsmError> {
        if self.config.integration_key.is_none() {
            return Err(JsmError::NoIntegrationKey);
        }
        let url = url_with(
            &self.config.api_url,
            &["jsm", "ops", "integration", "v2", "alerts"],
        )?;
        let body = CreateAlertBody::from(alert);
        let accepted: Accepted = with_retries(self.retries, || async {
            let request = self.http.post(url.clone()).json(&body);
            let response = self.send("alerts", request, Auth::IntegrationKey).await?;
            Ok::<_, JsmError>(response.json().await?)
        })
        .await?;
        Ok(accepted.request_id)
    }

    fn ops_url(&self, cloud_id: &str, rest: &[&str]) -> Result<Url, JsmError> {
        let mut segments = vec!["jsm", "ops", "api", cloud_id, "v1"];
        segments.extend_from_slice(rest);
        url_with(&self.config.api_url, &segments)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        url: Url,
        auth: Auth,
    ) -> Result<T, JsmError> {
        with_retries(self.retries, || async {
            let response = self.send(call, self.http.get(url.clone()), auth).await?;
            Ok::<_, JsmError>(response.json().await?)
        })
        .await
    }

    async fn send(
        &self,
        call: &'static str,
        request: reqwest::RequestBuilder,
        auth: Auth,
    ) -> Result<reqwest::Response, JsmError> {
        let result = self.send_once(request, auth).await;
        if let Some(metrics) = &self.metrics {
            metrics.source_call("jsm", call, outcome_label(&result));
        }
        result
    }

    async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
        auth: Auth,
    ) -> Result<reqwest::Response, JsmError> {
        let (request, credential) = match auth {
            Auth::Basic => (
                request.basic_auth(
                    &self.config.email,
                    Some(self.config.api_token.expose_secret()),
                ),
                BASIC_AUTH,
            ),
            Auth::IntegrationKey => {
                let key = self
                    .config
                    .integration_key
                    .as_ref()
                    .ok_or(JsmError::NoIntegrationKey)?;
                (
                    request.header(
                        reqwest::header::AUTHORIZATION,
                        format!("GenieKey {}", key.expose_secret()),
                    ),
                    INTEGRATION_KEY,
                )
            }
        };
        let response = request.send().await?;
        let Some(failure) = HttpFailure::of(&response) else {
            return Ok(response);
        };
        let body = response.json::<ErrorBody>().await.unwrap_or_default();
        let message = if body.message.is_empty() {
            body.error_messages.join("; ")
        } else {
            body.message
        };
        Err(match failure {
            HttpFailure::Unauthorized(status) => JsmError::Unauthorized { status, credential },
            HttpFailure::NotFound => JsmError::NotFound(message),
            HttpFailure::RateLimited(retry_after) => JsmError::RateLimited { retry_after },
            HttpFailure::Server(status) => JsmError::Server { status },
            HttpFailure::Rejected(status) => JsmError::Rejected { status, message },
        })
    }
}

fn url_with(base: &Url, segments: &[&str]) -> Result<Url, JsmError> {
    join_path(base, segments).ok_or_else(|| JsmError::BadUrl(base.to_string()))
}

fn outcome_label(result: &Result<reqwest::Response, JsmError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(JsmError::Unauthorized { .. }) => "unauthorized",
        Err(JsmError::NotFound(_) | JsmError::UnknownSchedule(_)) => "not_found",
        Err(JsmError::RateLimited { .. }) => "rate_limited",
        Err(JsmError::Rejected { .. } | JsmError::BadUrl(_) | JsmError::NoIntegrationKey) => {
            "client_error"
        }
        Err(JsmError::Server { .. }) => "server_error",
        Err(JsmError::Timeout) => "timeout",
        Err(JsmError::Transport(_) | JsmError::Decode(_)) => "transport",
    }
}
