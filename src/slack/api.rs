//! The Slack Web API, through slack-morphism's client, behind the few calls the bot makes.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::{
    SlackApiAppsConnectionOpenRequest, SlackApiChatGetPermalinkRequest,
    SlackApiChatPostMessageRequest, SlackApiToken, SlackApiTokenValue, SlackApiUsersInfoRequest,
    SlackApiUsersLookupByEmailRequest, SlackClient, SlackClientHyperConnector,
    SlackClientHyperHttpsConnector,
};
use slack_morphism::{EmailAddress, SlackChannelId, SlackMessageContent, SlackTs, SlackUserId};

use crate::model::BotIdentity;
use crate::outbound::{http_client, retry, BackoffPolicy, RetryPolicy, Retryable, Timeouts};

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// A failed Slack call, sorted by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false`; `code` is its error string (`invalid_auth`, …).
    #[error("Slack refused the call: {code}")]
    Api { code: String },
    #[error("Slack rate-limited the call (Retry-After: {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Slack answered HTTP {status}")]
    Http { status: u16 },
    #[error("Slack did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not talk to Slack: {0}")]
    Transport(String),
    #[error("Slack's answer could not be read: {0}")]
    Decode(String),
    #[error("could not set up TLS for Slack: {0}")]
    Tls(std::io::Error),
}

impl Retryable for SlackError {
    fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Self::RateLimited { retry_after } => {
                Some(Some(retry_after.unwrap_or(Duration::from_secs(1))))
            }
            Self::Http { status } if *status >= 500 => Some(None),
            Self::Transport(_) => Some(None),
            // A timed-out write may have landed: retrying it could post twice.
            Self::Timeout(_)
            | Self::Api { .. }
            | Self::Http { .. }
            | Self::Decode(_)
            | Self::Tls(_) => None,
        }
    }
}

impl From<SlackClientError> for SlackError {
    fn from(error: SlackClientError) -> Self {
        match error {
            SlackClientError::ApiError(api) => Self::Api { code: api.code },
            SlackClientError::RateLimitError(limit) => Self::RateLimited {
                retry_after: limit.retry_after,
            },
            SlackClientError::HttpError(http) => Self::Http {
                status: http.status_code.as_u16(),
            },
            other => Self::Transport(other.to_string()),
        }
    }
}

/// The bot's Slack Web API client. Cheap to share behind an `Arc`.
pub struct SlackApi {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    /// For the one call whose answer slack-morphism does not hand back whole
    /// (`auth.test`'s scopes header).
    raw: reqwest::Client,
    base_url: String,
    token: SlackApiToken,
    timeout: Duration,
    post_retries: RetryPolicy,
    /// Calls that are safe to repeat: reads, and writes that set a whole value
    /// (`usergroups.users.update`), so a repeat changes nothing.
    repeatable_retries: RetryPolicy,
}

/// What a token is, from `auth.test`: whose it is, and the scopes it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    pub user_id: String,
    pub team: String,
    /// `None` when Slack did not list them (the `x-oauth-scopes` header).
    pub scopes: Option<Vec<String>>,
}

/// `auth.test`'s body, as far as [`SlackApi::granted_scopes`] reads it.
#[derive(Debug, serde::Deserialize)]
struct AuthTest {
    ok: bool,
    #[serde(default)]
    error: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    team: String,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SlackApi {
    /// `base_url` is the Web API root (`https://slack.com/api`, or a fake's).
    pub fn new(
        base_url: &str,
        token: &SecretString,
        timeouts: Timeouts,
    ) -> Result<Self, SlackError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(SlackError::Tls)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(base_url.trim_end_matches('/'));
        let raw =
            http_client(timeouts).map_err(|error| SlackError::Transport(error.to_string()))?;
        Ok(Self {
            client: SlackClient::new(connector),
            raw,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: SlackApiToken::new(SlackApiTokenValue(token.expose_secret().to_owned())),
            timeout: timeouts.total,
            post_retries: RetryPolicy {
                max_attempts: 8,
                backoff: BackoffPolicy {
                    initial: Duration::from_millis(250),
                    max: Duration::from_secs(5),
                },
                deadline: Duration::from_secs(30),
            },
            repeatable_retries: RetryPolicy {
                max_attempts: 4,
                backoff: BackoffPolicy {
                    initial: Duration::from_millis(250),
                    max: Duration::from_secs(2),
                },
                deadline: Duration::from_secs(20),
            },
        })
    }

    /// How long and how often a reply is retried (rate limits, Slack 5xx).
    pub fn with_post_retries(mut self, policy: RetryPolicy) -> Self {
        self.post_retries = policy;
        self
    }

    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, SlackClientError>>,
    ) -> Result<T, SlackError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(SlackError::from),
            Err(_) => Err(SlackError::Timeout(self.timeout)),
        }
    }

    /// `auth.test`: who the token belongs to.
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        let session = self.client.open_session(&self.token);
        let me = self.call(session.auth_test()).await?;
        Ok(BotIdentity {
            user_id: me.user_id.0,
            bot_id: me.bot_id.map(|id| id.0),
        })
    }

    /// `auth.test`, read whole: whose the token is and which scopes it has. Not
    /// through slack-morphism, which does not expose the `x-oauth-scopes` header.
    pub async fn granted_scopes(&self) -> Result<Grant, SlackError> {
        let response = self
            .raw
            .post(format!("{}/auth.test", self.base_url))
            .bearer_auth(&self.token.token_value.0)
            .send()
            .await
            .map_err(|error| self.transport_error(error))?;
        let scopes = response
            .headers()
            .get("x-oauth-scopes")
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                value
                    .split(',')
                    .map(|scope| scope.trim().to_owned())
                    .filter(|scope| !scope.is_empty())
                    .collect()
            });
        let status = response.status();
        let answer: AuthTest = response.json().await.map_err(|error| {
            if status.is_success() {
                SlackError::Decode(error.to_string())
            } else {
                SlackError::Http {
                    status: status.as_u16(),
                }
            }
        })?;
        if !answer.ok {
            return Err(SlackError::Api { code: answer.error });
        }
        Ok(Grant {
            user: answer.user,
            user_id: answer.user_id,
            team: answer.team,
            scopes,
        })
    }

    fn transport_error(&self, error: reqwest::Error) -> SlackError {
        if error.is_timeout() {
            SlackError::Timeout(self.timeout)
        } else {
            SlackError::Transport(error.to_string())
        }
    }

    /// `chat.postMessage` into a thread, retried on rate limits and Slack outages.
    pub async fn post_in_thread(
        &self,
        channel: &str,
        thread_ts: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        let request = SlackApiChatPostMessageRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackMessageContent::new().with_text(text.to_owned()),
        )
        .with_thread_ts(SlackTs(thread_ts.to_owned()));
        retry(self.post_retries, || async {
            let session = self.client.open_session(&self.token);
            self.call(session.chat_post_message(&request))
                .await
                .map(drop)
        })
        .await
    }

    /// `apps.connections.open` (with the app-level token): a Socket Mode URL.
    pub async fn open_socket_url(&self) -> Result<String, SlackError> {
        let session = self.client.open_session(&self.token);
        let opened = self
            .call(session.apps_connections_open(&SlackApiAppsConnectionOpenRequest::new()))
            .await?;
        Ok(opened.url.0.to_string())
    }

    /// `users.info`: how a person is called (display name, else real name, else handle).
    pub async fn user_name(&self, user_id: &str) -> Result<String, SlackError> {
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user_id.to_owned()));
        let session = self.client.open_session(&self.token);
        let user = self.call(session.users_info(&request)).await?.user;
        let (display_name, real_name) = user
            .profile
            .map(|profile| (profile.display_name, profile.real_name))
            .unwrap_or_default();
        let name = [display_name, real_name, user.name]
            .into_iter()
            .flatten()
            .find(|name| !name.trim().is_empty())
            .unwrap_or_else(|| user_id.to_owned());
        Ok(name)
    }

    /// `chat.getPermalink`: the URL of a message.
    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        let request = SlackApiChatGetPermalinkRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackTs(ts.to_owned()),
        );
        let session = self.client.open_session(&self.token);
        let answer = self.call(session.chat_get_permalink(&request)).await?;
        Ok(answer.permalink.to_string())
    }

    /// `users.lookupByEmail`: the Slack user id, or `None` when nobody has that email.
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>, SlackError> {
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_owned()));
        let lookup = retry(self.repeatable_retries, || async {
            let session = self.client.open_session(&self.token);
            self.call(session.users_lookup_by_email(&request)).await
        })
        .await;
        match lookup {
            Ok(found) => Ok(Some(found.user.id.0)),
            Err(SlackError::Api { code }) if code == "users_not_found" => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The fields of a user group the bot reads (`usergroups.list`). Parsed here rather
/// than with slack-morphism's model, which requires fields Slack may leave out.
#[derive(Debug, serde::Deserialize)]
struct UserGroupsList {
    usergroups: Vec<UserGroupSummary>,
}

#[derive(Debug, serde::Deserialize)]
struct UserGroupSummary {
    id: String,
    handle: String,
}

#[derive(Debug, serde::Deserialize)]
struct UserGroupMembers {
    #[serde(default)]
    users: Vec<String>,
}

/// `usergroups.users.update`, which slack-morphism does not wrap.
#[derive(Debug, serde::Serialize)]
struct UpdateUserGroupMembers<'a> {
    usergroup: &'a str,
    /// Comma-separated user ids, as the method takes them.
    users: String,
}

#[derive(Debug, serde::Deserialize)]
struct Acknowledged {}

impl SlackApi {
    /// `usergroups.list`: the id of the group with this handle, if there is one.
    pub async fn user_group_id(&self, handle: &str) -> Result<Option<String>, SlackError> {
        let list: UserGroupsList = retry(self.repeatable_retries, || async {
            let session = self.client.open_session(&self.token);
            let no_parameters: Vec<(&str, Option<&String>)> = Vec::new();
            self.call(
                session
                    .http_session_api
                    .http_get("usergroups.list", &no_parameters, None),
            )
            .await
        })
        .await?;
        Ok(list
            .usergroups
            .into_iter()
            .find(|group| group.handle.eq_ignore_ascii_case(handle))
            .map(|group| group.id))
    }

    /// `usergroups.users.list`: the members of a group.
    pub async fn user_group_members(&self, group_id: &str) -> Result<Vec<String>, SlackError> {
        let members: UserGroupMembers = retry(self.repeatable_retries, || async {
            let session = self.client.open_session(&self.token);
            let parameters = vec![("usergroup", Some(&group_id))];
            self.call(
                session
                    .http_session_api
                    .http_get("usergroups.users.list", &parameters, None),
            )
            .await
        })
        .await?;
        Ok(members.users)
    }

    /// `usergroups.users.update`: makes `users` the group's members. Slack refuses
    /// an empty list, so callers never send one.
    pub async fn set_user_group_members(
        &self,
        group_id: &str,
        users: &[String],
    ) -> Result<(), SlackError> {
        let request = UpdateUserGroupMembers {
            usergroup: group_id,
            users: users.join(","),
        };
        retry(self.repeatable_retries, || async {
            let session = self.client.open_session(&self.token);
            self.call(session.http_session_api.http_post::<_, Acknowledged>(
                "usergroups.users.update",
                &request,
                None,
            ))
            .await
            .map(drop)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn api_for(server: &MockServer) -> SlackApi {
        SlackApi::new(
            &server.uri(),
            &SecretString::from("xoxb-secret"),
            Timeouts {
                connect: Duration::from_secs(1),
                total: Duration::from_millis(500),
            },
        )
        .expect("client")
        .with_post_retries(RetryPolicy {
            max_attempts: 4,
            backoff: BackoffPolicy {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(20),
            },
            deadline: Duration::from_secs(3),
        })
    }

    fn posted() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ok": true, "channel": "C1", "ts": "2.2",
            "message": {"type": "message", "ts": "2.2", "text": "hi"}
        }))
    }

    #[tokio::test]
    async fn posts_into_the_thread_with_the_bot_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .and(header("authorization", "Bearer xoxb-secret"))
            .and(body_json(serde_json::json!(
                {"channel": "C1", "thread_ts": "1.1", "text": "hello"}
            )))
            .respond_with(posted())
            .expect(1)
            .mount(&server)
            .await;
        api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect("posted");
    }

    #[tokio::test]
    async fn a_rate_limited_post_is_retried_after_retry_after_and_posted_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_json(serde_json::json!({"ok": false, "error": "ratelimited"})),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(posted())
            .expect(1)
            .mount(&server)
            .await;
        let started = std::time::Instant::now();
        api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect("posted after the wait");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After was not honoured"
        );
    }

    #[tokio::test]
    async fn an_ok_false_answer_is_an_api_error_and_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"ok": false, "error": "channel_not_found"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let error = api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect_err("ok:false");
        assert!(
            matches!(&error, SlackError::Api { code } if code == "channel_not_found"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_unknown_email_is_no_user_and_a_known_one_is_its_id() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/users.lookupByEmail"))
            .and(query_param("email", "alice@corp.example"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!(
                {"ok": true, "user": {"id": "UALICE", "team_id": "T1", "name": "alice"}}
            )))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/users.lookupByEmail"))
            .and(query_param("email", "ghost@corp.example"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"ok": false, "error": "users_not_found"})),
            )
            .mount(&server)
            .await;
        let api = api_for(&server);
        assert_eq!(
            api.user_id_by_email("alice@corp.example")
                .await
                .expect("found"),
            Some("UALICE".to_owned())
        );
        assert_eq!(
            api.user_id_by_email("ghost@corp.example")
                .await
                .expect("answered"),
            None
        );
    }

    #[tokio::test]
    async fn auth_test_gives_the_bots_user_and_bot_ids() {
        let server = MockServer::start().await;
        Mock::given(path("/auth.test"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "ok": true, "url": "https://corp.slack.com/", "team": "Corp", "user": "ops",
                "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT"
            })))
            .mount(&server)
            .await;
        let identity = api_for(&server).auth_test().await.expect("identity");
        assert_eq!(
            identity,
            BotIdentity {
                user_id: "UBOT".into(),
                bot_id: Some("BBOT".into())
            }
        );
    }

    #[tokio::test]
    async fn a_wrong_token_fails_auth_test_with_slacks_code() {
        let server = MockServer::start().await;
        Mock::given(path("/auth.test"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"ok": false, "error": "invalid_auth"})),
            )
            .mount(&server)
            .await;
        let error = api_for(&server)
            .auth_test()
            .await
            .expect_err("invalid_auth");
        assert!(
            matches!(&error, SlackError::Api { code } if code == "invalid_auth"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn granted_scopes_reads_the_scopes_header_and_whose_token_it_is() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth.test"))
            .and(header("authorization", "Bearer xoxb-secret"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-oauth-scopes", "chat:write, users:read")
                    .set_body_json(serde_json::json!({
                        "ok": true, "team": "Corp", "user": "ops", "user_id": "UBOT"
                    })),
            )
            .expect(1)
            .mount(&server)
            .await;
        let grant = api_for(&server).granted_scopes().await.expect("a grant");
        assert_eq!(
            grant,
            Grant {
                user: "ops".into(),
                user_id: "UBOT".into(),
                team: "Corp".into(),
                scopes: Some(vec!["chat:write".into(), "users:read".into()]),
            }
        );
    }

    #[tokio::test]
    async fn granted_scopes_of_a_refused_token_is_slacks_code() {
        let server = MockServer::start().await;
        Mock::given(path("/auth.test"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"ok": false, "error": "invalid_auth"})),
            )
            .mount(&server)
            .await;
        let error = api_for(&server)
            .granted_scopes()
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, SlackError::Api { code } if code == "invalid_auth"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_hung_slack_times_out() {
        let server = MockServer::start().await;
        Mock::given(path("/auth.test"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let error = api_for(&server).auth_test().await.expect_err("timeout");
        assert!(matches!(error, SlackError::Timeout(_)), "{error:?}");
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let api = SlackApi::new(
            DEFAULT_SLACK_API_URL,
            &SecretString::from("xoxb-secret"),
            Timeouts::default(),
        )
        .expect("client");
        assert!(!format!("{api:?}").contains("xoxb-secret"));
    }
}
