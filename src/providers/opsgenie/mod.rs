//! OpsGenie's REST API: who is on call for a schedule, its rotations, and alerts.

mod client;
mod wire;

pub use client::{OpsGenieClient, EU_API_URL, US_API_URL};
