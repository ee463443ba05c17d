//! Optional alerts: each help request raises one low-priority alert, keyed by the
//! Slack message so it is never raised twice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::future::Cache;

use crate::alias::AliasKey;
use crate::metrics::Metrics;
use crate::model::{Alert, BotIdentity, Priority, Request};
use crate::providers::Provider;
use crate::slack::{SlackApi, SlackUser};
use crate::store::{Phase, SharedState, Work};
use crate::workspace::{self, Affiliation};

/// OpsGenie's limit on an alert's message.
pub const MAX_MESSAGE_CHARS: usize = 130;

/// How long a raised alias is remembered in this process.
const RAISED_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long an alert's claim *in progress* lasts unless renewed (it is, every
/// third of it, while the provider is asked).
const ALERT_HOLD: Duration = Duration::from_secs(2);

/// Whether the asker may page: their team is `home`'s, or one `allowed`, or it
/// is in `home`'s Enterprise Grid organisation ([`workspace::belongs`]).
fn may_page(home: &BotIdentity, allowed: &[String], request: &Request, asker: &SlackUser) -> bool {
    let who = Affiliation::of(
        request.user_team.as_deref(),
        None,
        asker.team_id.as_deref(),
        asker.enterprise_id.as_deref(),
    );
    workspace::belongs(home, &who, allowed)
}

/// `text` cut to at most `max_chars` characters, never inside a UTF-8 character,
/// ending with `…` when cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

/// The alert's one-line title: who asked, and the start of what they wrote.
pub fn alert_message(asker: &str, text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = if text.is_empty() {
        format!("{asker} asked for help in Slack")
    } else {
        format!("{asker} asked for help in Slack: {text}")
    };
    truncate_chars(&title, MAX_MESSAGE_CHARS)
}

/// What became of the alert for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    Raised(Priority),
    /// This message's alert was raised earlier in this process.
    AlreadyRaised(Priority),
    /// The person raised their limit of alerts moments ago.
    RateLimited,
    /// The person is not of this workspace (Slack Connect): they never page.
    Outsider,
    Failed,
    /// Another replica is raising it and has not said it did yet.
    BeingRaised,
}

/// At most `count` alerts per person within `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: Duration,
}

impl Default for RateLimit {
    /// 3 per 10 minutes.
    fn default() -> Self {
        Self {
            count: 3,
            per: Duration::from_secs(10 * 60),
        }
    }
}

/// Which requests raise an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertMode {
    /// Every help request (`ALERT_ON_MENTION=true`).
    Every,
    /// Only `@ops page <what is wrong>`: asking who is on call pages nobody.
    Page,
}

/// How help requests raise alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPolicy {
    pub mode: AlertMode,
    pub priority: Priority,
    /// The team the alert is routed to.
    pub team: Option<String>,
    /// Per person (`ALERT_RATE_LIMIT`).
    pub rate_limit: RateLimit,
    /// Workspaces besides the bot's own whose people may page and act on
    /// alerts (`ALERT_ALLOWED_TEAMS`).
    pub allowed_teams: Vec<String>,
    /// Guests may act on alerts (`ALERT_ACTIONS_GUESTS`).
    pub actions_guests: bool,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            mode: AlertMode::Every,
            priority: Priority::P4,
            team: None,
            rate_limit: RateLimit::default(),
            allowed_teams: Vec::new(),
            actions_guests: false,
        }
    }
}

/// OpsGenie's limit on a description (JSM's integration API has the same).
pub const MAX_DESCRIPTION_CHARS: usize = 15_000;

/// Who has raised alerts lately: per person, the times, oldest first.
#[derive(Debug, Default)]
struct RecentAlerts {
    by_person: HashMap<String, VecDeque<Instant>>,
}

impl RecentAlerts {
    /// Takes one of the person's alerts, when they have one left.
    fn take(&mut self, person: &str, limit: RateLimit, now: Instant) -> bool {
        // Forget people whose alerts are all older than the window, so memory
        // follows the window rather than everyone who ever asked.
        if self.by_person.len() > 1_000 {
            self.by_person.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.saturating_duration_since(*last) < limit.per)
            });
        }
        let times = self.by_person.entry(person.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= limit.per)
        {
            times.pop_front();
        }
        if times.len() >= limit.count as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    /// Gives back an alert taken for a request that raised none.
    fn give_back(&mut self, person: &str, taken_at: Instant) {
        if let Some(times) = self.by_person.get_mut(person) {
            times.retain(|time| *time != taken_at);
        }
    }
}

/// Raises the alert for a help request, at most once per Slack message, within
/// each person's limit, and only for people of this workspace.
pub struct AlertRaiser {
    provider: Arc<Provider>,
    policy: AlertPolicy,
    /// The bot's own workspace and organisation.
    home: BotIdentity,
    slack: Arc<SlackApi>,
    metrics: Arc<Metrics>,
    /// Tags each alias, so that webhooks find only the bot's alerts.
    aliases: AliasKey,
    raised: Cache<String, ()>,
    recent: Mutex<RecentAlerts>,
    /// Across replicas: the aliases raised and each person's recent alerts.
    shared: Arc<SharedState>,
}

/// Where a person's alert was counted, so that it can be given back.
enum Counted {
    /// In the shared state, under the alias.
    Shared,
    /// In this process's memory, at this moment.
    Here(Instant),
}

impl AlertRaiser {
    pub fn new(
        provider: Arc<Provider>,
        policy: AlertPolicy,
        home: BotIdentity,
        slack: Arc<SlackApi>,
        metrics: Arc<Metrics>,
        shared: Arc<SharedState>,
        aliases: AliasKey,
    ) -> Self {
        Self {
            provider,
            policy,
            home,
            slack,
            metrics,
            aliases,
            raised: Cache::builder()
                .time_to_live(RAISED_TTL)
                .max_capacity(100_000)
                .build(),
            recent: Mutex::new(RecentAlerts::default()),
            shared,
        }
    }

    /// The system alerts go to.
    pub fn system_name(&self) -> &'static str {
        self.provider.name()
    }

    /// Which requests raise an alert.
    pub fn mode(&self) -> AlertMode {
        self.policy.mode
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentAlerts> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The alias of the alert `request` raises.
    pub fn alias_of(&self, request: &Request) -> String {
        self.aliases
            .alias_for(&request.channel, &request.thread_ts, &request.ts)
    }

    /// Raises the alert for `request`; `text` is what the person wrote, without
    /// the bot's mention.
    pub async fn raise_for(&self, request: &Request, text: &str) -> AlertOutcome {
        let alias = self.alias_of(request);
        let claim = format!("alert:{alias}");
        // Here first, then across replicas (when they share state, and it
        // answers; else this process's memory is all there is).
        // Two states across replicas: *in progress* while this process raises
        // it (renewed meanwhile; a replica that dies leaves it to another
        // within ALERT_HOLD, which raises it again under the same alias: the
        // provider counts it rather than paging again), then *raised*.
        if self.raised.contains_key(&alias) {
            tracing::info!(%alias, "alert for this message already raised");
            self.metrics.alert("already_raised");
            return AlertOutcome::AlreadyRaised(self.priority());
        }
        // Busy: another replica is raising it, or was and died; wait until it
        // is raised, or its claim lapses and this process raises it.
        let waited_until = Instant::now() + ALERT_HOLD + ALERT_HOLD / 2;
        let mut begun = self
            .shared
            .begin_work(&claim, Phase::Posting, ALERT_HOLD, RAISED_TTL)
            .await;
        while begun == Some(Work::Busy) && Instant::now() < waited_until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            begun = self
                .shared
                .begin_work(&claim, Phase::Posting, ALERT_HOLD, RAISED_TTL)
                .await;
        }
        match begun {
            Some(Work::Busy) => {
                tracing::info!(%alias, "another replica is still raising this alert");
                self.metrics.alert("being_raised");
                return AlertOutcome::BeingRaised;
            }
            Some(Work::Done) => {
                tracing::info!(%alias, "alert for this message already raised");
                self.metrics.alert("already_raised");
                return AlertOutcome::AlreadyRaised(self.priority());
            }
            Some(Work::TakenOver { .. }) => {
                tracing::warn!(%alias, "raising again an alert whose replica stopped raising it");
            }
            Some(Work::Mine) | None => {}
        }
        let Some(counted) = self.count_for(&request.user, &alias).await else {
            self.shared.abandon_work(&claim).await;
            tracing::info!(user = %request.user, "alert limit reached for this person; none raised");
            self.metrics.alert("rate_limited");
            return AlertOutcome::RateLimited;
        };
        // From the claim on, it is renewed while this process works.
        let posting = std::sync::atomic::AtomicBool::new(false);
        let renewed = std::sync::atomic::AtomicBool::new(false);
        let (asker, permalink) = self
            .shared
            .renewing(&claim, &posting, &renewed, ALERT_HOLD, RAISED_TTL, async {
                tokio::join!(
                    self.slack.user(&request.user),
                    self.slack.permalink(&request.channel, &request.ts),
                )
            })
            .await;
        let asker = asker.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not look up the asker");
            SlackUser {
                name: request.user.clone(),
                team_id: None,
                enterprise_id: None,
                email: None,
                tz: None,
                guest: false,
            }
        });
        if !self.may_page(request, &asker) {
            self.give_back(&request.user, &alias, counted).await;
            self.shared.abandon_work(&claim).await;
            tracing::info!(
                user = %request.user,
                team = %request.user_team.as_deref().unwrap_or("unknown"),
                "not of this workspace; no alert"
            );
            self.metrics.alert("outsider");
            return AlertOutcome::Outsider;
        }
        let permalink = permalink
            .map_err(|error| tracing::warn!(%error, "could not get the message's permalink"))
            .ok();
        let alert = self.alert_for(request, text, &asker.name, permalink, alias.clone());
        posting.store(true, std::sync::atomic::Ordering::Relaxed);
        let created = self
            .shared
            .renewing(
                &claim,
                &posting,
                &renewed,
                ALERT_HOLD,
                RAISED_TTL,
                self.provider.create_alert(&alert),
            )
            .await;
        match created {
            Ok(request_id) => {
                self.shared.finish_work(&claim, RAISED_TTL).await;
                self.raised.insert(alias.clone(), ()).await;
                tracing::info!(%alias, %request_id, priority = %self.priority(), "alert raised");
                self.metrics.alert("raised");
                AlertOutcome::Raised(self.priority())
            }
            Err(error) => {
                self.give_back(&request.user, &alias, counted).await;
                self.shared.abandon_work(&claim).await;
                tracing::error!(%alias, %error, "could not raise the alert");
                self.metrics.alert("failed");
                AlertOutcome::Failed
            }
        }
    }

    /// Counts one of the person's alerts against their limit, across replicas
    /// when the shared state answers, else here; `None` when none is left.
    async fn count_for(&self, user: &str, alias: &str) -> Option<Counted> {
        let limit = self.policy.rate_limit;
        let key = format!("alerts-by:{user}");
        match self
            .shared
            .take_allowance(&key, alias, limit.count, limit.per)
            .await
        {
            Some(true) => Some(Counted::Shared),
            Some(false) => None,
            None => {
                let now = Instant::now();
                self.recent()
                    .take(user, limit, now)
                    .then_some(Counted::Here(now))
            }
        }
    }

    /// Gives back an alert counted for a request that raised none.
    async fn give_back(&self, user: &str, alias: &str, counted: Counted) {
        match counted {
            Counted::Shared => {
                self.shared
                    .give_back_allowance(&format!("alerts-by:{user}"), alias)
                    .await
            }
            Counted::Here(at) => self.recent().give_back(user, at),
        }
    }

    fn priority(&self) -> Priority {
        self.policy.priority
    }

    /// Whether the asker is of this workspace: their team is the bot's, or one
    /// allowed, or it is in the bot's Enterprise Grid organisation. A request
    /// that names no team is from this workspace.
    fn may_page(&self, request: &Request, asker: &SlackUser) -> bool {
        may_page(&self.home, &self.policy.allowed_teams, request, asker)
    }

    fn alert_for(
        &self,
        request: &Request,
        text: &str,
        asker: &str,
        permalink: Option<String>,
        alias: String,
    ) -> Alert {
        let link = permalink
            .map(|link| format!("\n\nSlack message: {link}"))
            .unwrap_or_default();
        let room = MAX_DESCRIPTION_CHARS.saturating_sub(link.chars().count());
        let description = format!("{}{link}", truncate_chars(text.trim(), room));
        Alert {
            alias,
            message: alert_message(asker, text),
            description,
            priority: self.priority(),
            team: self.policy.team.clone(),
            tags: vec!["slack".to_owned(), "support".to_owned()],
            source: "oncall-bot".to_owned(),
            details: BTreeMap::from([
                ("channel".to_owned(), request.channel.clone()),
                ("user".to_owned(), request.user.clone()),
                ("ts".to_owned(), request.ts.clone()),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_people_of_this_workspace_or_organisation_or_allowed_teams_page() {
        let home = BotIdentity {
            user_id: "UBOT".into(),
            bot_id: None,
            team_id: Some("THOME".into()),
            enterprise_id: Some("EORG".into()),
        };
        let request = |team: Option<&str>| Request {
            kind: crate::model::RequestKind::Mention,
            channel: "C1".into(),
            user: "U1".into(),
            ts: "1.1".into(),
            thread_ts: "1.1".into(),
            text: "help".into(),
            user_team: team.map(str::to_owned),
        };
        let asker = |team: Option<&str>, enterprise: Option<&str>| SlackUser {
            name: "someone".into(),
            team_id: team.map(str::to_owned),
            enterprise_id: enterprise.map(str::to_owned),
            email: None,
            tz: None,
            guest: false,
        };
        let allowed = ["TPARTNER".to_owned()];
        let cases = [
            (None, asker(None, None), true),
            (Some("THOME"), asker(Some("THOME"), None), true),
            (Some("TOTHER"), asker(Some("TOTHER"), None), false),
            (Some("TOTHER"), asker(Some("TOTHER"), Some("EOTHER")), false),
            (Some("TSISTER"), asker(Some("TSISTER"), Some("EORG")), true),
            (Some("TPARTNER"), asker(Some("TPARTNER"), None), true),
            (None, asker(Some("TOTHER"), None), false),
        ];
        for (team, asker, expected) in cases {
            assert_eq!(
                may_page(&home, &allowed, &request(team), &asker),
                expected,
                "{team:?} {asker:?}"
            );
        }
    }

    #[test]
    fn each_person_has_their_own_limit_within_the_window() {
        let limit = RateLimit {
            count: 2,
            per: Duration::from_secs(60),
        };
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut recent = RecentAlerts::default();
        assert!(recent.take("U1", limit, at(0)));
        assert!(recent.take("U1", limit, at(1)));
        assert!(!recent.take("U1", limit, at(2)), "third within the minute");
        assert!(recent.take("U2", limit, at(2)), "someone else");
        assert!(recent.take("U1", limit, at(60)), "the first one aged out");
        recent.give_back("U2", at(2));
        assert!(recent.take("U2", limit, at(3)) && recent.take("U2", limit, at(3)));
    }

    #[test]
    fn messages_are_cut_to_130_characters_without_splitting_a_character() {
        let long = "the database is down ".repeat(20);
        let message = alert_message("Alice", &long);
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(message.starts_with("Alice asked for help in Slack: the database is down"));
        assert!(message.ends_with('…'));

        let emoji = "🔥é".repeat(200);
        let message = alert_message("Zoë", &emoji);
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(message.ends_with('…'));
        assert!(message.starts_with("Zoë asked for help in Slack: 🔥é"));

        let short = alert_message("Bob", "  help   me ");
        assert_eq!(short, "Bob asked for help in Slack: help me");
        assert_eq!(alert_message("Bob", ""), "Bob asked for help in Slack");
    }
}
