//! A raised alert's life in its Slack thread: the buttons and text commands act
//! on it in the provider as the person who asked, and the provider's webhook
//! comes back into the thread, where the answer's status line and buttons follow
//! the alert's state.
//!
//! The alias names the thread ([`crate::alias`]), so a webhook finds its
//! thread with no lookup; its tag proves the bot raised the alert. Which message to update (the answer's ts),
//! its text and the alert's last known state are remembered in this process;
//! without them (after a restart) the thread still gets its replies, and a click
//! carries the message it is on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use moka::future::Cache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alerting::truncate_chars;
use crate::alerting::AlertPolicy;
use crate::alias::{is_bot_shaped, AliasKey};
use crate::model::{
    AlertAction, AlertCard, AlertChange, AlertUpdate, BotIdentity, Click, IncidentEvent, Person,
    Request, ThreadMessage,
};
use crate::oncall::OnCallDirectory;
use crate::providers::{ActingUser, ActionError, AlertVerb, Provider};
use crate::slack::markup::{escape, slack_date};
use crate::slack::SlackApi;
use crate::store::SharedState;
use crate::workspace::{self, Affiliation};

/// How long a thread's alert is remembered: as long as its alias is.
/// How long what the bot did to an alert is remembered, to tell it from
/// others' doing in webhooks that cannot say.
const DONE_HERE_WINDOW: std::time::Duration = std::time::Duration::from_secs(10 * 60);

const CARD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The same person doing the same thing to the same alert within this acts once
/// (a double click, Slack delivering a click again).
const SAME_ACTION_WINDOW: Duration = Duration::from_secs(30);
/// A webhook delivery seen within this is not reflected again.
/// Said to someone whose Slack profile shows no email when they act on an
/// alert: the provider knows people by email.
const NO_EMAIL_TEXT: &str = "I act on alerts as you, by the email of your Slack profile, and it \
                             shows none; nothing changed.";

const DELIVERY_WINDOW: Duration = Duration::from_secs(60 * 60);
/// A note longer than this is cut in the thread (the full note is in the alert).
const MAX_NOTE_CHARS: usize = 1_000;

/// The alert's state, as the thread shows it. Names are Slack markup already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertStatus {
    Open,
    Acknowledged { by: String, at: SystemTime },
    Taken { by: String },
    Closed { by: String },
}

impl AlertStatus {
    /// The status line under the answer.
    pub fn line(&self, system: &str) -> String {
        match self {
            Self::Open => format!("Alert open in {system}: nobody has acknowledged it yet."),
            Self::Acknowledged { by, at } => {
                format!("Acknowledged by {by} at {}", slack_date(*at))
            }
            Self::Taken { by } => format!("Taken by {by}"),
            Self::Closed { by } => format!("Closed by {by}"),
        }
    }

    /// The buttons left: none once closed.
    pub fn actions(&self) -> Vec<AlertAction> {
        match self {
            Self::Open => vec![
                AlertAction::Acknowledge,
                AlertAction::Take,
                AlertAction::Close,
            ],
            Self::Acknowledged { .. } | Self::Taken { .. } => {
                vec![AlertAction::Take, AlertAction::Close]
            }
            Self::Closed { .. } => Vec::new(),
        }
    }
}

/// What the bot remembers of a thread's alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Card {
    channel: String,
    /// The answer carrying the card.
    answer_ts: String,
    answer_text: String,
    status: AlertStatus,
    /// The newest webhook delivery reflected (nanoseconds), so an older one
    /// arriving late changes nothing.
    updated_at: u128,
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflected {
    /// Shown in the thread (state, reply, or both).
    Shown,
    /// Older than what the thread shows, or nothing to show.
    Unchanged,
    /// Delivered before.
    Repeated,
    /// Not an alert this bot raised.
    NotOurs,
}

impl Reflected {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shown => "shown",
            Self::Unchanged => "unchanged",
            Self::Repeated => "repeated",
            Self::NotOurs => "not_ours",
        }
    }
}

/// The two-way link between raised alerts and their threads.
pub struct AlertThreads {
    provider: Arc<Provider>,
    slack: Arc<SlackApi>,
    directory: Arc<OnCallDirectory>,
    home: BotIdentity,
    cards: Cache<String, Arc<Mutex<Card>>>,
    /// (channel, thread ts) → the alias of the thread's latest alert.
    threads: Cache<(String, String), String>,
    /// Recent actions (for [`SAME_ACTION_WINDOW`]) and deliveries (for
    /// [`DELIVERY_WINDOW`]), by key: bounded in time and in size.
    recent_actions: Cache<String, ()>,
    recent_deliveries: Cache<String, ()>,
    /// What the bot itself did to an alert lately (`alias` and the change),
    /// so that a provider whose webhooks cannot tell (PagerDuty's) does not
    /// have it said twice in the thread.
    done_here: Cache<String, ()>,
    /// The same, and the cards, across replicas (`STATE_URL`).
    shared: Arc<SharedState>,
    /// Proves an alias is one the bot made.
    aliases: AliasKey,
    /// Workspaces besides the bot's own whose people may act
    /// (`ALERT_ALLOWED_TEAMS`), as for paging.
    allowed_teams: Vec<String>,
    /// Guests may act (`ALERT_ACTIONS_GUESTS`).
    guests: bool,
}

/// Who asks to act on an alert, as the payload names them.
#[derive(Debug, Clone, Copy)]
struct Actor<'a> {
    user: &'a str,
    team: Option<&'a str>,
    enterprise: Option<&'a str>,
}

impl AlertThreads {
    pub fn new(
        provider: Arc<Provider>,
        slack: Arc<SlackApi>,
        directory: Arc<OnCallDirectory>,
        home: BotIdentity,
        shared: Arc<SharedState>,
        aliases: AliasKey,
        policy: AlertPolicy,
    ) -> Self {
        Self {
            shared,
            aliases,
            allowed_teams: policy.allowed_teams,
            guests: policy.actions_guests,
            provider,
            slack,
            directory,
            home,
            cards: Cache::builder()
                .time_to_live(CARD_TTL)
                .max_capacity(100_000)
                .build(),
            threads: Cache::builder()
                .time_to_live(CARD_TTL)
                .max_capacity(100_000)
                .build(),
            recent_actions: Cache::builder()
                .time_to_live(SAME_ACTION_WINDOW)
                .max_capacity(10_000)
                .build(),
            recent_deliveries: Cache::builder()
                .time_to_live(DELIVERY_WINDOW)
                .max_capacity(10_000)
                .build(),
            done_here: Cache::builder()
                .time_to_live(DONE_HERE_WINDOW)
                .max_capacity(10_000)
                .build(),
        }
    }

    fn system(&self) -> &'static str {
        self.provider.name()
    }

    /// The card a newly raised alert's answer carries.
    pub fn new_card(&self, alias: &str) -> AlertCard {
        self.card(alias, &AlertStatus::Open)
    }

    fn card(&self, alias: &str, status: &AlertStatus) -> AlertCard {
        AlertCard {
            alias: alias.to_owned(),
            status: status.line(self.system()),
            actions: status.actions(),
        }
    }

    /// Remembers where the answer with the card was posted: here, and for the
    /// other replicas.
    pub async fn remember(&self, request: &Request, alias: &str, answer_ts: String, text: String) {
        let card = Card {
            channel: request.channel.clone(),
            answer_ts,
            answer_text: text,
            status: AlertStatus::Open,
            updated_at: 0,
        };
        self.share_card(alias, &card).await;
        self.cards
            .insert(alias.to_owned(), Arc::new(Mutex::new(card)))
            .await;
        let thread = (request.channel.clone(), request.thread_ts.clone());
        self.shared
            .put(&thread_key(&thread.0, &thread.1), alias, CARD_TTL)
            .await;
        self.threads.insert(thread, alias.to_owned()).await;
    }

    async fn share_card(&self, alias: &str, card: &Card) {
        if !self.shared.is_shared() {
            return;
        }
        match serde_json::to_string(card) {
            Ok(json) => self.shared.put(&card_key(alias), &json, CARD_TTL).await,
            Err(error) => tracing::warn!(%error, "could not share the alert's card"),
        }
    }

    /// The card of `alias`: this process's, else the one another replica
    /// shared.
    async fn card_of(&self, alias: &str) -> Option<Arc<Mutex<Card>>> {
        if let Some(card) = self.cards.get(alias).await {
            return Some(card);
        }
        let json = self.shared.get(&card_key(alias)).await.flatten()?;
        let card: Card = serde_json::from_str(&json).ok()?;
        let card = Arc::new(Mutex::new(card));
        self.cards.insert(alias.to_owned(), Arc::clone(&card)).await;
        Some(card)
    }

    /// The thread's latest alert: remembered here or by another replica, else
    /// the one its first message raised.
    async fn alias_in_thread(&self, channel: &str, thread_ts: &str) -> String {
        let thread = (channel.to_owned(), thread_ts.to_owned());
        if let Some(alias) = self.threads.get(&thread).await {
            return alias;
        }
        match self.shared.get(&thread_key(channel, thread_ts)).await {
            Some(Some(alias)) => alias,
            _ => self.aliases.alias_for(channel, thread_ts, thread_ts),
        }
    }

    /// A click on one of the card's buttons: act, then show the new state in
    /// place; a refusal is told to the clicker alone.
    pub async fn click(&self, click: &Click) {
        let thread_ts = click.thread_ts.as_deref();
        let tell_clicker = |text: String| async move {
            if let Err(error) = self
                .slack
                .post_ephemeral(&click.channel, &click.user, thread_ts, &text)
                .await
            {
                tracing::warn!(%error, "could not tell the clicker why nothing happened");
            }
        };
        if !is_bot_shaped(&click.alias) {
            tracing::info!("a click on an alert this bot did not raise; ignored");
            return;
        }
        let actor = Actor {
            user: &click.user,
            team: click.user_team.as_deref(),
            enterprise: click.enterprise.as_deref(),
        };
        match self.act(&click.alias, click.action, actor).await {
            Acted::Done(status) => {
                let answer_text = click.answer_text.clone();
                self.show(
                    &click.alias,
                    &status,
                    Some((&click.channel, &click.message_ts)),
                    answer_text,
                )
                .await;
            }
            Acted::Repeated => {}
            Acted::Refused(words) => tell_clicker(words).await,
        }
    }

    /// `@ops ack`, `@ops take`, `@ops close` in a thread: the same as the
    /// buttons, for the thread's latest alert; returns the thread reply.
    pub async fn by_text(&self, request: &Request, action: AlertAction) -> String {
        if request.thread_ts == request.ts {
            return NOT_IN_THREAD_TEXT.to_owned();
        }
        let alias = self
            .alias_in_thread(&request.channel, &request.thread_ts)
            .await;
        let actor = Actor {
            user: &request.user,
            team: request.user_team.as_deref(),
            enterprise: None,
        };
        match self.act(&alias, action, actor).await {
            Acted::Done(status) => {
                self.show(&alias, &status, None, None).await;
                status.line(self.system())
            }
            Acted::Repeated => format!("That was done moments ago: {}", action.label()),
            Acted::Refused(words) => words,
        }
    }

    /// One webhook delivery: the state shown in place when it is newer than
    /// what the thread shows; a reply for notes and for what people did outside
    /// Slack. A repeated delivery changes nothing.
    pub async fn reflect(&self, update: &AlertUpdate) -> Reflected {
        let Some(place) = self.aliases.place_of(&update.alias) else {
            return Reflected::NotOurs;
        };
        let delivery = format!(
            "delivery\n{}\n{:?}\n{}\n{}",
            update.alias, update.change, update.by, update.updated_at
        );
        if !self.first_time(&delivery, DELIVERY_WINDOW).await {
            return Reflected::Repeated;
        }
        let who = self.name_of(&update.by).await;
        let status = match &update.change {
            AlertChange::Acknowledged => Some(AlertStatus::Acknowledged {
                by: who.clone(),
                at: time_of(update.updated_at),
            }),
            AlertChange::Unacknowledged => Some(AlertStatus::Open),
            AlertChange::Assigned(owner) => Some(AlertStatus::Taken {
                by: self.name_of(owner).await,
            }),
            AlertChange::Closed => Some(AlertStatus::Closed { by: who.clone() }),
            AlertChange::Note(_) | AlertChange::Escalated(_) => None,
        };
        let mut shown = false;
        if let Some(status) = status {
            shown = self
                .show_if_newer(&update.alias, status, update.updated_at)
                .await;
        }
        let system = self.system();
        let reply = match &update.change {
            _ if update.from_bot => None,
            AlertChange::Note(note) => Some(format!(
                "Note from {who}: {}",
                escape(&truncate_chars(note.trim(), MAX_NOTE_CHARS))
            )),
            AlertChange::Acknowledged => Some(format!("{who} acknowledged it in {system}.")),
            AlertChange::Unacknowledged => {
                Some(format!("{who} took back the acknowledgement in {system}."))
            }
            AlertChange::Assigned(owner) => Some(format!(
                "{who} made {} its owner in {system}.",
                self.name_of(owner).await
            )),
            AlertChange::Escalated(to) => {
                Some(format!("{who} escalated it in {system} to {}.", escape(to)))
            }
            AlertChange::Closed => Some(format!("{who} closed it in {system}.")),
        };
        if let Some(reply) = reply {
            match self
                .slack
                .post_in_thread(&place.channel, &place.thread_ts, &reply)
                .await
            {
                Ok(()) => shown = true,
                Err(error) => {
                    tracing::warn!(%error, "could not post the alert's news in its thread")
                }
            }
        }
        if shown {
            Reflected::Shown
        } else {
            Reflected::Unchanged
        }
    }

    /// Reflects a delivery that names its alert and who acted by the
    /// provider's ids (PagerDuty's): the alias and the people's emails looked
    /// up, then as any delivery. What the bot itself did moments ago is not
    /// said again.
    pub async fn reflect_event(&self, event: &IncidentEvent) -> Reflected {
        let alias = match &event.alias {
            Some(alias) => alias.clone(),
            None => match self.provider.alias_of(&event.incident).await {
                Ok(Some(alias)) => alias,
                Ok(None) => return Reflected::NotOurs,
                Err(error) => {
                    tracing::warn!(%error, "could not look up the incident of a webhook delivery");
                    return Reflected::Unchanged;
                }
            },
        };
        if self.aliases.place_of(&alias).is_none() {
            return Reflected::NotOurs;
        }
        let email = |id: Option<String>| async move {
            let id = id?;
            self.provider.email_of(&id).await.ok().flatten()
        };
        let by = email(event.actor.clone())
            .await
            .unwrap_or_else(|| event.actor_name.clone());
        let (change, kind) = match &event.change {
            AlertChange::Assigned(user) => (
                AlertChange::Assigned(
                    email(Some(user.clone()))
                        .await
                        .unwrap_or_else(|| user.clone()),
                ),
                "assigned",
            ),
            AlertChange::Acknowledged => (AlertChange::Acknowledged, "acknowledged"),
            AlertChange::Closed => (AlertChange::Closed, "closed"),
            other => (other.clone(), ""),
        };
        let from_bot = !kind.is_empty() && self.done_here.contains_key(&format!("{alias}\n{kind}"));
        self.reflect(&AlertUpdate {
            alias,
            change,
            by,
            from_bot,
            updated_at: event.updated_at,
        })
        .await
    }

    /// Acts on the alert as the Slack user `actor` names, when they may: of
    /// this workspace (or its organisation, or an allowed team), and no guest
    /// unless guests may.
    async fn act(&self, alias: &str, action: AlertAction, actor: Actor<'_>) -> Acted {
        let user = actor.user;
        let person = match self.slack.user(user).await {
            Ok(person) => person,
            Err(error) => {
                tracing::warn!(%error, "could not look up who acted; nothing done");
                return Acted::Refused(format!(
                    "I could not check who you are in Slack, so I did not {} the alert. \
                     Please try again in a minute.",
                    action.as_str()
                ));
            }
        };
        let who = Affiliation::of(
            actor.team,
            actor.enterprise,
            person.team_id.as_deref(),
            person.enterprise_id.as_deref(),
        );
        if !workspace::belongs(&self.home, &who, &self.allowed_teams) {
            tracing::info!(%user, "someone of another workspace asked to act on an alert; refused");
            return Acted::Refused(OUTSIDER_TEXT.to_owned());
        }
        if person.guest && !self.guests {
            tracing::info!(%user, "a guest asked to act on an alert; refused");
            return Acted::Refused(GUEST_TEXT.to_owned());
        }
        let key = format!("action\n{alias}\n{}\n{user}", action.as_str());
        if !self.first_time(&key, SAME_ACTION_WINDOW).await {
            tracing::info!(
                action = action.as_str(),
                "the same action moments ago; done once"
            );
            return Acted::Repeated;
        }
        // The provider is told who acted by their email (PagerDuty acts as
        // them through `From`): a display name anyone can set is never used.
        let Some(acting) = person.email.clone() else {
            tracing::info!(%user, "someone without an email in Slack asked to act on an alert; refused");
            return Acted::Refused(NO_EMAIL_TEXT.to_owned());
        };
        let note = format!("{} from Slack through oncall-bot", action.label());
        let by = ActingUser {
            user: &acting,
            note: &note,
        };
        let done = match action {
            AlertAction::Acknowledge => {
                self.provider
                    .act_on_alert(alias, AlertVerb::Acknowledge, by)
                    .await
            }
            AlertAction::Close => {
                self.provider
                    .act_on_alert(alias, AlertVerb::Close, by)
                    .await
            }
            AlertAction::Take => {
                match self
                    .provider
                    .act_on_alert(alias, AlertVerb::Acknowledge, by)
                    .await
                {
                    Ok(()) => {
                        self.provider
                            .act_on_alert(alias, AlertVerb::Assign { owner: &acting }, by)
                            .await
                    }
                    Err(error) => Err(error),
                }
            }
        };
        let mention = format!("<@{user}>");
        match done {
            Ok(()) => {
                tracing::info!(action = action.as_str(), "alert action done");
                let changes: &[&str] = match action {
                    AlertAction::Acknowledge => &["acknowledged"],
                    AlertAction::Take => &["acknowledged", "assigned"],
                    AlertAction::Close => &["closed"],
                };
                for change in changes {
                    self.done_here
                        .insert(format!("{alias}\n{change}"), ())
                        .await;
                }
                Acted::Done(match action {
                    AlertAction::Acknowledge => AlertStatus::Acknowledged {
                        by: mention,
                        at: SystemTime::now(),
                    },
                    AlertAction::Take => AlertStatus::Taken { by: mention },
                    AlertAction::Close => AlertStatus::Closed { by: mention },
                })
            }
            Err(error) => {
                // Free to try again: nothing happened.
                self.forget(&key).await;
                tracing::warn!(action = action.as_str(), %error, "alert action not done");
                let system = self.system();
                Acted::Refused(match error {
                    ActionError::Refused(reason) => format!(
                        "{system} did not {} the alert: {}. Nothing changed.",
                        action.as_str(),
                        escape(reason.trim_end_matches('.'))
                    ),
                    ActionError::Failed(_) => format!(
                        "I could not reach {system} to {} the alert; nothing changed. \
                         Please try again in a minute.",
                        action.as_str()
                    ),
                })
            }
        }
    }

    /// Shows `status` on the thread's card: on the message given (a click), else
    /// on the one remembered.
    async fn show(
        &self,
        alias: &str,
        status: &AlertStatus,
        on: Option<(&str, &str)>,
        answer_text: Option<String>,
    ) {
        let remembered = self.card_of(alias).await;
        let target = {
            let remembered = remembered.as_ref().map(|card| {
                let mut card = card.lock().unwrap_or_else(PoisonError::into_inner);
                card.status = status.clone();
                card.clone()
            });
            if let Some(card) = &remembered {
                self.share_card(alias, card).await;
            }
            let remembered =
                remembered.map(|card| (card.channel, card.answer_ts, card.answer_text));
            match (on, remembered) {
                (Some((channel, ts)), remembered) => Some((
                    channel.to_owned(),
                    ts.to_owned(),
                    answer_text
                        .or(remembered.map(|(_, _, text)| text))
                        .unwrap_or_default(),
                )),
                (None, remembered) => remembered,
            }
        };
        let Some((channel, ts, text)) = target else {
            return;
        };
        let message = ThreadMessage {
            text,
            card: Some(self.card(alias, status)),
            buttons: Vec::new(),
        };
        if let Err(error) = self.slack.update_message(&channel, &ts, &message).await {
            tracing::warn!(%error, "could not update the answer's alert state");
        }
    }

    /// Shows a webhook's state when it is newer than what the card shows.
    async fn show_if_newer(&self, alias: &str, status: AlertStatus, updated_at: u128) -> bool {
        let Some(card) = self.card_of(alias).await else {
            return false;
        };
        // Across replicas, the newest delivery seen anywhere wins (in
        // microseconds: exact in Redis's Lua numbers).
        let micros = u64::try_from(updated_at / 1_000).unwrap_or(u64::MAX);
        let newer_anywhere = self
            .shared
            .advance(&format!("card-at:{alias}"), micros, CARD_TTL)
            .await;
        {
            let mut card = card.lock().unwrap_or_else(PoisonError::into_inner);
            let newer = newer_anywhere.unwrap_or(updated_at > card.updated_at);
            if !newer {
                tracing::info!("an older webhook delivery; the thread keeps the newer state");
                return false;
            }
            card.updated_at = card.updated_at.max(updated_at);
            if card.status == status {
                return false;
            }
        }
        self.show(alias, &status, None, None).await;
        true
    }

    /// A provider username (an email) as the thread shows it: a mention when it
    /// is someone's Slack email, else the name, escaped.
    async fn name_of(&self, username: &str) -> String {
        if username.contains('@') {
            if let Ok(Some(user)) = self
                .directory
                .slack_user(&Person::with_email(username))
                .await
            {
                return format!("<@{user}>");
            }
        }
        if username.trim().is_empty() {
            return "someone".to_owned();
        }
        escape(username)
    }

    /// Records `key`; false when it was recorded within `window`, here or (with
    /// shared state) by any replica.
    async fn first_time(&self, key: &str, window: Duration) -> bool {
        if let Some(first) = self.shared.claim(&once_key(key), window).await {
            return first;
        }
        self.recent(window)
            .entry_by_ref(key)
            .or_insert(())
            .await
            .is_fresh()
    }

    fn recent(&self, window: Duration) -> &Cache<String, ()> {
        if window <= SAME_ACTION_WINDOW {
            &self.recent_actions
        } else {
            &self.recent_deliveries
        }
    }

    async fn forget(&self, key: &str) {
        self.shared.release(&once_key(key)).await;
        self.recent_actions.invalidate(key).await;
        self.recent_deliveries.invalidate(key).await;
    }
}

enum Acted {
    Done(AlertStatus),
    Repeated,
    /// Nothing happened; the words say why.
    Refused(String),
}

pub const OUTSIDER_TEXT: &str =
    "Only people of this workspace can act on its alerts; nothing changed.";

pub const GUEST_TEXT: &str = "Guests of this workspace cannot act on its alerts; nothing changed.";

pub const NOT_IN_THREAD_TEXT: &str =
    "Write that in the thread of the alert you mean: there is no alert here.";

fn card_key(alias: &str) -> String {
    format!("card:{alias}")
}

fn thread_key(channel: &str, thread_ts: &str) -> String {
    format!("thread:{channel}:{thread_ts}")
}

/// A shared key for "seen once": hashed, as the local key carries a webhook's
/// usernames and notes' hashes of no fixed length.
fn once_key(key: &str) -> String {
    format!(
        "once:{}",
        &hex::encode(Sha256::digest(key.as_bytes()))[..32]
    )
}

/// A webhook's `updatedAt` (nanoseconds) as a time.
fn time_of(updated_at: u128) -> SystemTime {
    let nanos = u64::try_from(updated_at).unwrap_or(u64::MAX);
    match updated_at {
        0 => SystemTime::now(),
        _ => SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_has_its_line_and_a_closed_alert_no_buttons() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_460_000);
        let acknowledged = AlertStatus::Acknowledged {
            by: "<@UALICE>".into(),
            at,
        };
        assert_eq!(
            acknowledged.line("OpsGenie"),
            "Acknowledged by <@UALICE> at <!date^1795460000^{date_short_pretty} {time}|2026-11-23T18:53:20Z>"
        );
        assert_eq!(
            acknowledged.actions(),
            [AlertAction::Take, AlertAction::Close]
        );
        assert_eq!(
            AlertStatus::Taken {
                by: "<@UBOB>".into()
            }
            .line("OpsGenie"),
            "Taken by <@UBOB>"
        );
        let closed = AlertStatus::Closed {
            by: "<@UCAROL>".into(),
        };
        assert_eq!(closed.line("OpsGenie"), "Closed by <@UCAROL>");
        assert!(closed.actions().is_empty());
        assert_eq!(AlertStatus::Open.actions().len(), 3);
    }

    #[test]
    fn webhook_times_read_as_nanoseconds() {
        assert_eq!(
            time_of(1_795_460_000_123_000_000),
            SystemTime::UNIX_EPOCH + Duration::from_nanos(1_795_460_000_123_000_000)
        );
    }
}
