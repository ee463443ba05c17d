//! What a careless or hostile person could do with the bot, and what it does not
//! let them: ping everyone through it, defeat the outage backoff, page without
//! limit, page from another workspace, or break an alert with a huge message.

use std::time::Duration;

use oncall_bot::alerting::{AlertPolicy, RateLimit};
use wiremock::ResponseTemplate;

use crate::helpers::*;

async fn ask(app: &TestApp, event: &str, channel: &str, ts: &str, text: &str) -> String {
    app.answer_to(&mention(event, channel, ts, text)).await
}

/// A mention from a Slack Connect partner's workspace.
fn mention_from_team(event: &str, ts: &str, team: &str) -> String {
    let mut value: serde_json::Value =
        serde_json::from_str(&mention(event, "C1", ts, "<@UBOT> our checkout is down"))
            .expect("JSON");
    value["event"]["user_team"] = serde_json::json!(team);
    value["event"]["source_team"] = serde_json::json!(team);
    value.to_string()
}

#[tokio::test]
async fn text_echoed_back_cannot_ping_the_channel_or_hide_a_link() {
    let app = spawn_app().await;
    for (n, typed) in ["<!channel>", "<!here>", "<https://evil.example|runbook>"]
        .iter()
        .enumerate()
    {
        let text = ask(
            &app,
            &format!("Ev{n}"),
            "C1",
            &format!("1.{n}"),
            &format!("<@UBOT> team {typed}"),
        )
        .await;
        assert!(
            text.starts_with("I don't know a team called *&lt;"),
            "{text}"
        );
        assert!(!text.contains('<'), "markup reached Slack: {text}");
    }
}

#[tokio::test]
async fn cache_clear_is_once_per_channel_in_ten_seconds() {
    let app = spawn_app().await;
    ask(&app, "Ev1", "C1", "1.1", "<@UBOT> who?").await;
    assert_eq!(
        ask(&app, "Ev2", "C1", "1.2", "<@UBOT> cache clear").await,
        "Cache cleared: the next answer comes straight from the on-call schedule."
    );
    ask(&app, "Ev3", "C1", "1.3", "<@UBOT> who?").await;
    let lookups = app.on_call_lookups().await;
    assert_eq!(lookups, 2);
    assert_eq!(
        ask(&app, "Ev4", "C1", "1.4", "<@UBOT> cache clear").await,
        "The cache was cleared moments ago: the next answer comes straight from the on-call schedule."
    );
    ask(&app, "Ev5", "C1", "1.5", "<@UBOT> who?").await;
    assert_eq!(app.on_call_lookups().await, lookups, "the cache was kept");
    assert!(ask(&app, "Ev6", "C2", "1.6", "<@UBOT> cache clear")
        .await
        .starts_with("Cache cleared"));
}

#[tokio::test]
async fn cache_clear_does_not_reopen_the_outage_backoff_window() {
    let app = spawn_app_with(|config| {
        config.cache_ttl = Duration::from_millis(1);
        config.source_backoff = oncall_bot::outbound::BackoffPolicy {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(30),
        };
    })
    .await;
    ask(&app, "Ev1", "C1", "1.1", "<@UBOT> who?").await;
    on_call_request()
        .respond_with(ResponseTemplate::new(503))
        .mount(app.opsgenie.server())
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let stale = ask(&app, "Ev2", "C1", "1.2", "<@UBOT> who?").await;
    assert!(stale.starts_with("OpsGenie is not answering"), "{stale}");
    let during_outage = app.on_call_lookups().await;
    ask(&app, "Ev3", "C1", "1.3", "<@UBOT> cache clear").await;
    let after_clear = ask(&app, "Ev4", "C1", "1.4", "<@UBOT> who?").await;
    assert!(
        after_clear.starts_with("OpsGenie is not answering"),
        "{after_clear}"
    );
    assert_eq!(
        app.on_call_lookups().await,
        during_outage,
        "no upstream try inside the backoff window"
    );
}

fn alerting(
    rate_limit: RateLimit,
    allowed_teams: &[&str],
) -> impl FnOnce(&mut oncall_bot::config::ServeConfig) {
    let allowed_teams = allowed_teams
        .iter()
        .map(|team| (*team).to_owned())
        .collect();
    move |config| {
        config.alerts = Some(AlertPolicy {
            rate_limit,
            allowed_teams,
            ..AlertPolicy::default()
        })
    }
}

#[tokio::test]
async fn one_person_pages_at_most_the_rate_limit_and_hears_why_not() {
    let limit = RateLimit {
        count: 2,
        per: Duration::from_secs(600),
    };
    let app = spawn_app_with(alerting(limit, &[])).await;
    let mut last = String::new();
    for n in 1..=4 {
        last = ask(
            &app,
            &format!("Ev{n}"),
            "C1",
            &format!("1.{n}"),
            "<@UBOT> down again",
        )
        .await;
    }
    assert_eq!(app.opsgenie.alerts().len(), 2);
    assert!(last.starts_with("On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"));
    assert!(
        last.ends_with(
            "You raised alerts in OpsGenie moments ago, so I did not raise another; the mention above went out."
        ),
        "{last}"
    );
    assert_eq!(app.replies().len(), 4, "every request is answered");
}

#[tokio::test]
async fn people_of_another_workspace_get_the_answer_but_never_page() {
    let app = spawn_app_with(alerting(RateLimit::default(), &["TPARTNER"])).await;
    app.deliver(&mention_from_team("Ev1", "1.1", "TOUTSIDER"))
        .await;
    app.settle().await;
    let text = app.replies()[0].text.clone();
    assert!(text.contains("<@UALICE>"), "{text}");
    assert!(
        text.ends_with(
            "I raise alerts only for people of this workspace; the mention above went out."
        ),
        "{text}"
    );
    assert!(app.opsgenie.alerts().is_empty());

    app.deliver(&mention_from_team("Ev2", "1.2", "TPARTNER"))
        .await;
    app.deliver(&mention_from_team("Ev3", "1.3", "TSIM")).await;
    app.settle().await;
    assert_eq!(
        app.opsgenie.alerts().len(),
        2,
        "allowed team and own team page"
    );
}

#[tokio::test]
async fn a_20000_character_request_still_raises_its_alert_within_opsgenies_limits() {
    let app = spawn_app_with(alerting(RateLimit::default(), &[])).await;
    let long = format!("<@UBOT> {}", "the checkout is down é🔥 ".repeat(870));
    assert!(long.chars().count() > 20_000);
    let text = ask(&app, "Ev1", "C1", "1700000000.000100", &long).await;
    assert!(
        text.contains("I also raised a P4 alert in OpsGenie.\nAlert open in OpsGenie"),
        "{text}"
    );
    let alerts = app.opsgenie.alerts();
    assert_eq!(alerts.len(), 1);
    let description = alerts[0]["description"].as_str().unwrap_or_default();
    assert!(description.chars().count() <= 15_000);
    assert!(
        description
            .ends_with("Slack message: https://simulated.slack.com/archives/C1/p1700000000000100"),
        "the link survives the cut"
    );
    assert!(
        alerts[0]["message"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .count()
            <= 130
    );
    assert!(alerts[0]["alias"].as_str().unwrap_or_default().len() <= 512);
}
