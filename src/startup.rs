//! The composition root: builds the clients, the bot and the HTTP app once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::alert_threads::AlertThreads;
use crate::alerting::AlertRaiser;
use crate::bot::Bot;
use crate::check;
use crate::config::settings::HttpLimits;
use crate::config::{ServeConfig, SlackConfig, SourceConfig, SyncConfig};
use crate::edge::http::{app, HttpState};
use crate::edge::socket_mode::SocketMode;
use crate::edge::Inbox;
use crate::handovers::HandoverNotices;
use crate::metrics::Metrics;
use crate::oncall::OnCallDirectory;
use crate::outbound::{BackoffPolicy, RestError, Timeouts};
use crate::overrides::{Announcement, Overrides};
use crate::providers::{JsmClient, OpsGenieClient, PagerDutyClient, Provider};
use crate::slack::signature::SignatureVerifier;
use crate::slack::{SlackApi, SlackError};
use crate::store::{SharedState, StoreError};
use crate::supervise::Supervisor;

/// How long a background loop that stopped waits before it starts again:
/// from a second, doubling to a minute.
const LOOP_BACKOFF: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(60),
};
use crate::usergroup_sync::{SyncError, SyncReport, UserGroupSync};

/// Why the bot could not start. Each says the cause once (no `#[source]`, so
/// the binary's error chain does not repeat it) and what to do, in the words
/// `check` uses.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not set up the Slack client: {0}")]
    SlackClient(SlackError),
    /// A token Slack refused, or could not be asked about.
    #[error("{0}")]
    Slack(String),
    #[error("could not set up the {provider} client: {cause}")]
    Provider {
        provider: &'static str,
        cause: RestError,
    },
    #[error("could not listen on {addr}: {cause} (check LISTEN_ADDR)")]
    Listen {
        addr: std::net::SocketAddr,
        cause: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(String),
    #[error(transparent)]
    State(StoreError),
}

/// What `serve` runs: the HTTP app, and the user-group sync when configured.
pub struct Services {
    /// The intake both doors feed; tests wait on it.
    pub inbox: Inbox,
    http: HttpState,
    /// The user groups kept in sync, and how often.
    pub user_group_syncs: Vec<Arc<UserGroupSync>>,
    pub user_group_interval: Duration,
    /// Socket Mode, when an app-level token is configured.
    pub socket_mode: Option<SocketMode>,
    /// How long acked replies may take to finish at shutdown.
    pub drain_timeout: Duration,
    http_limits: HttpLimits,
    /// Hand-over notices, when a schedule has an `announce_channel`.
    pub handover_notices: Option<(Arc<HandoverNotices>, Duration)>,
    /// The background loops, and how each stands.
    pub supervisor: Supervisor,
    /// How often open requests for cover are checked for their start.
    pub cover_tick: Duration,
}

/// The Slack clients: the bot's, and the one for user-group calls (the user
/// token's when there is one).
struct SlackClients {
    bot: Arc<SlackApi>,
    groups: Arc<SlackApi>,
}

fn slack_clients(config: &SlackConfig, timeouts: Timeouts) -> Result<SlackClients, StartupError> {
    let client = |token| {
        SlackApi::new(config.api_url.as_str(), token, timeouts)
            .map(Arc::new)
            .map_err(StartupError::SlackClient)
    };
    let bot = client(&config.bot_token)?;
    let groups = match &config.user_token {
        Some(user_token) => client(user_token)?,
        None => Arc::clone(&bot),
    };
    Ok(SlackClients { bot, groups })
}

/// The configured on-call provider, which alerts go to as well.
fn provider(
    config: &SourceConfig,
    timeouts: Timeouts,
    metrics: &Arc<Metrics>,
) -> Result<Arc<Provider>, StartupError> {
    let provider = match config {
        SourceConfig::OpsGenie(opsgenie) => Provider::OpsGenie(Box::new(
            OpsGenieClient::new(opsgenie.api_url.clone(), opsgenie.api_key.clone(), timeouts)
                .map_err(|cause| StartupError::Provider {
                    provider: "OpsGenie",
                    cause,
                })?
                .with_metrics(Arc::clone(metrics)),
        )),
        SourceConfig::Jsm(jsm) => Provider::Jsm(Box::new(
            JsmClient::new(jsm.clone(), timeouts)
                .map_err(|cause| StartupError::Provider {
                    provider: "JSM",
                    cause,
                })?
                .with_metrics(Arc::clone(metrics)),
        )),
        SourceConfig::PagerDuty(pd) => Provider::PagerDuty(Box::new(
            PagerDutyClient::new(pd.clone(), timeouts)
                .map_err(|cause| StartupError::Provider {
                    provider: "PagerDuty",
                    cause,
                })?
                .with_metrics(Arc::clone(metrics)),
        )),
    };
    Ok(Arc::new(provider))
}

/// PagerDuty's schedules are named by id or by exact name: each name is found
/// once at start, so that a typo is said at once rather than at the first
/// question. In the background: PagerDuty being down does not stop the bot,
/// and a name not found now is looked for again when it is asked about.
fn find_schedules_at_start(provider: &Arc<Provider>, config: &ServeConfig) {
    if !matches!(**provider, Provider::PagerDuty(_)) {
        return;
    }
    let provider = Arc::clone(provider);
    let schedules: Vec<String> = config.schedules().into_iter().map(str::to_owned).collect();
    tokio::spawn(async move {
        for schedule in schedules {
            if let Err(error) = provider.find_schedule(&schedule).await {
                tracing::error!(%schedule, %error, "a configured schedule was not found");
            }
        }
    });
}

/// The on-call directory for `provider`, with every explicit Slack mapping: email
/// overrides, and account-id overrides (JSM_ACCOUNT_OVERRIDES, and the config
/// file's keys that are not emails).
fn directory(
    provider: Arc<Provider>,
    config: &SourceConfig,
    email_overrides: &HashMap<String, String>,
    slack: Arc<SlackApi>,
    ttl: Duration,
    metrics: Arc<Metrics>,
) -> OnCallDirectory {
    let mut account_overrides: HashMap<String, String> = email_overrides
        .iter()
        .filter(|(key, _)| !key.contains('@'))
        .map(|(key, user)| (key.clone(), user.clone()))
        .collect();
    if let SourceConfig::Jsm(jsm) = config {
        account_overrides.extend(jsm.account_overrides.clone());
    }
    OnCallDirectory::new(provider, slack, ttl, metrics)
        .with_email_overrides(email_overrides.clone())
        .with_account_overrides(account_overrides)
}

/// Where each schedule's overrides are announced, and how it is named: a
/// team's name and `announce_channel`, else the schedule's own name.
fn override_announcements(config: &ServeConfig) -> HashMap<String, Announcement> {
    let mut announcements: HashMap<String, Announcement> = HashMap::new();
    let default = config.source.default_schedule();
    announcements.insert(
        default.to_owned(),
        Announcement {
            label: default.to_owned(),
            channel: None,
        },
    );
    for team in config.routing.teams() {
        announcements
            .entry(team.schedule.clone())
            .or_insert_with(|| Announcement {
                label: team.name.clone(),
                channel: None,
            });
    }
    for spec in &config.announcements {
        if let Some(channel) = &spec.channel {
            let announcement = announcements
                .entry(spec.schedule.clone())
                .or_insert_with(|| Announcement {
                    label: spec.label.clone(),
                    channel: None,
                });
            announcement.channel = Some(channel.clone());
        }
    }
    announcements
}

/// Builds everything `serve` runs: asks Slack who the bot is, then wires it up.
pub async fn build(config: &ServeConfig) -> Result<Services, StartupError> {
    let slack = slack_clients(&config.slack, config.timeouts)?;
    let identity = slack.bot.auth_test().await.map_err(|error| {
        StartupError::Slack(check::bot_token_problem(&error, &config.slack.api_url))
    })?;
    tracing::info!(
        user_id = %identity.user_id,
        bot_id = %identity.bot_id.as_deref().unwrap_or("none"),
        team_id = %identity.team_id.as_deref().unwrap_or("unknown"),
        "connected to Slack"
    );
    let metrics = Arc::new(Metrics::new());
    let shared = Arc::new(match &config.state {
        Some(state) => {
            SharedState::redis(state, Arc::clone(&metrics)).map_err(StartupError::State)?
        }
        None => SharedState::local(Arc::clone(&metrics)),
    });
    let provider = provider(&config.source, config.timeouts, &metrics)?;
    find_schedules_at_start(&provider, config);
    let directory = Arc::new(
        directory(
            Arc::clone(&provider),
            &config.source,
            &config.email_overrides,
            Arc::clone(&slack.bot),
            config.cache_ttl,
            Arc::clone(&metrics),
        )
        .with_backoff(config.source_backoff),
    );
    let mut bot = Bot::new(
        identity.clone(),
        config.source.default_schedule().to_owned(),
        Arc::clone(&directory),
        Arc::clone(&slack.bot),
    )
    .with_routing(config.routing.clone())
    .with_shared_state(Arc::clone(&shared))
    .with_overrides(Arc::new(
        Overrides::new(
            Arc::clone(&provider),
            Arc::clone(&directory),
            Arc::clone(&slack.bot),
            Arc::clone(&shared),
            Arc::clone(&metrics),
            identity.clone(),
        )
        .with_policies(config.take_call.clone())
        .with_announcements(override_announcements(config)),
    ));
    let supervisor = Supervisor::new(Arc::clone(&metrics));
    {
        let directory = Arc::clone(&directory);
        if let Some(watcher) = shared.cache_clear_watcher(move || directory.clear()) {
            supervisor.spawn("store_subscription", LOOP_BACKOFF, watcher);
        }
    }
    if let Some(alerts) = &config.alerts {
        bot = bot
            .with_alerts(AlertRaiser::new(
                Arc::clone(&provider),
                alerts.clone(),
                identity.clone(),
                Arc::clone(&slack.bot),
                Arc::clone(&metrics),
                Arc::clone(&shared),
                config.alias_key(),
            ))
            .with_alert_threads(Arc::new(AlertThreads::new(
                provider,
                Arc::clone(&slack.bot),
                Arc::clone(&directory),
                identity,
                Arc::clone(&shared),
                config.alias_key(),
                alerts.clone(),
            )));
    }
    let user_group_syncs = config
        .usergroups
        .iter()
        .map(|spec| {
            Arc::new(
                UserGroupSync::new(
                    Arc::clone(&directory),
                    Arc::clone(&slack.groups),
                    spec.clone(),
                    Arc::clone(&metrics),
                )
                .with_lease(Arc::clone(&shared)),
            )
        })
        .collect();
    let announces = !config.announcements.is_empty() || !config.topics.is_empty();
    let handover_notices = announces.then(|| {
        let notices = HandoverNotices::new(
            Arc::clone(&directory),
            Arc::clone(&slack.bot),
            config.announcements.clone(),
            config.topics.clone(),
            Arc::clone(&shared),
        );
        (Arc::new(notices), config.announce_interval)
    });
    let inbox = Inbox::new(Arc::new(bot), metrics, shared, config.max_in_flight)
        .with_ack_budget(config.ack_budget);
    let socket_mode = match &config.app_token {
        Some(app_token) => {
            let app = SlackApi::new(config.slack.api_url.as_str(), app_token, config.timeouts)
                .map_err(StartupError::SlackClient)?;
            // Fail fast on a token Slack refuses, rather than retrying forever
            // while /readyz waits; an outage here is left to the reconnect loop.
            match app.open_socket_url().await {
                Ok(_) => {}
                Err(error @ SlackError::Api { .. }) => {
                    return Err(StartupError::Slack(check::app_token_problem(&error)))
                }
                Err(error) => {
                    tracing::warn!(%error, "Socket Mode cannot connect yet; retrying in the background")
                }
            }
            Some(SocketMode::new(
                Arc::new(app),
                inbox.clone(),
                config.socket_reconnect,
                config.socket_timings,
            ))
        }
        None => None,
    };
    let http = HttpState::new(
        config.signing_secret.clone().map(SignatureVerifier::new),
        inbox.clone(),
        socket_mode.as_ref().map(SocketMode::status),
        config.http_limits.body_timeout,
    )
    .with_webhook_tokens(config.webhooks.clone())
    .with_supervisor(supervisor.clone());
    Ok(Services {
        inbox,
        http,
        user_group_syncs,
        user_group_interval: config.usergroup_interval,
        socket_mode,
        drain_timeout: config.drain_timeout,
        http_limits: config.http_limits,
        handover_notices,
        supervisor,
        cover_tick: config.announce_interval,
    })
}

/// Serves on `listener` until `shutdown` resolves; then stops accepting and, side
/// by side, lets HTTP requests under way and acked replies finish, each for at
/// most the drain timeout, logging any reply that could not.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let Services {
        inbox,
        http,
        user_group_syncs,
        user_group_interval,
        socket_mode,
        drain_timeout,
        http_limits,
        handover_notices,
        supervisor,
        cover_tick,
    } = services;
    let sync_loops: Vec<_> = user_group_syncs
        .iter()
        .cloned()
        .map(|sync| {
            tracing::info!(
                group = %sync.group(),
                interval = %humantime::format_duration(user_group_interval),
                "keeping the user group in sync"
            );
            supervisor.spawn("usergroup_sync", LOOP_BACKOFF, move |handle| {
                Arc::clone(&sync).run_every(user_group_interval, handle)
            })
        })
        .collect();
    let notices = handover_notices
        .as_ref()
        .map(|(notices, _)| Arc::clone(notices));
    let notices_loop = handover_notices.map(|(notices, tick)| {
        tracing::info!(every = %humantime::format_duration(tick), "announcing hand-overs");
        supervisor.spawn("notices", LOOP_BACKOFF, move |handle| {
            Arc::clone(&notices).run_every(tick, handle)
        })
    });
    let cover_loop = inbox.bot().overrides().cloned().map(|overrides| {
        supervisor.spawn("cover_requests", LOOP_BACKOFF, move |handle| {
            Arc::clone(&overrides).run_cover_expiry(cover_tick, handle)
        })
    });
    let socket_loop = socket_mode.map(|socket_mode| {
        tracing::info!("receiving events over Socket Mode");
        supervisor.spawn("socket_mode", LOOP_BACKOFF, move |handle| {
            socket_mode.clone().run(handle)
        })
    });
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(crate::edge::server::serve(
        listener,
        app(http),
        http_limits,
        stop.clone().cancelled_owned(),
        drain_timeout,
    ));
    shutdown.await;
    stop.cancel();
    for background in sync_loops
        .into_iter()
        .chain(socket_loop)
        .chain(notices_loop)
        .chain(cover_loop)
    {
        background.abort();
    }
    // Another replica takes the sync and the notices over at its next tick.
    for sync in &user_group_syncs {
        sync.release_lease().await;
    }
    if let Some(notices) = &notices {
        notices.release_lease().await;
    }
    let (lost, served) = tokio::join!(inbox.drain(drain_timeout), server);
    if lost == 0 {
        tracing::info!("every acked event was answered");
    } else {
        tracing::error!(lost, "shut down with acked events unanswered");
    }
    served.map_err(|error| StartupError::Serve(error.to_string()))
}

/// `oncall-bot serve`.
pub async fn run_serve(config: ServeConfig) -> Result<(), StartupError> {
    let services = build(&config).await?;
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .map_err(|cause| StartupError::Listen {
            addr: config.listen_addr,
            cause,
        })?;
    let bound = listener.local_addr().unwrap_or(config.listen_addr);
    tracing::info!("{}", summary(&config, bound));
    serve(listener, services, shutdown_signal()).await
}

/// One line saying what runs: provider and schedule, how events arrive, alerts,
/// the user-group sync, and where state lives.
pub fn summary(config: &ServeConfig, bound: std::net::SocketAddr) -> String {
    let provider = match &config.source {
        SourceConfig::OpsGenie(_) => "OpsGenie",
        SourceConfig::Jsm(_) => "JSM Operations",
        SourceConfig::PagerDuty(_) => "PagerDuty",
    };
    let events = match (&config.signing_secret, &config.app_token) {
        (Some(_), Some(_)) => "over Socket Mode and the Events API (/slack/events)",
        (Some(_), None) => "over the Events API (/slack/events)",
        _ => "over Socket Mode",
    };
    let alerts = match &config.alerts {
        None => "off".to_owned(),
        Some(alerts) => format!(
            "{} {}{}, at most {} per person per {}",
            alerts.priority,
            match alerts.mode {
                crate::alerting::AlertMode::Every => "for every request",
                crate::alerting::AlertMode::Page => "on `@ops page` only",
            },
            alerts
                .team
                .as_deref()
                .map(|team| format!(" to team {team}"))
                .unwrap_or_default(),
            alerts.rate_limit.count,
            humantime::format_duration(alerts.rate_limit.per)
        ),
    };
    let groups = if config.usergroups.is_empty() {
        "off".to_owned()
    } else {
        format!(
            "{} every {}",
            config
                .usergroups
                .iter()
                .map(|spec| spec.group.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            humantime::format_duration(config.usergroup_interval)
        )
    };
    let state = match &config.state {
        Some(state) => format!(
            "state shared with other replicas in Redis (keys {}…)",
            state.prefix
        ),
        None => "state in this process".to_owned(),
    };
    format!(
        "oncall-bot {version} on {bound}: {provider} schedule {schedule}; events {events}; \
         alerts {alerts}; user-group sync {groups}; {state}",
        version = env!("CARGO_PKG_VERSION"),
        schedule = config.source.default_schedule(),
    )
}

/// The user-group syncs for `sync-usergroup`: no cache to share, fresh answers.
pub fn user_group_syncs(config: &SyncConfig) -> Result<Vec<UserGroupSync>, StartupError> {
    let slack = slack_clients(&config.slack, config.timeouts)?;
    let metrics = Arc::new(Metrics::new());
    let provider = provider(&config.source, config.timeouts, &metrics)?;
    let directory = Arc::new(directory(
        provider,
        &config.source,
        &config.email_overrides,
        slack.bot,
        Duration::from_secs(60),
        Arc::clone(&metrics),
    ));
    Ok(config
        .usergroups
        .iter()
        .map(|spec| {
            UserGroupSync::new(
                Arc::clone(&directory),
                Arc::clone(&slack.groups),
                spec.clone(),
                Arc::clone(&metrics),
            )
        })
        .collect())
}

/// `oncall-bot sync-usergroup`: one sync of every group; each group's report or
/// failure, in order.
pub async fn run_sync(
    config: SyncConfig,
) -> Result<Vec<Result<SyncReport, SyncError>>, StartupError> {
    let mut results = Vec::new();
    for sync in user_group_syncs(&config)? {
        results.push(sync.run_once().await);
    }
    Ok(results)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing acked replies");
}
