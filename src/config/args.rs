//! The command line: one clap tree, every value from an environment variable.
//! Nothing else in the crate reads the environment. [`super::settings`] checks
//! these into the settings the rest of the bot uses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use reqwest::Url;
use secrecy::SecretString;

use crate::alerting::RateLimit;
use crate::model::Priority;
use crate::outbound::Timeouts;
use crate::providers::jsm::DEFAULT_JSM_API_URL;
use crate::slack::DEFAULT_SLACK_API_URL;
use crate::usergroup_sync::UserGroupRef;

/// Where `--help` sends people for more.
const DOCS: &str = "Every variable: docs/configuration.md. Teams, channels and user groups \
                    (ONCALL_CONFIG): docs/teams.md. Alerts: docs/alerts.md. Replicas \
                    (STATE_URL): docs/replicas.md. Endpoints and metrics: docs/operations.md.";

#[derive(Debug, Parser)]
#[command(
    name = "oncall-bot",
    version,
    about = "Answers \"who is on call?\" in Slack",
    after_help = DOCS
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: `text` for people, `json` for log pipelines (one object a line).
    #[arg(long, help_heading = "Logging", env = "LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Any non-empty value turns colour off in text logs (https://no-color.org);
    /// logs are never coloured when stderr is not a terminal.
    #[arg(long, env = "NO_COLOR", global = true, hide = true)]
    pub no_color: Option<String>,
}

impl Cli {
    /// Whether text logs may use colour: stderr is a terminal and NO_COLOR is
    /// not set.
    pub fn colour(&self) -> bool {
        use std::io::IsTerminal;
        colour(self.no_color.as_deref(), std::io::stderr().is_terminal())
    }
}

/// Colour only on a terminal, and only without a non-empty NO_COLOR.
fn colour(no_color: Option<&str>, terminal: bool) -> bool {
    terminal && no_color.is_none_or(str::is_empty)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer in Slack: events over Socket Mode and/or the Events API.
    #[command(after_help = DOCS)]
    Serve(ServeArgs),
    /// Make a Slack user group equal to the people on call, once, then exit.
    #[command(after_help = DOCS)]
    SyncUsergroup(SyncArgs),
    /// Try the configuration against Slack and the on-call provider once; say
    /// what works and what to fix.
    #[command(after_help = DOCS)]
    Check(AppArgs),
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
    #[arg(long, value_enum, ignore_case = true, default_value_t = ProviderKind::Opsgenie)]
    pub provider: ProviderKind,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// What `serve` and `check` share: Slack, the provider, alerts, user groups.
#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(flatten)]
    pub slack: SlackArgs,
    /// Signing secret from the app's Basic Information page: turns on the Events
    /// API endpoint. Required unless SLACK_APP_TOKEN is set.
    #[arg(long, help_heading = "Slack", env = "SLACK_SIGNING_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub slack_signing_secret: Option<SecretString>,
    /// App-level token (xapp-…, scope connections:write): receive events over
    /// Socket Mode, with no public URL. Required unless SLACK_SIGNING_SECRET is set.
    #[arg(long, help_heading = "Slack", env = "SLACK_APP_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub slack_app_token: Option<SecretString>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// User group to keep equal to the people on call (handle or id); off when unset.
    #[arg(long, help_heading = "User groups", env = "SLACK_USERGROUP", value_parser = UserGroupRef::from_str)]
    pub slack_usergroup: Option<UserGroupRef>,
    /// Config file (TOML): teams, channel defaults, user groups, email overrides.
    #[arg(long, help_heading = "On-call provider", env = "ONCALL_CONFIG")]
    pub oncall_config: Option<PathBuf>,
    /// How often `serve` syncs the user groups.
    #[arg(long, help_heading = "User groups", env = "USERGROUP_SYNC_INTERVAL", default_value = "5m", value_parser = parse_sync_interval)]
    pub usergroup_sync_interval: Duration,
    /// How long an on-call answer is cached: seconds (`300`) or a duration (`5m`).
    #[arg(long, help_heading = "On-call provider", env = "ONCALL_CACHE_TTL", default_value = "5m", value_parser = parse_cache_ttl)]
    pub oncall_cache_ttl: Duration,
    #[command(flatten)]
    pub http: HttpArgs,
}

/// `serve`: what `check` tries, and the server's own options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The HTTP server and its limits (`serve` only).
#[derive(Debug, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// Address the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:3000", value_parser = parse_listen_addr)]
    pub listen_addr: SocketAddr,
    /// The most replies being worked out or posted at once; over it, events get
    /// 503 (HTTP) or stay un-acked (Socket Mode), and Slack delivers them again.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// At SIGTERM/SIGINT, how long acked replies may take to finish.
    #[arg(long, env = "SHUTDOWN_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_drain_timeout)]
    pub shutdown_drain_timeout: Duration,
    /// How long a person's message waits for its answer before it is acked
    /// (0 to 2.5 s; Slack gives 3 s): a process that dies first has not acked
    /// it, and Slack delivers it again. 0 acks at once.
    #[arg(long, env = "ACK_BUDGET", default_value = "2s", value_parser = parse_ack_budget)]
    pub ack_budget: Duration,
}

impl Default for ServerArgs {
    /// clap's defaults above, for `check`, which runs no server (a test keeps the
    /// two the same).
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 3000)),
            max_in_flight: 1000,
            shutdown_drain_timeout: Duration::from_secs(10),
            ack_budget: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub slack: SlackArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// User group to keep equal to the people on call: its handle (`opsoncall`) or id.
    #[arg(long, help_heading = "User groups", env = "SLACK_USERGROUP", value_parser = UserGroupRef::from_str)]
    pub slack_usergroup: Option<UserGroupRef>,
    /// Config file (TOML) whose [[usergroup]] entries are synced too.
    #[arg(long, help_heading = "On-call provider", env = "ONCALL_CONFIG")]
    pub oncall_config: Option<PathBuf>,
    #[command(flatten)]
    pub http: HttpArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Outbound calls")]
pub struct HttpArgs {
    /// Total time allowed for one outbound call (Slack, OpsGenie).
    #[arg(long, env = "HTTP_TIMEOUT", default_value = "5s", value_parser = parse_http_timeout)]
    pub http_timeout: Duration,
    /// Time allowed to connect to Slack or OpsGenie.
    #[arg(long, env = "HTTP_CONNECT_TIMEOUT", default_value = "2s", value_parser = parse_connect_timeout)]
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
#[command(next_help_heading = "Slack")]
pub struct SlackArgs {
    /// Bot token (xoxb-…). Required.
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
pub enum ProviderKind {
    Opsgenie,
    Jsm,
    Pagerduty,
}

/// Where on-call answers (and alerts) come from.
#[derive(Debug, Args)]
#[command(next_help_heading = "On-call provider")]
pub struct SourceArgs {
    /// `opsgenie`, `jsm` for Jira Service Management Operations, or
    /// `pagerduty`.
    #[arg(long, env = "ONCALL_PROVIDER", value_enum, ignore_case = true, default_value_t = ProviderKind::Opsgenie)]
    pub oncall_provider: ProviderKind,
    #[command(flatten)]
    pub opsgenie: OpsGenieArgs,
    #[command(flatten)]
    pub jsm: JsmArgs,
    #[command(flatten)]
    pub pagerduty: PagerDutyArgs,
}

#[derive(Debug, Args)]
pub struct PagerDutyArgs {
    /// A PagerDuty REST API key (read access; write access to act on incidents
    /// and make overrides). Required with ONCALL_PROVIDER=pagerduty.
    #[arg(long, env = "PAGERDUTY_API_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub pagerduty_api_token: Option<SecretString>,
    /// The default schedule: its id (PABC123) or its exact name.
    #[arg(long, env = "PAGERDUTY_SCHEDULE")]
    pub pagerduty_schedule: Option<String>,
    /// Where the PagerDuty account lives.
    #[arg(long, env = "PAGERDUTY_REGION", value_enum, ignore_case = true, default_value_t = Region::Us)]
    pub pagerduty_region: Region,
    /// Overrides the region's REST API base URL (tests, proxies).
    #[arg(long, env = "PAGERDUTY_API_URL", value_parser = parse_http_url)]
    pub pagerduty_api_url: Option<Url>,
    /// Overrides the region's Events API base URL (tests, proxies).
    #[arg(long, env = "PAGERDUTY_EVENTS_URL", value_parser = parse_http_url)]
    pub pagerduty_events_url: Option<Url>,
    /// An Events API v2 integration key: incidents are raised on its service.
    /// Required with alerts on PagerDuty.
    #[arg(long, env = "PAGERDUTY_ROUTING_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub pagerduty_routing_key: Option<SecretString>,
    /// The escalation policy (its id) whose levels answer for the default
    /// schedule: primary, secondary… Without it, the schedule's one person.
    #[arg(long, env = "PAGERDUTY_ESCALATION_POLICY")]
    pub pagerduty_escalation_policy: Option<String>,
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
    /// An API integration's key, for alerts (ALERT_MODE). Required with alerts on JSM.
    #[arg(long, env = "JSM_INTEGRATION_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub jsm_integration_key: Option<SecretString>,
    /// Atlassian account id → Slack user id, `id=U…,id=U…`, for people whose email is hidden.
    #[arg(long, env = "JSM_ACCOUNT_OVERRIDES", value_parser = parse_account_overrides)]
    pub jsm_account_overrides: Option<HashMap<String, String>>,
}

/// `id=U…,id=U…`
pub(super) fn parse_account_overrides(value: &str) -> Result<HashMap<String, String>, String> {
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
    /// OpsGenie API integration key. Required with ONCALL_PROVIDER=opsgenie.
    #[arg(long, env = "OPSGENIE_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub opsgenie_api_key: Option<SecretString>,
    /// Name of the OpsGenie schedule to answer for. Required, unless the config
    /// file sets default_schedule.
    #[arg(long, env = "OPSGENIE_SCHEDULE")]
    pub opsgenie_schedule: Option<String>,
    /// Where the OpsGenie account lives.
    #[arg(long, env = "OPSGENIE_REGION", value_enum, ignore_case = true, default_value_t = Region::Us)]
    pub opsgenie_region: Region,
    /// Overrides the region's API base URL (tests, proxies).
    #[arg(long, env = "OPSGENIE_API_URL", value_parser = parse_http_url)]
    pub opsgenie_api_url: Option<Url>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Alerts")]
pub struct AlertArgs {
    /// Which requests raise an alert: `off`, `every` help request, or `page`
    /// (only `@ops page <what is wrong>`).
    #[arg(long, env = "ALERT_MODE", value_enum, ignore_case = true)]
    pub alert_mode: Option<AlertModeArg>,
    /// `true` means ALERT_MODE=every (kept for existing setups).
    #[arg(long, env = "ALERT_ON_MENTION", default_value = "false", value_parser = BoolishValueParser::new())]
    pub alert_on_mention: bool,
    /// The alerts' priority, P1 to P5.
    #[arg(long, env = "ALERT_PRIORITY", default_value = "P4", value_parser = Priority::from_str)]
    pub alert_priority: Priority,
    /// OpsGenie team the alerts are routed to (a `responders` entry).
    #[arg(long, env = "ALERT_TEAM")]
    pub alert_team: Option<String>,
    /// At most this many alerts per person: `3/10m` (3 per 10 minutes), or a
    /// count alone (per 10 minutes).
    #[arg(long, env = "ALERT_RATE_LIMIT", default_value = "3/10m", value_parser = parse_rate_limit)]
    pub alert_rate_limit: RateLimit,
    /// Workspace ids (T…), comma-separated, whose people may page besides the
    /// bot's own workspace (Slack Connect partners).
    #[arg(long, env = "ALERT_ALLOWED_TEAMS")]
    pub alert_allowed_teams: Option<String>,
    /// `true` lets guests (single- and multi-channel) acknowledge, take and
    /// close alerts; they may not by default.
    #[arg(long, env = "ALERT_ACTIONS_GUESTS", default_value = "false", value_parser = BoolishValueParser::new())]
    pub alert_actions_guests: bool,
    /// The secret the alerts' aliases are tagged with, so that the webhooks
    /// reflect only alerts this bot raised; the same on every replica. Unset:
    /// derived from the on-call provider's key.
    #[arg(long, env = "ALERT_ALIAS_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub alert_alias_secret: Option<SecretString>,
}

/// The provider's outgoing webhooks, which bring alert actions back into the
/// threads (`serve` and `check`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Alerts")]
pub struct WebhookArgs {
    /// Turns on `POST /opsgenie/webhook`: OpsGenie's Webhook integration sends
    /// it as the custom header `Authorization: Bearer <token>`.
    #[arg(long, env = "OPSGENIE_WEBHOOK_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub opsgenie_webhook_token: Option<SecretString>,
    /// Turns on `POST /jsm/webhook`, the same for JSM Operations' Webhook
    /// integration.
    #[arg(long, env = "JSM_WEBHOOK_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub jsm_webhook_token: Option<SecretString>,
    /// Turns on `POST /pagerduty/webhook`: a v3 webhook subscription's signing
    /// secret (deliveries are checked against `X-PagerDuty-Signature`).
    #[arg(long, env = "PAGERDUTY_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub pagerduty_webhook_secret: Option<SecretString>,
}

/// Where several replicas share their state (`serve` and `check`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Replicas")]
pub struct StateArgs {
    /// Redis (or Valkey) shared by every replica: `redis://host:6379/0`, or
    /// `rediss://…` for TLS. Unset: this process keeps its state to itself.
    #[arg(long, env = "STATE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub state_url: Option<SecretString>,
    /// What every key in the shared state starts with.
    #[arg(long, env = "STATE_PREFIX", default_value = "oncall-bot:")]
    pub state_prefix: String,
}

/// `3/10m`, `3 / 1h`, or `3` (per 10 minutes).
pub(super) fn parse_rate_limit(value: &str) -> Result<RateLimit, String> {
    let expected = || "expected a count per duration, e.g. 3/10m".to_owned();
    let (count, per) = match value.split_once('/') {
        Some((count, per)) => (count, parse_duration(per).map_err(|_| expected())?),
        None => (value, RateLimit::default().per),
    };
    let count: u32 = count.trim().parse().map_err(|_| expected())?;
    if count == 0 || per.is_zero() {
        return Err("the count and the duration must be more than 0".to_owned());
    }
    Ok(RateLimit { count, per })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertModeArg {
    Off,
    Every,
    Page,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    Us,
    Eu,
}

pub(super) fn parse_secret(value: &str) -> Result<SecretString, String> {
    if value.trim().is_empty() {
        return Err("it is empty".into());
    }
    Ok(SecretString::from(value.trim().to_owned()))
}

/// `host:port`, or `:port` for every interface.
pub(super) fn parse_listen_addr(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    let full = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_owned(),
    };
    full.parse().map_err(|_| {
        "expected an address and port, e.g. 0.0.0.0:3000, 127.0.0.1:8080 or :3000".to_owned()
    })
}

/// A command-line or environment error, in one line a person can act on:
/// `ONCALL_CACHE_TTL=abc: expected seconds (300) or a duration (5m, 1h30m)`. It
/// names the environment variable (how the bot is configured), never a secret's
/// value, and drops clap's usage block.
pub fn explain(error: &clap::error::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(texts)) => Some(texts.join(", ")),
        _ => None,
    };
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        let text = error.to_string();
        let first = text.lines().next().unwrap_or_default();
        return first.trim_start_matches("error: ").to_owned();
    }
    let flag = context(ContextKind::InvalidArg).unwrap_or_default();
    let long = flag
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or_default()
        .to_owned();
    let command = Cli::command();
    let arg = find_arg(&command, &long);
    let name = arg
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .unwrap_or(flag);
    let secret = arg.is_some_and(|arg| arg.is_hide_env_values_set());
    let expected = match error.kind() {
        ErrorKind::InvalidValue => format!(
            "expected one of {}",
            context(ContextKind::ValidValue).unwrap_or_default()
        ),
        _ => std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_else(|| "not a valid value".to_owned()),
    };
    match context(ContextKind::InvalidValue) {
        Some(value) if !secret => format!("{name}={value}: {expected}"),
        _ => format!("{name}: {expected}"),
    }
}

/// The argument with this long name, in `command` or any subcommand.
fn find_arg<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| find_arg(sub, long))
        })
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

/// A duration from `min` to `max`: anything outside is a mistake (a sync every
/// 9000 years, a timeout of a day) refused at start and by `check`, never left
/// to overflow a clock later.
fn bounded(value: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = parse_duration(value)?;
    if (min..=max).contains(&duration) {
        Ok(duration)
    } else {
        Err(format!(
            "expected a duration from {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ))
    }
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn parse_sync_interval(value: &str) -> Result<Duration, String> {
    bounded(value, MINUTE, DAY)
}

fn parse_cache_ttl(value: &str) -> Result<Duration, String> {
    bounded(value, SECOND, DAY)
}

fn parse_drain_timeout(value: &str) -> Result<Duration, String> {
    bounded(value, Duration::ZERO, 10 * MINUTE)
}

fn parse_ack_budget(value: &str) -> Result<Duration, String> {
    bounded(value, Duration::ZERO, Duration::from_millis(2_500))
}

fn parse_http_timeout(value: &str) -> Result<Duration, String> {
    bounded(value, SECOND, 5 * MINUTE)
}

fn parse_connect_timeout(value: &str) -> Result<Duration, String> {
    bounded(value, Duration::from_millis(100), MINUTE)
}

pub(super) fn parse_http_url(value: &str) -> Result<Url, String> {
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
    fn rate_limits_are_a_count_per_duration() {
        let limit = |count, minutes: u64| RateLimit {
            count,
            per: Duration::from_secs(minutes * 60),
        };
        assert_eq!(parse_rate_limit("3/10m"), Ok(limit(3, 10)));
        assert_eq!(parse_rate_limit(" 5 / 1h "), Ok(limit(5, 60)));
        assert_eq!(parse_rate_limit("2"), Ok(limit(2, 10)));
        for bad in ["", "x/10m", "3/soon", "0/10m", "3/0s", "-1"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listen_addresses_take_host_port_or_just_the_port() {
        assert_eq!(
            parse_listen_addr(":3000").map(|a| a.to_string()),
            Ok("0.0.0.0:3000".to_owned())
        );
        assert_eq!(
            parse_listen_addr("127.0.0.1:8080").map(|a| a.to_string()),
            Ok("127.0.0.1:8080".to_owned())
        );
        assert!(parse_listen_addr("3000")
            .expect_err("no colon")
            .contains("e.g. 0.0.0.0:3000"));
        assert!(parse_listen_addr("localhost:3000").is_err());
    }

    #[test]
    fn the_server_defaults_check_uses_are_claps() {
        use clap::FromArgMatches;
        let matches = ServerArgs::augment_args(clap::Command::new("t")).get_matches_from(["t"]);
        let parsed = ServerArgs::from_arg_matches(&matches).expect("defaults parse");
        let default = ServerArgs::default();
        assert_eq!(parsed.listen_addr, default.listen_addr);
        assert_eq!(parsed.max_in_flight, default.max_in_flight);
        assert_eq!(
            parsed.shutdown_drain_timeout,
            default.shutdown_drain_timeout
        );
        assert_eq!(parsed.ack_budget, default.ack_budget);
    }

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(colour(None, true));
        assert!(colour(Some(""), true), "an empty NO_COLOR is unset");
        assert!(!colour(Some("1"), true));
        assert!(!colour(None, false), "piped into a file or a pipeline");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_http_url("http://127.0.0.1:9/api").is_ok());
        assert!(parse_http_url("https://slack.com/api").is_ok());
        assert!(parse_http_url("ftp://example.com").is_err());
        assert!(parse_http_url("mailto:ops@example.com").is_err());
        assert!(parse_http_url("slack.com/api").is_err());
    }
}
