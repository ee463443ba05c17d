//! The outgoing webhook of OpsGenie (and of JSM Operations, which kept its
//! shape): one alert action per delivery, turned into an [`AlertUpdate`].
//!
//! The body carries `action`, `alert.alias`, `alert.username` (who acted),
//! `alert.updatedAt` and, per action, `alert.note`, `alert.owner` or
//! `alert.escalationName`; alert details come only with `Create`. The parser is
//! lenient: unknown fields are ignored, missing optional ones tolerated.

use serde::Deserialize;

use crate::model::{AlertChange, AlertUpdate};

/// The `source` the bot sets on what it does, so that its own actions are told
/// from people's when they come back.
pub const BOT_SOURCE: &str = "oncall-bot";

/// Why a delivery is not an update the bot reflects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is not a webhook delivery: {0}")]
    Malformed(String),
    #[error("the action `{0}` is not one the bot reflects")]
    OtherAction(String),
}

#[derive(Deserialize)]
struct Delivery {
    action: String,
    alert: Alert,
    source: Option<Source>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    #[serde(default)]
    alias: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    updated_at: Option<serde_json::Number>,
    note: Option<String>,
    owner: Option<String>,
    escalation_name: Option<String>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(default)]
    name: String,
}

/// Reads one delivery.
pub fn parse_alert_update(body: &[u8]) -> Result<AlertUpdate, WebhookError> {
    let delivery: Delivery =
        serde_json::from_slice(body).map_err(|error| WebhookError::Malformed(error.to_string()))?;
    let alert = delivery.alert;
    let change = match delivery.action.as_str() {
        "Acknowledge" => AlertChange::Acknowledged,
        "UnAcknowledge" => AlertChange::Unacknowledged,
        "AssignOwnership" => AlertChange::Assigned(alert.owner.unwrap_or_default()),
        "AddNote" => AlertChange::Note(alert.note.unwrap_or_default()),
        "Escalate" => AlertChange::Escalated(alert.escalation_name.unwrap_or_default()),
        "Close" => AlertChange::Closed,
        other => return Err(WebhookError::OtherAction(other.to_owned())),
    };
    // `source.name` says through what the action came (the bot sets its own on
    // its calls); the alert's own `source` is only who created it.
    let from_bot = delivery
        .source
        .is_some_and(|source| source.name == BOT_SOURCE);
    // Nanoseconds in OpsGenie's samples; milliseconds are scaled up, so that
    // either compares correctly with the other.
    let updated_at = alert
        .updated_at
        .and_then(|number| number.as_u64())
        .map_or(0, |value| {
            let value = u128::from(value);
            if value < 10_000_000_000_000 {
                value * 1_000_000
            } else {
                value
            }
        });
    Ok(AlertUpdate {
        alias: alert.alias,
        change,
        by: alert.username,
        from_bot,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(name: &str) -> String {
        let path = format!(
            "{}/tests/data/opsgenie/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    #[test]
    fn every_documented_action_reads_as_its_change() {
        let cases = [
            ("webhook_acknowledge.json", AlertChange::Acknowledged),
            ("webhook_unacknowledge.json", AlertChange::Unacknowledged),
            (
                "webhook_assign_ownership.json",
                AlertChange::Assigned("bob@example.com".into()),
            ),
            (
                "webhook_add_note.json",
                AlertChange::Note("Rolling back the 14:02 deploy".into()),
            ),
            (
                "webhook_escalate.json",
                AlertChange::Escalated("SRE_escalation".into()),
            ),
            ("webhook_close.json", AlertChange::Closed),
        ];
        for (file, change) in cases {
            let update = parse_alert_update(contract(file).as_bytes()).expect(file);
            assert_eq!(update.change, change, "{file}");
            assert_eq!(update.alias, "ALIAS-AS-THE-BOT-MADE-IT");
            assert_eq!(update.by, "carol@example.com");
            assert!(!update.from_bot, "acted on in the web UI");
            assert!(update.updated_at >= 1_795_460_000_123_000_000, "{file}");
        }
    }

    #[test]
    fn the_bots_own_actions_are_told_and_milliseconds_compare_with_nanoseconds() {
        let body = br#"{"action":"Acknowledge","source":{"name":"oncall-bot","type":"api"},
            "alert":{"alias":"a","username":"x@example.com","updatedAt":1795460000123}}"#;
        let update = parse_alert_update(body).expect("update");
        assert!(update.from_bot);
        assert_eq!(update.updated_at, 1_795_460_000_123_000_000);
    }

    #[test]
    fn other_actions_and_junk_are_refused_in_words() {
        let create = br#"{"action":"Create","alert":{"alias":"a"}}"#;
        assert_eq!(
            parse_alert_update(create),
            Err(WebhookError::OtherAction("Create".into()))
        );
        assert!(matches!(
            parse_alert_update(b"{}"),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            parse_alert_update(b"not json"),
            Err(WebhookError::Malformed(_))
        ));
    }
}
