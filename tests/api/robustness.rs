//! No input can stop the bot: a time outside 1970..2099 is answered in words,
//! a panic gives its place under `MAX_IN_FLIGHT` back and is counted, and
//! clicks, commands and webhook deliveries count under `MAX_IN_FLIGHT` too
//! (over it, a person is told privately to try again; nothing is done).

use std::time::Duration;

use oncall_bot::alerting::AlertPolicy;
use oncall_bot_simulator::events::app_mention;

use crate::helpers::*;
use crate::two_way::{click_on, raise};

const OUT_OF_RANGE: &str = "I answer for times from 1970 to 2099 only";

#[tokio::test]
async fn times_before_1970_are_answered_in_words_and_never_take_the_bots_places() {
    let max_in_flight = 3;
    let app = spawn_app_with(|config| config.max_in_flight = max_in_flight).await;
    let phrases = [
        "who is on call on 1969-12-31",
        "take call on 1969-12-31 09:00-10:00",
        "who is on call on 0001-01-01 09:00",
    ];
    for round in 0..2 * max_in_flight {
        let phrase = phrases[round % phrases.len()];
        let ts = format!("1700000000.{round:06}");
        let status = app
            .deliver(&app_mention(
                &format!("Ev{round}"),
                "C1",
                "UBOB",
                &ts,
                &format!("<@UBOT> {phrase}"),
            ))
            .await
            .status()
            .as_u16();
        assert_eq!(status, 200, "{round}: taken, not shed");
        app.settle().await;
        let answer = app.replies().pop().expect("an answer");
        assert!(
            answer.text.starts_with(OUT_OF_RANGE),
            "{phrase}: {}",
            answer.text
        );
    }
    assert_eq!(app.slash("UBOB", "on 1969-12-31").await, 200);
    let responses = app.slack.command_responses();
    assert!(
        responses[0]["text"]
            .as_str()
            .is_some_and(|text| text.starts_with(OUT_OF_RANGE)),
        "{responses:?}"
    );
    assert_eq!(app.inbox.in_flight(), 0);
    let answer = app
        .answer_to(&app_mention(
            "EvLast",
            "C1",
            "UBOB",
            "1700000001.000100",
            "<@UBOT> who?",
        ))
        .await;
    assert!(answer.starts_with("On call for *SRE_schedule*"), "{answer}");
}

#[tokio::test]
async fn a_panic_gives_its_place_back_is_counted_and_logged_as_an_error() {
    let (logs, _guard) = crate::logs::CapturedLogs::start();
    let app = spawn_app_with(|config| config.max_in_flight = 1).await;
    let started = app
        .inbox
        .run_guarded("answer", "an injected panic".to_owned(), async {
            panic!("injected");
        });
    assert!(started);
    app.settle().await;
    assert_eq!(app.inbox.in_flight(), 0, "the place is given back");
    app.wait_for_metrics(&[r#"oncall_bot_task_panics_total{kind="answer"} 1"#])
        .await;
    let logged = logs.text();
    assert!(
        logged.contains("ERROR") && logged.contains("the work panicked; its place is given back"),
        "{logged}"
    );
    // With MAX_IN_FLIGHT of 1, the bot still answers.
    let answer = app
        .answer_to(&app_mention(
            "Ev1",
            "C1",
            "UBOB",
            "1700000000.000100",
            "<@UBOT> who?",
        ))
        .await;
    assert!(answer.starts_with("On call for *SRE_schedule*"), "{answer}");
}

#[tokio::test]
async fn clicks_and_commands_over_max_in_flight_are_shed_and_the_person_told() {
    let app = spawn_two_way_with_max_in_flight(1).await;
    let answer = raise(&app).await;
    // Something long holds the one place.
    assert!(app
        .inbox
        .run_guarded("answer", "a long answer".to_owned(), async {
            tokio::time::sleep(Duration::from_millis(700)).await;
        }));
    let endpoint = oncall_bot_simulator::events::EventsEndpoint::new(&app.address, SIGNING_SECRET);
    let status = endpoint
        .click(&click_on(&answer, "UBOB", "alert_close"))
        .await
        .expect("answers");
    assert_eq!(status, 200, "acked: Slack never sends a click again");
    assert_eq!(app.slash("UCAROL", "who").await, 200);
    wait_until("the busy notices are sent", || {
        app.slack
            .ephemerals()
            .iter()
            .any(|told| told.user == "UBOB")
            && !app.slack.command_responses().is_empty()
    })
    .await;
    assert!(
        app.book().actions().is_empty(),
        "the shed click did nothing"
    );
    let told = app
        .slack
        .ephemerals()
        .into_iter()
        .find(|told| told.user == "UBOB")
        .expect("told");
    assert_eq!(told.text, oncall_bot::edge::inbox::BUSY_TEXT);
    assert_eq!(
        app.slack.command_responses()[0]["text"],
        oncall_bot::edge::inbox::BUSY_TEXT
    );
    app.wait_for_metrics(&[
        r#"oncall_bot_slack_events_total{type="block_actions",outcome="shed"} 1"#,
        r#"oncall_bot_slack_events_total{type="slash_command",outcome="shed"} 1"#,
    ])
    .await;
}

async fn spawn_two_way_with_max_in_flight(max_in_flight: usize) -> TestApp {
    spawn_app_on(Upstream::OpsGenie, |config| {
        config.alerts = Some(AlertPolicy::default());
        config.max_in_flight = max_in_flight;
    })
    .await
}

#[tokio::test]
async fn a_webhook_and_an_event_over_max_in_flight_get_503_so_they_are_sent_again() {
    let app = spawn_app_on(Upstream::OpsGenie, |config| {
        config.alerts = Some(AlertPolicy::default());
        config.max_in_flight = 1;
        config.webhooks.opsgenie = Some(crate::two_way::WEBHOOK_TOKEN.into());
    })
    .await;
    // Something long holds the one place.
    assert!(app
        .inbox
        .run_guarded("answer", "a long answer".to_owned(), async {
            tokio::time::sleep(Duration::from_millis(700)).await;
        }));
    let body = oncall_bot_simulator::events::alert_webhook(
        "AddNote",
        &alias_for("C1", "1.1", "1.1"),
        "bob@corp.example",
        1,
        "",
        serde_json::json!({"note": "x"}),
    );
    let status = app
        .http
        .post(format!("{}/opsgenie/webhook", app.address))
        .header(
            "authorization",
            format!("Bearer {}", crate::two_way::WEBHOOK_TOKEN),
        )
        .body(body)
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status.as_u16(), 503);
    let event = app
        .deliver(&app_mention(
            "Ev1",
            "C1",
            "UBOB",
            "1700000000.000100",
            "<@UBOT> who?",
        ))
        .await;
    assert_eq!(event.status().as_u16(), 503);
    app.settle().await;
    assert_eq!(app.inbox.in_flight(), 0);
}

#[tokio::test]
async fn slacks_ssl_check_of_the_command_url_is_answered_200_and_nothing_else_is_let_in() {
    let (logs, _guard) = crate::logs::CapturedLogs::start();
    let app = spawn_app().await;
    let post = |body: &'static str| {
        app.http
            .post(format!("{}/slack/commands", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let probe = post("ssl_check=1&token=legacy-verification-token")
        .await
        .expect("answers");
    assert_eq!(probe.status().as_u16(), 200);
    assert!(app.slack.command_responses().is_empty(), "nothing done");
    for unsigned in [
        "ssl_check=0&token=x",
        "user_id=U1&channel_id=C1&response_url=https%3A%2F%2Fhooks.slack.com%2Fx&text=who",
    ] {
        let refused = post(unsigned).await.expect("answers");
        assert_eq!(refused.status().as_u16(), 401, "{unsigned}");
    }
    let logged = logs.text();
    assert!(
        !logged
            .lines()
            .any(|line| line.contains("ssl_check") && !line.contains("DEBUG")),
        "{logged}"
    );
    assert!(
        !logged.lines().any(|line| line.contains("WARN")
            && line.contains("/slack/commands")
            && line.contains("ssl")),
        "{logged}"
    );
}

#[tokio::test]
async fn readyz_lists_each_background_loop_and_the_loops_export_their_last_success() {
    let app = spawn_app_with(|config| {
        config.topics = vec![oncall_bot::handovers::TopicSpec {
            channel: "C0TOPIC".into(),
            schedule: SCHEDULE.into(),
        }];
        config.announce_interval = Duration::from_millis(50);
    })
    .await;
    app.wait_for_metrics(&[r#"oncall_bot_loop_last_success_timestamp_seconds{loop="notices"} "#])
        .await;
    let (status, text) = app.readyz().await;
    assert_eq!(status, 200);
    assert!(text.starts_with("ready: "), "{text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("notices: ok, last success ")),
        "{text}"
    );
    // A round that fails is told, and the status stays about taking events.
    wiremock::Mock::given(wiremock::matchers::path_regex("/timeline$"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .mount(app.opsgenie.server())
        .await;
    wait_until_async("the notices loop says it is failing", || async {
        app.readyz()
            .await
            .1
            .lines()
            .any(|line| line.starts_with("notices: failing ("))
    })
    .await;
    assert_eq!(app.readyz().await.0, 200);
}
