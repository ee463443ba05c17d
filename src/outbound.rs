//! How the bot calls other systems: timeouts, bounded retries, one backoff policy,
//! and one REST plumbing ([`RestClient`]) that the on-call providers share. Each
//! provider adds only its own auth and the errors only it can have.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The earliest and latest moments the bot speaks of: 1970-01-01 and the end
/// of 2099. The time phrases it reads stay inside them, and every moment it
/// writes (to Slack or to a provider) is kept inside them, so that no
/// arithmetic or formatting on a time can fail.
pub const EARLIEST: SystemTime = SystemTime::UNIX_EPOCH;
pub const LATEST_SECONDS: u64 = 4_102_444_799; // 2099-12-31T23:59:59Z

/// The latest moment the bot speaks of.
pub fn latest() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(LATEST_SECONDS)
}

/// Seconds since 1970 of `time`, kept within [`EARLIEST`] and [`latest`].
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
        .min(LATEST_SECONDS)
}

/// `time` as RFC 3339 in UTC to the second (`2026-12-24T09:00:00Z`), as
/// OpsGenie, JSM and Slack's date fallbacks take it. Never panics: a time
/// outside 1970..2099 is written as the nearest end (humantime's formatter
/// panics before 1970).
pub fn rfc3339(time: SystemTime) -> String {
    let clamped = SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds(time));
    humantime::format_rfc3339_seconds(clamped).to_string()
}

/// Connect and total timeouts for every outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(5),
        }
    }
}

/// An HTTP client with the bot's timeouts and user agent, for REST APIs. It
/// follows no redirect: the APIs never send one, and a credentialed call is not
/// to be bounced elsewhere (a 3xx is an error like any other).
pub fn http_client(timeouts: Timeouts) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        // As many idle connections as calls may be in flight: no more are kept.
        .pool_max_idle_per_host(MAX_CONCURRENT_CALLS)
        .user_agent(USER_AGENT)
        .build()
}

/// A request body for [`HttpsClient`]: the bytes, whole.
pub type Body = http_body_util::Full<bytes::Bytes>;

/// An HTTP/1.1 client over rustls (Mozilla's roots) or plain HTTP, with a
/// keep-alive pool: hyper's own, without reqwest's layers, for the calls on
/// the hot path. It follows no redirect. Timeouts: connecting within
/// `timeouts.connect` here; the whole exchange is the caller's to bound.
pub type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Body,
>;

/// The TLS set-up failed (it does not, with ring's defaults).
#[derive(Debug, thiserror::Error)]
#[error("TLS could not be set up: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

/// The [`HttpsClient`] with the bot's connect timeout, TCP_NODELAY, and as many
/// idle connections kept as calls may be in flight.
pub fn https_client(timeouts: Timeouts) -> Result<HttpsClient, TlsSetupError> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(timeouts.connect));
    http.set_nodelay(true);
    // https:// URLs are the TLS layer's to take.
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(MAX_CONCURRENT_CALLS)
            .build(https),
    )
}

/// The user agent every outbound call sends.
pub const USER_AGENT: &str = concat!("oncall-bot/", env!("CARGO_PKG_VERSION"));

/// The most calls one client has in flight at once. Beyond it a call waits for
/// its turn instead of opening yet another connection: under a burst, sockets
/// and their buffers stay bounded by this, not by the burst, and the
/// connections already open are reused. On loopback 64 carry well over 10,000
/// calls a second; at Slack's round trip (~100 ms) several hundred, above what
/// Slack's rate limits allow a bot anyway.
pub const MAX_CONCURRENT_CALLS: usize = 64;

/// Turns for calls to one system, at most [`MAX_CONCURRENT_CALLS`] at once.
/// Cheap to clone; clones share the turns.
#[derive(Debug, Clone)]
pub struct CallLimit(Arc<tokio::sync::Semaphore>);

impl Default for CallLimit {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS)))
    }
}

impl CallLimit {
    /// Waits for a turn; the call may proceed while the permit lives. (The
    /// semaphore is never closed, so the error arm is unreachable; it proceeds.)
    pub async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.0.acquire().await.ok()
    }
}

/// `base` with `segments` appended, each one path segment (percent-encoded);
/// `None` when `base` cannot take a path.
pub fn join_path(base: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url)
}

/// Waits that double after each failure, from `initial` up to `max`: between
/// retries of one call, between reconnects, and between upstream tries after a
/// failed lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl BackoffPolicy {
    /// The wait after a failure: `initial` after the first, else the previous
    /// wait doubled, never more than `max`.
    pub fn after(&self, previous: Option<Duration>) -> Duration {
        match previous {
            Some(previous) => (previous * 2).min(self.max),
            None => self.initial.min(self.max),
        }
    }
}

impl Default for BackoffPolicy {
    /// After a failed on-call lookup: 5 s, doubling to a minute.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
        }
    }
}

/// What a failed call says about trying again.
pub trait Retryable {
    /// `None`: do not retry. `Some(None)`: retry after our own backoff.
    /// `Some(Some(wait))`: retry after the wait the server asked for (`Retry-After`).
    fn retry_hint(&self) -> Option<Option<Duration>>;
}

/// How long and how often to keep trying one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// The waits between attempts, unless the server names its own.
    pub backoff: BackoffPolicy,
    /// No attempt starts after this much time since the first one.
    pub deadline: Duration,
}

impl RetryPolicy {
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            backoff: BackoffPolicy {
                initial: Duration::ZERO,
                max: Duration::ZERO,
            },
            deadline: Duration::ZERO,
        }
    }
}

/// The longest `Retry-After` the bot honours; a server asking for more gets no
/// retry at all (no policy's deadline is that long).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A `Retry-After` header in seconds, else PagerDuty's `ratelimit-reset`
/// (seconds until the limit resets), capped at [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    [reqwest::header::RETRY_AFTER.as_str(), "ratelimit-reset"]
        .iter()
        .find_map(|name| {
            headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
        })
        .map(|seconds| Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Runs `call` until it succeeds, fails for good, or the policy is spent. The last
/// error is returned.
pub async fn retry<T, E, F, Fut>(policy: RetryPolicy, call: F) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_if(policy, E::retry_hint, call).await
}

/// [`retry`], with `hint` deciding what a failure says about trying again (e.g.
/// stricter for a write that may have landed).
pub async fn retry_if<T, E, F, Fut>(
    policy: RetryPolicy,
    hint: impl Fn(&E) -> Option<Option<Duration>>,
    mut call: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut backoff = None;
    let mut attempt = 1;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(asked) = hint(&error) else {
            return Err(error);
        };
        let own_wait = policy.backoff.after(backoff);
        // Checked: a server may ask for any wait, up to u64::MAX seconds.
        let wait = asked.unwrap_or(own_wait).min(MAX_RETRY_AFTER);
        let out_of_time = started
            .elapsed()
            .checked_add(wait)
            .is_none_or(|then| then > policy.deadline);
        if attempt >= policy.max_attempts || out_of_time {
            return Err(error);
        }
        tracing::warn!(%error, attempt, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
        backoff = Some(own_wait);
        attempt += 1;
    }
}

/// An outside REST system, as people and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct System {
    /// In messages: `OpsGenie`, `JSM`.
    pub name: &'static str,
    /// In `/metrics`: `opsgenie`, `jsm`.
    pub label: &'static str,
}

/// The credential a call carries, as a person knows it, and what to check when
/// the system refuses it. (The provider adds the credential itself.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    /// `the API key`, `JSM_EMAIL / JSM_API_TOKEN`.
    pub name: &'static str,
    pub advice: &'static str,
}

/// A failed REST call, sorted by what the caller can do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestError {
    #[error("{system} refused {credential} (HTTP {status}): {advice}")]
    Unauthorized {
        system: &'static str,
        status: u16,
        credential: &'static str,
        advice: &'static str,
    },
    #[error("{system} has no such resource (HTTP 404): {message}")]
    NotFound {
        system: &'static str,
        message: String,
    },
    #[error("{system} rate-limited the call{}", describe_wait(*.retry_after))]
    RateLimited {
        system: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{system} rejected the request (HTTP {status}): {message}")]
    Rejected {
        system: &'static str,
        status: u16,
        message: String,
    },
    #[error("{system} failed (HTTP {status})")]
    Server { system: &'static str, status: u16 },
    #[error("{system} did not answer in time")]
    Timeout { system: &'static str },
    /// The connection failed before a request was sent: it surely did not
    /// land.
    #[error("could not reach {system}: {detail}")]
    Unreachable {
        system: &'static str,
        detail: String,
    },
    /// The exchange broke off after the request may have been sent.
    #[error("could not reach {system}: {detail}")]
    Transport {
        system: &'static str,
        detail: String,
    },
    #[error("{system}'s answer could not be read: {detail}")]
    Decode {
        system: &'static str,
        detail: String,
    },
    #[error("the {system} URL `{url}` cannot take a path")]
    BadUrl { system: &'static str, url: String },
}

/// " and asked for a wait of 3s", or nothing.
pub fn describe_wait(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(
            " and asked for a wait of {}",
            humantime::format_duration(wait)
        ),
        None => String::new(),
    }
}

/// A failed HTTP exchange in words a person can act on: "could not connect to
/// api.opsgenie.com:443: connection refused", "DNS lookup of slack.example
/// failed", "TLS handshake with … failed". reqwest's own text nests the hyper
/// error chain, often in `Debug` form; the chain is walked here instead, and the
/// full detail goes to the debug log.
pub fn describe_transport(error: &reqwest::Error) -> String {
    let failure = Failure {
        url: error.url(),
        connecting: error.is_connect(),
        in_body: error.is_body() || error.is_decode(),
    };
    describe_failure(error, failure)
}

/// What is known of a failed exchange besides its error chain.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// Where the request went (host, port and scheme are read from it).
    pub url: Option<&'a Url>,
    /// It failed while connecting: the request never left.
    pub connecting: bool,
    /// It failed while the answer's body was being read.
    pub in_body: bool,
}

/// [`describe_transport`] for any HTTP client's error.
pub fn describe_failure(error: &(dyn std::error::Error + 'static), failure: Failure<'_>) -> String {
    tracing::debug!(error = ?error, "outbound HTTP failure, in detail");
    let host = failure
        .url
        .and_then(|url| {
            let host = url.host_str()?;
            Some(match url.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        })
        .unwrap_or_else(|| "the server".to_owned());
    // The chain below the top error: the top one's text is the client's own
    // summary (reqwest's names the whole URL).
    let mut causes = Vec::new();
    let mut io_kind = error
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind);
    let mut tls = error
        .downcast_ref::<std::io::Error>()
        .and_then(rustls_inside)
        .or(error.downcast_ref::<rustls::Error>());
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
            tls = tls.or(rustls_inside(io));
        }
        tls = tls.or(cause.downcast_ref::<rustls::Error>());
        causes.push(cause.to_string());
        source = cause.source();
    }
    let any = |needle: &str| {
        causes
            .iter()
            .any(|cause| cause.to_lowercase().contains(needle))
    };
    let host_only = host.split(':').next().unwrap_or(&host).to_owned();
    if any("dns error") || any("failed to lookup address") || any("name or service not known") {
        return format!("DNS lookup of {host_only} failed");
    }
    let socket_level = matches!(
        io_kind,
        Some(
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::UnexpectedEof
        )
    );
    if let Some(tls) = tls {
        return format!("TLS handshake with {host} failed: {}", tls_in_words(tls));
    }
    let https = failure.url.is_some_and(|url| url.scheme() == "https");
    // rustls's errors come wrapped in an io::Error whose text names neither TLS
    // nor a handshake: on https, a connect failure below the socket is the TLS one.
    if any("certificate") || (failure.connecting && https && !socket_level) {
        return match causes.last() {
            Some(reason) => format!("TLS handshake with {host} failed: {reason}"),
            None => format!("TLS handshake with {host} failed"),
        };
    }
    let reason = match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => Some("connection refused"),
        Some(std::io::ErrorKind::ConnectionReset) => Some("connection reset"),
        Some(std::io::ErrorKind::ConnectionAborted) => Some("connection aborted"),
        Some(std::io::ErrorKind::TimedOut) => Some("timed out"),
        Some(std::io::ErrorKind::UnexpectedEof) => Some("the connection closed early"),
        _ => None,
    };
    match (failure.connecting, reason) {
        (true, Some(reason)) => format!("could not connect to {host}: {reason}"),
        (true, None) => format!("could not connect to {host}"),
        (false, Some(reason)) => format!("the connection to {host} failed: {reason}"),
        (false, None) if failure.in_body => format!("the answer from {host} broke off"),
        (false, None) => format!("the exchange with {host} failed"),
    }
}

/// rustls's error travels inside an io::Error (sometimes two, nested), whose
/// `source` skips it.
fn rustls_inside(io: &std::io::Error) -> Option<&rustls::Error> {
    let inner = io.get_ref()?;
    match inner.downcast_ref::<rustls::Error>() {
        Some(tls) => Some(tls),
        None => rustls_inside(inner.downcast_ref::<std::io::Error>()?),
    }
}

/// Why rustls refused a server, in words: its own `Display` nests `Debug`
/// forms ("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))").
fn tls_in_words(error: &rustls::Error) -> &'static str {
    use rustls::CertificateError;
    match error {
        rustls::Error::InvalidCertificate(reason) => match reason {
            CertificateError::UnknownIssuer => {
                "its certificate is not signed by an authority the bot trusts"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "its certificate has expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "its certificate is not valid yet (check the clock)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "its certificate is for another host name"
            }
            CertificateError::Revoked => "its certificate has been revoked",
            // Self-signed certificates land here (a CA used as a server's).
            _ => "its certificate is not one the bot can trust (self-signed?)",
        },
        rustls::Error::InvalidMessage(_) => "the server did not answer in TLS (plain HTTP?)",
        rustls::Error::AlertReceived(_) => "the server refused the handshake",
        rustls::Error::NoCertificatesPresented => "the server presented no certificate",
        _ => "the server does not speak TLS as the bot expects",
    }
}

/// A message from an upstream error body, cut short: logged, so kept small.
fn cut_short(message: String) -> String {
    const MAX: usize = 200;
    if message.chars().count() <= MAX {
        return message;
    }
    let kept: String = message.chars().take(MAX - 1).collect();
    format!("{kept}…")
}

/// Where a body failed to read, never what it said: serde's own message
/// quotes the offending value ("invalid type: string \"…\""), which may be
/// anything an upstream or a proxy sent.
fn decode_detail(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not the JSON expected",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{kind} at line {}, column {}", error.line(), error.column())
}

impl RestError {
    fn from_reqwest(system: &'static str, error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout { system }
        } else if error.is_decode() {
            let detail = std::error::Error::source(&error)
                .and_then(|source| source.downcast_ref::<serde_json::Error>())
                .map_or_else(|| "not the JSON expected".to_owned(), decode_detail);
            Self::Decode { system, detail }
        } else if error.is_connect() {
            Self::Unreachable {
                system,
                detail: describe_transport(&error),
            }
        } else {
            Self::Transport {
                system,
                detail: describe_transport(&error),
            }
        }
    }

    /// Whether a write that failed this way surely did not land (the
    /// connection failed, or the provider turned it away at its door), so that
    /// sending it again cannot make it twice; `Some(wait)` as in
    /// [`Retryable::retry_hint`].
    pub fn write_retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Unreachable { .. } => Some(None),
            _ => None,
        }
    }

    /// Whether a write that failed this way may have happened all the same
    /// (a timeout, a broken exchange, a 5xx): read back before deciding.
    pub fn may_have_landed(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::Transport { .. }
                | Self::Server { .. }
                | Self::Decode { .. }
        )
    }

    /// The outcome label of a call that failed this way, in `/metrics`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Rejected { .. } | Self::BadUrl { .. } => "client_error",
            Self::Server { .. } => "server_error",
            Self::Timeout { .. } => "timeout",
            Self::Unreachable { .. } | Self::Transport { .. } | Self::Decode { .. } => "transport",
        }
    }
}

impl Retryable for RestError {
    fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Unreachable { .. }
            | Self::Transport { .. } => Some(None),
            Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Rejected { .. }
            | Self::Decode { .. }
            | Self::BadUrl { .. } => None,
        }
    }
}

/// An error answer's text, as OpsGenie (`message`) and Jira (`errorMessages`)
/// send it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_messages: Vec<String>,
    /// PagerDuty's: `{"error": {"message": …, "errors": […]}}`.
    #[serde(default)]
    error: Option<NestedError>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct NestedError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<String>,
}

/// One REST system behind one HTTP client: JSON answers, retries by policy,
/// every attempt counted in the metrics, every failure a [`RestError`].
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    turns: CallLimit,
    metrics: Option<Arc<Metrics>>,
    system: System,
    retries: RetryPolicy,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("system", &self.system.name)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// Reads, retried: three attempts within three seconds, 200 ms doubling to 1 s.
pub const DEFAULT_RETRIES: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    backoff: BackoffPolicy {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(1),
    },
    deadline: Duration::from_secs(3),
};

impl RestClient {
    pub fn new(system: System, timeouts: Timeouts) -> Result<Self, RestError> {
        let http =
            http_client(timeouts).map_err(|error| RestError::from_reqwest(system.name, error))?;
        Ok(Self {
            http,
            turns: CallLimit::default(),
            metrics: None,
            system,
            retries: DEFAULT_RETRIES,
        })
    }

    /// Counts every attempt by call and outcome.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How transient failures (429, 5xx, timeouts) are retried.
    pub fn with_retry_policy(mut self, retries: RetryPolicy) -> Self {
        self.retries = retries;
        self
    }

    /// `base` with `segments` appended (see [`join_path`]).
    pub fn url(&self, base: &Url, segments: &[&str]) -> Result<Url, RestError> {
        join_path(base, segments).ok_or_else(|| RestError::BadUrl {
            system: self.system.name,
            url: base.to_string(),
        })
    }

    /// Sends the request `build` makes (auth included), retried by the policy, and
    /// reads the JSON answer. `call` names it in the metrics (`on_calls`).
    pub async fn call<T: DeserializeOwned>(
        &self,
        call: &'static str,
        credential: Credential,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<T, RestError> {
        retry(self.retries, || async {
            let result = self.attempt(build(&self.http), credential).await;
            if let Some(metrics) = &self.metrics {
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(error) => error.metric_label(),
                };
                metrics.source_call(self.system.label, call, outcome);
            }
            result
        })
        .await
    }

    /// A write (an override, an alert action): sent again only when it surely
    /// did not land ([`RestError::write_retry_hint`]), as a reply to Slack is;
    /// after any other failure the caller reads back before deciding. An answer
    /// with no body (204) reads as JSON `null`.
    pub async fn write<T: DeserializeOwned>(
        &self,
        call: &'static str,
        credential: Credential,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<T, RestError> {
        retry_if(self.retries, RestError::write_retry_hint, || async {
            let result = self.attempt(build(&self.http), credential).await;
            if let Some(metrics) = &self.metrics {
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(error) => error.metric_label(),
                };
                metrics.source_call(self.system.label, call, outcome);
            }
            result
        })
        .await
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        credential: Credential,
    ) -> Result<T, RestError> {
        let system = self.system.name;
        let _turn = self.turns.turn().await;
        let response = request
            .send()
            .await
            .map_err(|error| RestError::from_reqwest(system, error))?;
        let status = response.status();
        if status.is_success() {
            let body = response
                .bytes()
                .await
                .map_err(|error| RestError::from_reqwest(system, error))?;
            let body: &[u8] = if body.is_empty() { b"null" } else { &body };
            return serde_json::from_slice(body).map_err(|error| RestError::Decode {
                system,
                detail: decode_detail(&error),
            });
        }
        let retry_after = retry_after(response.headers());
        // Only the documented message field, cut short: never the raw body, which
        // may be a proxy's page carrying anything.
        let body = response.json::<ErrorBody>().await.unwrap_or_default();
        let message = cut_short(match body.error {
            // The cause once: PagerDuty often repeats its message in `errors`.
            Some(nested) if body.message.is_empty() => {
                let mut parts: Vec<String> = Vec::new();
                for part in std::iter::once(nested.message).chain(nested.errors) {
                    if !part.is_empty()
                        && !parts.iter().any(|seen| seen.eq_ignore_ascii_case(&part))
                    {
                        parts.push(part);
                    }
                }
                parts.join(": ")
            }
            _ if body.message.is_empty() => body.error_messages.join("; "),
            _ => body.message,
        });
        let status = status.as_u16();
        // A body in no shape the provider documents says nothing: the status
        // does, so that no refusal reads "…: . Nothing changed."
        let message = if message.trim().is_empty() {
            format!("it answered HTTP {status} without a reason")
        } else {
            message
        };
        Err(match status {
            401 | 403 => RestError::Unauthorized {
                system,
                status,
                credential: credential.name,
                advice: credential.advice,
            },
            404 => RestError::NotFound { system, message },
            429 => RestError::RateLimited {
                system,
                retry_after,
            },
            500..=599 => RestError::Server { system, status },
            _ => RestError::Rejected {
                system,
                status,
                message,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_body_that_does_not_decode_is_described_without_its_values() {
        for body in [
            r#"{"data": {"onCallRecipients": "CANARY-4711"}}"#,
            r#"["CANARY-4711""#,
            "<html>CANARY-4711</html>",
        ] {
            let error = serde_json::from_str::<std::collections::HashMap<String, Vec<u8>>>(body)
                .expect_err("not the shape");
            let detail = decode_detail(&error);
            assert!(!detail.contains("CANARY"), "{detail}");
            assert!(detail.contains("line 1"), "{detail}");
        }
    }

    #[derive(Debug)]
    struct Failure(Option<Option<Duration>>);
    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failure")
        }
    }
    impl Retryable for Failure {
        fn retry_hint(&self) -> Option<Option<Duration>> {
            self.0
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        backoff: BackoffPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
        },
        deadline: Duration::from_secs(5),
    };

    async fn count_calls(policy: RetryPolicy, failure: Option<Option<Duration>>) -> u32 {
        let calls = AtomicU32::new(0);
        let result: Result<(), Failure> = retry(policy, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Failure(failure)) }
        })
        .await;
        assert!(result.is_err());
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_permanent_failure_is_tried_once() {
        assert_eq!(count_calls(POLICY, None).await, 1);
    }

    #[tokio::test]
    async fn a_transient_failure_is_tried_up_to_the_attempt_limit() {
        assert_eq!(count_calls(POLICY, Some(None)).await, 3);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
        let hint = Some(Some(Duration::from_secs(60)));
        assert_eq!(count_calls(POLICY, hint).await, 1);
    }

    #[tokio::test]
    async fn success_after_a_failure_is_returned() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, Failure> = retry(POLICY, || {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if call == 0 {
                    Err(Failure(Some(None)))
                } else {
                    Ok(call)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(1));
    }

    #[test]
    fn backoff_doubles_from_initial_up_to_max() {
        let policy = BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
        };
        let mut waits = Vec::new();
        let mut previous = None;
        for _ in 0..5 {
            let wait = policy.after(previous);
            waits.push(wait.as_secs());
            previous = Some(wait);
        }
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_with_the_credentials() {
        use wiremock::matchers::path;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(path("/v2/thing"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", "http://127.0.0.1:9/elsewhere"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = RestClient::new(
            System {
                name: "OpsGenie",
                label: "opsgenie",
            },
            Timeouts::default(),
        )
        .expect("client")
        .with_retry_policy(RetryPolicy::none());
        let url: Url = format!("{}/v2/thing", server.uri()).parse().expect("URL");
        let credential = Credential {
            name: "the API key",
            advice: "check it",
        };
        let result: Result<serde_json::Value, RestError> = client
            .call("thing", credential, |http| {
                http.get(url.clone())
                    .header("authorization", "GenieKey secret")
            })
            .await;
        assert!(
            matches!(result, Err(RestError::Rejected { status: 302, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_rate_limit_says_the_wait_in_words() {
        let error = RestError::RateLimited {
            system: "OpsGenie",
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            error.to_string(),
            "OpsGenie rate-limited the call and asked for a wait of 3s"
        );
    }
}
