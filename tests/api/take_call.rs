//! Taking the call is a privilege: the policy (workspace, guests, rotations,
//! the longest span, off per team, widened by `take_call_allowed`), the
//! override limited to the taker's rotation, the announcement and the DMs, Undo,
//! two askers in one thread, and `/oncall take call` end to end. Against the
//! simulated OpsGenie, JSM and PagerDuty alike where they apply (on PagerDuty
//! the rotations are an escalation policy's levels, each one schedule).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use oncall_bot::bot::slack_date;
use oncall_bot::config::{ServeConfig, SourceConfig};
use oncall_bot::handovers::AnnounceSpec;
use oncall_bot::overrides::TakeCallPolicy;
use oncall_bot_simulator::events::{self, app_mention, ButtonClick, EventsEndpoint};
use oncall_bot_simulator::overrides::SimOverride;
use oncall_bot_simulator::{PdShift, PdTarget, Post, SimRotation, SimShift, SlackWorkspace};
use serde_json::Value;
use wiremock::Mock;

use crate::helpers::*;
use crate::in_time::hours;

/// Where overrides of the default schedule are announced.
pub(crate) const ONCALL_CHANNEL: &str = "C0ONCALL";

/// Tomorrow at `hour` (UTC; hours past 23 run into the day after).
pub(crate) use crate::helpers::tomorrow;

/// PagerDuty's escalation policy standing for the rotations below.
const PD_POLICY: &str = "PEPSRE1";
/// Its levels' schedules.
const PD_WEEKLY: &str = "PWEEKLY";
const PD_BACKUP: &str = "PBACKUP";

/// Weekly: Alice from an hour ago until tomorrow 11:00, then Bob for a day.
/// Backup: Carol throughout. On PagerDuty, the levels 1 and 2 of the default
/// schedule's escalation policy, each a schedule.
fn set_rotations(app: &TestApp) {
    if let Some(pagerduty) = &app.pagerduty {
        let shift = |user: &str, from, to| PdShift {
            user: user.into(),
            from,
            to,
        };
        pagerduty.set_schedule(
            PD_WEEKLY,
            "Weekly",
            vec![
                shift("PUSRALI", hours(-1), tomorrow(11)),
                shift("PUSRBOB", tomorrow(11), tomorrow(35)),
            ],
        );
        pagerduty.set_schedule(
            PD_BACKUP,
            "Backup",
            vec![shift("PUSRCAR", hours(-1), tomorrow(35))],
        );
        pagerduty.set_escalation_policy(
            PD_POLICY,
            vec![
                vec![PdTarget::Schedule(PD_WEEKLY.into())],
                vec![PdTarget::Schedule(PD_BACKUP.into())],
            ],
        );
        return;
    }
    match &app.jsm {
        None => {
            let shift = |email: &str, from: SystemTime, to: SystemTime| SimShift {
                email: email.into(),
                from,
                to,
                is_override: false,
            };
            app.opsgenie.set_rotations(
                SCHEDULE,
                vec![
                    SimRotation {
                        name: "Weekly".into(),
                        shifts: vec![
                            shift("alice@corp.example", hours(-1), tomorrow(11)),
                            shift("bob@corp.example", tomorrow(11), tomorrow(35)),
                        ],
                    },
                    SimRotation {
                        name: "Backup".into(),
                        shifts: vec![shift("carol@corp.example", hours(-1), tomorrow(35))],
                    },
                ],
            );
        }
        Some(jsm) => {
            jsm.add_user("acc-carol", "Carol Clark", Some("carol@corp.example"));
            jsm.set_rotations(
                SCHEDULE,
                vec![
                    (
                        "Weekly".to_owned(),
                        vec![
                            ("acc-alice".to_owned(), hours(-1), tomorrow(11)),
                            ("acc-bob".to_owned(), tomorrow(11), tomorrow(35)),
                            ("acc-erin".to_owned(), tomorrow(35), tomorrow(59)),
                        ],
                    ),
                    (
                        "Backup".to_owned(),
                        vec![("acc-carol".to_owned(), hours(-1), tomorrow(35))],
                    ),
                ],
            );
        }
    }
}

/// The app with the rotations above, Erin (in no rotation on OpsGenie) and
/// Dan (of a Slack Connect partner) in the workspace.
pub(crate) async fn spawn_taking(
    upstream: Upstream,
    adjust: impl FnOnce(&SlackWorkspace, &mut ServeConfig),
) -> TestApp {
    let app = spawn_app_on_with_workspace(upstream, |slack, config| {
        slack.add_person("erin@corp.example", "UERIN");
        slack.add_person("dan@partner.example", "UDAN");
        slack.set_home_of("UDAN", "TPARTNER", None);
        if let SourceConfig::PagerDuty(pagerduty) = &mut config.source {
            pagerduty
                .escalation_policies
                .insert(SCHEDULE.into(), PD_POLICY.into());
        }
        adjust(slack, config);
    })
    .await;
    set_rotations(&app);
    app
}

/// Announcements of the default schedule's overrides in `ONCALL_CHANNEL`.
pub(crate) fn announcing(config: &mut ServeConfig) {
    config.announcements = vec![AnnounceSpec {
        label: SCHEDULE.to_owned(),
        schedule: SCHEDULE.to_owned(),
        channel: Some(ONCALL_CHANNEL.to_owned()),
        remind_before: None,
    }];
    // Hand-over notices are not what these tests are about.
    config.announce_interval = Duration::from_secs(3600);
}

impl TestApp {
    /// `user` writes `text` to the bot at the top of the thread `thread`;
    /// returns the bot's answer.
    pub(crate) async fn ask_in_thread(&self, user: &str, thread: &str, text: &str) -> Post {
        self.deliver(&app_mention(
            &format!("Ev{thread}{user}"),
            "C1",
            user,
            thread,
            &format!("<@UBOT> {text}"),
        ))
        .await;
        self.settle().await;
        self.replies().pop().expect("an answer")
    }

    /// `user` replies `text` in the thread `thread`; returns the bot's answer.
    async fn reply(&self, thread: &str, user: &str, ts: &str, text: &str) -> Post {
        self.deliver(&events::in_thread(
            &app_mention(
                &format!("Ev{ts}"),
                "C1",
                user,
                ts,
                &format!("<@UBOT> {text}"),
            ),
            thread,
        ))
        .await;
        self.settle().await;
        self.replies().pop().expect("an answer")
    }

    pub(crate) async fn press(&self, click: &ButtonClick<'_>) {
        let status = EventsEndpoint::new(&self.address, SIGNING_SECRET)
            .click(click)
            .await
            .expect("the app answers");
        assert_eq!(status, 200);
        self.settle().await;
    }

    /// The overrides made and not deleted; on PagerDuty on any schedule
    /// (alias: the schedule and the override's id; rotations: the schedule).
    pub(crate) fn live_overrides(&self) -> Vec<SimOverride> {
        match (&self.jsm, &self.pagerduty) {
            (Some(jsm), _) => jsm.live_overrides(SCHEDULE),
            (None, Some(pagerduty)) => pagerduty
                .every_live_override()
                .into_iter()
                .map(|(schedule, id, user, from, to)| SimOverride {
                    alias: format!("{schedule}:{id}"),
                    user,
                    from,
                    to,
                    rotations: vec![schedule],
                })
                .collect(),
            (None, None) => self.opsgenie.live_overrides(SCHEDULE),
        }
    }

    pub(crate) fn override_bodies(&self) -> Vec<Value> {
        match (&self.jsm, &self.pagerduty) {
            (Some(jsm), _) => jsm.overrides(),
            (None, Some(pagerduty)) => pagerduty.overrides(),
            (None, None) => self.opsgenie.overrides(),
        }
    }

    /// The next override is made but its request answered `status`.
    pub(crate) fn make_next_override_then_answer(&self, status: u16) {
        match (&self.jsm, &self.pagerduty) {
            (Some(jsm), _) => jsm.make_next_override_then_answer(status),
            (None, Some(pagerduty)) => pagerduty.make_next_override_then_answer(status),
            (None, None) => self.opsgenie.make_next_override_then_answer(status),
        }
    }
}

/// The span an override request asked for: (start, end) as sent.
pub(crate) fn override_span(upstream: Upstream, body: &Value) -> (Value, Value) {
    match upstream {
        Upstream::PagerDuty => (
            body["overrides"][0]["start"].clone(),
            body["overrides"][0]["end"].clone(),
        ),
        Upstream::OpsGenie | Upstream::Jsm => (body["startDate"].clone(), body["endDate"].clone()),
    }
}

/// The value of the first button of a message, and its action id.
fn button(post: &Post) -> (String, String) {
    let blocks = post.blocks.clone().unwrap_or(Value::Null);
    let button = blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .next()
        .unwrap_or(Value::Null);
    (
        button["action_id"].as_str().unwrap_or_default().to_owned(),
        button["value"].as_str().unwrap_or_default().to_owned(),
    )
}

fn date(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[tokio::test]
async fn a_rotation_member_takes_the_call_for_their_rotation_only_and_the_secondary_stays() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, _| {}).await;
        let thread = "1700000000.000100";
        let question = app
            .ask_in_thread("UBOB", thread, "take call tomorrow 09:00-13:00")
            .await;
        assert_eq!(
            question.text,
            format!(
                "<@UBOB>, take the call for *SRE_schedule* (rotation *Weekly*) from {} until {}, \
                 replacing alice@corp.example? Confirm with the button, or reply `@ops yes` here.",
                slack_date(tomorrow(9)),
                slack_date(tomorrow(13))
            ),
            "{upstream:?}: only the rotation Bob is in, and not Bob himself"
        );
        assert_eq!(button(&question).0, "take_call_confirm");
        assert!(
            app.live_overrides().is_empty(),
            "nothing before the confirmation"
        );

        let done = app.reply(thread, "UBOB", "1700000000.000200", "yes").await;
        assert!(
            done.text.starts_with(&format!(
                "Done: <@UBOB> is on call for *SRE_schedule* (rotation *Weekly*) from {} until {}, \
                 replacing <@UALICE>.",
                slack_date(tomorrow(9)),
                slack_date(tomorrow(13))
            )),
            "{upstream:?}: {}",
            done.text
        );
        assert_eq!(button(&done).0, "take_call_undo");
        let bodies = app.override_bodies();
        assert_eq!(bodies.len(), 1);
        match upstream {
            Upstream::OpsGenie => {
                assert_eq!(bodies[0]["user"]["username"], "bob@corp.example");
                assert_eq!(
                    bodies[0]["rotations"],
                    serde_json::json!([{"id": "rotation-0"}])
                );
                assert!(bodies[0]["alias"]
                    .as_str()
                    .is_some_and(|alias| alias.starts_with("oncall-bot-")));
            }
            Upstream::Jsm => {
                assert_eq!(
                    bodies[0]["responder"],
                    serde_json::json!({"type": "user", "id": "acc-bob"})
                );
                assert_eq!(bodies[0]["rotationIds"], serde_json::json!(["rotation-0"]));
            }
            Upstream::PagerDuty => {
                assert_eq!(bodies[0]["overrides"][0]["user"]["id"], "PUSRBOB");
                // Made on the Weekly level's own schedule: Backup stays.
                assert_eq!(app.live_overrides()[0].rotations, [PD_WEEKLY]);
            }
        }
        assert_eq!(
            override_span(upstream, &bodies[0]),
            (date(tomorrow(9)).into(), date(tomorrow(13)).into())
        );
        app.wait_for_metrics(&[
            r#"oncall_bot_overrides_total{outcome="asked"} 1"#,
            r#"oncall_bot_overrides_total{outcome="made"} 1"#,
        ])
        .await;
    }
}

#[tokio::test]
async fn an_override_covering_now_shows_at_once_with_the_backup_still_on_call() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, _| {}).await;
        let before = app.ask_in_thread("UCAROL", "1.1", "who?").await;
        assert!(before.text.contains("<@UALICE>"), "{}", before.text);
        app.ask_in_thread(
            "UBOB",
            "1700000000.000100",
            "take call until tomorrow 09:00",
        )
        .await;
        app.reply("1700000000.000100", "UBOB", "1700000000.000200", "yes")
            .await;
        let after = app.ask_in_thread("UCAROL", "1.2", "who now?").await;
        // PagerDuty's levels (from /oncalls) do not say what is an override.
        let marker = match upstream {
            Upstream::PagerDuty => "",
            Upstream::OpsGenie | Upstream::Jsm => " (override)",
        };
        assert!(
            after
                .text
                .contains(&format!("• primary (Weekly): <@UBOB>{marker} until"))
                && after.text.contains("• secondary (Backup): <@UCAROL> until"),
            "{upstream:?}: the cached answer was dropped, and the secondary stays: {}",
            after.text
        );
    }
}

#[tokio::test]
async fn the_outsider_the_guest_the_stranger_and_the_long_span_are_refused_creating_nothing() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |slack, _| slack.make_guest("UCAROL", false)).await;
        let outsider = events::from_team(
            &app_mention(
                "EvDan",
                "C1",
                "UDAN",
                "1700000000.000100",
                "<@UBOT> take call until 23:59",
            ),
            "TPARTNER",
        );
        app.deliver(&outsider).await;
        app.settle().await;
        let cases = [
            (
                app.replies().pop().expect("an answer").text,
                "Only people of this workspace can take its calls; nothing changed.".to_owned(),
            ),
            (
                app.ask_in_thread("UCAROL", "1700000000.000200", "take call until 23:59")
                    .await
                    .text,
                "Guests cannot take the call; nothing changed.".to_owned(),
            ),
            (
                app.ask_in_thread("UERIN", "1700000000.000300", "take call until 23:59")
                    .await
                    .text,
                "You are in none of *SRE_schedule*'s rotations, so you cannot take its call \
                 (an admin can allow you with `take_call_allowed`). Nothing changed."
                    .to_owned(),
            ),
        ];
        // On JSM Erin is in a rotation, but by an account with a hidden
        // email and no mapping to her Slack user: not recognised either.
        for (answer, expected) in cases {
            assert_eq!(answer, expected, "{upstream:?}");
        }
        let long = app
            .ask_in_thread("UBOB", "1700000000.000400", "take call until on 2099-12-31")
            .await;
        assert!(
            long.text.starts_with("That span is ")
                && long
                    .text
                    .ends_with("and the most one request may take is 7 days; take it in shorter parts. Nothing changed."),
            "{upstream:?}: {}",
            long.text
        );
        assert!(long.blocks.is_none(), "no Confirm button");
        assert!(app.live_overrides().is_empty(), "{upstream:?}");
        assert!(app.override_bodies().is_empty());
    }
}

#[tokio::test]
async fn take_call_allowed_widens_to_people_and_groups_and_the_prompt_names_the_rotation() {
    let app = spawn_taking(Upstream::OpsGenie, |slack, config| {
        slack.add_person("dave@corp.example", "UDAVE");
        slack.add_user_group("S0LEADS", "leads", &["UDAVE"]);
        config.take_call.default = TakeCallPolicy {
            allowed: vec!["UERIN".into(), "S0LEADS".into()],
            ..TakeCallPolicy::default()
        };
    })
    .await;
    for (user, thread) in [
        ("UERIN", "1700000000.000100"),
        ("UDAVE", "1700000000.000200"),
    ] {
        let question = app
            .ask_in_thread(user, thread, "take call tomorrow 09:00-10:00")
            .await;
        assert!(
            question.text.starts_with(&format!(
                "<@{user}>, take the call for *SRE_schedule* (rotation *Weekly*) from "
            )),
            "{}",
            question.text
        );
    }
    let done = app
        .reply("1700000000.000200", "UDAVE", "1700000000.000300", "yes")
        .await;
    assert!(done.text.starts_with("Done: <@UDAVE>"), "{}", done.text);
    let bodies = app.override_bodies();
    assert_eq!(bodies[0]["user"]["username"], "dave@corp.example");
    assert_eq!(
        bodies[0]["rotations"],
        serde_json::json!([{"id": "rotation-0"}])
    );
}

#[tokio::test]
async fn taking_the_call_turned_off_for_a_team_is_refused() {
    let app = spawn_taking(Upstream::OpsGenie, |_, config| {
        config.routing = oncall_bot::routing::Routing::new(
            vec![oncall_bot::routing::Team {
                name: "payments".into(),
                aliases: vec![],
                schedule: "Payments_schedule".into(),
            }],
            &[],
        )
        .expect("routing");
        config.take_call.by_schedule = HashMap::from([(
            "Payments_schedule".to_owned(),
            TakeCallPolicy {
                enabled: false,
                ..TakeCallPolicy::default()
            },
        )]);
    })
    .await;
    let answer = app
        .ask_in_thread(
            "UBOB",
            "1700000000.000100",
            "take call for payments until 23:59",
        )
        .await;
    assert_eq!(
        answer.text,
        "Taking the call is turned off for *payments*; change the schedule in the on-call tool \
         itself. Nothing changed."
    );
}

#[tokio::test]
async fn a_jsm_person_known_only_through_jsm_account_overrides_takes_the_call() {
    let app = spawn_taking(Upstream::Jsm, |_, config| {
        if let oncall_bot::config::SourceConfig::Jsm(jsm) = &mut config.source {
            jsm.account_overrides = HashMap::from([("acc-erin".to_owned(), "UERIN".to_owned())]);
        }
    })
    .await;
    let question = app
        .ask_in_thread(
            "UERIN",
            "1700000000.000100",
            "take call tomorrow 09:00-10:00",
        )
        .await;
    assert!(
        question
            .text
            .starts_with("<@UERIN>, take the call for *SRE_schedule* (rotation *Weekly*) from "),
        "Erin's email is hidden from JSM, yet she is in its rotation: {}",
        question.text
    );
    app.reply("1700000000.000100", "UERIN", "1700000000.000200", "yes")
        .await;
    let bodies = app.override_bodies();
    assert_eq!(
        bodies[0]["responder"],
        serde_json::json!({"type": "user", "id": "acc-erin"}),
        "by her account, not an email search"
    );
}

#[tokio::test]
async fn the_override_is_announced_each_person_replaced_is_told_and_undo_removes_it() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, config| announcing(config)).await;
        let thread = "1700000000.000100";
        app.ask_in_thread("UBOB", thread, "take call tomorrow 09:00-13:00")
            .await;
        let done = app.reply(thread, "UBOB", "1700000000.000200", "yes").await;
        let posts = app.slack.posts();
        let announcement = posts
            .iter()
            .find(|post| post.channel == ONCALL_CHANNEL)
            .cloned()
            .expect("announced");
        assert_eq!(
            announcement.text,
            format!(
                "<@UBOB> took the call for *SRE_schedule* (rotation *Weekly*) from {} until {}, \
                 replacing <@UALICE>.",
                slack_date(tomorrow(9)),
                slack_date(tomorrow(13))
            ),
            "{upstream:?}"
        );
        let dm = posts
            .iter()
            .find(|post| post.channel == "DUALICE")
            .cloned()
            .expect("Alice is told");
        assert!(
            dm.text
                .starts_with("<@UBOB> took the call for *SRE_schedule* (rotation *Weekly*) from ")
                && dm.text.contains("in your place"),
            "{}",
            dm.text
        );
        assert!(
            !posts
                .iter()
                .any(|post| post.channel == "DUCAROL" || post.channel == "DUBOB"),
            "nobody else is told"
        );
        let (action, made) = button(&announcement);
        assert_eq!(action, "take_call_undo");

        // Someone neither taking nor replaced may not undo it, and is told
        // alone: the announcement stays as it was.
        app.press(&ButtonClick::on(
            &announcement,
            "UCAROL",
            "take_call_undo",
            &made,
        ))
        .await;
        assert_eq!(app.live_overrides().len(), 1, "{upstream:?}");
        assert_eq!(
            app.slack
                .ephemerals()
                .last()
                .map(|told| (told.user.clone(), told.text.clone())),
            Some((
                "UCAROL".to_owned(),
                "Only <@UBOB>, who took the call, or the people they replace can undo it."
                    .to_owned()
            ))
        );
        assert_eq!(
            app.slack.message(&announcement.ts).expect("kept").text,
            announcement.text
        );
        // Alice, replaced, undoes it from her DM.
        app.press(&ButtonClick::on(&dm, "UALICE", "take_call_undo", &made))
            .await;
        assert!(app.live_overrides().is_empty(), "{upstream:?}: deleted");
        let undone = format!(
            "<@UALICE> undid the override: <@UBOB> no longer takes the call for *SRE_schedule* \
             from {} until {}.",
            slack_date(tomorrow(9)),
            slack_date(tomorrow(13))
        );
        let announcement_now = app
            .slack
            .message(&announcement.ts)
            .expect("the announcement");
        assert_eq!(announcement_now.text, undone, "said in the announcement");
        assert!(announcement_now
            .blocks
            .as_ref()
            .is_some_and(|blocks| { !blocks.to_string().contains("take_call_undo") }));
        let in_thread = app
            .replies()
            .into_iter()
            .rfind(|post| post.thread_ts.as_deref() == Some(thread))
            .expect("said in the thread");
        assert_eq!(in_thread.text, undone);
        assert_eq!(app.slack.message(&dm.ts).expect("the DM").text, undone);

        // Bob's Undo, under his Done, finds nothing left to undo.
        app.press(&ButtonClick::on(&done, "UBOB", "take_call_undo", &made))
            .await;
        assert!(app.live_overrides().is_empty());
        assert!(
            app.slack
                .ephemerals()
                .last()
                .is_some_and(|told| told.user == "UBOB"
                    && told.text.starts_with("I no longer know that override")),
            "told Bob alone"
        );
        app.wait_for_metrics(&[r#"oncall_bot_overrides_total{outcome="undone"} 1"#])
            .await;
    }
}

#[tokio::test]
async fn a_second_asker_in_the_same_thread_gets_their_own_request_and_both_confirms_work() {
    let app = spawn_taking(Upstream::OpsGenie, |_, _| {}).await;
    let thread = "1700000000.000100";
    let bobs = app
        .ask_in_thread("UBOB", thread, "take call tomorrow 09:00-10:00")
        .await;
    let carols = app
        .reply(
            thread,
            "UCAROL",
            "1700000000.000200",
            "take call tomorrow 09:00-10:00",
        )
        .await;
    assert!(carols
        .text
        .starts_with("<@UCAROL>, take the call for *SRE_schedule* (rotation *Backup*)"));
    // Carol's `yes` confirms her own request, not Bob's.
    let done = app
        .reply(thread, "UCAROL", "1700000000.000300", "yes")
        .await;
    assert!(done.text.starts_with("Done: <@UCAROL>"), "{}", done.text);
    assert_eq!(
        app.override_bodies()[0]["user"]["username"],
        "carol@corp.example"
    );
    // Carol pressing Bob's Confirm is refused; Bob's own press still works.
    let (_, bobs_request) = button(&bobs);
    app.press(&ButtonClick::on(
        &bobs,
        "UCAROL",
        "take_call_confirm",
        &bobs_request,
    ))
    .await;
    assert_eq!(
        app.slack
            .ephemerals()
            .last()
            .map(|told| told.text.clone())
            .as_deref(),
        Some("Only <@UBOB>, who asked to take the call, can confirm it."),
        "told to Carol alone"
    );
    app.press(&ButtonClick::on(
        &bobs,
        "UBOB",
        "take_call_confirm",
        &bobs_request,
    ))
    .await;
    let bodies = app.override_bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[1]["user"]["username"], "bob@corp.example");
    // Pressed again: done once, and said to Bob alone.
    let posts_before = app.replies().len();
    app.press(&ButtonClick::on(
        &bobs,
        "UBOB",
        "take_call_confirm",
        &bobs_request,
    ))
    .await;
    assert_eq!(app.override_bodies().len(), 2);
    assert_eq!(app.replies().len(), posts_before, "nothing in the open");
    assert!(app
        .slack
        .ephemerals()
        .last()
        .is_some_and(|told| told.user == "UBOB"
            && told
                .text
                .starts_with("You have no request to take the call waiting")));
}

#[tokio::test]
async fn slash_take_call_confirms_through_the_clicks_response_url() {
    let app = spawn_taking(Upstream::OpsGenie, |_, config| announcing(config)).await;
    assert_eq!(
        app.slash("UBOB", "take call tomorrow 09:00-13:00").await,
        200
    );
    let responses = app.slack.command_responses();
    assert_eq!(responses.len(), 1);
    let question = &responses[0];
    assert_eq!(question["response_type"], "ephemeral");
    let text = question["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("<@UBOB>, take the call for *SRE_schedule* (rotation *Weekly*)")
            && text.ends_with("Confirm with the button."),
        "no `@ops yes` promised where there is no thread: {text}"
    );
    let request = question["blocks"][1]["elements"][0]["value"]
        .as_str()
        .expect("a Confirm button with the request's id")
        .to_owned();
    // The click on a button of an ephemeral message: Slack gives a
    // response_url, and no message to update.
    let ephemeral = Post {
        channel: "C1".into(),
        thread_ts: None,
        text: text.to_owned(),
        ts: "1700000000.000900".into(),
        blocks: Some(question["blocks"].clone()),
        received_at: std::time::Instant::now(),
    };
    let mut click = ButtonClick::on(&ephemeral, "UBOB", "take_call_confirm", &request);
    click.ephemeral = true;
    click.response_url = app.slack.response_url();
    app.press(&click).await;
    assert_eq!(app.override_bodies().len(), 1, "made");
    let responses = app.slack.command_responses();
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(responses[1]["replace_original"], true);
    assert!(responses[1]["text"]
        .as_str()
        .is_some_and(|text| text.starts_with("Done: <@UBOB> is on call for *SRE_schedule*")));
    assert!(
        app.slack
            .posts()
            .iter()
            .any(|post| post.channel == ONCALL_CHANNEL),
        "announced as any override"
    );
}

#[tokio::test]
async fn an_override_answered_502_yet_made_is_read_back_not_made_twice() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, _| {}).await;
        app.make_next_override_then_answer(502);
        let thread = "1700000000.000100";
        app.ask_in_thread("UBOB", thread, "take call tomorrow 09:00-13:00")
            .await;
        let done = app.reply(thread, "UBOB", "1700000000.000200", "yes").await;
        assert!(
            done.text.starts_with("Done: <@UBOB> is on call"),
            "{upstream:?}: read back, found, and said so: {}",
            done.text
        );
        assert_eq!(app.override_bodies().len(), 1, "{upstream:?}: sent once");
        assert_eq!(app.live_overrides().len(), 1);
    }
}

#[tokio::test]
async fn an_override_that_surely_did_not_land_may_be_confirmed_again() {
    let app = spawn_taking(Upstream::OpsGenie, |_, _| {}).await;
    // Answered 502 and not made: the read-back finds nothing.
    Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/overrides$"))
        .respond_with(wiremock::ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(app.opsgenie.server())
        .await;
    let thread = "1700000000.000100";
    app.ask_in_thread("UBOB", thread, "take call tomorrow 09:00-13:00")
        .await;
    let failed = app.reply(thread, "UBOB", "1700000000.000200", "yes").await;
    assert!(
        failed
            .text
            .contains("shows no such override; nothing changed"),
        "{}",
        failed.text
    );
    let done = app.reply(thread, "UBOB", "1700000000.000300", "yes").await;
    assert!(done.text.starts_with("Done: <@UBOB>"), "{}", done.text);
    assert_eq!(app.live_overrides().len(), 1);
}

#[tokio::test]
async fn spans_far_ahead_and_too_many_requests_are_refused() {
    let app = spawn_taking(Upstream::OpsGenie, |_, _| {}).await;
    let far = app
        .ask_in_thread(
            "UBOB",
            "1700000000.000100",
            "take call on 2099-12-31 09:00-17:00",
        )
        .await;
    assert_eq!(
        far.text,
        "That span starts more than 28 days from now; take the call nearer the time. Nothing changed."
    );
    for index in 0..6 {
        let answer = app
            .ask_in_thread(
                "UBOB",
                &format!("1700000001.{index:06}"),
                "take call tomorrow 09:00-10:00",
            )
            .await;
        if index < 5 {
            assert!(
                answer.text.starts_with("<@UBOB>, take the call"),
                "{}",
                answer.text
            );
        } else {
            assert!(
                answer
                    .text
                    .starts_with("You asked to take the call 5 times in the last 10 minutes"),
                "{index}: {}",
                answer.text
            );
        }
    }
}
