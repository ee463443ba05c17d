//! Slack Events API payloads, turned into the bot's own types at the boundary.
//!
//! Parsing is deliberately lenient: anything Slack may send that the bot does not
//! act on becomes [`Inbound::Ignored`] with a reason, never an error, so it is acked
//! and dropped. Only a body that is not JSON at all is refused.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{BotIdentity, Request, RequestKind};

/// What a verified request to the events endpoint asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// Slack checks the endpoint when the request URL is saved.
    UrlVerification { challenge: String },
    /// An event delivery; `event_id` is the same across Slack's retries.
    Callback {
        event_id: String,
        /// `app_mention`, `message`, or `other`: for metrics.
        event_type: &'static str,
        event: Inbound,
    },
    /// Any other envelope (`app_rate_limited`, unknown ones, malformed ones).
    Unhandled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A person asked the bot something.
    Request(Request),
    /// A person opened the bot's Home tab.
    HomeOpened {
        user: String,
    },
    Ignored(IgnoreReason),
}

/// Why an event gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    OwnMessage,
    OtherBot,
    /// An edit, a deletion, a join… anything that is not a person writing.
    NotAPersonWriting,
    /// A `message` event outside a direct message (mentions arrive as `app_mention`).
    NotADirectMessage,
    MissingFields,
    UnhandledEventType,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OwnMessage => "own_message",
            Self::OtherBot => "other_bot",
            Self::NotAPersonWriting => "not_a_person_writing",
            Self::NotADirectMessage => "not_a_direct_message",
            Self::MissingFields => "missing_fields",
            Self::UnhandledEventType => "unhandled_event_type",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body is not JSON: {0}")]
pub struct NotJson(#[from] serde_json::Error);

/// The envelope, read in one pass: the event stays raw JSON until it is read
/// straight into [`WireMessage`]; everything else is skipped, never built.
#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: std::borrow::Cow<'a, str>,
    challenge: Option<String>,
    event_id: Option<String>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
}

/// The fields of `app_mention` and `message` events the bot reads.
#[derive(Deserialize)]
struct WireMessage {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    #[serde(default)]
    text: String,
    ts: Option<String>,
    thread_ts: Option<String>,
    channel: Option<String>,
    channel_type: Option<String>,
    edited: Option<serde::de::IgnoredAny>,
    /// Which tab of the App Home was opened (`app_home_opened`).
    tab: Option<String>,
    /// The asker's workspace (Slack Connect), and the workspace the message
    /// was posted from.
    user_team: Option<String>,
    source_team: Option<String>,
}

/// Message subtypes that are still a person writing: a message with a file, a
/// thread reply also sent to the channel, and `/me …`.
const PERSON_SUBTYPES: &[&str] = &["file_share", "thread_broadcast", "me_message"];

impl Envelope {
    /// Parses a verified request body (or a Socket Mode envelope's payload).
    /// `identity` is who the bot is, so that its own messages are recognised.
    pub fn parse(body: &[u8], identity: &BotIdentity) -> Result<Self, NotJson> {
        let envelope: WireEnvelope = match serde_json::from_slice(body) {
            Ok(envelope) => envelope,
            // JSON, but not an envelope with the fields we need.
            Err(error) if error.classify() == serde_json::error::Category::Data => {
                tracing::debug!("event envelope without the fields we need");
                return Ok(Self::Unhandled);
            }
            Err(error) => return Err(NotJson(error)),
        };
        let WireEnvelope {
            kind,
            challenge,
            event_id,
            event,
        } = envelope;
        Ok(match (kind.as_ref(), challenge, event_id, event) {
            ("url_verification", Some(challenge), _, _) => Self::UrlVerification { challenge },
            ("event_callback", _, Some(event_id), Some(event)) => {
                let (event_type, event) = classify_raw(event, identity);
                Self::Callback {
                    event_id,
                    event_type,
                    event,
                }
            }
            _ => Self::Unhandled,
        })
    }
}

/// The event's type for metrics, and what it asks of us: read straight into
/// [`WireMessage`]; only when that fails is it parsed loosely, to tell why.
fn classify_raw(event: &RawValue, identity: &BotIdentity) -> (&'static str, Inbound) {
    let metric = |kind: Option<&str>| match kind {
        Some("app_mention") => "app_mention",
        Some("message") => "message",
        Some("app_home_opened") => "app_home_opened",
        _ => "other",
    };
    match serde_json::from_str::<WireMessage>(event.get()) {
        Ok(message) if message.kind == "app_home_opened" => {
            let inbound = match (message.tab.as_deref(), message.user) {
                (Some("home"), Some(user)) => Inbound::HomeOpened { user },
                (Some("home"), None) => Inbound::Ignored(IgnoreReason::MissingFields),
                // The Messages or About tab: nothing to publish.
                _ => Inbound::Ignored(IgnoreReason::UnhandledEventType),
            };
            ("app_home_opened", inbound)
        }
        Ok(message) => {
            let event_type = metric(Some(&message.kind));
            if event_type == "other" {
                return (
                    event_type,
                    Inbound::Ignored(IgnoreReason::UnhandledEventType),
                );
            }
            let inbound = match classify_message(message, identity) {
                Ok(request) => Inbound::Request(request),
                Err(reason) => Inbound::Ignored(reason),
            };
            (event_type, inbound)
        }
        Err(_) => match serde_json::from_str::<serde_json::Value>(event.get()) {
            Ok(value) => (
                metric(value.get("type").and_then(|kind| kind.as_str())),
                classify(value, identity),
            ),
            Err(_) => ("other", Inbound::Ignored(IgnoreReason::MissingFields)),
        },
    }
}

fn classify(event: serde_json::Value, identity: &BotIdentity) -> Inbound {
    let kind = event.get("type").and_then(|kind| kind.as_str());
    if !matches!(kind, Some("app_mention" | "message")) {
        return Inbound::Ignored(IgnoreReason::UnhandledEventType);
    }
    let message = match serde_json::from_value::<WireMessage>(event) {
        Ok(message) => message,
        Err(error) => {
            tracing::debug!(%error, "message event with unexpected fields");
            return Inbound::Ignored(IgnoreReason::MissingFields);
        }
    };
    match classify_message(message, identity) {
        Ok(request) => Inbound::Request(request),
        Err(reason) => Inbound::Ignored(reason),
    }
}

fn classify_message(message: WireMessage, identity: &BotIdentity) -> Result<Request, IgnoreReason> {
    let from_us = message.user.as_deref() == Some(identity.user_id.as_str())
        || message.bot_id.is_some() && message.bot_id == identity.bot_id;
    if from_us {
        return Err(IgnoreReason::OwnMessage);
    }
    if message.bot_id.is_some() {
        return Err(IgnoreReason::OtherBot);
    }
    if let Some(subtype) = message.subtype.as_deref() {
        if subtype == "bot_message" {
            return Err(IgnoreReason::OtherBot);
        }
        if !PERSON_SUBTYPES.contains(&subtype) {
            return Err(IgnoreReason::NotAPersonWriting);
        }
    }
    if message.edited.is_some() {
        return Err(IgnoreReason::NotAPersonWriting);
    }
    let kind = if message.kind == "app_mention" {
        RequestKind::Mention
    } else if message.channel_type.as_deref() == Some("im") {
        RequestKind::DirectMessage
    } else {
        return Err(IgnoreReason::NotADirectMessage);
    };
    let (Some(user), Some(channel), Some(ts)) = (message.user, message.channel, message.ts) else {
        tracing::debug!("message event without user, channel or ts");
        return Err(IgnoreReason::MissingFields);
    };
    Ok(Request {
        kind,
        channel,
        user,
        thread_ts: message.thread_ts.unwrap_or_else(|| ts.clone()),
        ts,
        text: message.text,
        user_team: message.user_team.or(message.source_team),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> BotIdentity {
        BotIdentity {
            user_id: "UBOT".into(),
            bot_id: Some("BBOT".into()),
            team_id: Some("T1".into()),
            enterprise_id: None,
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/slack/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn parse(body: &[u8]) -> Envelope {
        Envelope::parse(body, &identity()).expect("JSON")
    }

    #[test]
    fn slacks_url_verification_payload_yields_its_challenge() {
        assert_eq!(
            parse(&fixture("python-slack-events-api_url_challenge.json")),
            Envelope::UrlVerification {
                challenge: "valid_challenge_token".into()
            }
        );
    }

    #[test]
    fn an_app_mention_becomes_a_mention_request() {
        let Envelope::Callback {
            event_id,
            event_type,
            event,
        } = parse(&fixture("app_mention.json"))
        else {
            panic!("a callback");
        };
        assert_eq!(event_id, "Ev123ABC456");
        assert_eq!(event_type, "app_mention");
        assert_eq!(
            event,
            Inbound::Request(Request {
                kind: RequestKind::Mention,
                channel: "C123ABC456".into(),
                user: "U061F7AUR".into(),
                ts: "1515449522.000016".into(),
                thread_ts: "1515449522.000016".into(),
                text: "<@UBOT> is it everything a river should be?".into(),
                user_team: None,
            })
        );
    }

    #[test]
    fn opening_the_home_tab_asks_for_it_and_other_tabs_ask_nothing() {
        let body = fixture("app_home_opened.json");
        assert_eq!(
            parse(&body),
            Envelope::Callback {
                event_id: "Ev123HOME456".into(),
                event_type: "app_home_opened",
                event: Inbound::HomeOpened {
                    user: "U123ABC456".into()
                },
            }
        );
        let messages_tab =
            String::from_utf8_lossy(&body).replace("\"tab\": \"home\"", "\"tab\": \"messages\"");
        let Envelope::Callback { event, .. } = parse(messages_tab.as_bytes()) else {
            panic!("a callback");
        };
        assert_eq!(event, Inbound::Ignored(IgnoreReason::UnhandledEventType));
        let no_user = String::from_utf8_lossy(&body).replace("\"user\": \"U123ABC456\",", "");
        let Envelope::Callback { event, .. } = parse(no_user.as_bytes()) else {
            panic!("a callback");
        };
        assert_eq!(event, Inbound::Ignored(IgnoreReason::MissingFields));
    }

    #[test]
    fn a_dm_becomes_a_direct_message_request() {
        let Envelope::Callback { event, .. } = parse(&fixture("message_im.json")) else {
            panic!("a callback");
        };
        let Inbound::Request(request) = event else {
            panic!("a request, got {event:?}");
        };
        assert_eq!(request.kind, RequestKind::DirectMessage);
        assert_eq!(request.channel, "D024BE91L");
    }

    #[test]
    fn real_edit_payloads_and_other_events_are_ignored_with_a_reason() {
        let cases = [
            (
                "slack-morphism_message_changed.json",
                IgnoreReason::NotAPersonWriting,
            ),
            (
                "slack-morphism_message_changed_by_bot.json",
                IgnoreReason::NotAPersonWriting,
            ),
        ];
        for (name, reason) in cases {
            let Envelope::Callback { event, .. } = parse(&fixture(name)) else {
                panic!("{name}: a callback");
            };
            assert_eq!(event, Inbound::Ignored(reason), "{name}");
        }
        // This older payload has no event_id, which every Events API delivery carries.
        assert_eq!(
            parse(&fixture("python-slack-events-api_reaction_added.json")),
            Envelope::Unhandled
        );
    }

    #[test]
    fn odd_shapes_are_ignored_not_errors() {
        let event = |event: serde_json::Value| {
            let body =
                serde_json::json!({"type": "event_callback", "event_id": "Ev1", "event": event});
            match parse(body.to_string().as_bytes()) {
                Envelope::Callback { event, .. } => event,
                other => panic!("a callback, got {other:?}"),
            }
        };
        assert_eq!(
            event(serde_json::json!({"type": "app_mention", "text": "hi"})),
            Inbound::Ignored(IgnoreReason::MissingFields)
        );
        assert_eq!(
            event(
                serde_json::json!({"type": "app_mention", "user": {"id": "U1"}, "ts": "1", "channel": "C"})
            ),
            Inbound::Ignored(IgnoreReason::MissingFields)
        );
        assert_eq!(
            event(serde_json::json!({"type": 7})),
            Inbound::Ignored(IgnoreReason::UnhandledEventType)
        );
        assert_eq!(parse(b"{}"), Envelope::Unhandled);
        assert_eq!(parse(b"null"), Envelope::Unhandled);
        assert!(Envelope::parse(b"{\"type\":", &identity()).is_err());
        assert!(Envelope::parse(&[0xff, 0xfe], &identity()).is_err());
    }

    /// A small, bounded mutation fuzzer that runs with every `cargo test`; the
    /// cargo-fuzz targets in `fuzz/` explore the same entry points for longer.
    #[test]
    fn random_and_mutated_payloads_never_panic() {
        let seeds: Vec<Vec<u8>> = [
            "app_mention.json",
            "message_im.json",
            "slack-morphism_message_changed.json",
            "python-slack-events-api_url_challenge.json",
        ]
        .iter()
        .map(|name| fixture(name))
        .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let interesting: &[&[u8]] = &[
            b"\"",
            b"{",
            b"}",
            b"[",
            b"]",
            b"null",
            b"\\u0000",
            b"\xff",
            b"<@UBOT>",
            b"\"type\":\"app_mention\"",
            b"\"subtype\":",
            b"1e999",
            b"-0",
        ];
        for round in 0..20_000 {
            let seed = &seeds[(next() as usize) % seeds.len()];
            let mut input = if round % 10 == 0 {
                (0..(next() % 256)).map(|_| next() as u8).collect()
            } else {
                seed.clone()
            };
            for _ in 0..(1 + next() % 8) {
                if input.is_empty() {
                    break;
                }
                let at = (next() as usize) % input.len();
                match next() % 4 {
                    0 => input[at] = next() as u8,
                    1 => input.truncate(at),
                    2 => {
                        let splice = interesting[(next() as usize) % interesting.len()];
                        input.splice(at..at, splice.iter().copied());
                    }
                    _ => {
                        input.remove(at);
                    }
                }
            }
            let _ = Envelope::parse(&input, &identity());
        }
    }

    #[test]
    fn the_message_subtypes_slack_documents_are_a_person_writing_or_not() {
        // From Slack's list of message subtypes (api.slack.com/events/message).
        let person = ["file_share", "thread_broadcast", "me_message"];
        let not_a_person = [
            "bot_message",
            "message_changed",
            "message_deleted",
            "message_replied",
            "channel_join",
            "channel_leave",
            "channel_topic",
            "channel_purpose",
            "channel_name",
            "channel_archive",
            "channel_unarchive",
            "channel_convert_to_private",
            "group_join",
            "group_leave",
            "group_topic",
            "pinned_item",
            "unpinned_item",
            "reminder_add",
            "ekm_access_denied",
            "assistant_app_thread",
        ];
        let dm = |subtype: &str| {
            format!(
                r#"{{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{{
                "type":"message","subtype":"{subtype}","channel":"D1","channel_type":"im",
                "user":"U1","text":"who is on call?","ts":"1.1"}}}}"#
            )
        };
        for subtype in person {
            let Ok(Envelope::Callback { event, .. }) =
                Envelope::parse(dm(subtype).as_bytes(), &identity())
            else {
                panic!("{subtype}: a callback");
            };
            assert!(matches!(event, Inbound::Request(_)), "{subtype}: {event:?}");
        }
        for subtype in not_a_person {
            let Ok(Envelope::Callback { event, .. }) =
                Envelope::parse(dm(subtype).as_bytes(), &identity())
            else {
                panic!("{subtype}: a callback");
            };
            assert!(matches!(event, Inbound::Ignored(_)), "{subtype}: {event:?}");
        }
    }
}
