//! A simulated Slack workspace, OpsGenie account, JSM site and PagerDuty
//! account on loopback: stateful fakes
//! that answer like the real APIs (status codes, `ok: false` errors, envelopes)
//! and remember what the bot did. The integration tests, the load benchmark and
//! `oncall-bot demo` all run against these; tests mount extra wiremock mocks on
//! the same servers to inject faults (those take precedence).

mod alert_book;
pub mod events;
mod jsm;
mod opsgenie;
pub mod overrides;
pub mod pagerduty;
mod slack;
mod socket_mode;

pub use alert_book::{AlertActionRecord, AlertBook, SimAlertState};
pub use jsm::JsmSite;
pub use opsgenie::{OpsGenieAccount, SimRotation, SimShift};
pub use pagerduty::{PagerDutyAccount, PdShift, PdTarget};
pub use slack::{Ephemeral, Post, SlackWorkspace, Update, UserGroup};
pub use socket_mode::{ConnectionRecord, SocketModeServer};

use std::collections::HashMap;

/// Simulated answers are mounted at this wiremock priority, so a test's own mock
/// (default priority 5) wins over them.
const SIMULATION_PRIORITY: u8 = 100;

/// The `index`th segment of the request's path, percent-decoded; empty when
/// the path is shorter.
fn path_segment(request: &wiremock::Request, index: usize) -> String {
    request
        .url
        .path_segments()
        .and_then(|mut segments| segments.nth(index))
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// Mounts one simulated route on `server`, under a test's own mocks.
async fn simulate(
    server: &wiremock::MockServer,
    route: wiremock::MockBuilder,
    responder: impl wiremock::Respond + 'static,
) {
    route
        .respond_with(responder)
        .with_priority(SIMULATION_PRIORITY)
        .mount(server)
        .await;
}

/// The parameters of a Web API call, whether sent as query, form or JSON body.
/// JSON arrays become comma-separated, as Slack's form encoding has them.
fn call_parameters(request: &wiremock::Request) -> HashMap<String, String> {
    let mut parameters: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&request.body) {
        for (key, value) in body {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            parameters.insert(key, text);
        }
    } else {
        parameters.extend(url::form_urlencoded::parse(&request.body).into_owned());
    }
    parameters
}

/// Why OpsGenie's alert API (which JSM's integration API mirrors) would refuse
/// this alert body with a 422, per its documented field limits.
fn alert_refusal(alert: &serde_json::Value) -> Option<&'static str> {
    let length = |field: &str| alert[field].as_str().map_or(0, |text| text.chars().count());
    if length("message") == 0 {
        return Some("Message can not be empty.");
    }
    if length("message") > 130 {
        return Some("Message can not be longer than 130 characters.");
    }
    if length("alias") > 512 {
        return Some("Alias can not be longer than 512 characters.");
    }
    if length("description") > 15_000 {
        return Some("Description can not be longer than 15000 characters.");
    }
    let details_too_long = alert["details"].as_object().is_some_and(|details| {
        details.iter().any(|(key, value)| {
            key.chars().count() > 8_000
                || value.as_str().map_or(0, |text| text.chars().count()) > 8_000
        })
    });
    if details_too_long {
        return Some("Details keys and values can not be longer than 8000 characters.");
    }
    None
}

/// A schedule override asked for: who (the `user` field at `user_pointer`, a
/// JSON pointer), from when, until when. The `Err` is the 422's message.
fn override_of(
    body: &serde_json::Value,
    user_pointer: &str,
) -> Result<(String, std::time::SystemTime, std::time::SystemTime), &'static str> {
    let date = |field: &str| {
        body[field]
            .as_str()
            .and_then(|text| humantime::parse_rfc3339_weak(text).ok())
    };
    let (Some(user), Some(from), Some(to)) = (
        body.pointer(user_pointer)
            .and_then(serde_json::Value::as_str),
        date("startDate"),
        date("endDate"),
    ) else {
        return Err("User, start date and end date are required");
    };
    if to <= from {
        return Err("End date must be after start date");
    }
    Ok((user.to_owned(), from, to))
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
