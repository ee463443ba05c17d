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
    SlackBlockButtonStyle, SlackBlockChoiceItem, SlackBlockDateTimePickerElement,
    SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockPlainTextInputElement,
    SlackBlockPlainTextOnly, SlackBlockStaticSelectElement, SlackContextBlock,
    SlackContextBlockElement, SlackDividerBlock, SlackHeaderBlock, SlackHomeView, SlackInputBlock,
    SlackModalView, SlackSectionBlock, SlackView, SlackViewSubmissionErrorsResponse,
    SlackViewSubmissionResponse,
};
use slack_morphism::SlackCallbackId;

use crate::model::{
    AlertAction, Form, FormField, FormKind, HomeBlock, HomeTab, OverrideButton, ThreadMessage,
};

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

/// Slack refuses a view (the Home tab, a modal) with more blocks than this.
pub const MAX_VIEW_BLOCKS: usize = 100;
/// Slack refuses a select with more options than this.
pub const MAX_OPTIONS: usize = 100;
/// Slack refuses an option value longer than this.
pub const MAX_OPTION_VALUE_CHARS: usize = 150;
/// Slack refuses a header longer than this, and a plain text label too.
const MAX_HEADER_CHARS: usize = 150;
/// Slack refuses a modal title longer than this.
const MAX_TITLE_CHARS: usize = 24;
/// The longest note a form takes.
pub const MAX_NOTE_CHARS: usize = 500;

/// The Home tab's buttons, which open the forms.
pub const HOME_TAKE_CALL: &str = "home_take_call";
pub const HOME_COVER: &str = "home_cover";
/// The forms' `callback_id`s.
pub const FORM_TAKE_CALL: &str = "form_take_call";
pub const FORM_COVER: &str = "form_cover";

/// A form field's block id (and its element's action id).
pub fn field_id(field: FormField) -> &'static str {
    match field {
        FormField::Team => "team",
        FormField::When => "when",
        FormField::From => "from",
        FormField::Until => "until",
        FormField::Note => "note",
    }
}

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
    let text = cut(text, MAX_SECTION_CHARS);
    let mut section = SlackSectionBlock::new().with_text(SlackBlockMarkDownText::new(text).into());
    if let Some(block_id) = block_id {
        section = section.with_block_id(block_id.into());
    }
    section.into()
}

fn plain(text: &str, limit: usize) -> SlackBlockPlainTextOnly {
    SlackBlockPlainText::new(cut(text, limit)).into()
}

/// `text` within `limit` characters, cut with an ellipsis (never inside a
/// character).
fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() > limit {
        let kept: String = text.chars().take(limit - 1).collect();
        format!("{kept}…")
    } else {
        text.to_owned()
    }
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

/// The Home tab as Slack's `views.publish` takes it. More than
/// [`MAX_VIEW_BLOCKS`] is never sent: whoever builds the tab keeps within it,
/// and past it the tail is dropped rather than the publish failing.
pub fn home_view(tab: &HomeTab) -> Value {
    let blocks: Vec<SlackBlock> = tab
        .blocks
        .iter()
        .take(MAX_VIEW_BLOCKS)
        .map(|block| match block {
            HomeBlock::Header(text) => SlackHeaderBlock::new(plain(text, MAX_HEADER_CHARS)).into(),
            HomeBlock::Text(text) => section(None, text),
            HomeBlock::Note(text) => {
                SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                    SlackBlockMarkDownText::new(cut(text, MAX_SECTION_CHARS)),
                )])
                .into()
            }
            HomeBlock::Divider => SlackDividerBlock::new().into(),
            HomeBlock::Buttons(kinds) => SlackActionsBlock::new(
                kinds
                    .iter()
                    .map(|kind| match kind {
                        FormKind::TakeCall => button(
                            HOME_TAKE_CALL,
                            "Take the call…",
                            HOME_TAKE_CALL,
                            Some(SlackBlockButtonStyle::Primary),
                        ),
                        FormKind::Cover => button(HOME_COVER, "Ask for cover…", HOME_COVER, None),
                    })
                    .collect(),
            )
            .with_block_id("home_buttons".into())
            .into(),
        })
        .collect();
    serde_json::to_value(SlackView::Home(SlackHomeView::new(blocks))).unwrap_or(Value::Null)
}

/// An input block around `element`.
fn input(
    field: FormField,
    label: &str,
    element: impl Into<slack_morphism::blocks::SlackInputBlockElement>,
    hint: Option<&str>,
    optional: bool,
) -> SlackBlock {
    let mut block = SlackInputBlock::new(plain(label, MAX_HEADER_CHARS), element.into())
        .with_block_id(field_id(field).into())
        .with_optional(optional);
    if let Some(hint) = hint {
        block = block.with_hint(plain(hint, MAX_SECTION_CHARS));
    }
    block.into()
}

/// A form as Slack's `views.open` takes it: the team, the span in words or
/// picked, and a note (for cover).
pub fn form_view(form: &Form) -> Value {
    let choice =
        |value: &str, label: &str| SlackBlockChoiceItem::new(plain(label, 75), value.to_owned());
    let options: Vec<_> = form
        .teams
        .iter()
        .filter(|team| team.value.chars().count() <= MAX_OPTION_VALUE_CHARS)
        .take(MAX_OPTIONS)
        .map(|team| choice(&team.value, &team.label))
        .collect();
    let mut select = SlackBlockStaticSelectElement::new()
        .with_action_id(field_id(FormField::Team).into())
        .with_placeholder(plain("Pick a team", MAX_HEADER_CHARS));
    if let Some(chosen) = form
        .chosen
        .as_deref()
        .and_then(|chosen| options.iter().find(|option| option.value == chosen))
    {
        select = select.with_initial_option(chosen.clone());
    }
    let shown = options.len();
    let select = select.with_options(options);
    let team_hint = (form.teams.len() > shown)
        .then_some("Not every team fits in this list; for another, ask `@ops` in its channel.");
    let mut blocks = vec![
        input(FormField::Team, "Team", select, team_hint, false),
        input(
            FormField::When,
            "When",
            SlackBlockPlainTextInputElement::new()
                .with_action_id(field_id(FormField::When).into())
                .with_placeholder(plain("tomorrow 09:00-13:00", MAX_HEADER_CHARS))
                .with_max_length(200),
            Some("As you would write it to @ops, in your time zone; or pick a start and an end below."),
            true,
        ),
        input(
            FormField::From,
            "From",
            SlackBlockDateTimePickerElement::new().with_action_id(field_id(FormField::From).into()),
            None,
            true,
        ),
        input(
            FormField::Until,
            "Until",
            SlackBlockDateTimePickerElement::new().with_action_id(field_id(FormField::Until).into()),
            None,
            true,
        ),
    ];
    let (title, submit, callback) = match form.kind {
        FormKind::TakeCall => ("Take the call", "Next", FORM_TAKE_CALL),
        FormKind::Cover => {
            blocks.push(input(
                FormField::Note,
                "Note for the team",
                SlackBlockPlainTextInputElement::new()
                    .with_action_id(field_id(FormField::Note).into())
                    .with_multiline(true)
                    .with_max_length(MAX_NOTE_CHARS as u64),
                None,
                true,
            ));
            ("Ask for cover", "Ask", FORM_COVER)
        }
    };
    let view = SlackModalView::new(plain(title, MAX_TITLE_CHARS), blocks)
        .with_submit(plain(submit, MAX_TITLE_CHARS))
        .with_close(plain("Cancel", MAX_TITLE_CHARS))
        .with_callback_id(SlackCallbackId(callback.to_owned()));
    serde_json::to_value(SlackView::Modal(view)).unwrap_or(Value::Null)
}

/// The answer to a form's submission that keeps it open with `errors`
/// beside their fields.
pub fn form_errors(errors: &[(FormField, String)]) -> Value {
    let errors = errors
        .iter()
        .map(|(field, text)| (field_id(*field).to_owned(), cut(text, MAX_SECTION_CHARS)))
        .collect();
    serde_json::to_value(SlackViewSubmissionResponse::Errors(
        SlackViewSubmissionErrorsResponse::new(errors),
    ))
    .unwrap_or(Value::Null)
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

    fn home() -> HomeTab {
        HomeTab {
            blocks: vec![
                HomeBlock::Header("Who is on call".into()),
                HomeBlock::Note("As of now, in your time zone.".into()),
                HomeBlock::Buttons(vec![FormKind::TakeCall, FormKind::Cover]),
                HomeBlock::Divider,
                HomeBlock::Text("*payments*\n• primary (Weekly): <@UALICE>".into()),
            ],
        }
    }

    fn cover_form() -> Form {
        Form {
            kind: FormKind::Cover,
            teams: vec![
                crate::model::FormChoice {
                    value: "default".into(),
                    label: "SRE_schedule".into(),
                },
                crate::model::FormChoice {
                    value: "team:payments".into(),
                    label: "payments".into(),
                },
            ],
            chosen: Some("team:payments".into()),
        }
    }

    #[test]
    fn the_home_tab_and_a_form_are_the_views_slack_documents() {
        if std::env::var_os("ONCALL_BOT_WRITE_FIXTURES").is_some() {
            println!(
                "{}",
                serde_json::to_string_pretty(&home_view(&home())).unwrap_or_default()
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&form_view(&cover_form())).unwrap_or_default()
            );
        }
        assert_eq!(home_view(&home()), fixture("home_tab.json"));
        assert_eq!(form_view(&cover_form()), fixture("cover_form.json"));
        let errors = form_errors(&[(FormField::When, "Pick a time.".into())]);
        assert_eq!(
            errors,
            serde_json::json!({"response_action": "errors", "errors": {"when": "Pick a time."}})
        );
    }

    #[test]
    fn a_view_never_carries_more_than_slack_takes() {
        let many = HomeTab {
            blocks: vec![HomeBlock::Divider; 150],
        };
        assert_eq!(
            home_view(&many)["blocks"].as_array().map(Vec::len),
            Some(MAX_VIEW_BLOCKS)
        );
        let teams = (0..130)
            .map(|n| crate::model::FormChoice {
                value: format!(
                    "team:{n}{}",
                    if n == 0 {
                        "x".repeat(200)
                    } else {
                        String::new()
                    }
                ),
                label: "l".repeat(100),
            })
            .collect();
        let form = form_view(&Form {
            kind: FormKind::TakeCall,
            teams,
            chosen: None,
        });
        let options = form["blocks"][0]["element"]["options"]
            .as_array()
            .expect("options");
        assert_eq!(
            options.len(),
            MAX_OPTIONS,
            "the first, too long a value, left out"
        );
        assert_eq!(options[0]["value"], "team:1");
        assert!(options[0]["text"]["text"]
            .as_str()
            .is_some_and(|text| text.chars().count() == 75));
        assert_eq!(form["callback_id"], FORM_TAKE_CALL);
        assert_eq!(
            form["blocks"].as_array().map(Vec::len),
            Some(4),
            "no note to take the call"
        );
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
