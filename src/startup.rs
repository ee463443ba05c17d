//! The composition root: builds the clients, the bot and the HTTP app once.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::alerting::{AlertRaiser, AlertSink};
use crate::bot::Bot;
use crate::config::ServeConfig;
use crate::oncall::{OnCallDirectory, OnCallSource};
use crate::opsgenie::{OpsGenieClient, OpsGenieError};
use crate::server::{app, AppState};
use crate::slack::signature::SignatureVerifier;
use crate::slack::{SlackApi, SlackError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not set up the Slack client: {0}")]
    SlackClient(#[source] SlackError),
    #[error("Slack auth.test failed ({0}): check SLACK_BOT_TOKEN and SLACK_API_URL")]
    AuthTest(#[source] SlackError),
    #[error("could not set up the OpsGenie client: {0}")]
    OpsGenie(#[from] OpsGenieError),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Builds the app state: asks Slack who the bot is, then wires the bot up.
pub async fn build_state(config: &ServeConfig) -> Result<AppState, StartupError> {
    let slack = Arc::new(
        SlackApi::new(
            config.slack.api_url.as_str(),
            &config.slack.bot_token,
            config.timeouts,
        )
        .map_err(StartupError::SlackClient)?,
    );
    let identity = slack.auth_test().await.map_err(StartupError::AuthTest)?;
    tracing::info!(user_id = %identity.user_id, bot_id = ?identity.bot_id, "connected to Slack");
    let opsgenie = OpsGenieClient::new(
        config.opsgenie.api_url.clone(),
        config.opsgenie.api_key.clone(),
        config.timeouts,
    )?;
    let directory = OnCallDirectory::new(
        OnCallSource::OpsGenie(opsgenie.clone()),
        Arc::clone(&slack),
        config.cache_ttl,
    );
    let mut bot = Bot::new(
        identity,
        config.opsgenie.schedule.clone(),
        directory,
        Arc::clone(&slack),
    );
    if let Some(alerts) = &config.alerts {
        tracing::info!(priority = %alerts.priority, team = ?alerts.team, "help requests raise alerts");
        bot = bot.with_alerts(AlertRaiser::new(
            AlertSink::OpsGenie(opsgenie),
            alerts.priority,
            alerts.team.clone(),
            slack,
        ));
    }
    Ok(AppState::new(
        SignatureVerifier::new(config.slack.signing_secret.clone()),
        Arc::new(bot),
    ))
}

/// Serves on `listener` until `shutdown` resolves, then lets acked replies finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(StartupError::Serve)?;
    state.wait_idle().await;
    Ok(())
}

/// `oncall-bot serve`.
pub async fn run_serve(config: ServeConfig) -> Result<(), StartupError> {
    let state = build_state(&config).await?;
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .map_err(|source| StartupError::Listen {
            addr: config.listen_addr,
            source,
        })?;
    tracing::info!(addr = %config.listen_addr, "listening for Slack events on /slack/events");
    serve(listener, state, shutdown_signal()).await
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
