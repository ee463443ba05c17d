//! The App Home tab and its forms, through the real router and the simulated
//! workspace, for OpsGenie, JSM and PagerDuty: the tab published on `app_home_opened`
//! with each team's people, who is next and the viewer's own shifts; one
//! provider read per schedule however many open it at once; 40 teams within
//! Slack's 100 blocks; a form opened with the click's trigger, checked before
//! the ack (errors shown in the form), and turned into a request to take the
//! call or for cover, answered by DM.

use std::time::{Duration, SystemTime};

use oncall_bot::bot::slack_date;
use oncall_bot::config::file;
use oncall_bot_simulator::events::{self, EventsEndpoint, FilledForm};
use oncall_bot_simulator::{PdShift, Post, SlackWorkspace};
use serde_json::Value;

use crate::helpers::*;
use crate::take_call::{announcing, spawn_taking, tomorrow, ONCALL_CHANNEL};

/// The text of each block of a view: a header's, a section's, a context's,
/// and an actions block's action ids.
pub(crate) fn texts(view: &Value) -> Vec<String> {
    view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|block| match block["type"].as_str() {
            Some("header" | "section") => block["text"]["text"].as_str().unwrap_or("").to_owned(),
            Some("context") => block["elements"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            Some("actions") => block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|button| button["action_id"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            Some("divider") => "---".to_owned(),
            _ => String::new(),
        })
        .collect()
}

impl TestApp {
    /// `user` opens the bot's Home tab; returns the tab published for them.
    pub(crate) async fn open_home(&self, user: &str, event_id: &str) -> Value {
        let status = self
            .deliver(&events::app_home_opened(event_id, user))
            .await
            .status();
        assert_eq!(status, 200);
        self.settle().await;
        self.slack.home_of(user).expect("a Home tab published")
    }

    /// Submits `form` over HTTP: the status and the acknowledgement's body.
    pub(crate) async fn submit(&self, form: &FilledForm<'_>) -> (u16, String) {
        let answer = EventsEndpoint::new(&self.address, SIGNING_SECRET)
            .interact(&form.payload())
            .await
            .expect("the app answers");
        self.settle().await;
        answer
    }

    /// What the bot said to `user` by DM, in order.
    pub(crate) fn dms_to(&self, user: &str) -> Vec<Post> {
        let channel = format!("D{user}");
        self.slack
            .posts()
            .into_iter()
            .filter(|post| post.channel == channel)
            .collect()
    }
}

impl TestApp {
    /// Carol on call for Payments_schedule: on PagerDuty its final schedule
    /// (JSM's site has her there from the start).
    fn carol_on_payments(&self) {
        match &self.pagerduty {
            Some(pagerduty) => pagerduty.set_schedule(
                "PPAY001",
                "Payments_schedule",
                vec![PdShift {
                    user: "PUSRCAR".into(),
                    from: hours(-1),
                    to: tomorrow(35),
                }],
            ),
            None => self
                .opsgenie
                .set_on_call("Payments_schedule", &["carol@corp.example"]),
        }
    }

    /// The reads of a schedule's timeline: OpsGenie's and JSM's `/timeline`,
    /// PagerDuty's levels (`/oncalls`) and final schedules over a window.
    async fn timeline_reads(&self) -> usize {
        recorded(self.upstream_server())
            .await
            .iter()
            .filter(|request| {
                let path = request.url.path();
                path.ends_with("/timeline")
                    || path == "/oncalls"
                    || (path.starts_with("/schedules/")
                        && request.url.query_pairs().any(|(key, _)| key == "since"))
            })
            .count()
    }
}

/// A moment in Unix seconds, as a date picker gives it.
fn seconds(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// The errors a form's acknowledgement carries, by field.
fn errors(body: &str) -> Value {
    let answer: Value = serde_json::from_str(body).expect("a JSON answer");
    assert_eq!(answer["response_action"], "errors", "{answer}");
    answer["errors"].clone()
}

#[tokio::test]
async fn the_home_tab_shows_who_is_on_and_next_per_rotation_and_the_viewers_shifts() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, _| {}).await;
        let home = app.open_home("UALICE", "EvHome1").await;
        let (t11, t35) = (slack_date(tomorrow(11)), slack_date(tomorrow(35)));
        let texts = texts(&home);
        assert_eq!(texts[0], "Who is on call", "{upstream:?}");
        assert!(texts[1].starts_with("As of <!date^"), "{}", texts[1]);
        assert_eq!(texts[2], "home_take_call home_cover");
        assert_eq!(texts[3], "Your shifts in the next 4 weeks");
        assert_eq!(
            texts[4],
            format!("• *SRE_schedule* (Weekly): now to {t11}"),
            "{upstream:?}"
        );
        assert_eq!(texts[5], "---");
        assert_eq!(
            texts[6],
            format!(
                "*SRE_schedule*\n• primary (Weekly): <@UALICE> until {t11}; next <@UBOB> from \
                 {t11}\n• secondary (Backup): <@UCAROL> until {t35}"
            ),
            "{upstream:?}"
        );
        assert_eq!(texts.len(), 7);

        // Bob is next, not on: his shift is tomorrow.
        let bob = texts_of(&app.open_home("UBOB", "EvHome2").await);
        assert_eq!(
            bob[4],
            format!("• *SRE_schedule* (Weekly): {t11} to {t35}"),
            "{upstream:?}"
        );
    }
}

fn texts_of(view: &Value) -> Vec<String> {
    texts(view)
}

/// The app with the teams of `toml` (a teams file), Carol on call for
/// Payments_schedule.
async fn spawn_with_teams(upstream: Upstream, toml: &str) -> TestApp {
    let teams = file::parse(std::path::Path::new("oncall.toml"), toml).expect("valid");
    let app = spawn_taking(upstream, |_, config| config.routing = teams.routing).await;
    app.carol_on_payments();
    app
}

/// Three teams on two schedules, for the burst.
const TWO_SCHEDULES: &str = r#"
[[team]]
name = "payments"
schedule = "SRE_schedule"

[[team]]
name = "billing"
schedule = "SRE_schedule"

[[team]]
name = "database"
schedule = "Payments_schedule"
"#;

#[tokio::test]
async fn a_burst_of_openings_costs_one_timeline_read_per_schedule() {
    for upstream in ALL_UPSTREAMS {
        let teams = file::parse(std::path::Path::new("oncall.toml"), TWO_SCHEDULES).expect("valid");
        let viewers: Vec<String> = (0..20).map(|n| format!("UVIEWER{n:02}")).collect();
        let app = spawn_taking(upstream, |slack, config| {
            config.routing = teams.routing;
            for viewer in &viewers {
                slack.add_person(&format!("{}@corp.example", viewer.to_lowercase()), viewer);
            }
        })
        .await;
        app.carol_on_payments();
        let endpoint = EventsEndpoint::new(&app.address, SIGNING_SECRET);
        // Twenty people open the tab at once, and Carol four times.
        let openers = viewers
            .iter()
            .map(String::as_str)
            .chain(["UCAROL"; 4])
            .enumerate();
        let openings: Vec<_> = openers
            .map(|(n, user)| {
                let body = events::app_home_opened(&format!("EvBurst{n}"), user);
                let endpoint = &endpoint;
                async move { endpoint.deliver(&body, None).await.expect("delivered") }
            })
            .collect();
        let statuses = futures_util::future::join_all(openings).await;
        assert!(statuses.iter().all(|status| *status == 200));
        app.settle().await;
        assert_eq!(
            app.slack.home_publishes(),
            21,
            "one per person: Carol's repeats within seconds are one, {upstream:?}"
        );
        assert_eq!(
            app.timeline_reads().await,
            2,
            "one per schedule, {upstream:?}"
        );
        let database = texts(&app.slack.home_of("UCAROL").expect("Carol's tab"));
        assert!(
            database.iter().any(|text| text
                .starts_with("*database* (schedule Payments_schedule)\nOn call: <@UCAROL>")),
            "{database:?}"
        );
    }
}

/// Forty teams: the odd ones on the viewer's schedule, the even ones on
/// another.
fn forty_teams() -> String {
    (1..=40)
        .map(|n| {
            let schedule = if n % 2 == 1 {
                "SRE_schedule"
            } else {
                "Payments_schedule"
            };
            format!("[[team]]\nname = \"team-{n:02}\"\nschedule = \"{schedule}\"\n\n")
        })
        .collect()
}

#[tokio::test]
async fn forty_teams_fit_in_one_view_the_viewers_own_in_full_and_first() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_with_teams(upstream, &forty_teams()).await;
        let home = app.open_home("UALICE", "EvForty").await;
        let blocks = home["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 100, "{} blocks", blocks.len());
        let texts = texts(&home);
        let full = |label: &str| {
            texts.iter().position(|text| {
                text.starts_with(&format!("*{label}*")) && text.contains("• primary")
            })
        };
        let others = texts
            .iter()
            .position(|text| text == "Other teams")
            .expect("the other teams, compactly");
        for n in (1..=40).step_by(2) {
            let at = full(&format!("team-{n:02}")).unwrap_or_else(|| panic!("team-{n:02} in full"));
            assert!(at < others, "own teams first");
        }
        let compact: String = texts[others + 1..].join("\n");
        for n in (2..=40).step_by(2) {
            assert!(
                compact.contains(&format!("*team-{n:02}*: <@UCAROL>")),
                "team-{n:02} in a line: {compact}"
            );
        }
    }
}

#[tokio::test]
async fn a_home_button_opens_its_form_with_the_clicks_trigger_and_the_viewers_team_chosen() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_with_teams(upstream, TWO_SCHEDULES).await;
        // The button is on her Home tab, whose timelines the cache holds.
        app.open_home("UCAROL", "EvFormHome").await;
        let endpoint = EventsEndpoint::new(&app.address, SIGNING_SECRET);
        let trigger = app.slack.issue_trigger();
        let (status, _) = endpoint
            .interact(&events::home_button("UCAROL", "home_cover", &trigger))
            .await
            .expect("answered");
        assert_eq!(status, 200);
        app.settle().await;
        let forms = app.slack.forms();
        assert_eq!(forms.len(), 1, "{upstream:?}");
        let form = &forms[0];
        assert_eq!(form["callback_id"], "form_cover");
        assert_eq!(form["title"]["text"], "Ask for cover");
        let select = &form["blocks"][0]["element"];
        let values: Vec<&str> = select["options"]
            .as_array()
            .expect("options")
            .iter()
            .filter_map(|option| option["value"].as_str())
            .collect();
        assert_eq!(
            values,
            ["default", "team:payments", "team:billing", "team:database"]
        );
        // Carol is in SRE_schedule's Backup rotation: the default schedule,
        // the first of hers.
        assert_eq!(select["initial_option"]["value"], "default", "{upstream:?}");
        let ids: Vec<&str> = form["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|block| block["block_id"].as_str())
            .collect();
        assert_eq!(ids, ["team", "when", "from", "until", "note"]);

        // A trigger Slack never gave (or one used already) opens nothing.
        endpoint
            .interact(&events::home_button("UCAROL", "home_take_call", &trigger))
            .await
            .expect("answered");
        app.settle().await;
        assert_eq!(app.slack.forms().len(), 1);
    }
}

#[tokio::test]
async fn a_form_is_checked_before_the_ack_and_what_is_wrong_shows_beside_its_field() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, config| announcing(config)).await;
        let base = FilledForm {
            user: "UALICE",
            callback_id: "form_cover",
            team: Some("default"),
            when: Some("tomorrow 09:00-10:00"),
            ..FilledForm::default()
        };
        let cases: Vec<(FilledForm, &str, &str)> = vec![
            (
                FilledForm {
                    team: None,
                    ..base.clone()
                },
                "team",
                "Pick a team.",
            ),
            (
                FilledForm {
                    team: Some("team:gone"),
                    ..base.clone()
                },
                "team",
                "There is no such team any more; pick another.",
            ),
            (
                FilledForm {
                    when: Some("someday soon"),
                    ..base.clone()
                },
                "when",
                "Try e.g. tomorrow 09:00-13:00.",
            ),
            (
                FilledForm {
                    when: None,
                    ..base.clone()
                },
                "when",
                "Write when (e.g. tomorrow 09:00-13:00), or pick a start and an end.",
            ),
            (
                FilledForm {
                    when: None,
                    from: Some(2_000_000_000),
                    until: Some(1_999_999_000),
                    ..base.clone()
                },
                "until",
                "The end must come after the start.",
            ),
            (
                FilledForm {
                    when: None,
                    from: Some(2_000_000_000),
                    ..base.clone()
                },
                "until",
                "Pick an end too.",
            ),
            (
                FilledForm {
                    when: None,
                    from: Some(1_000_000_000),
                    until: Some(1_000_003_600),
                    ..base.clone()
                },
                "from",
                "That span is over already.",
            ),
            (
                FilledForm {
                    callback_id: "form_take_call",
                    when: None,
                    from: Some(seconds(SystemTime::now()) + 3_600),
                    until: Some(seconds(SystemTime::now()) + 10 * 86_400),
                    ..base.clone()
                },
                "from",
                "That span is",
            ),
        ];
        for (form, field, words) in &cases {
            let (status, body) = app.submit(form).await;
            assert_eq!(status, 200, "{upstream:?}");
            let errors = errors(&body);
            let text = errors[*field]
                .as_str()
                .unwrap_or_else(|| panic!("{field}: {errors}"));
            assert!(
                text.starts_with(words) || text.ends_with(words),
                "{field}: {text:?} for {:?}",
                form.when
            );
        }
        assert!(
            app.slack.posts().is_empty(),
            "nothing asked, nothing posted"
        );
        assert!(app.override_bodies().is_empty());
    }
}

#[tokio::test]
async fn cover_from_the_home_tab_needs_a_channel_to_ask_in() {
    let app = spawn_taking(Upstream::OpsGenie, |_, _| {}).await;
    let (_, body) = app
        .submit(&FilledForm {
            user: "UALICE",
            callback_id: "form_cover",
            team: Some("default"),
            when: Some("tomorrow 09:00-10:00"),
            ..FilledForm::default()
        })
        .await;
    assert_eq!(
        errors(&body)["team"],
        "SRE_schedule has no announce_channel to ask for cover in; ask with `@ops cover me …` \
         in its channel instead."
    );
}

#[tokio::test]
async fn a_right_form_closes_and_becomes_the_request_answered_by_dm() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |slack: &SlackWorkspace, config| {
            slack.make_guest("UERIN", false);
            announcing(config);
        })
        .await;
        // Cover: posted in the team's channel; the asker told by DM.
        let (status, body) = app
            .submit(&FilledForm {
                user: "UALICE",
                callback_id: "form_cover",
                team: Some("default"),
                when: Some("tomorrow 09:00-10:00"),
                note: Some("dentist <!channel>"),
                ..FilledForm::default()
            })
            .await;
        assert_eq!((status, body.as_str()), (200, ""), "{upstream:?}");
        let request = app
            .slack
            .posts()
            .into_iter()
            .find(|post| post.channel == ONCALL_CHANNEL)
            .expect("the request for cover");
        assert!(
            request
                .text
                .starts_with("<@UALICE> needs cover for *SRE_schedule*")
                && request.text.ends_with(": dentist &lt;!channel&gt;"),
            "{}",
            request.text
        );
        let told = app.dms_to("UALICE");
        assert!(
            told[0]
                .text
                .starts_with(&format!("I asked in <#{ONCALL_CHANNEL}>")),
            "{}",
            told[0].text
        );

        // Taking the call: the Confirm prompt by DM; Confirm makes it.
        let from = tomorrow(12);
        let until = from + Duration::from_secs(3600);
        let (status, _) = app
            .submit(&FilledForm {
                user: "UBOB",
                callback_id: "form_take_call",
                team: Some("default"),
                from: Some(seconds(from)),
                until: Some(seconds(until)),
                ..FilledForm::default()
            })
            .await;
        assert_eq!(status, 200);
        let prompt = app.dms_to("UBOB").pop().expect("the Confirm prompt");
        assert!(
            prompt
                .text
                .starts_with("<@UBOB>, take the call for *SRE_schedule*"),
            "{}",
            prompt.text
        );
        let request_id = prompt.blocks.as_ref().expect("blocks")[1]["elements"][0]["value"]
            .as_str()
            .expect("the request")
            .to_owned();
        app.press(&events::ButtonClick::on(
            &prompt,
            "UBOB",
            "take_call_confirm",
            &request_id,
        ))
        .await;
        assert_eq!(app.override_bodies().len(), 1, "{upstream:?}");

        // What needs the provider or Slack comes after the ack: a guest's
        // form closes, and the refusal comes by DM.
        let (status, body) = app
            .submit(&FilledForm {
                user: "UERIN",
                callback_id: "form_cover",
                team: Some("default"),
                when: Some("tomorrow 09:00-10:00"),
                ..FilledForm::default()
            })
            .await;
        assert_eq!((status, body.as_str()), (200, ""));
        assert_eq!(
            app.dms_to("UERIN").pop().map(|post| post.text).as_deref(),
            Some("Guests cannot take the call; nothing changed.")
        );
        assert_eq!(app.override_bodies().len(), 1);
    }
}

#[tokio::test]
async fn an_outage_shows_the_last_good_home_with_its_age() {
    let app = spawn_taking(Upstream::OpsGenie, |_, config| {
        config.cache_ttl = Duration::from_secs(1);
    })
    .await;
    let first = texts(&app.open_home("UALICE", "EvOutage1").await);
    assert!(first[6].contains("<@UALICE> until"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    wiremock::Mock::given(wiremock::matchers::path_regex("/timeline$"))
        .respond_with(wiremock::ResponseTemplate::new(503))
        .with_priority(1)
        .mount(app.opsgenie.server())
        .await;
    // Bob opens his (Alice's repeat within seconds would not be published).
    let stale = texts(&app.open_home("UBOB", "EvOutage2").await);
    assert!(
        stale[6].starts_with(
            "*SRE_schedule*\n_OpsGenie is not answering; this is how it stood less than a \
             minute ago._\n• primary (Weekly): <@UALICE> until"
        ),
        "{}",
        stale[6]
    );
    assert!(
        stale[4].ends_with(
            "_OpsGenie is not answering; this is how the schedules stood less than a minute ago._"
        ),
        "his shifts say so too: {}",
        stale[4]
    );
}

#[tokio::test]
async fn a_form_submitted_twice_is_acted_on_once() {
    let app = spawn_taking(Upstream::OpsGenie, |_, config| announcing(config)).await;
    let payload = FilledForm {
        user: "UALICE",
        callback_id: "form_cover",
        team: Some("default"),
        when: Some("tomorrow 09:00-10:00"),
        ..FilledForm::default()
    }
    .payload();
    let endpoint = EventsEndpoint::new(&app.address, SIGNING_SECRET);
    for _ in 0..2 {
        let (status, body) = endpoint.interact(&payload).await.expect("answered");
        assert_eq!((status, body.as_str()), (200, ""));
        app.settle().await;
    }
    let requests = app
        .slack
        .posts()
        .into_iter()
        .filter(|post| post.channel == ONCALL_CHANNEL)
        .count();
    assert_eq!(requests, 1, "one request for cover");
    assert_eq!(app.dms_to("UALICE").len(), 1);
}

#[tokio::test]
async fn the_home_tab_and_its_forms_work_over_socket_mode_too() {
    const APP_TOKEN: &str = "xapp-1-home";
    let mut server = None;
    let app = spawn_taking(Upstream::Jsm, |slack, config| {
        server = Some(
            slack
                .enable_socket_mode(APP_TOKEN)
                .expect("a WebSocket port"),
        );
        config.signing_secret = None;
        config.app_token = Some(APP_TOKEN.into());
        announcing(config);
    })
    .await;
    let server = server.expect("Socket Mode is on");
    wait_until("the bot connects", || server.connections() == 1).await;

    server
        .send_event(&events::app_home_opened("EvSocketHome", "UALICE"), 0)
        .expect("sent");
    wait_until("the tab is published", || {
        app.slack.home_of("UALICE").is_some()
    })
    .await;

    let trigger = app.slack.issue_trigger();
    server
        .send_interactive(&events::home_button("UALICE", "home_cover", &trigger))
        .expect("sent");
    wait_until("the form opens", || app.slack.forms().len() == 1).await;

    // A wrong form: the errors go back with the ack.
    let wrong = FilledForm {
        user: "UALICE",
        callback_id: "form_cover",
        team: Some("default"),
        when: Some("someday soon"),
        ..FilledForm::default()
    };
    let envelope = server.send_interactive(&wrong.payload()).expect("sent");
    wait_until("acked", || server.acks().contains(&envelope)).await;
    let answer = server.ack_payload(&envelope).expect("errors with the ack");
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["when"].is_string(), "{answer}");

    // A right one: a plain ack, and the request posted.
    let right = FilledForm {
        when: Some("tomorrow 09:00-10:00"),
        ..wrong
    };
    let envelope = server.send_interactive(&right.payload()).expect("sent");
    wait_until("acked", || server.acks().contains(&envelope)).await;
    assert_eq!(server.ack_payload(&envelope), None);
    wait_until("the request is posted", || {
        app.slack
            .posts()
            .iter()
            .any(|post| post.channel == ONCALL_CHANNEL && post.text.contains("needs cover"))
    })
    .await;

    // A form whose check waits on Slack (Bob's zone: users.info, slow) holds
    // up nothing else on the connection: a mention after it is acked first.
    wiremock::Mock::given(wiremock::matchers::path("/users.info"))
        .and(wiremock::matchers::query_param("user", "UBOB"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "user": {
                    "id": "UBOB", "team_id": "TSIM", "name": "bob",
                    "profile": {"email": "bob@corp.example"}
                }}))
                .set_delay(Duration::from_millis(1_500)),
        )
        .with_priority(1)
        .mount(app.slack.server())
        .await;
    let slow = FilledForm {
        user: "UBOB",
        callback_id: "form_take_call",
        team: Some("default"),
        when: Some("tomorrow 12:00-13:00"),
        ..FilledForm::default()
    };
    let form = server.send_interactive(&slow.payload()).expect("sent");
    let mention = server
        .send_event(&mention("EvAfterForm", "C1", "5.1", "<@UBOT> who?"), 0)
        .expect("sent");
    wait_until("both acked", || {
        let acks = server.acks();
        acks.contains(&form) && acks.contains(&mention)
    })
    .await;
    let acks = server.acks();
    let at = |id: &String| acks.iter().position(|acked| acked == id);
    assert!(
        at(&mention) < at(&form),
        "the mention waited on the form: {acks:?}"
    );
}
