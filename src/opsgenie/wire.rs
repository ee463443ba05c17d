//! OpsGenie's JSON, as far as the bot reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /v2/schedules/{id}/on-calls?flat=true`
#[derive(Debug, Deserialize)]
pub struct OnCallsResponse {
    pub data: OnCallsData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnCallsData {
    /// Usernames (emails) of the people on call; absent or empty when nobody is.
    #[serde(default)]
    pub on_call_recipients: Vec<String>,
}

/// The body of an OpsGenie error answer.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
}

/// `POST /v2/alerts` (JSM's integration API takes the same body).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAlertBody<'a> {
    pub message: &'a str,
    pub alias: &'a str,
    pub description: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<Responder<'a>>,
    pub tags: &'a [String],
    pub details: &'a BTreeMap<String, String>,
    pub source: &'a str,
    pub priority: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Responder<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub name: &'a str,
}

/// OpsGenie's 202 answer to an accepted request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedResponse {
    #[serde(default)]
    pub request_id: String,
}

/// `GET /v2/schedules/{id}/timeline`
#[derive(Debug, Deserialize)]
pub struct TimelineResponse {
    pub data: TimelineData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineData {
    pub final_timeline: Option<Timeline>,
}

#[derive(Debug, Deserialize)]
pub struct Timeline {
    #[serde(default)]
    pub rotations: Vec<TimelineRotation>,
}

#[derive(Debug, Deserialize)]
pub struct TimelineRotation {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub order: f64,
    #[serde(default)]
    pub periods: Vec<TimelinePeriod>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelinePeriod {
    pub start_date: String,
    pub end_date: String,
    /// `default`, `override`, `forwarding`, `historical`.
    #[serde(rename = "type", default)]
    pub kind: String,
    pub recipient: Option<TimelineRecipient>,
}

#[derive(Debug, Deserialize)]
pub struct TimelineRecipient {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

impl<'a> From<&'a crate::alerting::Alert> for CreateAlertBody<'a> {
    fn from(alert: &'a crate::alerting::Alert) -> Self {
        Self {
            message: &alert.message,
            alias: &alert.alias,
            description: &alert.description,
            responders: alert
                .team
                .iter()
                .map(|team| Responder {
                    kind: "team",
                    name: team,
                })
                .collect(),
            tags: &alert.tags,
            details: &alert.details,
            source: &alert.source,
            priority: alert.priority.as_str(),
        }
    }
}
