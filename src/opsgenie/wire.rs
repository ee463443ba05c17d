//! OpsGenie's JSON, as far as the bot reads it.

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

/// The body of an OpsGenie error answer.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
}
