//! PagerDuty, against the simulated account that follows the contract in
//! `tests/data/pagerduty/`: answers from the final schedule (one person at a
//! time, until when, next, at a time, "when am I on?"), a schedule found by
//! name past one page, a 429 waited out, stale answers; alerts both ways
//! (Events API v2 with the alias as dedup key, actions as the clicker with
//! `From`, signed v3 webhooks); taking the call and cover (overrides answered
//! with a status each); the Home tab; `check`; the requests checked against
//! the contract's specs.

use std::time::{Duration, SystemTime};

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::bot::slack_date;
use oncall_bot::config::{ServeConfig, SourceConfig};
use oncall_bot_simulator::events::{app_mention, ButtonClick};
use oncall_bot_simulator::pagerduty::{webhook_body, webhook_signature};
use oncall_bot_simulator::{PagerDutyAccount, PdShift, PdTarget, SlackWorkspace};
use serde_json::Value;

use crate::helpers::*;
use crate::take_call::{announcing, tomorrow, ONCALL_CHANNEL};

const WEBHOOK_SECRET: &str = PD_WEBHOOK_SECRET;
const SCHEDULE_ID: &str = PD_SCHEDULE_ID;

/// The app answering from PagerDuty, alerts on, its webhook route on.
async fn spawn_pd(
    adjust: impl FnOnce(&SlackWorkspace, &mut ServeConfig),
) -> (TestApp, PagerDutyAccount) {
    let pagerduty = start_pagerduty().await;
    let config = pagerduty_config(&pagerduty, SCHEDULE);
    let app = spawn_app_with_workspace(|slack, serve| {
        serve.source = SourceConfig::PagerDuty(config);
        serve.alerts = Some(AlertPolicy::default());
        serve.webhooks.pagerduty = Some(WEBHOOK_SECRET.into());
        adjust(slack, serve);
    })
    .await;
    (app, pagerduty)
}

/// A help request at the top of a new thread (alerts on: it raises an
/// incident); the incident's key, the alias.
async fn raise_incident(app: &TestApp) -> String {
    app.answer_to(&mention(
        "Ev1",
        "C1",
        "1700000000.000100",
        "<@UBOT> checkout is down",
    ))
    .await;
    alias_for("C1", "1700000000.000100", "1700000000.000100")
}

/// Posts a v3 delivery to the bot, signed with `secret` (none: no header).
async fn deliver_webhook(app: &TestApp, body: &str, secret: Option<&str>, id: &str) -> u16 {
    let mut request = app
        .http
        .post(format!("{}/pagerduty/webhook", app.address))
        .header("content-type", "application/json")
        .header("x-webhook-id", id)
        .body(body.to_owned());
    if let Some(secret) = secret {
        request = request.header("x-pagerduty-signature", webhook_signature(secret, body));
    }
    let status = request.send().await.expect("answered").status().as_u16();
    app.settle().await;
    status
}

#[tokio::test]
async fn the_answer_is_the_final_schedules_one_person_until_when_and_who_is_next() {
    let (app, _pagerduty) = spawn_pd(|_, config| config.alerts = None).await;
    let t11 = slack_date(tomorrow(11));
    assert_eq!(
        app.answer_to(&mention("Ev1", "C1", "1.1", "<@UBOT> who is on call?"))
            .await,
        format!("On call for *SRE_schedule* right now: <@UALICE> until {t11}; next: <@UBOB>")
    );
    // At a time, and the asker's own shifts.
    let at = app
        .answer_to(&mention(
            "Ev2",
            "C1",
            "1.2",
            "<@UBOT> who is on call tomorrow 12:00",
        ))
        .await;
    assert!(at.starts_with("On call for *SRE_schedule* at "), "{at}");
    assert!(at.contains("<@UBOB> until"), "{at}");
    let mine = app
        .answer_to(&direct_message("Ev3", "UBOB", "1.3", "when am I on?"))
        .await;
    assert_eq!(
        mine,
        format!(
            "Your shifts in the next 4 weeks:\n• *SRE_schedule* (final schedule): {t11} to {}",
            slack_date(tomorrow(35))
        )
    );
}

#[tokio::test]
async fn a_schedule_named_is_found_past_the_first_page_and_a_429_is_waited_out() {
    let pagerduty = start_pagerduty().await;
    for n in 0..5 {
        pagerduty.set_schedule(
            &format!("PSRE10{n}"),
            &format!("{SCHEDULE} copy {n}"),
            Vec::new(),
        );
    }
    // The real one sorts last by id: found on the last of six pages.
    pagerduty.set_schedule("PZZZ999", "SRE_schedule", Vec::new());
    pagerduty.set_schedule(
        SCHEDULE_ID,
        "SRE schedule (old)",
        vec![PdShift {
            user: "PUSRCAR".into(),
            from: crate::in_time::hours(-1),
            to: crate::in_time::hours(5),
        }],
    );
    pagerduty.set_schedule(
        "PZZZ999",
        SCHEDULE,
        vec![PdShift {
            user: "PUSRBOB".into(),
            from: crate::in_time::hours(-1),
            to: crate::in_time::hours(5),
        }],
    );
    pagerduty.set_page_limit(1);
    pagerduty.throttle_next(1);
    let config = pagerduty_config(&pagerduty, SCHEDULE);
    let app = spawn_app_with(|serve| serve.source = SourceConfig::PagerDuty(config)).await;
    let answer = app
        .answer_to(&mention("Ev1", "C1", "1.1", "<@UBOT> who?"))
        .await;
    assert!(answer.contains("<@UBOB>"), "{answer}");
    let pages = recorded(pagerduty.server())
        .await
        .iter()
        .filter(|request| request.url.path() == "/schedules")
        .count();
    assert!(pages >= 6, "{pages} pages read");
}

#[tokio::test]
async fn with_an_escalation_policy_each_level_is_answered_from_oncalls_past_one_page() {
    let pagerduty = start_pagerduty().await;
    pagerduty.set_schedule(
        "PSEC001",
        "SRE secondary",
        vec![PdShift {
            user: "PUSRBOB".into(),
            from: crate::in_time::hours(-2),
            to: crate::in_time::hours(3),
        }],
    );
    // Level 1: the SRE schedule (Alice, then Bob); level 2: the secondary
    // schedule (Bob) and Carol named directly, always on at that level.
    pagerduty.set_escalation_policy(
        "PEPSRE1",
        vec![
            vec![PdTarget::Schedule(SCHEDULE_ID.into())],
            vec![
                PdTarget::Schedule("PSEC001".into()),
                PdTarget::User("PUSRCAR".into()),
            ],
        ],
    );
    pagerduty.set_page_limit(1);
    let mut config = pagerduty_config(&pagerduty, SCHEDULE);
    config
        .escalation_policies
        .insert(SCHEDULE.into(), "PEPSRE1".into());
    let app = spawn_app_with(|serve| serve.source = SourceConfig::PagerDuty(config)).await;
    let answer = app
        .answer_to(&mention("Ev1", "C1", "1.1", "<@UBOT> who is on call?"))
        .await;
    assert_eq!(
        answer,
        format!(
            "On call for *SRE_schedule* right now:\n\
             • primary (SRE_schedule): <@UALICE> until {}; next: <@UBOB>\n\
             • secondary (level 2): <@UCAROL>, <@UBOB> until {}",
            slack_date(tomorrow(11)),
            slack_date(crate::in_time::hours(3)),
        )
    );
    // Carol, named by level 2 directly, has no end in any answer.
    let mine = app
        .answer_to(&direct_message("Ev2", "UCAROL", "1.2", "when am I on?"))
        .await;
    assert_eq!(
        mine,
        "Your shifts in the next 4 weeks:\n• *SRE_schedule* (level 2): now onwards"
    );
    let at = app
        .answer_to(&mention(
            "Ev3",
            "C1",
            "1.3",
            "<@UBOT> who is on call tomorrow 12:00",
        ))
        .await;
    assert!(
        at.contains("<@UCAROL>") && !at.contains("2100"),
        "no end of the world: {at}"
    );
    let oncalls: Vec<_> = recorded(pagerduty.server())
        .await
        .into_iter()
        .filter(|request| request.url.path() == "/oncalls")
        .collect();
    assert!(
        oncalls.iter().any(|request| request
            .url
            .query_pairs()
            .any(|(k, v)| k == "offset" && v != "0")),
        "paged past the first page"
    );
    assert!(oncalls.iter().all(|request| request
        .url
        .query_pairs()
        .any(|(k, v)| k == "escalation_policy_ids[]" && v == "PEPSRE1")));
}

#[tokio::test]
async fn a_teams_schedule_named_is_found_at_start_and_answers_for_the_team() {
    let pagerduty = start_pagerduty().await;
    pagerduty.set_schedule(
        "PPAY001",
        "Payments primary",
        vec![PdShift {
            user: "PUSRCAR".into(),
            from: crate::in_time::hours(-1),
            to: crate::in_time::hours(5),
        }],
    );
    let config = pagerduty_config(&pagerduty, SCHEDULE_ID);
    let app = spawn_app_with(|serve| {
        serve.source = SourceConfig::PagerDuty(config);
        serve.routing = oncall_bot::routing::Routing::new(
            vec![oncall_bot::routing::Team {
                name: "payments".into(),
                aliases: vec![],
                schedule: "Payments primary".into(),
            }],
            &[],
        )
        .expect("routing");
    })
    .await;
    let searches = || async {
        recorded(pagerduty.server())
            .await
            .iter()
            .filter(|request| {
                request.url.path() == "/schedules"
                    && request
                        .url
                        .query_pairs()
                        .any(|(k, v)| k == "query" && v == "Payments primary")
            })
            .count()
    };
    for _ in 0..50 {
        if searches().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(searches().await, 1, "found at start, before any question");
    let answer = app
        .answer_to(&mention("Ev1", "C1", "1.1", "<@UBOT> payments is down"))
        .await;
    assert!(
        answer.starts_with("On call for *Payments primary* right now: <@UCAROL> until"),
        "{answer}"
    );
    assert_eq!(searches().await, 1, "the id remembered");
}

#[tokio::test]
async fn an_outage_answers_with_the_last_good_answer_and_its_age() {
    let (app, pagerduty) = spawn_pd(|_, config| {
        config.alerts = None;
        config.cache_ttl = Duration::from_secs(1);
    })
    .await;
    app.answer_to(&mention("Ev1", "C1", "1.1", "<@UBOT> who?"))
        .await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    wiremock::Mock::given(wiremock::matchers::path_regex("^/schedules/"))
        .respond_with(wiremock::ResponseTemplate::new(503))
        .with_priority(1)
        .mount(pagerduty.server())
        .await;
    let stale = app
        .answer_to(&mention("Ev2", "C1", "1.2", "<@UBOT> who?"))
        .await;
    assert!(
        stale.starts_with("PagerDuty is not answering; this is who was on call for *SRE_schedule*"),
        "{stale}"
    );
    assert!(stale.contains("<@UALICE>"), "{stale}");
}

#[tokio::test]
async fn an_alert_is_an_incident_keyed_by_the_alias_and_pages_once() {
    let (app, pagerduty) = spawn_pd(|_, _| {}).await;
    let event = mention("Ev1", "C1", "1700000000.000100", "<@UBOT> checkout is down");
    app.answer_to(&event).await;
    let alias = alias_for("C1", "1700000000.000100", "1700000000.000100");
    let events = pagerduty.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["dedup_key"], alias.as_str());
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[0]["payload"]["severity"], "info", "P4 is info");
    assert!(events[0]["links"][0]["href"]
        .as_str()
        .is_some_and(|href| href.contains("/archives/C1/p1700000000000100")));
    // The same message again (a retry under a new event id, another replica):
    // raised once; a raise under the same open key would not page again.
    app.answer_to(&app_mention(
        "Ev2",
        "C1",
        "UALICE",
        "1700000000.000100",
        "<@UBOT> checkout is down",
    ))
    .await;
    assert_eq!(pagerduty.alert_book().pages(&alias), 1);
}

#[tokio::test]
async fn buttons_act_as_the_clicker_and_pagerdutys_refusals_are_theirs_alone() {
    let (app, pagerduty) = spawn_pd(|_, _| {}).await;
    let alias = raise_incident(&app).await;
    let answer = app.replies().pop().expect("the answer");
    app.press(&ButtonClick::on(&answer, "UBOB", "alert_take", &alias))
        .await;
    let (id, status, assignee) = pagerduty.incident(&alias).expect("the incident");
    assert_eq!(
        (status.as_str(), assignee.as_deref()),
        ("acknowledged", Some("PUSRBOB"))
    );
    let puts: Vec<_> = recorded(pagerduty.server())
        .await
        .into_iter()
        .filter(|request| request.method.as_str() == "PUT")
        .collect();
    assert!(!puts.is_empty());
    for put in &puts {
        assert_eq!(put.url.path(), format!("/incidents/{id}"));
        assert_eq!(
            put.headers.get("from").and_then(|v| v.to_str().ok()),
            Some("bob@corp.example"),
            "as the clicker"
        );
    }
    let updated = app.slack.message(&answer.ts).expect("the answer");
    assert!(
        updated.text.contains("Taken by <@UBOB>"),
        "{}",
        updated.text
    );
    // Resolved in PagerDuty itself: a click now is refused in its words.
    pagerduty.set_incident_status(&alias, "resolved");
    app.press(&ButtonClick::on(
        &answer,
        "UALICE",
        "alert_acknowledge",
        &alias,
    ))
    .await;
    let told = app.slack.ephemerals();
    assert!(
        told.last().is_some_and(
            |told| told.user == "UALICE" && told.text.contains("Incident Already Resolved")
        ),
        "{told:?}"
    );
}

#[tokio::test]
async fn signed_webhooks_come_back_into_the_thread_once_and_unsigned_ones_do_nothing() {
    let (app, pagerduty) = spawn_pd(|_, _| {}).await;
    let alias = raise_incident(&app).await;
    let posts = app.replies().len();
    pagerduty.set_incident_status(&alias, "acknowledged");
    let acknowledged = webhook_body(
        &pagerduty,
        "incident.acknowledged",
        &alias,
        Some("PUSRALI"),
        "2030-01-15T09:02:00Z",
        None,
    );
    assert_eq!(
        deliver_webhook(&app, &acknowledged, None, "w0").await,
        400,
        "no signature"
    );
    assert_eq!(
        deliver_webhook(&app, &acknowledged, Some("another-secret"), "w0").await,
        401,
        "a signature under another secret"
    );
    assert_eq!(app.replies().len(), posts, "nothing posted for either");
    assert_eq!(
        deliver_webhook(&app, &acknowledged, Some(WEBHOOK_SECRET), "w1").await,
        202
    );
    assert_eq!(
        app.replies().pop().map(|post| post.text),
        Some("<@UALICE> acknowledged it in PagerDuty.".to_owned())
    );
    // Delivered again under the same id: dropped.
    assert_eq!(
        deliver_webhook(&app, &acknowledged, Some(WEBHOOK_SECRET), "w1").await,
        202
    );
    assert_eq!(app.replies().len(), posts + 1);
    // A note names only its incident: looked up, then shown.
    let note = webhook_body(
        &pagerduty,
        "incident.annotated",
        &alias,
        Some("PUSRBOB"),
        "2030-01-15T09:05:00Z",
        Some("Rolled back <!channel>"),
    );
    assert_eq!(
        deliver_webhook(&app, &note, Some(WEBHOOK_SECRET), "w2").await,
        202
    );
    assert_eq!(
        app.replies().pop().map(|post| post.text),
        Some("Note from <@UBOB>: Rolled back &lt;!channel&gt;".to_owned())
    );
    // A second note on the same incident: its key is not looked up again.
    let second = webhook_body(
        &pagerduty,
        "incident.annotated",
        &alias,
        Some("PUSRBOB"),
        "2030-01-15T09:05:30Z",
        Some("Monitoring"),
    );
    deliver_webhook(&app, &second, Some(WEBHOOK_SECRET), "w2b").await;
    assert_eq!(
        app.replies().pop().map(|post| post.text),
        Some("Note from <@UBOB>: Monitoring".to_owned())
    );
    let lookups = recorded(pagerduty.server())
        .await
        .iter()
        .filter(|request| {
            request.method.as_str() == "GET" && request.url.path().starts_with("/incidents/")
        })
        .count();
    assert_eq!(lookups, 1, "the incident's key is kept");
    // An incident this bot did not raise: answered, ignored.
    let foreign = webhook_body(
        &pagerduty,
        "incident.resolved",
        "someone-elses-key",
        Some("PUSRALI"),
        "2030-01-15T09:06:00Z",
        None,
    );
    let before = app.replies().len();
    assert_eq!(
        deliver_webhook(&app, &foreign, Some(WEBHOOK_SECRET), "w3").await,
        202
    );
    assert_eq!(app.replies().len(), before);
}

#[tokio::test]
async fn a_delivery_shed_when_busy_is_taken_when_it_comes_again_and_a_resent_body_is_dropped() {
    let (app, pagerduty) = spawn_pd(|_, config| config.max_in_flight = 1).await;
    let alias = raise_incident(&app).await;
    pagerduty.set_incident_status(&alias, "acknowledged");
    let acknowledged = webhook_body(
        &pagerduty,
        "incident.acknowledged",
        &alias,
        Some("PUSRALI"),
        "2030-01-15T09:01:00Z",
        None,
    );
    // Another help request holds the one slot: its incident is slow to raise.
    wiremock::Mock::given(wiremock::matchers::path("/v2/enqueue"))
        .respond_with(
            wiremock::ResponseTemplate::new(202)
                .set_body_json(serde_json::json!({"status": "success", "dedup_key": "k"}))
                .set_delay(Duration::from_millis(1_500)),
        )
        .with_priority(1)
        .mount(pagerduty.server())
        .await;
    let busy = {
        let (address, http) = (app.address.clone(), app.http.clone());
        let body = mention("Ev2", "C1", "1700000000.000200", "<@UBOT> payments down");
        let (timestamp, signature) = sign(&body, unix_now());
        tokio::spawn(async move {
            http.post(format!("{address}/slack/events"))
                .header("content-type", "application/json")
                .header("x-slack-request-timestamp", timestamp)
                .header("x-slack-signature", signature)
                .body(body)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = deliver_webhook(&app, &acknowledged, Some(WEBHOOK_SECRET), "w-busy").await;
    assert_eq!(status, 503, "shed while the slot is held");
    let _ = busy.await;
    app.settle().await;
    // PagerDuty delivers it again under the same id: taken this time.
    assert_eq!(
        deliver_webhook(&app, &acknowledged, Some(WEBHOOK_SECRET), "w-busy").await,
        202
    );
    assert_eq!(
        app.replies().last().map(|post| post.text.clone()),
        Some("<@UALICE> acknowledged it in PagerDuty.".to_owned())
    );
    // The same signed body under a fresh delivery id: the same event, dropped.
    let posts = app.replies().len();
    assert_eq!(
        deliver_webhook(&app, &acknowledged, Some(WEBHOOK_SECRET), "w-fresh").await,
        202
    );
    assert_eq!(app.replies().len(), posts);
    app.wait_for_metrics(&[r#"oncall_bot_alert_webhooks_total{outcome="repeated"} 1"#])
        .await;
}

#[tokio::test]
async fn an_event_over_an_hour_old_is_ignored_so_that_a_signed_body_cannot_be_replayed_later() {
    let (app, pagerduty) = spawn_pd(|_, _| {}).await;
    let alias = raise_incident(&app).await;
    let posts = app.replies().len();
    let at = |ago: u64| {
        humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(ago)).to_string()
    };
    let old = webhook_body(
        &pagerduty,
        "incident.annotated",
        &alias,
        Some("PUSRBOB"),
        &at(2 * 3600),
        Some("captured two hours ago"),
    );
    assert_eq!(
        deliver_webhook(&app, &old, Some(WEBHOOK_SECRET), "w-old").await,
        202
    );
    assert_eq!(app.replies().len(), posts, "nothing said");
    app.wait_for_metrics(&[r#"oncall_bot_alert_webhooks_total{outcome="too_old"} 1"#])
        .await;
    let recent = webhook_body(
        &pagerduty,
        "incident.annotated",
        &alias,
        Some("PUSRBOB"),
        &at(50 * 60),
        Some("fifty minutes ago"),
    );
    deliver_webhook(&app, &recent, Some(WEBHOOK_SECRET), "w-recent").await;
    assert_eq!(
        app.replies().last().map(|post| post.text.clone()),
        Some("Note from <@UBOB>: fifty minutes ago".to_owned())
    );
}

#[tokio::test]
async fn the_bots_own_action_coming_back_is_not_said_twice() {
    let (app, pagerduty) = spawn_pd(|_, _| {}).await;
    let alias = raise_incident(&app).await;
    let answer = app.replies().pop().expect("the answer");
    app.press(&ButtonClick::on(
        &answer,
        "UBOB",
        "alert_acknowledge",
        &alias,
    ))
    .await;
    let posts = app.replies().len();
    let echo = webhook_body(
        &pagerduty,
        "incident.acknowledged",
        &alias,
        Some("PUSRBOB"),
        "2030-01-15T09:02:00Z",
        None,
    );
    assert_eq!(
        deliver_webhook(&app, &echo, Some(WEBHOOK_SECRET), "w1").await,
        202
    );
    assert_eq!(app.replies().len(), posts, "Bob's own click, not news");
}

#[tokio::test]
async fn taking_the_call_makes_an_override_of_the_whole_schedule_read_by_its_status() {
    let (app, pagerduty) = spawn_pd(|_, config| announcing(config)).await;
    let thread = "1700000000.000100";
    let asked = {
        app.deliver(&app_mention(
            "EvTake",
            "C1",
            "UBOB",
            thread,
            "<@UBOT> take call tomorrow 09:00-10:00",
        ))
        .await;
        app.settle().await;
        app.replies().pop().expect("the prompt")
    };
    assert!(
        asked
            .text
            .contains("take the call for *SRE_schedule* (the whole schedule, every layer of it)"),
        "{}",
        asked.text
    );
    let request = asked.blocks.as_ref().expect("Confirm")[1]["elements"][0]["value"]
        .as_str()
        .expect("the request")
        .to_owned();
    app.press(&ButtonClick::on(
        &asked,
        "UBOB",
        "take_call_confirm",
        &request,
    ))
    .await;
    let live = pagerduty.live_overrides(SCHEDULE_ID);
    assert_eq!(live.len(), 1, "made once");
    assert_eq!(live[0].1, "PUSRBOB");
    assert_eq!((live[0].2, live[0].3), (tomorrow(9), tomorrow(10)));
    assert!(app.slack.posts().iter().any(
        |post| post.channel == ONCALL_CHANNEL && post.text.starts_with("<@UBOB> took the call")
    ));
}

#[tokio::test]
async fn cover_me_is_covered_once_with_an_override_for_the_first_allowed_click() {
    let (app, pagerduty) = spawn_pd(|_, config| announcing(config)).await;
    app.deliver(&app_mention(
        "EvCover",
        "C1",
        "UALICE",
        "1700000000.000100",
        "<@UBOT> cover me tomorrow 09:00-10:00, dentist",
    ))
    .await;
    app.settle().await;
    let post = app
        .slack
        .posts()
        .into_iter()
        .find(|post| post.channel == ONCALL_CHANNEL)
        .expect("the request for cover");
    let id = post.blocks.as_ref().expect("buttons")[1]["elements"][0]["value"]
        .as_str()
        .expect("its id")
        .to_owned();
    app.press(&ButtonClick::on(&post, "UBOB", "cover_take", &id))
        .await;
    app.press(&ButtonClick::on(&post, "UCAROL", "cover_take", &id))
        .await;
    let live = pagerduty.live_overrides(SCHEDULE_ID);
    assert_eq!(live.len(), 1, "covered once");
    assert_eq!(live[0].1, "PUSRBOB");
}

#[tokio::test]
async fn the_home_tab_shows_the_final_schedule_and_the_viewers_shifts() {
    let (app, _pagerduty) = spawn_pd(|_, config| config.alerts = None).await;
    let home = app.open_home("UBOB", "EvHomePd").await;
    let texts = crate::app_home::texts(&home);
    let t11 = slack_date(tomorrow(11));
    assert_eq!(
        texts[4],
        format!(
            "• *SRE_schedule* (final schedule): {t11} to {}",
            slack_date(tomorrow(35))
        )
    );
    assert_eq!(
        texts[6],
        format!("*SRE_schedule*\nOn call: <@UALICE> until {t11}; next <@UBOB> from {t11}")
    );
}

#[tokio::test]
async fn check_tries_the_token_and_the_schedule_and_never_the_routing_key() {
    let pagerduty = start_pagerduty().await;
    let slack = start_slack().await;
    let opsgenie = start_opsgenie().await;
    let mut config = test_config(&slack, &opsgenie);
    config.source = SourceConfig::PagerDuty(pagerduty_config(&pagerduty, SCHEDULE));
    config.alerts = Some(AlertPolicy::default());
    let report = oncall_bot::check::run(&config, None).await;
    let texts: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    let said = |texts: &[String], words: &str| texts.iter().any(|text| text.contains(words));
    assert!(
        texts.contains(&"ok   PagerDuty: schedule `SRE_schedule` is PSRE001".to_owned()),
        "{texts:?}"
    );
    assert!(
        texts.contains(
            &"ok   PagerDuty: on call now (the final schedule): alice@corp.example".to_owned()
        ),
        "{texts:?}"
    );
    assert!(
        said(&texts, "not tested: creating an alert would page someone"),
        "{texts:?}"
    );
    assert!(
        said(&texts, "PAGERDUTY_WEBHOOK_SECRET is not set"),
        "{texts:?}"
    );
    assert!(
        said(
            &texts,
            "not tested whether the key may act on PagerDuty incidents"
        ),
        "a read-only key is not called able to act: {texts:?}"
    );
    assert!(pagerduty.events().is_empty(), "nobody paged");
    assert!(
        recorded(pagerduty.server())
            .await
            .iter()
            .all(|request| request.method.as_str() == "GET"),
        "check writes nothing to PagerDuty"
    );
    // An escalation policy is found, or said to be unknown.
    pagerduty.set_escalation_policy(
        "PEPSRE1",
        vec![vec![PdTarget::Schedule(SCHEDULE_ID.into())]],
    );
    for (policy, words) in [
        (
            "PEPSRE1",
            "ok   PagerDuty: escalation policy PEPSRE1 (PEPSRE1 policy) answers for `SRE_schedule`",
        ),
        (
            "PEPNONE",
            "PagerDuty has no escalation policy with the id `PEPNONE`",
        ),
    ] {
        let mut levels = config.clone();
        if let SourceConfig::PagerDuty(pd) = &mut levels.source {
            pd.escalation_policies
                .insert(SCHEDULE.into(), policy.into());
        }
        let report = oncall_bot::check::run(&levels, None).await;
        let texts: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
        assert!(said(&texts, words), "{texts:?}");
        assert_eq!(report.all_ok(), policy == "PEPSRE1", "{texts:?}");
    }
    // A wrong token is said so, naming PagerDuty once.
    let mut wrong = config.clone();
    if let SourceConfig::PagerDuty(pd) = &mut wrong.source {
        pd.api_token = "not-the-token".into();
    }
    let report = oncall_bot::check::run(&wrong, None).await;
    assert!(!report.all_ok());
    let texts: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(said(&texts, "PAGERDUTY_API_TOKEN"), "{texts:?}");
    assert!(
        texts
            .iter()
            .all(|text| !text.contains("PagerDuty: PagerDuty")),
        "{texts:?}"
    );
}

/// The contract's REST spec: the operation a request is, by method and path.
fn spec_operation(spec: &Value, method: &str, path: &str) -> Option<Value> {
    let paths = spec["paths"].as_object()?;
    paths.iter().find_map(|(template, item)| {
        let pattern: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let same = pattern.len() == actual.len()
            && pattern
                .iter()
                .zip(&actual)
                .all(|(want, got)| want.starts_with('{') || want == got);
        same.then(|| item[method.to_lowercase()].clone())
            .filter(|operation| operation.is_object())
    })
}

#[tokio::test]
async fn every_request_the_bot_sends_is_one_the_contract_declares_with_its_required_parts() {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/data/pagerduty/pagerduty_rest_subset.derived.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the spec"),
    )
    .expect("JSON");
    let events_spec: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/data/pagerduty/pagerduty_events_v2_subset.derived.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the events spec"),
    )
    .expect("JSON");
    let (app, pagerduty) = spawn_pd(|_, config| {
        announcing(config);
        if let SourceConfig::PagerDuty(pd) = &mut config.source {
            pd.escalation_policies
                .insert(SCHEDULE.into(), "PEPSRE1".into());
        }
    })
    .await;
    pagerduty.set_escalation_policy(
        "PEPSRE1",
        vec![vec![PdTarget::Schedule(SCHEDULE_ID.into())]],
    );
    // Answers (by escalation level), an alert, a click, and an override.
    let alias = raise_incident(&app).await;
    let answer = app.replies().pop().expect("the answer");
    app.press(&ButtonClick::on(&answer, "UBOB", "alert_take", &alias))
        .await;
    app.deliver(&app_mention(
        "EvTake",
        "C1",
        "UBOB",
        "1700000000.000200",
        "<@UBOT> take call tomorrow 09:00-10:00",
    ))
    .await;
    app.settle().await;
    let parameter = |reference: &Value| -> Value {
        match reference["$ref"].as_str() {
            Some(name) => spec["components"]["parameters"]
                [name.rsplit('/').next().unwrap_or_default()]
            .clone(),
            None => reference.clone(),
        }
    };
    let requests = recorded(pagerduty.server()).await;
    assert!(requests.len() >= 5);
    assert!(
        requests
            .iter()
            .any(|request| request.url.path() == "/oncalls"),
        "the levels were read"
    );
    for request in &requests {
        let path = request.url.path();
        if path == "/v2/enqueue" {
            let operation = &events_spec["paths"]["/enqueue"]["post"];
            assert!(operation.is_object(), "the events spec has /enqueue");
            let body: Value = serde_json::from_slice(&request.body).expect("JSON");
            let severities =
                &events_spec["components"]["schemas"]["Payload"]["properties"]["severity"]["enum"];
            assert!(
                severities
                    .as_array()
                    .is_some_and(|all| all.contains(&body["payload"]["severity"])),
                "severity {} in {severities}",
                body["payload"]["severity"]
            );
            for field in ["routing_key", "event_action"] {
                assert!(body[field].is_string(), "{field}");
            }
            continue;
        }
        let method = request.method.as_str();
        let operation = spec_operation(&spec, method, path)
            .unwrap_or_else(|| panic!("{method} {path} is not in the contract"));
        let declared: Vec<Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(parameter)
            .collect();
        for (sent, _) in request.url.query_pairs() {
            assert!(
                declared
                    .iter()
                    .any(|parameter| parameter["in"] == "query" && parameter["name"] == *sent),
                "{method} {path}: the query {sent} is not declared"
            );
        }
        for declared in declared {
            let name = declared["name"].as_str().unwrap_or_default();
            let required = declared["required"] == true;
            if !required || name == "Content-Type" && method == "GET" {
                continue;
            }
            match declared["in"].as_str() {
                Some("header") => assert!(
                    request.headers.get(name.to_lowercase().as_str()).is_some(),
                    "{method} {path}: the header {name}"
                ),
                Some("query") => assert!(
                    request.url.query_pairs().any(|(key, _)| key == name),
                    "{method} {path}: the query {name}"
                ),
                _ => {}
            }
        }
        let accept = request
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            accept, "application/vnd.pagerduty+json;version=2",
            "{method} {path}"
        );
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(auth, format!("Token token={PD_TOKEN}"), "{method} {path}");
    }
}

#[tokio::test]
async fn a_hand_over_is_announced_and_the_topic_names_who_is_on() {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let handover = SystemTime::UNIX_EPOCH + Duration::from_secs(now + 2);
    let hour = Duration::from_secs(3600);
    let (app, pagerduty) = spawn_pd(|slack, config| {
        config.alerts = None;
        config.announcements = vec![oncall_bot::handovers::AnnounceSpec {
            label: SCHEDULE.to_owned(),
            schedule: SCHEDULE.to_owned(),
            channel: Some("C0ANNOUNCE".to_owned()),
            remind_before: None,
        }];
        config.topics = vec![oncall_bot::handovers::TopicSpec {
            channel: "C0PAYHELP".to_owned(),
            schedule: SCHEDULE.to_owned(),
        }];
        config.announce_interval = Duration::from_millis(100);
        slack.set_topic("C0PAYHELP", "Payments help");
    })
    .await;
    pagerduty.set_schedule(
        SCHEDULE_ID,
        SCHEDULE,
        vec![
            PdShift {
                user: "PUSRALI".into(),
                from: handover - hour,
                to: handover,
            },
            PdShift {
                user: "PUSRBOB".into(),
                from: handover,
                to: handover + hour,
            },
        ],
    );
    let announced = || {
        app.slack
            .posts()
            .into_iter()
            .filter(|post| post.channel == "C0ANNOUNCE")
            .collect::<Vec<_>>()
    };
    wait_until_async("the hand-over is announced", || async {
        !announced().is_empty()
    })
    .await;
    assert_eq!(
        announced()[0].text,
        format!(
            "On call for *SRE_schedule* now: <@UBOB> (after <@UALICE>), until {}",
            slack_date(handover + hour)
        )
    );
    wait_until_async("the topic names Bob", || async {
        app.slack
            .topic_writes()
            .last()
            .is_some_and(|(_, topic)| topic.contains("<@UBOB>"))
    })
    .await;
}

#[tokio::test]
async fn the_user_group_follows_the_final_schedule() {
    let pagerduty = start_pagerduty().await;
    let slack = start_slack().await;
    slack.add_user_group("S0OPSONCALL", "opsoncall", &["UCAROL"]);
    let opsgenie = start_opsgenie().await;
    let mut config = sync_config(&slack, &opsgenie, "opsoncall");
    config.source = SourceConfig::PagerDuty(pagerduty_config(&pagerduty, SCHEDULE));
    let mut syncs = oncall_bot::startup::user_group_syncs(&config).expect("the sync");
    let outcome = syncs.remove(0).run_once().await.expect("synced");
    assert_eq!(
        outcome.to_string(),
        "@opsoncall updated from [UCAROL] to [UALICE]"
    );
}
