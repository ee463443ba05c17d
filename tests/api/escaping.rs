//! Every text that comes from a provider or a person is escaped on its way
//! into Slack markup. A sweep: `<!channel>`, `<!here>`, `<@U0X>` and
//! `<https://x|y>` go into every field the simulated providers return (people,
//! rotation names, webhook notes, owners and escalations, refusals) and into
//! what people type (teams, time phrases); then no message the bot posted,
//! updated, sent ephemerally, as a DM, at a `response_url` or as a topic may
//! carry them as they are.

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::config::WebhookTokens;
use oncall_bot::handovers::TopicSpec;
use oncall_bot_simulator::events::{self, alert_webhook, app_mention};
use oncall_bot_simulator::{PdShift, PdTarget, SimRotation, SimShift};
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::in_time::hours;
use crate::two_way::{click_on, raise, Happened, ALIAS, THREAD, WEBHOOK_TOKEN};

/// What must never reach Slack as it is.
const HOSTILE: [&str; 4] = ["<!channel>", "<!here>", "<@U0X>", "<https://x|y>"];

fn hostile() -> String {
    HOSTILE.join(" ")
}

/// Every body the bot sent to the simulated Slack (Web API and
/// `response_url`), as text.
async fn everything_sent(app: &TestApp) -> Vec<String> {
    app.slack
        .server()
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|request| String::from_utf8_lossy(&request.body).into_owned())
        .collect()
}

async fn assert_nothing_unescaped(app: &TestApp, upstream: Upstream) {
    let sent = everything_sent(app).await;
    assert!(
        sent.len() > 10,
        "{upstream:?}: the sweep posted: {}",
        sent.len()
    );
    for body in &sent {
        for token in HOSTILE {
            assert!(
                !body.contains(token),
                "{upstream:?}: `{token}` went to Slack as it is in:\n{body}"
            );
        }
    }
    assert!(
        sent.iter().any(|body| body.contains("&lt;!channel&gt;")),
        "{upstream:?}: the hostile texts were shown, escaped"
    );
}

#[tokio::test]
async fn no_text_from_a_provider_or_a_person_reaches_slack_unescaped() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_app_on_with_workspace(upstream, |_, config| {
            config.alerts = Some(AlertPolicy::default());
            config.webhooks = WebhookTokens {
                opsgenie: Some(WEBHOOK_TOKEN.into()),
                jsm: Some(WEBHOOK_TOKEN.into()),
                pagerduty: Some(PD_WEBHOOK_SECRET.into()),
            };
            if let oncall_bot::config::SourceConfig::PagerDuty(pagerduty) = &mut config.source {
                pagerduty
                    .escalation_policies
                    .insert(SCHEDULE.into(), "PEPHOST".into());
            }
            config.topics = vec![TopicSpec {
                channel: "C0TOPIC".into(),
                schedule: SCHEDULE.into(),
            }];
            config.announce_interval = std::time::Duration::from_millis(50);
        })
        .await;
        let name = hostile();
        // People and rotations named by the provider.
        match (&app.jsm, &app.pagerduty) {
            (None, Some(pagerduty)) => {
                // A person whose name and email are hostile, and levels named
                // after hostile schedules.
                pagerduty.add_user("PUSRMAL", &name, &format!("{name}@evil.example"));
                let shift = |user: &str, from: i64, to: i64| PdShift {
                    user: user.into(),
                    from: hours(from),
                    to: hours(to),
                };
                pagerduty.set_schedule(
                    "PHOST01",
                    &name,
                    vec![shift("PUSRMAL", -1, 5), shift("PUSRBOB", 5, 29)],
                );
                pagerduty.set_schedule(
                    "PHOST02",
                    &format!("{name} backup"),
                    vec![shift("PUSRBOB", -1, 29)],
                );
                pagerduty.set_escalation_policy(
                    "PEPHOST",
                    vec![
                        vec![PdTarget::Schedule("PHOST01".into())],
                        vec![PdTarget::Schedule("PHOST02".into())],
                    ],
                );
            }
            (None, None) => {
                let shift = |email: &str, from: i64, to: i64| SimShift {
                    email: email.into(),
                    from: hours(from),
                    to: hours(to),
                    is_override: false,
                };
                app.opsgenie.set_rotations(
                    SCHEDULE,
                    vec![
                        SimRotation {
                            name: name.clone(),
                            shifts: vec![shift(&name, -1, 5), shift("bob@corp.example", 5, 29)],
                        },
                        SimRotation {
                            name: format!("{name} backup"),
                            shifts: vec![shift("bob@corp.example", -1, 29)],
                        },
                    ],
                );
            }
            (Some(jsm), _) => {
                jsm.add_user("acc-mallory", &name, None);
                jsm.set_on_call(SCHEDULE, &["acc-mallory", "acc-bob"]);
                jsm.set_rotations(
                    SCHEDULE,
                    vec![
                        (
                            name.clone(),
                            vec![
                                ("acc-mallory".to_owned(), hours(-1), hours(5)),
                                ("acc-bob".to_owned(), hours(5), hours(29)),
                            ],
                        ),
                        (
                            format!("{name} backup"),
                            vec![("acc-bob".to_owned(), hours(-1), hours(29))],
                        ),
                    ],
                );
            }
        }
        // The answers: now (raising an alert), next, a day, a moment, the
        // asker's shifts, a team nobody has, a phrase the bot cannot read.
        raise(&app).await;
        for (index, text) in [
            "next",
            "who is on call tomorrow",
            "who is on call at 23:00",
            "when am I on?",
            &format!("team {name}"),
            &format!("who is on call on {name}"),
            &format!("take call {name}"),
            "take call until tomorrow 09:00",
        ]
        .into_iter()
        .enumerate()
        {
            app.deliver(&app_mention(
                &format!("EvSweep{index}"),
                "C1",
                "UBOB",
                &format!("1700000100.{index:06}"),
                &format!("<@UBOT> {text}"),
            ))
            .await;
            app.settle().await;
        }
        assert_eq!(app.slash("UBOB", &format!("{name} on {name}")).await, 200);

        // The webhook: a note, an owner, an escalation, by a hostile name.
        if upstream == Upstream::PagerDuty {
            // PagerDuty's: by Mallory, a note, Mallory made the assignee.
            let mallory = "mallory@evil.example";
            for (index, what) in [
                Happened::Note(&name),
                Happened::Owner(mallory),
                Happened::Acknowledged,
            ]
            .into_iter()
            .enumerate()
            {
                let body = app.told(what, ALIAS.as_str(), mallory, 1_795_460_100 + index as u64);
                assert_eq!(
                    app.webhook(Some(WEBHOOK_TOKEN), &body).await,
                    app.accepted()
                );
            }
        } else {
            for (index, (action, extra)) in [
                ("AddNote", json!({"note": name})),
                ("AssignOwnership", json!({"owner": name})),
                ("Escalate", json!({"escalationName": name})),
                ("Acknowledge", json!({})),
            ]
            .into_iter()
            .enumerate()
            {
                let body = alert_webhook(
                    action,
                    ALIAS.as_str(),
                    &name,
                    1_795_460_100_000_000_000 + index as u128,
                    "",
                    extra,
                );
                assert_eq!(app.webhook(Some(WEBHOOK_TOKEN), &body).await, 200);
            }
        }

        // The provider's refusals, in its own words.
        let refusal = match upstream {
            Upstream::PagerDuty => {
                json!({"error": {"message": name, "code": 2001, "errors": [name]}})
            }
            Upstream::OpsGenie | Upstream::Jsm => json!({
                "message": name, "errorMessages": [name], "took": 0.0, "requestId": "x"
            }),
        };
        Mock::given(method("POST"))
            .and(path_regex(r"/close$"))
            .respond_with(ResponseTemplate::new(422).set_body_json(refusal.clone()))
            .mount(app.upstream_server())
            .await;
        Mock::given(method("PUT"))
            .and(path_regex(r"^/incidents/"))
            .respond_with(ResponseTemplate::new(400).set_body_json(refusal.clone()))
            .with_priority(1)
            .mount(app.upstream_server())
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"/overrides$"))
            .respond_with(ResponseTemplate::new(422).set_body_json(refusal))
            .with_priority(1)
            .mount(app.upstream_server())
            .await;
        let answer = app.answer();
        app.click(&click_on(&answer, "UBOB", "alert_close")).await;
        app.deliver(&events::in_thread(
            &app_mention("EvYes", "C1", "UBOB", "1700000200.000100", "<@UBOT> yes"),
            "1700000100.000007",
        ))
        .await;
        app.settle().await;
        let _ = THREAD;
        // The topic loop has run over the hostile names too.
        wait_until("the topic names who is on call", || {
            !app.slack.topic_writes().is_empty()
        })
        .await;
        assert!(!app.slack.ephemerals().is_empty(), "the refusal was told");
        assert_nothing_unescaped(&app, upstream).await;
    }
}
