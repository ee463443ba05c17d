//! What the bot says and does when a person asks it something.

use std::sync::Arc;

use crate::alerting::{AlertOutcome, AlertRaiser};
use std::time::SystemTime;

use crate::oncall::{describe_age, Freshness, OnCall, OnCallDirectory, Person, Responder, Shift};
use crate::routing::{Destination, Routing};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ClearCache,
    Help,
    /// `team <name>`: who is on call for that team.
    Team(String),
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
            ["team", name @ ..] if !name.is_empty() => Self::Team(name.join(" ")),
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

/// A time as Slack shows it: in each reader's own time zone.
pub fn slack_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    format!(
        "<!date^{seconds}^{{date_short_pretty}} {{time}}|{}>",
        humantime::format_rfc3339_seconds(time)
    )
}

/// What the answer calls the n-th rotation.
fn role(index: usize) -> String {
    match index {
        0 => "primary".to_owned(),
        1 => "secondary".to_owned(),
        2 => "tertiary".to_owned(),
        n => format!("rotation {}", n + 1),
    }
}

/// The answer naming who is on call: per rotation, in the schedule's order, with
/// until when and who is next, when the source tells; a plain list otherwise. A
/// stale answer says so, and how old it is.
pub fn on_call_text(
    on_call: &OnCall,
    people: &[Responder],
    freshness: Freshness,
    source: &str,
) -> String {
    let name = |person: &Person| {
        let slack_user = people
            .iter()
            .find(|responder| responder.person == *person)
            .and_then(|responder| responder.slack_user.as_ref());
        match (slack_user, &person.email) {
            (Some(user), _) => format!("<@{user}>"),
            (None, Some(email)) => format!("{email} (no Slack account found)"),
            (None, None) => person.name.clone(),
        }
    };
    let shifts = |shifts: &[Shift]| {
        shifts
            .iter()
            .map(|shift| {
                let marker = if shift.is_override { " (override)" } else { "" };
                format!(
                    "{}{marker} until {}",
                    name(&shift.person),
                    slack_date(shift.until)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let schedule = &on_call.schedule;
    let rotations: Vec<_> = on_call
        .rotations
        .iter()
        .filter(|rotation| !rotation.current.is_empty())
        .collect();
    let body = match rotations.as_slice() {
        _ if on_call.people.is_empty() => None,
        [] => Some(
            on_call
                .people
                .iter()
                .map(&name)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        [only] => Some(match &only.next {
            Some(next) => format!("{}; next: {}", shifts(&only.current), name(&next.person)),
            None => shifts(&only.current),
        }),
        several => Some(
            several
                .iter()
                .enumerate()
                .map(|(index, rotation)| {
                    let next = rotation
                        .next
                        .as_ref()
                        .map(|next| format!("; next: {}", name(&next.person)))
                        .unwrap_or_default();
                    format!(
                        "\n• {} ({}): {}{next}",
                        role(index),
                        rotation.name,
                        shifts(&rotation.current)
                    )
                })
                .collect::<String>(),
        ),
    };
    let separator = |body: &str| if body.starts_with('\n') { "" } else { " " };
    match (freshness, body) {
        (Freshness::Fresh, None) => format!("Nobody is on call for *{schedule}* right now."),
        (Freshness::Fresh, Some(body)) => {
            format!(
                "On call for *{schedule}* right now:{}{body}",
                separator(&body)
            )
        }
        (Freshness::Stale { age }, None) => format!(
            "{source} is not answering; {} ago nobody was on call for *{schedule}*.",
            describe_age(age)
        ),
        (Freshness::Stale { age }, Some(body)) => format!(
            "{source} is not answering; this is who was on call for *{schedule}* {} ago:{}{body}",
            describe_age(age),
            separator(&body)
        ),
    }
}

/// The answer to `team <name>` when no team has that name.
pub fn unknown_team_text(name: &str, routing: &Routing) -> String {
    if routing.teams().is_empty() {
        format!("I don't know a team called *{name}*: no teams are set up, so I answer for the default schedule only.")
    } else {
        format!(
            "I don't know a team called *{name}*. Known teams: {}.",
            routing.describe_teams()
        )
    }
}

/// The line added to the answer about the alert raised for the request.
pub fn alert_text(outcome: AlertOutcome, system: &str) -> String {
    match outcome {
        AlertOutcome::Raised(priority) => format!("I also raised a {priority} alert in {system}."),
        AlertOutcome::AlreadyRaised(priority) => {
            format!("A {priority} alert for this message is already open in {system}.")
        }
        AlertOutcome::Failed => {
            format!("Raising an alert in {system} failed, so only the mention above went out.")
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
    routing: Routing,
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
            routing: Routing::default(),
        }
    }

    /// Teams and channel defaults: which schedule a request is about.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
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
            Command::Help => self.help_text(),
            Command::ClearCache => {
                self.directory.clear();
                tracing::info!(user = %request.user, "on-call cache cleared");
                CACHE_CLEARED_TEXT.to_owned()
            }
            Command::Team(name) => match self.routing.team_named(&name) {
                Some(team) => self.who_is_on_call(request, &team.schedule).await,
                None => unknown_team_text(&name, &self.routing),
            },
            Command::WhoIsOnCall => {
                let text = strip_mentions_of(&request.text, &self.identity.user_id);
                let schedule = match self.routing.destination(&request.channel, &text) {
                    Destination::Team(team) => &team.schedule,
                    Destination::Default => &self.schedule,
                };
                self.who_is_on_call(request, schedule).await
            }
        }
    }

    fn help_text(&self) -> String {
        if self.routing.teams().is_empty() {
            return HELP_TEXT.to_owned();
        }
        format!(
            "{HELP_TEXT}\n• `@ops <team>` or `@ops team <name>`: who is on call for a team: {}",
            self.routing.describe_teams()
        )
    }

    /// The on-call answer for `schedule`, and the alert for the request when on.
    async fn who_is_on_call(&self, request: &Request, schedule: &str) -> String {
        let alert = async {
            match &self.alerts {
                Some(alerts) => {
                    let text = strip_mentions_of(&request.text, &self.identity.user_id);
                    let outcome = alerts.raise_for(request, &text).await;
                    Some(alert_text(outcome, alerts.system_name()))
                }
                None => None,
            }
        };
        let (answer, alert) = tokio::join!(self.on_call_answer(schedule), alert);
        match alert {
            Some(alert) => format!("{answer}\n{alert}"),
            None => answer,
        }
    }

    async fn on_call_answer(&self, schedule: &str) -> String {
        match self.directory.on_call(schedule).await {
            Ok(answer) => {
                let people = self.directory.responders(&answer.on_call).await;
                on_call_text(
                    &answer.on_call,
                    &people,
                    answer.freshness,
                    self.directory.source_name(),
                )
            }
            Err(failure) => {
                tracing::error!(error = %failure, %schedule, "no on-call answer");
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

    use crate::oncall::Rotation;
    use std::time::Duration;

    fn flat(emails: &[&str]) -> OnCall {
        OnCall {
            schedule: "SRE_schedule".into(),
            people: emails
                .iter()
                .map(|email| Person::with_email(email))
                .collect(),
            rotations: vec![],
        }
    }

    fn person(email: &str, user: Option<&str>) -> Responder {
        Responder {
            person: Person::with_email(email),
            slack_user: user.map(str::to_owned),
        }
    }

    #[test]
    fn the_answer_mentions_people_with_slack_accounts_and_names_the_others() {
        let people = [
            person("alice@corp.example", Some("UALICE")),
            person("dave@corp.example", None),
        ];
        let on_call = flat(&["alice@corp.example", "dave@corp.example"]);
        assert_eq!(
            on_call_text(&on_call, &people, Freshness::Fresh, "OpsGenie"),
            "On call for *SRE_schedule* right now: <@UALICE>, dave@corp.example (no Slack account found)"
        );
        assert_eq!(
            on_call_text(&flat(&[]), &[], Freshness::Fresh, "OpsGenie"),
            "Nobody is on call for *SRE_schedule* right now."
        );
    }

    #[test]
    fn a_stale_answer_says_the_source_is_not_answering_and_how_old_it_is() {
        let people = [person("alice@corp.example", Some("UALICE"))];
        let stale = Freshness::Stale {
            age: Duration::from_secs(12 * 60 + 5),
        };
        assert_eq!(
            on_call_text(&flat(&["alice@corp.example"]), &people, stale, "OpsGenie"),
            "OpsGenie is not answering; this is who was on call for *SRE_schedule* 12 minutes ago: <@UALICE>"
        );
        assert_eq!(
            on_call_text(&flat(&[]), &[], stale, "OpsGenie"),
            "OpsGenie is not answering; 12 minutes ago nobody was on call for *SRE_schedule*."
        );
    }

    #[test]
    fn rotations_are_listed_in_order_with_until_times_overrides_and_who_is_next() {
        let at = |seconds: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        let shift = |email: &str, from: u64, to: u64, is_override: bool| Shift {
            person: Person::with_email(email),
            starts: at(from),
            until: at(to),
            is_override,
        };
        let on_call = OnCall {
            schedule: "SRE_schedule".into(),
            people: vec![
                Person::with_email("alice@corp.example"),
                Person::with_email("carol@corp.example"),
            ],
            rotations: vec![
                Rotation {
                    name: "Weekly".into(),
                    current: vec![shift("alice@corp.example", 0, 1_700_000_000, false)],
                    next: Some(shift(
                        "bob@corp.example",
                        1_700_000_000,
                        1_700_600_000,
                        false,
                    )),
                },
                Rotation {
                    name: "Backup".into(),
                    current: vec![shift("carol@corp.example", 0, 1_700_003_600, true)],
                    next: None,
                },
            ],
        };
        let people = [
            person("alice@corp.example", Some("UALICE")),
            person("bob@corp.example", Some("UBOB")),
            person("carol@corp.example", Some("UCAROL")),
        ];
        assert_eq!(
            on_call_text(&on_call, &people, Freshness::Fresh, "OpsGenie"),
            "On call for *SRE_schedule* right now:\n\
             • primary (Weekly): <@UALICE> until <!date^1700000000^{date_short_pretty} {time}|2023-11-14T22:13:20Z>; next: <@UBOB>\n\
             • secondary (Backup): <@UCAROL> (override) until <!date^1700003600^{date_short_pretty} {time}|2023-11-14T23:13:20Z>"
        );
        let one_rotation = OnCall {
            rotations: on_call.rotations[..1].to_vec(),
            people: vec![Person::with_email("alice@corp.example")],
            ..on_call
        };
        assert_eq!(
            on_call_text(&one_rotation, &people, Freshness::Fresh, "OpsGenie"),
            "On call for *SRE_schedule* right now: <@UALICE> until <!date^1700000000^{date_short_pretty} {time}|2023-11-14T22:13:20Z>; next: <@UBOB>"
        );
    }

    #[test]
    fn an_unknown_team_gets_the_list_of_known_ones() {
        let routing = Routing::new(
            vec![crate::routing::Team {
                name: "payments".into(),
                aliases: vec!["pay".into()],
                schedule: "Payments_schedule".into(),
            }],
            &[],
        )
        .expect("valid");
        assert_eq!(
            unknown_team_text("paymints", &routing),
            "I don't know a team called *paymints*. Known teams: *payments* (pay)."
        );
        assert_eq!(
            Command::parse("<@UBOT> team paymints", "UBOT"),
            Command::Team("paymints".into())
        );
        assert_eq!(
            Command::parse("<@UBOT> TEAM Pay", "UBOT"),
            Command::Team("pay".into())
        );
        assert_eq!(Command::parse("<@UBOT> team", "UBOT"), Command::WhoIsOnCall);
    }
}
