//! Tokens, keys and signing secrets never reach a log line.

use oncall_bot::config::AlertConfig;
use oncall_bot::model::Priority;

use crate::helpers::*;
use crate::logs::CapturedLogs;

#[tokio::test]
async fn no_secret_appears_in_debug_logs_of_a_full_conversation() {
    let (logs, _guard) = CapturedLogs::start();
    let app = spawn_app_with(|config| {
        config.alerts = Some(AlertConfig {
            priority: Priority::P4,
            team: None,
        });
    })
    .await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> prod is down"))
        .await;
    app.deliver(&mention("Ev2", "C1", "1.2", "<@UBOT> cache clear"))
        .await;
    app.opsgenie.set_on_call(SCHEDULE, &["nobody@corp.example"]);
    app.deliver(&mention("Ev3", "C1", "1.3", "<@UBOT> anyone?"))
        .await;
    // A request with a bad signature is logged too.
    app.http
        .post(format!("{}/slack/events", app.address))
        .header("x-slack-request-timestamp", "1")
        .header("x-slack-signature", "v0=00")
        .body("{}")
        .send()
        .await
        .expect("answers");
    app.settle().await;
    assert_eq!(app.replies().len(), 3);

    let logged = logs.text();
    assert!(logged.contains("answered"), "logs were captured: {logged}");
    for secret in [BOT_TOKEN, SIGNING_SECRET, OPSGENIE_KEY] {
        assert!(
            !logged.contains(secret),
            "{secret} leaked into the logs:\n{logged}"
        );
    }
}
