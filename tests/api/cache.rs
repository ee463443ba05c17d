//! On-call answers are cached, shared between concurrent askers, and clearable.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn answers_are_cached_between_mentions() {
    let app = spawn_app().await;
    for (event, ts) in [("Ev1", "1.1"), ("Ev2", "1.2"), ("Ev3", "1.3")] {
        app.deliver(&mention(event, "C1", ts, "<@UBOT> hi")).await;
        app.settle().await;
    }
    assert_eq!(app.replies().len(), 3);
    assert_eq!(app.on_call_lookups().await, 1);
    // Two people, each looked up once.
    assert_eq!(app.email_lookups().await, 2);
}

#[tokio::test]
async fn cache_clear_replies_and_makes_the_next_answer_fresh() {
    let app = spawn_app().await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> hi"))
        .await;
    app.settle().await;
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT>  Cache   CLEAR"))
        .await;
    app.settle().await;
    app.deliver(&mention("Ev3", "C1", "1.3", "<@UBOT> hi again"))
        .await;
    app.settle().await;
    let replies = app.replies();
    assert_eq!(replies.len(), 3);
    assert_eq!(
        replies[1].text,
        "Cache cleared: the next answer comes straight from the on-call schedule."
    );
    assert_eq!(app.on_call_lookups().await, 2);
}

#[tokio::test]
async fn a_burst_of_200_mentions_after_cache_clear_makes_one_opsgenie_call() {
    let app = spawn_app().await;
    on_call_request()
        .respond_with(
            on_call_answer(&["alice@corp.example", "bob@corp.example"])
                .set_delay(Duration::from_millis(300)),
        )
        .mount(app.opsgenie.server())
        .await;
    app.deliver(&mention("EvClear", "C1", "1.0", "<@UBOT> cache clear"))
        .await;
    app.settle().await;
    let deliveries = (0..200).map(|n| {
        let body = mention(
            &format!("Ev{n}"),
            "C1",
            &format!("2.{n}"),
            "<@UBOT> site down",
        );
        let app = &app;
        async move { app.deliver(&body).await.status() }
    });
    let statuses = futures_util::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|status| *status == 200));
    app.settle().await;
    assert_eq!(app.replies().len(), 201);
    assert_eq!(app.on_call_lookups().await, 1);
    assert_eq!(app.email_lookups().await, 2);
}
