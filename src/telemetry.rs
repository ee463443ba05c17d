//! Tracing set-up, once, for the binary.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Logs to stderr, as text or JSON lines; `RUST_LOG` filters, else
/// `default_filter`. `colour` is false when stderr is not a terminal or NO_COLOR
/// is set, so a log file never fills with escape codes.
pub fn init(format: LogFormat, default_filter: &str, colour: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
}
