//! The checked settings: what `serve`, `sync-usergroup`, `check` and `demo` run
//! with, built from the command line ([`super::args`]) and the config file
//! ([`super::file`]), with every required value present.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use super::args::{
    parse_http_url, AlertArgs, AlertModeArg, AppArgs, OpsGenieArgs, ProviderKind, Region,
    ServeArgs, ServerArgs, SlackArgs, SourceArgs, StateArgs, SyncArgs,
};
use super::file::{self, FileError, FileSettings};
use crate::alerting::{AlertMode, AlertPolicy};
use crate::alias::AliasKey;
use crate::handovers::{AnnounceSpec, TopicSpec, ANNOUNCE_INTERVAL};
use crate::outbound::{BackoffPolicy, Timeouts};
use crate::overrides::TakeCallPolicies;
use crate::providers::jsm::JsmConfig;
use crate::providers::opsgenie::{EU_API_URL, US_API_URL};
use crate::providers::pagerduty::{
    PagerDutyConfig, EU_API_URL as PD_EU_API_URL, EU_EVENTS_URL as PD_EU_EVENTS_URL,
    US_API_URL as PD_US_API_URL, US_EVENTS_URL as PD_US_EVENTS_URL,
};
use crate::routing::Routing;
use crate::store::StateConfig;
use crate::usergroup_sync::{UserGroupRef, UserGroupSpec};

/// How Socket Mode keeps its link honest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketTimings {
    /// The WebSocket handshake, after `apps.connections.open`.
    pub connect_timeout: Duration,
    /// How often the bot pings.
    pub ping_interval: Duration,
    /// A connection that hears nothing for this long is replaced.
    pub idle_timeout: Duration,
}

impl Default for SocketTimings {
    /// A dead link is noticed within 30 s.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// How the HTTP server keeps slow or idle clients from holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's headers must arrive within this.
    pub header_timeout: Duration,
    /// Its body, once the headers pass, within this.
    pub body_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// How Socket Mode waits before reconnecting after the socket drops.
pub const SOCKET_RECONNECT: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(30),
};

/// The on-call source, checked.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    OpsGenie(OpsGenieConfig),
    Jsm(JsmConfig),
    PagerDuty(PagerDutyConfig),
}

impl SourceConfig {
    /// The schedule a request that names no team is about.
    pub fn default_schedule(&self) -> &str {
        match self {
            Self::OpsGenie(config) => &config.schedule,
            Self::Jsm(config) => &config.schedule,
            Self::PagerDuty(config) => &config.schedule,
        }
    }
}

impl AlertArgs {
    /// ALERT_MODE when set, else ALERT_ON_MENTION (`true`: every request).
    pub fn config(&self) -> Option<AlertPolicy> {
        let mode = match self.alert_mode {
            Some(AlertModeArg::Off) => return None,
            Some(AlertModeArg::Every) => AlertMode::Every,
            Some(AlertModeArg::Page) => AlertMode::Page,
            None if self.alert_on_mention => AlertMode::Every,
            None => return None,
        };
        Some(AlertPolicy {
            mode,
            priority: self.alert_priority,
            team: self
                .alert_team
                .clone()
                .filter(|team| !team.trim().is_empty()),
            rate_limit: self.alert_rate_limit,
            actions_guests: self.alert_actions_guests,
            allowed_teams: self
                .alert_allowed_teams
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|team| !team.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

impl SourceArgs {
    /// The region `check` tries when an OpsGenie key is refused.
    pub fn other_region_url(&self) -> Option<Url> {
        match self.oncall_provider {
            ProviderKind::Opsgenie => self.opsgenie.other_region_url(),
            ProviderKind::Jsm | ProviderKind::Pagerduty => None,
        }
    }

    /// `file_schedule` is the config file's `default_schedule`; `alerts` says
    /// whether alerts are on (JSM then needs its integration key). What is not
    /// set goes to `required`; `None` then.
    fn config(
        self,
        file: &FileSettings,
        alerts: bool,
        required: &mut Required,
    ) -> Result<Option<SourceConfig>, ConfigError> {
        let file_schedule = file.default_schedule.clone();
        if self.oncall_provider != ProviderKind::Pagerduty {
            if let Some((team, _, _)) = file.escalation_policies.first() {
                return Err(ConfigError::TeamSetting {
                    team: team.clone(),
                    why: "escalation_policy is PagerDuty's (ONCALL_PROVIDER=pagerduty); on \
                          OpsGenie and JSM a schedule's rotations are its levels",
                });
            }
        } else if let Some(team) = file.teams_without_schedule.first() {
            return Err(ConfigError::TeamSetting {
                team: team.clone(),
                why: "on PagerDuty each team names its schedule (`schedule = \"PABC123\"` or \
                      its exact name); the `<name>_schedule` default is OpsGenie's",
            });
        }
        match self.oncall_provider {
            ProviderKind::Opsgenie => Ok(self
                .opsgenie
                .config(file_schedule, required)?
                .map(SourceConfig::OpsGenie)),
            ProviderKind::Pagerduty => {
                let pd = self.pagerduty;
                let api_token = required.take(pd.pagerduty_api_token, "PAGERDUTY_API_TOKEN");
                let schedule = required.take(
                    pd.pagerduty_schedule
                        .or(file_schedule)
                        .filter(|name| !name.trim().is_empty()),
                    "PAGERDUTY_SCHEDULE",
                );
                let routing_key = pd.pagerduty_routing_key;
                if alerts && routing_key.is_none() {
                    required.missing.push("PAGERDUTY_ROUTING_KEY");
                }
                let (api_default, events_default) = match pd.pagerduty_region {
                    Region::Us => (PD_US_API_URL, PD_US_EVENTS_URL),
                    Region::Eu => (PD_EU_API_URL, PD_EU_EVENTS_URL),
                };
                let default = |url: &str| {
                    parse_http_url(url).map_err(|_| ConfigError::PlainHttp {
                        variable: "PAGERDUTY_REGION",
                        url: url.to_owned(),
                    })
                };
                let api_url = encrypted(
                    "PAGERDUTY_API_URL",
                    pd.pagerduty_api_url
                        .map_or_else(|| default(api_default), Ok)?,
                )?;
                let events_url = encrypted(
                    "PAGERDUTY_EVENTS_URL",
                    pd.pagerduty_events_url
                        .map_or_else(|| default(events_default), Ok)?,
                )?;
                let (Some(api_token), Some(schedule)) = (api_token, schedule) else {
                    return Ok(None);
                };
                let mut escalation_policies: BTreeMap<String, String> = file
                    .escalation_policies
                    .iter()
                    .map(|(_, schedule, policy)| (schedule.clone(), policy.clone()))
                    .collect();
                if let Some(policy) = pd
                    .pagerduty_escalation_policy
                    .map(|policy| policy.trim().to_owned())
                    .filter(|policy| !policy.is_empty())
                {
                    escalation_policies.insert(schedule.clone(), policy);
                }
                Ok(Some(SourceConfig::PagerDuty(PagerDutyConfig {
                    api_url,
                    events_url,
                    api_token,
                    schedule,
                    routing_key,
                    escalation_policies,
                })))
            }
            ProviderKind::Jsm => {
                let jsm = self.jsm;
                let site_url = required.take(jsm.jsm_site_url, "JSM_SITE_URL");
                let email = required.take(
                    jsm.jsm_email.filter(|email| !email.trim().is_empty()),
                    "JSM_EMAIL",
                );
                let api_token = required.take(jsm.jsm_api_token, "JSM_API_TOKEN");
                let schedule = required.take(
                    jsm.jsm_schedule
                        .or(file_schedule)
                        .or(self.opsgenie.opsgenie_schedule)
                        .filter(|name| !name.trim().is_empty()),
                    "JSM_SCHEDULE",
                );
                let integration_key = jsm.jsm_integration_key;
                if alerts && integration_key.is_none() {
                    required.missing.push("JSM_INTEGRATION_KEY");
                }
                let api_url = encrypted("JSM_API_URL", jsm.jsm_api_url)?;
                let site_url = site_url
                    .map(|url| encrypted("JSM_SITE_URL", url))
                    .transpose()?;
                let (Some(site_url), Some(email), Some(api_token), Some(schedule)) =
                    (site_url, email, api_token, schedule)
                else {
                    return Ok(None);
                };
                Ok(Some(SourceConfig::Jsm(JsmConfig {
                    site_url,
                    api_url,
                    email,
                    api_token,
                    cloud_id: jsm.jsm_cloud_id.filter(|id| !id.trim().is_empty()),
                    schedule,
                    integration_key,
                    account_overrides: jsm.jsm_account_overrides.unwrap_or_default(),
                })))
            }
        }
    }
}

/// The required variables that are not set, all of them at once.
#[derive(Debug, thiserror::Error)]
#[error("missing: {}", list(.names))]
pub struct Missing {
    pub names: Vec<&'static str>,
}

/// "A", "A and B", "A, B, and C".
fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [first, second] => format!("{first} and {second}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

/// Collects what is not set while the settings are checked, so that one run
/// names every missing variable.
#[derive(Debug, Default)]
struct Required {
    missing: Vec<&'static str>,
}

impl Required {
    fn take<T>(&mut self, value: Option<T>, name: &'static str) -> Option<T> {
        if value.is_none() {
            self.missing.push(name);
        }
        value
    }

    /// Both values, or `Err` naming every missing variable. A value is `None`
    /// only when its name was recorded, so an error always names something.
    fn finish<A, B>(self, a: Option<A>, b: Option<B>) -> Result<(A, B), Missing> {
        match (a, b) {
            (Some(a), Some(b)) if self.missing.is_empty() => Ok((a, b)),
            _ => Err(Missing {
                names: self.missing,
            }),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Missing(#[from] Missing),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{variable}={url}: a plain http:// URL would send the credentials in clear; use \
         https:// (http:// is accepted only for 127.0.0.1, ::1 and localhost)"
    )]
    PlainHttp { variable: &'static str, url: String },
    /// Not echoed: the URL may carry a password.
    #[error("STATE_URL is not a Redis URL: {0}; write redis://host:6379/0, or rediss://… for TLS")]
    StateUrl(&'static str),
    #[error("ONCALL_CONFIG: team `{team}`: {why}")]
    TeamSetting { team: String, why: &'static str },
    #[error("{variable} has no meaning on {provider}: {why}")]
    NotForProvider {
        variable: &'static str,
        provider: &'static str,
        why: &'static str,
    },
}

/// `STATE_URL`, checked without ever repeating it (it may carry a password).
fn state_config(args: StateArgs) -> Result<Option<StateConfig>, ConfigError> {
    let Some(url) = args.state_url else {
        return Ok(None);
    };
    let text = url.expose_secret();
    let Some((scheme, _)) = text.split_once("://") else {
        return Err(ConfigError::StateUrl("it has no scheme"));
    };
    if scheme != "redis" && scheme != "rediss" {
        return Err(ConfigError::StateUrl("its scheme is not redis or rediss"));
    }
    let parsed = Url::parse(text).map_err(|_| ConfigError::StateUrl("it does not parse"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::StateUrl("it names no host"));
    }
    Ok(Some(StateConfig {
        url,
        prefix: args.state_prefix,
    }))
}

/// `url`, unless it is plain `http://` to a host off this machine: a token must
/// never cross the network in clear. Loopback stays allowed for tests and for a
/// local TLS-terminating proxy.
fn encrypted(variable: &'static str, url: Url) -> Result<Url, ConfigError> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(ConfigError::PlainHttp {
            variable,
            url: url.to_string(),
        });
    }
    Ok(url)
}

/// The config file's contents, or nothing when there is none.
fn load_file(path: Option<&PathBuf>) -> Result<FileSettings, ConfigError> {
    Ok(match path {
        Some(path) => file::load(path)?,
        None => FileSettings::default(),
    })
}

/// The env user group (over the default schedule) and the file's, together.
fn user_groups(
    env_group: Option<UserGroupRef>,
    default_schedule: &str,
    file: &FileSettings,
) -> Vec<UserGroupSpec> {
    env_group
        .map(|group| UserGroupSpec {
            group,
            schedules: vec![default_schedule.to_owned()],
            always: Vec::new(),
        })
        .into_iter()
        .chain(file.usergroups.iter().cloned())
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
    /// How Socket Mode notices a dead link.
    pub socket_timings: SocketTimings,
    /// The most replies in flight at once (`MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// Timeouts and the connection cap of the HTTP server.
    pub http_limits: HttpLimits,
    /// The user groups `serve` keeps in sync (none: off).
    pub usergroups: Vec<UserGroupSpec>,
    pub usergroup_interval: Duration,
    /// Teams and channel defaults from the config file.
    pub routing: Routing,
    /// OpsGenie username (lower case) → Slack id, when emails differ.
    pub email_overrides: HashMap<String, String>,
    /// `None` when alerts are off.
    pub alerts: Option<AlertPolicy>,
    /// What the alerts' aliases are tagged with (`ALERT_ALIAS_SECRET`); `None`:
    /// derived from the provider's key (see [`ServeConfig::alias_key`]).
    pub alias_secret: Option<SecretString>,
    /// The tokens that turn the providers' webhook routes on.
    pub webhooks: WebhookTokens,
    /// Redis shared by the replicas; `None`: this process alone.
    pub state: Option<StateConfig>,
    /// Where hand-overs are announced (none: off).
    pub announcements: Vec<AnnounceSpec>,
    /// Channels whose topic names who is on call.
    pub topics: Vec<TopicSpec>,
    /// Who may take the call, and for how long, per schedule.
    pub take_call: TakeCallPolicies,
    /// How often the timelines are read for hand-overs.
    pub announce_interval: Duration,
    pub cache_ttl: Duration,
    /// After a failed on-call lookup, how long the source is left alone.
    pub source_backoff: BackoffPolicy,
    pub listen_addr: SocketAddr,
    pub drain_timeout: Duration,
    /// How long an event's ack waits for its answer (`ACK_BUDGET`).
    pub ack_budget: Duration,
    pub timeouts: Timeouts,
}

impl ServeConfig {
    /// The key the alerts' aliases are tagged with: from `ALERT_ALIAS_SECRET`,
    /// else from the provider's key (PagerDuty's REST key), which every replica shares (rotating that
    /// key makes the webhooks ignore alerts raised before).
    pub fn alias_key(&self) -> AliasKey {
        let secret = self.alias_secret.as_ref().unwrap_or(match &self.source {
            SourceConfig::OpsGenie(opsgenie) => &opsgenie.api_key,
            SourceConfig::Jsm(jsm) => jsm.integration_key.as_ref().unwrap_or(&jsm.api_token),
            // The REST key, not the routing key: integration keys are shown
            // in the service's settings and copied into monitoring configs.
            SourceConfig::PagerDuty(pd) => &pd.api_token,
        });
        AliasKey::from_secret(secret)
    }

    /// Every schedule the configuration names: the default, the teams', the
    /// user groups', the announcements' and the topics'.
    pub fn schedules(&self) -> std::collections::BTreeSet<&str> {
        std::iter::once(self.source.default_schedule())
            .chain(
                self.routing
                    .teams()
                    .iter()
                    .map(|team| team.schedule.as_str()),
            )
            .chain(
                self.usergroups
                    .iter()
                    .flat_map(|group| group.schedules.iter().map(String::as_str)),
            )
            .chain(self.announcements.iter().map(|spec| spec.schedule.as_str()))
            .chain(self.topics.iter().map(|spec| spec.schedule.as_str()))
            .collect()
    }
}

/// The bearer tokens of the providers' outgoing webhooks; a route without its
/// token is off (404).
#[derive(Debug, Clone, Default)]
pub struct WebhookTokens {
    pub opsgenie: Option<SecretString>,
    pub jsm: Option<SecretString>,
    /// PagerDuty's v3 signing secret.
    pub pagerduty: Option<SecretString>,
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
        let file = load_file(self.oncall_config.as_ref())?;
        let mut required = Required::default();
        let slack = self.slack.config(&mut required)?;
        let source = self.source.config(&file, false, &mut required)?;
        let usergroups = match &source {
            Some(source) => user_groups(self.slack_usergroup, source.default_schedule(), &file),
            None => Vec::new(),
        };
        if usergroups.is_empty() && source.is_some() {
            required
                .missing
                .push("SLACK_USERGROUP (or [[usergroup]] in ONCALL_CONFIG)");
        }
        let (slack, source) = required.finish(slack, source)?;
        Ok(SyncConfig {
            slack,
            source,
            usergroups,
            email_overrides: file.email_overrides,
            timeouts: self.http.timeouts(),
        })
    }
}

impl SlackArgs {
    fn config(self, required: &mut Required) -> Result<Option<SlackConfig>, ConfigError> {
        let bot_token = required.take(self.slack_bot_token, "SLACK_BOT_TOKEN");
        let api_url = encrypted("SLACK_API_URL", self.slack_api_url)?;
        Ok(bot_token.map(|bot_token| SlackConfig {
            bot_token,
            user_token: self.slack_user_token,
            api_url,
        }))
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
    fn config(
        self,
        file_schedule: Option<String>,
        required: &mut Required,
    ) -> Result<Option<OpsGenieConfig>, ConfigError> {
        let api_key = required.take(self.opsgenie_api_key, "OPSGENIE_API_KEY");
        let schedule = required.take(
            file_schedule
                .or(self.opsgenie_schedule)
                .filter(|name| !name.trim().is_empty()),
            "OPSGENIE_SCHEDULE",
        );
        let api_url = match self.opsgenie_api_url {
            Some(url) => encrypted("OPSGENIE_API_URL", url)?,
            None => {
                let region_url = match self.opsgenie_region {
                    Region::Us => US_API_URL,
                    Region::Eu => EU_API_URL,
                };
                // Our own constants: they parse.
                parse_http_url(region_url).map_err(|_| ConfigError::PlainHttp {
                    variable: "OPSGENIE_REGION",
                    url: region_url.to_owned(),
                })?
            }
        };
        let (Some(api_key), Some(schedule)) = (api_key, schedule) else {
            return Ok(None);
        };
        Ok(Some(OpsGenieConfig {
            api_key,
            schedule,
            api_url,
        }))
    }
}

impl ServeArgs {
    pub fn config(self) -> Result<ServeConfig, ConfigError> {
        self.app.config_with(self.server)
    }
}

impl AppArgs {
    /// For `check`: the server's options at their defaults (it runs no server).
    pub fn config(self) -> Result<ServeConfig, ConfigError> {
        self.config_with(ServerArgs::default())
    }

    fn config_with(self, server: ServerArgs) -> Result<ServeConfig, ConfigError> {
        let file = load_file(self.oncall_config.as_ref())?;
        let mut required = Required::default();
        let slack = self.slack.config(&mut required)?;
        let alerts = self.alerts.config();
        if self.source.oncall_provider == ProviderKind::Pagerduty
            && alerts.as_ref().is_some_and(|alerts| alerts.team.is_some())
        {
            return Err(ConfigError::NotForProvider {
                variable: "ALERT_TEAM",
                provider: "PagerDuty",
                why: "an incident goes to the service of PAGERDUTY_ROUTING_KEY and its \
                      escalation policy; remove ALERT_TEAM",
            });
        }
        let state = state_config(self.state)?;
        let source = self.source.config(&file, alerts.is_some(), &mut required)?;
        if self.slack_signing_secret.is_none() && self.slack_app_token.is_none() {
            required
                .missing
                .push("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET");
        }
        let (slack, source) = required.finish(slack, source)?;
        let usergroups = user_groups(self.slack_usergroup, source.default_schedule(), &file);
        let mut announcements = file.announcements.clone();
        if file.default_announce_channel.is_some() || file.default_remind_before.is_some() {
            let schedule = source.default_schedule().to_owned();
            announcements.insert(
                0,
                AnnounceSpec {
                    label: schedule.clone(),
                    schedule,
                    channel: file.default_announce_channel.clone(),
                    remind_before: file.default_remind_before,
                },
            );
        }
        Ok(ServeConfig {
            slack,
            signing_secret: self.slack_signing_secret,
            app_token: self.slack_app_token,
            socket_reconnect: SOCKET_RECONNECT,
            socket_timings: SocketTimings::default(),
            max_in_flight: server.max_in_flight as usize,
            http_limits: HttpLimits::default(),
            source,
            alerts,
            alias_secret: self.alerts.alert_alias_secret,
            webhooks: WebhookTokens {
                opsgenie: self.webhooks.opsgenie_webhook_token,
                jsm: self.webhooks.jsm_webhook_token,
                pagerduty: self.webhooks.pagerduty_webhook_secret,
            },
            state,
            announcements,
            topics: file.topics.clone(),
            take_call: file.take_call.clone(),
            announce_interval: ANNOUNCE_INTERVAL,
            usergroups,
            usergroup_interval: self.usergroup_sync_interval,
            routing: file.routing,
            email_overrides: file.email_overrides,
            cache_ttl: self.oncall_cache_ttl,
            source_backoff: BackoffPolicy::default(),
            listen_addr: server.listen_addr,
            drain_timeout: server.shutdown_drain_timeout,
            ack_budget: server.ack_budget,
            timeouts: self.http.timeouts(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::DEFAULT_SLACK_API_URL;

    #[test]
    fn missing_names_read_as_a_list() {
        assert_eq!(list(&["A"]), "A");
        assert_eq!(list(&["A", "B"]), "A and B");
        assert_eq!(list(&["A", "B", "C or D"]), "A, B, and C or D");
    }

    #[test]
    fn the_region_picks_the_opsgenie_url_unless_overridden() {
        let args = |region, url: Option<&str>| OpsGenieArgs {
            opsgenie_api_key: Some("key".into()),
            opsgenie_schedule: Some("SRE_schedule".into()),
            opsgenie_region: region,
            opsgenie_api_url: url.map(|url| Url::parse(url).expect("a URL")),
        };
        let url = |args: OpsGenieArgs| {
            args.config(None, &mut Required::default())
                .expect("valid")
                .expect("complete")
                .api_url
                .to_string()
        };
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
        .config(&mut Required::default())
        .expect("valid")
        .expect("complete");
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
