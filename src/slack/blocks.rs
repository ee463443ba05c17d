//! Block Kit for what the bot posts: the thread answer with an alert (the
//! answer, the alert's state, its buttons) and the buttons about taking the
//! call and asking for cover. Built from slack-morphism's model types (the
//! crate's models only: the transport stays ours, see ARCHITECTURE.md), and
//! serialised for the Web API client. The alert buttons carry the alert's
//! alias as their value, so a click names its alert without the bot
//! remembering anything.

use serde_json::Value;
use slack_morphism::blocks::{
    SlackActionBlockElement, SlackActionsBlock, SlackBlock, SlackBlockButtonElement,
    SlackBlockButtonStyle, SlackBlockMarkDownText, SlackBlockPlainText, SlackContextBlock,
    SlackContextBlockElement, SlackSectionBlock,
};

use crate::model::{AlertAction, OverrideButton, ThreadMessage};

/// Slack refuses a section whose text is longer than this.
pub const MAX_SECTION_CHARS: usize = 3_000;

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
/// "I'll cover" under a request for cover; its value is the request's id.
pub const COVER_TAKE: &str = "cover_take";
/// "Withdraw" under a request for cover, for its asker.
pub const COVER_WITHDRAW: &str = "cover_withdraw";

/// The plain text Slack shows in notifications and to clients without blocks.
pub fn fallback_text(message: &ThreadMessage) -> String {
    match &message.card {
        Some(card) => format!("{}\n{}", message.text, card.status),
        None => message.text.clone(),
    }
}

/// `text` as a mrkdwn section, cut to Slack's limit (never inside a
/// character).
pub fn section(block_id: Option<&str>, text: &str) -> SlackBlock {
    let text = if text.chars().count() > MAX_SECTION_CHARS {
        let kept: String = text.chars().take(MAX_SECTION_CHARS - 1).collect();
        format!("{kept}…")
    } else {
        text.to_owned()
    };
    let mut section = SlackSectionBlock::new().with_text(SlackBlockMarkDownText::new(text).into());
    if let Some(block_id) = block_id {
        section = section.with_block_id(block_id.into());
    }
    section.into()
}

/// A button: its id, label, value and style.
pub fn button(
    action_id: &str,
    label: &str,
    value: &str,
    style: Option<SlackBlockButtonStyle>,
) -> SlackActionBlockElement {
    let mut button = SlackBlockButtonElement::new(SlackBlockPlainText::new(label.into()).into())
        .with_action_id(action_id.into())
        .with_value(value.to_owned());
    if let Some(style) = style {
        button = button.with_style(style);
    }
    button.into()
}

/// The message's blocks: a section with the answer, a context line with the
/// alert's state and its buttons while there are any, and the buttons about
/// taking the call.
pub fn message_blocks(message: &ThreadMessage) -> Vec<SlackBlock> {
    let mut blocks = vec![section(Some(ANSWER_BLOCK), &message.text)];
    if let Some(card) = &message.card {
        blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(card.status.clone()),
            )])
            .with_block_id(STATUS_BLOCK.into())
            .into(),
        );
        if !card.actions.is_empty() {
            let buttons = card
                .actions
                .iter()
                .map(|action| {
                    let style = match action {
                        AlertAction::Take => Some(SlackBlockButtonStyle::Primary),
                        AlertAction::Close => Some(SlackBlockButtonStyle::Danger),
                        AlertAction::Acknowledge => None,
                    };
                    button(
                        &format!("{ACTION_PREFIX}{}", action.as_str()),
                        action.label(),
                        &card.alias,
                        style,
                    )
                })
                .collect();
            blocks.push(
                SlackActionsBlock::new(buttons)
                    .with_block_id(ACTIONS_BLOCK.into())
                    .into(),
            );
        }
    }
    if !message.buttons.is_empty() {
        let buttons = message
            .buttons
            .iter()
            .map(|override_button| match override_button {
                OverrideButton::Confirm { request } => button(
                    CONFIRM_TAKE,
                    "Confirm",
                    request,
                    Some(SlackBlockButtonStyle::Primary),
                ),
                OverrideButton::Undo { made } => {
                    button(UNDO_TAKE, "Undo", made, Some(SlackBlockButtonStyle::Danger))
                }
                OverrideButton::Cover { request } => button(
                    COVER_TAKE,
                    "I'll cover",
                    request,
                    Some(SlackBlockButtonStyle::Primary),
                ),
                OverrideButton::Withdraw { request } => {
                    button(COVER_WITHDRAW, "Withdraw", request, None)
                }
            })
            .collect();
        blocks.push(
            SlackActionsBlock::new(buttons)
                .with_block_id("take_call".into())
                .into(),
        );
    }
    blocks
}

/// [`message_blocks`] as the JSON the Web API takes.
pub fn blocks(message: &ThreadMessage) -> Value {
    serde_json::to_value(message_blocks(message)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertCard;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/data/slack/blocks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        serde_json::from_str(&text).expect("JSON")
    }

    fn card() -> ThreadMessage {
        ThreadMessage {
            text: "On call for *SRE_schedule* right now: <@UALICE>".into(),
            card: Some(AlertCard {
                alias: "slack-C1-1700000000.000100-0123456789abcdef".into(),
                status: "Alert open in OpsGenie: nobody has acknowledged it yet.".into(),
                actions: vec![
                    AlertAction::Acknowledge,
                    AlertAction::Take,
                    AlertAction::Close,
                ],
            }),
            buttons: Vec::new(),
        }
    }

    #[test]
    fn the_alert_card_and_the_confirm_prompt_are_what_the_bot_sent_before_slack_morphism() {
        assert_eq!(blocks(&card()), fixture("alert_card.json"));
        let confirm = ThreadMessage::plain("<@UBOB>, take the call?".into()).with_button(
            OverrideButton::Confirm {
                request: "0123456789abcdef".into(),
            },
        );
        assert_eq!(blocks(&confirm), fixture("take_call_confirm.json"));
    }

    #[test]
    fn a_card_has_the_answer_its_state_and_one_button_per_action() {
        let message = card();
        let blocks = blocks(&message);
        assert_eq!(
            blocks[1]["elements"][0]["text"],
            message
                .card
                .as_ref()
                .map(|c| c.status.clone())
                .unwrap_or_default()
        );
        let buttons = blocks[2]["elements"].as_array().expect("buttons");
        let ids: Vec<&str> = buttons
            .iter()
            .filter_map(|b| b["action_id"].as_str())
            .collect();
        assert_eq!(ids, ["alert_acknowledge", "alert_take", "alert_close"]);
        assert_eq!(
            fallback_text(&message),
            format!(
                "{}\n{}",
                message.text, "Alert open in OpsGenie: nobody has acknowledged it yet."
            )
        );
        let closed = ThreadMessage {
            card: message.card.clone().map(|card| AlertCard {
                actions: Vec::new(),
                ..card
            }),
            ..message
        };
        assert_eq!(
            message_blocks(&closed).len(),
            2,
            "a closed alert has no buttons"
        );
        let long = ThreadMessage::plain("x".repeat(5_000));
        assert_eq!(
            super::blocks(&long)[0]["text"]["text"]
                .as_str()
                .map(|t| t.chars().count()),
            Some(MAX_SECTION_CHARS)
        );
        let cover = ThreadMessage::plain("Dana needs cover".into())
            .with_button(OverrideButton::Cover {
                request: "r1".into(),
            })
            .with_button(OverrideButton::Withdraw {
                request: "r1".into(),
            });
        let elements = &super::blocks(&cover)[1]["elements"];
        assert_eq!(elements[0]["action_id"], COVER_TAKE);
        assert_eq!(elements[1]["action_id"], COVER_WITHDRAW);
    }
}
