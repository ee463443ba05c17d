//! OpsGenie's JSON, as far as the bot reads it. Private to the client.

use serde::Deserialize;

use crate::providers::timeline::FinalTimeline;

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
    pub data: FinalTimeline,
}
