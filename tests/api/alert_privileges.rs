//! Acting on alerts is a privilege, and the bot speaks only for its own alerts:
//! one rule for buttons and `@ops ack|take|close` (the workspace and its
//! Enterprise Grid organisation from every place Slack names them, allowed
//! teams, no guests unless allowed), and webhooks reflected only for aliases
//! the bot tagged, after a restart too.

use oncall_bot::alerting::AlertPolicy;
use oncall_bot::config::WebhookTokens;
use oncall_bot_simulator::events;

use crate::helpers::*;
use crate::two_way::{
    card, click_on, raise, spawn_two_way, Happened, ALIAS, THREAD, WEBHOOK_TOKEN,
};

/// A newer delivery time than any the tests raise with.
const LATER: u128 = 1_795_460_100_000_000_000;

/// `LATER` in seconds.
fn later() -> u64 {
    u64::try_from(LATER / 1_000_000_000).expect("a time")
}

async fn spawn_two_way_in_organisation(
    upstream: Upstream,
    adjust: impl FnOnce(&oncall_bot_simulator::SlackWorkspace, &mut AlertPolicy),
) -> TestApp {
    spawn_app_on_with_workspace(upstream, |slack, config| {
        slack.join_enterprise("EORG");
        let mut policy = AlertPolicy::default();
        adjust(slack, &mut policy);
        config.alerts = Some(policy);
        config.webhooks = WebhookTokens {
            opsgenie: Some(WEBHOOK_TOKEN.into()),
            jsm: Some(WEBHOOK_TOKEN.into()),
            pagerduty: None,
        };
    })
    .await
}

#[tokio::test]
async fn a_click_from_a_sister_workspace_named_only_in_team_enterprise_id_acts() {
    let app = spawn_two_way_in_organisation(Upstream::OpsGenie, |slack, _| {
        // Their profile names their workspace but no organisation: only the
        // payload's `team.enterprise_id` does.
        slack.set_home_of("UALICE", "TSISTER", None);
    })
    .await;
    let answer = raise(&app).await;
    let mut click = click_on(&answer, "UALICE", "alert_acknowledge");
    click.team = "TSISTER";
    click.team_enterprise = Some("EORG");
    assert_eq!(app.click(&click).await, 200);
    assert_eq!(app.book().actions().len(), 1, "acknowledged");
    assert!(app.slack.ephemerals().is_empty());

    // The same click without the organisation is someone else's workspace.
    let mut outsider = click_on(&answer, "UALICE", "alert_close");
    outsider.team = "TSISTER";
    assert_eq!(app.click(&outsider).await, 200);
    assert_eq!(app.book().actions().len(), 1, "not closed");
    assert!(app.slack.ephemerals()[0]
        .text
        .starts_with("Only people of this workspace"));
}

#[tokio::test]
async fn a_typed_ack_by_a_sister_workspace_member_acts_and_an_outsiders_is_refused() {
    let app = spawn_two_way_in_organisation(Upstream::OpsGenie, |slack, _| {
        slack.set_home_of("UBOB", "TSISTER", Some("EORG"));
        slack.set_home_of("UCAROL", "TPARTNER", Some("EPARTNER"));
    })
    .await;
    raise(&app).await;
    let say = |event: &str, user: &str, team: &str, ts: &str, text: &str| {
        events::in_thread(
            &events::from_team(
                &events::app_mention(event, "C1", user, ts, &format!("<@UBOT> {text}")),
                team,
            ),
            THREAD,
        )
    };
    app.deliver(&say("EvAck", "UBOB", "TSISTER", "1795460100.000100", "ack"))
        .await;
    app.settle().await;
    assert_eq!(
        app.book().actions().len(),
        1,
        "the organisation, from users.info"
    );
    app.deliver(&say(
        "EvClose",
        "UCAROL",
        "TPARTNER",
        "1795460200.000100",
        "close",
    ))
    .await;
    app.settle().await;
    assert_eq!(
        app.book().actions().len(),
        1,
        "another organisation's member"
    );
    let reply = app.replies().last().cloned().expect("a reply");
    assert_eq!(
        reply.text,
        "Only people of this workspace can act on its alerts; nothing changed."
    );
}

#[tokio::test]
async fn guests_may_not_act_on_alerts_unless_alert_actions_guests_is_set() {
    for (guests, single_channel) in [(false, false), (false, true), (true, true)] {
        let app = spawn_two_way_in_organisation(Upstream::OpsGenie, |slack, policy| {
            slack.make_guest("UCAROL", single_channel);
            policy.actions_guests = guests;
        })
        .await;
        let answer = raise(&app).await;
        assert_eq!(
            app.click(&click_on(&answer, "UCAROL", "alert_close")).await,
            200
        );
        if guests {
            assert_eq!(app.book().actions().len(), 1, "allowed");
            assert_eq!(card(&app.answer()).0, "Closed by <@UCAROL>");
        } else {
            assert!(app.book().actions().is_empty(), "{single_channel}");
            assert!(app.slack.updates().is_empty());
            assert_eq!(
                app.slack.ephemerals()[0].text,
                "Guests of this workspace cannot act on its alerts; nothing changed."
            );
        }
    }
}

#[tokio::test]
async fn people_of_alert_allowed_teams_may_act_as_they_may_page() {
    let app = spawn_two_way_in_organisation(Upstream::OpsGenie, |slack, policy| {
        slack.set_home_of("UBOB", "TPARTNER", None);
        policy.allowed_teams = vec!["TPARTNER".into()];
    })
    .await;
    let answer = raise(&app).await;
    let mut click = click_on(&answer, "UBOB", "alert_take");
    click.team = "TPARTNER";
    assert_eq!(app.click(&click).await, 200);
    assert_eq!(card(&app.answer()).0, "Taken by <@UBOB>");
}

#[tokio::test]
async fn a_webhook_for_an_alias_shaped_like_the_bots_but_not_tagged_by_it_posts_nothing() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        raise(&app).await;
        let (place, tag) = ALIAS.rsplit_once('-').expect("tagged");
        let flipped: String = tag
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        for alias in [
            // Today's shape without a tag: anyone can give an alert this alias.
            "slack-C1-1795460000.000100".to_owned(),
            // A private channel the bot is in, named by an attacker.
            "slack-GPRIVATE-1795460000.000100".to_owned(),
            format!("{place}-{flipped}"),
        ] {
            // On PagerDuty a note names only its incident: one opened under
            // that key by something else, looked up by the bot.
            if let Some(pagerduty) = &app.pagerduty {
                pagerduty.open_incident(&alias, "not the bot's");
            }
            let note = app.told(
                Happened::Note("Log in again at https://evil.example"),
                &alias,
                "mallory@evil.example",
                later(),
            );
            assert_eq!(
                app.webhook(Some(WEBHOOK_TOKEN), &note).await,
                app.accepted()
            );
        }
        assert_eq!(app.replies().len(), 1, "{upstream:?}: only the answer");
        assert!(app.slack.updates().is_empty());
        app.wait_for_metrics(&[r#"oncall_bot_alert_webhooks_total{outcome="not_ours"} 3"#])
            .await;
    }
}

#[tokio::test]
async fn the_bots_own_alias_is_reflected_after_a_restart_without_shared_state() {
    for upstream in ALL_UPSTREAMS {
        // The alias key derived from the provider's key, as in production.
        let two_way = |_: &oncall_bot_simulator::SlackWorkspace,
                       config: &mut oncall_bot::config::ServeConfig| {
            config.alerts = Some(AlertPolicy::default());
            config.alias_secret = None;
            config.webhooks = WebhookTokens {
                opsgenie: Some(WEBHOOK_TOKEN.into()),
                jsm: Some(WEBHOOK_TOKEN.into()),
                pagerduty: Some(PD_WEBHOOK_SECRET.into()),
            };
        };
        let app = spawn_app_on_with_workspace(upstream, two_way).await;
        app.deliver(&events::app_mention(
            "EvRaise",
            "C1",
            "UASKER",
            THREAD,
            "<@UBOT> checkout is down",
        ))
        .await;
        app.settle().await;
        let alias = match (&app.jsm, &app.pagerduty) {
            (Some(jsm), _) => jsm.alerts()[0]["alias"].clone(),
            (None, Some(pagerduty)) => pagerduty.events()[0]["dedup_key"].clone(),
            (None, None) => app.opsgenie.alerts()[0]["alias"].clone(),
        };
        let alias = alias.as_str().expect("an alias").to_owned();
        let app = app.restart(two_way).await;
        let note = app.told(
            Happened::Note("Rolling back"),
            &alias,
            "bob@corp.example",
            later(),
        );
        assert_eq!(
            app.webhook(Some(WEBHOOK_TOKEN), &note).await,
            app.accepted()
        );
        let reply = app.replies().last().cloned().expect("the note");
        assert_eq!(
            reply.text, "Note from <@UBOB>: Rolling back",
            "{upstream:?}"
        );
        assert_eq!(reply.thread_ts.as_deref(), Some(THREAD));
    }
}

#[tokio::test]
async fn an_alert_action_answered_502_yet_taken_is_read_back_shown_and_sent_once() {
    for upstream in ALL_UPSTREAMS {
        let app = spawn_two_way(upstream).await;
        let answer = raise(&app).await;
        app.book().act_then_answer(502);
        assert_eq!(
            app.click(&click_on(&answer, "UALICE", "alert_acknowledge"))
                .await,
            200
        );
        assert_eq!(app.book().actions().len(), 1, "{upstream:?}: sent once");
        let (status, _) = card(&app.answer());
        assert!(
            status.starts_with("Acknowledged by <@UALICE>"),
            "{upstream:?}: read back and shown: {status}"
        );
        assert!(
            app.slack.ephemerals().is_empty(),
            "nothing to apologise for"
        );
    }
}
