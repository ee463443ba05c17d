//! Who gets an answer, what it says, and where it goes.

use oncall_bot_simulator::Post;
use serde_json::Value;

use crate::helpers::*;

fn only_reply(replies: &[Post]) -> &Post {
    assert_eq!(
        replies.len(),
        1,
        "expected exactly one reply, got {replies:?}"
    );
    &replies[0]
}

#[tokio::test]
async fn a_mention_in_a_channel_is_answered_in_its_thread_with_the_on_call_people() {
    let app = spawn_app().await;
    let response = app.deliver(&fixture("app_mention.json")).await;
    assert_eq!(response.status(), 200);
    app.settle().await;
    let replies = app.replies();
    let reply = only_reply(&replies);
    assert_eq!(reply.channel, "C123ABC456");
    assert_eq!(reply.thread_ts.as_deref(), Some("1515449522.000016"));
    assert_eq!(
        reply.text,
        "On call for *SRE_schedule* right now: <@UALICE>, <@UBOB>"
    );
}

#[tokio::test]
async fn a_mention_inside_a_thread_is_answered_in_that_thread() {
    let app = spawn_app().await;
    app.deliver(&mention_in_thread(
        "Ev1",
        "C1",
        "1700000050.000200",
        "1700000000.000100",
    ))
    .await;
    app.settle().await;
    let replies = app.replies();
    assert_eq!(
        only_reply(&replies).thread_ts.as_deref(),
        Some("1700000000.000100")
    );
}

#[tokio::test]
async fn a_direct_message_is_answered() {
    let app = spawn_app().await;
    app.deliver(&fixture("message_im.json")).await;
    app.settle().await;
    let replies = app.replies();
    let reply = only_reply(&replies);
    assert_eq!(reply.channel, "D024BE91L");
    assert_eq!(reply.thread_ts.as_deref(), Some("1355517523.000005"));
    assert!(reply.text.contains("<@UALICE>"), "{}", reply.text);
}

#[tokio::test]
async fn the_bot_ignores_itself_other_bots_edits_and_channel_chatter() {
    let app = spawn_app().await;
    let mut own_user =
        serde_json::from_str::<Value>(&direct_message("Ev1", BOT_USER, "1.1", "hi")).expect("JSON");
    let mut own_bot = own_user.clone();
    own_bot["event_id"] = "Ev2".into();
    own_bot["event"]["user"] = "UOTHER".into();
    own_bot["event"]["bot_id"] = BOT_ID.into();
    own_bot["event"]["ts"] = "1.2".into();
    let mut other_bot = own_bot.clone();
    other_bot["event_id"] = "Ev3".into();
    other_bot["event"]["bot_id"] = "BOTHER".into();
    other_bot["event"]["ts"] = "1.3".into();
    let mut bot_message = own_user.clone();
    bot_message["event_id"] = "Ev4".into();
    bot_message["event"]["subtype"] = "bot_message".into();
    bot_message["event"]["user"] = "UOTHER".into();
    bot_message["event"]["ts"] = "1.4".into();
    let mut deleted = bot_message.clone();
    deleted["event_id"] = "Ev5".into();
    deleted["event"]["subtype"] = "message_deleted".into();
    deleted["event"]["ts"] = "1.5".into();
    let mut in_channel = own_user.clone();
    in_channel["event_id"] = "Ev6".into();
    in_channel["event"]["user"] = "UOTHER".into();
    in_channel["event"]["channel_type"] = "channel".into();
    in_channel["event"]["ts"] = "1.6".into();
    let mut edited_mention: Value =
        serde_json::from_str(&mention("Ev7", "C1", "1.7", "<@UBOT> help")).expect("JSON");
    edited_mention["event"]["edited"] = serde_json::json!({"user": "UASKER", "ts": "1.8"});
    own_user["event"]["text"] = "<@UBOT> who is on call".into();
    let own_mention = mention("Ev8", "C1", "1.9", "<@UBOT> loop?").replace("UASKER", BOT_USER);

    let bodies = [
        own_user.to_string(),
        own_bot.to_string(),
        other_bot.to_string(),
        bot_message.to_string(),
        deleted.to_string(),
        in_channel.to_string(),
        edited_mention.to_string(),
        own_mention,
        fixture("slack-morphism_message_changed.json"),
        fixture("slack-morphism_message_changed_by_bot.json"),
    ];
    for body in &bodies {
        assert_eq!(app.deliver(body).await.status(), 200, "{body}");
    }
    app.settle().await;
    assert_eq!(app.replies(), Vec::<Post>::new());
    assert_eq!(app.on_call_lookups().await, 0);
}

#[tokio::test]
async fn a_retried_event_is_acked_and_answered_once() {
    let app = spawn_app().await;
    let body = mention("EvRetry", "C1", "1700000000.000100", "<@UBOT> help!");
    assert_eq!(app.deliver(&body).await.status(), 200);
    for retry in ["1", "2"] {
        let response = app
            .deliver_with(
                &body,
                &[
                    ("x-slack-retry-num", retry),
                    ("x-slack-retry-reason", "http_timeout"),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    app.settle().await;
    assert_eq!(app.replies().len(), 1);
}

#[tokio::test]
async fn the_same_message_under_a_new_event_id_is_answered_once() {
    let app = spawn_app().await;
    app.deliver(&mention(
        "EvA",
        "C1",
        "1700000000.000100",
        "<@UBOT> db down",
    ))
    .await;
    app.deliver(&mention(
        "EvB",
        "C1",
        "1700000000.000100",
        "<@UBOT> db down",
    ))
    .await;
    // Same ts in another channel is another message.
    app.deliver(&mention(
        "EvC",
        "C2",
        "1700000000.000100",
        "<@UBOT> db down",
    ))
    .await;
    app.settle().await;
    assert_eq!(app.replies().len(), 2);
}

#[tokio::test]
async fn help_lists_what_the_bot_understands_without_asking_opsgenie() {
    let app = spawn_app().await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT>   HELP "))
        .await;
    app.settle().await;
    let replies = app.replies();
    let text = only_reply(&replies).text.clone();
    assert!(text.contains("`@ops cache clear`"), "{text}");
    assert_eq!(app.on_call_lookups().await, 0);
}

#[tokio::test]
async fn a_person_without_a_slack_account_is_named_by_email() {
    let app = spawn_app().await;
    app.opsgenie
        .set_on_call(SCHEDULE, &["alice@corp.example", "dave@contractor.example"]);
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> anyone?"))
        .await;
    app.settle().await;
    let replies = app.replies();
    assert_eq!(
        only_reply(&replies).text,
        "On call for *SRE_schedule* right now: <@UALICE>, dave@contractor.example (no Slack account found)"
    );
}

#[tokio::test]
async fn nobody_on_call_is_said_plainly() {
    let app = spawn_app().await;
    app.opsgenie.set_on_call(SCHEDULE, &[]);
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> anyone?"))
        .await;
    app.settle().await;
    let replies = app.replies();
    assert_eq!(
        only_reply(&replies).text,
        "Nobody is on call for *SRE_schedule* right now."
    );
    assert_eq!(app.email_lookups().await, 0);
}
