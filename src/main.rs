use std::process::ExitCode;

use clap::Parser;
use oncall_bot::config::{Cli, Command};
use oncall_bot::{startup, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                error.exit();
            }
            eprintln!("error: {}", oncall_bot::config::args::explain(&error));
            return ExitCode::FAILURE;
        }
    };
    // The demo's transcript is the point; its logs only when asked for.
    let default_filter = match &cli.command {
        #[cfg(feature = "simulator")]
        Command::Demo(_) => "warn",
        _ => "info",
    };
    telemetry::init(cli.log_format, default_filter, cli.colour());
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
            let mut failed = 0;
            for result in startup::run_sync(args.config()?).await? {
                match result {
                    Ok(report) => println!("{report}"),
                    Err(error) => {
                        failed += 1;
                        eprintln!("error: {error}");
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} user group(s) could not be synced");
            }
        }
        Command::Check(args) => run_check(args).await?,
        #[cfg(feature = "simulator")]
        Command::Demo(args) => run_demo(args).await?,
    }
    Ok(())
}

async fn run_check(args: oncall_bot::config::AppArgs) -> anyhow::Result<()> {
    let other_region_url = args.source.other_region_url();
    let config = match args.config() {
        Ok(config) => config,
        Err(missing) => {
            println!("FAIL configuration: {missing}");
            anyhow::bail!("the configuration is incomplete");
        }
    };
    let report = oncall_bot::check::run(&config, other_region_url).await;
    for finding in &report.findings {
        println!("{finding}");
    }
    if !report.all_ok() {
        anyhow::bail!("some checks failed; see above");
    }
    let warned = report
        .findings
        .iter()
        .any(|finding| finding.level == oncall_bot::check::Level::Warn);
    if warned {
        println!("No check failed; the warnings above are worth a look.");
    } else {
        println!("All checks passed.");
    }
    Ok(())
}

#[cfg(feature = "simulator")]
async fn run_demo(args: oncall_bot::config::DemoArgs) -> anyhow::Result<()> {
    let demo = oncall_bot::demo::Demo::start(args.alerts.config(), args.provider).await?;
    for line in demo.play().await? {
        println!("{line}");
    }
    if args.serve {
        println!();
        println!(
            "The simulated workspace keeps running; the bot listens on {}.",
            demo.address
        );
        println!("Paste this to post a signed mention (needs openssl and curl):");
        println!();
        println!("{}", demo.curl_line());
        println!();
        println!("Replies appear below. Ctrl-C stops.");
        tokio::select! {
            () = demo.follow(demo.posted()) => {}
            () = startup::shutdown_signal() => {}
        }
    }
    Ok(())
}
