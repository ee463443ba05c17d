//! Slack: the Web API client, request signatures, and event payloads turned into
//! the bot's own types.

mod api;
mod blocks;
pub mod commands;
pub mod events;
pub mod interactions;
pub mod markup;
pub mod signature;

pub use api::{Grant, ResponseKind, SlackApi, SlackError, SlackUser, DEFAULT_SLACK_API_URL};
pub use blocks::{form_errors, MAX_NOTE_CHARS, MAX_VIEW_BLOCKS};
