//! One harness for every integration test: the real app on a loopback port, with
//! wiremock fakes standing in for Slack and OpsGenie.

use std::time::Duration;

use oncall_bot::config::{OpsGenieConfig, ServeConfig, SlackConfig};
use oncall_bot::outbound::Timeouts;
use oncall_bot::server::AppState;
use oncall_bot::slack::signature::{unix_now, SignatureVerifier};
use oncall_bot::startup;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const SIGNING_SECRET: &str = "test-signing-secret";
pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const OPSGENIE_KEY: &str = "test-genie-key";
pub const SCHEDULE: &str = "SRE_schedule";
pub const BOT_USER: &str = "UBOT";
pub const BOT_ID: &str = "BBOT";

/// The people of the fake workspace: email → Slack user id.
pub const PEOPLE: &[(&str, &str)] = &[
    ("alice@corp.example", "UALICE"),
    ("bob@corp.example", "UBOB"),
];

pub struct TestApp {
    pub address: String,
    pub slack: MockServer,
    pub opsgenie: MockServer,
    pub state: AppState,
    pub http: reqwest::Client,
}

/// Mounts the fake Slack workspace's standing answers (auth.test, lookups, posts).
pub async fn mount_slack_workspace(slack: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/auth.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "url": "https://corp.slack.com/", "team": "Corp", "user": "ops",
            "team_id": "T1", "user_id": BOT_USER, "bot_id": BOT_ID
        })))
        .mount(slack)
        .await;
    for (email, user) in PEOPLE {
        Mock::given(method("GET"))
            .and(path("/users.lookupByEmail"))
            .and(query_param("email", *email))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ok": true, "user": {"id": user, "team_id": "T1", "name": email.split('@').next()}
            })))
            .with_priority(1)
            .mount(slack)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/users.lookupByEmail"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "users_not_found"})),
        )
        .with_priority(5)
        .mount(slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(posted())
        .with_priority(5)
        .mount(slack)
        .await;
}

/// Slack's answer to a successful `chat.postMessage`.
pub fn posted() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "ok": true, "channel": "C1", "ts": "1700000000.000100",
        "message": {"type": "message", "ts": "1700000000.000100", "text": "…", "bot_id": BOT_ID}
    }))
}

/// OpsGenie's answer for the on-call people of `SCHEDULE`.
pub fn on_call_answer(emails: &[&str]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": {
            "_parent": {"id": "b0c5", "name": SCHEDULE, "enabled": true},
            "onCallRecipients": emails
        },
        "took": 0.1,
        "requestId": "4e8a"
    }))
}

/// A mock matching exactly the on-call request the bot must send.
pub fn on_call_request() -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/v2/schedules/{SCHEDULE}/on-calls")))
        .and(query_param("scheduleIdentifierType", "name"))
        .and(query_param("flat", "true"))
        .and(header(
            "authorization",
            format!("GenieKey {OPSGENIE_KEY}").as_str(),
        ))
}

/// The app's configuration, pointed at the two fakes.
pub fn test_config(slack: &MockServer, opsgenie: &MockServer) -> ServeConfig {
    ServeConfig {
        slack: SlackConfig {
            bot_token: BOT_TOKEN.into(),
            signing_secret: SIGNING_SECRET.into(),
            api_url: slack.uri().parse().expect("fake URL"),
        },
        opsgenie: OpsGenieConfig {
            api_key: OPSGENIE_KEY.into(),
            schedule: SCHEDULE.into(),
            api_url: opsgenie.uri().parse().expect("fake URL"),
        },
        cache_ttl: Duration::from_secs(300),
        listen_addr: "127.0.0.1:0".parse().expect("an address"),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(2),
        },
    }
}

/// The app with Alice and Bob on call.
pub async fn spawn_app() -> TestApp {
    let app = spawn_app_without_schedule().await;
    on_call_request()
        .respond_with(on_call_answer(&["alice@corp.example", "bob@corp.example"]))
        .mount(&app.opsgenie)
        .await;
    app
}

/// The app with no on-call answer mounted yet: tests mount their own.
pub async fn spawn_app_without_schedule() -> TestApp {
    let slack = MockServer::start().await;
    let opsgenie = MockServer::start().await;
    mount_slack_workspace(&slack).await;
    let config = test_config(&slack, &opsgenie);
    let state = startup::build_state(&config).await.expect("the app starts");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(startup::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    TestApp {
        address,
        slack,
        opsgenie,
        state,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client"),
    }
}

/// Signs `body` as Slack does, at `timestamp`.
pub fn sign(body: &str, timestamp: i64) -> (String, String) {
    let timestamp = timestamp.to_string();
    let signature = SignatureVerifier::new(SIGNING_SECRET.into()).sign(&timestamp, body.as_bytes());
    (timestamp, signature)
}

impl TestApp {
    /// Delivers an event as Slack does: signed, now.
    pub async fn deliver(&self, body: &str) -> reqwest::Response {
        self.deliver_with(body, &[]).await
    }

    /// Delivers a signed event with extra headers (e.g. `X-Slack-Retry-Num`).
    pub async fn deliver_with(&self, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let (timestamp, signature) = sign(body, unix_now());
        let mut request = self
            .http
            .post(format!("{}/slack/events", self.address))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the app answers")
    }

    /// Waits until every acked event has been answered.
    pub async fn settle(&self) {
        self.state.wait_idle().await;
    }

    /// The bodies of every `chat.postMessage` the bot sent.
    pub async fn replies(&self) -> Vec<Value> {
        self.requests_to(&self.slack, "/chat.postMessage")
            .await
            .iter()
            .map(|request| request.body_json().expect("a JSON body"))
            .collect()
    }

    /// How many on-call lookups reached OpsGenie.
    pub async fn on_call_lookups(&self) -> usize {
        self.requests_to(
            &self.opsgenie,
            &format!("/v2/schedules/{SCHEDULE}/on-calls"),
        )
        .await
        .len()
    }

    pub async fn email_lookups(&self) -> usize {
        self.requests_to(&self.slack, "/users.lookupByEmail")
            .await
            .len()
    }

    async fn requests_to(&self, server: &MockServer, wanted: &str) -> Vec<Request> {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.url.path() == wanted)
            .collect()
    }
}

/// An `app_mention` event callback.
pub fn mention(event_id: &str, channel: &str, ts: &str, text: &str) -> String {
    json!({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": 1_700_000_000,
        "event": {
            "type": "app_mention", "user": "UASKER", "text": text,
            "ts": ts, "channel": channel, "event_ts": ts
        }
    })
    .to_string()
}

/// An `app_mention` posted inside an existing thread.
pub fn mention_in_thread(event_id: &str, channel: &str, ts: &str, thread_ts: &str) -> String {
    let mut event: Value =
        serde_json::from_str(&mention(event_id, channel, ts, "<@UBOT> help me")).expect("JSON");
    event["event"]["thread_ts"] = json!(thread_ts);
    event.to_string()
}

/// A `message` event in a DM with the bot.
pub fn direct_message(event_id: &str, user: &str, ts: &str, text: &str) -> String {
    json!({
        "type": "event_callback", "event_id": event_id, "team_id": "T1",
        "event": {
            "type": "message", "channel": "D0DM", "channel_type": "im",
            "user": user, "text": text, "ts": ts, "event_ts": ts
        }
    })
    .to_string()
}

/// A real payload from `tests/data/slack/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}
