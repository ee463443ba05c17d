//! The bot's plain types: who asks, who is on call, what an alert says. Every
//! other module speaks in these; this one imports nothing from the crate, and wire
//! formats stay private to the client that reads them.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::SystemTime;

/// Who the bot is in the workspace, from `auth.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub bot_id: Option<String>,
    /// The workspace the bot is installed in.
    pub team_id: Option<String>,
    /// The Enterprise Grid organisation, when the workspace belongs to one.
    pub enterprise_id: Option<String>,
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
    /// The asker's workspace, when the event says (Slack Connect channels).
    pub user_team: Option<String>,
}

/// Someone on call, as the on-call provider knows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Person {
    /// The email (OpsGenie username, or an Atlassian account's visible email).
    pub email: Option<String>,
    /// How to show the person when there is no Slack account to mention.
    pub name: String,
    /// The Atlassian account id (JSM), for explicit Slack mappings.
    pub account_id: Option<String>,
}

impl Person {
    /// A person known by email alone (OpsGenie).
    pub fn with_email(email: &str) -> Self {
        Self {
            email: Some(email.to_owned()),
            name: email.to_owned(),
            account_id: None,
        }
    }
}

/// The people on call for a schedule, as the provider reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub schedule: String,
    /// In the provider's order.
    pub people: Vec<Person>,
    /// The schedule's rotations in order (primary first), when the provider
    /// tells; empty otherwise.
    pub rotations: Vec<Rotation>,
}

impl OnCall {
    /// The next moment someone's shift ends: the answer is stale after it.
    pub fn next_handover(&self) -> Option<SystemTime> {
        self.rotations
            .iter()
            .flat_map(|rotation| rotation.current.iter().map(|shift| shift.until))
            .min()
    }

    /// Everyone the answer names: on call now, and next.
    pub fn everyone(&self) -> Vec<Person> {
        let mut people = self.people.clone();
        for rotation in &self.rotations {
            for shift in rotation.current.iter().chain(&rotation.next) {
                if !people.contains(&shift.person) {
                    people.push(shift.person.clone());
                }
            }
        }
        people
    }
}

/// One rotation of a schedule: who is on call in it now, and who is next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub name: String,
    pub current: Vec<Shift>,
    pub next: Option<Shift>,
}

/// A person's turn in a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub person: Person,
    pub starts: SystemTime,
    pub until: SystemTime,
    /// An override in the schedule put this person here.
    pub is_override: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P1 => "P1",
            Self::P2 => "P2",
            Self::P3 => "P3",
            Self::P4 => "P4",
            Self::P5 => "P5",
        }
    }
}

impl FromStr for Priority {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_uppercase().as_str() {
            "P1" => Ok(Self::P1),
            "P2" => Ok(Self::P2),
            "P3" => Ok(Self::P3),
            "P4" => Ok(Self::P4),
            "P5" => Ok(Self::P5),
            _ => Err("expected one of P1, P2, P3, P4, P5".to_owned()),
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert as the bot means it; each provider turns it into its own wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub alias: String,
    pub message: String,
    pub description: String,
    pub priority: Priority,
    pub team: Option<String>,
    pub tags: Vec<String>,
    pub source: String,
    pub details: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_case_insensitively_and_reject_others() {
        assert_eq!("p4".parse::<Priority>(), Ok(Priority::P4));
        assert_eq!(" P1 ".parse::<Priority>(), Ok(Priority::P1));
        assert!("P6".parse::<Priority>().is_err());
        assert!("high".parse::<Priority>().is_err());
    }
}
