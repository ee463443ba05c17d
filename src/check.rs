//! `oncall-bot check`: tries the configuration against Slack and OpsGenie once and
//! says, in plain words, what works and what to fix.

use std::fmt;
use std::sync::Arc;

use reqwest::Url;
use secrecy::ExposeSecret;

use crate::config::{OpsGenieConfig, ServeConfig, SourceConfig};
use crate::metrics::Metrics;
use crate::model::{HomeBlock, HomeTab, Person};
use crate::outbound::{RestError, RetryPolicy, Timeouts};
use crate::providers::{
    ActingUser, ActionError, AlertVerb, JsmClient, JsmConfig, OpsGenieClient, PagerDutyClient,
    PagerDutyConfig, Provider,
};
use crate::slack::{SlackApi, SlackError};
use crate::store::SharedState;
use crate::usergroup_sync::UserGroupRef;

/// The bot token's scopes that every feature needs.
pub const REQUIRED_SCOPES: &[&str] = &[
    "app_mentions:read",
    "chat:write",
    "im:history",
    "users:read",
    "users:read.email",
];

/// What cron mode adds, unless a user token does the user-group calls.
pub const USERGROUP_SCOPES: &[&str] = &["usergroups:read", "usergroups:write"];

/// How a finding reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but not as well as it could (someone named by email, not mentioned).
    Warn,
    /// Broken: `check` exits non-zero.
    Fail,
    /// Not checked: an earlier step failed, or checking would page someone.
    Skip,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok  ",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Skip => "skip",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.level.label(), self.text)
    }
}

/// Everything `check` found, in order.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, level: Level, text: impl Into<String>) {
        self.findings.push(Finding {
            level,
            text: text.into(),
        });
    }

    fn ok(&mut self, text: impl Into<String>) {
        self.push(Level::Ok, text);
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.push(Level::Warn, text);
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.push(Level::Fail, text);
    }

    fn skip(&mut self, text: impl Into<String>) {
        self.push(Level::Skip, text);
    }

    /// No failure (warnings and skips allowed): the setup can serve.
    pub fn all_ok(&self) -> bool {
        self.findings
            .iter()
            .all(|finding| finding.level != Level::Fail)
    }
}

/// What is wrong with SLACK_BOT_TOKEN when `auth.test` fails, and what to do;
/// `serve` says it in the same words.
pub fn bot_token_problem(error: &SlackError, api_url: &Url) -> String {
    match error {
        SlackError::Api { code }
            if matches!(
                code.as_str(),
                "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive"
            ) =>
        {
            format!(
                "Slack: the token in SLACK_BOT_TOKEN is refused ({code}); copy the Bot User OAuth \
                 Token (xoxb-…) again from OAuth & Permissions, and reinstall the app if it was revoked"
            )
        }
        SlackError::Api { code } => format!("Slack: auth.test failed ({code})"),
        SlackError::Decode(_) | SlackError::Http { .. } => {
            format!("Slack: auth.test answered something unreadable ({error})")
        }
        _ => {
            format!("Slack: cannot reach {api_url} ({error}); check SLACK_API_URL and the network")
        }
    }
}

/// What is wrong with SLACK_APP_TOKEN when `apps.connections.open` fails;
/// `serve` says it in the same words.
pub fn app_token_problem(error: &SlackError) -> String {
    match error {
        SlackError::Api { code } if code == "not_allowed_token_type" => {
            "Socket Mode: SLACK_APP_TOKEN is not an app-level token: generate one (xapp-…) \
             under Basic Information → App-Level Tokens with the connections:write scope"
                .to_owned()
        }
        _ => format!(
            "Socket Mode: SLACK_APP_TOKEN cannot open a connection ({error}); is Socket Mode \
             enabled for the app, and does the token have connections:write?"
        ),
    }
}

/// Runs every check. `other_region_url` is the OpsGenie region not configured
/// (when the URL was not overridden), tried when the key is refused.
pub async fn run(config: &ServeConfig, other_region_url: Option<Url>) -> Report {
    let mut report = Report::default();
    report.ok("configuration: every required variable is set");
    let slack_works = check_bot_token(config, &mut report).await;
    if let Some(app_token) = &config.app_token {
        match SlackApi::new(config.slack.api_url.as_str(), app_token, config.timeouts) {
            Ok(app) => match app.open_socket_url().await {
                Ok(_) => report.ok("Socket Mode: SLACK_APP_TOKEN opens a connection"),
                Err(error) => report.fail(app_token_problem(&error)),
            },
            Err(error) => report.fail(format!("Socket Mode: {error}")),
        }
    }
    let on_call = match &config.source {
        SourceConfig::OpsGenie(opsgenie) => {
            check_opsgenie(opsgenie, config.timeouts, other_region_url, &mut report)
                .await
                .map(|emails| {
                    emails
                        .iter()
                        .map(|email| Person::with_email(email))
                        .collect()
                })
        }
        SourceConfig::Jsm(jsm) => check_jsm(jsm, config.timeouts, &mut report).await,
        SourceConfig::PagerDuty(pd) => check_pagerduty(pd, config, &mut report).await,
    };
    match (slack_works, on_call) {
        (Some(scopes), Some(people)) => check_people(config, people, &scopes, &mut report).await,
        _ => {
            report.skip("Slack lookups of the people on call: not checked until the above is fixed")
        }
    }
    check_alerts(config, &mut report).await;
    check_state(config, &mut report).await;
    report
}

/// Whether the Home tab can be published: it is, for one person on call, with
/// a view that asks them to open it (which publishes theirs afresh).
async fn check_home(slack: &SlackApi, user: &str, report: &mut Report) {
    let tab = HomeTab {
        blocks: vec![
            HomeBlock::Header("Who is on call".to_owned()),
            HomeBlock::Text("Open this tab again to see who is on call now.".to_owned()),
        ],
    };
    match slack.publish_home(user, &tab).await {
        Ok(()) => report.ok(
            "Slack: the Home tab can be published (views.publish, tried for one person on call)",
        ),
        Err(error) => report.fail(format!(
            "Slack: the Home tab cannot be published ({error}); turn it on in the app's settings \
             (App Home → Home Tab, as manifest.yml does), see docs/app-home.md"
        )),
    }
}

/// What can be said about alerts without raising one: the policy, whether the
/// key may act on alerts (an acknowledge of an alias nobody raised: it changes
/// nothing and pages nobody), and whether the webhook route is on.
async fn check_alerts(config: &ServeConfig, report: &mut Report) {
    let Some(alerts) = &config.alerts else {
        return;
    };
    let (system, credential, webhook, variable) = match &config.source {
        SourceConfig::OpsGenie(_) => (
            "OpsGenie",
            "OPSGENIE_API_KEY needs the Create and Update Access right",
            &config.webhooks.opsgenie,
            "OPSGENIE_WEBHOOK_TOKEN",
        ),
        SourceConfig::Jsm(_) => (
            "JSM",
            "JSM_INTEGRATION_KEY must be an API integration's key",
            &config.webhooks.jsm,
            "JSM_WEBHOOK_TOKEN",
        ),
        SourceConfig::PagerDuty(_) => (
            "PagerDuty",
            "PAGERDUTY_ROUTING_KEY must be an Events API v2 integration key",
            &config.webhooks.pagerduty,
            "PAGERDUTY_WEBHOOK_SECRET",
        ),
    };
    let team = alerts
        .team
        .as_deref()
        .map(|team| format!(", routed to team {team}"))
        .unwrap_or_default();
    report.skip(format!(
        "Alerts: {} alerts in {system}{team}, at most {} per person per {}; not tested: \
         creating an alert would page someone. {credential}",
        alerts.priority,
        alerts.rate_limit.count,
        humantime::format_duration(alerts.rate_limit.per),
    ));
    check_alert_actions(config, system, report).await;
    let route = match &config.source {
        SourceConfig::OpsGenie(_) => "/opsgenie/webhook",
        SourceConfig::Jsm(_) => "/jsm/webhook",
        SourceConfig::PagerDuty(_) => "/pagerduty/webhook",
    };
    match webhook {
        Some(_) if system == "PagerDuty" => report.ok(format!(
            "Alerts, both ways: {variable} is set, so POST {route} takes a v3 webhook \
             subscription's deliveries, signed with that secret"
        )),
        Some(_) => report.ok(format!(
            "Alerts, both ways: {variable} is set, so POST {route} takes {system}'s Webhook \
             integration (custom header Authorization: Bearer <the token>)"
        )),
        None => report.warn(format!(
            "Alerts, both ways: {variable} is not set, so what people do in {system} \
             (acknowledge, notes, close) does not show in the Slack threads; set it and add \
             a Webhook integration pointing at {route} (see docs/alerts.md)"
        )),
    }
}

/// Whether the key may acknowledge, assign and close alerts, asked with an
/// alias no alert has.
async fn check_alert_actions(config: &ServeConfig, system: &str, report: &mut Report) {
    let provider = match &config.source {
        SourceConfig::OpsGenie(opsgenie) => OpsGenieClient::new(
            opsgenie.api_url.clone(),
            opsgenie.api_key.clone(),
            config.timeouts,
        )
        .map(|client| Provider::OpsGenie(Box::new(client.with_retry_policy(RetryPolicy::none())))),
        SourceConfig::Jsm(jsm) => JsmClient::new(jsm.clone(), config.timeouts)
            .map(|client| Provider::Jsm(Box::new(client.with_retry_policy(RetryPolicy::none())))),
        SourceConfig::PagerDuty(pd) => {
            PagerDutyClient::new(pd.clone(), config.timeouts).map(|client| {
                Provider::PagerDuty(Box::new(client.with_retry_policy(RetryPolicy::none())))
            })
        }
    };
    let Ok(provider) = provider else {
        // Said already by the on-call check.
        return;
    };
    if matches!(provider, Provider::PagerDuty(_)) {
        // PagerDuty answers a missing incident the same to a read-only key and
        // to a full one: only a write would tell, and a write is not a check.
        report.warn(format!(
            "Alerts: not tested whether the key may act on {system} incidents (only a write \
             would tell): use a REST key with write access for the buttons and \
             `@ops ack|take|close`"
        ));
        return;
    }
    let by = ActingUser {
        user: "oncall-bot check",
        note: "oncall-bot check: can this key act on alerts? (no alert has this alias)",
    };
    match provider
        .act_on_alert(CHECK_ALIAS, AlertVerb::Acknowledge, by)
        .await
    {
        Ok(()) | Err(ActionError::Refused(_)) => report.ok(format!(
            "Alerts: the key may act on {system} alerts (the buttons and `@ops ack|take|close` will work)"
        )),
        Err(error) if error.is_transient() => report.warn(format!(
            "Alerts: could not find out whether the key may act on {system} alerts: {error}"
        )),
        Err(error) => report.fail(format!(
            "Alerts: the key may not act on {system} alerts, so the buttons will fail: {error}"
        )),
    }
}

/// Whether the shared state answers at `STATE_URL`.
async fn check_state(config: &ServeConfig, report: &mut Report) {
    let Some(state) = &config.state else {
        return;
    };
    let shared = match SharedState::redis(state, Arc::new(Metrics::new())) {
        Ok(shared) => shared,
        Err(error) => {
            report.fail(format!("Replicas: {error}"));
            return;
        }
    };
    match shared.ping().await {
        Some(Ok(server)) => report.ok(format!(
            "Replicas: STATE_URL reaches {server}; replicas share what they answered, the \
             alerts raised, cache clears and the user-group sync's lease (keys {}…)",
            state.prefix
        )),
        Some(Err(error)) => report.fail(format!(
            "Replicas: STATE_URL does not answer: {error}. The bot would still answer, but \
             each replica on its own (a retry landing on another one is answered twice; see \
             docs/replicas.md)"
        )),
        None => {}
    }
}

/// The alias `check` acknowledges to learn whether the key may act on alerts;
/// no alert has it.
pub const CHECK_ALIAS: &str = "oncall-bot-check-no-such-alert";

/// Whether the bot token works; if so, the scopes it has (`None`: not listed).
async fn check_bot_token(config: &ServeConfig, report: &mut Report) -> Option<Option<Vec<String>>> {
    let token = &config.slack.bot_token;
    if !token.expose_secret().starts_with("xoxb-") {
        report.fail("Slack: SLACK_BOT_TOKEN does not start with xoxb-: use the Bot User OAuth Token from OAuth & Permissions");
    }
    let slack = match SlackApi::new(config.slack.api_url.as_str(), token, config.timeouts) {
        Ok(slack) => slack,
        Err(error) => {
            report.fail(format!("Slack: {error}"));
            return None;
        }
    };
    let grant = match slack.granted_scopes().await {
        Ok(grant) => grant,
        Err(error) => {
            report.fail(bot_token_problem(&error, &config.slack.api_url));
            return None;
        }
    };
    report.ok(format!(
        "Slack: SLACK_BOT_TOKEN works: bot @{} ({}) in {}",
        grant.user, grant.user_id, grant.team
    ));
    let Some(scopes) = grant.scopes else {
        report.skip("Slack: the token's scopes were not listed; not checked");
        return Some(None);
    };
    let mut needed: Vec<&str> = REQUIRED_SCOPES.to_vec();
    if !config.usergroups.is_empty() && config.slack.user_token.is_none() {
        needed.extend(USERGROUP_SCOPES);
    }
    if config
        .announcements
        .iter()
        .any(|spec| spec.remind_before.is_some())
    {
        needed.push("im:write");
    }
    if !config.topics.is_empty() {
        needed.extend(["channels:read", "channels:write.topic"]);
    }
    let granted = |scope: &str| scopes.iter().any(|granted| granted == scope);
    if config.take_call.names_groups() && !granted("usergroups:read") {
        report.warn(
            "Taking the call: take_call_allowed names user groups, but the token lacks \
             usergroups:read, so their people cannot take the call (see docs/privileges.md)",
        );
    }
    if !granted("im:write") {
        report.warn(
            "Taking the call: the token lacks im:write, so the people an override replaces \
             are not told by DM (see docs/privileges.md)",
        );
    }
    let missing: Vec<&str> = needed.into_iter().filter(|scope| !granted(scope)).collect();
    if missing.is_empty() {
        report.ok("Slack: the token has every scope the bot needs");
    } else {
        report.fail(format!(
            "Slack: the token lacks the scope(s) {}: add them under OAuth & Permissions \
             (or paste manifest.yml again) and reinstall the app; what each is for: \
             docs/configuration.md",
            missing.join(", ")
        ));
    }
    Some(Some(scopes))
}

/// The emails on call, when OpsGenie answers.
async fn check_opsgenie(
    config: &OpsGenieConfig,
    timeouts: Timeouts,
    other_region_url: Option<Url>,
    report: &mut Report,
) -> Option<Vec<String>> {
    let schedule = &config.schedule;
    let client = |url: Url| {
        OpsGenieClient::new(url, config.api_key.clone(), timeouts)
            .map(|client| client.with_retry_policy(RetryPolicy::none()))
    };
    let opsgenie = match client(config.api_url.clone()) {
        Ok(opsgenie) => opsgenie,
        Err(error) => {
            report.fail(format!("OpsGenie: {error}"));
            return None;
        }
    };
    let emails = match opsgenie.on_call_emails(schedule).await {
        Ok(emails) => emails,
        Err(RestError::Unauthorized { status, .. }) => {
            let works_elsewhere = match other_region_url.map(client) {
                Some(Ok(other)) => other.on_call_emails(schedule).await.is_ok(),
                _ => false,
            };
            report.fail(if works_elsewhere {
                "OpsGenie: the key is refused here but works in the other region: set \
                 OPSGENIE_REGION to the other value (us or eu)"
                    .to_owned()
            } else {
                format!(
                    "OpsGenie: the key in OPSGENIE_API_KEY is refused (HTTP {status}): check the key, \
                     that its integration is enabled with read access, and OPSGENIE_REGION"
                )
            });
            return None;
        }
        Err(RestError::NotFound { .. }) => {
            report.fail(format!(
                "OpsGenie: there is no schedule named `{schedule}` (OPSGENIE_SCHEDULE; names are \
                 case-sensitive, e.g. SRE_schedule)"
            ));
            return None;
        }
        Err(error) => {
            report.fail(format!("OpsGenie: the on-call lookup failed: {error}"));
            return None;
        }
    };
    report.ok(format!(
        "OpsGenie: schedule `{schedule}` answers; on call now: {}",
        if emails.is_empty() {
            "nobody".to_owned()
        } else {
            emails.join(", ")
        }
    ));
    Some(emails)
}

/// A PagerDuty error as a check line, naming PagerDuty once.
fn pagerduty_said(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    if text.starts_with("PagerDuty") {
        text
    } else {
        format!("PagerDuty: {text}")
    }
}

/// The people on call, when PagerDuty answers: the token, the schedule (its id
/// when it was named), then who is on it now.
async fn check_pagerduty(
    pd: &PagerDutyConfig,
    config: &ServeConfig,
    report: &mut Report,
) -> Option<Vec<Person>> {
    let client = match PagerDutyClient::new(pd.clone(), config.timeouts) {
        Ok(client) => client.with_retry_policy(RetryPolicy::none()),
        Err(error) => {
            report.fail(pagerduty_said(&error));
            return None;
        }
    };
    let schedule = &pd.schedule;
    match client.schedule_id(schedule).await {
        Ok(id) if id == *schedule => report.ok(format!("PagerDuty: schedule {id} answers")),
        Ok(id) => report.ok(format!("PagerDuty: schedule `{schedule}` is {id}")),
        Err(error) => {
            report.fail(pagerduty_said(&error));
            return None;
        }
    }
    // Every other schedule named is found too, as the bot finds them at start.
    for other in config.schedules() {
        if other == schedule.as_str() {
            continue;
        }
        match client.schedule_id(other).await {
            Ok(id) => report.ok(format!("PagerDuty: schedule `{other}` is {id}")),
            Err(error) => report.fail(pagerduty_said(&error)),
        }
    }
    for (for_schedule, policy) in &pd.escalation_policies {
        match client.escalation_policy_name(policy).await {
            Ok(name) => report.ok(format!(
                "PagerDuty: escalation policy {policy} ({name}) answers for `{for_schedule}`"
            )),
            Err(error) => report.fail(pagerduty_said(&error)),
        }
    }
    let answered_by = match pd.escalation_policies.get(schedule) {
        Some(policy) => format!("the levels of escalation policy {policy}"),
        None => "the final schedule".to_owned(),
    };
    match client.on_call_people(schedule).await {
        Ok(people) => {
            report.ok(format!(
                "PagerDuty: on call now ({answered_by}): {}",
                if people.is_empty() {
                    "nobody".to_owned()
                } else {
                    people
                        .iter()
                        .map(|person| person.email.clone().unwrap_or_else(|| person.name.clone()))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
            Some(people)
        }
        Err(error) => {
            report.fail(format!("The on-call lookup failed: {error}"));
            None
        }
    }
}

/// The people on call, when JSM answers: cloud id, schedule id, then the lookup.
async fn check_jsm(
    config: &JsmConfig,
    timeouts: Timeouts,
    report: &mut Report,
) -> Option<Vec<Person>> {
    let client = match JsmClient::new(config.clone(), timeouts) {
        Ok(client) => client.with_retry_policy(RetryPolicy::none()),
        Err(error) => {
            report.fail(format!("JSM: {error}"));
            return None;
        }
    };
    let cloud_id = match client.cloud_id().await {
        Ok(cloud_id) => cloud_id,
        Err(error) => {
            report.fail(format!(
                "JSM: could not find the cloud id of {} ({error}); check JSM_SITE_URL, or set JSM_CLOUD_ID",
                config.site_url
            ));
            return None;
        }
    };
    report.ok(format!("JSM: cloud id {cloud_id}"));
    let schedule = &config.schedule;
    match client.schedule_id(schedule).await {
        Ok(id) => report.ok(format!("JSM: schedule `{schedule}` is {id}")),
        Err(error) => {
            report.fail(format!("JSM: {error}"));
            return None;
        }
    }
    match client.on_call_people(schedule).await {
        Ok(people) => {
            report.ok(format!(
                "JSM: on call now: {}",
                if people.is_empty() {
                    "nobody".to_owned()
                } else {
                    people
                        .iter()
                        .map(|person| {
                            person
                                .email
                                .clone()
                                .unwrap_or_else(|| format!("{} (email hidden)", person.name))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
            Some(people)
        }
        Err(error) => {
            report.fail(format!("JSM: the on-call lookup failed: {error}"));
            None
        }
    }
}

/// Whether the people on call can be found in Slack, and the user group exists.
async fn check_people(
    config: &ServeConfig,
    people: Vec<Person>,
    scopes: &Option<Vec<String>>,
    report: &mut Report,
) {
    let slack = match SlackApi::new(
        config.slack.api_url.as_str(),
        &config.slack.bot_token,
        config.timeouts,
    ) {
        Ok(slack) => Arc::new(slack),
        Err(error) => return report.fail(format!("Slack: {error}")),
    };
    let overridden = |person: &Person| {
        let by_account = person
            .account_id
            .as_ref()
            .is_some_and(|account| config.email_overrides.contains_key(account))
            || matches!((&config.source, &person.account_id), (SourceConfig::Jsm(jsm), Some(account)) if jsm.account_overrides.contains_key(account));
        let by_email = person
            .email
            .as_ref()
            .is_some_and(|email| config.email_overrides.contains_key(&email.to_lowercase()));
        by_account || by_email
    };
    let mut found = 0;
    let mut someone = None;
    for person in &people {
        if overridden(person) {
            found += 1;
            continue;
        }
        let Some(email) = &person.email else {
            report.warn(format!(
                "Slack: {}'s email is hidden by their Atlassian profile; they will be named, not \
                 mentioned, unless JSM_ACCOUNT_OVERRIDES maps their account id to a Slack id",
                person.name
            ));
            continue;
        };
        match slack.user_id_by_email(email).await {
            Ok(Some(user)) => {
                found += 1;
                someone.get_or_insert(user);
            }
            Ok(None) => report.warn(format!(
                "Slack: nobody in the workspace has the email {email} (on call); they will be \
                 named by email, not mentioned"
            )),
            Err(error) => {
                return report.fail(format!("Slack: users.lookupByEmail failed ({error})"))
            }
        }
    }
    if !people.is_empty() {
        report.ok(format!(
            "Slack: {found} of {} people on call found",
            people.len()
        ));
    }
    if let Some(user) = someone {
        check_home(&slack, &user, report).await;
    }
    if config.usergroups.is_empty() {
        return;
    }
    // A missing scope was reported above; reporting each group's failure
    // because of it would say the same thing again.
    let lacks_group_scopes = config.slack.user_token.is_none()
        && scopes.as_ref().is_some_and(|scopes| {
            USERGROUP_SCOPES
                .iter()
                .any(|needed| !scopes.iter().any(|granted| granted == needed))
        });
    if lacks_group_scopes {
        for usergroup in &config.usergroups {
            report.skip(format!(
                "Slack: {}: not checked until the token has the user-group scopes",
                usergroup.group
            ));
        }
        return;
    }
    let groups_token = config
        .slack
        .user_token
        .as_ref()
        .unwrap_or(&config.slack.bot_token);
    let groups = match SlackApi::new(config.slack.api_url.as_str(), groups_token, config.timeouts) {
        Ok(groups) => groups,
        Err(error) => return report.fail(format!("Slack: {error}")),
    };
    for usergroup in &config.usergroups {
        match &usergroup.group {
            UserGroupRef::Id(id) => match groups.user_group_members(id).await {
                Ok(_) => report.ok(format!("Slack: user group {id} exists")),
                Err(error) => report.fail(format!("Slack: user group {id}: {error}")),
            },
            UserGroupRef::Handle(handle) => match groups.user_group_id(handle).await {
                Ok(Some(id)) => report.ok(format!("Slack: user group @{handle} is {id}")),
                Ok(None) => report.fail(format!(
                    "Slack: there is no user group @{handle}; create it first"
                )),
                Err(error) => report.fail(format!("Slack: usergroups.list failed ({error})")),
            },
        }
    }
}
