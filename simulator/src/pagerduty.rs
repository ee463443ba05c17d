//! The simulated PagerDuty account, following the contract in
//! `tests/data/pagerduty/`: the REST API (token auth, the API version in
//! `Accept`, classic pagination, 429 with `ratelimit-reset`), schedules whose
//! final schedule renders layers with overrides on top, users, incidents keyed
//! by their dedup key, overrides answered 201 with a status each, and the
//! Events API v2; and v3 webhook bodies, signed as PagerDuty signs them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{lock, path_segment, simulate, AlertBook};

/// A person of the account.
#[derive(Debug, Clone)]
struct User {
    name: String,
    email: String,
}

/// One stretch of a schedule's layers: who, from when, until when.
#[derive(Debug, Clone)]
pub struct PdShift {
    pub user: String,
    pub from: SystemTime,
    pub to: SystemTime,
}

#[derive(Debug, Clone)]
struct PdOverride {
    id: String,
    user: String,
    from: SystemTime,
    to: SystemTime,
}

#[derive(Debug, Default)]
struct Schedule {
    name: String,
    /// The layers already rendered into one sequence (the highest layer wins).
    shifts: Vec<PdShift>,
    overrides: Vec<PdOverride>,
}

/// Who one level of an escalation policy reaches: a schedule's person on
/// call, or a person always.
#[derive(Debug, Clone)]
pub enum PdTarget {
    Schedule(String),
    User(String),
}

#[derive(Debug, Clone)]
struct Incident {
    id: String,
    key: String,
    status: String,
    title: String,
    assignee: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    token: String,
    routing_key: String,
    users: BTreeMap<String, User>,
    schedules: BTreeMap<String, Schedule>,
    /// Escalation policy id → its levels, the first first.
    policies: BTreeMap<String, Vec<Vec<PdTarget>>>,
    incidents: Vec<Incident>,
    events: Vec<Value>,
    override_bodies: Vec<Value>,
    /// The most a list page holds (PagerDuty's is 100; lower to test paging).
    page_limit: usize,
    /// The next this many calls are answered 429.
    throttled: u32,
    /// The status the next override request is answered with, once it is made.
    next_override_answer: Option<u16>,
    next_id: u64,
    book: AlertBook,
}

/// A PagerDuty account on loopback.
pub struct PagerDutyAccount {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

/// A time as PagerDuty writes it: in the schedule's zone (here always
/// UTC-05:00, as for a schedule in New York in winter), not in UTC.
fn date(time: SystemTime) -> String {
    let local = time
        .checked_sub(std::time::Duration::from_secs(5 * 3600))
        .unwrap_or(time);
    humantime::format_rfc3339_seconds(local)
        .to_string()
        .replace('Z', "-05:00")
}

fn parse_date(text: Option<&str>) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text?).ok()
}

fn user_reference(id: &str, user: Option<&User>) -> Value {
    json!({
        "id": id, "type": "user_reference",
        "summary": user.map(|user| user.name.clone()).unwrap_or_default(),
        "self": format!("https://api.pagerduty.com/users/{id}"),
    })
}

impl PagerDutyAccount {
    /// An account whose REST API key is `token` and whose Events API
    /// integration key is `routing_key`.
    pub async fn start(token: &str, routing_key: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            routing_key: routing_key.to_owned(),
            page_limit: 100,
            ..State::default()
        }));
        let server = MockServer::start().await;
        let routes: [(&'static str, wiremock::MockBuilder); 13] = [
            (
                "schedules",
                Mock::given(method("GET")).and(path("/schedules")),
            ),
            (
                "schedule",
                Mock::given(method("GET")).and(path_regex(r"^/schedules/[^/]+$")),
            ),
            (
                "list_overrides",
                Mock::given(method("GET")).and(path_regex(r"^/schedules/[^/]+/overrides$")),
            ),
            (
                "create_overrides",
                Mock::given(method("POST")).and(path_regex(r"^/schedules/[^/]+/overrides$")),
            ),
            (
                "delete_override",
                Mock::given(method("DELETE"))
                    .and(path_regex(r"^/schedules/[^/]+/overrides/[^/]+$")),
            ),
            ("users", Mock::given(method("GET")).and(path("/users"))),
            (
                "user",
                Mock::given(method("GET")).and(path_regex(r"^/users/[^/]+$")),
            ),
            (
                "incidents",
                Mock::given(method("GET")).and(path("/incidents")),
            ),
            (
                "incident",
                Mock::given(method("GET")).and(path_regex(r"^/incidents/[^/]+$")),
            ),
            (
                "update_incident",
                Mock::given(method("PUT")).and(path_regex(r"^/incidents/[^/]+$")),
            ),
            (
                "enqueue",
                Mock::given(method("POST")).and(path("/v2/enqueue")),
            ),
            ("oncalls", Mock::given(method("GET")).and(path("/oncalls"))),
            (
                "escalation_policy",
                Mock::given(method("GET")).and(path_regex(r"^/escalation_policies/[^/]+$")),
            ),
        ];
        for (kind, route) in routes {
            let state = Arc::clone(&state);
            simulate(&server, route, Endpoint { kind, state }).await;
        }
        Self { server, state }
    }

    /// The REST API's and the Events API's base URL (`PAGERDUTY_API_URL`,
    /// `PAGERDUTY_EVENTS_URL`).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Adds a person, by their id (`PUSR001`).
    pub fn add_user(&self, id: &str, name: &str, email: &str) {
        lock(&self.state).users.insert(
            id.to_owned(),
            User {
                name: name.to_owned(),
                email: email.to_owned(),
            },
        );
    }

    /// Adds (or replaces) a schedule with its layers rendered into `shifts`.
    pub fn set_schedule(&self, id: &str, name: &str, shifts: Vec<PdShift>) {
        let mut state = lock(&self.state);
        let schedule = state.schedules.entry(id.to_owned()).or_default();
        schedule.name = name.to_owned();
        schedule.shifts = shifts;
    }

    /// Adds (or replaces) an escalation policy: each level's targets.
    pub fn set_escalation_policy(&self, id: &str, levels: Vec<Vec<PdTarget>>) {
        lock(&self.state).policies.insert(id.to_owned(), levels);
    }

    /// Lists hold at most `limit` items a page.
    pub fn set_page_limit(&self, limit: usize) {
        lock(&self.state).page_limit = limit.max(1);
    }

    /// The next `calls` calls are answered 429 with `ratelimit-reset: 1`.
    pub fn throttle_next(&self, calls: u32) {
        lock(&self.state).throttled = calls;
    }

    /// The Events API calls received, as their bodies.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.state).events.clone()
    }

    /// The override bodies received.
    pub fn overrides(&self) -> Vec<Value> {
        lock(&self.state).override_bodies.clone()
    }

    /// Makes the next override, but answers its request with `status` (a
    /// proxy's 502): the bot cannot know it landed.
    pub fn make_next_override_then_answer(&self, status: u16) {
        lock(&self.state).next_override_answer = Some(status);
    }

    /// The overrides every schedule holds now: (schedule id, override id,
    /// user id, from, to).
    pub fn every_live_override(&self) -> Vec<(String, String, String, SystemTime, SystemTime)> {
        lock(&self.state)
            .schedules
            .iter()
            .flat_map(|(schedule, held)| {
                held.overrides
                    .iter()
                    .map(|o| (schedule.clone(), o.id.clone(), o.user.clone(), o.from, o.to))
            })
            .collect()
    }

    /// The overrides `schedule` holds now: (id, user id, from, to).
    pub fn live_overrides(&self, schedule: &str) -> Vec<(String, String, SystemTime, SystemTime)> {
        lock(&self.state)
            .schedules
            .get(schedule)
            .map(|schedule| {
                schedule
                    .overrides
                    .iter()
                    .map(|o| (o.id.clone(), o.user.clone(), o.from, o.to))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Which incidents paged, and how often each key was raised.
    pub fn alert_book(&self) -> AlertBook {
        lock(&self.state).book.clone()
    }

    /// The incident raised under `key`: (id, status, assignee's user id).
    pub fn incident(&self, key: &str) -> Option<(String, String, Option<String>)> {
        lock(&self.state)
            .incidents
            .iter()
            .find(|incident| incident.key == key)
            .map(|incident| {
                (
                    incident.id.clone(),
                    incident.status.clone(),
                    incident.assignee.clone(),
                )
            })
    }

    /// An incident opened under `key` by something else than the bot (another
    /// integration, someone in PagerDuty's UI).
    pub fn open_incident(&self, key: &str, title: &str) {
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = format!("PINC{:03}", state.next_id);
        state.incidents.push(Incident {
            id,
            key: key.to_owned(),
            status: "triggered".to_owned(),
            title: title.to_owned(),
            assignee: None,
        });
    }

    /// Someone reassigns the incident in PagerDuty itself (to nobody: `None`).
    pub fn set_incident_assignee(&self, key: &str, user: Option<&str>) {
        if let Some(incident) = lock(&self.state)
            .incidents
            .iter_mut()
            .find(|incident| incident.key == key)
        {
            incident.assignee = user.map(str::to_owned);
        }
    }

    /// Someone acts on the incident in PagerDuty itself.
    pub fn set_incident_status(&self, key: &str, status: &str) {
        if let Some(incident) = lock(&self.state)
            .incidents
            .iter_mut()
            .find(|incident| incident.key == key)
        {
            incident.status = status.to_owned();
        }
    }
}

/// A v3 webhook delivery about the incident raised under `key`: its body, for
/// `event_type` (`incident.acknowledged`, …), by the user `agent` (none:
/// automation), shaped like the contract's samples.
pub fn webhook_body(
    account: &PagerDutyAccount,
    event_type: &str,
    key: &str,
    agent: Option<&str>,
    occurred_at: &str,
    note: Option<&str>,
) -> String {
    let state = lock(&account.state);
    let incident = state.incidents.iter().find(|incident| incident.key == key);
    let (id, status, title, assignee) = incident.map_or_else(
        || {
            (
                "PUNKNOWN".to_owned(),
                "triggered".to_owned(),
                String::new(),
                None,
            )
        },
        |incident| {
            (
                incident.id.clone(),
                incident.status.clone(),
                incident.title.clone(),
                incident.assignee.clone(),
            )
        },
    );
    let agent = agent.map(|id| user_reference(id, state.users.get(id)));
    let data = if event_type == "incident.annotated" {
        json!({
            "incident": {"id": id, "type": "incident_reference",
                          "self": format!("https://api.pagerduty.com/incidents/{id}")},
            "id": "PNOTE01", "content": note.unwrap_or_default(), "trimmed": false,
            "type": "incident_note"
        })
    } else {
        json!({
            "id": id, "type": "incident", "number": 42, "status": status,
            "incident_key": key, "title": title, "created_at": "2030-01-15T09:00:00Z",
            "self": format!("https://api.pagerduty.com/incidents/{id}"),
            "html_url": format!("https://example.pagerduty.com/incidents/{id}"),
            "service": {"id": "PSVC001", "type": "service_reference", "summary": "Simulated"},
            "assignees": assignee.iter().map(|who| user_reference(who, state.users.get(who))).collect::<Vec<_>>(),
            "escalation_policy": {"id": "PESC001", "type": "escalation_policy_reference"},
            "teams": [], "priority": null, "urgency": "high", "conference_bridge": null,
            "resolve_reason": null
        })
    };
    json!({"event": {
        "id": format!("01{:016x}", rand_id(&format!("{event_type}\n{key}\n{occurred_at}\n{note:?}\n{agent:?}"))), "event_type": event_type,
        "resource_type": if event_type == "incident.annotated" { "incident_note" } else { "incident" },
        "occurred_at": occurred_at, "agent": agent, "client": null, "data": data
    }})
    .to_string()
}

/// A stable number from a string, for ids in bodies.
fn rand_id(seed: &str) -> u64 {
    seed.bytes().fold(1469598103934665603u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(1099511628211)
    })
}

/// PagerDuty's v3 signature of `body` with `secret`: `v1=` and the hex HMAC.
/// Written here from PagerDuty's description, independently of the bot's.
pub fn webhook_signature(secret: &str, body: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

struct Endpoint {
    kind: &'static str,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, message: &str, errors: &[&str]) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"message": message, "code": 2001, "errors": errors}}))
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        if state.throttled > 0 {
            state.throttled -= 1;
            return error(429, "Rate Limit Exceeded", &[]).insert_header("ratelimit-reset", "1");
        }
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        if self.kind == "enqueue" {
            return enqueue(&mut state, request);
        }
        if header("authorization") != format!("Token token={}", state.token) {
            return error(401, "Authentication failed", &[]);
        }
        if !header("accept").contains("application/vnd.pagerduty+json;version=2") {
            return error(
                406,
                "Not Acceptable: send Accept: application/vnd.pagerduty+json;version=2",
                &[],
            );
        }
        let segment = |index: usize| path_segment(request, index);
        match self.kind {
            "schedules" => {
                let wanted = query
                    .get("query")
                    .cloned()
                    .unwrap_or_default()
                    .to_lowercase();
                let matching: Vec<Value> = state
                    .schedules
                    .iter()
                    .filter(|(_, schedule)| schedule.name.to_lowercase().contains(&wanted))
                    .map(|(id, schedule)| json!({"id": id, "name": schedule.name, "type": "schedule"}))
                    .collect();
                paged("schedules", &matching, &query, state.page_limit)
            }
            "schedule" => {
                let id = segment(1);
                let Some(schedule) = state.schedules.get(&id) else {
                    return error(404, "Not Found", &[]);
                };
                let since = parse_date(query.get("since").map(String::as_str))
                    .unwrap_or_else(SystemTime::now);
                let until = parse_date(query.get("until").map(String::as_str))
                    .unwrap_or(since + std::time::Duration::from_secs(14 * 86_400));
                let (final_entries, override_entries) =
                    render(schedule, since, until, &state.users);
                ResponseTemplate::new(200).set_body_json(json!({"schedule": {
                    "id": id, "type": "schedule", "name": schedule.name, "time_zone": "UTC",
                    "final_schedule": {"name": "Final Schedule", "rendered_schedule_entries": final_entries},
                    "overrides_subschedule": {"name": "Overrides", "rendered_schedule_entries": override_entries}
                }}))
            }
            "list_overrides" => {
                let Some(schedule) = state.schedules.get(&segment(1)) else {
                    return error(404, "Not Found", &[]);
                };
                let (Some(since), Some(until)) = (
                    parse_date(query.get("since").map(String::as_str)),
                    parse_date(query.get("until").map(String::as_str)),
                ) else {
                    return error(
                        400,
                        "Invalid Input Provided",
                        &["since and until are required"],
                    );
                };
                let overrides: Vec<Value> = schedule
                    .overrides
                    .iter()
                    .filter(|o| o.to > since && o.from < until)
                    .map(|o| {
                        json!({"id": o.id, "start": date(o.from), "end": date(o.to),
                                    "user": user_reference(&o.user, state.users.get(&o.user))})
                    })
                    .collect();
                ResponseTemplate::new(201).set_body_json(json!({"overrides": overrides}))
            }
            "create_overrides" => {
                let id = segment(1);
                if !state.schedules.contains_key(&id) {
                    return error(404, "Not Found", &[]);
                }
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Invalid Input Provided", &["the body is not JSON"]);
                };
                state.override_bodies.push(body.clone());
                let mut answers = Vec::new();
                for asked in body["overrides"].as_array().cloned().unwrap_or_default() {
                    let user = asked["user"]["id"].as_str().unwrap_or_default().to_owned();
                    let from = parse_date(asked["start"].as_str());
                    let to = parse_date(asked["end"].as_str());
                    match (from, to) {
                        (Some(from), Some(to)) if to > from && state.users.contains_key(&user) => {
                            state.next_id += 1;
                            let made = PdOverride {
                                id: format!("POVR{:03}", state.next_id),
                                user,
                                from,
                                to,
                            };
                            answers.push(json!({"status": 201, "errors": [], "override": {
                                "id": made.id, "start": date(from), "end": date(to),
                                "user": {"id": made.user, "type": "user_reference"}
                            }}));
                            if let Some(schedule) = state.schedules.get_mut(&id) {
                                schedule.overrides.push(made);
                            }
                        }
                        _ => answers.push(json!({"status": 400,
                            "errors": ["Override must have a valid user and end after it starts"],
                            "override": asked})),
                    }
                }
                if let Some(status) = state.next_override_answer.take() {
                    return ResponseTemplate::new(status);
                }
                ResponseTemplate::new(201).set_body_json(Value::Array(answers))
            }
            "delete_override" => {
                let (schedule, made) = (segment(1), segment(3));
                let Some(schedule) = state.schedules.get_mut(&schedule) else {
                    return error(404, "Not Found", &[]);
                };
                let before = schedule.overrides.len();
                schedule.overrides.retain(|o| o.id != made);
                if schedule.overrides.len() == before {
                    return error(404, "Not Found", &[]);
                }
                ResponseTemplate::new(200).set_body_json(json!({}))
            }
            "users" => {
                let wanted = query
                    .get("query")
                    .cloned()
                    .unwrap_or_default()
                    .to_lowercase();
                let users: Vec<Value> = state
                    .users
                    .iter()
                    .filter(|(_, user)| {
                        user.email.to_lowercase().contains(&wanted)
                            || user.name.to_lowercase().contains(&wanted)
                    })
                    .map(|(id, user)| json!({"id": id, "name": user.name, "email": user.email, "type": "user"}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "users": users, "limit": 25, "offset": 0, "more": false, "total": null
                }))
            }
            "user" => match state.users.get(&segment(1)) {
                Some(user) => ResponseTemplate::new(200).set_body_json(json!({"user": {
                    "id": segment(1), "type": "user", "name": user.name, "email": user.email
                }})),
                None => error(404, "Not Found", &[]),
            },
            "incidents" => {
                let key = query.get("incident_key").cloned();
                let incidents: Vec<Value> = state
                    .incidents
                    .iter()
                    .filter(|incident| key.as_ref().is_none_or(|key| incident.key == *key))
                    .map(incident_json)
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "incidents": incidents, "limit": 25, "offset": 0, "more": false, "total": null
                }))
            }
            "incident" => match state
                .incidents
                .iter()
                .find(|incident| incident.id == segment(1))
            {
                Some(incident) => ResponseTemplate::new(200)
                    .set_body_json(json!({"incident": incident_json(incident)})),
                None => error(404, "Not Found", &[]),
            },
            "update_incident" => {
                let from = header("from");
                if from.is_empty() {
                    return error(400, "You must specify a user's email address in the \"From\" header to perform this action", &[]);
                }
                if !state
                    .users
                    .values()
                    .any(|user| user.email.eq_ignore_ascii_case(&from))
                {
                    return error(400, "Invalid Input Provided", &["Requester User Not Found"]);
                }
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Invalid Input Provided", &["the body is not JSON"]);
                };
                let known: Vec<String> = state.users.keys().cloned().collect();
                let emails: BTreeMap<String, String> = state
                    .users
                    .iter()
                    .map(|(id, user)| (id.clone(), user.email.clone()))
                    .collect();
                let book = state.book.clone();
                let Some(incident) = state
                    .incidents
                    .iter_mut()
                    .find(|incident| incident.id == segment(1))
                else {
                    return error(404, "Not Found", &[]);
                };
                // Resolved here, or closed by a test through the shared book.
                if incident.status == "resolved" || book.is_closed(&incident.key) {
                    incident.status = "resolved".to_owned();
                    return error(
                        400,
                        "Incident Already Resolved",
                        &["Incident Already Resolved"],
                    );
                }
                let mut action = "acknowledge";
                if let Some(status) = body["incident"]["status"].as_str() {
                    incident.status = status.to_owned();
                    if status == "resolved" {
                        action = "close";
                    }
                }
                if let Some(assignee) =
                    body["incident"]["assignments"][0]["assignee"]["id"].as_str()
                {
                    if !known.iter().any(|id| id == assignee) {
                        return error(400, "Invalid Input Provided", &["Assignee not found"]);
                    }
                    incident.assignee = Some(assignee.to_owned());
                    action = "assign";
                }
                let mirrored = crate::SimAlertState {
                    acknowledged: incident.status == "acknowledged",
                    closed: incident.status == "resolved",
                    owner: incident
                        .assignee
                        .as_ref()
                        .and_then(|id| emails.get(id).cloned()),
                };
                let answer = incident_json(incident);
                let record = crate::AlertActionRecord {
                    alias: incident.key.clone(),
                    action: action.to_owned(),
                    by: from.to_lowercase(),
                    body,
                };
                if let Some(status) = book.acted(record, mirrored) {
                    return ResponseTemplate::new(status);
                }
                ResponseTemplate::new(200).set_body_json(json!({"incident": answer}))
            }
            "oncalls" => oncalls(&state, request, &query),
            "escalation_policy" => {
                let id = segment(1);
                match state.policies.get(&id) {
                    Some(levels) => ResponseTemplate::new(200).set_body_json(json!({
                        "escalation_policy": {"id": id, "type": "escalation_policy",
                            "name": format!("{id} policy"), "num_loops": 0,
                            "escalation_rules": levels.iter().map(|_| json!({"escalation_delay_in_minutes": 30})).collect::<Vec<_>>()}
                    })),
                    None => error(404, "Not Found", &[]),
                }
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

fn incident_json(incident: &Incident) -> Value {
    json!({
        "id": incident.id, "type": "incident", "status": incident.status,
        "incident_key": incident.key, "title": incident.title,
        "assignments": incident.assignee.iter().map(|who| json!({"assignee": {"id": who, "type": "user_reference"}})).collect::<Vec<_>>()
    })
}

/// `POST /v2/enqueue`: a trigger opens an incident under its dedup key, or
/// counts one more on the incident open under it (no new page).
fn enqueue(state: &mut State, request: &Request) -> ResponseTemplate {
    let Ok(event) = serde_json::from_slice::<Value>(&request.body) else {
        return ResponseTemplate::new(400).set_body_json(
            json!({"status": "invalid event", "message": "Event object is invalid"}),
        );
    };
    if event["routing_key"].as_str() != Some(state.routing_key.as_str()) {
        return ResponseTemplate::new(400).set_body_json(json!({
            "status": "invalid event", "message": "Event object is invalid",
            "errors": ["Invalid routing key"]
        }));
    }
    let summary = event["payload"]["summary"].as_str().unwrap_or_default();
    let severity = event["payload"]["severity"].as_str().unwrap_or_default();
    if event["event_action"] != "trigger"
        || summary.is_empty()
        || summary.chars().count() > 1024
        || !["critical", "error", "warning", "info"].contains(&severity)
        || event["payload"]["source"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    {
        return ResponseTemplate::new(400).set_body_json(json!({
            "status": "invalid event", "message": "Event object is invalid",
            "errors": ["payload.summary, payload.source and a known payload.severity are required"]
        }));
    }
    state.events.push(event.clone());
    let key = event["dedup_key"].as_str().unwrap_or_default().to_owned();
    let open = state
        .incidents
        .iter()
        .any(|incident| incident.key == key && incident.status != "resolved");
    if !open {
        state.next_id += 1;
        let id = format!("PINC{:03}", state.next_id);
        state.incidents.push(Incident {
            id,
            key: key.clone(),
            status: "triggered".to_owned(),
            title: summary.to_owned(),
            assignee: None,
        });
    }
    state.book.raised(&key);
    ResponseTemplate::new(202).set_body_json(json!({
        "status": "success", "message": "Event processed", "dedup_key": key
    }))
}

/// `GET /oncalls` for the escalation policies named: each level's people over
/// the window, a schedule's as its final schedule renders them (start and end
/// cut at the window), a person targeted directly with no start or end (always
/// on call), paginated like every list.
fn oncalls(state: &State, request: &Request, query: &BTreeMap<String, String>) -> ResponseTemplate {
    let policies: Vec<String> = request
        .url
        .query_pairs()
        .filter(|(name, _)| name == "escalation_policy_ids[]")
        .map(|(_, value)| value.into_owned())
        .collect();
    let since = parse_date(query.get("since").map(String::as_str)).unwrap_or_else(SystemTime::now);
    let until = parse_date(query.get("until").map(String::as_str)).unwrap_or(since);
    let mut all = Vec::new();
    for (policy, levels) in &state.policies {
        if !policies.is_empty() && !policies.contains(policy) {
            continue;
        }
        let policy_ref = json!({"id": policy, "type": "escalation_policy_reference"});
        for (index, targets) in levels.iter().enumerate() {
            for target in targets {
                match target {
                    PdTarget::User(user) => all.push(json!({
                        "escalation_policy": policy_ref, "escalation_level": index + 1,
                        "user": user_reference(user, state.users.get(user)),
                        "schedule": null, "start": null, "end": null
                    })),
                    PdTarget::Schedule(id) => {
                        let Some(schedule) = state.schedules.get(id) else {
                            continue;
                        };
                        let (finals, _) = render(schedule, since, until.max(since), &state.users);
                        for entry in finals {
                            all.push(json!({
                                "escalation_policy": policy_ref, "escalation_level": index + 1,
                                "user": entry["user"],
                                "schedule": {"id": id, "type": "schedule_reference", "summary": schedule.name},
                                "start": entry["start"], "end": entry["end"]
                            }));
                        }
                    }
                }
            }
        }
    }
    paged("oncalls", &all, query, state.page_limit)
}

/// One page of a classic-paginated list, as PagerDuty answers it: at most the
/// `limit` asked (25 by default) and the account's page size, from `offset`,
/// with `more` and the `limit` used.
fn paged(
    name: &str,
    all: &[Value],
    query: &BTreeMap<String, String>,
    page_limit: usize,
) -> ResponseTemplate {
    let number = |key: &str| query.get(key).and_then(|value| value.parse::<usize>().ok());
    let limit = number("limit").unwrap_or(25).min(page_limit);
    let offset = number("offset").unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let more = offset + page.len() < all.len();
    ResponseTemplate::new(200).set_body_json(json!({
        name: page, "limit": limit, "offset": offset, "more": more, "total": null
    }))
}

/// The final schedule over `since` .. `until`: the layers' shifts, with each
/// override taking its span over whoever was on; and the overrides alone.
fn render(
    schedule: &Schedule,
    since: SystemTime,
    until: SystemTime,
    users: &BTreeMap<String, User>,
) -> (Vec<Value>, Vec<Value>) {
    // Cut points: every shift's and override's edges within the window.
    let mut cuts: Vec<SystemTime> = vec![since, until];
    for shift in &schedule.shifts {
        cuts.extend([shift.from, shift.to]);
    }
    for o in &schedule.overrides {
        cuts.extend([o.from, o.to]);
    }
    cuts.retain(|cut| *cut >= since && *cut <= until);
    cuts.sort();
    cuts.dedup();
    let mut entries: Vec<(String, SystemTime, SystemTime)> = Vec::new();
    for pair in cuts.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let who = schedule
            .overrides
            .iter()
            .rev()
            .find(|o| o.from <= from && o.to >= to)
            .map(|o| o.user.clone())
            .or_else(|| {
                schedule
                    .shifts
                    .iter()
                    .find(|shift| shift.from <= from && shift.to >= to)
                    .map(|shift| shift.user.clone())
            });
        let Some(who) = who else {
            continue;
        };
        match entries.last_mut() {
            Some(last) if last.0 == who && last.2 == from => last.2 = to,
            _ => entries.push((who, from, to)),
        }
    }
    let finals = entries
        .into_iter()
        .map(|(who, from, to)| {
            json!({"user": user_reference(&who, users.get(&who)), "start": date(from), "end": date(to)})
        })
        .collect();
    let overrides = schedule
        .overrides
        .iter()
        .filter(|o| o.to > since && o.from < until)
        .map(|o| {
            json!({"user": user_reference(&o.user, users.get(&o.user)),
                   "start": date(o.from.max(since)), "end": date(o.to.min(until))})
        })
        .collect();
    (finals, overrides)
}
