//! Configuration: the command line and its environment variables ([`args`]), the
//! optional TOML file ([`file`]), and the checked settings they make together
//! ([`settings`]).

pub mod args;
pub mod file;
pub mod settings;

#[cfg(feature = "simulator")]
pub use args::DemoArgs;
pub use args::{AppArgs, Cli, Command, LogFormat, ProviderKind, ServeArgs, SyncArgs};
pub use settings::{
    ConfigError, Missing, OpsGenieConfig, ServeConfig, SlackConfig, SourceConfig, SyncConfig,
    WebhookTokens,
};
