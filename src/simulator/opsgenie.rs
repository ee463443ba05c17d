//! The simulated OpsGenie account: schedules and alerts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{lock, SIMULATION_PRIORITY};

#[derive(Debug)]
struct State {
    api_key: String,
    /// Schedule name → emails on call now.
    schedules: BTreeMap<String, Vec<String>>,
    /// Every alert created, as the JSON body received.
    alerts: Vec<Value>,
    requests: u64,
}

/// An OpsGenie account on loopback.
pub struct OpsGenieAccount {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl OpsGenieAccount {
    pub async fn start(api_key: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            api_key: api_key.to_owned(),
            schedules: BTreeMap::new(),
            alerts: Vec::new(),
            requests: 0,
        }));
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/v2/schedules/[^/]+/on-calls$"))
            .respond_with(Endpoint {
                kind: EndpointKind::OnCalls,
                state: Arc::clone(&state),
            })
            .with_priority(SIMULATION_PRIORITY)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v2/alerts"))
            .respond_with(Endpoint {
                kind: EndpointKind::CreateAlert,
                state: Arc::clone(&state),
            })
            .with_priority(SIMULATION_PRIORITY)
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The API base URL (`OPSGENIE_API_URL`).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Puts these people on call for `schedule` (creating it), replacing whoever was.
    pub fn set_on_call(&self, schedule: &str, emails: &[&str]) {
        lock(&self.state).schedules.insert(
            schedule.to_owned(),
            emails.iter().map(|email| (*email).to_owned()).collect(),
        );
    }

    /// The alerts created so far, as the bodies OpsGenie received.
    pub fn alerts(&self) -> Vec<Value> {
        lock(&self.state).alerts.clone()
    }
}

enum EndpointKind {
    OnCalls,
    CreateAlert,
}

struct Endpoint {
    kind: EndpointKind,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message, "took": 0.001, "requestId": "0000-sim"
    }))
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        state.requests += 1;
        let request_id = format!("sim-{:08}", state.requests);
        let key = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("GenieKey "));
        if key != Some(state.api_key.as_str()) {
            return error(401, "Key format is not valid!");
        }
        match self.kind {
            EndpointKind::OnCalls => {
                let name = request
                    .url
                    .path_segments()
                    .and_then(|mut segments| segments.nth(2))
                    .map(|segment| percent_decode_str(segment).decode_utf8_lossy().into_owned())
                    .unwrap_or_default();
                let by_name = request
                    .url
                    .query_pairs()
                    .any(|(key, value)| key == "scheduleIdentifierType" && value == "name");
                match state.schedules.get(&name).filter(|_| by_name) {
                    Some(emails) => ResponseTemplate::new(200).set_body_json(json!({
                        "data": {
                            "_parent": {"id": format!("id-{name}"), "name": name, "enabled": true},
                            "onCallRecipients": emails
                        },
                        "took": 0.01, "requestId": request_id
                    })),
                    None => error(404, &format!("No schedule exists with identifier [{name}]")),
                }
            }
            EndpointKind::CreateAlert => {
                let Ok(alert) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Could not parse the request body");
                };
                let message = alert["message"].as_str().unwrap_or_default();
                if message.is_empty() {
                    return error(422, "Message can not be empty.");
                }
                if message.chars().count() > 130 {
                    return error(422, "Message can not be longer than 130 characters.");
                }
                state.alerts.push(alert);
                ResponseTemplate::new(202).set_body_json(json!({
                    "result": "Request will be processed", "took": 0.02, "requestId": request_id
                }))
            }
        }
    }
}
