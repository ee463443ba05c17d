//! ALERT_ON_MENTION: one low-priority alert per help request, keyed by the message.

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::model::Priority;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::logs::CapturedLogs;

async fn spawn_alerting_app(team: Option<&str>) -> TestApp {
    let team = team.map(str::to_owned);
    spawn_app_with(|config| {
        config.alerts = Some(AlertPolicy {
            priority: Priority::P4,
            team,
            ..AlertPolicy::default()
        });
    })
    .await
}

async fn alert_requests(app: &TestApp) -> usize {
    requests_to(app.opsgenie.server(), "/v2/alerts").await
}

#[tokio::test]
async fn a_mention_raises_one_p4_alert_describing_the_request() {
    let app = spawn_alerting_app(Some("SRE")).await;
    app.deliver(&mention(
        "Ev1",
        "C1",
        "1700000000.000100",
        "<@UBOT> the checkout API returns 502",
    ))
    .await;
    app.settle().await;

    let alerts = app.opsgenie.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["priority"], "P4");
    // Pinned: operators search alerts by this alias, and the webhook finds the
    // thread from it: the place, then the tag that proves the bot made it.
    let alias = alert["alias"].as_str().expect("an alias");
    assert!(alias.starts_with("slack-C1-1700000000.000100-"), "{alias}");
    assert_eq!(
        alias,
        alias_for("C1", "1700000000.000100", "1700000000.000100")
    );
    assert_eq!(
        alert["message"],
        "UASKER asked for help in Slack: the checkout API returns 502"
    );
    assert_eq!(
        alert["responders"],
        json!([{"type": "team", "name": "SRE"}])
    );
    assert_eq!(alert["tags"], json!(["slack", "support"]));
    assert_eq!(alert["source"], "oncall-bot");
    assert_eq!(
        alert["details"],
        json!({"channel": "C1", "user": "UASKER", "ts": "1700000000.000100"})
    );
    let description = alert["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("the checkout API returns 502"),
        "{description}"
    );
    assert!(
        description.contains("https://simulated.slack.com/archives/C1/p1700000000000100"),
        "{description}"
    );

    let requests = recorded(app.opsgenie.server()).await;
    let create = requests
        .iter()
        .find(|request| request.url.path() == "/v2/alerts")
        .expect("an alert request");
    assert_eq!(create.method.as_str(), "POST");
    assert_eq!(
        create
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("GenieKey {OPSGENIE_KEY}").as_str())
    );

    // The answer carries the alert: its state and the buttons that act on it,
    // with a plain text for notifications.
    let replies = app.replies();
    assert_eq!(replies.len(), 1);
    let answer = "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>\n\
                  I also raised a P4 alert in OpsGenie.";
    let status = "Alert open in OpsGenie: nobody has acknowledged it yet.";
    assert_eq!(replies[0].text, format!("{answer}\n{status}"));
    let blocks = replies[0].blocks.clone().expect("Block Kit");
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["text"], answer);
    assert_eq!(blocks[1]["type"], "context");
    assert_eq!(blocks[1]["elements"][0]["text"], status);
    assert_eq!(blocks[2]["type"], "actions");
    let buttons: Vec<(&str, &str)> = blocks[2]["elements"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|button| {
            (
                button["text"]["text"].as_str().unwrap_or_default(),
                button["value"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let alias = alias_for("C1", "1700000000.000100", "1700000000.000100");
    let alias = alias.as_str();
    assert_eq!(
        buttons,
        [("Acknowledge", alias), ("Take it", alias), ("Close", alias)]
    );
}

#[tokio::test]
async fn without_alerts_the_answer_stays_plain_text() {
    let app = spawn_app().await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> help me"))
        .await;
    app.settle().await;
    let replies = app.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].blocks, None);
}

#[tokio::test]
async fn the_asker_is_named_and_long_or_multibyte_text_is_cut_to_130_characters() {
    let app = spawn_alerting_app(None).await;
    let long = format!(
        "<@UBOT> {}",
        "the payment service is down again ".repeat(10)
    );
    let emoji = format!("<@UBOT> {}", "🔥 sos ünïcödé ".repeat(30));
    let asker_is_carol = |body: String| body.replace("UASKER", "UCAROL");
    app.deliver(&asker_is_carol(mention("Ev1", "C1", "1.1", &long)))
        .await;
    app.deliver(&asker_is_carol(mention("Ev2", "C1", "1.2", &emoji)))
        .await;
    app.settle().await;

    let alerts = app.opsgenie.alerts();
    assert_eq!(
        alerts.len(),
        2,
        "the simulation refuses messages over 130 characters"
    );
    for alert in &alerts {
        let message = alert["message"].as_str().unwrap_or_default();
        assert!(message.chars().count() <= 130, "{message}");
        assert!(
            message.starts_with("Carol asked for help in Slack: "),
            "{message}"
        );
        assert!(message.ends_with('…'), "{message}");
    }
    assert!(alerts.iter().all(|alert| alert.get("responders").is_none()));
}

#[tokio::test]
async fn retries_and_the_same_message_under_a_new_event_id_raise_no_second_alert() {
    let app = spawn_alerting_app(None).await;
    let body = mention("Ev1", "C1", "1.1", "<@UBOT> is prod down?");
    app.deliver(&body).await;
    app.deliver_with(&body, &[("x-slack-retry-num", "1")]).await;
    app.deliver(&mention("Ev2", "C1", "1.1", "<@UBOT> is prod down?"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 1);
    assert_eq!(app.replies().len(), 1);
}

#[tokio::test]
async fn help_and_cache_clear_raise_no_alert() {
    let app = spawn_alerting_app(None).await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> help"))
        .await;
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> cache clear"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 0);
    assert_eq!(app.replies().len(), 2);
}

#[tokio::test]
async fn alerts_off_means_no_alert_call_at_all() {
    let app = spawn_app().await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> is prod down?"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 0);
    assert!(!app.replies()[0].text.contains("alert"));
}

fn failing_create(status: u16) -> Mock {
    Mock::given(method("POST"))
        .and(path("/v2/alerts"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({
            "message": "failure from the fake", "took": 0.0, "requestId": "r"
        })))
}

#[tokio::test]
async fn a_refused_key_is_not_retried_and_the_log_names_the_likely_cause() {
    let (logs, _guard) = CapturedLogs::start();
    let app = spawn_alerting_app(None).await;
    failing_create(401).mount(app.opsgenie.server()).await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> is prod down?"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 1);
    let logged = logs.text();
    assert!(
        logged.contains("could not raise the alert")
            && logged.contains("check OPSGENIE_API_KEY")
            && logged.contains("OPSGENIE_REGION"),
        "{logged}"
    );
    let replies = app.replies();
    assert_eq!(replies.len(), 1, "the on-call answer is posted anyway");
    assert!(replies[0]
        .text
        .starts_with("On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"));
    assert!(replies[0]
        .text
        .ends_with("Raising an alert in OpsGenie failed, so only the mention above went out."));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_a_bounded_number_of_times() {
    for status in [429, 503] {
        let app = spawn_alerting_app(None).await;
        failing_create(status).mount(app.opsgenie.server()).await;
        app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> is prod down?"))
            .await;
        app.settle().await;
        assert_eq!(alert_requests(&app).await, 3, "HTTP {status}");
        assert!(app.replies()[0].text.contains("<@UALICE>"), "HTTP {status}");
        assert!(app.replies()[0].text.contains("failed"), "HTTP {status}");
    }
}

#[tokio::test]
async fn a_malformed_request_is_not_retried() {
    let app = spawn_alerting_app(None).await;
    failing_create(422).mount(app.opsgenie.server()).await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> is prod down?"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 1);
}

#[tokio::test]
async fn an_accepted_request_after_a_server_error_counts_as_raised() {
    let app = spawn_alerting_app(None).await;
    failing_create(500)
        .up_to_n_times(1)
        .mount(app.opsgenie.server())
        .await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> is prod down?"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 2);
    assert_eq!(app.opsgenie.alerts().len(), 1);
    assert!(app.replies()[0]
        .text
        .contains("I also raised a P4 alert in OpsGenie.\nAlert open in OpsGenie"));
}

async fn spawn_paging_app() -> TestApp {
    spawn_app_with(|config| {
        config.alerts = Some(AlertPolicy {
            mode: oncall_bot::alerting::AlertMode::Page,
            ..AlertPolicy::default()
        });
    })
    .await
}

#[tokio::test]
async fn in_page_mode_asking_pages_nobody_and_says_how_to_page() {
    let app = spawn_paging_app().await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> who is on call?"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 0, "a question pages nobody");
    assert_eq!(
        app.replies()[0].text,
        "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>\n\
         To page them, write `@ops page <what is wrong>`."
    );
}

#[tokio::test]
async fn in_page_mode_ops_page_raises_one_alert_for_what_is_wrong() {
    let app = spawn_paging_app().await;
    app.deliver(&mention(
        "Ev1",
        "C1",
        "1.1",
        "<@UBOT> page the checkout API returns 502",
    ))
    .await;
    app.settle().await;
    let alerts = app.opsgenie.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["message"],
        "UASKER asked for help in Slack: the checkout API returns 502"
    );
    assert!(app.replies()[0]
        .text
        .contains("I also raised a P4 alert in OpsGenie.\nAlert open in OpsGenie"));
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> help"))
        .await;
    app.settle().await;
    assert!(
        app.replies()[1].text.contains(
            "• `@ops page <what is wrong>`: who is on call, and an alert that pages them"
        ),
        "{}",
        app.replies()[1].text
    );
}

#[tokio::test]
async fn with_alerts_off_page_says_nobody_was_paged() {
    let app = spawn_app().await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> page db down"))
        .await;
    app.settle().await;
    assert_eq!(alert_requests(&app).await, 0);
    assert!(app.replies()[0].text.ends_with(
        "Paging is not set up for this bot, so nobody was paged; the mention above went out."
    ));
}
