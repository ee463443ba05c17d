//! OpsGenie's JSON, as far as the bot reads it. Private to the client.

use serde::Deserialize;

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
