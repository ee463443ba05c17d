//! Slack: the Web API client, request signatures, and event payloads.

mod api;
pub mod events;
pub mod signature;
pub mod socket_mode;

pub use api::{SlackApi, SlackError, DEFAULT_SLACK_API_URL};
