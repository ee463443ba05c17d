//! Slack's interactivity payloads (a click on one of the bot's buttons) turned
//! into the bot's own types. They arrive form-encoded (`payload=<json>`) on the
//! HTTP route, and as the `payload` of an `interactive` Socket Mode envelope.

use serde::Deserialize;

use std::collections::HashMap;

use super::blocks::{
    field_id, ACTION_PREFIX, ANSWER_BLOCK, CONFIRM_TAKE, COVER_TAKE, COVER_WITHDRAW, FORM_COVER,
    FORM_TAKE_CALL, HOME_COVER, HOME_TAKE_CALL, UNDO_TAKE,
};
use super::events::NotJson;
use crate::model::{
    AlertAction, Click, FormField, FormKind, FormOpening, FormSubmission, OverrideButton,
    OverrideClick,
};

/// What an interaction payload asks of the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Click(Box<Click>),
    /// The Confirm or Undo button of a request to take the call.
    Override(Box<OverrideClick>),
    /// A Home tab button that opens a form.
    OpenForm(FormOpening),
    /// A form submitted: answered in the acknowledgement itself when it is
    /// wrong (Slack shows the errors in the form).
    Submit(Box<FormSubmission>),
    /// Not one of the bot's alert buttons (another kind of interaction, or a
    /// payload missing what a click needs): acked and dropped.
    Ignored(&'static str),
}

/// The JSON in a form-encoded interactivity request's `payload` field.
pub fn payload_of_form(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned())
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type", default)]
    kind: String,
    response_url: Option<String>,
    user: Option<User>,
    team: Option<Team>,
    enterprise: Option<Team>,
    channel: Option<Channel>,
    container: Option<Container>,
    message: Option<Message>,
    #[serde(default)]
    actions: Vec<Action>,
    trigger_id: Option<String>,
    view: Option<View>,
}

/// A submitted form, as far as the bot reads it.
#[derive(Deserialize)]
struct View {
    id: Option<String>,
    #[serde(default)]
    callback_id: String,
    state: Option<ViewState>,
}

#[derive(Deserialize)]
struct ViewState {
    /// Block id → action id → what was entered.
    #[serde(default)]
    values: HashMap<String, HashMap<String, Entered>>,
}

/// What one input holds: text, a picked option, or a picked moment.
#[derive(Deserialize)]
struct Entered {
    value: Option<String>,
    selected_option: Option<Picked>,
    selected_date_time: Option<i64>,
}

#[derive(Deserialize)]
struct Picked {
    value: String,
}

#[derive(Deserialize)]
struct User {
    id: String,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct Team {
    id: String,
    /// The organisation, when a per-workspace install of an Enterprise Grid
    /// organisation puts it only here.
    enterprise_id: Option<String>,
}

#[derive(Deserialize)]
struct Channel {
    id: String,
}

#[derive(Deserialize)]
struct Container {
    channel_id: Option<String>,
    message_ts: Option<String>,
    thread_ts: Option<String>,
    #[serde(default)]
    is_ephemeral: bool,
}

#[derive(Deserialize)]
struct Message {
    ts: Option<String>,
    thread_ts: Option<String>,
    #[serde(default)]
    blocks: Vec<Block>,
}

#[derive(Deserialize)]
struct Block {
    block_id: Option<String>,
    text: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
struct Action {
    #[serde(default)]
    action_id: String,
    value: Option<String>,
    #[serde(default)]
    action_ts: String,
}

/// The clicker's workspace (theirs, else the payload's) and organisation (the
/// payload's, else its team's, where a per-workspace install of an Enterprise
/// Grid organisation puts it).
fn affiliation(
    user_team: Option<String>,
    team: Option<Team>,
    enterprise: Option<Team>,
) -> (Option<String>, Option<String>) {
    let enterprise = enterprise
        .map(|enterprise| enterprise.id)
        .or_else(|| team.as_ref()?.enterprise_id.clone());
    (user_team.or_else(|| team.map(|team| team.id)), enterprise)
}

impl Interaction {
    /// A click on Confirm or Undo, with where it happened.
    fn override_click(payload: Payload, button: OverrideButton) -> Self {
        let container = payload.container;
        let channel = payload
            .channel
            .map(|channel| channel.id)
            .or_else(|| container.as_ref().and_then(|c| c.channel_id.clone()));
        let (Some(user), Some(channel)) = (payload.user, channel) else {
            return Self::Ignored("a click on Confirm or Undo without its user or channel");
        };
        let (user_team, enterprise) =
            affiliation(user.team_id.clone(), payload.team, payload.enterprise);
        let message = payload.message;
        Self::Override(Box::new(OverrideClick {
            button,
            enterprise,
            user_team,
            user: user.id,
            channel,
            message_ts: message
                .as_ref()
                .and_then(|message| message.ts.clone())
                .or_else(|| container.as_ref().and_then(|c| c.message_ts.clone())),
            thread_ts: message
                .and_then(|message| message.thread_ts)
                .or_else(|| container.as_ref().and_then(|c| c.thread_ts.clone())),
            ephemeral: container.as_ref().is_some_and(|c| c.is_ephemeral),
            response_url: payload.response_url,
        }))
    }

    /// A submitted form of the bot's, with what was entered in it.
    fn submission(payload: Payload) -> Self {
        let Some(view) = payload.view else {
            return Self::Ignored("a submission without its view");
        };
        let kind = match view.callback_id.as_str() {
            FORM_TAKE_CALL => FormKind::TakeCall,
            FORM_COVER => FormKind::Cover,
            _ => return Self::Ignored("not one of the bot's forms"),
        };
        let Some(user) = payload.user else {
            return Self::Ignored("a submission without its user");
        };
        let mut values = view.state.map(|state| state.values).unwrap_or_default();
        let mut take = |field: FormField| -> Option<Entered> {
            values.get_mut(field_id(field))?.remove(field_id(field))
        };
        let text = |entered: Option<Entered>| {
            entered
                .and_then(|entered| entered.value)
                .filter(|value| !value.trim().is_empty())
        };
        let (user_team, enterprise) =
            affiliation(user.team_id.clone(), payload.team, payload.enterprise);
        Self::Submit(Box::new(FormSubmission {
            kind,
            view_id: view.id,
            enterprise,
            user_team,
            user: user.id,
            team: take(FormField::Team)
                .and_then(|entered| entered.selected_option)
                .map(|picked| picked.value),
            when: text(take(FormField::When)),
            from: take(FormField::From).and_then(|entered| entered.selected_date_time),
            until: take(FormField::Until).and_then(|entered| entered.selected_date_time),
            note: text(take(FormField::Note)),
        }))
    }

    /// Reads one payload; `Err` only when it is not JSON at all.
    pub fn parse(payload: &[u8]) -> Result<Self, NotJson> {
        let payload: Payload = serde_json::from_slice(payload)?;
        if payload.kind == "view_submission" {
            return Ok(Self::submission(payload));
        }
        if payload.kind != "block_actions" {
            return Ok(Self::Ignored("not a button click"));
        }
        let Some(action) = payload.actions.first() else {
            return Ok(Self::Ignored("no action"));
        };
        let form = match action.action_id.as_str() {
            HOME_TAKE_CALL => Some(FormKind::TakeCall),
            HOME_COVER => Some(FormKind::Cover),
            _ => None,
        };
        if let Some(kind) = form {
            let (Some(user), Some(trigger_id)) = (payload.user, payload.trigger_id) else {
                return Ok(Self::Ignored(
                    "a Home tab button without its user or trigger",
                ));
            };
            return Ok(Self::OpenForm(FormOpening {
                kind,
                user: user.id,
                trigger_id,
            }));
        }
        let button = match (action.action_id.as_str(), action.value.clone()) {
            (CONFIRM_TAKE, Some(request)) => Some(OverrideButton::Confirm { request }),
            (UNDO_TAKE, Some(made)) => Some(OverrideButton::Undo { made }),
            (COVER_TAKE, Some(request)) => Some(OverrideButton::Cover { request }),
            (COVER_WITHDRAW, Some(request)) => Some(OverrideButton::Withdraw { request }),
            (CONFIRM_TAKE | UNDO_TAKE | COVER_TAKE | COVER_WITHDRAW, None) => {
                return Ok(Self::Ignored("a button without its id"))
            }
            _ => None,
        };
        if let Some(button) = button {
            return Ok(Self::override_click(payload, button));
        }
        let Some(kind) = action
            .action_id
            .strip_prefix(ACTION_PREFIX)
            .and_then(AlertAction::from_name)
        else {
            return Ok(Self::Ignored("not one of the alert buttons"));
        };
        let (Some(user), Some(alias)) = (payload.user, action.value.clone()) else {
            return Ok(Self::Ignored("no user or no alert"));
        };
        let container = payload.container;
        let message = payload.message;
        let channel = payload
            .channel
            .map(|channel| channel.id)
            .or_else(|| container.as_ref().and_then(|c| c.channel_id.clone()));
        let message_ts = message
            .as_ref()
            .and_then(|message| message.ts.clone())
            .or_else(|| container.as_ref().and_then(|c| c.message_ts.clone()));
        let (Some(channel), Some(message_ts)) = (channel, message_ts) else {
            return Ok(Self::Ignored("not on a message"));
        };
        let thread_ts = message
            .as_ref()
            .and_then(|message| message.thread_ts.clone())
            .or_else(|| container.and_then(|c| c.thread_ts));
        let answer_text = message.and_then(|message| {
            message
                .blocks
                .into_iter()
                .find(|block| block.block_id.as_deref() == Some(ANSWER_BLOCK))
                .and_then(|block| block.text)
                .map(|text| text.text)
        });
        let (user_team, enterprise) =
            affiliation(user.team_id.clone(), payload.team, payload.enterprise);
        Ok(Self::Click(Box::new(Click {
            action: kind,
            alias,
            enterprise,
            user_team,
            user: user.id,
            channel,
            message_ts,
            thread_ts,
            answer_text,
            action_ts: action.action_ts.clone(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(name: &str) -> String {
        let path = format!(
            "{}/tests/data/slack/interactivity/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn as_ours(payload: &str) -> String {
        payload
            .replace("ACTION-ID-AS-POSTED", "alert_take")
            .replace("VALUE-AS-POSTED", "slack-C0SUPPORT-1795460000.000100")
            .replace("BLOCK-ID-AS-POSTED", "alert_actions")
    }

    #[test]
    fn slacks_block_actions_payload_reads_as_a_click() {
        let payload = as_ours(&contract("block_actions.json"));
        let Ok(Interaction::Click(click)) = Interaction::parse(payload.as_bytes()) else {
            panic!("a click");
        };
        assert_eq!(click.action, AlertAction::Take);
        assert_eq!(click.alias, "slack-C0SUPPORT-1795460000.000100");
        assert_eq!(click.user, "UALICE");
        assert_eq!(click.user_team.as_deref(), Some("T0H"));
        assert_eq!(click.enterprise, None);
        assert_eq!(click.channel, "C0SUPPORT");
        assert_eq!(click.message_ts, "1795460001.000200");
        assert_eq!(click.thread_ts.as_deref(), Some("1795460000.000100"));
        assert_eq!(click.action_ts, "1795460010.123456");
    }

    #[test]
    fn the_socket_mode_envelope_carries_the_same_payload() {
        let envelope: serde_json::Value =
            serde_json::from_str(&as_ours(&contract("socket_mode_interactive_envelope.json")))
                .expect("JSON");
        let payload = envelope["payload"].to_string();
        assert!(matches!(
            Interaction::parse(payload.as_bytes()),
            Ok(Interaction::Click(_))
        ));
    }

    #[test]
    fn other_interactions_and_foreign_buttons_are_ignored_and_junk_is_not_json() {
        let foreign = contract("block_actions.json");
        assert!(matches!(
            Interaction::parse(foreign.as_bytes()),
            Ok(Interaction::Ignored(_))
        ));
        let shortcut = r#"{"type":"shortcut","user":{"id":"U1"}}"#;
        assert!(matches!(
            Interaction::parse(shortcut.as_bytes()),
            Ok(Interaction::Ignored(_))
        ));
        let no_value = as_ours(&contract("block_actions.json"))
            .replace("\"value\": \"slack-C0SUPPORT-1795460000.000100\",", "");
        assert!(matches!(
            Interaction::parse(no_value.as_bytes()),
            Ok(Interaction::Ignored(_))
        ));
        assert!(Interaction::parse(b"payload=not json").is_err());
    }

    #[test]
    fn a_submitted_form_reads_as_what_was_entered_and_foreign_forms_are_ignored() {
        let payload =
            contract("view_submission.json").replace("CALLBACK-ID-AS-OPENED", "form_cover");
        let Ok(Interaction::Submit(form)) = Interaction::parse(payload.as_bytes()) else {
            panic!("a submission");
        };
        assert_eq!(
            *form,
            FormSubmission {
                kind: FormKind::Cover,
                view_id: Some("VNHU13V36".into()),
                user: "UALICE".into(),
                user_team: Some("T0H".into()),
                enterprise: None,
                team: Some("team:payments".into()),
                when: Some("tomorrow 09:00-13:00".into()),
                from: None,
                until: Some(1_795_460_000),
                note: None,
            }
        );
        let take =
            contract("view_submission.json").replace("CALLBACK-ID-AS-OPENED", "form_take_call");
        assert!(matches!(
            Interaction::parse(take.as_bytes()),
            Ok(Interaction::Submit(form)) if form.kind == FormKind::TakeCall
        ));
        let foreign = contract("view_submission.json");
        assert!(matches!(
            Interaction::parse(foreign.as_bytes()),
            Ok(Interaction::Ignored(_))
        ));
        let blank = payload.replace("\"tomorrow 09:00-13:00\"", "\"   \"");
        assert!(matches!(
            Interaction::parse(blank.as_bytes()),
            Ok(Interaction::Submit(form)) if form.when.is_none()
        ));
    }

    #[test]
    fn a_home_tab_button_reads_as_a_form_to_open_with_its_trigger() {
        let payload =
            as_ours(&contract("block_actions.json")).replace("\"alert_take\"", "\"home_cover\"");
        assert_eq!(
            Interaction::parse(payload.as_bytes()).ok(),
            Some(Interaction::OpenForm(FormOpening {
                kind: FormKind::Cover,
                user: "UALICE".into(),
                trigger_id: "1111.2222.abcd".into(),
            }))
        );
    }

    #[test]
    fn the_payload_is_read_from_the_form_body() {
        let body = b"payload=%7B%22type%22%3A%22block_actions%22%7D&other=1";
        assert_eq!(
            payload_of_form(body).as_deref(),
            Some(r#"{"type":"block_actions"}"#)
        );
        assert_eq!(payload_of_form(b"nothing=here"), None);
    }
}
