//! PagerDuty's v3 webhooks: the signature (`X-PagerDuty-Signature`: one or
//! more `v1=<hex HMAC-SHA256 of the raw body>` entries, one per active secret)
//! and the incident events the bot reflects, read into the bot's own types.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::model::{AlertChange, IncidentEvent};
use crate::providers::webhook::WebhookError;

/// At most this many signature entries are looked at: PagerDuty sends one per
/// active secret (two during a rotation); a header with thousands must not
/// cost a hash each.
const MAX_SIGNATURES: usize = 8;

/// Whether any `v1=` entry of `header` is the HMAC-SHA256 of `body` under
/// `secret`, compared in constant time. The body is hashed once; entries of
/// another version, not hex or not 32 bytes long are skipped, and only the
/// first [`MAX_SIGNATURES`] `v1=` entries count.
pub fn signature_matches(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // Each entry is checked on a clone of the state that hashed the body: only
    // the finalisation is repeated, and the crate compares in constant time.
    header
        .split(',')
        .filter_map(|entry| entry.trim().strip_prefix("v1="))
        .take(MAX_SIGNATURES)
        .filter_map(|hex_mac| hex::decode(hex_mac).ok())
        .filter(|presented| presented.len() == 32)
        .any(|presented| mac.clone().verify_slice(&presented).is_ok())
}

#[derive(Deserialize)]
struct Delivery {
    event: Event,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    id: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    occurred_at: String,
    agent: Option<Reference>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Reference {
    id: String,
    #[serde(default)]
    summary: String,
}

/// An incident, or (for `incident.annotated`) a note naming its incident.
#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    id: String,
    #[serde(default)]
    incident_key: Option<String>,
    #[serde(default)]
    assignees: Vec<Reference>,
    escalation_policy: Option<Reference>,
    /// The note's incident.
    incident: Option<Reference>,
    #[serde(default)]
    content: String,
}

/// Reads one delivery: an incident event the bot reflects, or why not.
pub fn parse_incident_event(body: &[u8]) -> Result<IncidentEvent, WebhookError> {
    let delivery: Delivery = serde_json::from_slice(body)
        .map_err(|error| WebhookError::Malformed(format!("not a v3 webhook delivery: {error}")))?;
    let event = delivery.event;
    let data = event
        .data
        .ok_or_else(|| WebhookError::Malformed("a delivery without its data".to_owned()))?;
    let change = match event.event_type.as_str() {
        "incident.acknowledged" => AlertChange::Acknowledged,
        "incident.unacknowledged" => AlertChange::Unacknowledged,
        "incident.resolved" => AlertChange::Closed,
        "incident.reassigned" => AlertChange::Assigned(
            data.assignees
                .first()
                .map(|assignee| assignee.id.clone())
                .unwrap_or_default(),
        ),
        "incident.escalated" => AlertChange::Escalated(
            data.escalation_policy
                .as_ref()
                .map(|policy| policy.summary.clone())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "the next level".to_owned()),
        ),
        "incident.annotated" => AlertChange::Note(data.content.clone()),
        other => return Err(WebhookError::OtherAction(other.to_owned())),
    };
    let incident = match (&change, data.incident) {
        (AlertChange::Note(_), Some(incident)) => incident.id,
        _ => data.id,
    };
    if incident.is_empty() {
        return Err(WebhookError::Malformed(
            "a delivery without its incident".to_owned(),
        ));
    }
    let updated_at = super::wire::time(&event.occurred_at)
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    Ok(IncidentEvent {
        event_id: Some(event.id).filter(|id| !id.is_empty()),
        incident,
        alias: data.incident_key.filter(|key| !key.is_empty()),
        change,
        actor: event.agent.as_ref().map(|agent| agent.id.clone()),
        actor_name: event
            .agent
            .map(|agent| agent.summary)
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "PagerDuty".to_owned()),
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/data/pagerduty/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    #[test]
    fn only_the_first_few_signature_entries_are_tried() {
        let body = b"{}";
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"k").expect("a key");
        mac.update(body);
        let right = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        let wrong = format!("v1={}", "ab".repeat(32));
        let early = format!("{wrong},{wrong},{right}");
        assert!(signature_matches(b"k", &early, body));
        let buried = format!("{},{right}", vec![wrong.as_str(); 1000].join(","));
        assert!(
            !signature_matches(b"k", &buried, body),
            "a header of a thousand entries is not hashed a thousand times"
        );
        assert!(!signature_matches(b"k", "v1=abc, v1=zz, v0=00", body));
    }

    #[test]
    fn the_contracts_signature_vectors_are_told_apart_on_the_raw_body() {
        let vectors: serde_json::Value =
            serde_json::from_slice(&contract("signature.json")).expect("JSON");
        let body = vectors["raw_body"].as_str().expect("raw body").as_bytes();
        for vector in vectors["vectors"].as_array().expect("vectors") {
            let secret = vector["secret"].as_str().expect("secret").as_bytes();
            let header = vector["header_value"].as_str().expect("header");
            let valid = vector["expected"] == "valid";
            assert_eq!(
                signature_matches(secret, header, body),
                valid,
                "{}",
                vector["name"]
            );
        }
        let secret = b"example-not-a-real-secret-0123456789abcdef";
        let valid = vectors["vectors"][0]["header_value"]
            .as_str()
            .expect("header");
        let mut altered = body.to_vec();
        altered[10] ^= 1;
        assert!(
            !signature_matches(secret, valid, &altered),
            "one byte changed"
        );
        assert!(!signature_matches(secret, "", body));
        assert!(!signature_matches(secret, "v0=abc, v1=nothex", body));
    }

    #[test]
    fn each_incident_event_of_the_contract_reads_as_its_change() {
        let cases = [
            ("v3_incident.acknowledged.json", "Acknowledged"),
            ("v3_incident.unacknowledged.json", "Unacknowledged"),
            ("v3_incident.reassigned.json", "Assigned"),
            ("v3_incident.escalated.json", "Escalated"),
            ("v3_incident.resolved.json", "Closed"),
            ("v3_incident.annotated.json", "Note"),
        ];
        for (file, change) in cases {
            let event = parse_incident_event(&contract(file)).expect(file);
            assert!(
                format!("{:?}", event.change).starts_with(change),
                "{file}: {event:?}"
            );
            assert_eq!(event.incident, "PABC123", "{file}");
            assert!(event.updated_at > 0, "{file}");
        }
        let acknowledged =
            parse_incident_event(&contract("v3_incident.acknowledged.json")).expect("acknowledged");
        assert_eq!(acknowledged.alias.as_deref(), Some("example-dedup-key-001"));
        assert_eq!(acknowledged.actor.as_deref(), Some("PUSR001"));
        let note = parse_incident_event(&contract("v3_incident.annotated.json")).expect("note");
        assert_eq!(note.alias, None, "a note names its incident only");
        assert!(matches!(
            parse_incident_event(&contract("v3_incident.triggered.json")),
            Err(WebhookError::OtherAction(_))
        ));
        assert!(matches!(
            parse_incident_event(b"{}"),
            Err(WebhookError::Malformed(_))
        ));
    }
}
