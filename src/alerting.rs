//! Optional alerts: each help request raises one low-priority alert, keyed by the
//! Slack message so it is never raised twice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::model::{Alert, BotIdentity, Priority, Request};
use crate::providers::Provider;
use crate::slack::{SlackApi, SlackUser};
use crate::store::SharedState;

/// OpsGenie's limit on an alert's message.
pub const MAX_MESSAGE_CHARS: usize = 130;

/// How long a raised alias is remembered in this process.
const RAISED_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether the asker may page: their team is `home`'s, or one `allowed`, or it
/// is in `home`'s Enterprise Grid organisation. A request that names no team is
/// from `home`.
fn may_page(home: &BotIdentity, allowed: &[String], request: &Request, asker: &SlackUser) -> bool {
    let Some(team) = request.user_team.as_ref().or(asker.team_id.as_ref()) else {
        return true;
    };
    let same_organisation = matches!(
        (&asker.enterprise_id, &home.enterprise_id),
        (Some(theirs), Some(ours)) if theirs == ours
    );
    home.team_id.as_ref() == Some(team) || allowed.contains(team) || same_organisation
}

/// Where a help request is in Slack: what an alert's alias says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPlace {
    pub channel: String,
    /// The thread the request is in (its own ts when it started the thread).
    pub thread_ts: String,
    /// The request message's ts: with the channel, what identifies it.
    pub ts: String,
}

/// The alias for a Slack message: `slack-<channel>-<ts>`, or
/// `slack-<channel>-<thread ts>-<ts>` for a message inside a thread.
///
/// Reversible on purpose: OpsGenie's webhook carries the alias but not the
/// alert's details, so the alias is how an alert action finds its thread again,
/// after a restart too, with no lookup. Channel ids and timestamps are Slack's
/// (letters, digits, a dot), never text a person typed; anything else would be
/// refused by [`place_of`] and is hashed instead, so it still yields one alias
/// per message.
pub fn alias_for(channel: &str, thread_ts: &str, ts: &str) -> String {
    let safe = |id: &str, extra: char| {
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
    };
    if !(safe(channel, '_') && safe(thread_ts, '.') && safe(ts, '.')) {
        let digest = Sha256::digest(format!("{channel}\n{ts}").as_bytes());
        return format!("slack-{}", &hex::encode(digest)[..40]);
    }
    if thread_ts == ts {
        format!("slack-{channel}-{ts}")
    } else {
        format!("slack-{channel}-{thread_ts}-{ts}")
    }
}

/// The place an alias made by [`alias_for`] names; `None` for any other alias
/// (an alert this bot did not raise).
pub fn place_of(alias: &str) -> Option<AlertPlace> {
    let rest = alias.strip_prefix("slack-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let (channel, thread_ts, ts) = match parts.as_slice() {
        [channel, ts] => (*channel, *ts, *ts),
        [channel, thread_ts, ts] => (*channel, *thread_ts, *ts),
        _ => return None,
    };
    let is_channel =
        |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let is_ts = |ts: &str| {
        ts.split_once('.').is_some_and(|(seconds, micros)| {
            !seconds.is_empty()
                && !micros.is_empty()
                && seconds
                    .chars()
                    .chain(micros.chars())
                    .all(|c| c.is_ascii_digit())
        })
    };
    (is_channel(channel) && is_ts(thread_ts) && is_ts(ts)).then(|| AlertPlace {
        channel: channel.to_owned(),
        thread_ts: thread_ts.to_owned(),
        ts: ts.to_owned(),
    })
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
    /// Workspaces besides the bot's own whose people may page
    /// (`ALERT_ALLOWED_TEAMS`).
    pub allowed_teams: Vec<String>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            mode: AlertMode::Every,
            priority: Priority::P4,
            team: None,
            rate_limit: RateLimit::default(),
            allowed_teams: Vec::new(),
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
    ) -> Self {
        Self {
            provider,
            policy,
            home,
            slack,
            metrics,
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

    /// Raises the alert for `request`; `text` is what the person wrote, without
    /// the bot's mention.
    pub async fn raise_for(&self, request: &Request, text: &str) -> AlertOutcome {
        let alias = alias_for(&request.channel, &request.thread_ts, &request.ts);
        let claim = format!("alert:{alias}");
        // Here first, then across replicas (when they share state, and it
        // answers; else this process's memory is all there is).
        if self.raised.contains_key(&alias)
            || self.shared.claim(&claim, RAISED_TTL).await == Some(false)
        {
            tracing::info!(%alias, "alert for this message already raised");
            self.metrics.alert("already_raised");
            return AlertOutcome::AlreadyRaised(self.priority());
        }
        let Some(counted) = self.count_for(&request.user, &alias).await else {
            self.shared.release(&claim).await;
            tracing::info!(user = %request.user, "alert limit reached for this person; none raised");
            self.metrics.alert("rate_limited");
            return AlertOutcome::RateLimited;
        };
        let (asker, permalink) = tokio::join!(
            self.slack.user(&request.user),
            self.slack.permalink(&request.channel, &request.ts),
        );
        let asker = asker.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not look up the asker");
            SlackUser {
                name: request.user.clone(),
                team_id: None,
                enterprise_id: None,
                email: None,
                tz: None,
            }
        });
        if !self.may_page(request, &asker) {
            self.give_back(&request.user, &alias, counted).await;
            self.shared.release(&claim).await;
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
        match self.provider.create_alert(&alert).await {
            Ok(request_id) => {
                self.raised.insert(alias.clone(), ()).await;
                tracing::info!(%alias, %request_id, priority = %self.priority(), "alert raised");
                self.metrics.alert("raised");
                AlertOutcome::Raised(self.priority())
            }
            Err(error) => {
                self.give_back(&request.user, &alias, counted).await;
                self.shared.release(&claim).await;
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
    fn the_alias_names_the_message_and_its_thread_and_reads_back() {
        // Pinned: operators search alerts by alias, so the scheme must not drift.
        assert_eq!(
            alias_for("C1", "1700000000.000100", "1700000000.000100"),
            "slack-C1-1700000000.000100"
        );
        assert_eq!(
            alias_for("C1", "1700000000.000100", "1700000001.000200"),
            "slack-C1-1700000000.000100-1700000001.000200"
        );
        for (channel, thread_ts, ts) in [
            ("C0SUPPORT", "1795460000.000100", "1795460000.000100"),
            ("D0ALICE", "1.1", "2.2"),
        ] {
            let place = place_of(&alias_for(channel, thread_ts, ts)).expect("ours");
            assert_eq!(
                (
                    place.channel.as_str(),
                    place.thread_ts.as_str(),
                    place.ts.as_str()
                ),
                (channel, thread_ts, ts)
            );
        }
        assert_ne!(alias_for("C1", "1.1", "1.1"), alias_for("C2", "1.1", "1.1"));
        assert_ne!(alias_for("C1", "1.1", "1.1"), alias_for("C1", "1.1", "1.2"));
        // What is not Slack's ids is hashed: one plain alias, never read back.
        let odd = alias_for("C1\n<script>", "1.1", "$(rm -rf /)");
        assert!(odd["slack-".len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(place_of(&odd), None);
        for other in [
            "",
            "slack-",
            "slack-C1",
            "slack-C1-1",
            "slack-C1-1.1-2.2-3.3",
            "slack-C 1-1.1",
            "pagerduty-C1-1.1",
            "slack-C1-1.x",
        ] {
            assert_eq!(place_of(other), None, "{other:?}");
        }
    }

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
