//! The alias of an alert the bot raises: the Slack message that asked for it,
//! and a keyed tag that proves the bot made the alias.
//!
//! `slack-<channel>-<ts>-<tag>` (or `slack-<channel>-<thread ts>-<ts>-<tag>`
//! for a message inside a thread). The place is readable on purpose: OpsGenie's
//! and JSM's webhooks carry the alias but not the alert's details, so the alias
//! is how news finds its thread, after a restart and without shared state. The
//! tag is the first 16 hex digits (64 bits) of HMAC-SHA256 over the place under
//! a key every replica derives alike, so only the bot can make an alias a
//! webhook is reflected for: anyone can create an alert with an alias of their
//! choosing (any integration, the email integration, the UI), and without the
//! tag that alias would make the bot post into any channel it is in. The alias
//! is deterministic, so an alert raised again for the same message (after a
//! crash) gets the same alias and the provider counts it rather than paging
//! twice.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex digits of the tag: 64 bits, far beyond guessing within any rate limit.
const TAG_HEX: usize = 16;

/// What the key is derived with from a shared secret, so that a key made for
/// aliases is good for nothing else.
const KEY_LABEL: &[u8] = b"oncall-bot alert alias v1";

/// Where a help request is in Slack: what an alert's alias says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPlace {
    pub channel: String,
    /// The thread the request is in (its own ts when it started the thread).
    pub thread_ts: String,
    /// The request message's ts: with the channel, what identifies it.
    pub ts: String,
}

/// The key that tags aliases. Every replica must derive the same one: from
/// `ALERT_ALIAS_SECRET` when set, else from the provider's key (which replicas
/// share, and which Socket Mode installs have where they have no signing
/// secret).
#[derive(Clone)]
pub struct AliasKey {
    key: [u8; 32],
}

impl std::fmt::Debug for AliasKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AliasKey(…)")
    }
}

impl AliasKey {
    /// The key derived from a shared secret.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(KEY_LABEL);
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, place: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(place.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(digest)[..TAG_HEX].to_owned()
    }

    /// The alias for a Slack message. Channel ids and timestamps are Slack's
    /// (letters, digits, a dot), never text a person typed; anything else is
    /// hashed instead (one alias per message still, never read back).
    pub fn alias_for(&self, channel: &str, thread_ts: &str, ts: &str) -> String {
        let safe = |id: &str, extra: char| {
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
        };
        if !(safe(channel, '_') && safe(thread_ts, '.') && safe(ts, '.')) {
            let digest = Sha256::digest(format!("{channel}\n{ts}").as_bytes());
            return format!("slack-{}", &hex::encode(digest)[..40]);
        }
        let place = if thread_ts == ts {
            format!("slack-{channel}-{ts}")
        } else {
            format!("slack-{channel}-{thread_ts}-{ts}")
        };
        let tag = self.tag(&place);
        format!("{place}-{tag}")
    }

    /// The place an alias made by [`Self::alias_for`] under this key names;
    /// `None` for any other alias, whatever its shape (an alert this bot did
    /// not raise, or one raised before aliases were tagged).
    pub fn place_of(&self, alias: &str) -> Option<AlertPlace> {
        let (place, tag) = alias.rsplit_once('-')?;
        if tag.len() != TAG_HEX {
            return None;
        }
        let expected = self.tag(place);
        if !bool::from(expected.as_bytes().ct_eq(tag.as_bytes())) {
            return None;
        }
        untagged_place(place)
    }
}

/// Whether a click's alias is one the bot posts on its buttons: tagged, or
/// of the untagged shape alerts had before tags. A click comes signed from
/// Slack and carries the value of a button on the bot's own message, so its
/// shape is enough; webhooks, which anyone who can name an alias can cause,
/// need [`AliasKey::place_of`].
pub fn is_bot_shaped(alias: &str) -> bool {
    let tagged = alias
        .rsplit_once('-')
        .is_some_and(|(place, tag)| tag.len() == TAG_HEX && untagged_place(place).is_some());
    tagged || untagged_place(alias).is_some()
}

/// `slack-<channel>-<ts>` or `slack-<channel>-<thread ts>-<ts>`, read.
fn untagged_place(place: &str) -> Option<AlertPlace> {
    let rest = place.strip_prefix("slack-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let (channel, thread_ts, ts) = match parts.as_slice() {
        [channel, ts] => (*channel, *ts, *ts),
        [channel, thread_ts, ts] => (*channel, *thread_ts, *ts),
        _ => return None,
    };
    let is_channel =
        |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let is_ts = |ts: &str| {
        ts.split_once('.').is_some_and(|(seconds, micros)| {
            !seconds.is_empty()
                && !micros.is_empty()
                && seconds
                    .chars()
                    .chain(micros.chars())
                    .all(|c| c.is_ascii_digit())
        })
    };
    (is_channel(channel) && is_ts(thread_ts) && is_ts(ts)).then(|| AlertPlace {
        channel: channel.to_owned(),
        thread_ts: thread_ts.to_owned(),
        ts: ts.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> AliasKey {
        AliasKey::from_secret(&SecretString::from(secret))
    }

    #[test]
    fn the_alias_names_the_message_and_its_thread_and_reads_back_under_its_key() {
        let ours = key("shared");
        let alias = ours.alias_for("C1", "1700000000.000100", "1700000000.000100");
        assert!(alias.starts_with("slack-C1-1700000000.000100-"), "{alias}");
        assert_eq!(alias.len(), "slack-C1-1700000000.000100-".len() + TAG_HEX);
        assert_eq!(
            alias,
            ours.alias_for("C1", "1700000000.000100", "1700000000.000100"),
            "deterministic: a re-raise after a crash makes the same alias"
        );
        let threaded = ours.alias_for("C1", "1700000000.000100", "1700000001.000200");
        assert!(threaded.starts_with("slack-C1-1700000000.000100-1700000001.000200-"));
        for (channel, thread_ts, ts) in [
            ("C0SUPPORT", "1795460000.000100", "1795460000.000100"),
            ("D0ALICE", "1.1", "2.2"),
        ] {
            let place = ours
                .place_of(&ours.alias_for(channel, thread_ts, ts))
                .expect("ours");
            assert_eq!(
                (
                    place.channel.as_str(),
                    place.thread_ts.as_str(),
                    place.ts.as_str()
                ),
                (channel, thread_ts, ts)
            );
        }
        assert_ne!(
            ours.alias_for("C1", "1.1", "1.1"),
            ours.alias_for("C2", "1.1", "1.1")
        );
    }

    #[test]
    fn an_alias_of_the_bots_shape_without_the_right_tag_is_not_ours() {
        let ours = key("shared");
        let theirs = key("another bot's secret");
        let genuine = ours.alias_for("C1", "1.1", "1.1");
        assert_eq!(theirs.place_of(&genuine), None, "another key");
        let (place, tag) = genuine.rsplit_once('-').expect("tagged");
        let mut flipped = tag.to_owned();
        flipped.replace_range(0..1, if tag.starts_with('0') { "1" } else { "0" });
        for forged in [
            "slack-C1-1.1".to_owned(),
            format!("{place}-{flipped}"),
            format!("{place}-{}", &tag[..TAG_HEX - 1]),
            format!("slack-C2-1.1-{tag}"),
            format!("{genuine}0"),
            String::new(),
            "slack-".to_owned(),
        ] {
            assert_eq!(ours.place_of(&forged), None, "{forged:?}");
        }
        // A click on a button of an alert raised before tags still names one.
        assert!(is_bot_shaped("slack-C1-1.1"));
        assert!(is_bot_shaped(&genuine));
        assert!(!is_bot_shaped("pagerduty-C1-1.1"));
    }

    #[test]
    fn what_is_not_slacks_ids_is_hashed_and_never_read_back() {
        let ours = key("shared");
        let odd = ours.alias_for("C1\n<script>", "1.1", "$(rm -rf /)");
        assert!(odd["slack-".len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(ours.place_of(&odd), None);
        assert_eq!(format!("{ours:?}"), "AliasKey(…)");
    }
}
