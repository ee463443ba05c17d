//! `oncall-bot demo`: the real bot, in-process, against the simulated Slack
//! workspace and OpsGenie account, playing a short conversation through the signed
//! Events API path and printing it as a person would read it.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::alerting::AlertPolicy;
use crate::config::{
    OpsGenieConfig, ProviderKind, ServeConfig, SlackConfig, SourceConfig, WebhookTokens,
};
use crate::edge::Inbox;
use crate::outbound::{BackoffPolicy, Timeouts};
use crate::providers::{JsmConfig, PagerDutyConfig};
use crate::startup::{self, StartupError};
use oncall_bot_simulator::events::{
    alert_webhook, app_home_opened, app_mention, direct_message, home_button, ButtonClick,
    EventsEndpoint, FilledForm,
};
use oncall_bot_simulator::{
    AlertBook, JsmSite, OpsGenieAccount, PagerDutyAccount, PdShift, Post, SimRotation, SimShift,
    SlackWorkspace,
};

const BOT_TOKEN: &str = "xoxb-demo-bot-token";
const SIGNING_SECRET: &str = "demo-signing-secret";
const OPSGENIE_KEY: &str = "demo-opsgenie-key";
const WEBHOOK_TOKEN: &str = "demo-webhook-token";
const JSM_EMAIL: &str = "ops-bot@demo.example";
const JSM_TOKEN: &str = "demo-atlassian-token";
const SCHEDULE: &str = "SRE_schedule";
const PD_SCHEDULE_ID: &str = "PSRE001";
const PD_TOKEN: &str = "demo-pagerduty-token";
const PD_ROUTING_KEY: &str = "demo-pagerduty-routing-key-0001";
const BOT_USER: &str = "U0OPS";
/// What the printed curl line says to the bot.
const CURL_TEXT: &str = "hello from curl";
const SUPPORT: &str = "C0SUPPORT";
/// Where hand-overs are announced.
const ONCALL_CHANNEL: &str = "C0ONCALL";
const DM: &str = "D0DANA";
const DANA: &str = "U0DANA";
const ERIN: &str = "U0ERIN";

/// The demo workspace: (email, Slack id, name).
const PEOPLE: &[(&str, &str, &str)] = &[
    ("alice@demo.example", "U0ALICE", "alice"),
    ("bob@demo.example", "U0BOB", "bob"),
    ("dana@demo.example", DANA, "dana"),
    ("erin@demo.example", ERIN, "erin"),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("could not open a loopback port: {0}")]
    Listen(std::io::Error),
    #[error("could not deliver an event to the bot: {0}")]
    Deliver(#[from] reqwest::Error),
    #[error("the bot answered HTTP {0} to a signed event")]
    Refused(u16),
    #[error("the simulation's address is not a URL: {0}")]
    Url(String),
}

/// The simulated on-call system: OpsGenie, JSM Operations, or PagerDuty.
pub enum SimulatedSource {
    OpsGenie(OpsGenieAccount),
    Jsm(JsmSite),
    PagerDuty(PagerDutyAccount),
}

impl SimulatedSource {
    fn name(&self) -> &'static str {
        match self {
            Self::OpsGenie(_) => "OpsGenie",
            Self::Jsm(_) => "JSM Operations",
            Self::PagerDuty(_) => "PagerDuty",
        }
    }

    /// The alerts received, as OpsGenie's bodies say them (PagerDuty's events
    /// read into the same fields: severity, summary, dedup key, details).
    fn alerts(&self) -> Vec<serde_json::Value> {
        match self {
            Self::OpsGenie(opsgenie) => opsgenie.alerts(),
            Self::Jsm(jsm) => jsm.alerts(),
            Self::PagerDuty(pagerduty) => pagerduty
                .events()
                .into_iter()
                .map(|event| {
                    serde_json::json!({
                        "priority": format!(
                            "severity {}",
                            event["payload"]["severity"].as_str().unwrap_or_default()
                        ),
                        "message": event["payload"]["summary"],
                        "alias": event["dedup_key"],
                        "description": event["payload"]["custom_details"]["description"],
                    })
                })
                .collect(),
        }
    }

    /// The overrides the schedule was asked for, as the provider got them.
    fn overrides(&self) -> Vec<serde_json::Value> {
        match self {
            Self::OpsGenie(opsgenie) => opsgenie.overrides(),
            Self::Jsm(jsm) => jsm.overrides(),
            Self::PagerDuty(pagerduty) => pagerduty.overrides(),
        }
    }

    /// A Backup rotation in the schedule: dana now, then erin; the Weekly one
    /// keeps whoever is on it now (bob on OpsGenie, after the hand-over;
    /// alice on JSM) for a week.
    fn add_backup_rotation(&self) {
        let now = std::time::SystemTime::now();
        let (day, week) = (Duration::from_secs(86_400), Duration::from_secs(7 * 86_400));
        let backup = [
            ("dana", now - Duration::from_secs(3600), now + day * 2),
            ("erin", now + day * 2, now + day * 2 + week),
        ];
        match self {
            Self::OpsGenie(opsgenie) => {
                let shift = |who: &str, from, to| SimShift {
                    email: format!("{who}@demo.example"),
                    from,
                    to,
                    is_override: false,
                };
                opsgenie.set_rotations(
                    SCHEDULE,
                    vec![
                        SimRotation {
                            name: "Weekly".to_owned(),
                            shifts: vec![shift("bob", now - Duration::from_secs(3600), now + week)],
                        },
                        SimRotation {
                            name: "Backup".to_owned(),
                            shifts: backup
                                .iter()
                                .map(|(who, from, to)| shift(who, *from, *to))
                                .collect(),
                        },
                    ],
                );
            }
            Self::PagerDuty(pagerduty) => {
                // One person at a time on PagerDuty's final schedule: dana now.
                let shifts = backup
                    .iter()
                    .map(|(who, from, to)| PdShift {
                        user: format!("PUSR{}", who.to_uppercase()),
                        from: *from,
                        to: *to,
                    })
                    .collect();
                pagerduty.set_schedule(PD_SCHEDULE_ID, SCHEDULE, shifts);
            }
            Self::Jsm(jsm) => {
                jsm.add_user("acc-dana", "Dana", Some("dana@demo.example"));
                jsm.add_user("acc-erin", "Erin", Some("erin@demo.example"));
                jsm.set_rotations(
                    SCHEDULE,
                    vec![
                        (
                            "Weekly".to_owned(),
                            vec![(
                                "acc-alice".to_owned(),
                                now - Duration::from_secs(3600),
                                now + week,
                            )],
                        ),
                        (
                            "Backup".to_owned(),
                            backup
                                .iter()
                                .map(|(who, from, to)| (format!("acc-{who}"), *from, *to))
                                .collect(),
                        ),
                    ],
                );
            }
        }
    }

    fn alert_book(&self) -> AlertBook {
        match self {
            Self::OpsGenie(opsgenie) => opsgenie.alert_book(),
            Self::Jsm(jsm) => jsm.alert_book(),
            Self::PagerDuty(pagerduty) => pagerduty.alert_book(),
        }
    }

    /// The bot's route for this system's outgoing webhook.
    fn webhook_route(&self) -> &'static str {
        match self {
            Self::OpsGenie(_) => "/opsgenie/webhook",
            Self::Jsm(_) => "/jsm/webhook",
            Self::PagerDuty(_) => "/pagerduty/webhook",
        }
    }
}

/// The simulated world and the bot serving it.
pub struct Demo {
    pub slack: SlackWorkspace,
    pub source: SimulatedSource,
    pub inbox: Inbox,
    pub address: String,
    pub endpoint: EventsEndpoint,
    names: BTreeMap<String, String>,
}

impl Demo {
    /// Starts the simulations and the bot on a loopback port.
    pub async fn start(
        alerts: Option<AlertPolicy>,
        provider: ProviderKind,
    ) -> Result<Self, DemoError> {
        let people: Vec<(&str, &str)> = PEOPLE.iter().map(|(email, id, _)| (*email, *id)).collect();
        let slack = SlackWorkspace::start(BOT_TOKEN, BOT_USER, "B0OPS", &people).await;
        let url = |url: String| url.parse().map_err(|_| DemoError::Url(url));
        let (simulated, source) = match provider {
            ProviderKind::Opsgenie => {
                let opsgenie = OpsGenieAccount::start(OPSGENIE_KEY).await;
                opsgenie.set_on_call(SCHEDULE, &["alice@demo.example", "bob@demo.example"]);
                let source = SourceConfig::OpsGenie(OpsGenieConfig {
                    api_key: OPSGENIE_KEY.into(),
                    schedule: SCHEDULE.into(),
                    api_url: url(opsgenie.url())?,
                });
                (SimulatedSource::OpsGenie(opsgenie), source)
            }
            ProviderKind::Pagerduty => {
                let pagerduty = PagerDutyAccount::start(PD_TOKEN, PD_ROUTING_KEY).await;
                for (email, _, name) in PEOPLE {
                    let id = format!("PUSR{}", name.to_uppercase());
                    pagerduty.add_user(&id, name, email);
                }
                let now = std::time::SystemTime::now();
                let hour = Duration::from_secs(3600);
                // The final schedule: alice now, bob from tomorrow.
                pagerduty.set_schedule(
                    PD_SCHEDULE_ID,
                    SCHEDULE,
                    vec![
                        PdShift {
                            user: "PUSRALICE".into(),
                            from: now - hour,
                            to: now + hour * 24,
                        },
                        PdShift {
                            user: "PUSRBOB".into(),
                            from: now + hour * 24,
                            to: now + hour * 24 * 8,
                        },
                    ],
                );
                let source = SourceConfig::PagerDuty(PagerDutyConfig {
                    api_url: url(pagerduty.url())?,
                    events_url: url(pagerduty.url())?,
                    api_token: PD_TOKEN.into(),
                    schedule: SCHEDULE.into(),
                    routing_key: Some(PD_ROUTING_KEY.into()),
                    escalation_policies: Default::default(),
                });
                (SimulatedSource::PagerDuty(pagerduty), source)
            }
            ProviderKind::Jsm => {
                let jsm = JsmSite::start("demo-cloud", JSM_EMAIL, JSM_TOKEN, OPSGENIE_KEY).await;
                jsm.add_user("acc-alice", "Alice", Some("alice@demo.example"));
                jsm.add_user("acc-bob", "Bob", Some("bob@demo.example"));
                jsm.set_on_call(SCHEDULE, &["acc-alice", "acc-bob"]);
                let source = SourceConfig::Jsm(JsmConfig {
                    site_url: url(jsm.url())?,
                    api_url: url(jsm.url())?,
                    email: JSM_EMAIL.into(),
                    api_token: JSM_TOKEN.into(),
                    cloud_id: None,
                    schedule: SCHEDULE.into(),
                    integration_key: Some(OPSGENIE_KEY.into()),
                    account_overrides: std::collections::HashMap::new(),
                });
                (SimulatedSource::Jsm(jsm), source)
            }
        };
        let config = ServeConfig {
            slack: SlackConfig {
                bot_token: BOT_TOKEN.into(),
                user_token: None,
                api_url: url(slack.url())?,
            },
            signing_secret: Some(SIGNING_SECRET.into()),
            app_token: None,
            socket_reconnect: crate::config::settings::SOCKET_RECONNECT,
            socket_timings: Default::default(),
            max_in_flight: 1000,
            http_limits: Default::default(),
            source,
            alerts,
            alias_secret: None,
            webhooks: WebhookTokens {
                opsgenie: Some(WEBHOOK_TOKEN.into()),
                jsm: Some(WEBHOOK_TOKEN.into()),
                pagerduty: Some(WEBHOOK_TOKEN.into()),
            },
            state: None,
            announcements: vec![crate::handovers::AnnounceSpec {
                label: SCHEDULE.to_owned(),
                schedule: SCHEDULE.to_owned(),
                channel: Some(ONCALL_CHANNEL.to_owned()),
                remind_before: None,
            }],
            topics: Vec::new(),
            take_call: Default::default(),
            announce_interval: Duration::from_millis(200),
            usergroups: Vec::new(),
            usergroup_interval: Duration::from_secs(300),
            routing: crate::routing::Routing::default(),
            email_overrides: std::collections::HashMap::new(),
            cache_ttl: Duration::from_secs(300),
            source_backoff: BackoffPolicy::default(),
            listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            drain_timeout: Duration::from_secs(5),
            ack_budget: Duration::from_secs(2),
            timeouts: Timeouts::default(),
        };
        let services = startup::build(&config).await?;
        let inbox = services.inbox.clone();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Listen)?;
        let address = format!(
            "http://{}",
            listener.local_addr().map_err(DemoError::Listen)?
        );
        tokio::spawn(startup::serve(listener, services, std::future::pending()));
        let mut names: BTreeMap<String, String> = PEOPLE
            .iter()
            .map(|(_, id, name)| ((*id).to_owned(), (*name).to_owned()))
            .collect();
        names.insert(BOT_USER.to_owned(), "ops".to_owned());
        Ok(Self {
            endpoint: EventsEndpoint::new(&address, SIGNING_SECRET),
            slack,
            source: simulated,
            inbox,
            address,
            names,
        })
    }

    /// `<@U0ALICE>` → `@alice`, as Slack shows a mention; `<!date^…|text>` →
    /// its text.
    fn render(&self, text: &str) -> String {
        let mentions = self
            .names
            .iter()
            .fold(text.to_owned(), |text, (id, name)| {
                text.replace(&format!("<@{id}>"), &format!("@{name}"))
            })
            .replace(&format!("<#{ONCALL_CHANNEL}>"), "#oncall")
            .replace(&format!("<#{SUPPORT}>"), "#support");
        let mut out = String::with_capacity(mentions.len());
        let mut rest = mentions.as_str();
        while let Some(start) = rest.find("<!date^") {
            out.push_str(&rest[..start]);
            let date = &rest[start..];
            match (date.find('|'), date.find('>')) {
                (Some(bar), Some(end)) if bar < end => {
                    out.push_str(&date[bar + 1..end]);
                    rest = &date[end + 1..];
                }
                _ => {
                    out.push_str(date);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Delivers `body` (signed) and waits for the bot to finish; returns its new posts.
    async fn exchange(&self, body: &str, retry: Option<u32>) -> Result<Vec<Post>, DemoError> {
        let before = self.slack.posts().len();
        let status = self.endpoint.deliver(body, retry).await?;
        if status != 200 {
            return Err(DemoError::Refused(status));
        }
        self.inbox.wait_idle().await;
        Ok(self.slack.posts().split_off(before))
    }

    fn replies(&self, transcript: &mut Vec<String>, posts: &[Post]) {
        for post in posts {
            let mut lines = post.text.lines();
            let first = lines.next().unwrap_or_default();
            transcript.push(format!("    ↳ ops (in thread): {}", self.render(first)));
            for line in lines {
                transcript.push(format!("                       {}", self.render(line)));
            }
            if let Some(buttons) = buttons_of(post) {
                transcript.push(format!("                       {buttons}"));
            }
        }
    }

    /// The alert's life in its thread: a click on **Take it**, then a note and
    /// the close coming back from the on-call system's webhook.
    async fn both_ways(&self, out: &mut Vec<String>, thread_ts: &str) -> Result<(), DemoError> {
        let Some(answer) = self
            .slack
            .posts()
            .into_iter()
            .find(|post| post.thread_ts.as_deref() == Some(thread_ts) && post.blocks.is_some())
        else {
            return Ok(());
        };
        let system = self.source.name();
        // The alias the answer's buttons carry.
        let alias = answer.blocks.as_ref().and_then(|blocks| {
            blocks.as_array()?.iter().find_map(|block| {
                block["elements"].as_array()?.iter().find_map(|element| {
                    (element["type"] == "button").then(|| element["value"].as_str())?
                })
            })
        });
        let Some(alias) = alias.map(str::to_owned) else {
            return Ok(());
        };
        out.push(String::new());
        out.push("The alert, both ways:".to_owned());
        out.push("#support  bob clicks [Take it] under the first answer".to_owned());
        let before = self.source.alert_book().actions().len();
        let click = ButtonClick::on(&answer, "U0BOB", "alert_take", &alias);
        let status = self.endpoint.click(&click).await?;
        if status != 200 {
            return Err(DemoError::Refused(status));
        }
        self.inbox.wait_idle().await;
        if let SimulatedSource::PagerDuty(pagerduty) = &self.source {
            return self
                .both_ways_on_pagerduty(out, &answer, &alias, pagerduty)
                .await;
        }
        for action in &self.source.alert_book().actions()[before..] {
            let owner = action.body["owner"]["username"]
                .as_str()
                .map(|owner| format!(" to {owner}"))
                .unwrap_or_default();
            out.push(format!(
                "    → {system}: {}{owner}, as {}",
                action.action,
                action.body["user"].as_str().unwrap_or_default()
            ));
        }
        self.status_line(out, &answer.ts);
        let updates = [
            alert_webhook(
                "AddNote",
                &alias,
                "alice@demo.example",
                1_700_000_600_000_000_000,
                "",
                serde_json::json!({"note": "Rolling back the 14:02 deploy"}),
            ),
            alert_webhook(
                "Close",
                &alias,
                "alice@demo.example",
                1_700_000_700_000_000_000,
                "",
                serde_json::json!({}),
            ),
        ];
        for (what, body) in ["adds a note", "closes the alert"].iter().zip(updates) {
            out.push(format!(
                "{system}  alice {what} (its webhook tells the bot)"
            ));
            let delivery = reqwest::Client::new()
                .post(format!("{}{}", self.address, self.source.webhook_route()))
                .header("authorization", format!("Bearer {WEBHOOK_TOKEN}"))
                .body(body);
            self.deliver_webhook(out, delivery, 200).await?;
        }
        self.status_line(out, &answer.ts);
        Ok(())
    }

    /// Sends a provider's webhook delivery (`taken`: the status it must get),
    /// then shows what the bot said in the thread.
    async fn deliver_webhook(
        &self,
        out: &mut Vec<String>,
        delivery: reqwest::RequestBuilder,
        taken: u16,
    ) -> Result<(), DemoError> {
        let before = self.slack.posts().len();
        let status = delivery
            .header("content-type", "application/json")
            .send()
            .await?
            .status()
            .as_u16();
        if status != taken {
            return Err(DemoError::Refused(status));
        }
        self.inbox.wait_idle().await;
        let posts = self.slack.posts().split_off(before);
        self.replies(out, &posts);
        Ok(())
    }

    /// The rest of [`Self::both_ways`] on PagerDuty: the incident as the click
    /// left it, then a note and the resolve coming back as signed v3 webhooks.
    async fn both_ways_on_pagerduty(
        &self,
        out: &mut Vec<String>,
        answer: &Post,
        alias: &str,
        pagerduty: &PagerDutyAccount,
    ) -> Result<(), DemoError> {
        if let Some((id, status, assignee)) = pagerduty.incident(alias) {
            out.push(format!(
                "    → PagerDuty: incident {id} is {status}, assigned to {} (From: bob@demo.example)",
                assignee.unwrap_or_else(|| "nobody".to_owned())
            ));
        }
        self.status_line(out, &answer.ts);
        let note = oncall_bot_simulator::pagerduty::webhook_body(
            pagerduty,
            "incident.annotated",
            alias,
            Some("PUSRALICE"),
            "2030-01-15T09:05:00Z",
            Some("Rolling back the 14:02 deploy"),
        );
        pagerduty.set_incident_status(alias, "resolved");
        let resolved = oncall_bot_simulator::pagerduty::webhook_body(
            pagerduty,
            "incident.resolved",
            alias,
            Some("PUSRALICE"),
            "2030-01-15T09:10:00Z",
            None,
        );
        for (n, (what, body)) in [("adds a note", note), ("resolves the incident", resolved)]
            .into_iter()
            .enumerate()
        {
            out.push(format!(
                "PagerDuty alice {what} (its webhook tells the bot)"
            ));
            let delivery = reqwest::Client::new()
                .post(format!("{}/pagerduty/webhook", self.address))
                .header(
                    "x-pagerduty-signature",
                    oncall_bot_simulator::pagerduty::webhook_signature(WEBHOOK_TOKEN, &body),
                )
                .header("x-webhook-id", format!("demo-{n}"))
                .body(body);
            self.deliver_webhook(out, delivery, 202).await?;
        }
        self.status_line(out, &answer.ts);
        Ok(())
    }

    /// On-call in time: the schedule gets rotations (bob takes over from alice
    /// in a moment), then questions about time, then the hand-over notice.
    async fn in_time(
        &self,
        out: &mut Vec<String>,
        opsgenie: &OpsGenieAccount,
    ) -> Result<(), DemoError> {
        let now = std::time::SystemTime::now();
        let hour = Duration::from_secs(3600);
        // A whole second (the timeline carries seconds), a moment from now.
        let handover = {
            let seconds = now
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            std::time::UNIX_EPOCH + Duration::from_secs(seconds + 1)
        };
        let shift = |email: &str, from, to| SimShift {
            email: email.to_owned(),
            from,
            to,
            is_override: false,
        };
        opsgenie.set_rotations(
            SCHEDULE,
            vec![SimRotation {
                name: "Weekly".to_owned(),
                shifts: vec![
                    shift("alice@demo.example", now - hour, handover),
                    shift("bob@demo.example", handover, handover + hour * 24 * 7),
                ],
            }],
        );
        out.push(String::new());
        out.push(
            "On-call in time (the schedule now has a weekly rotation; bob takes over from alice in a moment; times in UTC):"
                .to_owned(),
        );
        let questions = [
            (
                "Ev101",
                DANA,
                "dana",
                "1700000500.000100",
                "who is on call on Saturday?",
            ),
            (
                "Ev102",
                "U0BOB",
                "bob",
                "1700000600.000100",
                "when am I on?",
            ),
        ];
        for (event, user, name, ts, question) in questions {
            let text = format!("<@{BOT_USER}> {question}");
            out.push(format!("#support  {name}: {}", self.render(&text)));
            let posts = self
                .exchange(&app_mention(event, SUPPORT, user, ts, &text), None)
                .await?;
            self.replies(out, &posts);
        }
        for _ in 0..50 {
            let notices: Vec<Post> = self
                .slack
                .posts()
                .into_iter()
                .filter(|post| post.channel == ONCALL_CHANNEL)
                .collect();
            if let Some(notice) = notices.first() {
                out.push(format!("#oncall   ops: {}", self.render(&notice.text)));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out.push("#oncall   (no hand-over notice arrived)".to_owned());
        Ok(())
    }

    /// The Home tab and "cover me": dana opens the tab, asks for cover from
    /// its form, erin takes it with one click, and the override is made.
    async fn home_and_cover(&self, out: &mut Vec<String>) -> Result<(), DemoError> {
        self.source.add_backup_rotation();
        out.push(String::new());
        out.push(
            "The Home tab and cover (the schedule now has a Backup rotation too: dana, then erin):"
                .to_owned(),
        );
        out.push("DM        dana → ops: cache clear".to_owned());
        let clear = direct_message("Ev200", DM, DANA, "1700000700.000100", "cache clear");
        self.exchange(&clear, None).await?;
        out.push("Home      dana opens ops's Home tab, which reads:".to_owned());
        self.endpoint
            .deliver(&app_home_opened("Ev201", DANA), None)
            .await?;
        self.inbox.wait_idle().await;
        if let Some(home) = self.slack.home_of(DANA) {
            for line in self.view_lines(&home) {
                out.push(format!("          │ {line}"));
            }
        }
        let trigger = self.slack.issue_trigger();
        self.endpoint
            .interact(&home_button(DANA, "home_cover", &trigger))
            .await?;
        self.inbox.wait_idle().await;
        let opened = self.slack.forms().len();
        out.push(format!(
            "Home      dana clicks [Ask for cover…]: {}",
            if opened == 1 {
                "a form opens (Team, When or From/Until, Note)"
            } else {
                "no form opened"
            }
        ));
        out.push("Home      dana fills it in: SRE_schedule, tomorrow 09:00-13:00, note \"dentist\", and presses Ask".to_owned());
        let before = self.slack.posts().len();
        let (status, body) = self
            .endpoint
            .interact(
                &FilledForm {
                    user: DANA,
                    callback_id: "form_cover",
                    team: Some("default"),
                    when: Some("tomorrow 09:00-13:00"),
                    note: Some("dentist"),
                    ..FilledForm::default()
                }
                .payload(),
            )
            .await?;
        if status != 200 || !body.is_empty() {
            out.push(format!("          the form stays open: {body}"));
            return Ok(());
        }
        self.inbox.wait_idle().await;
        let posts = self.slack.posts().split_off(before);
        self.posted_lines(out, &posts);
        let Some(request) = posts.iter().find(|post| post.channel == ONCALL_CHANNEL) else {
            return Ok(());
        };
        let Some(id) = request.blocks.as_ref().and_then(|blocks| {
            blocks
                .as_array()?
                .iter()
                .filter(|block| block["type"] == "actions")
                .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
                .find(|button| button["action_id"] == "cover_take")?["value"]
                .as_str()
                .map(str::to_owned)
        }) else {
            return Ok(());
        };
        out.push("#oncall   erin clicks [I'll cover]".to_owned());
        let before = self.slack.posts().len();
        self.endpoint
            .click(&ButtonClick::on(request, ERIN, "cover_take", &id))
            .await?;
        self.inbox.wait_idle().await;
        if let Some(covered) = self.slack.message(&request.ts) {
            out.push(format!(
                "    ↻ ops updates the request: {}",
                self.render(&covered.text)
            ));
        }
        let posts = self.slack.posts().split_off(before);
        self.posted_lines(out, &posts);
        out.push(format!(
            "{} now holds {} override(s) made by the bot.",
            self.source.name(),
            self.source.overrides().len()
        ));
        Ok(())
    }

    /// New posts, where they went: a channel's, or a DM.
    fn posted_lines(&self, out: &mut Vec<String>, posts: &[Post]) {
        for post in posts {
            let place = if post.channel == ONCALL_CHANNEL {
                "#oncall   ops:".to_owned()
            } else if let Some(user) = post.channel.strip_prefix('D') {
                let name = self.names.get(user).map_or(user, String::as_str);
                format!("DM        ops → {name}:")
            } else {
                format!("{}  ops:", post.channel)
            };
            let buttons = buttons_of(post)
                .map(|buttons| format!(" {buttons}"))
                .unwrap_or_default();
            out.push(format!("{place} {}{buttons}", self.render(&post.text)));
        }
    }

    /// A view's blocks as lines of text.
    fn view_lines(&self, view: &serde_json::Value) -> Vec<String> {
        let mut lines = Vec::new();
        for block in view["blocks"].as_array().into_iter().flatten() {
            let text = |value: &serde_json::Value| self.render(value.as_str().unwrap_or_default());
            match block["type"].as_str() {
                Some("header") => lines.push(format!("== {} ==", text(&block["text"]["text"]))),
                Some("section") => {
                    lines.extend(text(&block["text"]["text"]).lines().map(str::to_owned))
                }
                Some("context") => lines.push(format!("({})", text(&block["elements"][0]["text"]))),
                Some("divider") => lines.push("────".to_owned()),
                Some("actions") => lines.extend(buttons_of_blocks(std::slice::from_ref(block))),
                _ => {}
            }
        }
        lines
    }

    /// The answer's alert state and buttons as they read now.
    fn status_line(&self, out: &mut Vec<String>, answer_ts: &str) {
        let Some(answer) = self.slack.message(answer_ts) else {
            return;
        };
        let status = answer.text.lines().last().unwrap_or_default();
        let buttons = buttons_of(&answer).unwrap_or_else(|| "(no buttons left)".to_owned());
        out.push(format!(
            "    ↻ ops updates its answer: {} {buttons}",
            self.render(status)
        ));
    }

    /// Plays the conversation; returns the transcript, a line each.
    pub async fn play(&self) -> Result<Vec<String>, DemoError> {
        let mut out = Vec::new();
        let on_call = match self.source {
            SimulatedSource::PagerDuty(_) => "alice on call (one person at a time), bob next",
            _ => "alice and bob on call",
        };
        out.push(format!(
            "Simulated workspace: #support, the bot @ops, and Dana. {} schedule {SCHEDULE}: {on_call}.",
            self.source.name()
        ));
        out.push(String::new());

        let text = format!("<@{BOT_USER}> the checkout page returns 502s, can someone look?");
        let first = app_mention("Ev001", SUPPORT, DANA, "1700000100.000100", &text);
        out.push(format!("#support  dana: {}", self.render(&text)));
        let posts = self.exchange(&first, None).await?;
        self.replies(&mut out, &posts);

        let dm = direct_message("Ev002", DM, DANA, "1700000200.000100", "who is on call?");
        out.push("DM        dana → ops: who is on call?".to_owned());
        let posts = self.exchange(&dm, None).await?;
        self.replies(&mut out, &posts);

        let clear = format!("<@{BOT_USER}> cache clear");
        out.push(format!("#support  dana: {}", self.render(&clear)));
        let posts = self
            .exchange(
                &app_mention("Ev003", SUPPORT, DANA, "1700000300.000100", &clear),
                None,
            )
            .await?;
        self.replies(&mut out, &posts);

        out.push(String::new());
        let posts = self.exchange(&first, Some(1)).await?;
        out.push(format!(
            "Slack retries the first event (X-Slack-Retry-Num: 1): acked, {} new replies.",
            posts.len()
        ));
        let own = direct_message(
            "Ev004",
            DM,
            BOT_USER,
            "1700000400.000100",
            "On call right now: …",
        );
        let posts = self.exchange(&own, None).await?;
        out.push(format!(
            "Slack delivers the bot's own message back to it: ignored, {} new replies.",
            posts.len()
        ));

        let alerts = self.source.alerts();
        for alert in &alerts {
            let field = |name: &str| alert[name].as_str().unwrap_or_default().to_owned();
            out.push(String::new());
            out.push(format!(
                "{} received a {} alert: \"{}\"",
                self.source.name(),
                field("priority"),
                field("message")
            ));
            out.push(format!("    alias {}", field("alias")));
            if let Some(link) = field("description").lines().last() {
                out.push(format!("    {link}"));
            }
        }
        if !alerts.is_empty() {
            self.both_ways(&mut out, "1700000100.000100").await?;
        }
        if let SimulatedSource::OpsGenie(opsgenie) = &self.source {
            self.in_time(&mut out, opsgenie).await?;
        }
        self.home_and_cover(&mut out).await?;
        Ok(out)
    }

    /// A ready-to-paste shell line that posts a correctly signed mention (a new
    /// message each time it runs).
    pub fn curl_line(&self) -> String {
        let body = app_mention(
            "Ev__TS____N__",
            SUPPORT,
            DANA,
            "__TS__.__N__",
            &format!("<@{BOT_USER}> {CURL_TEXT}"),
        );
        self.endpoint.curl_snippet(&body, SIGNING_SECRET)
    }

    /// Prints each new post as it arrives, after the message it answers (the
    /// curl line's), until the process is stopped.
    pub async fn follow(&self, mut seen: usize) {
        loop {
            let posts = self.slack.posts();
            if posts.len() > seen {
                let mut lines = Vec::new();
                for post in &posts[seen..] {
                    lines.push(format!("#support  dana: @ops {CURL_TEXT}"));
                    self.replies(&mut lines, std::slice::from_ref(post));
                }
                for line in lines {
                    println!("{line}");
                }
                seen = posts.len();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many messages the bot has posted.
    pub fn posted(&self) -> usize {
        self.slack.posts().len()
    }
}

/// A message's buttons as the transcript shows them: `[Acknowledge] [Take it]`.
fn buttons_of(post: &Post) -> Option<String> {
    buttons_of_blocks(post.blocks.as_ref()?.as_array()?)
}

/// The buttons among `blocks`, as the transcript shows them.
fn buttons_of_blocks(blocks: &[serde_json::Value]) -> Option<String> {
    let labels: Vec<String> = blocks
        .iter()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|button| {
            button["text"]["text"]
                .as_str()
                .map(|label| format!("[{label}]"))
        })
        .collect();
    (!labels.is_empty()).then(|| labels.join(" "))
}
