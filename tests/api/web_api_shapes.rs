//! Every Slack Web API method the bot calls is sent as Slack documents it: its
//! HTTP method, content type and body shape, pinned in one table. The table is
//! checked two ways: against what `SlackApi` really sends (recorded by a fake),
//! and against Slack's official OpenAPI spec (`tests/data/slack/web-api/`),
//! where the spec agrees with the method's documentation page.

use std::collections::{BTreeMap, BTreeSet};

use oncall_bot::model::{Form, FormKind, HomeTab, ThreadMessage};
use oncall_bot::outbound::Timeouts;
use oncall_bot::slack::SlackApi;
use secrecy::SecretString;
use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// How a method's arguments travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arguments {
    /// The token is the only argument: no body, no query, no content type.
    None,
    /// In the query string of a GET.
    Query,
    /// A JSON object in the body of a POST (`application/json`).
    Json,
}

/// Where a row's facts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Slack's OpenAPI spec, which agrees with the method's page.
    Spec,
    /// The method's documentation page alone: the spec lacks the method.
    Page,
    /// The method's documentation page, where the spec is out of date for it:
    /// the spec has the method with the same arguments, but as a GET with the
    /// view in the query, where the page documents a POST of JSON.
    PageOverSpec,
}

struct Documented {
    method: &'static str,
    verb: &'static str,
    arguments: Arguments,
    /// The arguments the bot may send.
    allowed: &'static [&'static str],
    /// The arguments Slack requires.
    required: &'static [&'static str],
    source: Source,
}

/// The table: one row per Web API method the bot calls.
const DOCUMENTED: &[Documented] = &[
    Documented {
        method: "auth.test",
        verb: "GET",
        arguments: Arguments::None,
        allowed: &[],
        required: &[],
        source: Source::Spec,
    },
    Documented {
        // Not in the spec; its page: POST, the app-level token, no arguments.
        method: "apps.connections.open",
        verb: "POST",
        arguments: Arguments::None,
        allowed: &[],
        required: &[],
        source: Source::Page,
    },
    Documented {
        method: "chat.postMessage",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["channel", "text", "thread_ts", "blocks"],
        required: &["channel"],
        source: Source::Spec,
    },
    Documented {
        method: "chat.update",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["channel", "ts", "text", "blocks"],
        required: &["channel", "ts"],
        source: Source::Spec,
    },
    Documented {
        method: "chat.postEphemeral",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["channel", "user", "text", "thread_ts", "blocks"],
        required: &["channel", "user"],
        source: Source::Spec,
    },
    Documented {
        method: "chat.getPermalink",
        verb: "GET",
        arguments: Arguments::Query,
        allowed: &["channel", "message_ts"],
        required: &["channel", "message_ts"],
        source: Source::Spec,
    },
    Documented {
        method: "conversations.info",
        verb: "GET",
        arguments: Arguments::Query,
        allowed: &["channel"],
        required: &["channel"],
        source: Source::Spec,
    },
    Documented {
        method: "conversations.open",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["users"],
        required: &["users"],
        source: Source::Spec,
    },
    Documented {
        method: "conversations.setTopic",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["channel", "topic"],
        required: &["channel", "topic"],
        source: Source::Spec,
    },
    Documented {
        method: "users.info",
        verb: "GET",
        arguments: Arguments::Query,
        allowed: &["user"],
        required: &["user"],
        source: Source::Spec,
    },
    Documented {
        method: "users.lookupByEmail",
        verb: "GET",
        arguments: Arguments::Query,
        allowed: &["email"],
        required: &["email"],
        source: Source::Spec,
    },
    Documented {
        method: "usergroups.list",
        verb: "GET",
        arguments: Arguments::None,
        allowed: &[],
        required: &[],
        source: Source::Spec,
    },
    Documented {
        method: "usergroups.users.list",
        verb: "GET",
        arguments: Arguments::Query,
        allowed: &["usergroup"],
        required: &["usergroup"],
        source: Source::Spec,
    },
    Documented {
        method: "usergroups.users.update",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["usergroup", "users"],
        required: &["usergroup", "users"],
        source: Source::Spec,
    },
    Documented {
        method: "views.publish",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["user_id", "view"],
        required: &["user_id", "view"],
        source: Source::PageOverSpec,
    },
    Documented {
        method: "views.open",
        verb: "POST",
        arguments: Arguments::Json,
        allowed: &["trigger_id", "view"],
        required: &["trigger_id", "view"],
        source: Source::PageOverSpec,
    },
];

fn row(method: &str) -> &'static Documented {
    DOCUMENTED
        .iter()
        .find(|row| row.method == method)
        .unwrap_or_else(|| panic!("`{method}` is called but has no row in the table"))
}

/// A fake Web API that answers every method with what its caller reads.
async fn web_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(|request: &Request| {
            let answer = match request.url.path().trim_start_matches('/') {
                "auth.test" => json!({"user_id": "UBOT", "user": "ops", "team": "T"}),
                "apps.connections.open" => json!({"url": "wss://example.invalid/link"}),
                "users.info" | "users.lookupByEmail" => json!({"user": {"id": "U1"}}),
                "conversations.info" | "conversations.open" => {
                    json!({"channel": {"id": "D1", "topic": {"value": ""}}})
                }
                "chat.getPermalink" => json!({"permalink": "https://example.invalid/p"}),
                "usergroups.list" => json!({"usergroups": []}),
                "usergroups.users.list" => json!({"users": []}),
                _ => json!({"ts": "1.2"}),
            };
            let mut answer = answer;
            answer["ok"] = json!(true);
            ResponseTemplate::new(200).set_body_json(answer)
        })
        .mount(&server)
        .await;
    server
}

/// Calls every method the client has, once.
async fn call_every_method(api: &SlackApi) {
    let message = ThreadMessage::plain("hello".into());
    let results = [
        api.auth_test().await.map(drop),
        api.granted_scopes().await.map(drop),
        api.open_socket_url().await.map(drop),
        api.post_in_thread("C1", "1.1", "hi").await,
        api.post_message("C1", "hi").await,
        api.post_message_in_thread("C1", "1.1", &message)
            .await
            .map(drop),
        api.update_message("C1", "1.2", &message).await,
        api.post_ephemeral("C1", "U1", Some("1.1"), "hi").await,
        api.permalink("C1", "1.1").await.map(drop),
        api.channel_topic("C1").await.map(drop),
        api.open_dm("U1").await.map(drop),
        api.set_channel_topic("C1", "On call: x").await,
        api.user("U1").await.map(drop),
        api.user_id_by_email("a@example.com").await.map(drop),
        api.user_group_id("ops").await.map(drop),
        api.user_group_members("S1").await.map(drop),
        api.set_user_group_members("S1", &["U1".into()]).await,
        api.publish_home("U1", &HomeTab::default()).await,
        api.open_form(
            "1.2.trigger",
            &Form {
                kind: FormKind::Cover,
                teams: Vec::new(),
                chosen: None,
            },
        )
        .await,
    ];
    for (index, result) in results.into_iter().enumerate() {
        result.unwrap_or_else(|error| panic!("call {index}: {error}"));
    }
}

/// What a recorded request carried, by argument name.
fn arguments_of(request: &Request) -> (Arguments, BTreeSet<String>) {
    let query: BTreeSet<String> = request
        .url
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect();
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok());
    let method = request.url.path().trim_start_matches('/');
    if request.body.is_empty() {
        assert_eq!(content_type, None, "{method}: a content type with no body");
        if query.is_empty() {
            return (Arguments::None, query);
        }
        return (Arguments::Query, query);
    }
    assert!(query.is_empty(), "{method}: a query and a body");
    assert_eq!(content_type, Some("application/json"), "{method}");
    let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
    let object = body.as_object().expect("a JSON object");
    (Arguments::Json, object.keys().cloned().collect())
}

#[tokio::test]
async fn every_web_api_call_is_sent_as_slack_documents_it() {
    let server = web_api().await;
    let api = SlackApi::new(
        &server.uri(),
        &SecretString::from("xoxb-test"),
        Timeouts::default(),
    )
    .expect("client");
    call_every_method(&api).await;
    let requests = server.received_requests().await.expect("recorded");
    let mut seen = BTreeSet::new();
    for request in &requests {
        let method = request.url.path().trim_start_matches('/');
        let documented = row(method);
        assert_eq!(request.method.as_str(), documented.verb, "{method}");
        let (arguments, names) = arguments_of(request);
        assert_eq!(arguments, documented.arguments, "{method}: {names:?}");
        for name in &names {
            assert!(
                documented.allowed.contains(&name.as_str()),
                "{method}: `{name}` is not an argument it takes"
            );
        }
        for name in documented.required {
            assert!(names.contains(*name), "{method}: `{name}` is required");
        }
        seen.insert(method.to_owned());
    }
    let table: BTreeSet<String> = DOCUMENTED.iter().map(|row| row.method.into()).collect();
    assert_eq!(seen, table, "every row is exercised, every call has a row");
}

/// Slack's spec, as `tests/data/slack/web-api/derive.py` reduced it.
fn spec() -> BTreeMap<String, Value> {
    let path = format!(
        "{}/tests/data/slack/web-api/web_methods.derived.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let spec: Value = serde_json::from_str(&text).expect("JSON");
    serde_json::from_value(spec["methods"].clone()).expect("methods")
}

#[test]
fn the_table_agrees_with_slacks_openapi_spec() {
    let spec = spec();
    for documented in DOCUMENTED {
        let method = documented.method;
        let in_spec = spec.get(method).filter(|entry| !entry.is_null());
        if documented.source == Source::Page {
            assert!(in_spec.is_none(), "{method}: the spec has it now; use it");
            continue;
        }
        if documented.source == Source::PageOverSpec {
            let verbs = in_spec.unwrap_or_else(|| panic!("{method}: not in the spec"));
            assert!(
                verbs.get(documented.verb).is_none(),
                "{method}: the spec has {} now; use it",
                documented.verb
            );
            let names: BTreeSet<String> = verbs
                .as_object()
                .into_iter()
                .flat_map(|verbs| verbs.values())
                .flat_map(|operation| {
                    operation["parameters"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
                .collect();
            for name in documented.allowed {
                assert!(names.contains(*name), "{method}: the spec has no `{name}`");
            }
            continue;
        }
        let verbs = in_spec.unwrap_or_else(|| panic!("{method}: not in the spec"));
        let operation = &verbs[documented.verb];
        assert!(
            operation.is_object(),
            "{method}: the spec has no {}",
            documented.verb
        );
        let consumes: Vec<&str> = operation["consumes"]
            .as_array()
            .expect("consumes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let expected_place = match documented.arguments {
            Arguments::Json => {
                assert!(consumes.contains(&"application/json"), "{method}");
                "formData"
            }
            Arguments::Query | Arguments::None => {
                assert_eq!(documented.verb, "GET", "{method}");
                "query"
            }
        };
        let parameters = operation["parameters"].as_array().expect("parameters");
        for name in documented.allowed {
            let parameter = parameters
                .iter()
                .find(|parameter| parameter["name"] == *name)
                .unwrap_or_else(|| panic!("{method}: the spec has no `{name}`"));
            assert_eq!(parameter["in"], expected_place, "{method}: `{name}`");
        }
        for parameter in parameters {
            let name = parameter["name"].as_str().expect("name");
            if parameter["required"] == true {
                assert!(
                    documented.required.contains(&name),
                    "{method}: the spec requires `{name}`"
                );
            }
        }
    }
}
