//! All configuration: one clap tree, every value from an environment variable.
//! Nothing else in the crate reads the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::Url;
use secrecy::SecretString;

use crate::alerting::Priority;
use crate::config_file::{self, FileError, Teams};
use crate::jsm::{JsmConfig, DEFAULT_JSM_API_URL};
use crate::oncall::BackoffPolicy;
use crate::opsgenie::{EU_API_URL, US_API_URL};
use crate::outbound::Timeouts;
use crate::routing::Routing;
use crate::slack::socket_mode::DEFAULT_RECONNECT;
use crate::slack::DEFAULT_SLACK_API_URL;
use crate::usergroup_sync::{UserGroupRef, UserGroupSpec};

#[derive(Debug, Parser)]
#[command(
    name = "oncall-bot",
    version,
    about = "Answers \"who is on call?\" in Slack"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: `text` for people, `json` for log pipelines (one object a line).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Slack Events API endpoint.
    Serve(ServeArgs),
    /// Make a Slack user group equal to the people on call, once, then exit.
    SyncUsergroup(SyncArgs),
    /// Try the configuration against Slack and OpsGenie once; say what works.
    Check(ServeArgs),
    /// Play a conversation with the real bot against a simulated Slack and
    /// OpsGenie on loopback; no credentials needed.
    #[cfg(feature = "simulator")]
    Demo(DemoArgs),
}

#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the simulated workspace running and print a curl line to poke it.
    #[arg(long)]
    pub serve: bool,
    /// The simulated on-call system: `opsgenie`, or `jsm` (JSM Operations).
    #[arg(long, value_enum, default_value_t = Provider::Opsgenie)]
    pub provider: Provider,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub slack: SlackArgs,
    /// Signing secret from the app's Basic Information page (the HTTP endpoint).
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub slack_signing_secret: Option<SecretString>,
    /// App-level token (xapp-…, scope connections:write): receive events over
    /// Socket Mode, with no public URL.
    #[arg(long, env = "SLACK_APP_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub slack_app_token: Option<SecretString>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// User group to keep equal to the people on call (handle or id); off when unset.
    #[arg(long, env = "SLACK_USERGROUP", value_parser = UserGroupRef::from_str)]
    pub slack_usergroup: Option<UserGroupRef>,
    /// Config file (TOML): teams, channel defaults, user groups, email overrides.
    #[arg(long, env = "ONCALL_CONFIG")]
    pub oncall_config: Option<PathBuf>,
    /// How often `serve` syncs the user groups.
    #[arg(long, env = "USERGROUP_SYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub usergroup_sync_interval: Duration,
    /// How long an on-call answer is cached: seconds (`300`) or a duration (`5m`).
    #[arg(long, env = "ONCALL_CACHE_TTL", default_value = "5m", value_parser = parse_duration)]
    pub oncall_cache_ttl: Duration,
    /// Address the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:3000")]
    pub listen_addr: SocketAddr,
    /// At SIGTERM/SIGINT, how long acked replies may take to finish.
    #[arg(long, env = "SHUTDOWN_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_drain_timeout: Duration,
    #[command(flatten)]
    pub http: HttpArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub slack: SlackArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// User group to keep equal to the people on call: its handle (`opsoncall`) or id.
    #[arg(long, env = "SLACK_USERGROUP", value_parser = UserGroupRef::from_str)]
    pub slack_usergroup: Option<UserGroupRef>,
    /// Config file (TOML) whose [[usergroup]] entries are synced too.
    #[arg(long, env = "ONCALL_CONFIG")]
    pub oncall_config: Option<PathBuf>,
    #[command(flatten)]
    pub http: HttpArgs,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Total time allowed for one outbound call (Slack, OpsGenie).
    #[arg(long, env = "HTTP_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub http_timeout: Duration,
    /// Time allowed to connect to Slack or OpsGenie.
    #[arg(long, env = "HTTP_CONNECT_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub http_connect_timeout: Duration,
}

impl HttpArgs {
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.http_connect_timeout,
            total: self.http_timeout,
        }
    }
}

#[derive(Debug, Args)]
pub struct SlackArgs {
    /// Bot token (xoxb-…).
    #[arg(long, env = "SLACK_BOT_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub slack_bot_token: Option<SecretString>,
    /// User token (xoxp-…) with usergroups:write, for workspaces that restrict who
    /// may edit user groups; used only for user-group calls.
    #[arg(long, env = "SLACK_USER_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub slack_user_token: Option<SecretString>,
    /// Slack Web API base URL.
    #[arg(long, env = "SLACK_API_URL", default_value = DEFAULT_SLACK_API_URL, value_parser = parse_http_url)]
    pub slack_api_url: Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Opsgenie,
    Jsm,
}

/// Where on-call answers (and alerts) come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// `opsgenie`, or `jsm` for Jira Service Management Operations.
    #[arg(long, env = "ONCALL_PROVIDER", value_enum, default_value_t = Provider::Opsgenie)]
    pub oncall_provider: Provider,
    #[command(flatten)]
    pub opsgenie: OpsGenieArgs,
    #[command(flatten)]
    pub jsm: JsmArgs,
}

#[derive(Debug, Args)]
pub struct JsmArgs {
    /// The Jira site, e.g. https://acme.atlassian.net.
    #[arg(long, env = "JSM_SITE_URL", value_parser = parse_http_url)]
    pub jsm_site_url: Option<Url>,
    /// The Atlassian account email the API token belongs to.
    #[arg(long, env = "JSM_EMAIL")]
    pub jsm_email: Option<String>,
    /// A classic Atlassian API token (HTTP basic auth with JSM_EMAIL).
    #[arg(long, env = "JSM_API_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub jsm_api_token: Option<SecretString>,
    /// The default schedule's name in JSM (else default_schedule or OPSGENIE_SCHEDULE).
    #[arg(long, env = "JSM_SCHEDULE")]
    pub jsm_schedule: Option<String>,
    /// The site's cloud id; discovered from the site when unset.
    #[arg(long, env = "JSM_CLOUD_ID")]
    pub jsm_cloud_id: Option<String>,
    /// The JSM Operations API base URL.
    #[arg(long, env = "JSM_API_URL", default_value = DEFAULT_JSM_API_URL, value_parser = parse_http_url)]
    pub jsm_api_url: Url,
    /// An API integration's key, for alerts (ALERT_ON_MENTION).
    #[arg(long, env = "JSM_INTEGRATION_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub jsm_integration_key: Option<SecretString>,
    /// Atlassian account id → Slack user id, `id=U…,id=U…`, for people whose email is hidden.
    #[arg(long, env = "JSM_ACCOUNT_OVERRIDES", value_parser = parse_account_overrides)]
    pub jsm_account_overrides: Option<HashMap<String, String>>,
}

/// The on-call source, checked.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    OpsGenie(OpsGenieConfig),
    Jsm(JsmConfig),
}

impl SourceConfig {
    /// The schedule a request that names no team is about.
    pub fn default_schedule(&self) -> &str {
        match self {
            Self::OpsGenie(config) => &config.schedule,
            Self::Jsm(config) => &config.schedule,
        }
    }
}

impl SourceArgs {
    /// The region `check` tries when an OpsGenie key is refused.
    pub fn other_region_url(&self) -> Option<Url> {
        match self.oncall_provider {
            Provider::Opsgenie => self.opsgenie.other_region_url(),
            Provider::Jsm => None,
        }
    }

    /// `file_schedule` is the config file's `default_schedule`; `alerts` says
    /// whether alerts are on (JSM then needs its integration key).
    pub fn config(
        self,
        file_schedule: Option<String>,
        alerts: bool,
    ) -> Result<SourceConfig, Missing> {
        match self.oncall_provider {
            Provider::Opsgenie => Ok(SourceConfig::OpsGenie(self.opsgenie.config(file_schedule)?)),
            Provider::Jsm => {
                let jsm = self.jsm;
                let integration_key = jsm.jsm_integration_key;
                if alerts && integration_key.is_none() {
                    return Err(Missing {
                        name: "JSM_INTEGRATION_KEY",
                        what: "an API integration's key, needed for ALERT_ON_MENTION with ONCALL_PROVIDER=jsm",
                    });
                }
                Ok(SourceConfig::Jsm(JsmConfig {
                    site_url: required(
                        jsm.jsm_site_url,
                        "JSM_SITE_URL",
                        "the Jira site (https://acme.atlassian.net)",
                    )?,
                    email: required(
                        jsm.jsm_email.filter(|email| !email.trim().is_empty()),
                        "JSM_EMAIL",
                        "the Atlassian account email of the API token",
                    )?,
                    api_token: required(
                        jsm.jsm_api_token,
                        "JSM_API_TOKEN",
                        "a classic Atlassian API token",
                    )?,
                    schedule: required(
                        jsm.jsm_schedule
                            .or(file_schedule)
                            .or(self.opsgenie.opsgenie_schedule)
                            .filter(|name| !name.trim().is_empty()),
                        "JSM_SCHEDULE",
                        "the JSM schedule's name (or default_schedule in ONCALL_CONFIG)",
                    )?,
                    cloud_id: jsm.jsm_cloud_id.filter(|id| !id.trim().is_empty()),
                    api_url: jsm.jsm_api_url,
                    integration_key,
                    account_overrides: jsm.jsm_account_overrides.unwrap_or_default(),
                }))
            }
        }
    }
}

/// `id=U…,id=U…`
fn parse_account_overrides(value: &str) -> Result<HashMap<String, String>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((account, user)) if !account.trim().is_empty() && !user.trim().is_empty() => {
                Ok((account.trim().to_owned(), user.trim().to_owned()))
            }
            _ => Err(format!(
                "expected accountId=SlackUserId pairs, got `{pair}`"
            )),
        })
        .collect()
}

#[derive(Debug, Args)]
pub struct OpsGenieArgs {
    /// OpsGenie API integration key.
    #[arg(long, env = "OPSGENIE_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub opsgenie_api_key: Option<SecretString>,
    /// Name of the OpsGenie schedule to answer for.
    #[arg(long, env = "OPSGENIE_SCHEDULE")]
    pub opsgenie_schedule: Option<String>,
    /// Where the OpsGenie account lives.
    #[arg(long, env = "OPSGENIE_REGION", value_enum, default_value_t = Region::Us)]
    pub opsgenie_region: Region,
    /// Overrides the region's API base URL (tests, proxies).
    #[arg(long, env = "OPSGENIE_API_URL", value_parser = parse_http_url)]
    pub opsgenie_api_url: Option<Url>,
}

#[derive(Debug, Args)]
pub struct AlertArgs {
    /// Raise an alert for every help request (not for `help` or `cache clear`).
    #[arg(long, env = "ALERT_ON_MENTION", default_value = "false", value_parser = BoolishValueParser::new())]
    pub alert_on_mention: bool,
    /// The alerts' priority, P1 to P5.
    #[arg(long, env = "ALERT_PRIORITY", default_value = "P4", value_parser = Priority::from_str)]
    pub alert_priority: Priority,
    /// OpsGenie team the alerts are routed to (a `responders` entry).
    #[arg(long, env = "ALERT_TEAM")]
    pub alert_team: Option<String>,
}

/// How help requests raise alerts, when they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertConfig {
    pub priority: Priority,
    pub team: Option<String>,
}

impl AlertArgs {
    pub fn config(self) -> Option<AlertConfig> {
        self.alert_on_mention.then(|| AlertConfig {
            priority: self.alert_priority,
            team: self.alert_team.filter(|team| !team.trim().is_empty()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    Us,
    Eu,
}

/// A required variable that is not set.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not set: {what}")]
pub struct Missing {
    pub name: &'static str,
    pub what: &'static str,
}

fn required<T>(value: Option<T>, name: &'static str, what: &'static str) -> Result<T, Missing> {
    value.ok_or(Missing { name, what })
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Missing(#[from] Missing),
    #[error(transparent)]
    File(#[from] FileError),
}

/// The config file's contents, or nothing when there is none.
fn load_teams(path: Option<&PathBuf>) -> Result<Teams, ConfigError> {
    Ok(match path {
        Some(path) => config_file::load(path)?,
        None => Teams::default(),
    })
}

/// The env user group (over the default schedule) and the file's, together.
fn user_groups(
    env_group: Option<UserGroupRef>,
    default_schedule: &str,
    teams: &Teams,
) -> Vec<UserGroupSpec> {
    env_group
        .map(|group| UserGroupSpec {
            group,
            schedules: vec![default_schedule.to_owned()],
            always: Vec::new(),
        })
        .into_iter()
        .chain(teams.usergroups.iter().cloned())
        .collect()
}

/// Slack settings, checked.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub bot_token: SecretString,
    /// For user-group calls, when the workspace restricts them.
    pub user_token: Option<SecretString>,
    pub api_url: Url,
}

/// OpsGenie settings, checked.
#[derive(Debug, Clone)]
pub struct OpsGenieConfig {
    pub api_key: SecretString,
    /// The default schedule: the config file's `default_schedule`, else
    /// OPSGENIE_SCHEDULE.
    pub schedule: String,
    pub api_url: Url,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub slack: SlackConfig,
    /// OpsGenie or JSM Operations.
    pub source: SourceConfig,
    /// `None` turns the Events API endpoint off (Socket Mode only).
    pub signing_secret: Option<SecretString>,
    /// The app-level token (`xapp-…`) that turns Socket Mode on.
    pub app_token: Option<SecretString>,
    /// How Socket Mode reconnects after the socket drops.
    pub socket_reconnect: BackoffPolicy,
    /// The user groups `serve` keeps in sync (none: off).
    pub usergroups: Vec<UserGroupSpec>,
    pub usergroup_interval: Duration,
    /// Teams and channel defaults from the config file.
    pub routing: Routing,
    /// OpsGenie username (lower case) → Slack id, when emails differ.
    pub email_overrides: HashMap<String, String>,
    /// `None` when alerts are off.
    pub alerts: Option<AlertConfig>,
    pub cache_ttl: Duration,
    /// After a failed on-call lookup, how long the source is left alone.
    pub source_backoff: BackoffPolicy,
    pub listen_addr: SocketAddr,
    pub drain_timeout: Duration,
    pub timeouts: Timeouts,
}

/// Everything `sync-usergroup` needs, checked.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub slack: SlackConfig,
    pub source: SourceConfig,
    /// Every group to sync: SLACK_USERGROUP's and the config file's.
    pub usergroups: Vec<UserGroupSpec>,
    pub email_overrides: HashMap<String, String>,
    pub timeouts: Timeouts,
}

impl SyncArgs {
    pub fn config(self) -> Result<SyncConfig, ConfigError> {
        let slack = self.slack.config()?;
        let teams = load_teams(self.oncall_config.as_ref())?;
        let source = self.source.config(teams.default_schedule.clone(), false)?;
        let usergroups = user_groups(self.slack_usergroup, source.default_schedule(), &teams);
        if usergroups.is_empty() {
            return Err(Missing {
                name: "SLACK_USERGROUP",
                what: "the user group's handle (opsoncall) or id, or [[usergroup]] entries in ONCALL_CONFIG",
            }
            .into());
        }
        Ok(SyncConfig {
            slack,
            source,
            usergroups,
            email_overrides: teams.email_overrides,
            timeouts: self.http.timeouts(),
        })
    }
}

impl SlackArgs {
    pub fn config(self) -> Result<SlackConfig, Missing> {
        Ok(SlackConfig {
            bot_token: required(
                self.slack_bot_token,
                "SLACK_BOT_TOKEN",
                "the bot token (xoxb-…)",
            )?,
            user_token: self.slack_user_token,
            api_url: self.slack_api_url,
        })
    }
}

impl OpsGenieArgs {
    /// The region not configured, when the URL is not overridden: `check` tries
    /// it when the key is refused.
    pub fn other_region_url(&self) -> Option<Url> {
        if self.opsgenie_api_url.is_some() {
            return None;
        }
        let other = match self.opsgenie_region {
            Region::Us => EU_API_URL,
            Region::Eu => US_API_URL,
        };
        parse_http_url(other).ok()
    }

    /// `file_schedule` is the config file's `default_schedule`, which wins.
    pub fn config(self, file_schedule: Option<String>) -> Result<OpsGenieConfig, Missing> {
        let region_url = match self.opsgenie_region {
            Region::Us => US_API_URL,
            Region::Eu => EU_API_URL,
        };
        Ok(OpsGenieConfig {
            api_key: required(
                self.opsgenie_api_key,
                "OPSGENIE_API_KEY",
                "an OpsGenie API key",
            )?,
            schedule: required(
                file_schedule
                    .or(self.opsgenie_schedule)
                    .filter(|name| !name.trim().is_empty()),
                "OPSGENIE_SCHEDULE",
                "the OpsGenie schedule's name (or default_schedule in ONCALL_CONFIG)",
            )?,
            api_url: match self.opsgenie_api_url {
                Some(url) => url,
                None => parse_http_url(region_url).map_err(|_| Missing {
                    name: "OPSGENIE_API_URL",
                    what: "a valid OpsGenie base URL",
                })?,
            },
        })
    }
}

impl ServeArgs {
    pub fn config(self) -> Result<ServeConfig, ConfigError> {
        let slack = self.slack.config()?;
        let teams = load_teams(self.oncall_config.as_ref())?;
        let alerts = self.alerts.config();
        let source = self
            .source
            .config(teams.default_schedule.clone(), alerts.is_some())?;
        let usergroups = user_groups(self.slack_usergroup, source.default_schedule(), &teams);
        Ok(ServeConfig {
            slack,
            signing_secret: match (self.slack_signing_secret, &self.slack_app_token) {
                (Some(secret), _) => Some(secret),
                (None, Some(_)) => None,
                (None, None) => {
                    return Err(Missing {
                        name: "SLACK_SIGNING_SECRET",
                        what: "the app's signing secret (or SLACK_APP_TOKEN for Socket Mode)",
                    }
                    .into())
                }
            },
            app_token: self.slack_app_token,
            socket_reconnect: DEFAULT_RECONNECT,
            source,
            alerts,
            usergroups,
            usergroup_interval: self.usergroup_sync_interval,
            routing: teams.routing,
            email_overrides: teams.email_overrides,
            cache_ttl: self.oncall_cache_ttl,
            source_backoff: BackoffPolicy::default(),
            listen_addr: self.listen_addr,
            drain_timeout: self.shutdown_drain_timeout,
            timeouts: self.http.timeouts(),
        })
    }
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    if value.trim().is_empty() {
        return Err("it is empty".into());
    }
    Ok(SecretString::from(value.trim().to_owned()))
}

/// Seconds (`300`) or a human duration (`5m`, `1h30m`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(value)
        .map_err(|_| "expected seconds (300) or a duration (5m, 1h30m)".to_owned())
}

fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("expected an http:// or https:// URL".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_seconds_or_human() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_http_url("http://127.0.0.1:9/api").is_ok());
        assert!(parse_http_url("https://slack.com/api").is_ok());
        assert!(parse_http_url("ftp://example.com").is_err());
        assert!(parse_http_url("mailto:ops@example.com").is_err());
        assert!(parse_http_url("slack.com/api").is_err());
    }

    #[test]
    fn the_region_picks_the_opsgenie_url_unless_overridden() {
        let args = |region, url: Option<&str>| OpsGenieArgs {
            opsgenie_api_key: Some("key".into()),
            opsgenie_schedule: Some("SRE_schedule".into()),
            opsgenie_region: region,
            opsgenie_api_url: url.map(|url| Url::parse(url).expect("a URL")),
        };
        let url = |args: OpsGenieArgs| args.config(None).expect("valid").api_url.to_string();
        assert_eq!(url(args(Region::Us, None)), "https://api.opsgenie.com/");
        assert_eq!(url(args(Region::Eu, None)), "https://api.eu.opsgenie.com/");
        assert_eq!(
            url(args(Region::Eu, Some("http://127.0.0.1:9/"))),
            "http://127.0.0.1:9/"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = SlackArgs {
            slack_bot_token: Some("xoxb-very-secret".into()),
            slack_user_token: Some("xoxp-very-secret".into()),
            slack_api_url: Url::parse(DEFAULT_SLACK_API_URL).expect("a URL"),
        }
        .config()
        .expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
