//! "Cover me": a request for cover posted where the team sees it; the first
//! click by someone the take-the-call policy allows makes exactly one override,
//! in the asker's rotation; later and refused clicks are answered privately;
//! the asker may withdraw it; one open when its span starts is marked not
//! covered. Against OpsGenie, JSM and PagerDuty.

use oncall_bot_simulator::events::ButtonClick;
use oncall_bot_simulator::Post;
use serde_json::Value;

use crate::helpers::*;
use crate::take_call::{announcing, spawn_taking, tomorrow, ONCALL_CHANNEL};

impl TestApp {
    /// The request for cover, as it reads now.
    fn cover_post(&self) -> Post {
        let posted = self
            .slack
            .posts()
            .into_iter()
            .find(|post| post.channel == ONCALL_CHANNEL || post.text.contains("needs cover"))
            .expect("the request for cover");
        self.slack.message(&posted.ts).expect("the post")
    }
}

/// The request's buttons: (action id, value).
fn buttons(post: &Post) -> Vec<(String, String)> {
    post.blocks
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .map(|button| {
            (
                button["action_id"].as_str().unwrap_or_default().to_owned(),
                button["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_first_allowed_click_covers_the_asker_in_their_rotation_once_and_others_are_told() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_taking(upstream, |_, config| announcing(config)).await;
        let thread = "1700000000.000100";
        let asked = app
            .ask_in_thread(
                "UALICE",
                thread,
                "cover me tomorrow 09:00-10:00, dentist <!here>",
            )
            .await;
        assert_eq!(
            asked.text,
            format!(
                "I asked in <#{ONCALL_CHANNEL}> for someone to cover *SRE_schedule* (rotation \
                 *Weekly*) from {} until {}. You will hear when someone does.",
                oncall_bot::bot::slack_date(tomorrow(9)),
                oncall_bot::bot::slack_date(tomorrow(10))
            )
        );
        let post = app.cover_post();
        assert!(
            post.text
                .starts_with("<@UALICE> needs cover for *SRE_schedule* (rotation *Weekly*)")
                && post.text.ends_with(": dentist &lt;!here&gt;"),
            "{}",
            post.text
        );
        let request = buttons(&post)[0].1.clone();
        assert_eq!(
            buttons(&post),
            [
                ("cover_take".to_owned(), request.clone()),
                ("cover_withdraw".to_owned(), request.clone())
            ]
        );
        // Alice cannot cover herself; Erin is in no rotation (on JSM, known by
        // an account with no mapping); both told alone.
        app.press(&ButtonClick::on(&post, "UALICE", "cover_take", &request))
            .await;
        app.press(&ButtonClick::on(&post, "UERIN", "cover_take", &request))
            .await;
        let told: Vec<(String, String)> = app
            .slack
            .ephemerals()
            .into_iter()
            .map(|told| (told.user, told.text))
            .collect();
        assert_eq!(
            told[0],
            ("UALICE".to_owned(), "You cannot cover yourself.".to_owned())
        );
        assert_eq!(told[1].0, "UERIN");
        assert!(told[1]
            .1
            .starts_with("You are in none of *SRE_schedule*'s rotations"));
        assert!(app.live_overrides().is_empty(), "{upstream:?}");

        // Bob, in the same rotation, covers it.
        app.press(&ButtonClick::on(&post, "UBOB", "cover_take", &request))
            .await;
        let bodies = app.override_bodies();
        assert_eq!(bodies.len(), 1, "{upstream:?}");
        match upstream {
            Upstream::OpsGenie => {
                assert_eq!(bodies[0]["user"]["username"], "bob@corp.example");
                assert_eq!(
                    bodies[0]["rotations"],
                    serde_json::json!([{"id": "rotation-0"}])
                );
            }
            Upstream::Jsm => {
                assert_eq!(bodies[0]["responder"]["id"], "acc-bob");
                assert_eq!(bodies[0]["rotationIds"], serde_json::json!(["rotation-0"]));
            }
            Upstream::PagerDuty => {
                assert_eq!(bodies[0]["overrides"][0]["user"]["id"], "PUSRBOB");
                assert_eq!(app.live_overrides()[0].rotations, ["PWEEKLY"]);
            }
        }
        let covered = app.cover_post();
        assert!(
            covered
                .text
                .starts_with("<@UALICE>'s request for cover for *SRE_schedule*")
                && covered.text.ends_with("was covered by <@UBOB>."),
            "{}",
            covered.text
        );
        assert!(app.slack.posts().iter().any(
            |post| post.channel == "DUALICE" && post.text.starts_with("<@UBOB> took the call")
        ));
        assert!(app
            .slack
            .posts()
            .iter()
            .any(|post| post.channel == ONCALL_CHANNEL
                && post.text.starts_with("<@UBOB> took the call")));
        // A later click: already covered, privately; still one override.
        app.press(&ButtonClick::on(&post, "UCAROL", "cover_take", &request))
            .await;
        assert_eq!(app.override_bodies().len(), 1);
        assert_eq!(
            app.slack
                .ephemerals()
                .last()
                .map(|told| told.text.clone())
                .as_deref(),
            Some("Someone covered that already, thank you.")
        );
    }
}

#[tokio::test]
async fn only_the_asker_withdraws_and_a_withdrawn_request_cannot_be_covered() {
    let app = spawn_taking(Upstream::OpsGenie, |_, config| announcing(config)).await;
    app.ask_in_thread(
        "UALICE",
        "1700000000.000100",
        "cover me tomorrow 09:00-10:00",
    )
    .await;
    let post = app.cover_post();
    let request = buttons(&post)[0].1.clone();
    app.press(&ButtonClick::on(&post, "UBOB", "cover_withdraw", &request))
        .await;
    assert_eq!(
        app.slack
            .ephemerals()
            .last()
            .map(|told| told.text.clone())
            .as_deref(),
        Some("Only <@UALICE>, who asked for cover, can withdraw it.")
    );
    app.press(&ButtonClick::on(
        &post,
        "UALICE",
        "cover_withdraw",
        &request,
    ))
    .await;
    assert!(app
        .cover_post()
        .text
        .starts_with("<@UALICE> withdrew their request for cover for *SRE_schedule*"));
    app.press(&ButtonClick::on(&post, "UBOB", "cover_take", &request))
        .await;
    assert!(app.override_bodies().is_empty());
    assert_eq!(
        app.slack
            .ephemerals()
            .last()
            .map(|told| told.text.clone())
            .as_deref(),
        Some("That request for cover is no longer open.")
    );
}

#[tokio::test]
async fn a_request_still_open_when_its_span_starts_is_marked_not_covered_and_the_asker_told() {
    let app = spawn_taking(Upstream::OpsGenie, |_, config| {
        announcing(config);
        config.announce_interval = std::time::Duration::from_millis(50);
    })
    .await;
    // From now: its span has started by the next check.
    app.ask_in_thread(
        "UALICE",
        "1700000000.000100",
        "cover me until tomorrow 09:00",
    )
    .await;
    wait_until("the request is marked", || {
        app.cover_post()
            .text
            .starts_with("Not covered: <@UALICE>'s request")
    })
    .await;
    wait_until("Alice is told", || {
        app.slack
            .posts()
            .iter()
            .any(|post| post.channel == "DUALICE" && post.text.starts_with("Nobody covered"))
    })
    .await;
    assert!(buttons(&app.cover_post()).is_empty(), "no buttons left");
}

#[tokio::test]
async fn cover_me_without_anywhere_to_post_or_outside_the_rotations_is_refused() {
    let app = spawn_taking(Upstream::OpsGenie, |_, _| {}).await;
    // Without announce_channel the request goes where it was asked.
    let asked = app
        .ask_in_thread(
            "UALICE",
            "1700000000.000100",
            "cover me tomorrow 09:00-10:00",
        )
        .await;
    assert!(asked.text.starts_with("I asked in <#C1>"), "{}", asked.text);
    let refused = app
        .ask_in_thread(
            "UERIN",
            "1700000000.000200",
            "cover me tomorrow 09:00-10:00",
        )
        .await;
    assert_eq!(
        refused.text,
        "You are in none of *SRE_schedule*'s rotations, so you cannot take its call (an admin \
         can allow you with `take_call_allowed`). Nothing changed."
    );
}
