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
