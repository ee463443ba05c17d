//! Slack's slash command requests (`/oncall …`) turned into the bot's own type.
//! They arrive form-encoded on the HTTP route, and as the `payload` object of a
//! `slash_commands` Socket Mode envelope; both carry the same fields.

use std::collections::HashMap;

use crate::model::SlashCommand;

/// Why a request is not a command the bot answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotACommand {
    #[error("the request lacks `{0}`")]
    Missing(&'static str),
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
}

/// From the form-encoded body of `POST /slack/commands`.
pub fn command_of_form(body: &[u8]) -> Result<SlashCommand, NotACommand> {
    let fields: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    command_of(|name| fields.get(name).cloned())
}

/// From a Socket Mode `slash_commands` envelope's payload.
pub fn command_of_json(payload: &[u8]) -> Result<SlashCommand, NotACommand> {
    let fields: HashMap<String, serde_json::Value> =
        serde_json::from_slice(payload).map_err(|error| NotACommand::NotJson(error.to_string()))?;
    command_of(|name| {
        fields
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    })
}

fn command_of(field: impl Fn(&str) -> Option<String>) -> Result<SlashCommand, NotACommand> {
    let required = |name: &'static str| {
        field(name)
            .filter(|value| !value.is_empty())
            .ok_or(NotACommand::Missing(name))
    };
    Ok(SlashCommand {
        user: required("user_id")?,
        user_team: field("team_id").filter(|team| !team.is_empty()),
        channel: required("channel_id")?,
        text: field("text").unwrap_or_default(),
        response_url: required("response_url")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_and_the_envelope_payload_read_alike() {
        let form = b"token=x&team_id=T1&channel_id=C1&user_id=U1&command=%2Foncall\
&text=payments+on+saturday&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1";
        let from_form = command_of_form(form).expect("a command");
        assert_eq!(from_form.text, "payments on saturday");
        assert_eq!(from_form.response_url, "https://hooks.slack.com/commands/1");
        let json = br#"{"team_id":"T1","channel_id":"C1","user_id":"U1","command":"/oncall",
            "text":"payments on saturday","response_url":"https://hooks.slack.com/commands/1"}"#;
        assert_eq!(command_of_json(json), Ok(from_form));
        assert_eq!(
            command_of_form(b"channel_id=C1&response_url=x"),
            Err(NotACommand::Missing("user_id"))
        );
        assert!(command_of_json(b"not json").is_err());
    }
}
