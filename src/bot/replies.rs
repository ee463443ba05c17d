//! What the bot says: every reply text, as pure functions of what it knows.

use std::time::Duration;

pub use crate::slack::markup::{escape, slack_date};

use crate::alerting::AlertOutcome;
use crate::model::{OnCall, Person, Shift};
use crate::oncall::{Freshness, Responder};
use crate::routing::Routing;

pub const HELP_TEXT: &str =
    "I tell you who is on call, and mention them here so they see your message.\n\
• `@ops` followed by anything (or a DM to me): who is on call right now\n\
• `@ops who is on call at 22:00` (or `tonight`, `tomorrow`, `on Saturday`, `on 2026-12-24 09:00`, `next week`): who is on then, in your time zone\n\
• `@ops next`: who takes over next, per rotation; `@ops when am I on?`: your next shifts\n\
• `@ops take call until 18:00` (or `tomorrow 09:00-13:00`): you become the on-call person for that span, once you confirm\n\
• `@ops cover me tomorrow 09:00-13:00, <note>`: ask the team to take your place; the first to press I'll cover does\n\
• `@ops cache clear`: forget cached on-call answers, e.g. after an override in OpsGenie\n\
• `@ops help`: this message";

pub const CACHE_CLEARED_TEXT: &str =
    "Cache cleared: the next answer comes straight from the on-call schedule.";

/// The help line for `page`, when alerts are raised on `@ops page` only.
pub const PAGE_HELP_TEXT: &str =
    "• `@ops page <what is wrong>`: who is on call, and an alert that pages them";

/// Added to a plain answer when alerts are raised on `@ops page` only.
pub const PAGE_HINT_TEXT: &str = "To page them, write `@ops page <what is wrong>`.";

/// The answer's last line when someone writes `page` but alerts are off.
pub const PAGING_OFF_TEXT: &str =
    "Paging is not set up for this bot, so nobody was paged; the mention above went out.";

/// The answer to `@ops ack` (and the other alert commands) when alerts are off.
pub const TAKE_CALL_OFF_TEXT: &str =
    "Taking the call is not set up for this bot; change the schedule in the on-call tool itself.";

pub const ALERTS_OFF_TEXT: &str = "This bot raises no alerts, so there is none here to act on.";

/// The help lines for acting on an alert, when alerts are on.
pub const ALERT_COMMANDS_HELP_TEXT: &str = "• in an alert's thread, `@ops ack`, `@ops take` or \
`@ops close` (also `resolved`, `done`): acknowledge it, take it, or close it";

pub const CACHE_JUST_CLEARED_TEXT: &str =
    "The cache was cleared moments ago: the next answer comes straight from the on-call schedule.";

pub const LOOKUP_FAILED_TEXT: &str = "Sorry, I could not find out who is on call right now. \
Please try again in a minute, or page the team from OpsGenie directly.";

/// What the answer calls the n-th rotation.
pub(super) fn role(index: usize) -> String {
    match index {
        0 => "primary".to_owned(),
        1 => "secondary".to_owned(),
        2 => "tertiary".to_owned(),
        n => format!("rotation {}", n + 1),
    }
}

/// The answer naming who is on call: per rotation, in the schedule's order, with
/// until when and who is next, when the source tells; a plain list otherwise. A
/// stale answer says so, and how old it is.
pub fn on_call_text(
    on_call: &OnCall,
    people: &[Responder],
    freshness: Freshness,
    source: &str,
) -> String {
    let name = |person: &Person| {
        let slack_user = people
            .iter()
            .find(|responder| responder.person == *person)
            .and_then(|responder| responder.slack_user.as_ref());
        match (slack_user, &person.email) {
            (Some(user), _) => format!("<@{user}>"),
            (None, Some(email)) => format!("{} (no Slack account found)", escape(email)),
            (None, None) => escape(&person.name),
        }
    };
    let shifts = |shifts: &[Shift]| {
        shifts
            .iter()
            .map(|shift| {
                let marker = if shift.is_override { " (override)" } else { "" };
                if shift.is_open_ended() {
                    format!("{}{marker}", name(&shift.person))
                } else {
                    format!(
                        "{}{marker} until {}",
                        name(&shift.person),
                        slack_date(shift.until)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let schedule = escape(&on_call.schedule);
    let rotations: Vec<_> = on_call
        .rotations
        .iter()
        .filter(|rotation| !rotation.current.is_empty())
        .collect();
    let body = match rotations.as_slice() {
        _ if on_call.people.is_empty() => None,
        [] => Some(
            on_call
                .people
                .iter()
                .map(&name)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        [only] => Some(match &only.next {
            Some(next) => format!("{}; next: {}", shifts(&only.current), name(&next.person)),
            None => shifts(&only.current),
        }),
        several => Some(
            several
                .iter()
                .enumerate()
                .map(|(index, rotation)| {
                    let next = rotation
                        .next
                        .as_ref()
                        .map(|next| format!("; next: {}", name(&next.person)))
                        .unwrap_or_default();
                    format!(
                        "\n• {} ({}): {}{next}",
                        role(index),
                        escape(&rotation.name),
                        shifts(&rotation.current)
                    )
                })
                .collect::<String>(),
        ),
    };
    let separator = |body: &str| if body.starts_with('\n') { "" } else { " " };
    match (freshness, body) {
        (Freshness::Fresh, None) => format!("Nobody is on call for *{schedule}* right now."),
        (Freshness::Fresh, Some(body)) => {
            format!(
                "On call for *{schedule}* right now:{}{body}",
                separator(&body)
            )
        }
        (Freshness::Stale { age }, None) => format!(
            "{source} is not answering; {} ago nobody was on call for *{schedule}*.",
            describe_age(age)
        ),
        (Freshness::Stale { age }, Some(body)) => format!(
            "{source} is not answering; this is who was on call for *{schedule}* {} ago:{}{body}",
            describe_age(age),
            separator(&body)
        ),
    }
}

/// The answer to `team <name>` when no team has that name.
pub fn unknown_team_text(name: &str, routing: &Routing) -> String {
    let name = escape(name);
    if routing.teams().is_empty() {
        format!("I don't know a team called *{name}*: no teams are set up, so I answer for the default schedule only.")
    } else {
        format!(
            "I don't know a team called *{name}*. Known teams: {}.",
            routing.describe_teams()
        )
    }
}

/// The line added to the answer about the alert raised for the request.
pub fn alert_text(outcome: AlertOutcome, system: &str) -> String {
    match outcome {
        AlertOutcome::Raised(priority) => format!("I also raised a {priority} alert in {system}."),
        AlertOutcome::AlreadyRaised(priority) => {
            format!("A {priority} alert for this message is already open in {system}.")
        }
        AlertOutcome::RateLimited => format!(
            "You raised alerts in {system} moments ago, so I did not raise another; the mention above went out."
        ),
        AlertOutcome::Outsider => {
            "I raise alerts only for people of this workspace; the mention above went out."
                .to_owned()
        }
        AlertOutcome::Failed => {
            format!("Raising an alert in {system} failed, so only the mention above went out.")
        }
        AlertOutcome::BeingRaised => format!(
            "An alert for this message is being raised in {system} as I write; I cannot confirm \
             it yet: check {system} if nobody answers."
        ),
    }
}

/// "12 minutes", "less than a minute", "3 hours", "2 days".
pub fn describe_age(age: Duration) -> String {
    let minutes = age.as_secs() / 60;
    let plural = |count: u64, unit: &str| {
        if count == 1 {
            format!("1 {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };
    match minutes {
        0 => "less than a minute".to_owned(),
        1..=119 => plural(minutes, "minute"),
        120..=2879 => plural(minutes / 60, "hour"),
        _ => plural(minutes / 1440, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::Command;
    use std::time::SystemTime;

    use crate::model::Rotation;

    fn flat(emails: &[&str]) -> OnCall {
        OnCall {
            schedule: "SRE_schedule".into(),
            people: emails
                .iter()
                .map(|email| Person::with_email(email))
                .collect(),
            rotations: vec![],
        }
    }

    fn person(email: &str, user: Option<&str>) -> Responder {
        Responder {
            person: Person::with_email(email),
            slack_user: user.map(str::to_owned),
        }
    }

    #[test]
    fn the_answer_mentions_people_with_slack_accounts_and_names_the_others() {
        let people = [
            person("alice@corp.example", Some("UALICE")),
            person("dave@corp.example", None),
        ];
        let on_call = flat(&["alice@corp.example", "dave@corp.example"]);
        assert_eq!(
            on_call_text(&on_call, &people, Freshness::Fresh, "OpsGenie"),
            "On call for *SRE_schedule* right now: <@UALICE>, dave@corp.example (no Slack account found)"
        );
        assert_eq!(
            on_call_text(&flat(&[]), &[], Freshness::Fresh, "OpsGenie"),
            "Nobody is on call for *SRE_schedule* right now."
        );
    }

    #[test]
    fn a_stale_answer_says_the_source_is_not_answering_and_how_old_it_is() {
        let people = [person("alice@corp.example", Some("UALICE"))];
        let stale = Freshness::Stale {
            age: Duration::from_secs(12 * 60 + 5),
        };
        assert_eq!(
            on_call_text(&flat(&["alice@corp.example"]), &people, stale, "OpsGenie"),
            "OpsGenie is not answering; this is who was on call for *SRE_schedule* 12 minutes ago: <@UALICE>"
        );
        assert_eq!(
            on_call_text(&flat(&[]), &[], stale, "OpsGenie"),
            "OpsGenie is not answering; 12 minutes ago nobody was on call for *SRE_schedule*."
        );
    }

    #[test]
    fn rotations_are_listed_in_order_with_until_times_overrides_and_who_is_next() {
        let at = |seconds: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        let shift = |email: &str, from: u64, to: u64, is_override: bool| Shift {
            person: Person::with_email(email),
            starts: at(from),
            until: at(to),
            is_override,
        };
        let on_call = OnCall {
            schedule: "SRE_schedule".into(),
            people: vec![
                Person::with_email("alice@corp.example"),
                Person::with_email("carol@corp.example"),
            ],
            rotations: vec![
                Rotation {
                    name: "Weekly".into(),
                    current: vec![shift("alice@corp.example", 0, 1_700_000_000, false)],
                    next: Some(shift(
                        "bob@corp.example",
                        1_700_000_000,
                        1_700_600_000,
                        false,
                    )),
                },
                Rotation {
                    name: "Backup".into(),
                    current: vec![shift("carol@corp.example", 0, 1_700_003_600, true)],
                    next: None,
                },
            ],
        };
        let people = [
            person("alice@corp.example", Some("UALICE")),
            person("bob@corp.example", Some("UBOB")),
            person("carol@corp.example", Some("UCAROL")),
        ];
        assert_eq!(
            on_call_text(&on_call, &people, Freshness::Fresh, "OpsGenie"),
            "On call for *SRE_schedule* right now:\n\
             • primary (Weekly): <@UALICE> until <!date^1700000000^{date_short_pretty} {time}|2023-11-14T22:13:20Z>; next: <@UBOB>\n\
             • secondary (Backup): <@UCAROL> (override) until <!date^1700003600^{date_short_pretty} {time}|2023-11-14T23:13:20Z>"
        );
        let one_rotation = OnCall {
            rotations: on_call.rotations[..1].to_vec(),
            people: vec![Person::with_email("alice@corp.example")],
            ..on_call
        };
        assert_eq!(
            on_call_text(&one_rotation, &people, Freshness::Fresh, "OpsGenie"),
            "On call for *SRE_schedule* right now: <@UALICE> until <!date^1700000000^{date_short_pretty} {time}|2023-11-14T22:13:20Z>; next: <@UBOB>"
        );
    }

    #[test]
    fn echoed_text_cannot_ping_everyone_or_disguise_a_link() {
        let routing = Routing::default();
        for (typed, shown) in [
            ("<!channel>", "&lt;!channel&gt;"),
            ("<!here|here>", "&lt;!here|here&gt;"),
            (
                "<https://evil.example|docs>",
                "&lt;https://evil.example|docs&gt;",
            ),
            ("a & b", "a &amp; b"),
        ] {
            let text = unknown_team_text(typed, &routing);
            assert!(text.contains(&format!("*{shown}*")), "{text}");
            assert!(!text.contains('<') && !text.contains('>'), "{text}");
        }
        let on_call = OnCall {
            schedule: "S".into(),
            people: vec![Person {
                email: None,
                name: "<!here> Mallory".into(),
                account_id: Some("acc".into()),
            }],
            rotations: vec![],
        };
        let text = on_call_text(&on_call, &[], Freshness::Fresh, "JSM Operations");
        assert_eq!(text, "On call for *S* right now: &lt;!here&gt; Mallory");

        // A rotation name, as a provider holds it, in the plain answer.
        let mallory = Shift {
            person: on_call.people[0].clone(),
            starts: SystemTime::UNIX_EPOCH,
            until: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            is_override: false,
        };
        let rotation = |name: &str| Rotation {
            name: name.into(),
            current: vec![mallory.clone()],
            next: None,
        };
        let hostile = OnCall {
            schedule: "<!channel>".into(),
            rotations: vec![rotation("<!channel>"), rotation("<https://evil|SSO login>")],
            ..on_call
        };
        let text = on_call_text(&hostile, &[], Freshness::Fresh, "OpsGenie");
        assert!(text.contains("(&lt;!channel&gt;)"), "{text}");
        assert!(text.contains("(&lt;https://evil|SSO login&gt;)"), "{text}");
        assert!(text.starts_with("On call for *&lt;!channel&gt;*"), "{text}");
        assert!(
            !text.contains("<!channel>") && !text.contains("<https"),
            "{text}"
        );
    }

    #[test]
    fn ages_read_as_a_person_would_say_them() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(describe_age(Duration::from_secs(59)), "less than a minute");
        assert_eq!(describe_age(minutes(1)), "1 minute");
        assert_eq!(describe_age(minutes(12)), "12 minutes");
        assert_eq!(describe_age(minutes(119)), "119 minutes");
        assert_eq!(describe_age(minutes(120)), "2 hours");
        assert_eq!(describe_age(minutes(60 * 47)), "47 hours");
        assert_eq!(describe_age(minutes(60 * 48)), "2 days");
    }

    #[test]
    fn an_unknown_team_gets_the_list_of_known_ones() {
        let routing = Routing::new(
            vec![crate::routing::Team {
                name: "payments".into(),
                aliases: vec!["pay".into()],
                schedule: "Payments_schedule".into(),
            }],
            &[],
        )
        .expect("valid");
        assert_eq!(
            unknown_team_text("paymints", &routing),
            "I don't know a team called *paymints*. Known teams: *payments* (pay)."
        );
        assert_eq!(
            Command::parse("<@UBOT> team paymints", "UBOT"),
            Command::Team("paymints".into())
        );
        assert_eq!(
            Command::parse("<@UBOT> TEAM Pay", "UBOT"),
            Command::Team("pay".into())
        );
        assert_eq!(Command::parse("<@UBOT> team", "UBOT"), Command::WhoIsOnCall);
    }
}
