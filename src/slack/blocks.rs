//! Block Kit for the thread answer with an alert: the answer, the alert's state,
//! and its buttons. The buttons carry the alert's alias as their value, so a
//! click names its alert without the bot remembering anything.

use serde_json::{json, Value};

use crate::model::{AlertAction, OverrideButton, ThreadMessage};

/// Slack refuses a section whose text is longer than this.
const MAX_SECTION_CHARS: usize = 3_000;

/// The answer's block; its text is read back from a click's message.
pub const ANSWER_BLOCK: &str = "answer";
pub const STATUS_BLOCK: &str = "alert_status";
pub const ACTIONS_BLOCK: &str = "alert_actions";
/// Button ids are this and the action's name (`alert_acknowledge`).
pub const ACTION_PREFIX: &str = "alert_";
/// The Confirm button of a request to take the call; its value is the
/// request's id.
pub const CONFIRM_TAKE: &str = "take_call_confirm";
/// The Undo button under an override the bot made; its value is the
/// override's id.
pub const UNDO_TAKE: &str = "take_call_undo";

/// The plain text Slack shows in notifications and to clients without blocks.
pub fn fallback_text(message: &ThreadMessage) -> String {
    match &message.card {
        Some(card) => format!("{}\n{}", message.text, card.status),
        None => message.text.clone(),
    }
}

/// The message's blocks: a section with the answer, a context line with the
/// alert's state, and its buttons while there are any.
pub fn blocks(message: &ThreadMessage) -> Value {
    let text: String = if message.text.chars().count() > MAX_SECTION_CHARS {
        let kept: String = message.text.chars().take(MAX_SECTION_CHARS - 1).collect();
        format!("{kept}…")
    } else {
        message.text.clone()
    };
    let mut blocks = vec![json!({
        "type": "section", "block_id": ANSWER_BLOCK,
        "text": {"type": "mrkdwn", "text": text}
    })];
    if let Some(card) = &message.card {
        blocks.push(json!({
            "type": "context", "block_id": STATUS_BLOCK,
            "elements": [{"type": "mrkdwn", "text": card.status}]
        }));
        if !card.actions.is_empty() {
            let buttons: Vec<Value> = card
                .actions
                .iter()
                .map(|action| {
                    let mut button = json!({
                        "type": "button",
                        "action_id": format!("{ACTION_PREFIX}{}", action.as_str()),
                        "text": {"type": "plain_text", "text": action.label()},
                        "value": card.alias,
                    });
                    match action {
                        AlertAction::Take => button["style"] = json!("primary"),
                        AlertAction::Close => button["style"] = json!("danger"),
                        AlertAction::Acknowledge => {}
                    }
                    button
                })
                .collect();
            blocks.push(json!({
                "type": "actions", "block_id": ACTIONS_BLOCK, "elements": buttons
            }));
        }
    }
    if let Some(button) = &message.button {
        let (action_id, label, value, style) = match button {
            OverrideButton::Confirm { request } => (CONFIRM_TAKE, "Confirm", request, "primary"),
            OverrideButton::Undo { made } => (UNDO_TAKE, "Undo", made, "danger"),
        };
        blocks.push(json!({
            "type": "actions", "block_id": "take_call",
            "elements": [{
                "type": "button", "action_id": action_id, "style": style,
                "text": {"type": "plain_text", "text": label},
                "value": value,
            }]
        }));
    }
    Value::Array(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertCard;

    #[test]
    fn a_card_has_the_answer_its_state_and_one_button_per_action() {
        let message = ThreadMessage {
            text: "On call: <@U1>".into(),
            button: None,
            card: Some(AlertCard {
                alias: "slack-C1-1.1".into(),
                status: "Alert open".into(),
                actions: vec![
                    AlertAction::Acknowledge,
                    AlertAction::Take,
                    AlertAction::Close,
                ],
            }),
        };
        let blocks = blocks(&message);
        assert_eq!(blocks[0]["text"]["text"], "On call: <@U1>");
        assert_eq!(blocks[1]["elements"][0]["text"], "Alert open");
        let buttons = blocks[2]["elements"].as_array().expect("buttons");
        let ids: Vec<&str> = buttons
            .iter()
            .filter_map(|b| b["action_id"].as_str())
            .collect();
        assert_eq!(ids, ["alert_acknowledge", "alert_take", "alert_close"]);
        assert!(buttons.iter().all(|b| b["value"] == "slack-C1-1.1"));
        assert_eq!(fallback_text(&message), "On call: <@U1>\nAlert open");

        let closed = ThreadMessage {
            card: message.card.clone().map(|card| AlertCard {
                actions: Vec::new(),
                ..card
            }),
            ..message
        };
        assert_eq!(blocks_len(&closed), 2, "a closed alert has no buttons");
        let long = ThreadMessage::plain("x".repeat(5_000));
        assert_eq!(
            super::blocks(&long)[0]["text"]["text"]
                .as_str()
                .map(|t| t.chars().count()),
            Some(MAX_SECTION_CHARS)
        );
    }

    fn blocks_len(message: &ThreadMessage) -> usize {
        blocks(message).as_array().map_or(0, Vec::len)
    }
}
