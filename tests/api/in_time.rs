//! On-call in time against the simulated OpsGenie and JSM: who is on at a
//! moment or over a day, who is next, and the asker's own shifts, read in the
//! asker's time zone.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use oncall_bot::bot::slack_date;
use oncall_bot_simulator::events::app_mention;
use oncall_bot_simulator::{SimRotation, SimShift};

use crate::helpers::*;

/// Whole hours from a whole hour, so that the timeline's seconds match.
pub(crate) use crate::helpers::hours;

fn shift(email: &str, from: i64, to: i64) -> SimShift {
    SimShift {
        email: email.into(),
        from: hours(from),
        to: hours(to),
        is_override: false,
    }
}

/// Primary: alice until +5h, then bob until +29h, then alice until +53h.
/// Secondary: carol throughout.
fn rotations() -> Vec<SimRotation> {
    vec![
        SimRotation {
            name: "Weekly".into(),
            shifts: vec![
                shift("alice@corp.example", -1, 5),
                shift("bob@corp.example", 5, 29),
                shift("alice@corp.example", 29, 53),
            ],
        },
        SimRotation {
            name: "Backup".into(),
            shifts: vec![shift("carol@corp.example", -1, 53)],
        },
    ]
}

/// `time` as a phrase in `zone`: `on 2026-11-24 04:00`.
fn phrase_at(time: SystemTime, zone: &str) -> String {
    let zoned = Timestamp::try_from(time)
        .expect("a timestamp")
        .in_tz(zone)
        .expect("a zone");
    format!("on {} {}", zoned.date(), zoned.time().strftime("%H:%M"))
}

async fn ask_as(app: &TestApp, user: &str, ts: &str, text: &str) -> String {
    app.answer_to(&app_mention(&format!("Ev{ts}"), "C1", user, ts, text))
        .await
}

#[tokio::test]
async fn who_is_on_at_a_moment_is_read_in_the_askers_zone_per_rotation() {
    let app = spawn_app().await;
    app.opsgenie.set_rotations(SCHEDULE, rotations());
    app.slack.set_time_zone("UALICE", "Asia/Kolkata");
    let moment = hours(6);
    let text = ask_as(
        &app,
        "UALICE",
        "1.1",
        &format!(
            "<@UBOT> who is on call {}?",
            phrase_at(moment, "Asia/Kolkata")
        ),
    )
    .await;
    assert_eq!(
        text,
        format!(
            "On call for *SRE_schedule* at {}:\n\
             • primary (Weekly): <@UBOB> until {}\n\
             • secondary (Backup): <@UCAROL> until {}",
            slack_date(moment),
            slack_date(hours(29)),
            slack_date(hours(53))
        )
    );
    // The same words from someone with no zone in their profile read in UTC,
    // and the answer says so.
    let text = ask_as(
        &app,
        "UBOB",
        "1.2",
        &format!("<@UBOT> who is on call {}", phrase_at(moment, "UTC")),
    )
    .await;
    assert!(text.contains(&slack_date(moment)), "{text}");
    assert!(
        text.ends_with("(Read in UTC: your Slack profile has no time zone.)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_day_lists_each_hand_over_per_rotation() {
    let app = spawn_app().await;
    // The UTC day after tomorrow, D.
    let day = Timestamp::now()
        .in_tz("UTC")
        .expect("UTC")
        .date()
        .checked_add(jiff::ToSpan::days(2))
        .expect("a date");
    let at = |hour: i64| {
        let midnight = day.in_tz("UTC").expect("UTC").timestamp().as_second();
        SystemTime::UNIX_EPOCH + Duration::from_secs((midnight + hour * 3600) as u64)
    };
    let between = |email: &str, from: i64, to: i64| SimShift {
        email: email.into(),
        from: at(from),
        to: at(to),
        is_override: false,
    };
    app.opsgenie.set_rotations(
        SCHEDULE,
        vec![
            SimRotation {
                name: "Weekly".into(),
                shifts: vec![
                    between("alice@corp.example", -6, 8),
                    between("bob@corp.example", 8, 20),
                    between("alice@corp.example", 20, 32),
                ],
            },
            SimRotation {
                name: "Backup".into(),
                shifts: vec![between("carol@corp.example", -24, 48)],
            },
        ],
    );
    let text = ask_as(
        &app,
        "UBOB",
        "1.1",
        &format!("<@UBOT> who is on call on {day}"),
    )
    .await;
    assert_eq!(
        text,
        format!(
            "On call for *SRE_schedule* from {} to {}:\n\
             • primary (Weekly): <@UALICE> until {}, then <@UBOB> from {} until {}, \
             then <@UALICE> from {} until {}\n\
             • secondary (Backup): <@UCAROL> until {}\n\
             (Read in UTC: your Slack profile has no time zone.)",
            slack_date(at(0)),
            slack_date(at(24)),
            slack_date(at(8)),
            slack_date(at(8)),
            slack_date(at(20)),
            slack_date(at(20)),
            slack_date(at(32)),
            slack_date(at(48)),
        )
    );
}

#[tokio::test]
async fn next_names_who_takes_over_in_each_rotation_and_when() {
    let app = spawn_app().await;
    app.opsgenie.set_rotations(SCHEDULE, rotations());
    let text = ask_as(&app, "UBOB", "1.1", "<@UBOT> who is next?").await;
    assert_eq!(
        text,
        format!(
            "Next on call for *SRE_schedule*:\n• primary (Weekly): <@UBOB> from {}",
            slack_date(hours(5))
        )
    );
}

#[tokio::test]
async fn when_am_i_on_lists_the_askers_shifts_matched_by_email() {
    let app = spawn_app().await;
    app.opsgenie.set_rotations(SCHEDULE, rotations());
    let text = ask_as(&app, "UALICE", "1.1", "<@UBOT> when am I on?").await;
    assert_eq!(
        text,
        format!(
            "Your shifts in the next 4 weeks:\n\
             • *SRE_schedule* (Weekly): now to {}\n\
             • *SRE_schedule* (Weekly): {} to {}",
            slack_date(hours(5)),
            slack_date(hours(29)),
            slack_date(hours(53))
        )
    );
    let text = ask_as(&app, "UCAROL", "1.2", "<@UBOT> when is my next shift").await;
    assert!(text.contains("(Backup): now to"), "{text}");
    // Someone on no rotation.
    app.opsgenie.set_rotations(
        SCHEDULE,
        vec![SimRotation {
            name: "Weekly".into(),
            shifts: vec![shift("alice@corp.example", -1, 5)],
        }],
    );
    // The timeline is cached until its next hand-over; a cache clear reads
    // the changed one.
    ask_as(&app, "UBOB", "1.25", "<@UBOT> cache clear").await;
    let text = ask_as(&app, "UBOB", "1.3", "<@UBOT> when am I on").await;
    assert_eq!(
        text,
        "You have no shifts in the next 4 weeks in *SRE_schedule*."
    );
}

#[tokio::test]
async fn a_time_the_bot_cannot_read_is_answered_with_the_forms_it_can() {
    let app = spawn_app().await;
    let text = ask_as(&app, "UBOB", "1.1", "<@UBOT> who is on call at teatime?").await;
    assert!(
        text.starts_with("I could not read `at teatime` as a time. I understand times like these: `at 22:00`, `tonight`"),
        "{text}"
    );
    assert_eq!(app.on_call_lookups().await, 0, "nothing was looked up");
}

#[tokio::test]
async fn without_rotations_a_moment_is_answered_from_the_on_calls_at_that_date() {
    for upstream in UPSTREAMS {
        let app = spawn_app_on(upstream, |_| {}).await;
        let moment = hours(30);
        let text = ask_as(
            &app,
            "UBOB",
            "1.1",
            &format!("<@UBOT> who is on call {}", phrase_at(moment, "UTC")),
        )
        .await;
        assert!(
            text.starts_with(&format!(
                "On call for *SRE_schedule* at {}: <@UALICE>, <@UBOB>",
                slack_date(moment)
            )),
            "{upstream:?}: {text}"
        );
        if upstream == Upstream::OpsGenie {
            let asked_for = recorded(app.opsgenie.server())
                .await
                .iter()
                .filter(|request| request.url.path().ends_with("/on-calls"))
                .filter_map(|request| {
                    request
                        .url
                        .query_pairs()
                        .find(|(key, _)| key == "date")
                        .map(|(_, value)| value.into_owned())
                })
                .collect::<Vec<_>>();
            assert_eq!(
                asked_for,
                [humantime::format_rfc3339_seconds(moment).to_string()]
            );
        }
    }
}

impl TestApp {
    /// `/oncall <text>` as Slack posts it, signed; returns the HTTP status.
    pub(crate) async fn slash(&self, user: &str, text: &str) -> u16 {
        let body = oncall_bot_simulator::events::slash_command_form(
            user,
            "C1",
            text,
            &self.slack.response_url(),
        );
        let (timestamp, signature) = sign(&body, unix_now());
        let status = self
            .http
            .post(format!("{}/slack/commands", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await
            .expect("the app answers")
            .status();
        self.settle().await;
        status.as_u16()
    }
}

#[tokio::test]
async fn slash_oncall_answers_the_caller_alone_unless_public_and_pages_nobody() {
    let app = spawn_app_with(|config| {
        config.alerts = Some(oncall_bot::alerting::AlertPolicy::default());
    })
    .await;
    app.opsgenie.set_rotations(SCHEDULE, rotations());
    assert_eq!(app.slash("UBOB", "").await, 200);
    assert_eq!(app.slash("UBOB", "next public").await, 200);
    assert_eq!(app.slash("UALICE", "when am I on?").await, 200);
    let responses = app.slack.command_responses();
    assert_eq!(responses.len(), 3, "{responses:?}");
    assert_eq!(responses[0]["response_type"], "ephemeral");
    assert!(responses[0]["text"]
        .as_str()
        .is_some_and(|text| text.starts_with("On call for *SRE_schedule* right now:")));
    assert_eq!(responses[1]["response_type"], "in_channel");
    assert!(responses[1]["text"]
        .as_str()
        .is_some_and(|text| text.starts_with("Next on call for *SRE_schedule*:")));
    assert!(responses[2]["text"]
        .as_str()
        .is_some_and(|text| text.starts_with("Your shifts in the next 4 weeks:")));
    assert!(app.replies().is_empty(), "nothing posted in a channel");
    assert!(app.opsgenie.alerts().is_empty(), "a command pages nobody");

    // Unsigned: refused.
    let unsigned = app
        .http
        .post(format!("{}/slack/commands", app.address))
        .body("user_id=U1&channel_id=C1&response_url=x")
        .send()
        .await
        .expect("answers");
    assert_eq!(unsigned.status().as_u16(), 401);
}

/// JSM's rotations: Weekly is alice until +5h (a period JSM splits around
/// now), then bob until +29h.
fn jsm_rotations(app: &TestApp) {
    let jsm = app.jsm.as_ref().expect("JSM");
    jsm.set_rotations(
        SCHEDULE,
        vec![(
            "Weekly".to_owned(),
            vec![
                ("acc-alice".to_owned(), hours(-1), hours(5)),
                ("acc-bob".to_owned(), hours(5), hours(29)),
            ],
        )],
    );
}

#[tokio::test]
async fn jsm_answers_with_rotations_merging_the_period_it_splits_around_now() {
    let app = spawn_app_on(Upstream::Jsm, |_| {}).await;
    jsm_rotations(&app);
    let now = ask_as(&app, "UCAROL", "1.1", "<@UBOT> who?").await;
    assert_eq!(
        now,
        format!(
            "On call for *SRE_schedule* right now: <@UALICE> until {}; next: <@UBOB>",
            slack_date(hours(5))
        ),
        "one shift until +5h, not two split at now"
    );
    let next = ask_as(&app, "UCAROL", "1.2", "<@UBOT> next").await;
    assert_eq!(
        next,
        format!(
            "Next on call for *SRE_schedule*:\n• primary (Weekly): <@UBOB> from {}",
            slack_date(hours(5))
        )
    );
    let span = ask_as(&app, "UCAROL", "1.4", "<@UBOT> who is on call tomorrow").await;
    assert!(
        span.starts_with("On call for *SRE_schedule* from ")
            && span.contains("\n• primary (Weekly): ")
            && span.contains("<@UBOB>"),
        "a span from JSM's timeline: {span}"
    );
    let mine = ask_as(&app, "UALICE", "1.3", "<@UBOT> when am I on?").await;
    assert_eq!(
        mine,
        format!(
            "Your shifts in the next 4 weeks:\n• *SRE_schedule* (Weekly): now to {}",
            slack_date(hours(5))
        )
    );
}
