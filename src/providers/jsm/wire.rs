//! Jira Service Management Operations and Jira Cloud JSON, as far as the bot reads it. Private to the client.

use serde::Deserialize;

/// `GET {site}/_edge/tenant_info`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub cloud_id: String,
}

/// `GET /jsm/ops/api/{cloudId}/v1/schedules?query=…`
#[derive(Debug, Deserialize)]
pub struct SchedulePage {
    #[serde(default)]
    pub values: Vec<ScheduleSummary>,
}

#[derive(Debug, Deserialize)]
pub struct ScheduleSummary {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// `GET /jsm/ops/api/{cloudId}/v1/schedules/{id}/on-calls?flat=true` (no `data`
/// envelope, unlike OpsGenie).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnCalls {
    #[serde(default)]
    pub on_call_users: Vec<String>,
}

/// `GET {site}/rest/api/3/user/bulk?accountId=…`
#[derive(Debug, Deserialize)]
pub struct UserPage {
    #[serde(default)]
    pub values: Vec<User>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub account_id: String,
    #[serde(default)]
    pub display_name: String,
    /// Absent when the person's profile hides it.
    pub email_address: Option<String>,
}

/// `GET /jsm/ops/api/{cloudId}/v1/schedules/{id}/timeline`: OpsGenie's shape
/// without the `data` envelope, people by account id (`responder`, or
/// `recipient` as OpsGenie calls it; either is read).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub final_timeline: Option<FinalTimeline>,
}

#[derive(Debug, Deserialize)]
pub struct FinalTimeline {
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
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(alias = "recipient")]
    pub responder: Option<TimelineResponder>,
}

#[derive(Debug, Deserialize)]
pub struct TimelineResponder {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub id: String,
}
