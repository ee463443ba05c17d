//! The edges where Slack's events come in: the HTTP Events API route
//! ([`http`], served by [`server`]) and the Socket Mode loop ([`socket_mode`]),
//! two thin front doors
//! that both hand a parsed [`Envelope`](crate::slack::events::Envelope) to the one
//! [`inbox`] (dedupe, in-flight bookkeeping, spawn, drain).

pub mod http;
pub mod inbox;
mod recent;
pub mod server;
pub mod socket_mode;

pub use inbox::Inbox;
