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

/// Who an override puts on call.
#[derive(Debug, Deserialize)]
pub struct Responder {
    #[serde(default)]
    pub id: String,
}
