//! PagerDuty: the REST API for schedules, people, incidents and overrides; the
//! Events API v2 for raising incidents; v3 webhooks for what happens to them.

mod client;
mod incidents;
mod overrides;
pub mod webhook;
mod wire;

pub use client::{
    PagerDutyClient, PagerDutyConfig, PagerDutyError, EU_API_URL, EU_EVENTS_URL, FINAL_SCHEDULE,
    US_API_URL, US_EVENTS_URL,
};
pub use incidents::severity;
