//! Slack's side of the Events API: event payloads as Slack sends them, signed and
//! delivered to the bot's endpoint.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::Post;

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

/// An `app_home_opened` event: `user` opened the bot's Home tab (shaped like
/// Slack's example on the event's page; `view` only once one was published).
pub fn app_home_opened(event_id: &str, user: &str) -> String {
    json!({
        "token": "legacy-verification-token", "team_id": "TSIM", "api_app_id": "ASIM",
        "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000,
        "event": {
            "type": "app_home_opened", "user": user, "channel": format!("D{user}"),
            "tab": "home", "event_ts": "1700000000.000100"
        }
    })
    .to_string()
}

/// A click on one of the buttons of the bot's Home tab: a `block_actions`
/// payload from a `view` container, with the `trigger_id` that opens a form.
pub fn home_button(user: &str, action_id: &str, trigger_id: &str) -> String {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "TSIM"},
        "api_app_id": "ASIM", "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": "VHOME"},
        "trigger_id": trigger_id,
        "team": {"id": "TSIM", "domain": "simulated"},
        "enterprise": null, "is_enterprise_install": false,
        "view": {"id": "VHOME", "team_id": "TSIM", "type": "home", "blocks": [], "state": {"values": {}}},
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": "home_buttons",
            "text": {"type": "plain_text", "text": action_id}, "value": action_id,
            "action_ts": "1795460010.123456"
        }]
    })
    .to_string()
}

/// A form of the bot's as someone filled it in and submitted it.
#[derive(Debug, Clone, Default)]
pub struct FilledForm<'a> {
    pub user: &'a str,
    /// The form's `callback_id` (`form_cover`, `form_take_call`).
    pub callback_id: &'a str,
    /// The team picked, by its option value.
    pub team: Option<&'a str>,
    pub when: Option<&'a str>,
    /// Picked moments, in Unix seconds.
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub note: Option<&'a str>,
}

/// Numbers each form view the simulation fills in: Slack gives every opened
/// view its own id.
static VIEWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl FilledForm<'_> {
    /// The `view_submission` payload: each input's state under its block and
    /// action ids, as Slack sends every input of the view (empty ones too).
    /// Each call is another view; send one payload twice to submit one view
    /// twice.
    pub fn payload(&self) -> String {
        let view_id = format!(
            "VFORM{:06}",
            VIEWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let text = |value: Option<&str>| json!({"type": "plain_text_input", "value": value});
        let picked =
            |value: Option<i64>| json!({"type": "datetimepicker", "selected_date_time": value});
        let team = json!({
            "type": "static_select",
            "selected_option": self.team.map(|team| json!({
                "text": {"type": "plain_text", "text": team, "emoji": true}, "value": team
            }))
        });
        json!({
            "type": "view_submission",
            "team": {"id": "TSIM", "domain": "simulated"},
            "user": {"id": self.user, "username": self.user.to_lowercase(), "name": self.user.to_lowercase(), "team_id": "TSIM"},
            "api_app_id": "ASIM", "token": "legacy-verification-token",
            "trigger_id": "3333.4444.sim",
            "view": {
                "id": view_id, "team_id": "TSIM", "type": "modal", "blocks": [],
                "private_metadata": "", "callback_id": self.callback_id,
                "state": {"values": {
                    "team": {"team": team},
                    "when": {"when": text(self.when)},
                    "from": {"from": picked(self.from)},
                    "until": {"until": picked(self.until)},
                    "note": {"note": text(self.note)}
                }},
                "hash": "1700000000.sim", "title": {"type": "plain_text", "text": "Form"},
                "clear_on_close": false, "notify_on_close": false, "root_view_id": view_id,
                "app_id": "ASIM", "external_id": "", "app_installed_team_id": "TSIM", "bot_id": "BBOT"
            },
            "response_urls": [], "is_enterprise_install": false, "enterprise": null
        })
        .to_string()
    }
}

/// An `interactive` Socket Mode envelope carrying `payload`.
pub fn interactive_envelope(envelope_id: &str, payload: &str) -> String {
    let payload: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    json!({
        "envelope_id": envelope_id, "type": "interactive",
        "accepts_response_payload": true, "payload": payload
    })
    .to_string()
}

/// The same event, written by someone of the workspace `team` (a Slack Connect
/// partner, or a sister workspace of the organisation): `user_team`.
pub fn from_team(event: &str, team: &str) -> String {
    match serde_json::from_str::<Value>(event) {
        Ok(mut value) => {
            value["event"]["user_team"] = json!(team);
            value.to_string()
        }
        Err(_) => event.to_owned(),
    }
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

/// A click on a button of the bot's message, as Slack sends it to the app's
/// interactivity URL: a `block_actions` payload (shaped like the contract in
/// `tests/data/slack/interactivity/block_actions.json`).
#[derive(Debug, Clone)]
pub struct ButtonClick<'a> {
    pub user: &'a str,
    pub team: &'a str,
    pub channel: &'a str,
    /// The message the button is on, and its thread.
    pub message_ts: &'a str,
    pub thread_ts: &'a str,
    pub action_id: &'a str,
    pub value: &'a str,
    /// The message's blocks as Slack holds them.
    pub blocks: Value,
    pub action_ts: &'a str,
    /// The organisation, where a per-workspace install of an Enterprise Grid
    /// organisation has Slack put it: only in `team.enterprise_id`.
    pub team_enterprise: Option<&'a str>,
    /// Where an answer to the click may go.
    pub response_url: String,
    /// The button is on an ephemeral message (a slash command's answer).
    pub ephemeral: bool,
}

impl<'a> ButtonClick<'a> {
    /// `user`, of the simulated workspace, clicking the button `action_id` (whose
    /// value is `value`) on `post`, as the post stands.
    pub fn on(post: &'a Post, user: &'a str, action_id: &'a str, value: &'a str) -> Self {
        Self {
            user,
            team: "TSIM",
            channel: &post.channel,
            message_ts: &post.ts,
            thread_ts: post.thread_ts.as_deref().unwrap_or(&post.ts),
            action_id,
            value,
            blocks: post.blocks.clone().unwrap_or(Value::Null),
            action_ts: "1795460010.123456",
            team_enterprise: None,
            response_url: "https://hooks.slack.invalid/actions/TSIM/1/sim".to_owned(),
            ephemeral: false,
        }
    }

    /// The payload's JSON.
    pub fn payload(&self) -> String {
        json!({
            "type": "block_actions",
            "user": {"id": self.user, "username": self.user.to_lowercase(), "name": self.user.to_lowercase(), "team_id": self.team},
            "api_app_id": "ASIM", "token": "legacy-verification-token",
            "trigger_id": "1111.2222.sim",
            "team": {"id": self.team, "domain": "simulated", "enterprise_id": self.team_enterprise},
            "enterprise": null, "is_enterprise_install": false,
            "container": {
                "type": "message", "message_ts": self.message_ts, "channel_id": self.channel,
                "is_ephemeral": self.ephemeral, "thread_ts": self.thread_ts
            },
            "channel": {"id": self.channel, "name": "support"},
            "message": {
                "type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": self.message_ts,
                "thread_ts": self.thread_ts, "text": "", "blocks": self.blocks
            },
            "state": {"values": {}},
            "response_url": self.response_url,
            "actions": [{
                "type": "button", "action_id": self.action_id, "block_id": "alert_actions",
                "text": {"type": "plain_text", "text": self.action_id},
                "value": self.value, "action_ts": self.action_ts
            }]
        })
        .to_string()
    }

    /// The HTTP body: the payload form-encoded, as Slack posts it.
    pub fn form_body(&self) -> String {
        form_encoded_payload(&self.payload())
    }

    /// The `interactive` Socket Mode envelope carrying the payload.
    pub fn socket_envelope(&self, envelope_id: &str) -> String {
        interactive_envelope(envelope_id, &self.payload())
    }
}

/// A slash command (`/oncall <text>`) as Slack posts it: form-encoded.
pub fn slash_command_form(user: &str, channel: &str, text: &str, response_url: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "legacy-verification-token")
        .append_pair("team_id", "TSIM")
        .append_pair("team_domain", "simulated")
        .append_pair("channel_id", channel)
        .append_pair("channel_name", "support")
        .append_pair("user_id", user)
        .append_pair("user_name", &user.to_lowercase())
        .append_pair("command", "/oncall")
        .append_pair("text", text)
        .append_pair("api_app_id", "ASIM")
        .append_pair("response_url", response_url)
        .append_pair("trigger_id", "1111.2222.sim")
        .finish()
}

/// The same command as a Socket Mode `slash_commands` payload.
pub fn slash_command_json(user: &str, channel: &str, text: &str, response_url: &str) -> String {
    json!({
        "token": "legacy-verification-token", "team_id": "TSIM", "team_domain": "simulated",
        "channel_id": channel, "channel_name": "support", "user_id": user,
        "user_name": user.to_lowercase(), "command": "/oncall", "text": text,
        "api_app_id": "ASIM", "response_url": response_url, "trigger_id": "1111.2222.sim"
    })
    .to_string()
}

/// `payload=<json>`, form-encoded.
pub fn form_encoded_payload(payload: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", payload)
        .finish()
}

/// One delivery of OpsGenie's outgoing webhook for an alert action, shaped like
/// the samples in `tests/data/opsgenie/webhooks/`. `source` is who
/// acted through what (`web` for the UI, the API's `source` otherwise).
pub fn alert_webhook(
    action: &str,
    alias: &str,
    username: &str,
    updated_at_nanos: u128,
    source: &str,
    extra: Value,
) -> String {
    let mut alert = json!({
        "updatedAt": updated_at_nanos as u64, "tags": ["slack", "support"],
        "teams": ["team-id-1"], "recipients": ["recipient-id-1"],
        "message": "Dana asked for help in Slack", "username": username,
        "alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c", "source": "oncall-bot",
        "alias": alias, "tinyId": "23", "createdAt": 1_795_459_990_000_u64,
        "userId": "daed1180-0ce8-438b-8f8e-57e1a5920a2d", "entity": ""
    });
    if let (Some(alert), Value::Object(extra)) = (alert.as_object_mut(), extra) {
        alert.extend(extra);
    }
    let source_type = if source.is_empty() { "web" } else { "api" };
    json!({
        "source": {"name": source, "type": source_type},
        "alert": alert, "action": action,
        "integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d",
        "integrationName": "Slack on-call bot"
    })
    .to_string()
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

    /// Posts a button click to the bot's `/slack/interactions`, signed; returns
    /// the HTTP status.
    pub async fn click(&self, click: &ButtonClick<'_>) -> Result<u16, reqwest::Error> {
        Ok(self.interact(&click.payload()).await?.0)
    }

    /// Posts an interaction `payload` to the bot's `/slack/interactions`,
    /// form-encoded and signed; returns the HTTP status and the answer's body.
    pub async fn interact(&self, payload: &str) -> Result<(u16, String), reqwest::Error> {
        let body = form_encoded_payload(payload);
        let (timestamp, signature) = self.sign(&body);
        let url = self.url.replace("/slack/events", "/slack/interactions");
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
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
