//! Jira Service Management (JSM) Operations, OpsGenie's successor: who is on call,
//! and alerts through its integration API.

mod client;
mod wire;

pub use client::{JsmClient, JsmConfig, JsmError, DEFAULT_JSM_API_URL};
