//! When OpsGenie fails, the person still gets a short, neutral answer in the thread.

use wiremock::ResponseTemplate;

use crate::helpers::*;

async fn reply_when_opsgenie_answers(answer: ResponseTemplate) -> String {
    let app = spawn_app().await;
    on_call_request()
        .respond_with(answer)
        .mount(app.opsgenie.server())
        .await;
    app.deliver(&mention("Ev1", "C1", "1.1", "<@UBOT> is anyone there?"))
        .await;
    app.settle().await;
    let replies = app.replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].thread_ts.as_deref(), Some("1.1"));
    replies[0].text.clone()
}

fn error_body(message: &str) -> serde_json::Value {
    serde_json::json!({"message": message, "took": 0.0, "requestId": "r1"})
}

#[tokio::test]
async fn opsgenie_401_404_and_500_get_a_neutral_reply_without_internals() {
    for (status, message) in [
        (401, "Key format is not valid!"),
        (404, "Schedule with identifier [SRE_schedule] not found"),
        (500, "Internal Server Error"),
    ] {
        let text = reply_when_opsgenie_answers(
            ResponseTemplate::new(status).set_body_json(error_body(message)),
        )
        .await;
        assert!(
            text.starts_with("Sorry, I could not find out who is on call"),
            "{status}: {text}"
        );
        for internal in [message, "HTTP", &status.to_string(), "GenieKey"] {
            assert!(
                !text.contains(internal),
                "{status}: reply leaks {internal:?}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn an_opsgenie_answer_that_is_not_the_expected_json_gets_the_neutral_reply() {
    let text =
        reply_when_opsgenie_answers(ResponseTemplate::new(200).set_body_string("<html>")).await;
    assert!(
        text.starts_with("Sorry, I could not find out who is on call"),
        "{text}"
    );
}
