//! The simulated Jira Service Management site: tenant info, Operations schedules
//! and on-calls, Jira's bulk user lookup, and the integration alert API. Site and
//! API share one loopback server (JSM_SITE_URL = JSM_API_URL).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::overrides::{OverrideBook, SimOverride};
use super::{lock, path_segment, simulate, AlertBook};

#[derive(Debug)]
struct User {
    account_id: String,
    name: String,
    email: Option<String>,
}

/// A simulated JSM rotation: its name, and each shift as (account id, from, to).
pub type JsmRotation = (String, Vec<(String, SystemTime, SystemTime)>);

#[derive(Debug)]
struct Schedule {
    id: String,
    name: String,
    on_call: Vec<String>,
    /// Rotations: (name, [(account id, from, to)]).
    rotations: Vec<JsmRotation>,
    /// Overrides made through the API.
    overrides: OverrideBook,
}

impl Schedule {
    /// A rotation's periods, overrides cut in: (account id, from, to, is
    /// override).
    fn periods(&self, index: usize) -> Vec<(String, SystemTime, SystemTime, bool)> {
        let (name, shifts) = &self.rotations[index];
        self.overrides
            .apply(&format!("rotation-{index}"), name, shifts)
    }

    /// Who is on call at `now`: from the rotations when there are any.
    fn on_call_at(&self, now: SystemTime) -> Vec<String> {
        if self.rotations.is_empty() {
            return match self.overrides.whole_schedule_at(now) {
                Some(taken) => vec![taken.user.clone()],
                None => self.on_call.clone(),
            };
        }
        let mut on_call: Vec<String> = Vec::new();
        for index in 0..self.rotations.len() {
            for (account, from, to, _) in self.periods(index) {
                if from <= now && now < to && !on_call.contains(&account) {
                    on_call.push(account);
                }
            }
        }
        on_call
    }
}

#[derive(Debug)]
struct State {
    cloud_id: String,
    /// `email:token`, as basic auth carries it.
    credentials: String,
    integration_key: String,
    users: Vec<User>,
    schedules: Vec<Schedule>,
    alerts: Vec<Value>,
    book: AlertBook,
    override_bodies: Vec<Value>,
    /// Made, but answered with this status instead of 201 (once).
    next_override_answer: Option<u16>,
}

/// A JSM site on loopback.
pub struct JsmSite {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl JsmSite {
    pub async fn start(
        cloud_id: &str,
        email: &str,
        api_token: &str,
        integration_key: &str,
    ) -> Self {
        let state = Arc::new(Mutex::new(State {
            cloud_id: cloud_id.to_owned(),
            credentials: format!("{email}:{api_token}"),
            integration_key: integration_key.to_owned(),
            users: Vec::new(),
            schedules: Vec::new(),
            alerts: Vec::new(),
            book: AlertBook::default(),
            override_bodies: Vec::new(),
            next_override_answer: None,
        }));
        let server = MockServer::start().await;
        let routes: [(&str, wiremock::MockBuilder); 8] = [
            (
                "overrides",
                Mock::given(path_regex(
                    r"^/jsm/ops/api/[^/]+/v1/schedules/[^/]+/overrides(/[^/]+)?$",
                )),
            ),
            (
                "user_search",
                Mock::given(method("GET")).and(path("/rest/api/3/user/search")),
            ),
            (
                "timeline",
                Mock::given(method("GET")).and(path_regex(
                    r"^/jsm/ops/api/[^/]+/v1/schedules/[^/]+/timeline$",
                )),
            ),
            (
                "tenant_info",
                Mock::given(method("GET")).and(path("/_edge/tenant_info")),
            ),
            (
                "schedules",
                Mock::given(method("GET")).and(path_regex(r"^/jsm/ops/api/[^/]+/v1/schedules$")),
            ),
            (
                "on_calls",
                Mock::given(method("GET")).and(path_regex(
                    r"^/jsm/ops/api/[^/]+/v1/schedules/[^/]+/on-calls$",
                )),
            ),
            (
                "users",
                Mock::given(method("GET")).and(path("/rest/api/3/user/bulk")),
            ),
            (
                "alerts",
                Mock::given(method("POST")).and(path("/jsm/ops/integration/v2/alerts")),
            ),
        ];
        for (kind, route) in routes {
            let state = Arc::clone(&state);
            simulate(&server, route, Endpoint { kind, state }).await;
        }
        let book = lock(&state).book.clone();
        book.mount(
            &server,
            "/jsm/ops/integration/v2/alerts",
            format!("GenieKey {integration_key}"),
        )
        .await;
        Self { server, state }
    }

    /// The alerts' states and the actions taken on them.
    pub fn alert_book(&self) -> AlertBook {
        lock(&self.state).book.clone()
    }

    /// JSM_SITE_URL and JSM_API_URL.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// An Atlassian account; `email` is `None` when the profile hides it.
    pub fn add_user(&self, account_id: &str, name: &str, email: Option<&str>) {
        lock(&self.state).users.push(User {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            email: email.map(str::to_owned),
        });
    }

    /// Puts these accounts on call for the schedule called `name` (created with a
    /// new id when needed).
    pub fn set_on_call(&self, name: &str, account_ids: &[&str]) {
        let mut state = lock(&self.state);
        let on_call = account_ids.iter().map(|id| (*id).to_owned()).collect();
        match state
            .schedules
            .iter_mut()
            .find(|schedule| schedule.name == name)
        {
            Some(schedule) => schedule.on_call = on_call,
            None => {
                let id = format!("schedule-{:04}", state.schedules.len() + 1);
                state.schedules.push(Schedule {
                    id,
                    name: name.to_owned(),
                    on_call,
                    rotations: Vec::new(),
                    overrides: OverrideBook::default(),
                });
            }
        }
    }

    /// Gives the schedule called `name` (which must exist) these rotations:
    /// (rotation, [(account id, from, to)]). Its timeline then splits the
    /// period that spans "now" in two, as JSM does.
    pub fn set_rotations(&self, name: &str, rotations: Vec<JsmRotation>) {
        if let Some(schedule) = lock(&self.state)
            .schedules
            .iter_mut()
            .find(|schedule| schedule.name == name)
        {
            schedule.rotations = rotations;
        }
    }

    /// The next override asked for is made, but answered with `status` (a
    /// 502 from a proxy, a timeout's 504): the bot cannot know it landed.
    pub fn make_next_override_then_answer(&self, status: u16) {
        lock(&self.state).next_override_answer = Some(status);
    }

    /// The schedule overrides created through the API, as the bodies received.
    pub fn overrides(&self) -> Vec<Value> {
        lock(&self.state).override_bodies.clone()
    }

    /// The overrides the schedule called `name` holds now.
    pub fn live_overrides(&self, name: &str) -> Vec<SimOverride> {
        lock(&self.state)
            .schedules
            .iter()
            .find(|schedule| schedule.name == name)
            .map(|schedule| schedule.overrides.all().to_vec())
            .unwrap_or_default()
    }

    /// The id the schedule called `name` has.
    pub fn schedule_id(&self, name: &str) -> Option<String> {
        lock(&self.state)
            .schedules
            .iter()
            .find(|schedule| schedule.name == name)
            .map(|schedule| schedule.id.clone())
    }

    /// The alerts created through the integration API, as received.
    pub fn alerts(&self) -> Vec<Value> {
        lock(&self.state).alerts.clone()
    }
}

struct Endpoint {
    kind: &'static str,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "message": message }))
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = lock(&self.state);
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let basic_ok = authorization
            .strip_prefix("Basic ")
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .is_some_and(|decoded| decoded == state.credentials.as_bytes());
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        let segment = |index: usize| path_segment(request, index);
        match self.kind {
            "tenant_info" => {
                ResponseTemplate::new(200).set_body_json(json!({ "cloudId": state.cloud_id }))
            }
            "alerts" => {
                if authorization != format!("GenieKey {}", state.integration_key) {
                    return error(401, "Could not authenticate");
                }
                let Ok(alert) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Could not parse the request body");
                };
                if let Some(refusal) = super::alert_refusal(&alert) {
                    return error(422, refusal);
                }
                drop(state);
                let mut state = lock(&self.state);
                if let Some(alias) = alert["alias"].as_str() {
                    state.book.raised(alias);
                }
                state.alerts.push(alert);
                ResponseTemplate::new(202).set_body_json(json!({
                    "result": "Request will be processed", "took": 0.01, "requestId": "jsm-sim"
                }))
            }
            _ if !basic_ok => error(401, "Unauthorized; scope does not match"),
            _ if matches!(
                self.kind,
                "schedules" | "on_calls" | "timeline" | "overrides"
            ) && segment(3) != state.cloud_id =>
            {
                error(404, "Site not found")
            }
            "schedules" => {
                let wanted = query("query").unwrap_or_default().to_lowercase();
                let offset: usize = query("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
                let size: usize = query("size").and_then(|v| v.parse().ok()).unwrap_or(50);
                let matching: Vec<Value> = state
                    .schedules
                    .iter()
                    .filter(|schedule| schedule.name.to_lowercase().contains(&wanted))
                    .skip(offset)
                    .take(size)
                    .map(|schedule| {
                        json!({"id": schedule.id, "name": schedule.name, "enabled": true, "timezone": "UTC"})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "values": matching, "links": {} }))
            }
            "on_calls" => {
                let id = segment(6);
                match state.schedules.iter().find(|schedule| schedule.id == id) {
                    Some(schedule) => ResponseTemplate::new(200).set_body_json(json!({
                        "onCallUsers": schedule.on_call_at(SystemTime::now())
                    })),
                    None => error(404, "Schedule not found"),
                }
            }
            "user_search" => {
                let wanted = query("query").unwrap_or_default().to_lowercase();
                let found: Vec<Value> = state
                    .users
                    .iter()
                    .filter(|user| {
                        user.email.as_deref().is_some_and(|email| email.to_lowercase() == wanted)
                    })
                    .map(|user| {
                        json!({"accountId": user.account_id, "accountType": "atlassian",
                               "displayName": user.name, "emailAddress": user.email, "active": true})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(Value::Array(found))
            }
            "overrides" => {
                let id = segment(6);
                let alias = segment(8);
                let known_user =
                    |account: &str| state.users.iter().any(|user| user.account_id == account);
                let body = serde_json::from_slice::<Value>(&request.body).ok();
                let asked = match (request.method.as_str(), &body) {
                    ("POST", None) => return error(400, "Could not parse the request body"),
                    ("POST", Some(body)) => match super::override_of(body, "/responder/id") {
                        Ok((account, _, _)) if !known_user(&account) => {
                            return error(422, "User not found")
                        }
                        Ok(asked) => Some(asked),
                        Err(message) => return error(422, message),
                    },
                    _ => None,
                };
                drop(state);
                let mut state = lock(&self.state);
                let Some(schedule) = state
                    .schedules
                    .iter_mut()
                    .find(|schedule| schedule.id == id)
                else {
                    return error(404, "Schedule not found");
                };
                match (request.method.as_str(), asked, body) {
                    ("POST", Some((account, from, to)), Some(body)) => {
                        let rotations: Vec<String> = body["rotationIds"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect();
                        match schedule
                            .overrides
                            .create(account, from, to, rotations, None)
                        {
                            Ok(alias) => {
                                state.override_bodies.push(body);
                                if let Some(status) = state.next_override_answer.take() {
                                    return ResponseTemplate::new(status);
                                }
                                ResponseTemplate::new(201).set_body_json(json!({ "alias": alias }))
                            }
                            Err(message) => error(422, message),
                        }
                    }
                    ("DELETE", _, _) if schedule.overrides.delete(&alias) => {
                        ResponseTemplate::new(204)
                    }
                    ("GET", _, _) if alias.is_empty() => {
                        let date =
                            |time: SystemTime| humantime::format_rfc3339_seconds(time).to_string();
                        let values: Vec<Value> = schedule
                            .overrides
                            .all()
                            .iter()
                            .map(|known| {
                                json!({
                                    "alias": known.alias,
                                    "responder": {"type": "user", "id": known.user},
                                    "startDate": date(known.from), "endDate": date(known.to),
                                    "rotationIds": known.rotations,
                                })
                            })
                            .collect();
                        ResponseTemplate::new(200)
                            .set_body_json(json!({ "values": values, "links": {} }))
                    }
                    _ => error(404, "Override not found"),
                }
            }
            "timeline" => {
                let id = segment(6);
                let Some(schedule) = state.schedules.iter().find(|schedule| schedule.id == id)
                else {
                    return error(404, "Schedule not found");
                };
                let date = |time: SystemTime| humantime::format_rfc3339_seconds(time).to_string();
                let now = SystemTime::now();
                let rotations: Vec<Value> = schedule
                    .rotations
                    .iter()
                    .enumerate()
                    .map(|(index, (name, _))| {
                        let mut periods = Vec::new();
                        for (account, from, to, is_override) in schedule.periods(index) {
                            let period = |from: SystemTime, to: SystemTime| {
                                json!({
                                    "startDate": date(from), "endDate": date(to),
                                    "type": if is_override { "override" } else { "default" },
                                    "responder": {"id": account, "type": "user"}
                                })
                            };
                            // The quirk: a period spanning now comes in two.
                            if from < now && now < to {
                                periods.push(period(from, now));
                                periods.push(period(now, to));
                            } else {
                                periods.push(period(from, to));
                            }
                        }
                        json!({"id": format!("rotation-{index}"), "name": name,
                               "order": (index + 1) as f64, "periods": periods})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "startDate": date(now), "endDate": date(now),
                    "finalTimeline": {"rotations": rotations}
                }))
            }
            "users" => {
                let wanted: Vec<String> = request
                    .url
                    .query_pairs()
                    .filter(|(key, _)| key == "accountId")
                    .map(|(_, value)| value.into_owned())
                    .collect();
                let values: Vec<Value> = state
                    .users
                    .iter()
                    .filter(|user| wanted.contains(&user.account_id))
                    .map(|user| {
                        let mut value = json!({
                            "accountId": user.account_id, "accountType": "atlassian",
                            "displayName": user.name, "active": true
                        });
                        if let Some(email) = &user.email {
                            value["emailAddress"] = json!(email);
                        }
                        value
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "values": values, "isLast": true, "maxResults": 100, "startAt": 0, "total": values.len()
                }))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}
