//! Tokens, keys and signing secrets never reach a log line.

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::model::Priority;

use crate::helpers::*;
use crate::logs::CapturedLogs;

const WEBHOOK_SECRET: &str = "webhook-secret-token-77";

#[tokio::test]
async fn no_secret_appears_in_debug_logs_of_a_full_conversation() {
    let (logs, _guard) = CapturedLogs::start();
    let app = spawn_app_with(|config| {
        config.alerts = Some(AlertPolicy {
            priority: Priority::P4,
            team: None,
            ..AlertPolicy::default()
        });
        config.webhooks.opsgenie = Some(WEBHOOK_SECRET.into());
    })
    .await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> prod is down"))
        .await;
    // A webhook delivery, refused and then taken.
    for token in [
        "Bearer wrong-webhook-token",
        &format!("Bearer {WEBHOOK_SECRET}"),
    ] {
        app.http
            .post(format!("{}/opsgenie/webhook", app.address))
            .header("authorization", token)
            .body(oncall_bot_simulator::events::alert_webhook(
                "AddNote",
                &alias_for("C1", "1.1", "1.1"),
                "bob@corp.example",
                1,
                "",
                serde_json::json!({"note": "looking"}),
            ))
            .send()
            .await
            .expect("answers");
    }
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> cache clear"))
        .await;
    app.opsgenie.set_on_call(SCHEDULE, &["nobody@corp.example"]);
    app.deliver(&mention("Ev3", "C1", "1.3", "<@UBOT> anyone?"))
        .await;
    // A request with a bad signature is logged too.
    app.http
        .post(format!("{}/slack/events", app.address))
        .header("x-slack-request-timestamp", "1")
        .header("x-slack-signature", "v0=00")
        .body("{}")
        .send()
        .await
        .expect("answers");
    app.settle().await;
    assert_eq!(app.replies().len(), 4, "three answers and the note");

    let logged = logs.text();
    assert!(logged.contains("answered"), "logs were captured: {logged}");
    for secret in [
        BOT_TOKEN,
        SIGNING_SECRET,
        OPSGENIE_KEY,
        WEBHOOK_SECRET,
        ALIAS_SECRET,
        "wrong-webhook-token",
    ] {
        assert!(
            !logged.contains(secret),
            "{secret} leaked into the logs:\n{logged}"
        );
    }
}

/// Upstream bodies may be a proxy's page, or carry personal data: they never
/// reach the logs, whatever the failure.
#[tokio::test]
async fn upstream_error_bodies_never_reach_the_logs() {
    const CANARY: &str = "CANARY-body-4f1d";
    let (logs, _guard) = CapturedLogs::start();
    for upstream in ALL_UPSTREAMS {
        let app = spawn_app_on(upstream, |config| {
            config.alerts = Some(AlertPolicy {
                priority: Priority::P4,
                team: None,
                ..AlertPolicy::default()
            });
        })
        .await;
        let page = format!("<html>{CANARY} proxy error</html>");
        app.on_call_lookup()
            .respond_with(wiremock::ResponseTemplate::new(502).set_body_string(page.clone()))
            .mount(app.upstream_server())
            .await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path_regex("(/alerts|/v2/enqueue)$"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_string(page.clone()))
            .mount(app.upstream_server())
            .await;
        wiremock::Mock::given(wiremock::matchers::path("/users.info"))
            .respond_with(wiremock::ResponseTemplate::new(500).set_body_string(page.clone()))
            .mount(app.slack.server())
            .await;
        app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> prod is down"))
            .await;
        app.settle().await;
        assert_eq!(app.replies().len(), 1, "{upstream:?}");
    }
    let logged = logs.text();
    assert!(logged.contains("could not raise the alert"), "{logged}");
    assert!(
        !logged.contains(CANARY),
        "an upstream body leaked:\n{logged}"
    );
}

#[tokio::test]
async fn a_post_whose_2xx_answer_is_unreadable_is_posted_once_and_said_to_be_uncertain() {
    let (logs, _guard) = CapturedLogs::start();
    let app = spawn_app().await;
    wiremock::Mock::given(wiremock::matchers::path("/chat.postMessage"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_string("<html>CANARY-post</html>"),
        )
        .mount(app.slack.server())
        .await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> hi"))
        .await;
    app.settle().await;
    assert_eq!(
        requests_to(app.slack.server(), "/chat.postMessage").await,
        1
    );
    let logged = logs.text();
    assert!(
        logged.contains("the reply may have been posted"),
        "{logged}"
    );
    assert!(!logged.contains("it is lost"), "{logged}");
    assert!(!logged.contains("CANARY"), "{logged}");
}

/// The same on PagerDuty: its REST token, its routing key and its webhook
/// secret, through an answer, an incident, a button, a signed and a forged
/// delivery, and a 401 from its API.
#[tokio::test]
async fn no_pagerduty_secret_appears_in_debug_logs() {
    let (logs, _guard) = CapturedLogs::start();
    let app = crate::two_way::spawn_two_way(Upstream::PagerDuty).await;
    let answer = crate::two_way::raise(&app).await;
    app.click(&crate::two_way::click_on(
        &answer,
        "UALICE",
        "alert_acknowledge",
    ))
    .await;
    let note = app.told(
        crate::two_way::Happened::Note("looking"),
        crate::two_way::ALIAS.as_str(),
        "bob@corp.example",
        1_795_460_100,
    );
    app.webhook(Some(crate::two_way::WEBHOOK_TOKEN), &note)
        .await;
    app.webhook(Some("a-wrong-secret-of-someone"), &note).await;
    wiremock::Mock::given(wiremock::matchers::path_regex("^/schedules/"))
        .respond_with(wiremock::ResponseTemplate::new(401).set_body_string(PD_TOKEN))
        .with_priority(1)
        .mount(app.upstream_server())
        .await;
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> cache clear"))
        .await;
    app.deliver(&mention("Ev3", "C1", "1.3", "<@UBOT> anyone?"))
        .await;
    app.settle().await;
    assert!(app.replies().len() >= 4, "{:?}", app.replies());
    let logged = logs.text();
    assert!(logged.contains("answered"), "logs were captured: {logged}");
    for secret in [
        PD_TOKEN,
        PD_ROUTING_KEY,
        PD_WEBHOOK_SECRET,
        "a-wrong-secret-of-someone",
        ALIAS_SECRET,
        BOT_TOKEN,
        SIGNING_SECRET,
    ] {
        assert!(
            !logged.contains(secret),
            "{secret} leaked into the logs:\n{logged}"
        );
    }
}
