//! How the bot calls other systems: timeouts and bounded retries, shared by the
//! Slack and OpsGenie clients.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

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

/// An HTTP client with the bot's timeouts and user agent, for REST APIs.
pub fn http_client(timeouts: Timeouts) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .user_agent(concat!("oncall-bot/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `base` with `segments` appended, each one path segment (percent-encoded);
/// `None` when `base` cannot take a path.
pub fn join_path(base: &reqwest::Url, segments: &[&str]) -> Option<reqwest::Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url)
}

/// A non-2xx answer from a REST API, sorted the way callers branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFailure {
    /// 401 or 403: a credential or region problem.
    Unauthorized(u16),
    NotFound,
    /// 429, with the server's `Retry-After` when it sent one.
    RateLimited(Option<Duration>),
    /// 5xx.
    Server(u16),
    /// Any other 4xx: the request was wrong; retrying will not help.
    Rejected(u16),
}

impl HttpFailure {
    /// `None` for a success.
    pub fn of(response: &reqwest::Response) -> Option<Self> {
        let status = response.status();
        if status.is_success() {
            return None;
        }
        Some(match status.as_u16() {
            401 | 403 => Self::Unauthorized(status.as_u16()),
            404 => Self::NotFound,
            429 => Self::RateLimited(
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            ),
            code if status.is_server_error() => Self::Server(code),
            code => Self::Rejected(code),
        })
    }
}

/// What a failed call says about trying again.
pub trait Retryable {
    /// `None`: do not retry. `Some(None)`: retry after our own backoff.
    /// `Some(Some(wait))`: retry after the wait the server asked for (`Retry-After`).
    fn retry_hint(&self) -> Option<Option<Duration>>;
}

/// How long and how often to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled each time, up to `max_delay`.
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// No attempt starts after this much time since the first one.
    pub deadline: Duration,
}

impl RetryPolicy {
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            deadline: Duration::ZERO,
        }
    }
}

/// Runs `call` until it succeeds, fails for good, or the policy is spent. The last
/// error is returned.
pub async fn with_retries<T, E, F, Fut>(policy: RetryPolicy, mut call: F) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut backoff = policy.initial_delay;
    let mut attempt = 1;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(hint) = error.retry_hint() else {
            return Err(error);
        };
        let wait = hint.unwrap_or(backoff);
        let out_of_time = started.elapsed() + wait > policy.deadline;
        if attempt >= policy.max_attempts || out_of_time {
            return Err(error);
        }
        tracing::warn!(%error, attempt, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(policy.max_delay);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

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
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        deadline: Duration::from_secs(5),
    };

    async fn count_calls(policy: RetryPolicy, failure: Option<Option<Duration>>) -> u32 {
        let calls = AtomicU32::new(0);
        let result: Result<(), Failure> = with_retries(policy, || {
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
        let result: Result<u32, Failure> = with_retries(POLICY, || {
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
}
