//! OpsGenie's REST API: who is on call for a schedule.

mod client;
mod wire;

pub use client::{OpsGenieClient, OpsGenieError, EU_API_URL, US_API_URL};
pub use wire::CreateAlertBody;
