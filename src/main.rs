use std::process::ExitCode;

use clap::Parser;
use oncall_bot::config::{Cli, Command};
use oncall_bot::{startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let result: anyhow::Result<()> = match cli.command {
        Command::Serve(args) => match args.config() {
            Ok(config) => startup::run_serve(config).await.map_err(Into::into),
            Err(missing) => Err(missing.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
