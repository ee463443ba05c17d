//! The Slack Web API: the few methods the bot calls, over the shared plumbing's
//! hyper client ([`crate::outbound::https_client`]). Every reply goes through
//! it; reqwest's layers on top of the same client cost ~15 % of the CPU per
//! event (a URL re-parse with IDNA per request, proxy matching, wrappers).
//!
//! Written here rather than through slack-morphism, whose client the bot used
//! before: its errors carry whole response bodies in their `Display` (so they
//! would reach the logs), a write whose 2xx answer does not parse looks the same
//! as one that never left (so a posted reply could be posted again), it does not
//! expose response headers (`auth.test`'s scopes), and its models require fields
//! Slack may leave out. The Web API is small and regular: a bearer token, query
//! parameters or a JSON body, and `{"ok": …, "error": …}` answers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Uri};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::blocks;
use crate::model::{BotIdentity, Form, HomeTab, ThreadMessage};
use crate::outbound::{
    describe_failure, https_client, join_path, retry, retry_after, retry_if, BackoffPolicy, Body,
    CallLimit, Failure, HttpsClient, RetryPolicy, Retryable, Timeouts,
};

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// The Web API methods the bot calls.
const METHODS: [&str; 16] = [
    "auth.test",
    "conversations.info",
    "conversations.setTopic",
    "conversations.open",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "apps.connections.open",
    "users.info",
    "chat.getPermalink",
    "users.lookupByEmail",
    "usergroups.list",
    "usergroups.users.list",
    "usergroups.users.update",
    "views.publish",
    "views.open",
];

/// A failed Slack call, sorted by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false`; `code` is its error string (`invalid_auth`, …).
    #[error("Slack refused the call: {code}")]
    Api { code: String },
    #[error("Slack rate-limited the call{}", crate::outbound::describe_wait(*.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("Slack answered HTTP {status}")]
    Http { status: u16 },
    #[error("Slack did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The request never reached Slack: it surely did not land.
    #[error("{0}")]
    Connect(String),
    /// The connection failed after the request may have been sent.
    #[error("the connection to Slack failed: {0}")]
    Transport(String),
    #[error("Slack's answer could not be read: {0}")]
    Decode(String),
    /// The request could not be put together; it was never sent.
    #[error("the request to Slack could not be built: {0}")]
    Request(String),
}

impl Retryable for SlackError {
    /// For calls that are safe to repeat.
    fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Self::RateLimited { retry_after } => {
                Some(Some(retry_after.unwrap_or(Duration::from_secs(1))))
            }
            Self::Http { status } if *status >= 500 => Some(None),
            Self::Connect(_) | Self::Transport(_) => Some(None),
            Self::Timeout(_)
            | Self::Api { .. }
            | Self::Http { .. }
            | Self::Decode(_)
            | Self::Request(_) => None,
        }
    }
}

impl SlackError {
    /// For a write: retried only when it surely did not land (never sent, 429,
    /// 5xx). A timeout, a broken connection or an unreadable 2xx may have
    /// landed, and a second try could post twice.
    fn write_retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Self::Connect(_) | Self::RateLimited { .. } => self.retry_hint(),
            Self::Http { status } if *status >= 500 => Some(None),
            _ => None,
        }
    }

    /// Whether the write this error came from may have landed all the same.
    pub fn may_have_landed(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::Transport(_) | Self::Decode(_)
        )
    }
}

/// The bot's Slack Web API client. Cheap to share behind an `Arc`.
pub struct SlackApi {
    http: HttpsClient,
    turns: CallLimit,
    /// `https://slack.com/api`.
    base_url: reqwest::Url,
    /// Each method's URL and URI, parsed once: parsing (with IDNA) on every
    /// call showed in the profile under load.
    endpoints: HashMap<&'static str, Endpoint>,
    /// `Bearer <token>`, built once and marked sensitive (never in `Debug`).
    authorization: HeaderValue,
    timeout: Duration,
    post_retries: RetryPolicy,
    /// Calls that are safe to repeat: reads, and writes that set a whole value
    /// (`usergroups.users.update`), so a repeat changes nothing.
    repeatable_retries: RetryPolicy,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
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

/// A Slack user, as far as the bot needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    /// Display name, else real name, else handle, else the id.
    pub name: String,
    pub team_id: Option<String>,
    /// Set for members of an Enterprise Grid organisation.
    pub enterprise_id: Option<String>,
    /// With the `users:read.email` scope.
    pub email: Option<String>,
    /// Their time zone (`Europe/Berlin`), when their profile has one.
    pub tz: Option<String>,
    /// A single- or multi-channel guest (`is_restricted`,
    /// `is_ultra_restricted`).
    pub guest: bool,
}

/// Every answer's envelope.
#[derive(Deserialize)]
struct Status {
    ok: bool,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct AuthTest {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    team: String,
    team_id: Option<String>,
    bot_id: Option<String>,
    enterprise_id: Option<String>,
}

/// How an answer at a `response_url` is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// To the person alone.
    Ephemeral,
    /// To the channel.
    InChannel,
    /// In place of the message whose button was clicked.
    ReplaceOriginal,
}

/// A Web API method's address, in both forms.
#[derive(Clone)]
struct Endpoint {
    /// For adding a query.
    url: reqwest::Url,
    uri: Uri,
}

impl Endpoint {
    fn new(url: reqwest::Url) -> Option<Self> {
        let uri = url.as_str().parse().ok()?;
        Some(Self { url, uri })
    }
}

/// One request, built: cheap to clone for another attempt (the URI and the
/// body are shared bytes).
#[derive(Clone)]
struct Call {
    method: Method,
    uri: Uri,
    /// A JSON body, or none (a GET, or a POST with no arguments).
    json: Option<Bytes>,
}

/// The most of an answer that is read: `usergroups.list` in a large
/// workspace is the biggest the bot asks for.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// `chat.postMessage`'s body, written straight from the borrowed parts.
#[derive(Serialize)]
struct ThreadReply<'a> {
    channel: &'a str,
    thread_ts: &'a str,
    text: &'a str,
}

/// A message with blocks: `chat.postMessage` in a thread, or `chat.update`.
#[derive(Serialize)]
struct CardMessage<'a> {
    channel: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_ts: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<&'a str>,
    text: String,
    blocks: serde_json::Value,
}

#[derive(Deserialize)]
struct Posted {
    ts: String,
}

#[derive(Deserialize)]
struct ConnectionsOpen {
    url: String,
}

#[derive(Deserialize)]
struct UserAnswer<U> {
    user: U,
}

#[derive(Deserialize)]
struct UserInfo {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    real_name: Option<String>,
    team_id: Option<String>,
    /// The IANA zone (`Europe/Berlin`) set in their Slack profile.
    tz: Option<String>,
    #[serde(default)]
    profile: Profile,
    enterprise_user: Option<EnterpriseUser>,
    #[serde(default)]
    is_restricted: bool,
    #[serde(default)]
    is_ultra_restricted: bool,
}

#[derive(Default, Deserialize)]
struct Profile {
    display_name: Option<String>,
    real_name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct EnterpriseUser {
    enterprise_id: Option<String>,
}

#[derive(Deserialize)]
struct UserId {
    id: String,
}

#[derive(Deserialize)]
struct Permalink {
    permalink: String,
}

/// `usergroups.list`, as far as the bot reads it.
#[derive(Deserialize)]
struct UserGroupsList {
    usergroups: Vec<UserGroupSummary>,
}

#[derive(Deserialize)]
struct UserGroupSummary {
    id: String,
    handle: String,
}

#[derive(Deserialize)]
struct UserGroupMembers {
    #[serde(default)]
    users: Vec<String>,
}

impl SlackApi {
    /// `base_url` is the Web API root (`https://slack.com/api`, or a fake's).
    pub fn new(
        base_url: &str,
        token: &SecretString,
        timeouts: Timeouts,
    ) -> Result<Self, SlackError> {
        let http =
            https_client(timeouts).map_err(|error| SlackError::Request(error.to_string()))?;
        let not_a_url = || SlackError::Connect(format!("`{base_url}` is not a base URL"));
        let base_url = reqwest::Url::parse(base_url).map_err(|_| not_a_url())?;
        let endpoints = METHODS
            .iter()
            .map(|method| {
                let endpoint = Endpoint::new(join_path(&base_url, &[method])?)?;
                Some((*method, endpoint))
            })
            .collect::<Option<_>>()
            .ok_or_else(not_a_url)?;
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
            .map_err(|_| {
                SlackError::Request(
                    "the Slack token has characters an HTTP header cannot carry".to_owned(),
                )
            })?;
        authorization.set_sensitive(true);
        Ok(Self {
            http,
            turns: CallLimit::default(),
            base_url,
            endpoints,
            authorization,
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

    /// A method's address. Every method the client calls is in METHODS, parsed
    /// in `new`; another one is parsed here.
    fn endpoint(&self, method: &'static str) -> Result<Cow<'_, Endpoint>, SlackError> {
        if let Some(endpoint) = self.endpoints.get(method) {
            return Ok(Cow::Borrowed(endpoint));
        }
        join_path(&self.base_url, &[method])
            .and_then(Endpoint::new)
            .map(Cow::Owned)
            .ok_or_else(|| SlackError::Request(format!("no URL for `{method}`")))
    }

    /// A GET with query parameters (reads).
    fn get(&self, method: &'static str, query: &[(&str, &str)]) -> Result<Call, SlackError> {
        let endpoint = self.endpoint(method)?;
        let uri = if query.is_empty() {
            endpoint.uri.clone()
        } else {
            let mut url = endpoint.url.clone();
            url.query_pairs_mut().extend_pairs(query);
            url.as_str()
                .parse()
                .map_err(|_| SlackError::Request(format!("no URL for `{method}`")))?
        };
        Ok(Call {
            method: Method::GET,
            uri,
            json: None,
        })
    }

    /// A POST with a JSON body (writes).
    fn post(&self, method: &'static str, body: &impl Serialize) -> Result<Call, SlackError> {
        let uri = self.endpoint(method)?.uri.clone();
        let json =
            serde_json::to_vec(body).map_err(|error| SlackError::Request(error.to_string()))?;
        Ok(Call {
            method: Method::POST,
            uri,
            json: Some(Bytes::from(json)),
        })
    }

    /// A POST with no body, for a method whose only argument is the token
    /// (Slack documents `apps.connections.open` as a POST; an empty JSON object
    /// would be a body the method does not take).
    fn post_without_arguments(&self, method: &'static str) -> Result<Call, SlackError> {
        Ok(Call {
            method: Method::POST,
            uri: self.endpoint(method)?.uri.clone(),
            json: None,
        })
    }

    /// Sends once with the token, and reads the answer: a 429 with its wait, any
    /// other non-2xx by status (its body unread: it may be a proxy's page), an
    /// `ok: false` by Slack's error code.
    async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<(T, HeaderMap), SlackError> {
        let (body, headers) = self.send_checked(call).await?;
        let value =
            serde_json::from_slice(&body).map_err(|error| SlackError::Decode(error.to_string()))?;
        Ok((value, headers))
    }

    /// [`Self::send`] up to Slack's `ok`: the answer's body and headers, unread
    /// beyond that (a write needs no more).
    async fn send_checked(&self, call: Call) -> Result<(Bytes, HeaderMap), SlackError> {
        let _turn = self.turns.turn().await;
        // Boxed: the HTTP exchange's state is most of a reply's memory, and a
        // reply waiting for its turn need not hold it yet.
        let exchange = Box::pin(self.exchange(call));
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(SlackError::Timeout(self.timeout)),
        }
    }

    async fn exchange(&self, call: Call) -> Result<(Bytes, HeaderMap), SlackError> {
        let json = call.json.is_some();
        let mut request = hyper::Request::new(Body::new(call.json.unwrap_or_default()));
        *request.method_mut() = call.method;
        *request.uri_mut() = call.uri;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(crate::outbound::USER_AGENT),
        );
        if json {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let response = self.http.request(request).await.map_err(|error| {
            let detail = self.describe(&error, error.is_connect(), false);
            if error.is_connect() {
                SlackError::Connect(detail)
            } else {
                SlackError::Transport(detail)
            }
        })?;
        let (parts, body) = response.into_parts();
        if parts.status.as_u16() == 429 {
            return Err(SlackError::RateLimited {
                retry_after: retry_after(&parts.headers),
            });
        }
        if !parts.status.is_success() {
            return Err(SlackError::Http {
                status: parts.status.as_u16(),
            });
        }
        let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    return SlackError::Decode(format!(
                        "it is larger than {} MiB",
                        MAX_ANSWER_BYTES / (1024 * 1024)
                    ));
                }
                SlackError::Transport(self.describe(&*error, false, true))
            })?
            .to_bytes();
        let answer: Status =
            serde_json::from_slice(&body).map_err(|error| SlackError::Decode(error.to_string()))?;
        if !answer.ok {
            return Err(SlackError::Api { code: answer.error });
        }
        Ok((body, parts.headers))
    }

    /// A failed exchange with Slack, in words (see [`describe_failure`]).
    fn describe(
        &self,
        error: &(dyn std::error::Error + 'static),
        connecting: bool,
        in_body: bool,
    ) -> String {
        let failure = Failure {
            url: Some(&self.base_url),
            connecting,
            in_body,
        };
        describe_failure(error, failure)
    }

    /// A call that is safe to repeat, retried by policy.
    async fn repeatable<T: DeserializeOwned>(&self, call: Call) -> Result<T, SlackError> {
        retry(self.repeatable_retries, || async {
            self.send(call.clone()).await.map(|(value, _)| value)
        })
        .await
    }

    /// `auth.test`: who the token belongs to.
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        let (me, _): (AuthTest, _) = self.send(self.get("auth.test", &[])?).await?;
        Ok(BotIdentity {
            user_id: me.user_id,
            bot_id: me.bot_id,
            team_id: me.team_id,
            enterprise_id: me.enterprise_id,
        })
    }

    /// `auth.test`, read whole: whose the token is and which scopes it has.
    pub async fn granted_scopes(&self) -> Result<Grant, SlackError> {
        let (me, headers): (AuthTest, _) = self.send(self.get("auth.test", &[])?).await?;
        let scopes = headers
            .get("x-oauth-scopes")
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                value
                    .split(',')
                    .map(|scope| scope.trim().to_owned())
                    .filter(|scope| !scope.is_empty())
                    .collect()
            });
        Ok(Grant {
            user: me.user,
            user_id: me.user_id,
            team: me.team,
            scopes,
        })
    }

    /// `chat.postMessage` into a thread. Retried only when it surely did not
    /// land (never sent, rate-limited, Slack 5xx): a reply is never posted twice.
    pub async fn post_in_thread(
        &self,
        channel: &str,
        thread_ts: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        let body = ThreadReply {
            channel,
            thread_ts,
            text,
        };
        let call = self.post("chat.postMessage", &body)?;
        retry_if(self.post_retries, SlackError::write_retry_hint, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// `conversations.info`: the channel's topic (scope `channels:read`).
    pub async fn channel_topic(&self, channel: &str) -> Result<String, SlackError> {
        #[derive(Deserialize)]
        struct Info {
            channel: InfoChannel,
        }
        #[derive(Deserialize)]
        struct InfoChannel {
            #[serde(default)]
            topic: Option<Topic>,
        }
        #[derive(Deserialize)]
        struct Topic {
            #[serde(default)]
            value: String,
        }
        let info: Info = self
            .repeatable(self.get("conversations.info", &[("channel", channel)])?)
            .await?;
        Ok(info
            .channel
            .topic
            .map(|topic| topic.value)
            .unwrap_or_default())
    }

    /// `conversations.setTopic` (scope `channels:write.topic`). Setting the
    /// whole topic is safe to repeat.
    pub async fn set_channel_topic(&self, channel: &str, topic: &str) -> Result<(), SlackError> {
        let call = self.post(
            "conversations.setTopic",
            &serde_json::json!({"channel": channel, "topic": topic}),
        )?;
        retry(self.repeatable_retries, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// `conversations.open`: the DM channel with `user` (scope `im:write`).
    /// Opening an open DM returns it again, so this is safe to repeat.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackError> {
        #[derive(Deserialize)]
        struct Opened {
            channel: OpenedChannel,
        }
        #[derive(Deserialize)]
        struct OpenedChannel {
            id: String,
        }
        let call = self.post("conversations.open", &serde_json::json!({"users": user}))?;
        let opened: Opened = retry(self.repeatable_retries, || async {
            self.send(call.clone()).await.map(|(value, _)| value)
        })
        .await?;
        Ok(opened.channel.id)
    }

    /// `chat.postMessage` at the top of a channel (hand-over notices). Retried
    /// only when it surely did not land.
    pub async fn post_message(&self, channel: &str, text: &str) -> Result<(), SlackError> {
        let body = serde_json::json!({"channel": channel, "text": text});
        let call = self.post("chat.postMessage", &body)?;
        retry_if(self.post_retries, SlackError::write_retry_hint, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// `chat.postMessage` into a thread, with the alert card's blocks when there
    /// is one; returns the message's ts, for updating it later. Retried like
    /// [`Self::post_in_thread`].
    pub async fn post_message_in_thread(
        &self,
        channel: &str,
        thread_ts: &str,
        message: &ThreadMessage,
    ) -> Result<String, SlackError> {
        let body = CardMessage {
            channel,
            thread_ts: Some(thread_ts),
            ts: None,
            text: blocks::fallback_text(message),
            blocks: blocks::blocks(message),
        };
        let call = self.post("chat.postMessage", &body)?;
        retry_if(self.post_retries, SlackError::write_retry_hint, || async {
            self.send::<Posted>(call.clone())
                .await
                .map(|(posted, _)| posted.ts)
        })
        .await
    }

    /// `chat.postMessage` at the top of a channel (or a DM) with the message's
    /// blocks; returns its ts. Retried only when it surely did not land.
    pub async fn post_message_with_blocks(
        &self,
        channel: &str,
        message: &ThreadMessage,
    ) -> Result<String, SlackError> {
        let body = CardMessage {
            channel,
            thread_ts: None,
            ts: None,
            text: blocks::fallback_text(message),
            blocks: blocks::blocks(message),
        };
        let call = self.post("chat.postMessage", &body)?;
        retry_if(self.post_retries, SlackError::write_retry_hint, || async {
            self.send::<Posted>(call.clone())
                .await
                .map(|(posted, _)| posted.ts)
        })
        .await
    }

    /// `chat.update`: the bot's message at `ts` now says `message`. Setting the
    /// whole message is safe to repeat.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &ThreadMessage,
    ) -> Result<(), SlackError> {
        let body = CardMessage {
            channel,
            thread_ts: None,
            ts: Some(ts),
            text: blocks::fallback_text(message),
            blocks: blocks::blocks(message),
        };
        let call = self.post("chat.update", &body)?;
        retry(self.repeatable_retries, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// `views.publish`: `user`'s Home tab now shows `tab`. Setting the whole
    /// view is safe to repeat.
    pub async fn publish_home(&self, user: &str, tab: &HomeTab) -> Result<(), SlackError> {
        let body = serde_json::json!({"user_id": user, "view": blocks::home_view(tab)});
        let call = self.post("views.publish", &body)?;
        retry(self.repeatable_retries, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// `views.open`: opens `form` for the click that gave `trigger_id` (valid
    /// for three seconds, once). Sent again only when it surely did not land.
    pub async fn open_form(&self, trigger_id: &str, form: &Form) -> Result<(), SlackError> {
        let body = serde_json::json!({"trigger_id": trigger_id, "view": blocks::form_view(form)});
        let call = self.post("views.open", &body)?;
        retry_if(self.post_retries, SlackError::write_retry_hint, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// `chat.postEphemeral`: a message only `user` sees, in the thread.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), SlackError> {
        let mut body = serde_json::json!({"channel": channel, "user": user, "text": text});
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = thread_ts.into();
        }
        let call = self.post("chat.postEphemeral", &body)?;
        retry_if(self.post_retries, SlackError::write_retry_hint, || async {
            self.send_checked(call.clone()).await.map(drop)
        })
        .await
    }

    /// Answers at a `response_url` (a slash command's, or a click's): only to
    /// the caller, to the channel, or in place of the message clicked. The URL
    /// came in a signed request, but it is followed only to Slack's hosts
    /// (`hooks.slack.com`, `hooks.slack-gov.com`, and `SLACK_API_URL`'s host,
    /// which is how tests reach their fake), over HTTPS unless that host is
    /// this machine; no token goes with it.
    pub async fn respond(
        &self,
        response_url: &str,
        message: &ThreadMessage,
        kind: ResponseKind,
    ) -> Result<(), SlackError> {
        let uri: Uri = response_url
            .parse()
            .map_err(|_| SlackError::Request("the response_url is not a URL".to_owned()))?;
        if !self.is_slack_hook(&uri) {
            tracing::warn!(
                host = uri.host().unwrap_or("none"),
                "refused to answer at a response_url that is not Slack's"
            );
            return Err(SlackError::Request(
                "the response_url is not one of Slack's".to_owned(),
            ));
        }
        let mut body = serde_json::json!({
            "response_type": match kind {
                ResponseKind::InChannel => "in_channel",
                ResponseKind::Ephemeral | ResponseKind::ReplaceOriginal => "ephemeral",
            },
            "text": blocks::fallback_text(message),
        });
        if message.has_blocks() {
            body["blocks"] = blocks::blocks(message);
        }
        // Said either way: Slack's default differs between slash commands and
        // clicks, and a refusal must never take the place of a message.
        body["replace_original"] = (kind == ResponseKind::ReplaceOriginal).into();
        let json =
            serde_json::to_vec(&body).map_err(|error| SlackError::Request(error.to_string()))?;
        let _turn = self.turns.turn().await;
        let mut request = hyper::Request::new(Body::new(Bytes::from(json)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(crate::outbound::USER_AGENT),
        );
        let sent = tokio::time::timeout(self.timeout, self.http.request(request)).await;
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                let detail = self.describe(&error, error.is_connect(), false);
                return Err(SlackError::Transport(detail));
            }
            Err(_) => return Err(SlackError::Timeout(self.timeout)),
        };
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SlackError::Http {
                status: response.status().as_u16(),
            })
        }
    }

    /// Whether `uri` is one of Slack's hooks: HTTPS to `hooks.slack.com` or
    /// `hooks.slack-gov.com`, or to the Web API's own host (plain HTTP only
    /// when that is this machine).
    fn is_slack_hook(&self, uri: &Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let api_host = self.base_url.host_str();
        let slacks = matches!(host, "hooks.slack.com" | "hooks.slack-gov.com");
        let ours = api_host == Some(host) && uri.port_u16() == self.base_url.port();
        match uri.scheme_str() {
            Some("https") => slacks || ours,
            Some("http") => ours && matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1"),
            _ => false,
        }
    }

    /// `apps.connections.open` (with the app-level token): a Socket Mode URL.
    pub async fn open_socket_url(&self) -> Result<String, SlackError> {
        let (opened, _): (ConnectionsOpen, _) = self
            .send(self.post_without_arguments("apps.connections.open")?)
            .await?;
        Ok(opened.url)
    }

    /// `users.info`: how a person is called, and which workspace they are in.
    pub async fn user(&self, user_id: &str) -> Result<SlackUser, SlackError> {
        let answer: UserAnswer<UserInfo> = self
            .repeatable(self.get("users.info", &[("user", user_id)])?)
            .await?;
        let user = answer.user;
        let email = user.profile.email.filter(|email| !email.trim().is_empty());
        let name = [
            user.profile.display_name,
            user.profile.real_name,
            user.real_name,
            Some(user.name),
        ]
        .into_iter()
        .flatten()
        .find(|name| !name.trim().is_empty())
        .unwrap_or(user.id);
        Ok(SlackUser {
            name,
            team_id: user.team_id,
            enterprise_id: user.enterprise_user.and_then(|grid| grid.enterprise_id),
            email,
            tz: user.tz,
            guest: user.is_restricted || user.is_ultra_restricted,
        })
    }

    /// `chat.getPermalink`: the URL of a message.
    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        let answer: Permalink = self
            .repeatable(self.get(
                "chat.getPermalink",
                &[("channel", channel), ("message_ts", ts)],
            )?)
            .await?;
        Ok(answer.permalink)
    }

    /// `users.lookupByEmail`: the Slack user id, or `None` when nobody has that email.
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>, SlackError> {
        let lookup: Result<UserAnswer<UserId>, _> = self
            .repeatable(self.get("users.lookupByEmail", &[("email", email)])?)
            .await;
        match lookup {
            Ok(found) => Ok(Some(found.user.id)),
            Err(SlackError::Api { code }) if code == "users_not_found" => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `usergroups.list`: the id of the group with this handle, if there is one.
    pub async fn user_group_id(&self, handle: &str) -> Result<Option<String>, SlackError> {
        let list: UserGroupsList = self.repeatable(self.get("usergroups.list", &[])?).await?;
        Ok(list
            .usergroups
            .into_iter()
            .find(|group| group.handle.eq_ignore_ascii_case(handle))
            .map(|group| group.id))
    }

    /// `usergroups.users.list`: the members of a group.
    pub async fn user_group_members(&self, group_id: &str) -> Result<Vec<String>, SlackError> {
        let members: UserGroupMembers = self
            .repeatable(self.get("usergroups.users.list", &[("usergroup", group_id)])?)
            .await?;
        Ok(members.users)
    }

    /// `usergroups.users.update`: makes `users` the group's members. Slack refuses
    /// an empty list, so callers never send one. Setting the whole list is safe
    /// to repeat.
    pub async fn set_user_group_members(
        &self,
        group_id: &str,
        users: &[String],
    ) -> Result<(), SlackError> {
        let body = serde_json::json!({"usergroup": group_id, "users": users.join(",")});
        let call = self.post("usergroups.users.update", &body)?;
        retry(self.repeatable_retries, || async {
            self.send_checked(call.clone()).await.map(drop)
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
    async fn a_2xx_whose_body_does_not_parse_is_never_posted_again() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>CANARY-7731</html>"))
            .expect(1)
            .mount(&server)
            .await;
        let error = api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect_err("unreadable");
        assert!(matches!(error, SlackError::Decode(_)), "{error:?}");
        assert!(error.may_have_landed());
        assert!(!error.to_string().contains("CANARY"), "{error}");
    }

    #[tokio::test]
    async fn a_timed_out_post_may_have_landed_and_is_not_sent_again() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(posted().set_delay(Duration::from_secs(2)))
            .expect(1)
            .mount(&server)
            .await;
        let error = api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect_err("timeout");
        assert!(matches!(error, SlackError::Timeout(_)), "{error:?}");
        assert!(error.may_have_landed());
    }

    #[tokio::test]
    async fn a_slack_5xx_on_a_post_is_retried_and_posted_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(ResponseTemplate::new(503).set_body_string("CANARY-5xx"))
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
        api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect("posted after the 503");
    }

    #[tokio::test]
    async fn a_retry_after_of_u64_max_neither_panics_nor_waits() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat.postMessage"))
            .respond_with(
                ResponseTemplate::new(429).insert_header("retry-after", "18446744073709551615"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let started = std::time::Instant::now();
        let error = api_for(&server)
            .post_in_thread("C1", "1.1", "hello")
            .await
            .expect_err("rate-limited");
        assert!(
            matches!(error, SlackError::RateLimited { retry_after: Some(wait) } if wait == crate::outbound::MAX_RETRY_AFTER),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn an_unreachable_slack_is_said_in_words_and_a_post_retried() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let api = SlackApi::new(
            &format!("http://127.0.0.1:{port}/api"),
            &SecretString::from("xoxb-secret"),
            Timeouts::default(),
        )
        .expect("client")
        .with_post_retries(RetryPolicy {
            max_attempts: 2,
            backoff: BackoffPolicy {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(1),
            },
            deadline: Duration::from_secs(1),
        });
        let error = api.auth_test().await.expect_err("nobody listens");
        assert_eq!(
            error.to_string(),
            format!("could not connect to 127.0.0.1:{port}: connection refused")
        );
        let error = api
            .post_in_thread("C1", "1", "hi")
            .await
            .expect_err("nobody");
        assert!(matches!(error, SlackError::Connect(_)), "{error:?}");
        assert!(!error.may_have_landed());
    }

    #[tokio::test]
    async fn a_failed_tls_handshake_is_said_in_words() {
        // A server that answers a TLS hello in plain text.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let api = SlackApi::new(
            &format!("https://127.0.0.1:{port}/api"),
            &SecretString::from("xoxb-secret"),
            Timeouts::default(),
        )
        .expect("client");
        let error = api.auth_test().await.expect_err("no TLS there");
        assert_eq!(
            error.to_string(),
            format!(
                "TLS handshake with 127.0.0.1:{port} failed: the server did not answer in TLS \
                 (plain HTTP?)"
            )
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
                bot_id: Some("BBOT".into()),
                team_id: Some("T1".into()),
                enterprise_id: None,
            }
        );
    }

    #[tokio::test]
    async fn a_redirect_is_an_error_and_is_not_followed_with_the_token() {
        let server = MockServer::start().await;
        Mock::given(path("/auth.test"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/elsewhere", server.uri())),
            )
            .mount(&server)
            .await;
        Mock::given(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
            .expect(0)
            .mount(&server)
            .await;
        let error = api_for(&server).auth_test().await.expect_err("a redirect");
        assert!(
            matches!(error, SlackError::Http { status: 302 }),
            "{error:?}"
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
        Mock::given(method("GET"))
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

    #[tokio::test]
    async fn a_response_url_must_be_slacks_and_carries_no_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/commands/1"))
            .and(body_json(serde_json::json!({
                "response_type": "ephemeral", "text": "hi", "replace_original": false
            })))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let api = api_for(&server);
        let url = format!("{}/commands/1", server.uri());
        let hi = ThreadMessage::plain("hi".into());
        assert!(api
            .respond(&url, &hi, ResponseKind::Ephemeral)
            .await
            .is_ok());
        let sent = server.received_requests().await.expect("recorded");
        assert!(sent[0].headers.get("authorization").is_none(), "no token");
        let port = server.address().port();
        for refused in [
            "http://hooks.example.com/commands/1".to_owned(),
            "https://hooks.example.com/commands/1".to_owned(),
            "https://hooks.slack.com.evil.example/commands/1".to_owned(),
            // This machine, but not the Web API's port: another service here.
            format!("http://127.0.0.1:{}/commands/1", port.wrapping_add(1)),
            format!("https://127.0.0.1:{}/commands/1", port.wrapping_add(1)),
            "ftp://x/y".to_owned(),
            "not a url".to_owned(),
        ] {
            assert!(
                matches!(
                    api.respond(&refused, &hi, ResponseKind::Ephemeral).await,
                    Err(SlackError::Request(_))
                ),
                "{refused}"
            );
        }
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
        let production = SlackApi::new(
            DEFAULT_SLACK_API_URL,
            &SecretString::from("xoxb-secret"),
            Timeouts::default(),
        )
        .expect("client");
        for (url, allowed) in [
            ("https://hooks.slack.com/commands/T1/2/x", true),
            ("https://hooks.slack-gov.com/commands/T1/2/x", true),
            ("http://hooks.slack.com/commands/T1/2/x", false),
            ("https://127.0.0.1:8443/commands/T1/2/x", false),
            ("https://slack.com.evil.example/x", false),
        ] {
            let uri: Uri = url.parse().expect("a URI");
            assert_eq!(production.is_slack_hook(&uri), allowed, "{url}");
        }
    }
}
