//! Jira Service Management Operations as the on-call source, against a JSM fake.

use std::collections::HashMap;
use std::time::Duration;

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::config::{ServeConfig, SourceConfig};
use oncall_bot::model::Priority;
use oncall_bot::providers::JsmConfig;
use oncall_bot_simulator::JsmSite;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn spawn_jsm_app(
    adjust: impl FnOnce(&mut ServeConfig, &mut JsmConfig),
) -> (TestApp, JsmSite) {
    let jsm = start_jsm().await;
    let mut jsm_settings = jsm_config(&jsm);
    let app = spawn_app_with(|config| {
        adjust(config, &mut jsm_settings);
        config.source = SourceConfig::Jsm(jsm_settings);
    })
    .await;
    (app, jsm)
}

async fn ask(app: &TestApp, ts: &str, text: &str) -> String {
    app.answer_to(&mention(&format!("Ev{ts}"), "C1", ts, text))
        .await
}

/// How many requests the JSM fake received on paths ending with `suffix`.
async fn calls(jsm: &JsmSite, suffix: &str) -> usize {
    recorded(jsm.server())
        .await
        .iter()
        .filter(|request| request.url.path().ends_with(suffix))
        .count()
}

#[tokio::test]
async fn on_calls_become_emails_then_slack_mentions_with_discovery_done_once() {
    let (app, jsm) = spawn_jsm_app(|_, _| {}).await;
    assert_eq!(
        ask(&app, "1.1", "<@UBOT> the site is down").await,
        "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"
    );
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> cache clear"))
        .await;
    app.settle().await;
    ask(&app, "1.3", "<@UBOT> again").await;
    assert_eq!(
        calls(&jsm, "/_edge/tenant_info").await,
        1,
        "cloud id discovered once"
    );
    assert_eq!(
        calls(&jsm, "/v1/schedules").await,
        1,
        "schedule id looked up once"
    );
    assert_eq!(calls(&jsm, "/on-calls").await, 2);
    assert_eq!(calls(&jsm, "/user/bulk").await, 1, "accounts cached");

    let requests = recorded(jsm.server()).await;
    let lookup = requests
        .iter()
        .find(|request| request.url.path().ends_with("/v1/schedules"))
        .expect("a schedule lookup");
    assert_eq!(
        lookup.url.path(),
        format!("/jsm/ops/api/{JSM_CLOUD_ID}/v1/schedules")
    );
    assert!(lookup
        .url
        .query()
        .unwrap_or_default()
        .contains("query=SRE_schedule"));
    let on_calls = requests
        .iter()
        .find(|request| request.url.path().ends_with("/on-calls"))
        .expect("an on-call lookup");
    let schedule_id = jsm.schedule_id(SCHEDULE).expect("an id");
    assert_eq!(
        on_calls.url.path(),
        format!("/jsm/ops/api/{JSM_CLOUD_ID}/v1/schedules/{schedule_id}/on-calls")
    );
    assert_eq!(on_calls.url.query(), Some("flat=true"));
}

#[tokio::test]
async fn every_call_carries_the_exact_basic_auth_header() {
    let (app, jsm) = spawn_jsm_app(|_, _| {}).await;
    ask(&app, "1.1", "<@UBOT> hi").await;
    // base64("ops-bot@corp.example:atlassian-api-token")
    let expected = "Basic b3BzLWJvdEBjb3JwLmV4YW1wbGU6YXRsYXNzaWFuLWFwaS10b2tlbg==";
    let requests = recorded(jsm.server()).await;
    // Tenant, schedule, on-calls, timeline and the people's accounts.
    for wanted in [
        "/_edge/tenant_info",
        "/on-calls",
        "/timeline",
        "/rest/api/3/user/bulk",
    ] {
        assert!(
            requests
                .iter()
                .any(|request| request.url.path().ends_with(wanted)),
            "no call to {wanted}"
        );
    }
    for request in &requests {
        assert_eq!(
            request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(expected),
            "{}",
            request.url
        );
    }
}

#[tokio::test]
async fn a_configured_cloud_id_skips_discovery() {
    let (app, jsm) = spawn_jsm_app(|_, jsm| jsm.cloud_id = Some(JSM_CLOUD_ID.into())).await;
    assert!(ask(&app, "1.1", "<@UBOT> hi").await.contains("<@UALICE>"));
    assert_eq!(calls(&jsm, "/_edge/tenant_info").await, 0);
}

#[tokio::test]
async fn an_unknown_schedule_gets_the_neutral_sentence_and_a_log_naming_it() {
    let (logs, _guard) = crate::logs::CapturedLogs::start();
    let (app, _jsm) = spawn_jsm_app(|_, jsm| jsm.schedule = "No_such_schedule".into()).await;
    let text = ask(&app, "1.1", "<@UBOT> hi").await;
    assert!(
        text.starts_with("Sorry, I could not find out who is on call"),
        "{text}"
    );
    assert!(
        logs.text()
            .contains("JSM Operations has no schedule named `No_such_schedule`"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_hidden_email_shows_the_display_name_or_the_mapped_slack_id() {
    let (app, jsm) = spawn_jsm_app(|_, _| {}).await;
    jsm.set_on_call(SCHEDULE, &["acc-alice", "acc-erin"]);
    assert_eq!(
        ask(&app, "1.1", "<@UBOT> hi").await,
        "On call for *SRE_schedule* right now: <@UALICE>, Erin Hidden"
    );

    let (app, jsm) = spawn_jsm_app(|_, jsm| {
        jsm.account_overrides = HashMap::from([("acc-erin".to_owned(), "UCAROL".to_owned())]);
    })
    .await;
    jsm.set_on_call(SCHEDULE, &["acc-erin"]);
    assert_eq!(
        ask(&app, "1.1", "<@UBOT> hi").await,
        "On call for *SRE_schedule* right now: <@UCAROL>"
    );
}

#[tokio::test]
async fn alerts_go_through_the_integration_api_with_the_opsgenie_body() {
    let (app, jsm) = spawn_jsm_app(|config, _| {
        config.alerts = Some(AlertPolicy {
            priority: Priority::P4,
            team: Some("SRE".into()),
            ..AlertPolicy::default()
        });
    })
    .await;
    let text = ask(&app, "1700000000.000100", "<@UBOT> checkout is down").await;
    assert!(
        text.ends_with(
            "I also raised a P4 alert in JSM Operations.\n\
             Alert open in JSM Operations: nobody has acknowledged it yet."
        ),
        "{text}"
    );
    let alerts = jsm.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["priority"], "P4");
    assert_eq!(
        alerts[0]["message"],
        "UASKER asked for help in Slack: checkout is down"
    );
    assert_eq!(
        alerts[0]["alias"],
        alias_for("C1", "1700000000.000100", "1700000000.000100")
    );
    assert_eq!(
        alerts[0]["responders"],
        serde_json::json!([{"type": "team", "name": "SRE"}])
    );
    assert_eq!(alerts[0]["source"], "oncall-bot");
    let requests = recorded(jsm.server()).await;
    let create = requests
        .iter()
        .find(|request| request.url.path() == "/jsm/ops/integration/v2/alerts")
        .expect("an alert request");
    assert_eq!(
        create
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("GenieKey {JSM_INTEGRATION_KEY}").as_str())
    );
}

#[tokio::test]
async fn a_refused_token_names_the_credentials_and_classic_tokens() {
    let (logs, _guard) = crate::logs::CapturedLogs::start();
    let (app, jsm) = spawn_jsm_app(|_, jsm| jsm.api_token = "a-scoped-token".into()).await;
    let text = ask(&app, "1.1", "<@UBOT> hi").await;
    assert!(
        text.starts_with("Sorry, I could not find out who is on call"),
        "{text}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("JSM refused JSM_EMAIL / JSM_API_TOKEN (HTTP 401)")
            && logged.contains("use a classic API token"),
        "{logged}"
    );
    assert_eq!(
        calls(&jsm, "/v1/schedules").await,
        2,
        "the on-calls' schedule lookup, then the timeline's (the first failed), neither retried"
    );
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_after_retry_after() {
    let (app, jsm) = spawn_jsm_app(|_, _| {}).await;
    Mock::given(method("GET"))
        .and(path_regex(r"/on-calls$"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(serde_json::json!({"message": "Too many requests"})),
        )
        .up_to_n_times(1)
        .mount(jsm.server())
        .await;
    let started = std::time::Instant::now();
    assert!(ask(&app, "1.1", "<@UBOT> hi").await.contains("<@UALICE>"));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(calls(&jsm, "/on-calls").await, 2);
}

#[tokio::test]
async fn a_burst_of_mentions_makes_one_on_call_request() {
    let (app, jsm) = spawn_jsm_app(|_, _| {}).await;
    Mock::given(method("GET"))
        .and(path_regex(r"/on-calls$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"onCallUsers": ["acc-alice"]}))
                .set_delay(Duration::from_millis(300)),
        )
        .mount(jsm.server())
        .await;
    let deliveries = (0..100).map(|n| {
        let app = &app;
        async move {
            app.deliver(&mention(
                &format!("Ev{n}"),
                "C1",
                &format!("2.{n}"),
                "<@UBOT> down",
            ))
            .await
        }
    });
    futures_util::future::join_all(deliveries).await;
    app.settle().await;
    assert_eq!(app.replies().len(), 100);
    assert_eq!(calls(&jsm, "/on-calls").await, 1);
}

#[tokio::test]
async fn the_binary_switches_provider_with_one_variable() {
    let slack = start_slack().await;
    let jsm = start_jsm().await;
    let config = tokio::process::Command::new(env!("CARGO_BIN_EXE_oncall-bot"))
        .arg("check")
        .env_clear()
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_API_URL", slack.url())
        .env("OPSGENIE_SCHEDULE", SCHEDULE)
        .env("ONCALL_PROVIDER", "jsm")
        .env("JSM_SITE_URL", jsm.url())
        .env("JSM_API_URL", jsm.url())
        .env("JSM_EMAIL", JSM_EMAIL)
        .env("JSM_API_TOKEN", JSM_TOKEN)
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&config.stdout);
    assert!(
        config.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&config.stderr)
    );
    assert!(
        stdout.contains(&format!("ok   JSM: cloud id {JSM_CLOUD_ID}")),
        "{stdout}"
    );
    let schedule_id = jsm.schedule_id(SCHEDULE).expect("an id");
    assert!(
        stdout.contains(&format!(
            "ok   JSM: schedule `SRE_schedule` is {schedule_id}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok   JSM: on call now: alice@corp.example, bob@corp.example"),
        "{stdout}"
    );
}
