//! Optional alerts: each help request raises one low-priority alert, keyed by the
//! Slack message so it is never raised twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::model::{Alert, Priority, Request};
use crate::providers::Provider;
use crate::slack::SlackApi;

/// OpsGenie's limit on an alert's message.
pub const MAX_MESSAGE_CHARS: usize = 130;

/// How long a raised alias is remembered in this process.
const RAISED_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The alias for a Slack message. A `ts` is unique only within a channel, so both
/// go in; they are hashed so that nothing a user typed reaches the alias.
pub fn alias_for(channel: &str, ts: &str) -> String {
    let digest = Sha256::digest(format!("{channel}\n{ts}").as_bytes());
    format!("slack-{}", &hex::encode(digest)[..40])
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
    Failed,
}

/// Raises the alert for a help request, at most once per Slack message.
pub struct AlertRaiser {
    provider: Arc<Provider>,
    priority: Priority,
    team: Option<String>,
    slack: Arc<SlackApi>,
    metrics: Arc<Metrics>,
    raised: Cache<String, ()>,
}

impl AlertRaiser {
    pub fn new(
        provider: Arc<Provider>,
        priority: Priority,
        team: Option<String>,
        slack: Arc<SlackApi>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            provider,
            priority,
            team,
            slack,
            metrics,
            raised: Cache::builder()
                .time_to_live(RAISED_TTL)
                .max_capacity(100_000)
                .build(),
        }
    }

    /// The system alerts go to.
    pub fn system_name(&self) -> &'static str {
        self.provider.name()
    }

    /// Raises the alert for `request`; `text` is what the person wrote, without
    /// the bot's mention.
    pub async fn raise_for(&self, request: &Request, text: &str) -> AlertOutcome {
        let alias = alias_for(&request.channel, &request.ts);
        if self.raised.contains_key(&alias) {
            tracing::info!(%alias, "alert for this message already raised");
            self.metrics.alert("already_raised");
            return AlertOutcome::AlreadyRaised(self.priority);
        }
        let alert = self.alert_for(request, text, alias.clone()).await;
        match self.provider.create_alert(&alert).await {
            Ok(request_id) => {
                self.raised.insert(alias.clone(), ()).await;
                tracing::info!(%alias, %request_id, priority = %self.priority, "alert raised");
                self.metrics.alert("raised");
                AlertOutcome::Raised(self.priority)
            }
            Err(error) => {
                tracing::error!(%alias, %error, "could not raise the alert");
                self.metrics.alert("failed");
                AlertOutcome::Failed
            }
        }
    }

    async fn alert_for(&self, request: &Request, text: &str, alias: String) -> Alert {
        let (asker, permalink) = tokio::join!(
            self.slack.user(&request.user),
            self.slack.permalink(&request.channel, &request.ts),
        );
        let asker = asker.map(|user| user.name).unwrap_or_else(|error| {
            tracing::warn!(%error, "could not look up the asker's name");
            request.user.clone()
        });
        let mut description = text.trim().to_owned();
        match permalink {
            Ok(link) => description.push_str(&format!("\n\nSlack message: {link}")),
            Err(error) => tracing::warn!(%error, "could not get the message's permalink"),
        }
        Alert {
            alias,
            message: alert_message(&asker, text),
            description,
            priority: self.priority,
            team: self.team.clone(),
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
    fn the_alias_depends_on_channel_and_ts_only_and_is_opaque() {
        let alias = alias_for("C1", "1700000000.000100");
        // Pinned: operators search alerts by alias, so the scheme must never drift.
        assert_eq!(alias, "slack-ca058c3d19c5f735aedfa3ba7f7bd647c96e3579");
        assert_ne!(alias, alias_for("C2", "1700000000.000100"));
        assert_ne!(alias, alias_for("C1", "1700000000.000200"));
        assert!(alias.starts_with("slack-"));
        assert_eq!(alias.len(), "slack-".len() + 40);
        assert!(alias["slack-".len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit()));
        // Input that tries to smuggle text in still yields a plain hex alias.
        let odd = alias_for("C1\n<script>", "$(rm -rf /)");
        assert!(odd["slack-".len()..].chars().all(|c| c.is_ascii_hexdigit()));
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
