//! Every environment variable, read through the real clap tree exactly as the
//! binary reads it, then checked into settings.
//!
//! clap reads the process environment, so these tests set it. They live in a
//! test binary of their own, and each takes one lock, so no other thread reads
//! the environment while it changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clap::{CommandFactory, Parser};
use oncall_bot::config::{Cli, Command, ConfigError, LogFormat, ServeConfig, SourceConfig};
use oncall_bot::model::Priority;

static ENVIRONMENT: Mutex<()> = Mutex::new(());

/// Every variable the binary reads; each one is exercised below.
const VARIABLES: &[&str] = &[
    "LOG_FORMAT",
    "NO_COLOR",
    "SLACK_BOT_TOKEN",
    "SLACK_USER_TOKEN",
    "SLACK_API_URL",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_USERGROUP",
    "ONCALL_CONFIG",
    "ONCALL_PROVIDER",
    "OPSGENIE_API_KEY",
    "OPSGENIE_SCHEDULE",
    "OPSGENIE_REGION",
    "OPSGENIE_API_URL",
    "JSM_SITE_URL",
    "JSM_EMAIL",
    "JSM_API_TOKEN",
    "JSM_SCHEDULE",
    "JSM_CLOUD_ID",
    "JSM_API_URL",
    "JSM_INTEGRATION_KEY",
    "JSM_ACCOUNT_OVERRIDES",
    "ALERT_MODE",
    "ALERT_ON_MENTION",
    "ALERT_PRIORITY",
    "ALERT_TEAM",
    "ALERT_RATE_LIMIT",
    "ALERT_ALLOWED_TEAMS",
    "ALERT_ACTIONS_GUESTS",
    "ALERT_ALIAS_SECRET",
    "OPSGENIE_WEBHOOK_TOKEN",
    "JSM_WEBHOOK_TOKEN",
    "PAGERDUTY_WEBHOOK_SECRET",
    "PAGERDUTY_API_TOKEN",
    "PAGERDUTY_SCHEDULE",
    "PAGERDUTY_REGION",
    "PAGERDUTY_API_URL",
    "PAGERDUTY_EVENTS_URL",
    "PAGERDUTY_ROUTING_KEY",
    "PAGERDUTY_ESCALATION_POLICY",
    "STATE_URL",
    "STATE_PREFIX",
    "USERGROUP_SYNC_INTERVAL",
    "ONCALL_CACHE_TTL",
    "LISTEN_ADDR",
    "SHUTDOWN_DRAIN_TIMEOUT",
    "ACK_BUDGET",
    "MAX_IN_FLIGHT",
    "HTTP_TIMEOUT",
    "HTTP_CONNECT_TIMEOUT",
];

/// `oncall-bot <args>` with exactly `env` set (of the bot's variables).
fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Cli, clap::Error> {
    let _only_us = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    for name in VARIABLES {
        std::env::remove_var(name);
    }
    for (name, value) in env {
        std::env::set_var(name, value);
    }
    let parsed = Cli::try_parse_from(std::iter::once("oncall-bot").chain(args.iter().copied()));
    for (name, _) in env {
        std::env::remove_var(name);
    }
    parsed
}

/// The minimum `serve` needs, on OpsGenie.
const BASE: &[(&str, &str)] = &[
    ("SLACK_BOT_TOKEN", "xoxb-1"),
    ("SLACK_SIGNING_SECRET", "signing"),
    ("OPSGENIE_API_KEY", "genie"),
    ("OPSGENIE_SCHEDULE", "SRE_schedule"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = BASE.to_vec();
    for (name, value) in extra {
        env.retain(|(existing, _)| existing != name);
        env.push((name, value));
    }
    env
}

fn without(names: &[&str]) -> Vec<(&'static str, &'static str)> {
    BASE.iter()
        .filter(|(name, _)| !names.contains(name))
        .copied()
        .collect()
}

fn serve(env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
    match parse(&["serve"], env).expect("the variables parse").command {
        Command::Serve(args) => args.config(),
        other => panic!("serve, got {other:?}"),
    }
}

fn serve_error(env: &[(&str, &str)]) -> String {
    serve(env).expect_err("refused").to_string()
}

/// The clap error for `env`, as the binary would print it.
fn parse_error(env: &[(&str, &str)]) -> String {
    parse(&["serve"], env).expect_err("refused").to_string()
}

fn jsm(env: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = with(&[
        ("ONCALL_PROVIDER", "jsm"),
        ("JSM_SITE_URL", "https://acme.atlassian.net"),
        ("JSM_EMAIL", "bot@acme.example"),
        ("JSM_API_TOKEN", "atl-token"),
    ]);
    all.extend_from_slice(env);
    all
}

fn jsm_settings(config: &ServeConfig) -> &oncall_bot::providers::JsmConfig {
    match &config.source {
        SourceConfig::Jsm(jsm) => jsm,
        SourceConfig::OpsGenie(_) | SourceConfig::PagerDuty(_) => panic!("JSM expected"),
    }
}

/// A config file with `text`, unique to the calling test.
fn config_file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "oncall-bot-config-env-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("a temp file");
    path.to_string_lossy().into_owned()
}

#[test]
fn every_variable_of_the_clap_tree_is_listed_here() {
    fn collect(command: &clap::Command, names: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env() {
                names.insert(name.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, names);
        }
    }
    let mut in_tree = BTreeSet::new();
    collect(&Cli::command(), &mut in_tree);
    let listed: BTreeSet<String> = VARIABLES.iter().map(|name| (*name).to_owned()).collect();
    assert_eq!(in_tree, listed);
}

#[test]
fn the_minimum_serves_opsgenie_with_the_documented_defaults() {
    let config = serve(BASE).expect("valid");
    let SourceConfig::OpsGenie(opsgenie) = &config.source else {
        panic!("OpsGenie is the default provider");
    };
    assert_eq!(opsgenie.schedule, "SRE_schedule");
    assert_eq!(opsgenie.api_url.as_str(), "https://api.opsgenie.com/");
    assert_eq!(config.slack.api_url.as_str(), "https://slack.com/api");
    assert_eq!(config.cache_ttl, Duration::from_secs(300));
    assert_eq!(config.usergroup_interval, Duration::from_secs(300));
    assert_eq!(config.drain_timeout, Duration::from_secs(10));
    assert_eq!(config.timeouts.total, Duration::from_secs(5));
    assert_eq!(config.timeouts.connect, Duration::from_secs(2));
    assert_eq!(config.listen_addr.to_string(), "0.0.0.0:3000");
    assert!(config.alerts.is_none());
    assert!(config.app_token.is_none());
    assert!(config.slack.user_token.is_none());
    assert!(config.usergroups.is_empty());
    assert_eq!(config.max_in_flight, 1000);
    let cli = parse(&["serve"], BASE).expect("parses");
    assert_eq!(cli.log_format, LogFormat::Text);
}

#[test]
fn durations_are_seconds_or_human_in_every_duration_variable() {
    let config = serve(&with(&[
        ("ONCALL_CACHE_TTL", "90"),
        ("USERGROUP_SYNC_INTERVAL", "1h30m"),
        ("SHUTDOWN_DRAIN_TIMEOUT", "3s"),
        ("ACK_BUDGET", "1500ms"),
        ("HTTP_TIMEOUT", "1500ms"),
        ("HTTP_CONNECT_TIMEOUT", " 7 "),
    ]))
    .expect("valid");
    assert_eq!(config.cache_ttl, Duration::from_secs(90));
    assert_eq!(config.usergroup_interval, Duration::from_secs(5400));
    assert_eq!(config.drain_timeout, Duration::from_secs(3));
    assert_eq!(config.ack_budget, Duration::from_millis(1500));
    assert_eq!(config.timeouts.total, Duration::from_millis(1500));
    assert_eq!(config.timeouts.connect, Duration::from_secs(7));
    for name in [
        "ONCALL_CACHE_TTL",
        "USERGROUP_SYNC_INTERVAL",
        "SHUTDOWN_DRAIN_TIMEOUT",
        "ACK_BUDGET",
        "HTTP_TIMEOUT",
        "HTTP_CONNECT_TIMEOUT",
    ] {
        let error = parse_error(&with(&[(name, "soon")]));
        assert!(
            error.contains("expected seconds (300) or a duration"),
            "{name}: {error}"
        );
        // Far too long: refused at start (and by `check`, which reads the same
        // tree), naming the variable.
        let error = explained(&with(&[(name, "9000y")]));
        assert!(
            error.starts_with(&format!("{name}=9000y: expected a duration from ")),
            "{name}: {error}"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

#[test]
fn alerts_read_the_switch_the_priority_in_any_case_and_the_team() {
    let config = serve(&with(&[
        ("ALERT_ON_MENTION", "yes"),
        ("ALERT_PRIORITY", "p2"),
        ("ALERT_TEAM", "SRE"),
    ]))
    .expect("valid");
    let alerts = config.alerts.expect("on");
    assert_eq!(alerts.priority, Priority::P2);
    assert_eq!(alerts.team.as_deref(), Some("SRE"));
    assert_eq!(alerts.rate_limit.count, 3, "3 per 10 minutes by default");
    assert_eq!(alerts.rate_limit.per, Duration::from_secs(600));
    assert!(alerts.allowed_teams.is_empty());

    let limited = serve(&with(&[
        ("ALERT_ON_MENTION", "true"),
        ("ALERT_RATE_LIMIT", "5/1h"),
        ("ALERT_ALLOWED_TEAMS", "TPARTNER1, TPARTNER2,"),
    ]))
    .expect("valid")
    .alerts
    .expect("on");
    assert_eq!(limited.rate_limit.count, 5);
    assert_eq!(limited.rate_limit.per, Duration::from_secs(3600));
    assert_eq!(limited.allowed_teams, ["TPARTNER1", "TPARTNER2"]);
    assert!(!limited.actions_guests, "guests may not act by default");
    let guests = serve(&with(&[
        ("ALERT_ON_MENTION", "true"),
        ("ALERT_ACTIONS_GUESTS", "true"),
    ]))
    .expect("valid");
    assert!(guests.alerts.expect("on").actions_guests);
    let error = parse_error(&with(&[("ALERT_RATE_LIMIT", "lots")]));
    assert!(
        error.contains("expected a count per duration, e.g. 3/10m"),
        "{error}"
    );

    let defaults = serve(&with(&[("ALERT_ON_MENTION", "1"), ("ALERT_TEAM", " ")]))
        .expect("valid")
        .alerts
        .expect("on");
    assert_eq!(defaults.priority, Priority::P4);
    assert_eq!(defaults.team, None, "a blank team is no team");

    assert!(serve(&with(&[
        ("ALERT_ON_MENTION", "false"),
        ("ALERT_PRIORITY", "P1")
    ]))
    .expect("valid")
    .alerts
    .is_none());
    let error = parse_error(&with(&[("ALERT_PRIORITY", "P6")]));
    assert!(
        error.contains("expected one of P1, P2, P3, P4, P5"),
        "{error}"
    );
    assert!(parse(&["serve"], &with(&[("ALERT_ON_MENTION", "maybe")])).is_err());
}

#[test]
fn slack_variables_set_tokens_urls_and_the_mode() {
    let config = serve(&with(&[
        ("SLACK_USER_TOKEN", "xoxp-user"),
        ("SLACK_API_URL", "http://127.0.0.1:9/api"),
        ("SLACK_APP_TOKEN", "xapp-1"),
        ("SLACK_USERGROUP", "@opsoncall"),
        ("LISTEN_ADDR", "127.0.0.1:8080"),
    ]))
    .expect("valid");
    assert!(config.slack.user_token.is_some());
    assert!(config.app_token.is_some());
    assert!(
        config.signing_secret.is_some(),
        "both doors may be open at once"
    );
    assert_eq!(config.slack.api_url.as_str(), "http://127.0.0.1:9/api");
    assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(config.usergroups.len(), 1);
    assert_eq!(config.usergroups[0].group.to_string(), "@opsoncall");
    assert_eq!(config.usergroups[0].schedules, ["SRE_schedule"]);

    assert!(parse(&["serve"], &with(&[("SLACK_API_URL", "ftp://x")])).is_err());
    assert!(parse(&["serve"], &with(&[("LISTEN_ADDR", "nowhere")])).is_err());
    assert!(parse(&["serve"], &with(&[("SLACK_BOT_TOKEN", "  ")])).is_err());
    assert!(parse(&["serve"], &with(&[("SLACK_USERGROUP", "ops on call")])).is_err());
}

#[test]
fn a_signing_secret_or_an_app_token_is_required() {
    let error = serve_error(&without(&["SLACK_SIGNING_SECRET"]));
    assert!(
        error == "missing: SLACK_APP_TOKEN or SLACK_SIGNING_SECRET",
        "{error}"
    );
    let socket_only = serve(
        &with(&[("SLACK_APP_TOKEN", "xapp-1")])
            .into_iter()
            .filter(|(name, _)| *name != "SLACK_SIGNING_SECRET")
            .collect::<Vec<_>>(),
    )
    .expect("Socket Mode alone is enough");
    assert!(socket_only.signing_secret.is_none());
    assert!(serve_error(&without(&["SLACK_BOT_TOKEN"])).eq("missing: SLACK_BOT_TOKEN"));
    assert!(serve_error(&without(&["OPSGENIE_API_KEY"])).eq("missing: OPSGENIE_API_KEY"));
    assert!(serve_error(&without(&["OPSGENIE_SCHEDULE"])).eq("missing: OPSGENIE_SCHEDULE"));
}

#[test]
fn the_region_picks_the_opsgenie_url_and_the_url_overrides_it() {
    let url = |env: &[(&'static str, &'static str)]| match serve(&with(env)).expect("valid").source
    {
        SourceConfig::OpsGenie(opsgenie) => opsgenie.api_url.to_string(),
        SourceConfig::Jsm(_) | SourceConfig::PagerDuty(_) => panic!("OpsGenie expected"),
    };
    assert_eq!(
        url(&[("OPSGENIE_REGION", "eu")]),
        "https://api.eu.opsgenie.com/"
    );
    assert_eq!(
        url(&[("OPSGENIE_REGION", "us")]),
        "https://api.opsgenie.com/"
    );
    assert_eq!(
        url(&[
            ("OPSGENIE_REGION", "eu"),
            ("OPSGENIE_API_URL", "http://127.0.0.1:9/")
        ]),
        "http://127.0.0.1:9/"
    );
    assert!(parse(&["serve"], &with(&[("OPSGENIE_REGION", "mars")])).is_err());
}

#[test]
fn jsm_reads_its_variables_and_the_account_overrides() {
    let config = serve(&jsm(&[
        ("JSM_SCHEDULE", "Ops"),
        ("JSM_CLOUD_ID", "cloud-9"),
        ("JSM_API_URL", "http://127.0.0.1:9/"),
        ("JSM_INTEGRATION_KEY", "int-key"),
        ("JSM_ACCOUNT_OVERRIDES", " acc-1=U1 , acc-2=U2,"),
    ]))
    .expect("valid");
    let settings = jsm_settings(&config);
    assert_eq!(settings.site_url.as_str(), "https://acme.atlassian.net/");
    assert_eq!(settings.email, "bot@acme.example");
    assert_eq!(settings.schedule, "Ops");
    assert_eq!(settings.cloud_id.as_deref(), Some("cloud-9"));
    assert_eq!(settings.api_url.as_str(), "http://127.0.0.1:9/");
    assert!(settings.integration_key.is_some());
    assert_eq!(
        settings.account_overrides,
        HashMap::from([
            ("acc-1".to_owned(), "U1".to_owned()),
            ("acc-2".to_owned(), "U2".to_owned())
        ])
    );
    let defaults = serve(&jsm(&[])).expect("valid");
    assert_eq!(
        jsm_settings(&defaults).api_url.as_str(),
        "https://api.atlassian.com/"
    );
    assert_eq!(jsm_settings(&defaults).cloud_id, None);

    let error = parse_error(&jsm(&[("JSM_ACCOUNT_OVERRIDES", "acc-1")]));
    assert!(
        error.contains("expected accountId=SlackUserId pairs"),
        "{error}"
    );
    for name in ["JSM_SITE_URL", "JSM_EMAIL", "JSM_API_TOKEN"] {
        let env: Vec<_> = jsm(&[]).into_iter().filter(|(n, _)| *n != name).collect();
        assert!(serve_error(&env) == format!("missing: {name}"), "{name}");
    }
}

#[test]
fn the_jsm_schedule_is_jsm_schedule_then_the_files_default_then_opsgenie_schedule() {
    let file = config_file("precedence", "default_schedule = \"File_schedule\"\n");
    let schedule = |env: &[(&'static str, &'static str)], with_file: bool| {
        let mut env = jsm(env);
        let file_var: &'static str = Box::leak(file.clone().into_boxed_str());
        if with_file {
            env.push(("ONCALL_CONFIG", file_var));
        }
        jsm_settings(&serve(&env).expect("valid")).schedule.clone()
    };
    assert_eq!(
        schedule(&[("JSM_SCHEDULE", "Jsm_schedule")], true),
        "Jsm_schedule"
    );
    assert_eq!(schedule(&[], true), "File_schedule");
    assert_eq!(schedule(&[], false), "SRE_schedule", "OPSGENIE_SCHEDULE");
    let env: Vec<_> = jsm(&[])
        .into_iter()
        .filter(|(n, _)| *n != "OPSGENIE_SCHEDULE")
        .collect();
    assert_eq!(serve_error(&env), "missing: JSM_SCHEDULE");
}

#[test]
fn alerts_on_jsm_require_the_integration_key() {
    let error = serve_error(&jsm(&[("ALERT_ON_MENTION", "true")]));
    assert!(error == "missing: JSM_INTEGRATION_KEY", "{error}");
    assert!(serve(&jsm(&[
        ("ALERT_ON_MENTION", "true"),
        ("JSM_INTEGRATION_KEY", "k")
    ]))
    .is_ok());
    assert!(serve(&jsm(&[])).is_ok(), "no alerts, no key needed");
}

#[test]
fn the_config_file_sets_the_default_schedule_teams_and_groups() {
    let file = config_file(
        "teams",
        "default_schedule = \"File_schedule\"\n\n[[team]]\nname = \"payments\"\n\n\
         [[usergroup]]\nhandle = \"payoncall\"\nschedules = [\"payments_schedule\"]\n",
    );
    let file: &'static str = Box::leak(file.into_boxed_str());
    let config = serve(&with(&[("ONCALL_CONFIG", file)])).expect("valid");
    let SourceConfig::OpsGenie(opsgenie) = &config.source else {
        panic!("OpsGenie");
    };
    assert_eq!(
        opsgenie.schedule, "File_schedule",
        "the file wins over OPSGENIE_SCHEDULE"
    );
    assert!(config.routing.team_named("payments").is_some());
    assert_eq!(config.usergroups.len(), 1);
    let missing = serve_error(&with(&[("ONCALL_CONFIG", "/nonexistent/oncall.toml")]));
    assert!(missing.contains("/nonexistent/oncall.toml"), "{missing}");
}

#[test]
fn sync_usergroup_needs_a_group_from_the_variable_or_the_file() {
    let sync = |env: &[(&str, &str)]| match parse(&["sync-usergroup"], env).expect("parses").command
    {
        Command::SyncUsergroup(args) => args.config(),
        other => panic!("sync-usergroup, got {other:?}"),
    };
    let error = sync(&without(&["SLACK_SIGNING_SECRET"]))
        .expect_err("no group")
        .to_string();
    assert_eq!(
        error,
        "missing: SLACK_USERGROUP (or [[usergroup]] in ONCALL_CONFIG)"
    );
    let config = sync(&with(&[("SLACK_USERGROUP", "S0123ABCD")])).expect("valid");
    assert_eq!(
        config.usergroups[0].group.to_string(),
        "user group S0123ABCD"
    );
}

#[test]
fn the_log_format_and_the_provider_are_read() {
    let cli = parse(&["serve"], &with(&[("LOG_FORMAT", "json")])).expect("parses");
    assert_eq!(cli.log_format, LogFormat::Json);
    assert!(parse(&["serve"], &with(&[("LOG_FORMAT", "xml")])).is_err());
    let plain = parse(&["serve"], &with(&[("NO_COLOR", "1")])).expect("parses");
    assert_eq!(plain.no_color.as_deref(), Some("1"));
    assert!(
        !plain.colour(),
        "NO_COLOR turns colour off, terminal or not"
    );
    assert!(parse(&["serve"], &with(&[("ONCALL_PROVIDER", "victorops")])).is_err());
}

#[test]
fn pagerduty_reads_its_token_schedule_region_and_urls_and_names_what_is_missing() {
    let pagerduty = |env: &[(&'static str, &'static str)]| {
        let mut all = vec![
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_SIGNING_SECRET", "secret"),
            ("ONCALL_PROVIDER", "pagerduty"),
        ];
        all.extend_from_slice(env);
        serve(&all)
    };
    let error = serve_error(&[
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_SIGNING_SECRET", "secret"),
        ("ONCALL_PROVIDER", "PagerDuty"),
    ]);
    assert!(
        error.contains("PAGERDUTY_API_TOKEN") && error.contains("PAGERDUTY_SCHEDULE"),
        "{error}"
    );
    let config = pagerduty(&[
        ("PAGERDUTY_API_TOKEN", "pd-token"),
        ("PAGERDUTY_SCHEDULE", "PSRE001"),
        ("PAGERDUTY_REGION", "eu"),
    ])
    .expect("valid");
    let SourceConfig::PagerDuty(pd) = &config.source else {
        panic!("PagerDuty expected");
    };
    assert_eq!(pd.api_url.as_str(), "https://api.eu.pagerduty.com/");
    assert_eq!(pd.events_url.as_str(), "https://events.eu.pagerduty.com/");
    assert_eq!(pd.schedule, "PSRE001");
    assert!(
        !format!("{pd:?}").contains("pd-token"),
        "the token never in Debug"
    );
    let local = pagerduty(&[
        ("PAGERDUTY_API_TOKEN", "pd-token"),
        ("PAGERDUTY_SCHEDULE", "SRE"),
        ("PAGERDUTY_API_URL", "http://127.0.0.1:9/"),
    ])
    .expect("loopback over plain HTTP is fine");
    let SourceConfig::PagerDuty(pd) = &local.source else {
        panic!("PagerDuty expected");
    };
    assert_eq!(pd.api_url.as_str(), "http://127.0.0.1:9/");
    assert!(pagerduty(&[
        ("PAGERDUTY_API_TOKEN", "pd-token"),
        ("PAGERDUTY_SCHEDULE", "SRE"),
        ("PAGERDUTY_API_URL", "http://pd.example.com/"),
    ])
    .is_err());
    let error = serve_error(&[
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_SIGNING_SECRET", "secret"),
        ("ONCALL_PROVIDER", "pagerduty"),
        ("PAGERDUTY_API_TOKEN", "pd-token"),
        ("PAGERDUTY_SCHEDULE", "SRE"),
        ("ALERT_MODE", "every"),
    ]);
    assert!(error.contains("PAGERDUTY_ROUTING_KEY"), "{error}");
    let error = serve_error(&[
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_SIGNING_SECRET", "secret"),
        ("ONCALL_PROVIDER", "pagerduty"),
        ("PAGERDUTY_API_TOKEN", "pd-token"),
        ("PAGERDUTY_SCHEDULE", "SRE"),
        ("PAGERDUTY_ROUTING_KEY", "rk"),
        ("ALERT_MODE", "every"),
        ("ALERT_TEAM", "payments"),
    ]);
    assert!(
        error.contains("ALERT_TEAM") && error.contains("PagerDuty"),
        "{error}"
    );
    // The aliases' tag is keyed by the REST key, never by the routing key
    // (which PagerDuty shows in the service's settings).
    let tagged = |routing_key: &'static str, token: &'static str| {
        pagerduty(&[
            ("PAGERDUTY_API_TOKEN", token),
            ("PAGERDUTY_SCHEDULE", "SRE"),
            ("PAGERDUTY_ROUTING_KEY", routing_key),
            ("ALERT_MODE", "every"),
        ])
        .expect("valid")
        .alias_key()
        .alias_for("C1", "1.1", "1.1")
    };
    assert_eq!(tagged("rk-one", "pd-token"), tagged("rk-two", "pd-token"));
    assert_ne!(tagged("rk-one", "pd-token"), tagged("rk-one", "pd-other"));
}

#[test]
fn escalation_policies_are_pagerdutys_and_its_teams_name_their_schedules() {
    let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
    let pd = |file: &'static str, policy: Option<&'static str>| {
        let mut env = vec![
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_SIGNING_SECRET", "secret"),
            ("ONCALL_PROVIDER", "pagerduty"),
            ("PAGERDUTY_API_TOKEN", "pd-token"),
            ("PAGERDUTY_SCHEDULE", "PSRE001"),
            ("ONCALL_CONFIG", file),
        ];
        env.extend(policy.map(|policy| ("PAGERDUTY_ESCALATION_POLICY", policy)));
        env
    };
    let named = leak(config_file(
        "pd-teams",
        "[[team]]\nname = \"payments\"\nschedule = \"Payments primary\"\n\
         escalation_policy = \"PEPPAY1\"\n",
    ));
    let config = serve(&pd(named, Some("PEPSRE1"))).expect("valid");
    let SourceConfig::PagerDuty(pagerduty) = &config.source else {
        panic!("PagerDuty expected");
    };
    assert_eq!(
        pagerduty
            .escalation_policies
            .iter()
            .map(|(schedule, policy)| (schedule.as_str(), policy.as_str()))
            .collect::<Vec<_>>(),
        [("PSRE001", "PEPSRE1"), ("Payments primary", "PEPPAY1")]
    );
    let unnamed = leak(config_file("pd-unnamed", "[[team]]\nname = \"payments\"\n"));
    let error = serve_error(&pd(unnamed, None));
    assert!(
        error.contains("team `payments`") && error.contains("names its schedule"),
        "{error}"
    );
    let error = serve_error(&with(&[("ONCALL_CONFIG", named)]));
    assert!(
        error.contains("team `payments`") && error.contains("escalation_policy is PagerDuty's"),
        "{error}"
    );
}

#[test]
fn max_in_flight_is_a_positive_number() {
    let config = serve(&with(&[("MAX_IN_FLIGHT", "5")])).expect("valid");
    assert_eq!(config.max_in_flight, 5);
    assert!(parse(&["serve"], &with(&[("MAX_IN_FLIGHT", "0")])).is_err());
    assert!(parse(&["serve"], &with(&[("MAX_IN_FLIGHT", "many")])).is_err());
}

#[test]
fn a_plain_http_url_off_this_machine_is_refused_naming_the_variable() {
    for (name, url) in [
        ("SLACK_API_URL", "http://slack.example/api"),
        ("OPSGENIE_API_URL", "http://opsgenie.example/"),
    ] {
        let error = serve_error(&with(&[(name, url)]));
        assert!(
            error.starts_with(&format!(
                "{name}={url}: a plain http:// URL would send the credentials in clear"
            )),
            "{error}"
        );
    }
    for (name, url) in [
        ("JSM_SITE_URL", "http://acme.example/"),
        ("JSM_API_URL", "http://api.example/"),
    ] {
        let error = serve_error(&jsm(&[(name, url)]));
        assert!(error.starts_with(&format!("{name}={url}: ")), "{error}");
    }
    for loopback in [
        "http://127.0.0.1:9/api",
        "http://localhost:9/api",
        "http://[::1]:9/api",
    ] {
        let url: &'static str = Box::leak(loopback.to_owned().into_boxed_str());
        assert!(
            serve(&with(&[("SLACK_API_URL", url)])).is_ok(),
            "{loopback}"
        );
    }
    assert!(serve(&with(&[("SLACK_API_URL", "https://slack.example/api")])).is_ok());
}

#[test]
fn every_missing_variable_is_named_in_one_line() {
    let error = serve_error(&[]);
    assert_eq!(
        error,
        "missing: SLACK_BOT_TOKEN, OPSGENIE_API_KEY, OPSGENIE_SCHEDULE, and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET"
    );
    let error = serve_error(&[("ONCALL_PROVIDER", "jsm"), ("ALERT_ON_MENTION", "true")]);
    assert_eq!(
        error,
        "missing: SLACK_BOT_TOKEN, JSM_SITE_URL, JSM_EMAIL, JSM_API_TOKEN, JSM_SCHEDULE, \
         JSM_INTEGRATION_KEY, and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET"
    );
}

/// clap's error for `env`, as the binary prints it (after `error: `).
fn explained(env: &[(&str, &str)]) -> String {
    oncall_bot::config::args::explain(&parse(&["serve"], env).expect_err("refused"))
}

#[test]
fn a_malformed_value_names_the_variable_and_what_was_expected_in_one_line() {
    let cases = [
        (
            ("ONCALL_CACHE_TTL", "abc"),
            "ONCALL_CACHE_TTL=abc: expected seconds (300) or a duration (5m, 1h30m)",
        ),
        (
            ("OPSGENIE_REGION", "mars"),
            "OPSGENIE_REGION=mars: expected one of us, eu",
        ),
        (
            ("LISTEN_ADDR", "3000"),
            "LISTEN_ADDR=3000: expected an address and port, e.g. 0.0.0.0:3000, 127.0.0.1:8080 or :3000",
        ),
        (
            ("ALERT_PRIORITY", "P9"),
            "ALERT_PRIORITY=P9: expected one of P1, P2, P3, P4, P5",
        ),
        (
            ("MAX_IN_FLIGHT", "0"),
            "MAX_IN_FLIGHT=0: 0 is not in 1..=4294967295",
        ),
        (("SLACK_BOT_TOKEN", "  "), "SLACK_BOT_TOKEN: it is empty"),
    ];
    for ((name, value), expected) in cases {
        let explained = explained(&with(&[(name, value)]));
        assert_eq!(explained, expected);
        assert!(
            !explained.contains('\n') && !explained.contains("--"),
            "{explained}"
        );
    }
}

#[test]
fn enumerations_ignore_case_and_a_bare_port_means_every_interface() {
    let cli = parse(
        &["serve"],
        &with(&[
            ("LOG_FORMAT", "JSON"),
            ("OPSGENIE_REGION", "EU"),
            ("LISTEN_ADDR", ":3000"),
        ]),
    )
    .expect("parses");
    assert_eq!(cli.log_format, LogFormat::Json);
    let config = serve(&with(&[
        ("OPSGENIE_REGION", "EU"),
        ("LISTEN_ADDR", ":3000"),
    ]))
    .expect("valid");
    assert_eq!(config.listen_addr.to_string(), "0.0.0.0:3000");
    let SourceConfig::OpsGenie(opsgenie) = &config.source else {
        panic!("OpsGenie");
    };
    assert_eq!(opsgenie.api_url.as_str(), "https://api.eu.opsgenie.com/");
    assert!(serve(&jsm(&[("ONCALL_PROVIDER", "JSM")])).is_ok());
}

#[test]
fn alert_mode_is_off_every_or_page_and_alert_on_mention_means_every() {
    use oncall_bot::alerting::AlertMode;
    let mode = |env: &[(&'static str, &'static str)]| {
        serve(&with(env))
            .expect("valid")
            .alerts
            .map(|alerts| alerts.mode)
    };
    assert_eq!(mode(&[]), None, "off by default");
    assert_eq!(mode(&[("ALERT_MODE", "page")]), Some(AlertMode::Page));
    assert_eq!(mode(&[("ALERT_MODE", "EVERY")]), Some(AlertMode::Every));
    assert_eq!(
        mode(&[("ALERT_ON_MENTION", "true")]),
        Some(AlertMode::Every)
    );
    assert_eq!(
        mode(&[("ALERT_ON_MENTION", "true"), ("ALERT_MODE", "off")]),
        None,
        "ALERT_MODE wins when set"
    );
    assert_eq!(
        explained(&with(&[("ALERT_MODE", "sometimes")])),
        "ALERT_MODE=sometimes: expected one of off, every, page"
    );
}

#[test]
fn state_url_turns_on_shared_state_and_a_bad_one_is_named_without_repeating_it() {
    assert!(
        serve(BASE).expect("valid").state.is_none(),
        "unset: this process alone"
    );
    let shared = serve(&with(&[("STATE_URL", "redis://:s3cret@redis:6379/0")])).expect("valid");
    let state = shared.state.expect("shared");
    assert_eq!(state.prefix, "oncall-bot:");
    let prefixed = serve(&with(&[
        ("STATE_URL", "rediss://redis.internal:6380"),
        ("STATE_PREFIX", "payments-bot:"),
    ]))
    .expect("valid");
    assert_eq!(prefixed.state.expect("shared").prefix, "payments-bot:");
    for (url, why) in [
        (
            "http://:s3cret@redis:6379",
            "its scheme is not redis or rediss",
        ),
        ("s3cret-redis:6379", "it has no scheme"),
        ("redis://:s3cret@", "it does not parse"),
        ("redis:///0", "it names no host"),
    ] {
        let error = serve_error(&with(&[("STATE_URL", url)]));
        assert_eq!(
            error,
            format!(
                "STATE_URL is not a Redis URL: {why}; write redis://host:6379/0, or rediss://… for TLS"
            )
        );
        assert!(!error.contains("s3cret"), "{error}");
    }
}

#[test]
fn the_alias_key_comes_from_alert_alias_secret_else_the_providers_key() {
    let place = ("C1", "1.1", "1.1");
    let alias = |config: &ServeConfig| config.alias_key().alias_for(place.0, place.1, place.2);
    let derived = serve(BASE).expect("valid");
    let same_key = serve(BASE).expect("valid");
    assert_eq!(alias(&derived), alias(&same_key), "every replica agrees");
    let other_key = serve(&with(&[("OPSGENIE_API_KEY", "another-key")])).expect("valid");
    assert_ne!(alias(&derived), alias(&other_key));
    let secret = serve(&with(&[("ALERT_ALIAS_SECRET", "a-long-shared-secret")])).expect("valid");
    let secret_elsewhere = serve(&with(&[
        ("ALERT_ALIAS_SECRET", "a-long-shared-secret"),
        ("OPSGENIE_API_KEY", "another-key"),
    ]))
    .expect("valid");
    assert_eq!(
        alias(&secret),
        alias(&secret_elsewhere),
        "the key does not matter then"
    );
    assert_ne!(alias(&secret), alias(&derived));
    assert!(!format!("{secret:?}").contains("a-long-shared-secret"));
}
