//! oncall-bot: answers "who is on call?" in Slack threads from an OpsGenie schedule.
//!
//! - [`slack`] and [`opsgenie`]: one module per outside system.
//! - [`oncall`] and [`bot`]: the domain, free of HTTP frameworks and wire formats.
//! - [`server`], [`config`], [`startup`]: the edges and the composition root.

pub mod alerting;
pub mod bot;
pub mod check;
pub mod config;
pub mod config_file;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod jsm;
pub mod metrics;
pub mod oncall;
pub mod opsgenie;
pub mod outbound;
pub mod routing;
pub mod server;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod slack;
pub mod startup;
pub mod telemetry;
pub mod usergroup_sync;
