//! What the bot says and does when a person asks it something.

use std::sync::Arc;

use crate::alerting::{AlertOutcome, AlertRaiser};
use crate::oncall::{describe_age, Freshness, OnCallDirectory, Responder};
use crate::slack::{SlackApi, SlackError};

/// Who the bot is in the workspace, from `auth.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub bot_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `@ops …` in a channel.
    Mention,
    /// A message in the bot's DM.
    DirectMessage,
}

/// A person asking the bot something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    pub channel: String,
    pub user: String,
    /// The message's own timestamp: with the channel, what identifies it.
    pub ts: String,
    /// The thread to answer in: the message's thread, or the message itself.
    pub thread_ts: String,
    pub text: String,
}

/// What the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    ClearCache,
    Help,
    /// Anything else is a request for help: tell them who is on call.
    WhoIsOnCall,
}

impl Command {
    /// Reads the message text once the bot's own mention is taken out; case and
    /// spacing do not matter, nor a trailing `.`, `!` or `?`.
    pub fn parse(text: &str, bot_user_id: &str) -> Self {
        let without_mention = strip_mentions_of(text, bot_user_id);
        let words: Vec<String> = without_mention
            .trim()
            .trim_end_matches(['.', '!', '?'])
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["cache", "clear"] => Self::ClearCache,
            ["help"] => Self::Help,
            _ => Self::WhoIsOnCall,
        }
    }
}

/// Removes `<@U123>` and `<@U123|name>` mentions of `user_id` from `text`.
fn strip_mentions_of(text: &str, user_id: &str) -> String {
    let mut rest = text;
    let mut out = String::with_capacity(text.len());
    let open = format!("<@{user_id}");
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = match after.chars().next() {
            Some('>') => Some(1),
            Some('|') => after.find('>').map(|close| close + 1),
            _ => None,
        };
        match end {
            Some(end) => {
                out.push_str(&rest[..start]);
                out.push(' ');
                rest = &after[end..];
            }
            None => {
                out.push_str(&rest[..start + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub const HELP_TEXT: &str =
    "I tell you who is on call, and mention them here so they see your message.\n\
• `@ops` followed by anything (or a DM to me): who is on call right now\n\
• `@ops cache clear`: forget cached on-call answers, e.g. after an override in OpsGenie\n\
• `@ops help`: this message";

pub const CACHE_CLEARED_TEXT: &str =
    "Cache cleared: the next answer comes straight from the on-call schedule.";

pub const LOOKUP_FAILED_TEXT: &str = "Sorry, I could not find out who is on call right now. \
Please try again in a minute, or page the team from OpsGenie directly.";

/// The answer naming who is on call. A stale answer says so, and how old it is.
pub fn on_call_text(
    schedule: &str,
    responders: &[Responder],
    freshness: Freshness,
    source: &str,
) -> String {
    let names: Vec<String> = responders
        .iter()
        .map(|responder| match &responder.slack_user {
            Some(user) => format!("<@{user}>"),
            None => format!("{} (no Slack account found)", responder.email),
        })
        .collect();
    match (freshness, names.is_empty()) {
        (Freshness::Fresh, true) => format!("Nobody is on call for *{schedule}* right now."),
        (Freshness::Fresh, false) => {
            format!("On call for *{schedule}* right now: {}", names.join(", "))
        }
        (Freshness::Stale { age }, true) => format!(
            "{source} is not answering; {} ago nobody was on call for *{schedule}*.",
            describe_age(age)
        ),
        (Freshness::Stale { age }, false) => format!(
            "{source} is not answering; this is who was on call for *{schedule}* {} ago: {}",
            describe_age(age),
            names.join(", ")
        ),
    }
}

/// The line added to the answer about the alert raised for the request.
pub fn alert_text(outcome: AlertOutcome) -> String {
    match outcome {
        AlertOutcome::Raised(priority) => format!("I also raised a {priority} alert in OpsGenie."),
        AlertOutcome::AlreadyRaised(priority) => {
            format!("A {priority} alert for this message is already open in OpsGenie.")
        }
        AlertOutcome::Failed => {
            "Raising an alert in OpsGenie failed, so only the mention above went out.".to_owned()
        }
    }
}

/// Answers requests: decides what to say and says it in the request's thread.
pub struct Bot {
    identity: BotIdentity,
    schedule: String,
    directory: Arc<OnCallDirectory>,
    slack: Arc<SlackApi>,
    alerts: Option<AlertRaiser>,
}

impl Bot {
    pub fn new(
        identity: BotIdentity,
        schedule: String,
        directory: Arc<OnCallDirectory>,
        slack: Arc<SlackApi>,
    ) -> Self {
        Self {
            identity,
            schedule,
            directory,
            slack,
            alerts: None,
        }
    }

    /// Also raises an alert for every help request.
    pub fn with_alerts(mut self, alerts: AlertRaiser) -> Self {
        self.alerts = Some(alerts);
        self
    }

    pub fn identity(&self) -> &BotIdentity {
        &self.identity
    }

    /// The on-call source's name ("OpsGenie").
    pub fn source_name(&self) -> &'static str {
        self.directory.source_name()
    }

    /// Whether the last call to the on-call source succeeded (`None`: no call yet).
    pub fn source_healthy(&self) -> Option<bool> {
        self.directory.source_healthy()
    }

    /// Works out the reply and posts it in the request's thread.
    pub async fn answer(&self, request: &Request) -> Result<(), SlackError> {
        let reply = self.reply_to(request).await;
        self.slack
            .post_in_thread(&request.channel, &request.thread_ts, &reply)
            .await
    }

    /// What the bot says to `request`.
    pub async fn reply_to(&self, request: &Request) -> String {
        match Command::parse(&request.text, &self.identity.user_id) {
            Command::Help => HELP_TEXT.to_owned(),
            Command::ClearCache => {
                self.directory.clear();
                tracing::info!(user = %request.user, "on-call cache cleared");
                CACHE_CLEARED_TEXT.to_owned()
            }
            Command::WhoIsOnCall => {
                let alert = async {
                    match &self.alerts {
                        Some(alerts) => {
                            let text = strip_mentions_of(&request.text, &self.identity.user_id);
                            Some(alerts.raise_for(request, &text).await)
                        }
                        None => None,
                    }
                };
                let (answer, alert) = tokio::join!(self.on_call_answer(), alert);
                match alert {
                    Some(outcome) => format!("{answer}\n{}", alert_text(outcome)),
                    None => answer,
                }
            }
        }
    }

    async fn on_call_answer(&self) -> String {
        match self.directory.on_call(&self.schedule).await {
            Ok(answer) => {
                let responders = self.directory.responders(&answer.on_call).await;
                on_call_text(
                    &answer.on_call.schedule,
                    &responders,
                    answer.freshness,
                    self.directory.source_name(),
                )
            }
            Err(failure) => {
                tracing::error!(error = %failure, schedule = %self.schedule, "no on-call answer");
                LOOKUP_FAILED_TEXT.to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_whatever_the_case_spacing_and_mention() {
        let cases = [
            ("cache clear", Command::ClearCache),
            ("  CACHE   clear ", Command::ClearCache),
            ("<@UBOT> cache clear", Command::ClearCache),
            ("<@UBOT|ops> Cache Clear!", Command::ClearCache),
            ("cache clear <@UBOT>", Command::ClearCache),
            ("help", Command::Help),
            ("<@UBOT> HELP?", Command::Help),
            ("<@UBOT>", Command::WhoIsOnCall),
            ("", Command::WhoIsOnCall),
            ("who is on call?", Command::WhoIsOnCall),
            ("<@UBOT> the database is down, help", Command::WhoIsOnCall),
            ("cache clear please", Command::WhoIsOnCall),
            ("<@UOTHER> help", Command::WhoIsOnCall),
            ("<@UBOT", Command::WhoIsOnCall),
            ("<@UBOT|unterminated help", Command::WhoIsOnCall),
        ];
        for (text, expected) in cases {
            assert_eq!(Command::parse(text, "UBOT"), expected, "text {text:?}");
        }
    }

    #[test]
    fn mentions_of_the_bot_are_stripped_and_others_kept() {
        assert_eq!(
            strip_mentions_of("<@UBOT> ask <@UALICE>", "UBOT").trim(),
            "ask <@UALICE>"
        );
        assert_eq!(strip_mentions_of("é<@UBOT|ops>ü", "UBOT"), "é ü");
    }

    #[test]
    fn the_answer_mentions_people_with_slack_accounts_and_names_the_others() {
        let responders = [
            Responder {
                email: "alice@corp.example".into(),
                slack_user: Some("UALICE".into()),
            },
            Responder {
                email: "dave@corp.example".into(),
                slack_user: None,
            },
        ];
        let fresh = |responders: &[Responder]| {
            on_call_text("SRE_schedule", responders, Freshness::Fresh, "OpsGenie")
        };
        assert_eq!(
            fresh(&responders),
            "On call for *SRE_schedule* right now: <@UALICE>, dave@corp.example (no Slack account found)"
        );
        assert_eq!(
            fresh(&[]),
            "Nobody is on call for *SRE_schedule* right now."
        );
    }

    #[test]
    fn a_stale_answer_says_the_source_is_not_answering_and_how_old_it_is() {
        let responders = [Responder {
            email: "alice@corp.example".into(),
            slack_user: Some("UALICE".into()),
        }];
        let stale = Freshness::Stale {
            age: std::time::Duration::from_secs(12 * 60 + 5),
        };
        assert_eq!(
            on_call_text("SRE_schedule", &responders, stale, "OpsGenie"),
            "OpsGenie is not answering; this is who was on call for *SRE_schedule* 12 minutes ago: <@UALICE>"
        );
        assert_eq!(
            on_call_text("SRE_schedule", &[], stale, "OpsGenie"),
            "OpsGenie is not answering; 12 minutes ago nobody was on call for *SRE_schedule*."
        );
    }
}
