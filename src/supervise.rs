//! The background loops (hand-over notices, the user-group sync, Socket Mode,
//! the shared state's subscription) never stop alone: each runs under a
//! supervisor that catches a panic or an unexpected end, logs it as an error,
//! counts it, and starts the loop again after a backoff. Each loop says when a
//! round went well, which is exported (`loop_last_success_timestamp_seconds`)
//! and listed by `/readyz`.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::outbound::BackoffPolicy;

/// How a loop stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopState {
    /// When a round last went well.
    pub last_success: Option<SystemTime>,
    /// What went wrong last, when the last round did not go well.
    pub last_failure: Option<String>,
    /// How often the loop was started again after it stopped.
    pub restarts: u64,
}

/// The loops of this process, and how each stands.
#[derive(Debug, Clone)]
pub struct Supervisor {
    loops: Arc<Mutex<BTreeMap<&'static str, LoopState>>>,
    metrics: Arc<Metrics>,
}

/// What a loop tells its supervisor.
#[derive(Debug, Clone)]
pub struct LoopHandle {
    name: &'static str,
    supervisor: Supervisor,
}

impl LoopHandle {
    /// A round went well.
    pub fn succeeded(&self) {
        let now = SystemTime::now();
        self.supervisor.update(self.name, |state| {
            state.last_success = Some(now);
            state.last_failure = None;
        });
        self.supervisor.metrics.loop_success(self.name, now);
    }

    /// A round failed; the loop goes on.
    pub fn failed(&self, why: impl std::fmt::Display) {
        let why = why.to_string();
        self.supervisor
            .update(self.name, |state| state.last_failure = Some(why));
    }
}

impl Supervisor {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            loops: Arc::new(Mutex::new(BTreeMap::new())),
            metrics,
        }
    }

    fn update(&self, name: &'static str, change: impl FnOnce(&mut LoopState)) {
        let mut loops = self.loops.lock().unwrap_or_else(PoisonError::into_inner);
        change(loops.entry(name).or_default());
    }

    /// How each loop stands, by name.
    pub fn states(&self) -> BTreeMap<&'static str, LoopState> {
        self.loops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One line per loop for `/readyz`: "notices: ok, last success 12s ago".
    pub fn describe(&self, now: SystemTime) -> String {
        self.states()
            .into_iter()
            .map(|(name, state)| {
                let last = match state.last_success {
                    Some(at) => format!(
                        "last success {} ago",
                        humantime::format_duration(Duration::from_secs(
                            now.duration_since(at).unwrap_or_default().as_secs()
                        ))
                    ),
                    None => "no success yet".to_owned(),
                };
                let health = match &state.last_failure {
                    Some(why) => format!("failing ({why})"),
                    None => "ok".to_owned(),
                };
                let restarts = match state.restarts {
                    0 => String::new(),
                    n => format!(", restarted {n} times"),
                };
                format!("{name}: {health}, {last}{restarts}\n")
            })
            .collect()
    }

    /// Runs the loop `run` makes, for as long as the process lives: when it
    /// panics or ends, it is logged as an error, counted
    /// (`loop_restarts_total`) and made again after `backoff` (reset by a
    /// round that went well in between).
    pub fn spawn<F, Fut>(
        &self,
        name: &'static str,
        backoff: BackoffPolicy,
        run: F,
    ) -> JoinHandle<()>
    where
        F: Fn(LoopHandle) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = LoopHandle {
            name,
            supervisor: self.clone(),
        };
        self.update(name, |_| {});
        let supervisor = self.clone();
        tokio::spawn(async move {
            let mut delay: Option<Duration> = None;
            loop {
                let before = supervisor
                    .states()
                    .get(name)
                    .and_then(|state| state.last_success);
                let ended = AssertUnwindSafe(run(handle.clone())).catch_unwind().await;
                let why = match ended {
                    Ok(()) => "it stopped".to_owned(),
                    Err(panic) => format!("it panicked: {}", panic_text(&*panic)),
                };
                let after = supervisor
                    .states()
                    .get(name)
                    .and_then(|state| state.last_success);
                if after != before {
                    delay = None;
                }
                let wait = backoff.after(delay);
                delay = Some(wait);
                tracing::error!(
                    background_loop = name,
                    %why,
                    wait_ms = wait.as_millis() as u64,
                    "a background loop ended; starting it again"
                );
                supervisor.update(name, |state| {
                    state.restarts += 1;
                    state.last_failure = Some(why);
                });
                supervisor.metrics.loop_restart(name);
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// A panic's message, when it has one.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_loop_that_panics_or_ends_is_started_again_and_its_successes_are_recorded() {
        let metrics = Arc::new(Metrics::new());
        let supervisor = Supervisor::new(Arc::clone(&metrics));
        let starts = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&starts);
        let backoff = BackoffPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(10),
        };
        let task = supervisor.spawn("notices", backoff, move |handle| {
            let start = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match start {
                    0 => panic!("the first run breaks"),
                    1 => {}
                    _ => loop {
                        handle.succeeded();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    },
                }
            }
        });
        for _ in 0..200 {
            if supervisor.states()["notices"].last_success.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.abort();
        let state = &supervisor.states()["notices"];
        assert_eq!(state.restarts, 2, "after the panic, and after it stopped");
        assert!(state.last_success.is_some());
        assert_eq!(state.last_failure, None, "a success clears the failure");
        let text = metrics.render();
        assert!(
            text.contains(r#"oncall_bot_loop_restarts_total{loop="notices"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"oncall_bot_loop_last_success_timestamp_seconds{loop="notices"} "#),
            "{text}"
        );
        assert!(supervisor
            .describe(SystemTime::now())
            .starts_with("notices: ok, last success "));
    }
}
