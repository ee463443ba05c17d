//! The alert actions OpsGenie's alert API takes, and JSM's integration API
//! mirrors: `POST {alerts}/{alias}/acknowledge|close|assign|notes
//! ?identifierType=alias`, answered 202 with a request id, the outcome told by
//! `GET {alerts}/requests/{requestId}` (`isSuccess`, `status`), as the real
//! APIs do: an alias nobody raised or an alert already closed fails there, not
//! in the 202.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{lock, simulate};

/// One action the bot took on an alert, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertActionRecord {
    pub alias: String,
    /// `acknowledge`, `close`, `assign` or `notes`.
    pub action: String,
    /// Who acted: the body's `user` (OpsGenie, JSM), the `From` header
    /// (PagerDuty).
    pub by: String,
    pub body: Value,
}

/// A simulated alert's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimAlertState {
    pub acknowledged: bool,
    pub closed: bool,
    /// The owner's username.
    pub owner: Option<String>,
}

#[derive(Debug, Default)]
struct Book {
    alerts: HashMap<String, SimAlertState>,
    /// How many times each alias paged someone (a new alert, or one raised
    /// again after it was closed).
    pages: HashMap<String, u32>,
    /// How many times each alias was raised in all: OpsGenie and JSM count a
    /// second alert under an open alert's alias instead of paging again.
    raises: HashMap<String, u32>,
    requests: HashMap<String, Value>,
    actions: Vec<AlertActionRecord>,
    next: u64,
    /// The status the next action is answered with, once, after it happened.
    next_answer: Option<u16>,
}

/// The alerts of one simulated account and what was done to them.
#[derive(Debug, Clone, Default)]
pub struct AlertBook {
    book: Arc<Mutex<Book>>,
}

impl AlertBook {
    /// An alert now exists under `alias` (created through the API, or by a
    /// test): a new one pages; one raised again while open is counted, as the
    /// providers de-duplicate by alias.
    pub fn raised(&self, alias: &str) {
        let mut book = lock(&self.book);
        *book.raises.entry(alias.to_owned()).or_default() += 1;
        let open = book.alerts.get(alias).is_some_and(|alert| !alert.closed);
        if !open {
            book.alerts
                .insert(alias.to_owned(), SimAlertState::default());
            *book.pages.entry(alias.to_owned()).or_default() += 1;
        }
    }

    /// How many times `alias` paged someone.
    pub fn pages(&self, alias: &str) -> u32 {
        lock(&self.book).pages.get(alias).copied().unwrap_or(0)
    }

    /// How many times `alias` was raised, paging or counted.
    pub fn raises(&self, alias: &str) -> u32 {
        lock(&self.book).raises.get(alias).copied().unwrap_or(0)
    }

    /// Every alias that paged, with how many times.
    pub fn all_pages(&self) -> HashMap<String, u32> {
        lock(&self.book).pages.clone()
    }

    /// Closes the alert, as someone in the provider's own UI would.
    pub fn close(&self, alias: &str) {
        if let Some(alert) = lock(&self.book).alerts.get_mut(alias) {
            alert.closed = true;
        }
    }

    pub fn state(&self, alias: &str) -> Option<SimAlertState> {
        lock(&self.book).alerts.get(alias).cloned()
    }

    /// Every action received, in order.
    pub fn actions(&self) -> Vec<AlertActionRecord> {
        lock(&self.book).actions.clone()
    }

    /// Serves the action and request-status routes under `alerts_path`
    /// (`/v2/alerts`), for requests carrying `authorization`.
    pub(crate) async fn mount(
        &self,
        server: &MockServer,
        alerts_path: &str,
        authorization: String,
    ) {
        let actions = Mock::given(method("POST")).and(path_regex(format!(
            "^{alerts_path}/[^/]+/(acknowledge|close|assign|notes)$"
        )));
        let alert_authorization = authorization.clone();
        let action = Route {
            book: self.clone(),
            authorization: authorization.clone(),
            kind: RouteKind::Action,
        };
        simulate(server, actions, action).await;
        let statuses =
            Mock::given(method("GET")).and(path_regex(format!("^{alerts_path}/requests/[^/]+$")));
        let status = Route {
            book: self.clone(),
            authorization,
            kind: RouteKind::RequestStatus,
        };
        simulate(server, statuses, status).await;
        let alerts = Mock::given(method("GET")).and(path_regex(format!("^{alerts_path}/[^/]+$")));
        let alert = Route {
            book: self.clone(),
            authorization: alert_authorization,
            kind: RouteKind::Alert,
        };
        simulate(server, alerts, alert).await;
    }

    /// Whether the alert under `alias` was closed (by a test, or an action).
    pub(crate) fn is_closed(&self, alias: &str) -> bool {
        lock(&self.book)
            .alerts
            .get(alias)
            .is_some_and(|alert| alert.closed)
    }

    /// Records an action a provider with its own incident store took (the
    /// simulated PagerDuty), keeps the alert's state in step, and gives the
    /// status to answer with instead, when [`Self::act_then_answer`] set one.
    pub(crate) fn acted(&self, record: AlertActionRecord, state: SimAlertState) -> Option<u16> {
        let mut book = lock(&self.book);
        book.alerts.insert(record.alias.clone(), state);
        book.actions.push(record);
        book.next_answer.take()
    }

    /// Makes the next action on an alert happen, but answers it with
    /// `status` (a proxy's 502, a timeout's 504): the bot cannot know it
    /// landed.
    pub fn act_then_answer(&self, status: u16) {
        lock(&self.book).next_answer = Some(status);
    }
}

enum RouteKind {
    Action,
    RequestStatus,
    /// `GET {alerts}/{alias}?identifierType=alias`: the alert as it stands.
    Alert,
}

struct Route {
    book: AlertBook,
    authorization: String,
    kind: RouteKind,
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message, "took": 0.001, "requestId": "0000-sim"
    }))
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let presented = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if presented != self.authorization {
            return error(401, "Key format is not valid!");
        }
        let segments: Vec<String> = request
            .url
            .path_segments()
            .map(|segments| {
                segments
                    .map(|segment| percent_decode_str(segment).decode_utf8_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut book = lock(&self.book.book);
        match self.kind {
            RouteKind::Alert => {
                let alias = segments.last().cloned().unwrap_or_default();
                match book.alerts.get(&alias) {
                    Some(alert) => ResponseTemplate::new(200).set_body_json(json!({
                        "data": {
                            "alias": alias, "acknowledged": alert.acknowledged,
                            "status": if alert.closed { "closed" } else { "open" },
                            "owner": alert.owner.clone().unwrap_or_default(),
                        },
                        "took": 0.001, "requestId": "sim-get"
                    })),
                    None => error(404, "Alert does not exist"),
                }
            }
            RouteKind::RequestStatus => {
                let id = segments.last().cloned().unwrap_or_default();
                match book.requests.get(&id) {
                    Some(status) => ResponseTemplate::new(200).set_body_json(json!({
                        "data": status, "took": 0.001, "requestId": id
                    })),
                    None => error(404, "Request not found. It might not be processed, yet."),
                }
            }
            RouteKind::Action => {
                let [.., alias, action] = segments.as_slice() else {
                    return error(404, "Not found");
                };
                let by_alias = request
                    .url
                    .query_pairs()
                    .any(|(key, value)| key == "identifierType" && value == "alias");
                if !by_alias {
                    return error(400, "identifierType must be alias for this simulation");
                }
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return error(400, "Could not parse the request body");
                };
                if action == "assign" && body["owner"]["username"].as_str().is_none() {
                    return error(422, "Owner can not be empty");
                }
                if action == "notes" && body["note"].as_str().is_none_or(str::is_empty) {
                    return error(422, "Note can not be empty");
                }
                book.actions.push(AlertActionRecord {
                    alias: alias.clone(),
                    action: action.clone(),
                    by: body["user"].as_str().unwrap_or_default().to_owned(),
                    body: body.clone(),
                });
                book.next += 1;
                let request_id = format!("sim-action-{:06}", book.next);
                let verb = match action.as_str() {
                    "acknowledge" => "Acknowledge",
                    "close" => "Close",
                    "assign" => "Assign",
                    _ => "AddNote",
                };
                let outcome = match book.alerts.get_mut(alias.as_str()) {
                    None => Err("Alert does not exist"),
                    Some(alert) if alert.closed && action != "notes" => {
                        Err("Alert is already closed")
                    }
                    Some(alert) => {
                        match action.as_str() {
                            "acknowledge" => alert.acknowledged = true,
                            "close" => alert.closed = true,
                            "assign" => {
                                alert.owner = body["owner"]["username"].as_str().map(str::to_owned)
                            }
                            _ => {}
                        }
                        Ok(())
                    }
                };
                let status = match outcome {
                    Ok(()) => json!({
                        "success": true, "action": verb, "isSuccess": true,
                        "status": format!("{verb} request processed"), "alias": alias
                    }),
                    Err(reason) => json!({
                        "success": false, "action": verb, "isSuccess": false,
                        "status": reason, "alias": alias
                    }),
                };
                book.requests.insert(request_id.clone(), status);
                if let Some(status) = book.next_answer.take() {
                    return ResponseTemplate::new(status);
                }
                ResponseTemplate::new(202).set_body_json(json!({
                    "result": "Request will be processed", "took": 0.01, "requestId": request_id
                }))
            }
        }
    }
}
