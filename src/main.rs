use std::process::ExitCode;

use clap::Parser;
use oncall_bot::config::{Cli, Command};
use oncall_bot::{startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => startup::run_serve(args.config()?).await?,
        Command::SyncUsergroup(args) => {
            let report = startup::run_sync(args.config()?).await?;
            println!("{report}");
        }
    }
    Ok(())
}
