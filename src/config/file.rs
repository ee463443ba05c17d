//! The optional config file (`ONCALL_CONFIG`, TOML): teams, channel defaults, user
//! groups and email overrides. Errors name the file, the line and the key.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::handovers::{AnnounceSpec, TopicSpec};
use crate::overrides::{TakeCallPolicies, TakeCallPolicy};
use crate::routing::{Routing, Team};
use crate::usergroup_sync::{UserGroupRef, UserGroupSpec};

/// What the file sets up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSettings {
    /// `default_schedule`, which takes the place of OPSGENIE_SCHEDULE.
    pub default_schedule: Option<String>,
    pub routing: Routing,
    pub usergroups: Vec<UserGroupSpec>,
    /// OpsGenie username (lower case) → Slack user id.
    pub email_overrides: HashMap<String, String>,
    /// The top-level `announce_channel` and `remind_before`: the default
    /// schedule's hand-overs and reminders.
    pub default_announce_channel: Option<String>,
    pub default_remind_before: Option<Duration>,
    /// The teams' `announce_channel`s and `remind_before`s.
    pub announcements: Vec<AnnounceSpec>,
    /// Channels whose topic names who is on call (`topic = true`).
    pub topics: Vec<TopicSpec>,
    /// Who may take the call, and for how long: the top level's, and each
    /// team's schedule's.
    pub take_call: TakeCallPolicies,
    /// The teams' `escalation_policy` (PagerDuty's): (team, schedule, policy).
    pub escalation_policies: Vec<(String, String, String)>,
    /// The teams that name no schedule (OpsGenie's `<name>_schedule` then).
    pub teams_without_schedule: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Said once: no `#[source]`, so no error chain repeats the cause.
    #[error("ONCALL_CONFIG={}: cannot read the file: {}", .path.display(), describe_io(.cause))]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_schedule: Option<Spanned<String>>,
    #[serde(default, rename = "team")]
    teams: Vec<TeamEntry>,
    #[serde(default, rename = "channel")]
    channels: Vec<ChannelEntry>,
    #[serde(default, rename = "usergroup")]
    usergroups: Vec<UserGroupEntry>,
    #[serde(default)]
    email_overrides: BTreeMap<String, Spanned<String>>,
    announce_channel: Option<Spanned<String>>,
    remind_before: Option<Spanned<String>>,
    take_call: Option<bool>,
    take_call_allowed: Option<Vec<Spanned<String>>>,
    take_call_max: Option<Spanned<String>>,
}

/// `take_call`, `take_call_allowed` and `take_call_max`, at the top level or
/// in a `[[team]]`.
struct TakeCallEntry<'a> {
    take_call: Option<bool>,
    take_call_allowed: Option<&'a Vec<Spanned<String>>>,
    take_call_max: Option<&'a Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamEntry {
    name: Spanned<String>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    schedule: Option<String>,
    announce_channel: Option<Spanned<String>>,
    remind_before: Option<Spanned<String>>,
    take_call: Option<bool>,
    take_call_allowed: Option<Vec<Spanned<String>>>,
    take_call_max: Option<Spanned<String>>,
    escalation_policy: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelEntry {
    id: Spanned<String>,
    team: Spanned<String>,
    #[serde(default)]
    topic: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserGroupEntry {
    handle: Spanned<String>,
    schedules: Spanned<Vec<String>>,
    #[serde(default)]
    always: Vec<Spanned<String>>,
}

/// An I/O failure in words, without the "(os error 2)" suffix.
fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => "there is no such file".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::IsADirectory => "it is a directory".to_owned(),
        ErrorKind::InvalidData => "it is not UTF-8 text".to_owned(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        }
    }
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<FileSettings, FileError> {
    let text = std::fs::read_to_string(path).map_err(|cause| FileError::Read {
        path: path.to_owned(),
        cause,
    })?;
    parse(path, &text)
}

/// Parses and checks `text`, read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<FileSettings, FileError> {
    let invalid = |offset: usize, message: String| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |last| last.chars().count())
            + 1;
        FileError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    };
    let file: File = toml::from_str(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        invalid(offset, error.message().trim().to_owned())
    })?;

    let top_level = TakeCallEntry {
        take_call: file.take_call,
        take_call_allowed: file.take_call_allowed.as_ref(),
        take_call_max: file.take_call_max.as_ref(),
    };
    let default_take_call = take_call_policy(&top_level, &TakeCallPolicy::default(), "", &invalid)?;
    let mut take_call = TakeCallPolicies {
        default: default_take_call.clone(),
        by_schedule: HashMap::new(),
    };
    let mut teams: Vec<Team> = Vec::new();
    let mut announcements = Vec::new();
    let mut escalation_policies = Vec::new();
    let mut teams_without_schedule = Vec::new();
    for entry in &file.teams {
        let name = entry.name.get_ref().trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(invalid(
                entry.name.span().start,
                "team.name must be one word (people type it after @ops)".to_owned(),
            ));
        }
        let words = std::iter::once(&entry.name).chain(&entry.aliases);
        for word in words {
            let taken = teams.iter().any(|team| {
                team.name.eq_ignore_ascii_case(word.get_ref())
                    || team
                        .aliases
                        .iter()
                        .any(|alias| alias.eq_ignore_ascii_case(word.get_ref()))
            });
            if taken {
                return Err(invalid(
                    word.span().start,
                    format!("team name or alias `{}` is used twice", word.get_ref()),
                ));
            }
        }
        let schedule = entry
            .schedule
            .clone()
            .unwrap_or_else(|| format!("{name}_schedule"));
        if entry.schedule.is_none() {
            teams_without_schedule.push(name.to_owned());
        }
        if let Some(policy) = &entry.escalation_policy {
            let id = policy.get_ref().trim();
            if id.is_empty() {
                return Err(invalid(
                    policy.span().start,
                    "team.escalation_policy must be an escalation policy's id".to_owned(),
                ));
            }
            escalation_policies.push((name.to_owned(), schedule.clone(), id.to_owned()));
        }
        let channel = entry
            .announce_channel
            .as_ref()
            .map(|channel| channel_id(channel, "team.announce_channel", &invalid))
            .transpose()?;
        let remind_before = entry
            .remind_before
            .as_ref()
            .map(|before| remind_before(before, "team.remind_before", &invalid))
            .transpose()?;
        let team_entry = TakeCallEntry {
            take_call: entry.take_call,
            take_call_allowed: entry.take_call_allowed.as_ref(),
            take_call_max: entry.take_call_max.as_ref(),
        };
        let team_take_call = take_call_policy(&team_entry, &default_take_call, "team.", &invalid)?;
        if team_take_call != default_take_call {
            if let Some(other) = take_call.by_schedule.get(&schedule) {
                if *other != team_take_call {
                    return Err(invalid(
                        entry.name.span().start,
                        format!(
                            "team `{name}` shares the schedule `{schedule}` with another team \
                             but sets other take_call rules; the rules are per schedule"
                        ),
                    ));
                }
            }
            take_call
                .by_schedule
                .insert(schedule.clone(), team_take_call);
        }
        if channel.is_some() || remind_before.is_some() {
            announcements.push(AnnounceSpec {
                label: name.to_owned(),
                schedule: schedule.clone(),
                channel,
                remind_before,
            });
        }
        teams.push(Team {
            name: name.to_owned(),
            aliases: entry
                .aliases
                .iter()
                .map(|alias| alias.get_ref().trim().to_owned())
                .collect(),
            schedule: entry
                .schedule
                .clone()
                .unwrap_or_else(|| format!("{name}_schedule")),
        });
    }

    let mut channels = Vec::new();
    let mut topics = Vec::new();
    for entry in &file.channels {
        let known = teams.iter().any(|team| {
            team.name.eq_ignore_ascii_case(entry.team.get_ref())
                || team
                    .aliases
                    .iter()
                    .any(|alias| alias.eq_ignore_ascii_case(entry.team.get_ref()))
        });
        if !known {
            return Err(invalid(
                entry.team.span().start,
                format!(
                    "channel.team `{}` is not a [[team]] name",
                    entry.team.get_ref()
                ),
            ));
        }
        if entry.topic {
            let channel = channel_id(&entry.id, "channel.id", &invalid)?;
            let team = teams.iter().find(|team| {
                team.name.eq_ignore_ascii_case(entry.team.get_ref())
                    || team
                        .aliases
                        .iter()
                        .any(|alias| alias.eq_ignore_ascii_case(entry.team.get_ref()))
            });
            if let Some(team) = team {
                topics.push(TopicSpec {
                    channel,
                    schedule: team.schedule.clone(),
                });
            }
        }
        channels.push((
            entry.id.get_ref().trim().to_owned(),
            entry.team.get_ref().clone(),
        ));
    }
    let routing = Routing::new(teams, &channels).map_err(|message| invalid(0, message))?;

    let mut usergroups = Vec::new();
    for entry in &file.usergroups {
        let group = entry
            .handle
            .get_ref()
            .parse::<UserGroupRef>()
            .map_err(|message| {
                invalid(
                    entry.handle.span().start,
                    format!("usergroup.handle: {message}"),
                )
            })?;
        if entry.schedules.get_ref().is_empty() {
            return Err(invalid(
                entry.schedules.span().start,
                "usergroup.schedules must name at least one schedule".to_owned(),
            ));
        }
        let always = entry
            .always
            .iter()
            .map(|user| slack_user_id(user, "usergroup.always", &invalid))
            .collect::<Result<Vec<_>, _>>()?;
        usergroups.push(UserGroupSpec {
            group,
            schedules: entry.schedules.get_ref().clone(),
            always,
        });
    }

    let email_overrides = file
        .email_overrides
        .iter()
        .map(|(email, user)| {
            slack_user_id(user, "email_overrides", &invalid)
                .map(|user| (email.to_lowercase(), user))
        })
        .collect::<Result<HashMap<_, _>, _>>()?;

    let default_announce_channel = file
        .announce_channel
        .as_ref()
        .map(|channel| channel_id(channel, "announce_channel", &invalid))
        .transpose()?;
    let default_remind_before = file
        .remind_before
        .as_ref()
        .map(|before| remind_before(before, "remind_before", &invalid))
        .transpose()?;
    Ok(FileSettings {
        default_schedule: file.default_schedule.map(|schedule| schedule.into_inner()),
        routing,
        usergroups,
        email_overrides,
        default_announce_channel,
        default_remind_before,
        announcements,
        topics,
        take_call,
        escalation_policies,
        teams_without_schedule,
    })
}

/// The take-the-call rules an entry sets, over `inherited`; `prefix` names
/// where the keys are (`team.`) in errors.
fn take_call_policy(
    entry: &TakeCallEntry<'_>,
    inherited: &TakeCallPolicy,
    prefix: &str,
    invalid: &impl Fn(usize, String) -> FileError,
) -> Result<TakeCallPolicy, FileError> {
    let mut policy = inherited.clone();
    if let Some(enabled) = entry.take_call {
        policy.enabled = enabled;
    }
    if let Some(allowed) = entry.take_call_allowed {
        let key = format!("{prefix}take_call_allowed");
        policy.allowed = allowed
            .iter()
            .map(|id| {
                slack_id(id, &key, ['U', 'W'], "user id (U… or W…)", invalid).or_else(|_| {
                    slack_id(
                        id,
                        &key,
                        ['S', 'S'],
                        "user or user group id (U…, W… or S…)",
                        invalid,
                    )
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(max) = entry.take_call_max {
        let key = format!("{prefix}take_call_max");
        let span = duration(max, &key, invalid)?;
        if !(MIN_TAKE_CALL_MAX..=MAX_TAKE_CALL_MAX).contains(&span) {
            return Err(invalid(
                max.span().start,
                format!(
                    "{key}: `{}` is not between 1 minute and 90 days",
                    max.get_ref()
                ),
            ));
        }
        policy.max_span = span;
    }
    Ok(policy)
}

/// The bounds of `take_call_max`.
const MIN_TAKE_CALL_MAX: Duration = Duration::from_secs(60);
const MAX_TAKE_CALL_MAX: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The longest `remind_before`: reminders are read from the timeline that far
/// ahead every round.
const MAX_REMIND_BEFORE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A duration (`1h`, `90m`, `30s`), or the error naming where it is wrong.
fn duration(
    value: &Spanned<String>,
    key: &str,
    invalid: &impl Fn(usize, String) -> FileError,
) -> Result<Duration, FileError> {
    match humantime::parse_duration(value.get_ref().trim()) {
        Ok(duration) if duration >= Duration::from_secs(1) => Ok(duration),
        _ => Err(invalid(
            value.span().start,
            format!(
                "{key}: `{}` is not a duration of a second or more (1h, 90m, 30s)",
                value.get_ref()
            ),
        )),
    }
}

/// `remind_before`: a duration from a second to 7 days.
fn remind_before(
    value: &Spanned<String>,
    key: &str,
    invalid: &impl Fn(usize, String) -> FileError,
) -> Result<Duration, FileError> {
    let before = duration(value, key, invalid)?;
    if before > MAX_REMIND_BEFORE {
        return Err(invalid(
            value.span().start,
            format!("{key}: `{}` is more than 7 days", value.get_ref()),
        ));
    }
    Ok(before)
}

/// A Slack channel id (`C…` or `G…`), or the error naming where it is wrong.
fn channel_id(
    value: &Spanned<String>,
    key: &str,
    invalid: &impl Fn(usize, String) -> FileError,
) -> Result<String, FileError> {
    slack_id(
        value,
        key,
        ['C', 'G'],
        "channel id (C… or G…; not #name)",
        invalid,
    )
}

/// A Slack user id (`U…` or `W…`), or the error naming where it is wrong.
fn slack_user_id(
    value: &Spanned<String>,
    key: &str,
    invalid: &impl Fn(usize, String) -> FileError,
) -> Result<String, FileError> {
    slack_id(value, key, ['U', 'W'], "user id (U… or W…)", invalid)
}

/// A Slack id starting with one of `first` (upper case letters and digits),
/// or the error naming where it is wrong and what `kind` of id was expected.
fn slack_id(
    value: &Spanned<String>,
    key: &str,
    first: [char; 2],
    kind: &str,
    invalid: &impl Fn(usize, String) -> FileError,
) -> Result<String, FileError> {
    let id = value.get_ref().trim();
    let looks_right = id.len() > 1
        && id.starts_with(first)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if looks_right {
        Ok(id.to_owned())
    } else {
        Err(invalid(
            value.span().start,
            format!("{key}: `{id}` is not a Slack {kind}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
default_schedule = "SRE_schedule"      # else OPSGENIE_SCHEDULE

[[team]]
name = "payments"
aliases = ["pay", "billing"]
schedule = "Payments_schedule"

[[team]]
name = "database"

[[channel]]
id = "C0PAYHELP"
team = "payments"

[[usergroup]]
handle = "opsoncall"
schedules = ["SRE_schedule", "SRE_secondary_schedule"]
always = ["ULEAD"]

[email_overrides]
"Dave@corp.example" = "UDAVE"
"#;

    fn error_of(text: &str) -> String {
        parse(Path::new("oncall.toml"), text)
            .expect_err("invalid")
            .to_string()
    }

    #[test]
    fn the_documented_example_loads() {
        let teams = parse(Path::new("oncall.toml"), EXAMPLE).expect("valid");
        assert_eq!(teams.default_schedule.as_deref(), Some("SRE_schedule"));
        let payments = teams.routing.team_named("billing").expect("alias");
        assert_eq!(payments.schedule, "Payments_schedule");
        let database = teams.routing.team_named("DATABASE").expect("name");
        assert_eq!(database.schedule, "database_schedule");
        assert_eq!(
            teams.usergroups,
            [UserGroupSpec {
                group: UserGroupRef::Handle("opsoncall".into()),
                schedules: vec!["SRE_schedule".into(), "SRE_secondary_schedule".into()],
                always: vec!["ULEAD".into()],
            }]
        );
        assert_eq!(
            teams
                .email_overrides
                .get("dave@corp.example")
                .map(String::as_str),
            Some("UDAVE")
        );
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        assert_eq!(
            error_of("[[team]]\nname = \"payments\"\nschedul = \"x\"\n"),
            "oncall.toml:3:1: unknown field `schedul`, expected one of `name`, `aliases`, `schedule`, `announce_channel`, `remind_before`, `take_call`, `take_call_allowed`, `take_call_max`, `escalation_policy`"
        );
        assert_eq!(
            error_of(
                "[[team]]\nname = \"payments\"\n\n[[channel]]\nid = \"C1\"\nteam = \"paymints\"\n"
            ),
            "oncall.toml:6:8: channel.team `paymints` is not a [[team]] name"
        );
        assert_eq!(
            error_of("[[usergroup]]\nhandle = \"opsoncall\"\n"),
            "oncall.toml:1:1: missing field `schedules`"
        );
        assert_eq!(
            error_of(
                "[[usergroup]]\nhandle = \"ops\"\nschedules = [\"S\"]\nalways = [\"lead@corp\"]\n"
            ),
            "oncall.toml:4:11: usergroup.always: `lead@corp` is not a Slack user id (U… or W…)"
        );
        assert_eq!(
            error_of(
                "[[team]]\nname = \"pay\"\n[[team]]\nname = \"payments\"\naliases = [\"PAY\"]\n"
            ),
            "oncall.toml:5:12: team name or alias `PAY` is used twice"
        );
        assert!(error_of("default_schedule = ").starts_with("oncall.toml:1:"));
    }

    #[test]
    fn announce_channels_are_read_for_teams_and_the_default_schedule() {
        let text = r#"
announce_channel = "C0ONCALL"
[[team]]
name = "payments"
announce_channel = "C0PAY"
[[team]]
name = "search"
"#;
        let settings = parse(Path::new("oncall.toml"), text).expect("valid");
        assert_eq!(
            settings.default_announce_channel.as_deref(),
            Some("C0ONCALL")
        );
        assert_eq!(
            settings.announcements,
            [AnnounceSpec {
                label: "payments".into(),
                schedule: "payments_schedule".into(),
                channel: Some("C0PAY".into()),
                remind_before: None,
            }]
        );
        let error = parse(
            Path::new("oncall.toml"),
            "[[team]]\nname = \"payments\"\nannounce_channel = \"#payments\"\n",
        )
        .expect_err("a channel name, not an id");
        let reminders = parse(
            Path::new("oncall.toml"),
            "remind_before = \"90m\"\n[[team]]\nname = \"payments\"\nremind_before = \"soon\"\n",
        )
        .expect_err("not a duration");
        assert_eq!(
            reminders.to_string(),
            "oncall.toml:4:17: team.remind_before: `soon` is not a duration of a second or more (1h, 90m, 30s)"
        );
        assert_eq!(
            error.to_string(),
            "oncall.toml:3:20: team.announce_channel: `#payments` is not a Slack channel id (C… or G…; not #name)"
        );
    }

    #[test]
    fn take_call_rules_are_read_at_the_top_level_and_per_team_over_it() {
        let text = r#"
take_call_allowed = ["U0LEAD", "S0LEADS"]
take_call_max = "2d"
[[team]]
name = "payments"
take_call = false
[[team]]
name = "search"
take_call_max = "12h"
[[team]]
name = "database"
"#;
        let settings = parse(Path::new("oncall.toml"), text).expect("valid");
        let two_days = Duration::from_secs(2 * 24 * 3600);
        assert_eq!(
            settings.take_call.default,
            TakeCallPolicy {
                enabled: true,
                allowed: vec!["U0LEAD".into(), "S0LEADS".into()],
                max_span: two_days,
            }
        );
        let payments = settings.take_call.for_schedule("payments_schedule");
        assert!(!payments.enabled);
        assert_eq!(payments.max_span, two_days, "inherited");
        let search = settings.take_call.for_schedule("search_schedule");
        assert_eq!(search.max_span, Duration::from_secs(12 * 3600));
        assert_eq!(search.allowed, ["U0LEAD", "S0LEADS"], "inherited");
        assert_eq!(
            settings.take_call.for_schedule("database_schedule"),
            &settings.take_call.default
        );
        assert!(settings.take_call.names_groups());
        for (text, error) in [
            (
                "take_call_allowed = [\"#leads\"]\n",
                "oncall.toml:1:22: take_call_allowed: `#leads` is not a Slack user or user group id (U…, W… or S…)",
            ),
            (
                "[[team]]\nname = \"x\"\ntake_call_max = \"9000y\"\n",
                "oncall.toml:3:17: team.take_call_max: `9000y` is not between 1 minute and 90 days",
            ),
            (
                "take_call_max = \"10s\"\n",
                "oncall.toml:1:17: take_call_max: `10s` is not between 1 minute and 90 days",
            ),
        ] {
            let found = parse(Path::new("oncall.toml"), text).expect_err(text);
            assert_eq!(found.to_string(), error);
        }
        let defaults = parse(Path::new("oncall.toml"), "").expect("valid");
        assert_eq!(defaults.take_call, TakeCallPolicies::default());
    }
}
