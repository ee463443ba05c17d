//! The simulated OpsGenie account: schedules and alerts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::overrides::{OverrideBook, SimOverride};
use super::{lock, path_segment, simulate, AlertBook};

/// A person's turn in a simulated rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimShift {
    pub email: String,
    pub from: SystemTime,
    pub to: SystemTime,
    pub is_override: bool,
}

/// A simulated rotation: its name and its shifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRotation {
    pub name: String,
    pub shifts: Vec<SimShift>,
}

#[derive(Debug, Default)]
struct Schedule {
    /// Who is on call, when set directly (no rotations).
    emails: Vec<String>,
    rotations: Vec<SimRotation>,
    /// Overrides made through the API.
    overrides: OverrideBook,
}

impl Schedule {
    /// Each rotation's periods, overrides cut in: (username, from, to, is
    /// override).
    fn periods(&self, index: usize) -> Vec<(String, SystemTime, SystemTime, bool)> {
        let rotation = &self.rotations[index];
        let shifts: Vec<(String, SystemTime, SystemTime)> = rotation
            .shifts
            .iter()
            .filter(|shift| !shift.is_override)
            .map(|shift| (shift.email.clone(), shift.from, shift.to))
            .collect();
        let mut periods =
            self.overrides
                .apply(&format!("rotation-{index}"), &rotation.name, &shifts);
        // Overrides set up by the test as shifts stay as they were given.
        periods.extend(
            rotation
                .shifts
                .iter()
                .filter(|shift| shift.is_override)
                .map(|shift| (shift.email.clone(), shift.from, shift.to, true)),
        );
        periods.sort_by_key(|period| period.1);
        periods
    }

    /// Who is on call at `now`: from the rotations when there are any.
    fn on_call_at(&self, now: SystemTime) -> Vec<String> {
        if self.rotations.is_empty() {
            return match self.overrides.whole_schedule_at(now) {
                Some(taken) => vec![taken.user.clone()],
                None => self.emails.clone(),
            };
        }
        let mut emails: Vec<String> = Vec::new();
        for index in 0..self.rotations.len() {
            for (email, from, to, _) in self.periods(index) {
                if from <= now && now < to && !emails.contains(&email) {
                    emails.push(email);
                }
            }
        }
        emails
    }
}

#[derive(Debug)]
struct State {
    api_key: String,
    schedules: BTreeMap<String, Schedule>,
    /// Every alert created, as the JSON body received.
    alerts: Vec<Value>,
    requests: u64,
    book: AlertBook,
    override_bodies: Vec<Value>,
    /// Made, but answered with this status instead of 201 (once).
    next_override_answer: Option<u16>,
    /// How long an alert's creation takes to answer, once it was received.
    alert_delay: std::time::Duration,
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
            alert_delay: std::time::Duration::ZERO,
            requests: 0,
            book: AlertBook::default(),
            override_bodies: Vec::new(),
            next_override_answer: None,
        }));
        let server = MockServer::start().await;
        let routes = [
            (
                EndpointKind::OnCalls,
                Mock::given(method("GET")).and(path_regex(r"^/v2/schedules/[^/]+/on-calls$")),
            ),
            (
                EndpointKind::Timeline,
                Mock::given(method("GET")).and(path_regex(r"^/v2/schedules/[^/]+/timeline$")),
            ),
            (
                EndpointKind::CreateAlert,
                Mock::given(method("POST")).and(path("/v2/alerts")),
            ),
            (
                EndpointKind::CreateOverride,
                Mock::given(method("POST")).and(path_regex(r"^/v2/schedules/[^/]+/overrides$")),
            ),
            (
                EndpointKind::Override,
                Mock::given(path_regex(r"^/v2/schedules/[^/]+/overrides/[^/]+$")),
            ),
            (
                EndpointKind::ListOverrides,
                Mock::given(method("GET")).and(path_regex(r"^/v2/schedules/[^/]+/overrides$")),
            ),
        ];
        for (kind, route) in routes {
            let state = Arc::clone(&state);
            simulate(&server, route, Endpoint { kind, state }).await;
        }
        let book = lock(&state).book.clone();
        book.mount(&server, "/v2/alerts", format!("GenieKey {api_key}"))
            .await;
        Self { server, state }
    }

    /// The alerts' states and the actions taken on them.
    pub fn alert_book(&self) -> AlertBook {
        lock(&self.state).book.clone()
    }

    /// The API base URL (`OPSGENIE_API_URL`).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Puts these people on call for `schedule` (creating it), replacing whoever was;
    /// the schedule then has no rotations.
    pub fn set_on_call(&self, schedule: &str, emails: &[&str]) {
        lock(&self.state).schedules.insert(
            schedule.to_owned(),
            Schedule {
                emails: emails.iter().map(|email| (*email).to_owned()).collect(),
                rotations: Vec::new(),
                overrides: OverrideBook::default(),
            },
        );
    }

    /// Gives `schedule` these rotations, in order; who is on call follows the clock.
    pub fn set_rotations(&self, schedule: &str, rotations: Vec<SimRotation>) {
        lock(&self.state).schedules.insert(
            schedule.to_owned(),
            Schedule {
                emails: Vec::new(),
                rotations,
                overrides: OverrideBook::default(),
            },
        );
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

    /// The overrides `schedule` holds now (made, and not deleted).
    pub fn live_overrides(&self, schedule: &str) -> Vec<SimOverride> {
        lock(&self.state)
            .schedules
            .get(schedule)
            .map(|schedule| schedule.overrides.all().to_vec())
            .unwrap_or_default()
    }

    /// Alerts are answered only after `delay`, created already (work stays in
    /// flight meanwhile).
    pub fn set_alert_delay(&self, delay: std::time::Duration) {
        lock(&self.state).alert_delay = delay;
    }

    /// The alerts created so far, as the bodies OpsGenie received.
    pub fn alerts(&self) -> Vec<Value> {
        lock(&self.state).alerts.clone()
    }
}

enum EndpointKind {
    OnCalls,
    Timeline,
    CreateAlert,
    CreateOverride,
    /// GET or DELETE one override by alias.
    Override,
    ListOverrides,
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
            EndpointKind::OnCalls | EndpointKind::Timeline => {
                let name = path_segment(request, 2);
                let by_name = request.url.query_pairs().any(|(key, value)| {
                    (key == "scheduleIdentifierType" || key == "identifierType") && value == "name"
                });
                let Some(schedule) = state.schedules.get(&name).filter(|_| by_name) else {
                    return error(404, &format!("No schedule exists with identifier [{name}]"));
                };
                let parent = json!({"id": format!("id-{name}"), "name": name, "enabled": true});
                let data = if matches!(self.kind, EndpointKind::OnCalls) {
                    // `date`: who is on call then (RFC 3339), else now.
                    let at = request
                        .url
                        .query_pairs()
                        .find(|(key, _)| key == "date")
                        .map(|(_, value)| humantime::parse_rfc3339_weak(&value));
                    let at = match at {
                        None => SystemTime::now(),
                        Some(Ok(at)) => at,
                        Some(Err(_)) => return error(422, "Date is not valid"),
                    };
                    json!({"_parent": parent, "onCallRecipients": schedule.on_call_at(at)})
                } else {
                    json!({"_parent": parent, "finalTimeline": {"rotations": timeline(schedule)}})
                };
                ResponseTemplate::new(200).set_body_json(json!({
                    "data": data, "took": 0.01, "requestId": request_id
                }))
            }
            EndpointKind::CreateOverride => {
                let name = path_segment(request, 2);
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Could not parse the request body");
                };
                let (username, from, to) = match super::override_of(&body, "/user/username") {
                    Ok(asked) => asked,
                    Err(message) => return error(422, message),
                };
                let rotations: Vec<String> = body["rotations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|rotation| rotation["id"].as_str().or(rotation["name"].as_str()))
                    .map(str::to_owned)
                    .collect();
                let alias = body["alias"].as_str().map(str::to_owned);
                let Some(schedule) = state.schedules.get_mut(&name) else {
                    return error(404, &format!("No schedule exists with identifier [{name}]"));
                };
                match schedule
                    .overrides
                    .create(username, from, to, rotations, alias)
                {
                    Ok(alias) => {
                        state.override_bodies.push(body);
                        if let Some(status) = state.next_override_answer.take() {
                            return ResponseTemplate::new(status);
                        }
                        ResponseTemplate::new(201).set_body_json(json!({
                            "data": {"alias": alias}, "took": 0.02, "requestId": request_id
                        }))
                    }
                    Err(message) => error(422, message),
                }
            }
            EndpointKind::Override | EndpointKind::ListOverrides => {
                let name = path_segment(request, 2);
                let Some(schedule) = state.schedules.get_mut(&name) else {
                    return error(404, &format!("No schedule exists with identifier [{name}]"));
                };
                let shown = |known: &SimOverride| {
                    let date =
                        |time: SystemTime| humantime::format_rfc3339_seconds(time).to_string();
                    json!({
                        "alias": known.alias,
                        "user": {"type": "user", "username": known.user},
                        "startDate": date(known.from), "endDate": date(known.to),
                        "rotations": known.rotations.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
                    })
                };
                if matches!(self.kind, EndpointKind::ListOverrides) {
                    let all: Vec<Value> = schedule.overrides.all().iter().map(shown).collect();
                    return ResponseTemplate::new(200).set_body_json(json!({
                        "data": all, "took": 0.01, "requestId": request_id
                    }));
                }
                let alias = path_segment(request, 4);
                let missing = || error(404, &format!("No override exists with alias [{alias}]"));
                match request.method.as_str() {
                    "DELETE" if schedule.overrides.delete(&alias) => ResponseTemplate::new(200)
                        .set_body_json(json!({
                            "result": "Deleted", "took": 0.01, "requestId": request_id
                        })),
                    "GET" => match schedule.overrides.get(&alias) {
                        Some(known) => ResponseTemplate::new(200).set_body_json(json!({
                            "data": shown(known), "took": 0.01, "requestId": request_id
                        })),
                        None => missing(),
                    },
                    _ => missing(),
                }
            }
            EndpointKind::CreateAlert => {
                let Ok(alert) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Could not parse the request body");
                };
                if let Some(refusal) = super::alert_refusal(&alert) {
                    return error(422, refusal);
                }
                if let Some(alias) = alert["alias"].as_str() {
                    state.book.raised(alias);
                }
                state.alerts.push(alert);
                ResponseTemplate::new(202)
                    .set_body_json(json!({
                        "result": "Request will be processed", "took": 0.02, "requestId": request_id
                    }))
                    .set_delay(state.alert_delay)
            }
        }
    }
}

fn timeline(schedule: &Schedule) -> Vec<Value> {
    let date = |time: SystemTime| humantime::format_rfc3339_seconds(time).to_string();
    schedule
        .rotations
        .iter()
        .enumerate()
        .map(|(index, rotation)| {
            let periods: Vec<Value> = schedule
                .periods(index)
                .into_iter()
                .map(|(email, from, to, is_override)| {
                    json!({
                        "startDate": date(from),
                        "endDate": date(to),
                        "type": if is_override { "override" } else { "default" },
                        "recipient": {"id": format!("id-{email}"), "type": "user", "name": email}
                    })
                })
                .collect();
            json!({
                "id": format!("rotation-{index}"), "name": rotation.name,
                "order": (index + 1) as f64, "periods": periods
            })
        })
        .collect()
}
