//! Two-way alerts: the buttons and text commands in a help request's thread act
//! on its alert as the person who asked, and the provider's webhook flows back
//! into the thread. Every flow runs against OpsGenie, JSM Operations and
//! PagerDuty (its incidents keyed by the alias, its v3 webhooks signed).

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::config::WebhookTokens;
use oncall_bot_simulator::events::{self, alert_webhook, ButtonClick, EventsEndpoint};
use oncall_bot_simulator::pagerduty::{webhook_body, webhook_signature};
use oncall_bot_simulator::{AlertActionRecord, AlertBook, Post};
use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const WEBHOOK_TOKEN: &str = "test-webhook-token";
/// The thread the help request starts.
pub(crate) const THREAD: &str = "1795460000.000100";
/// The alias of the alert the help request raises.
pub(crate) static ALIAS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| alias_for("C1", THREAD, THREAD));
const STATUS_OPEN: &str = "nobody has acknowledged it yet.";

pub(crate) async fn spawn_two_way(upstream: Upstream) -> TestApp {
    spawn_app_on(upstream, |config| {
        config.alerts = Some(AlertPolicy::default());
        config.webhooks = WebhookTokens {
            opsgenie: Some(WEBHOOK_TOKEN.into()),
            jsm: Some(WEBHOOK_TOKEN.into()),
            pagerduty: Some(PD_WEBHOOK_SECRET.into()),
        };
    })
    .await
}

/// How far the tests' fixed webhook times (from 1795460000, in November 2026)
/// move on PagerDuty: to half an hour before this test process started.
static PD_SHIFT: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    u64::try_from(unix_now() - 1_800 - 1_795_460_000).expect("after November 2026")
});

/// What happened to an alert in the provider, as its webhook tells it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Happened<'a> {
    Acknowledged,
    Closed,
    Note(&'a str),
    /// Its owner is now the person with this email.
    Owner(&'a str),
}

/// A person's PagerDuty user id in the harness's account, by email.
fn pd_user(email: &str) -> Option<&'static str> {
    match email {
        "alice@corp.example" => Some("PUSRALI"),
        "bob@corp.example" => Some("PUSRBOB"),
        "carol@corp.example" => Some("PUSRCAR"),
        "zed@elsewhere.example" => Some("PUSRZED"),
        // The escaping sweep's hostile person (their email in PagerDuty is
        // hostile too).
        "mallory@evil.example" => Some("PUSRMAL"),
        _ => None,
    }
}

impl TestApp {
    /// The alerts and actions of the on-call system the app answers from.
    pub(crate) fn book(&self) -> AlertBook {
        match (&self.jsm, &self.pagerduty) {
            (Some(jsm), _) => jsm.alert_book(),
            (None, Some(pagerduty)) => pagerduty.alert_book(),
            (None, None) => self.opsgenie.alert_book(),
        }
    }

    /// The webhook route of the on-call system the app answers from.
    fn webhook_route(&self) -> &'static str {
        match self.upstream() {
            Upstream::OpsGenie => "/opsgenie/webhook",
            Upstream::Jsm => "/jsm/webhook",
            Upstream::PagerDuty => "/pagerduty/webhook",
        }
    }

    /// Delivers `body` to the provider's webhook route: with `token` as the
    /// bearer token (OpsGenie, JSM); on PagerDuty signed with the harness's
    /// secret when `token` is the right one, with `token` itself as the
    /// secret otherwise, unsigned without one (its delivery id the body's).
    pub(crate) async fn webhook(&self, token: Option<&str>, body: &str) -> u16 {
        let mut request = self
            .http
            .post(format!("{}{}", self.address, self.webhook_route()))
            .header("content-type", "application/json")
            .body(body.to_owned());
        match (self.upstream(), token) {
            (_, None) => {}
            (Upstream::PagerDuty, Some(token)) => {
                let secret = if token == WEBHOOK_TOKEN {
                    PD_WEBHOOK_SECRET
                } else {
                    token
                };
                request = request
                    .header("x-pagerduty-signature", webhook_signature(secret, body))
                    .header("x-webhook-id", format!("{:x}", md5ish(body)));
            }
            (Upstream::OpsGenie | Upstream::Jsm, Some(token)) => {
                request = request.header("authorization", format!("Bearer {token}"));
            }
        }
        let status = request.send().await.expect("the app answers").status();
        self.settle().await;
        status.as_u16()
    }

    pub(crate) async fn click(&self, click: &ButtonClick<'_>) -> u16 {
        let status = EventsEndpoint::new(&self.address, SIGNING_SECRET)
            .click(click)
            .await
            .expect("the app answers");
        self.settle().await;
        status
    }

    /// The time a provider's webhook says for `at`: as given, except on
    /// PagerDuty, which refuses events over an hour old: the tests' fixed
    /// times are moved into the last hour there, keeping their order and gaps.
    pub(crate) fn provider_time(&self, at: u64) -> u64 {
        match self.upstream() {
            Upstream::PagerDuty => at + *PD_SHIFT,
            Upstream::OpsGenie | Upstream::Jsm => at,
        }
    }

    /// What the webhook route answers a delivery it took: PagerDuty's 202.
    pub(crate) fn accepted(&self) -> u16 {
        match self.upstream() {
            Upstream::PagerDuty => 202,
            Upstream::OpsGenie | Upstream::Jsm => 200,
        }
    }

    /// The provider's webhook body saying that `by` (an email) did `what` to
    /// the alert under `alias` at `at` (Unix seconds).
    pub(crate) fn told(&self, what: Happened<'_>, alias: &str, by: &str, at: u64) -> String {
        let Some(pagerduty) = &self.pagerduty else {
            let (action, extra) = match what {
                Happened::Acknowledged => ("Acknowledge", json!({})),
                Happened::Closed => ("Close", json!({})),
                Happened::Note(note) => ("AddNote", json!({"note": note})),
                Happened::Owner(owner) => ("AssignOwnership", json!({"owner": owner})),
            };
            return alert_webhook(action, alias, by, u128::from(at) * 1_000_000_000, "", extra);
        };
        let (event, note) = match what {
            Happened::Acknowledged => ("incident.acknowledged", None),
            Happened::Closed => ("incident.resolved", None),
            Happened::Note(note) => ("incident.annotated", Some(note)),
            Happened::Owner(owner) => {
                pagerduty.set_incident_assignee(alias, pd_user(owner));
                ("incident.reassigned", None)
            }
        };
        let occurred_at = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.provider_time(at)),
        )
        .to_string();
        webhook_body(pagerduty, event, alias, pd_user(by), &occurred_at, note)
    }

    /// The answer carrying the alert's card, as it reads now.
    pub(crate) fn answer(&self) -> Post {
        let answer = self
            .replies()
            .into_iter()
            .find(|post| post.blocks.is_some())
            .expect("an answer with the alert's card");
        self.slack.message(&answer.ts).expect("the answer")
    }
}

/// A help request at the top of a new thread, from Dana; returns the answer.
pub(crate) async fn raise(app: &TestApp) -> Post {
    app.deliver(&events::app_mention(
        "EvRaise",
        "C1",
        "UASKER",
        THREAD,
        "<@UBOT> checkout is down",
    ))
    .await;
    app.settle().await;
    assert_eq!(
        app.book().state(ALIAS.as_str()),
        Some(Default::default()),
        "raised"
    );
    app.answer()
}

pub(crate) fn click_on<'a>(answer: &'a Post, user: &'a str, action: &'a str) -> ButtonClick<'a> {
    ButtonClick::on(answer, user, action, ALIAS.as_str())
}

/// The status line and the button labels of a card.
pub(crate) fn card(post: &Post) -> (String, Vec<String>) {
    let blocks = post.blocks.clone().unwrap_or(Value::Null);
    let status = blocks
        .as_array()
        .into_iter()
        .flatten()
        .find(|block| block["type"] == "context")
        .and_then(|block| block["elements"][0]["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    let buttons = blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|button| button["text"]["text"].as_str().map(str::to_owned))
        .collect();
    (status, buttons)
}

/// An action as (alias, verb, who).
fn action(record: &AlertActionRecord) -> (&str, &str, &str) {
    (
        record.alias.as_str(),
        record.action.as_str(),
        record.by.as_str(),
    )
}

/// A stable delivery id for a body: the same delivery sent again keeps it.
fn md5ish(body: &str) -> u64 {
    body.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the provider received says it came from the bot, on Slack's behalf:
/// OpsGenie's and JSM's `source` and `note`; PagerDuty's `From` is the person,
/// and the incident's own log says the API key's integration.
fn from_the_bot(upstream: Upstream, record: &AlertActionRecord) {
    if upstream == Upstream::PagerDuty {
        return;
    }
    assert_eq!(record.body["source"], "oncall-bot", "{upstream:?}");
}

#[tokio::test]
async fn each_button_acts_as_the_clicker_then_the_answer_shows_the_new_state() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        let answer = raise(&app).await;
        assert!(card(&answer).0.ends_with(STATUS_OPEN), "{upstream:?}");

        assert_eq!(
            app.click(&click_on(&answer, "UALICE", "alert_acknowledge"))
                .await,
            200
        );
        let actions = app.book().actions();
        assert_eq!(
            actions.iter().map(action).collect::<Vec<_>>(),
            [(ALIAS.as_str(), "acknowledge", "alice@corp.example")],
            "{upstream:?}"
        );
        from_the_bot(upstream, &actions[0]);
        if upstream != Upstream::PagerDuty {
            assert!(actions[0].body["note"]
                .as_str()
                .is_some_and(|note| note.contains("from Slack")));
        }
        let (status, buttons) = card(&app.answer());
        assert!(
            status.starts_with("Acknowledged by <@UALICE> at <!date^"),
            "{status}"
        );
        assert_eq!(buttons, ["Take it", "Close"]);

        let answer = app.answer();
        assert_eq!(
            app.click(&click_on(&answer, "UBOB", "alert_take")).await,
            200
        );
        let actions = app.book().actions();
        assert_eq!(
            actions[1..].iter().map(action).collect::<Vec<_>>(),
            [
                (ALIAS.as_str(), "acknowledge", "bob@corp.example"),
                (ALIAS.as_str(), "assign", "bob@corp.example"),
            ]
        );
        match upstream {
            Upstream::PagerDuty => assert_eq!(
                actions[2].body["incident"]["assignments"][0]["assignee"]["id"],
                "PUSRBOB"
            ),
            Upstream::OpsGenie | Upstream::Jsm => assert_eq!(
                actions[2].body["owner"],
                json!({"type": "user", "username": "bob@corp.example"})
            ),
        }
        assert_eq!(card(&app.answer()).0, "Taken by <@UBOB>");

        let answer = app.answer();
        assert_eq!(
            app.click(&click_on(&answer, "UCAROL", "alert_close")).await,
            200
        );
        assert_eq!(
            app.book().actions().last().map(action),
            Some((ALIAS.as_str(), "close", "carol@corp.example"))
        );
        let (status, buttons) = card(&app.answer());
        assert_eq!(status, "Closed by <@UCAROL>");
        assert!(buttons.is_empty(), "a closed alert has no buttons left");
        assert!(app
            .book()
            .state(ALIAS.as_str())
            .is_some_and(|alert| alert.closed));

        // The answer text above the card is kept, and nothing else was posted.
        assert!(app.answer().text.starts_with("On call for *SRE_schedule*"));
        assert_eq!(app.slack.updates().len(), 3);
        assert_eq!(app.replies().len(), 1);
        assert!(app.slack.ephemerals().is_empty());
    }
}

#[tokio::test]
async fn a_refused_action_is_told_to_the_clicker_alone_and_changes_nothing() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        let answer = raise(&app).await;
        // Closed in the provider's own UI meanwhile.
        app.book().close(ALIAS.as_str());
        app.click(&click_on(&answer, "UALICE", "alert_acknowledge"))
            .await;
        let ephemerals = app.slack.ephemerals();
        assert_eq!(ephemerals.len(), 1, "{upstream:?}");
        assert_eq!(ephemerals[0].user, "UALICE");
        assert_eq!(ephemerals[0].thread_ts.as_deref(), Some(THREAD));
        let why = match upstream {
            Upstream::PagerDuty => "Incident Already Resolved",
            Upstream::OpsGenie | Upstream::Jsm => "Alert is already closed",
        };
        assert_eq!(
            ephemerals[0].text,
            format!(
                "{} did not acknowledge the alert: {why}. Nothing changed.",
                upstream.name()
            )
        );
        assert!(app.slack.updates().is_empty());
        assert_eq!(app.replies().len(), 1);
        assert!(card(&app.answer()).0.ends_with(STATUS_OPEN));
    }
}

#[tokio::test]
async fn someone_without_an_email_in_slack_cannot_act_under_a_display_name() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        // Mallory hides her email and calls herself Alice's address.
        app.slack.add_person("mallory@corp.example", "UMAL");
        app.slack.hide_email_of("UMAL", "alice@corp.example");
        let answer = raise(&app).await;
        for action in ["alert_acknowledge", "alert_close"] {
            assert_eq!(app.click(&click_on(&answer, "UMAL", action)).await, 200);
        }
        assert!(
            app.book().actions().is_empty(),
            "{upstream:?}: nothing sent"
        );
        assert!(app.slack.updates().is_empty());
        let told: Vec<_> = app
            .slack
            .ephemerals()
            .into_iter()
            .map(|told| (told.user, told.text))
            .collect();
        assert!(
            !told.is_empty()
                && told.iter().all(|(user, text)| user == "UMAL"
                    && text.contains("by the email of your Slack profile")),
            "{upstream:?}: {told:?}"
        );
    }
}

#[tokio::test]
async fn an_alias_nobody_raised_is_refused_in_words() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    let answer = raise(&app).await;
    let mut click = click_on(&answer, "UALICE", "alert_close");
    click.value = "slack-C1-1795460000.000999";
    app.click(&click).await;
    let ephemerals = app.slack.ephemerals();
    assert_eq!(ephemerals.len(), 1);
    assert_eq!(
        ephemerals[0].text,
        "OpsGenie did not close the alert: Alert does not exist. Nothing changed."
    );
    assert!(app.slack.updates().is_empty());
}

#[tokio::test]
async fn the_same_click_delivered_twice_or_double_clicked_acts_once() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    let answer = raise(&app).await;
    let click = click_on(&answer, "UALICE", "alert_acknowledge");
    app.click(&click).await;
    app.click(&click).await;
    let mut double = click.clone();
    double.action_ts = "1795460010.523456";
    app.click(&double).await;
    assert_eq!(app.book().actions().len(), 1);
    assert_eq!(app.slack.updates().len(), 1);
    assert!(app.slack.ephemerals().is_empty());
    // Someone else's click still counts.
    app.click(&click_on(&app.answer(), "UBOB", "alert_acknowledge"))
        .await;
    assert_eq!(app.book().actions().len(), 2);
}

#[tokio::test]
async fn a_click_from_another_workspace_is_refused() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    let answer = raise(&app).await;
    let mut click = click_on(&answer, "UALICE", "alert_close");
    click.team = "TPARTNER";
    assert_eq!(app.click(&click).await, 200);
    assert!(app.book().actions().is_empty());
    assert!(app.slack.updates().is_empty());
    let ephemerals = app.slack.ephemerals();
    assert_eq!(ephemerals.len(), 1);
    assert!(ephemerals[0]
        .text
        .starts_with("Only people of this workspace"));
}

#[tokio::test]
async fn a_forged_or_unsigned_interaction_is_refused_with_401_and_does_nothing() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    let answer = raise(&app).await;
    let body = click_on(&answer, "UALICE", "alert_close").form_body();
    let url = format!("{}/slack/interactions", app.address);
    let (timestamp, _) = sign(&body, unix_now());
    let forged = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", format!("v0={}", "0".repeat(64)))
        .body(body.clone())
        .send()
        .await
        .expect("the app answers");
    assert_eq!(forged.status().as_u16(), 401);
    let unsigned = app
        .http
        .post(&url)
        .body(body)
        .send()
        .await
        .expect("the app answers");
    assert_eq!(unsigned.status().as_u16(), 401);
    app.settle().await;
    assert!(app.book().actions().is_empty());
    assert!(app.slack.updates().is_empty());
}

#[tokio::test]
async fn ack_take_and_resolved_in_the_thread_do_what_the_buttons_do() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        raise(&app).await;
        let say = |event: &str, user: &str, ts: &str, text: &str| {
            events::in_thread(
                &events::app_mention(event, "C1", user, ts, &format!("<@UBOT> {text}")),
                THREAD,
            )
        };
        app.deliver(&say("EvAck", "UALICE", "1795460100.000100", "ack"))
            .await;
        app.settle().await;
        assert_eq!(
            app.book().actions().iter().map(action).collect::<Vec<_>>(),
            [(ALIAS.as_str(), "acknowledge", "alice@corp.example")],
            "{upstream:?}"
        );
        let (status, _) = card(&app.answer());
        assert!(
            status.starts_with("Acknowledged by <@UALICE> at"),
            "{status}"
        );
        let reply = app.replies().last().cloned().expect("a reply");
        assert_eq!(reply.thread_ts.as_deref(), Some(THREAD));
        assert!(reply.text.starts_with("Acknowledged by <@UALICE> at"));

        app.deliver(&say("EvTake", "UBOB", "1795460200.000100", "take"))
            .await;
        app.settle().await;
        assert_eq!(card(&app.answer()).0, "Taken by <@UBOB>");
        app.deliver(&say("EvDone", "UCAROL", "1795460300.000100", "resolved"))
            .await;
        app.settle().await;
        let actions: Vec<String> = app
            .book()
            .actions()
            .iter()
            .map(|record| record.action.clone())
            .collect();
        assert_eq!(actions, ["acknowledge", "acknowledge", "assign", "close"]);
        let (status, buttons) = card(&app.answer());
        assert_eq!(status, "Closed by <@UCAROL>");
        assert!(buttons.is_empty());
        assert_eq!(app.replies().len(), 4, "the answer and one reply each");
    }
}

#[tokio::test]
async fn a_text_command_outside_an_alert_thread_acts_on_nothing() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    app.deliver(&mention("Ev1", "C1", "1795460000.000500", "<@UBOT> ack"))
        .await;
    app.settle().await;
    assert!(app.book().actions().is_empty());
    assert_eq!(
        app.replies()[0].text,
        "Write that in the thread of the alert you mean: there is no alert here."
    );
}

/// Whole seconds of a time in nanoseconds.
fn seconds(nanos: u128) -> u64 {
    u64::try_from(nanos / 1_000_000_000).expect("a time")
}

/// Nanoseconds, as OpsGenie's `updatedAt`.
const T1: u128 = 1_795_460_100_000_000_000;
const T2: u128 = 1_795_460_200_000_000_000;
const T3: u128 = 1_795_460_300_000_000_000;
const T4: u128 = 1_795_460_400_000_000_000;

#[tokio::test]
async fn webhook_actions_show_in_the_thread_once_and_in_the_order_they_happened() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        raise(&app).await;
        let system = upstream.name();
        let token = Some(WEBHOOK_TOKEN);
        let news = |from: usize| -> Vec<String> {
            app.replies()[from..]
                .iter()
                .map(|post| post.text.clone())
                .collect()
        };

        let acknowledged = app.told(
            Happened::Acknowledged,
            ALIAS.as_str(),
            "carol@corp.example",
            seconds(T1),
        );
        assert_eq!(app.webhook(token, &acknowledged).await, app.accepted());
        let (status, buttons) = card(&app.answer());
        assert!(
            status.starts_with(&format!(
                "Acknowledged by <@UCAROL> at <!date^{}^",
                app.provider_time(seconds(T1))
            )),
            "{upstream:?}: {status}"
        );
        assert_eq!(buttons, ["Take it", "Close"]);
        assert_eq!(news(1), [format!("<@UCAROL> acknowledged it in {system}.")]);

        // Delivered again: nothing new.
        assert_eq!(app.webhook(token, &acknowledged).await, app.accepted());
        assert_eq!(app.replies().len(), 2, "{upstream:?}");
        assert_eq!(app.slack.updates().len(), 1);

        let note = app.told(
            Happened::Note("Rolling back <!channel> *now*"),
            ALIAS.as_str(),
            "bob@corp.example",
            seconds(T2),
        );
        app.webhook(token, &note).await;
        app.webhook(token, &note).await;
        assert_eq!(
            news(2),
            ["Note from <@UBOB>: Rolling back &lt;!channel&gt; *now*"],
            "{upstream:?}"
        );

        // The close (T4) arrives before an earlier hand-over (T3): the thread
        // keeps showing the close.
        let closed = app.told(
            Happened::Closed,
            ALIAS.as_str(),
            "bob@corp.example",
            seconds(T4),
        );
        app.webhook(token, &closed).await;
        let assigned = app.told(
            Happened::Owner("zed@elsewhere.example"),
            ALIAS.as_str(),
            "carol@corp.example",
            seconds(T3),
        );
        app.webhook(token, &assigned).await;
        let (status, buttons) = card(&app.answer());
        assert_eq!(status, "Closed by <@UBOB>");
        assert!(buttons.is_empty());
        assert_eq!(
            app.slack.updates().len(),
            2,
            "the late hand-over changed nothing"
        );
        assert_eq!(
            news(3),
            [
                format!("<@UBOB> closed it in {system}."),
                // Someone with no Slack account is named by their username.
                format!("<@UCAROL> made zed@elsewhere.example its owner in {system}."),
            ]
        );
    }
}

#[tokio::test]
async fn an_unacknowledgement_reopens_the_card_and_an_escalation_is_told() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    raise(&app).await;
    let token = Some(WEBHOOK_TOKEN);
    let acknowledged = alert_webhook(
        "Acknowledge",
        ALIAS.as_str(),
        "bob@corp.example",
        T1,
        "",
        json!({}),
    );
    app.webhook(token, &acknowledged).await;
    let unacknowledged = alert_webhook(
        "UnAcknowledge",
        ALIAS.as_str(),
        "bob@corp.example",
        T2,
        "",
        json!({}),
    );
    app.webhook(token, &unacknowledged).await;
    let (status, buttons) = card(&app.answer());
    assert!(status.ends_with(STATUS_OPEN), "{status}");
    assert_eq!(buttons, ["Acknowledge", "Take it", "Close"]);
    let escalated = alert_webhook(
        "Escalate",
        ALIAS.as_str(),
        "carol@corp.example",
        T3,
        "",
        json!({"escalationName": "SRE_escalation"}),
    );
    app.webhook(token, &escalated).await;
    let texts: Vec<String> = app.replies()[1..]
        .iter()
        .map(|post| post.text.clone())
        .collect();
    assert_eq!(
        texts,
        [
            "<@UBOB> acknowledged it in OpsGenie.",
            "<@UBOB> took back the acknowledgement in OpsGenie.",
            "<@UCAROL> escalated it in OpsGenie to SRE_escalation.",
        ]
    );
    assert_eq!(app.slack.updates().len(), 2, "escalating changes no state");
}

#[tokio::test]
async fn the_bots_own_actions_coming_back_add_no_reply() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    raise(&app).await;
    let own = alert_webhook(
        "Acknowledge",
        ALIAS.as_str(),
        "alice@corp.example",
        T1,
        "oncall-bot",
        json!({}),
    );
    assert_eq!(app.webhook(Some(WEBHOOK_TOKEN), &own).await, 200);
    assert_eq!(app.replies().len(), 1);
    assert!(card(&app.answer())
        .0
        .starts_with("Acknowledged by <@UALICE>"));
}

#[tokio::test]
async fn a_wrong_or_missing_webhook_token_is_refused_and_nothing_is_posted() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        raise(&app).await;
        let note = app.told(
            Happened::Note("hi"),
            ALIAS.as_str(),
            "bob@corp.example",
            seconds(T1),
        );
        // PagerDuty answers a delivery with no signature at all 400.
        let unsigned = match upstream {
            Upstream::PagerDuty => 400,
            Upstream::OpsGenie | Upstream::Jsm => 401,
        };
        assert_eq!(app.webhook(None, &note).await, unsigned, "{upstream:?}");
        assert_eq!(app.webhook(Some("wrong-token"), &note).await, 401);
        assert_eq!(
            app.webhook(Some(&format!("{WEBHOOK_TOKEN}x")), &note).await,
            401
        );
        assert_eq!(app.replies().len(), 1);
        assert!(app.slack.updates().is_empty());
    }
}

#[tokio::test]
async fn without_its_token_the_webhook_route_is_off() {
    let app = spawn_app_with(|config| config.alerts = Some(AlertPolicy::default())).await;
    let body = alert_webhook(
        "Close",
        ALIAS.as_str(),
        "bob@corp.example",
        T1,
        "",
        json!({}),
    );
    for route in ["/opsgenie/webhook", "/jsm/webhook"] {
        let response = app
            .http
            .post(format!("{}{route}", app.address))
            .header("authorization", format!("Bearer {WEBHOOK_TOKEN}"))
            .body(body.clone())
            .send()
            .await
            .expect("the app answers");
        assert_eq!(response.status().as_u16(), 404, "{route}");
    }
}

#[tokio::test]
async fn an_alert_that_is_not_the_bots_is_answered_200_and_ignored() {
    let app = spawn_two_way(Upstream::OpsGenie).await;
    raise(&app).await;
    for alias in [
        "checkout-502-prod",
        "slack-ca058c3d19c5f735aedfa3ba7f7bd647c96e3579",
    ] {
        let body = alert_webhook("Close", alias, "bob@corp.example", T1, "", json!({}));
        assert_eq!(app.webhook(Some(WEBHOOK_TOKEN), &body).await, 200);
    }
    let create = alert_webhook(
        "Create",
        ALIAS.as_str(),
        "bob@corp.example",
        T1,
        "",
        json!({}),
    );
    assert_eq!(app.webhook(Some(WEBHOOK_TOKEN), &create).await, 200);
    assert_eq!(app.replies().len(), 1);
    assert!(app.slack.updates().is_empty());
    assert_eq!(app.webhook(Some(WEBHOOK_TOKEN), "not json").await, 400);
}
