//! oncall-bot: answers "who is on call?" in Slack threads from an OpsGenie (or JSM
//! Operations) schedule.
//!
//! Every arrow points one way: edge → domain → clients → plain types.
//! - [`model`]: plain types; imports nothing from the crate. [`outbound`] (REST
//!   plumbing) and [`metrics`] sit beside it.
//! - [`slack`] and [`providers`]: one module per outside system, knowing only the
//!   layers below.
//! - [`oncall`], [`alerting`], [`alert_threads`], [`routing`], [`usergroup_sync`],
//!   [`bot`]: the domain, free of HTTP frameworks and wire formats.
//! - [`config`]; then the edges [`edge`] (HTTP route, Socket Mode, one intake)
//!   and [`check`]; and the composition root [`startup`].

pub mod alert_threads;
pub mod alerting;
pub mod alias;
pub mod bot;
pub mod check;
pub mod config;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod edge;
pub mod handovers;
pub mod metrics;
pub mod model;
pub mod oncall;
pub mod outbound;
pub mod overrides;
pub mod providers;
pub mod routing;
pub mod slack;
pub mod startup;
pub mod store;
pub mod supervise;
pub mod telemetry;
pub mod usergroup_sync;
pub mod workspace;
