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
    /// `/oncall …`: answered to the caller, never paging.
    SlashCommand,
}

/// `/oncall [what]`, as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    pub user: String,
    pub user_team: Option<String>,
    pub channel: String,
    /// What followed the command.
    pub text: String,
    /// Where the answer goes (Slack's `response_url`).
    pub response_url: String,
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

/// One rotation's shifts over a span of time, in order of their start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPlan {
    /// The provider's id for the rotation, when it says.
    pub id: Option<String>,
    pub name: String,
    pub shifts: Vec<Shift>,
}

/// A schedule's rotations over `from` .. `until`, as read at `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub plans: Vec<RotationPlan>,
    pub from: SystemTime,
    pub until: SystemTime,
}

impl Timeline {
    /// The first moment after `now` at which someone's shift starts or ends.
    pub fn next_change_after(&self, now: SystemTime) -> Option<SystemTime> {
        self.plans
            .iter()
            .flat_map(|plan| &plan.shifts)
            .flat_map(|shift| [shift.starts, shift.until])
            .filter(|moment| *moment > now)
            .min()
    }

    /// The shifts of every rotation that overlap `from` .. `until`, with
    /// their rotation's name.
    pub fn shifts_between(
        &self,
        from: SystemTime,
        until: SystemTime,
    ) -> impl Iterator<Item = (&RotationPlan, &Shift)> {
        self.plans.iter().flat_map(move |plan| {
            plan.shifts
                .iter()
                .filter(move |shift| shift.until > from && shift.starts < until)
                .map(move |shift| (plan, shift))
        })
    }
}

/// A rotation an override replaces, as the provider knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RotationRef {
    pub id: Option<String>,
    pub name: String,
}

/// A schedule override to make: `who` on call for `schedule` over the span,
/// in place of whoever is in `rotations` (all of them when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRequest {
    pub schedule: String,
    pub who: Person,
    pub from: SystemTime,
    pub until: SystemTime,
    pub rotations: Vec<RotationRef>,
    /// The bot's own name for it, where the provider takes one (OpsGenie), so
    /// that it can be read back and deleted by it.
    pub alias: String,
}

impl RotationPlan {
    /// The rotation as it stands at `now`: the shifts under way, and the first
    /// later one of someone not already on.
    pub fn at(self, now: SystemTime) -> Rotation {
        let (current, upcoming): (Vec<Shift>, Vec<Shift>) = self
            .shifts
            .into_iter()
            .partition(|shift| shift.starts <= now);
        Rotation {
            name: self.name,
            next: upcoming
                .into_iter()
                .find(|shift| !current.iter().any(|on| on.person == shift.person)),
            current,
        }
    }
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

impl Shift {
    /// The end given to a shift that has none: someone an escalation level
    /// names directly is on call there always (2100-01-01, past any window).
    pub fn open_end() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_800)
    }

    /// Whether the shift has no end of its own.
    pub fn is_open_ended(&self) -> bool {
        self.until >= Self::open_end()
    }
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

/// What a person can do to a raised alert from its Slack thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertAction {
    Acknowledge,
    /// Acknowledge, and become the alert's owner.
    Take,
    Close,
}

impl AlertAction {
    /// The action's name in button ids and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Take => "take",
            Self::Close => "close",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "acknowledge" => Some(Self::Acknowledge),
            "take" => Some(Self::Take),
            "close" => Some(Self::Close),
            _ => None,
        }
    }

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledge",
            Self::Take => "Take it",
            Self::Close => "Close",
        }
    }
}

/// The alert part of a thread answer: its state in words and what can be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCard {
    pub alias: String,
    /// One line of Slack markup, escaped already.
    pub status: String,
    /// The buttons, in order; none once the alert is closed.
    pub actions: Vec<AlertAction>,
}

/// A message the bot posts or updates: its text (Slack markup, escaped
/// already), and the alert card when the request raised one, the Confirm
/// button when it asks to confirm taking the call, or the Undo button under an
/// override it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessage {
    pub text: String,
    pub card: Option<AlertCard>,
    /// Buttons about taking the call or asking for cover, in order.
    pub buttons: Vec<OverrideButton>,
}

impl ThreadMessage {
    pub fn plain(text: String) -> Self {
        Self {
            text,
            card: None,
            buttons: Vec::new(),
        }
    }

    /// The same message, with one more button about an override.
    pub fn with_button(mut self, button: OverrideButton) -> Self {
        self.buttons.push(button);
        self
    }

    /// Whether it needs Block Kit (a card or a button).
    pub fn has_blocks(&self) -> bool {
        self.card.is_some() || !self.buttons.is_empty()
    }
}

/// A button about taking the call; its value is the request's or the
/// override's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideButton {
    /// Under "take the call …?".
    Confirm { request: String },
    /// Under "… took the call": deletes the override.
    Undo { made: String },
    /// Under "… needs cover": takes the call for the asker.
    Cover { request: String },
    /// Under "… needs cover", for its asker: takes the request back.
    Withdraw { request: String },
}

/// A click on the Confirm or Undo button of a request to take the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideClick {
    pub button: OverrideButton,
    pub user: String,
    pub user_team: Option<String>,
    pub enterprise: Option<String>,
    /// The message the button is on, and its thread.
    pub channel: String,
    pub message_ts: Option<String>,
    pub thread_ts: Option<String>,
    /// Where to answer when the message is ephemeral (a slash command's).
    pub response_url: Option<String>,
    pub ephemeral: bool,
}

/// A click on an alert button, as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub action: AlertAction,
    /// The alert's alias, from the button.
    pub alias: String,
    /// Who clicked, and their workspace and organisation.
    pub user: String,
    pub user_team: Option<String>,
    pub enterprise: Option<String>,
    /// The message the button is on.
    pub channel: String,
    pub message_ts: String,
    pub thread_ts: Option<String>,
    /// The answer's text above the card, as posted.
    pub answer_text: Option<String>,
    /// When Slack registered the click.
    pub action_ts: String,
}

/// Who did something to an alert, and what, as the provider's webhook tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertChange {
    Acknowledged,
    Unacknowledged,
    /// Owner's username (an email).
    Assigned(String),
    Note(String),
    Escalated(String),
    Closed,
}

/// A webhook delivery that names its alert and who acted by the provider's
/// own ids (PagerDuty's): looked up before it is reflected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEvent {
    /// The event's own id, inside the signed body: a delivery sent again
    /// under a new delivery id is still the same event.
    pub event_id: Option<String>,
    /// The provider's id of the alert.
    pub incident: String,
    /// The alert's key (the bot's alias), when the delivery carries it.
    pub alias: Option<String>,
    /// What happened; an assignment names the provider's user id.
    pub change: AlertChange,
    /// Who acted, by the provider's user id; `None` for automation.
    pub actor: Option<String>,
    pub actor_name: String,
    /// When it happened, in nanoseconds since the epoch.
    pub updated_at: u128,
}

/// One delivery of the provider's outgoing webhook about an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertUpdate {
    pub alias: String,
    pub change: AlertChange,
    /// Who acted: an email for people, else a name ("System").
    pub by: String,
    /// The action came through this bot's own API calls (`source`).
    pub from_bot: bool,
    /// When the alert was last updated, in nanoseconds since the epoch: which of
    /// two deliveries is newer.
    pub updated_at: u128,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_at_a_moment_is_who_is_on_and_the_next_person_not_already_on() {
        let hour = |n: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(n * 3600);
        let shift = |email: &str, from: u64, to: u64| Shift {
            person: Person::with_email(email),
            starts: hour(from),
            until: hour(to),
            is_override: false,
        };
        let plan = RotationPlan {
            id: None,
            name: "Weekly".into(),
            shifts: vec![
                shift("alice@x", 0, 10),
                shift("alice@x", 10, 20),
                shift("bob@x", 20, 30),
            ],
        };
        assert_eq!(
            plan.at(hour(5)),
            Rotation {
                name: "Weekly".into(),
                current: vec![shift("alice@x", 0, 10)],
                next: Some(shift("bob@x", 20, 30)),
            }
        );
    }

    #[test]
    fn priorities_parse_case_insensitively_and_reject_others() {
        assert_eq!("p4".parse::<Priority>(), Ok(Priority::P4));
        assert_eq!(" P1 ".parse::<Priority>(), Ok(Priority::P1));
        assert!("P6".parse::<Priority>().is_err());
        assert!("high".parse::<Priority>().is_err());
    }
}

/// What the bot's Home tab shows one person, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HomeTab {
    pub blocks: Vec<HomeBlock>,
}

/// One piece of the Home tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeBlock {
    Header(String),
    /// Text in Slack's mrkdwn, escaped by whoever wrote it.
    Text(String),
    /// Small print, in mrkdwn.
    Note(String),
    Divider,
    /// The buttons that open the forms.
    Buttons(Vec<FormKind>),
}

/// The forms the Home tab opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// Take the call…: an override for the person filling it in.
    TakeCall,
    /// Ask for cover…: a request someone else takes.
    Cover,
}

/// The fields of a form, for errors shown beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    Team,
    /// The span in words ("tomorrow 09:00-13:00").
    When,
    /// The span picked: its start and its end.
    From,
    Until,
    Note,
}

/// A team to pick in a form: what comes back, and what is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormChoice {
    pub value: String,
    pub label: String,
}

/// A form to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub kind: FormKind,
    pub teams: Vec<FormChoice>,
    /// The choice shown first (the person's own team), by value.
    pub chosen: Option<String>,
}

/// A click on a Home tab button: who, and the trigger that opens the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormOpening {
    pub kind: FormKind,
    pub user: String,
    pub trigger_id: String,
}

/// A form as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSubmission {
    pub kind: FormKind,
    /// The form's view: the same when a submission is sent again.
    pub view_id: Option<String>,
    pub user: String,
    pub user_team: Option<String>,
    pub enterprise: Option<String>,
    /// The team's value, as [`FormChoice::value`].
    pub team: Option<String>,
    pub when: Option<String>,
    /// The picked start and end, in seconds since the epoch.
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub note: Option<String>,
}
