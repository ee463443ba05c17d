//! Slack's side of the Events API: event payloads as Slack sends them, signed and
//! delivered to the bot's endpoint.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Now, in Unix seconds, as Slack stamps a request.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or(0)
}

/// Slack's v0 signature of `body` at `timestamp`:
/// `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")). Written here from
/// Slack's description rather than borrowed from the bot, so that the bot's
/// verifier is checked against an independent signer.
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// An `app_mention` event callback, as Slack delivers it.
pub fn app_mention(event_id: &str, channel: &str, user: &str, ts: &str, text: &str) -> String {
    json!({
        "token": "legacy-verification-token", "team_id": "TSIM", "api_app_id": "ASIM",
        "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000,
        "event": {
            "type": "app_mention", "user": user, "text": text,
            "ts": ts, "channel": channel, "event_ts": ts
        }
    })
    .to_string()
}

/// A `message` event in a direct message with the bot (`message.im`).
pub fn direct_message(event_id: &str, channel: &str, user: &str, ts: &str, text: &str) -> String {
    json!({
        "token": "legacy-verification-token", "team_id": "TSIM", "api_app_id": "ASIM",
        "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000,
        "event": {
            "type": "message", "channel": channel, "channel_type": "im",
            "user": user, "text": text, "ts": ts, "event_ts": ts
        }
    })
    .to_string()
}

/// The same event, written inside the thread `thread_ts`.
pub fn in_thread(event: &str, thread_ts: &str) -> String {
    match serde_json::from_str::<Value>(event) {
        Ok(mut value) => {
            value["event"]["thread_ts"] = json!(thread_ts);
            value.to_string()
        }
        Err(_) => event.to_owned(),
    }
}

/// Delivers events to a bot's `/slack/events` endpoint, signed as Slack signs them.
pub struct EventsEndpoint {
    url: String,
    signing_secret: String,
    http: reqwest::Client,
}

impl EventsEndpoint {
    /// `base` is the bot's address (`http://127.0.0.1:3000`).
    pub fn new(base: &str, signing_secret: &str) -> Self {
        Self {
            url: format!("{}/slack/events", base.trim_end_matches('/')),
            signing_secret: signing_secret.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The `X-Slack-Request-Timestamp` and `X-Slack-Signature` for `body`, now.
    pub fn sign(&self, body: &str) -> (String, String) {
        let timestamp = unix_now().to_string();
        let signature = slack_signature(&self.signing_secret, &timestamp, body.as_bytes());
        (timestamp, signature)
    }

    /// Posts `body` signed; `retry` sets `X-Slack-Retry-Num` as Slack's retries do.
    /// Returns the HTTP status.
    pub async fn deliver(&self, body: &str, retry: Option<u32>) -> Result<u16, reqwest::Error> {
        let (timestamp, signature) = self.sign(body);
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned());
        if let Some(retry) = retry {
            request = request
                .header("x-slack-retry-num", retry.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        Ok(request.send().await?.status().as_u16())
    }

    /// A shell snippet that posts `body` correctly signed at the moment it runs
    /// (signatures expire after five minutes, so it signs with openssl then) and
    /// prints the HTTP status. In `body`, `__TS__` becomes the current Unix time
    /// and `__N__` a random number, so each run is a new event, even twice in a
    /// second.
    pub fn curl_snippet(&self, body: &str, signing_secret: &str) -> String {
        let quoted_body = body.replace('\'', r"'\''");
        format!(
            "ts=$(date +%s); n=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \\n'); \
             body=$(printf '%s' '{quoted_body}' | sed \"s/__TS__/$ts/g; s/__N__/$n/g\"); \
             sig=\"v0=$(printf 'v0:%s:%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac '{signing_secret}' | sed 's/^.* //')\"; \
             curl -sS -o /dev/null -w 'HTTP %{{http_code}}\\n' -X POST '{url}' \
             -H 'content-type: application/json' \
             -H \"x-slack-request-timestamp: $ts\" -H \"x-slack-signature: $sig\" --data \"$body\"",
            url = self.url
        )
    }
}
