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

/// `POST /v2/alerts`
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
