//! Cron mode: keeps a Slack user group (`@opsoncall`) equal to the people on call.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::metrics::Metrics;
use crate::oncall::OnCallDirectory;
use crate::providers::ProviderError;
use crate::slack::{SlackApi, SlackError};
use crate::store::SharedState;
use crate::supervise::LoopHandle;

/// A user group, by id (`S0123ABCD`) or by handle (`opsoncall`, `@opsoncall`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserGroupRef {
    Id(String),
    Handle(String),
}

impl FromStr for UserGroupRef {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        let looks_like_id = value.len() > 1
            && value.starts_with('S')
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if looks_like_id {
            return Ok(Self::Id(value.to_owned()));
        }
        let handle = value.trim_start_matches('@');
        if handle.is_empty() || handle.chars().any(char::is_whitespace) {
            return Err("expected a user group handle (opsoncall) or id (S0123ABCD)".to_owned());
        }
        Ok(Self::Handle(handle.to_owned()))
    }
}

/// One user group to keep in sync: the union of the people on call for its
/// schedules, plus the members who always stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroupSpec {
    pub group: UserGroupRef,
    pub schedules: Vec<String>,
    /// Slack user ids kept in the group whoever is on call.
    pub always: Vec<String>,
}

impl fmt::Display for UserGroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "user group {id}"),
            Self::Handle(handle) => write!(f, "@{handle}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("could not find out who is on call, so {group} was left as it is: {source}")]
    OnCall {
        group: UserGroupRef,
        source: ProviderError,
    },
    #[error("Slack failed, so {group} was left as it is: {source}")]
    Slack {
        group: UserGroupRef,
        source: Arc<SlackError>,
    },
    #[error("there is no user group with the handle @{0} (check SLACK_USERGROUP)")]
    NoSuchGroup(String),
    #[error(
        "nobody on call for {} could be found in Slack ({}); Slack cannot empty a \
         user group, so {group} was left as it is",
        .schedules.join(", "),
        .skipped.join(", ")
    )]
    NobodyResolvable {
        schedules: Vec<String>,
        group: UserGroupRef,
        skipped: Vec<String>,
    },
    #[error(
        "Slack refused to change {group} (permission_denied): the workspace most likely \
         restricts who may edit user groups. Set SLACK_USER_TOKEN to a user token (xoxp-…) \
         with the usergroups:write scope, from a person allowed to edit the group; \
         user-group calls then use it"
    )]
    PermissionDenied { group: UserGroupRef },
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    Unchanged { members: Vec<String> },
    Updated { from: Vec<String>, to: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub group: UserGroupRef,
    pub outcome: SyncOutcome,
    /// People on call without a Slack account, by email.
    pub skipped: Vec<String>,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |users: &[String]| format!("[{}]", users.join(", "));
        match &self.outcome {
            SyncOutcome::Unchanged { members } => {
                write!(f, "{} unchanged: {}", self.group, list(members))?
            }
            SyncOutcome::Updated { from, to } => write!(
                f,
                "{} updated from {} to {}",
                self.group,
                list(from),
                list(to)
            )?,
        }
        if !self.skipped.is_empty() {
            write!(
                f,
                " (skipped, no Slack account: {})",
                self.skipped.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Keeps one user group equal to the people on call for its schedules.
pub struct UserGroupSync {
    directory: Arc<OnCallDirectory>,
    /// The client for user-group calls: the user token's when there is one.
    groups: Arc<SlackApi>,
    spec: UserGroupSpec,
    metrics: Arc<Metrics>,
    /// With several replicas, only the lease's holder syncs.
    shared: Option<Arc<SharedState>>,
}

impl UserGroupSync {
    pub fn new(
        directory: Arc<OnCallDirectory>,
        groups: Arc<SlackApi>,
        spec: UserGroupSpec,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            directory,
            groups,
            spec,
            metrics,
            shared: None,
        }
    }

    /// Syncs only while holding the group's lease in the shared state, so that
    /// of several replicas one writes per interval. Without a shared store
    /// (`STATE_URL` unset) this changes nothing.
    pub fn with_lease(mut self, shared: Arc<SharedState>) -> Self {
        self.shared = Some(shared).filter(|shared| shared.is_shared());
        self
    }

    fn lease_name(&self) -> String {
        format!("usergroup-sync:{}", self.spec.group)
    }

    /// Lets the lease go (at shutdown), so another replica takes over at its
    /// next tick rather than when the lease expires.
    pub async fn release_lease(&self) {
        if let Some(shared) = &self.shared {
            shared.release_lease(&self.lease_name()).await;
        }
    }

    pub fn group(&self) -> &UserGroupRef {
        &self.spec.group
    }

    /// One sync: fresh on-call people → Slack ids → update the group if it differs.
    pub async fn run_once(&self) -> Result<SyncReport, SyncError> {
        let result = self.sync().await;
        self.metrics.usergroup_sync(match &result {
            Ok(SyncReport {
                outcome: SyncOutcome::Unchanged { .. },
                ..
            }) => "unchanged",
            Ok(SyncReport {
                outcome: SyncOutcome::Updated { .. },
                ..
            }) => "updated",
            Err(_) => "failed",
        });
        result
    }

    async fn sync(&self) -> Result<SyncReport, SyncError> {
        let group = &self.spec.group;
        let slack_failed = |source| SyncError::Slack {
            group: group.clone(),
            source,
        };
        let group_id = match group {
            UserGroupRef::Id(id) => id.clone(),
            UserGroupRef::Handle(handle) => self
                .groups
                .user_group_id(handle)
                .await
                .map_err(|error| slack_failed(Arc::new(error)))?
                .ok_or_else(|| SyncError::NoSuchGroup(handle.clone()))?,
        };
        let mut people = Vec::new();
        for schedule in &self.spec.schedules {
            let on_call =
                self.directory
                    .refresh(schedule)
                    .await
                    .map_err(|source| SyncError::OnCall {
                        group: group.clone(),
                        source,
                    })?;
            for person in &on_call.people {
                if !people.contains(person) {
                    people.push(person.clone());
                }
            }
        }
        let mut wanted: BTreeSet<String> = self.spec.always.iter().cloned().collect();
        let mut skipped = Vec::new();
        for person in &people {
            match self
                .directory
                .slack_user(person)
                .await
                .map_err(slack_failed)?
            {
                Some(user) => {
                    wanted.insert(user);
                }
                None => {
                    tracing::warn!(person = %person.name, "on call but without a Slack account; skipped");
                    skipped.push(person.name.clone());
                }
            }
        }
        if wanted.is_empty() {
            return Err(SyncError::NobodyResolvable {
                schedules: self.spec.schedules.clone(),
                group: group.clone(),
                skipped,
            });
        }
        let current: BTreeSet<String> = self
            .groups
            .user_group_members(&group_id)
            .await
            .map_err(|error| slack_failed(Arc::new(error)))?
            .into_iter()
            .collect();
        let wanted: Vec<String> = wanted.into_iter().collect();
        let outcome = if current.iter().eq(wanted.iter()) {
            SyncOutcome::Unchanged { members: wanted }
        } else {
            match self.groups.set_user_group_members(&group_id, &wanted).await {
                Ok(()) => {}
                Err(SlackError::Api { code }) if code == "permission_denied" => {
                    return Err(SyncError::PermissionDenied {
                        group: group.clone(),
                    })
                }
                Err(error) => return Err(slack_failed(Arc::new(error))),
            }
            SyncOutcome::Updated {
                from: current.into_iter().collect(),
                to: wanted,
            }
        };
        Ok(SyncReport {
            group: group.clone(),
            outcome,
            skipped,
        })
    }

    /// Syncs every `period` until dropped, logging each outcome and carrying on
    /// after failures (told to `handle`). A slow sync delays the next tick
    /// rather than bunching them.
    pub async fn run_every(self: Arc<Self>, period: Duration, handle: LoopHandle) {
        if let Some(shared) = self.shared.clone() {
            return self.run_under_lease(&shared, period, &handle).await;
        }
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.sync_and_log(&handle).await;
        }
    }

    /// With several replicas: every quarter period each one tries to hold the
    /// lease (for half a period); the holder renews it and syncs once per
    /// period. A holder that dies lets it expire within half a period, and the
    /// next holder syncs at once; one that stops releases it. While the shared
    /// state cannot say who holds it, nobody syncs. The lease is renewed while
    /// a sync runs, and a sync stops the moment the lease is another's.
    async fn run_under_lease(&self, shared: &SharedState, period: Duration, handle: &LoopHandle) {
        let name = self.lease_name();
        let mut ticker = tokio::time::interval((period / 4).max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_sync: Option<tokio::time::Instant> = None;
        let mut held = false;
        loop {
            ticker.tick().await;
            let holds = shared.hold_lease(&name, period / 2).await == Some(true);
            if holds != held {
                tracing::info!(group = %self.spec.group, holds, "user-group sync lease changed hands");
                held = holds;
            }
            if !holds {
                // Another replica syncs (or none can while Redis is away):
                // this loop is doing what it should.
                handle.succeeded();
                last_sync = None;
                continue;
            }
            if last_sync.is_some_and(|at| at.elapsed() < period) {
                handle.succeeded();
                continue;
            }
            last_sync = Some(tokio::time::Instant::now());
            let renewing = async {
                let mut renew = tokio::time::interval((period / 8).max(Duration::from_millis(5)));
                renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
                renew.tick().await;
                loop {
                    renew.tick().await;
                    if shared.hold_lease(&name, period / 2).await == Some(false) {
                        return;
                    }
                }
            };
            tokio::select! {
                () = self.sync_and_log(handle) => {}
                () = renewing => {
                    held = false;
                    handle.failed("the lease was lost mid-sync");
                    tracing::warn!(
                        group = %self.spec.group,
                        "another replica holds the user-group lease now; this sync stopped"
                    );
                }
            }
        }
    }

    async fn sync_and_log(&self, handle: &LoopHandle) {
        match self.run_once().await {
            Ok(report) => {
                handle.succeeded();
                tracing::info!(%report, "user group synced");
            }
            Err(error) => {
                handle.failed(&error);
                tracing::error!(%error, "user group sync failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_named_by_id_or_handle() {
        let parse = |value: &str| value.parse::<UserGroupRef>();
        assert_eq!(parse("S0123ABCD"), Ok(UserGroupRef::Id("S0123ABCD".into())));
        assert_eq!(
            parse("opsoncall"),
            Ok(UserGroupRef::Handle("opsoncall".into()))
        );
        assert_eq!(
            parse("@opsoncall"),
            Ok(UserGroupRef::Handle("opsoncall".into()))
        );
        assert_eq!(
            parse("sre-team"),
            Ok(UserGroupRef::Handle("sre-team".into()))
        );
        assert_eq!(parse("Support"), Ok(UserGroupRef::Handle("Support".into())));
        assert!(parse("").is_err());
        assert!(parse("@").is_err());
        assert!(parse("ops on call").is_err());
    }

    #[test]
    fn the_report_is_one_line_saying_what_happened() {
        let report = SyncReport {
            group: UserGroupRef::Handle("opsoncall".into()),
            outcome: SyncOutcome::Updated {
                from: vec!["UALICE".into()],
                to: vec!["UBOB".into(), "UCAROL".into()],
            },
            skipped: vec!["dave@corp.example".into()],
        };
        assert_eq!(
            report.to_string(),
            "@opsoncall updated from [UALICE] to [UBOB, UCAROL] (skipped, no Slack account: dave@corp.example)"
        );
    }
}
