//! One harness for every integration test: the real app on a loopback port, with
//! the simulated Slack workspace and OpsGenie account (wiremock on loopback).

use std::collections::HashMap;
use std::time::Duration;

use oncall_bot::config::{OpsGenieConfig, ServeConfig, SlackConfig, SourceConfig, SyncConfig};
use oncall_bot::edge::Inbox;
use oncall_bot::outbound::BackoffPolicy;
use oncall_bot::outbound::Timeouts;
use oncall_bot::providers::{JsmConfig, PagerDutyConfig};
use oncall_bot::routing::Routing;
pub use oncall_bot::slack::signature::unix_now;
use oncall_bot::slack::signature::SignatureVerifier;
use oncall_bot::startup;
use oncall_bot::usergroup_sync::{UserGroupRef, UserGroupSpec};
use oncall_bot_simulator::{
    events, JsmSite, OpsGenieAccount, PagerDutyAccount, PdShift, Post, SlackWorkspace,
};
use serde_json::json;
use tokio::net::TcpListener;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const SIGNING_SECRET: &str = "test-signing-secret";
pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const OPSGENIE_KEY: &str = "test-genie-key";
pub const SCHEDULE: &str = "SRE_schedule";
pub const BOT_USER: &str = "UBOT";
pub const BOT_ID: &str = "BBOT";
/// What the test app tags its alerts' aliases with (`ALERT_ALIAS_SECRET`).
pub const ALIAS_SECRET: &str = "test-alias-secret";

/// The alias the test app gives the alert of the message `ts` in `thread_ts`.
pub fn alias_for(channel: &str, thread_ts: &str, ts: &str) -> String {
    oncall_bot::alias::AliasKey::from_secret(&ALIAS_SECRET.into()).alias_for(channel, thread_ts, ts)
}

/// The people of the simulated workspace: email → Slack user id.
pub const PEOPLE: &[(&str, &str)] = &[
    ("alice@corp.example", "UALICE"),
    ("bob@corp.example", "UBOB"),
    ("carol@corp.example", "UCAROL"),
];

pub struct TestApp {
    pub address: String,
    pub slack: SlackWorkspace,
    pub opsgenie: OpsGenieAccount,
    /// The JSM site, when the app answers from JSM Operations.
    pub jsm: Option<JsmSite>,
    /// The PagerDuty account, when the app answers from PagerDuty.
    pub pagerduty: Option<PagerDutyAccount>,
    pub inbox: Inbox,
    pub http: reqwest::Client,
}

/// The on-call systems the bot can answer from; tests that hold for both run
/// once per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    OpsGenie,
    Jsm,
    PagerDuty,
}

pub const UPSTREAMS: [Upstream; 2] = [Upstream::OpsGenie, Upstream::Jsm];

/// Every provider: the tests whose setup and expectations hold on PagerDuty
/// as well (one person per schedule there) run once per entry of this.
pub const ALL_UPSTREAMS: [Upstream; 3] = [Upstream::OpsGenie, Upstream::Jsm, Upstream::PagerDuty];

impl Upstream {
    /// The system's name as the bot says it.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpsGenie => "OpsGenie",
            Self::Jsm => "JSM Operations",
            Self::PagerDuty => "PagerDuty",
        }
    }

    /// Who the harness's simulation has on call for `SCHEDULE`, as a fresh
    /// answer names them: Alice and Bob on OpsGenie and JSM; on PagerDuty the
    /// final schedule's one person, with until when and who is next.
    pub fn on_call_now(self) -> String {
        match self {
            Self::OpsGenie | Self::Jsm => "<@UALICE>, <@UBOB>".to_owned(),
            Self::PagerDuty => format!(
                "<@UALICE> until {}; next: <@UBOB>",
                oncall_bot::bot::slack_date(tomorrow(11))
            ),
        }
    }

    /// The `call` label of its on-call reads in `/metrics`.
    pub fn on_call_call(self) -> &'static str {
        match self {
            Self::OpsGenie | Self::Jsm => "on_calls",
            Self::PagerDuty => "schedule",
        }
    }

    /// Its label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Self::OpsGenie => "opsgenie",
            Self::Jsm => "jsm",
            Self::PagerDuty => "pagerduty",
        }
    }
}

pub const JSM_CLOUD_ID: &str = "0f1e2d3c-cloud";
pub const JSM_EMAIL: &str = "ops-bot@corp.example";
pub const JSM_TOKEN: &str = "atlassian-api-token";
pub const JSM_INTEGRATION_KEY: &str = "jsm-integration-key";

/// The hour `from_now` hours from the start of this hour.
pub fn hours(from_now: i64) -> std::time::SystemTime {
    let now = unix_now();
    let hour = now - now % 3600;
    std::time::SystemTime::UNIX_EPOCH + Duration::from_secs((hour + from_now * 3600) as u64)
}

/// Tomorrow (UTC) at `hour`:00.
pub fn tomorrow(hour: i64) -> std::time::SystemTime {
    let now = unix_now();
    let midnight = now - now % 86_400 + 86_400;
    std::time::SystemTime::UNIX_EPOCH + Duration::from_secs((midnight + hour * 3600) as u64)
}

/// The simulated JSM site: Alice and Bob on call for `SCHEDULE` (by account
/// id), Carol for payments, Erin with a hidden email.
pub async fn start_jsm() -> JsmSite {
    crate::logs::install();
    let jsm = JsmSite::start(JSM_CLOUD_ID, JSM_EMAIL, JSM_TOKEN, JSM_INTEGRATION_KEY).await;
    jsm.add_user("acc-alice", "Alice Anders", Some("alice@corp.example"));
    jsm.add_user("acc-bob", "Bob Brown", Some("bob@corp.example"));
    jsm.add_user("acc-erin", "Erin Hidden", None);
    jsm.set_on_call("Payments_schedule", &["acc-carol"]);
    jsm.set_on_call(SCHEDULE, &["acc-alice", "acc-bob"]);
    jsm
}

pub fn jsm_config(jsm: &JsmSite) -> JsmConfig {
    JsmConfig {
        site_url: jsm.url().parse().expect("a URL"),
        api_url: jsm.url().parse().expect("a URL"),
        email: JSM_EMAIL.into(),
        api_token: JSM_TOKEN.into(),
        cloud_id: None,
        schedule: SCHEDULE.into(),
        integration_key: Some(JSM_INTEGRATION_KEY.into()),
        account_overrides: HashMap::new(),
    }
}

pub const PD_TOKEN: &str = "pd-test-token";
pub const PD_ROUTING_KEY: &str = "pd-test-routing-key-0000000000001";
pub const PD_WEBHOOK_SECRET: &str = "pd-test-webhook-secret";
/// `SCHEDULE`'s id in the simulated PagerDuty account.
pub const PD_SCHEDULE_ID: &str = "PSRE001";

/// The simulated PagerDuty account: Alice, Bob and Carol; `SCHEDULE` (its id
/// `PD_SCHEDULE_ID`): Alice until tomorrow 11:00, then Bob for a day.
pub async fn start_pagerduty() -> PagerDutyAccount {
    crate::logs::install();
    let pagerduty = PagerDutyAccount::start(PD_TOKEN, PD_ROUTING_KEY).await;
    for (id, name, email) in [
        ("PUSRALI", "Alice Anders", "alice@corp.example"),
        ("PUSRBOB", "Bob Brown", "bob@corp.example"),
        ("PUSRCAR", "Carol Clark", "carol@corp.example"),
        ("PUSRZED", "Zed Outside", "zed@elsewhere.example"),
    ] {
        pagerduty.add_user(id, name, email);
    }
    let shift = |user: &str, from, to| PdShift {
        user: user.into(),
        from,
        to,
    };
    pagerduty.set_schedule(
        PD_SCHEDULE_ID,
        SCHEDULE,
        vec![
            shift("PUSRALI", hours(-1), tomorrow(11)),
            shift("PUSRBOB", tomorrow(11), tomorrow(35)),
        ],
    );
    pagerduty
}

pub fn pagerduty_config(pagerduty: &PagerDutyAccount, schedule: &str) -> PagerDutyConfig {
    PagerDutyConfig {
        api_url: pagerduty.url().parse().expect("a URL"),
        events_url: pagerduty.url().parse().expect("a URL"),
        api_token: PD_TOKEN.into(),
        schedule: schedule.to_owned(),
        routing_key: Some(PD_ROUTING_KEY.into()),
        escalation_policies: Default::default(),
    }
}

/// The simulated workspace: the bot, Alice, Bob and Carol.
pub async fn start_slack() -> SlackWorkspace {
    crate::logs::install();
    SlackWorkspace::start(BOT_TOKEN, BOT_USER, BOT_ID, PEOPLE).await
}

/// The simulated OpsGenie account, with Alice and Bob on call for `SCHEDULE`.
pub async fn start_opsgenie() -> OpsGenieAccount {
    crate::logs::install();
    let opsgenie = OpsGenieAccount::start(OPSGENIE_KEY).await;
    opsgenie.set_on_call(SCHEDULE, &["alice@corp.example", "bob@corp.example"]);
    opsgenie
}

/// OpsGenie's answer for the on-call people of `SCHEDULE`, for mocks that
/// override the simulation (delays, faults).
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

/// The app's configuration, pointed at the two simulations.
pub fn test_config(slack: &SlackWorkspace, opsgenie: &OpsGenieAccount) -> ServeConfig {
    ServeConfig {
        slack: slack_config(slack),
        signing_secret: Some(SIGNING_SECRET.into()),
        app_token: None,
        socket_reconnect: BackoffPolicy::default(),
        socket_timings: Default::default(),
        max_in_flight: 1000,
        http_limits: Default::default(),
        source: SourceConfig::OpsGenie(opsgenie_config(opsgenie)),
        alerts: None,
        alias_secret: Some(ALIAS_SECRET.into()),
        webhooks: Default::default(),
        state: None,
        announcements: Vec::new(),
        topics: Vec::new(),
        take_call: Default::default(),
        announce_interval: Duration::from_secs(30),
        usergroups: Vec::new(),
        usergroup_interval: Duration::from_secs(300),
        routing: Routing::default(),
        email_overrides: HashMap::new(),
        cache_ttl: Duration::from_secs(300),
        source_backoff: BackoffPolicy::default(),
        listen_addr: "127.0.0.1:0".parse().expect("an address"),
        drain_timeout: Duration::from_secs(5),
        ack_budget: Duration::from_secs(2),
        timeouts: test_timeouts(),
    }
}

pub fn test_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        total: Duration::from_secs(2),
    }
}

pub fn slack_config(slack: &SlackWorkspace) -> SlackConfig {
    SlackConfig {
        bot_token: BOT_TOKEN.into(),
        user_token: None,
        api_url: slack.url().parse().expect("fake URL"),
    }
}

pub fn opsgenie_config(opsgenie: &OpsGenieAccount) -> OpsGenieConfig {
    OpsGenieConfig {
        api_key: OPSGENIE_KEY.into(),
        schedule: SCHEDULE.into(),
        api_url: opsgenie.url().parse().expect("fake URL"),
    }
}

/// `sync-usergroup`'s configuration for `group`, pointed at the two simulations.
pub fn sync_config(slack: &SlackWorkspace, opsgenie: &OpsGenieAccount, group: &str) -> SyncConfig {
    SyncConfig {
        slack: slack_config(slack),
        source: SourceConfig::OpsGenie(opsgenie_config(opsgenie)),
        usergroups: vec![UserGroupSpec {
            group: group.parse::<UserGroupRef>().expect("a group"),
            schedules: vec![SCHEDULE.to_owned()],
            always: Vec::new(),
        }],
        email_overrides: HashMap::new(),
        timeouts: test_timeouts(),
    }
}

/// The app, serving on a loopback port, with Alice and Bob on call.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The app, with its configuration adjusted by `adjust` first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    spawn_app_with_workspace(|_, config| adjust(config)).await
}

/// The app, with its configuration adjusted by `adjust` (which also sees the
/// simulated workspace) first.
pub async fn spawn_app_with_workspace(
    adjust: impl FnOnce(&SlackWorkspace, &mut ServeConfig),
) -> TestApp {
    spawn_app_on_with_workspace(Upstream::OpsGenie, adjust).await
}

/// The app answering from `upstream`, with its configuration adjusted first.
pub async fn spawn_app_on(upstream: Upstream, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    spawn_app_on_with_workspace(upstream, |_, config| adjust(config)).await
}

pub async fn spawn_app_on_with_workspace(
    upstream: Upstream,
    adjust: impl FnOnce(&SlackWorkspace, &mut ServeConfig),
) -> TestApp {
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let jsm = match upstream {
        Upstream::Jsm => Some(start_jsm().await),
        Upstream::OpsGenie | Upstream::PagerDuty => None,
    };
    let pagerduty = match upstream {
        Upstream::PagerDuty => Some(start_pagerduty().await),
        Upstream::OpsGenie | Upstream::Jsm => None,
    };
    serve_on(
        Upstreams {
            slack,
            opsgenie,
            jsm,
            pagerduty,
        },
        adjust,
    )
    .await
}

/// The simulations an app runs against.
struct Upstreams {
    slack: SlackWorkspace,
    opsgenie: OpsGenieAccount,
    jsm: Option<JsmSite>,
    pagerduty: Option<PagerDutyAccount>,
}

/// The app's configuration for these simulations: JSM's when there is a JSM
/// site, PagerDuty's (with its webhook secret) when there is a PagerDuty
/// account, else OpsGenie's.
fn config_for(upstreams: &Upstreams) -> ServeConfig {
    let mut config = test_config(&upstreams.slack, &upstreams.opsgenie);
    if let Some(jsm) = &upstreams.jsm {
        config.source = SourceConfig::Jsm(jsm_config(jsm));
    }
    if let Some(pagerduty) = &upstreams.pagerduty {
        config.source = SourceConfig::PagerDuty(pagerduty_config(pagerduty, SCHEDULE));
        config.webhooks.pagerduty = Some(PD_WEBHOOK_SECRET.into());
    }
    config
}

/// The app serving on a loopback port against these simulations.
async fn serve_on(
    upstreams: Upstreams,
    adjust: impl FnOnce(&SlackWorkspace, &mut ServeConfig),
) -> TestApp {
    let mut config = config_for(&upstreams);
    adjust(&upstreams.slack, &mut config);
    let Upstreams {
        slack,
        opsgenie,
        jsm,
        pagerduty,
    } = upstreams;
    let services = startup::build(&config).await.expect("the app starts");
    let inbox = services.inbox.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(startup::serve(listener, services, std::future::pending()));
    TestApp {
        address,
        slack,
        opsgenie,
        jsm,
        pagerduty,
        inbox,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client"),
    }
}

impl TestApp {
    /// Another process of the bot, on the same simulations, with nothing of
    /// this one's memory (a restart); `adjust` sets its configuration up as
    /// the first one's was.
    pub async fn restart(self, adjust: impl FnOnce(&SlackWorkspace, &mut ServeConfig)) -> TestApp {
        self.settle().await;
        serve_on(
            Upstreams {
                slack: self.slack,
                opsgenie: self.opsgenie,
                jsm: self.jsm,
                pagerduty: self.pagerduty,
            },
            adjust,
        )
        .await
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

    /// The `/metrics` exposition.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("the app answers")
            .text()
            .await
            .expect("text")
    }

    /// `GET /readyz`: its status and its first line (what it says of taking
    /// events and of the provider; the loops follow it).
    pub async fn readiness(&self) -> (u16, String) {
        let (status, text) = self.readyz().await;
        (
            status,
            text.lines()
                .next()
                .map(|line| format!("{line}\n"))
                .unwrap_or_default(),
        )
    }

    /// `GET /readyz`: its status and text.
    pub async fn readyz(&self) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}/readyz", self.address))
            .send()
            .await
            .expect("the app answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("text"))
    }

    /// Waits (up to 5 s) until `/metrics` has every one of `lines`.
    pub async fn wait_for_metrics(&self, lines: &[&str]) {
        let mut text = String::new();
        for _ in 0..200 {
            text = self.metrics().await;
            if lines.iter().all(|line| text.contains(line)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {lines:?} in:\n{text}");
    }

    /// Waits until every acked event has been answered.
    pub async fn settle(&self) {
        self.inbox.wait_idle().await;
    }

    /// Every message the bot posted.
    pub fn replies(&self) -> Vec<Post> {
        self.slack.posts()
    }

    /// Delivers `event`, waits for the work it started, and returns the text of
    /// the last message the bot posted (empty when it posted none).
    pub async fn answer_to(&self, event: &str) -> String {
        self.deliver(event).await;
        self.settle().await;
        self.replies()
            .last()
            .map(|post| post.text.clone())
            .unwrap_or_default()
    }

    /// How many on-call lookups reached OpsGenie.
    pub async fn on_call_lookups(&self) -> usize {
        requests_to(
            self.opsgenie.server(),
            &format!("/v2/schedules/{SCHEDULE}/on-calls"),
        )
        .await
    }

    /// Which on-call system the app answers from.
    pub fn upstream(&self) -> Upstream {
        match (&self.jsm, &self.pagerduty) {
            (Some(_), _) => Upstream::Jsm,
            (None, Some(_)) => Upstream::PagerDuty,
            (None, None) => Upstream::OpsGenie,
        }
    }

    /// The fake of the on-call system the app answers from.
    pub fn upstream_server(&self) -> &MockServer {
        match (&self.jsm, &self.pagerduty) {
            (Some(jsm), _) => jsm.server(),
            (None, Some(pagerduty)) => pagerduty.server(),
            (None, None) => self.opsgenie.server(),
        }
    }

    /// A mock for the on-call lookup of `SCHEDULE` on whichever system the app
    /// answers from (mount it with `mount_on_upstream`).
    pub fn on_call_lookup(&self) -> wiremock::MockBuilder {
        match self.upstream() {
            Upstream::OpsGenie => on_call_request(),
            Upstream::Jsm => Mock::given(method("GET")).and(path_regex(r"/on-calls$")),
            // PagerDuty answers who is on call from the schedule itself.
            Upstream::PagerDuty => Mock::given(method("GET"))
                .and(path(format!("/schedules/{PD_SCHEDULE_ID}")))
                .and(wiremock::matchers::query_param_is_missing("query")),
        }
    }

    /// How many on-call lookups reached the on-call system, whichever it is.
    /// On PagerDuty, the schedule's reads (one answers who is on now, and is
    /// the timeline too).
    pub async fn upstream_on_call_lookups(&self) -> usize {
        let lookup = match self.upstream() {
            Upstream::PagerDuty => format!("/schedules/{PD_SCHEDULE_ID}"),
            Upstream::OpsGenie | Upstream::Jsm => String::new(),
        };
        recorded(self.upstream_server())
            .await
            .iter()
            .filter(|request| {
                let path = request.url.path();
                if lookup.is_empty() {
                    path.ends_with("/on-calls")
                } else {
                    path == lookup
                }
            })
            .count()
    }

    pub async fn email_lookups(&self) -> usize {
        requests_to(self.slack.server(), "/users.lookupByEmail").await
    }
}

/// Every request `server` received. Panics when the fake does not record, so
/// that a count of zero always means "nothing was sent", never "not recorded".
pub async fn recorded(server: &MockServer) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .expect("the fake records the requests it receives")
}

/// How many requests `server` received for `wanted` (a path).
pub async fn requests_to(server: &MockServer, wanted: &str) -> usize {
    recorded(server)
        .await
        .iter()
        .filter(|request| request.url.path() == wanted)
        .count()
}

/// The next on-call lookup takes 800 ms, so the answers waiting on it stay in
/// flight meanwhile.
pub async fn hold_the_next_lookup(app: &TestApp) {
    on_call_request()
        .respond_with(on_call_answer(&["alice@corp.example"]).set_delay(Duration::from_millis(800)))
        .up_to_n_times(1)
        .mount(app.opsgenie.server())
        .await;
}

/// `count` mentions asking who is on call, each a new event and message
/// (`Ev1` at `1.1`, …).
pub fn distinct_mentions(count: usize) -> Vec<String> {
    (1..=count)
        .map(|n| {
            mention(
                &format!("Ev{n}"),
                "C1",
                &format!("1.{n}"),
                "<@UBOT> prod is down",
            )
        })
        .collect()
}

/// An `app_mention` from UASKER.
pub fn mention(event_id: &str, channel: &str, ts: &str, text: &str) -> String {
    events::app_mention(event_id, channel, "UASKER", ts, text)
}

/// An `app_mention` from UASKER posted inside an existing thread.
pub fn mention_in_thread(event_id: &str, channel: &str, ts: &str, thread_ts: &str) -> String {
    events::in_thread(
        &mention(event_id, channel, ts, "<@UBOT> help me"),
        thread_ts,
    )
}

/// A `message` event in a DM with the bot.
pub fn direct_message(event_id: &str, user: &str, ts: &str, text: &str) -> String {
    events::direct_message(event_id, "D0DM", user, ts, text)
}

/// A real payload from `tests/data/slack/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The OpsGenie part of a configuration the harness built.
pub fn opsgenie_of(config: &mut ServeConfig) -> &mut OpsGenieConfig {
    match &mut config.source {
        SourceConfig::OpsGenie(opsgenie) => opsgenie,
        SourceConfig::Jsm(_) | SourceConfig::PagerDuty(_) => {
            panic!("the harness configures OpsGenie")
        }
    }
}

/// A loopback port nobody listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `oncall-bot serve` (the built binary), configured against the simulations and
/// listening on `port`; only the environment it is given.
pub fn serve_command(
    slack: &SlackWorkspace,
    opsgenie: &OpsGenieAccount,
    port: u16,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_oncall-bot"));
    command
        .arg("serve")
        .env_clear()
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_API_URL", slack.url())
        .env("OPSGENIE_API_KEY", OPSGENIE_KEY)
        .env("OPSGENIE_SCHEDULE", SCHEDULE)
        .env("OPSGENIE_API_URL", opsgenie.url())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// Waits (up to 5 s) until `condition` holds.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Waits (up to 5 s) until the `condition` future says so.
pub async fn wait_until_async<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}
