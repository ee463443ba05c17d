//! Who may take the call for a schedule, and for how long: the settings (top
//! level and per `[[team]]` in the config file) and the refusals, each one
//! sentence. Pure: the service asks Slack and the provider, this decides.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::slack::markup::{escape, slack_date};

/// How far ahead a span may start: membership is judged over the rotations of
/// these weeks, and an override months away is better made nearer the time.
pub const HORIZON: Duration = Duration::from_secs(28 * 24 * 60 * 60);

/// How many requests to take the call one person may make in [`ASKS_PER`]:
/// each reads weeks of timeline from the provider whose key pages people.
pub const ASKS: u32 = 5;
pub const ASKS_PER: Duration = Duration::from_secs(10 * 60);

/// The longest span anyone may take unless the config file says otherwise.
pub const DEFAULT_MAX_SPAN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The take-the-call rules of one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeCallPolicy {
    /// `take_call = false` turns taking the call off.
    pub enabled: bool,
    /// People (`U…`, `W…`) and user groups (`S…`) who may take the call
    /// besides the people in the schedule's rotations.
    pub allowed: Vec<String>,
    /// The longest span one request may take (`take_call_max`).
    pub max_span: Duration,
}

impl Default for TakeCallPolicy {
    /// On, for the schedule's own people, at most 7 days at a time.
    fn default() -> Self {
        Self {
            enabled: true,
            allowed: Vec::new(),
            max_span: DEFAULT_MAX_SPAN,
        }
    }
}

impl TakeCallPolicy {
    /// The user groups among the allowed.
    pub fn allowed_groups(&self) -> impl Iterator<Item = &str> {
        self.allowed
            .iter()
            .map(String::as_str)
            .filter(|id| id.starts_with('S'))
    }

    /// Whether `user` is allowed by name (not through a group).
    pub fn allows_by_name(&self, user: &str) -> bool {
        self.allowed.iter().any(|allowed| allowed == user)
    }
}

/// The rules of every schedule: the top level's for the default schedule and
/// for teams that set none, each team's own otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TakeCallPolicies {
    pub default: TakeCallPolicy,
    /// Schedule → its team's rules.
    pub by_schedule: HashMap<String, TakeCallPolicy>,
}

impl TakeCallPolicies {
    pub fn for_schedule(&self, schedule: &str) -> &TakeCallPolicy {
        self.by_schedule.get(schedule).unwrap_or(&self.default)
    }

    /// Whether any schedule lets user groups take the call (the token then
    /// needs `usergroups:read`).
    pub fn names_groups(&self) -> bool {
        std::iter::once(&self.default)
            .chain(self.by_schedule.values())
            .any(|policy| policy.allowed_groups().next().is_some())
    }
}

/// Why a request to take the call creates nothing: each says it in one
/// sentence, to the asker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `take_call = false` for this team.
    Off {
        label: String,
    },
    /// The span ended already.
    Past {
        ended: SystemTime,
    },
    /// Longer than `take_call_max`.
    TooLong {
        span: Duration,
        max: Duration,
    },
    /// Starting beyond [`HORIZON`].
    TooFarAhead,
    /// More than [`ASKS`] requests in [`ASKS_PER`].
    TooMany,
    /// Of another workspace (Slack Connect).
    Outsider,
    Guest,
    /// In none of the schedule's rotations, and not allowed otherwise.
    NotInRotation {
        label: String,
    },
    /// The bot could not check who asked, or the schedule's rotations.
    CannotCheck {
        what: &'static str,
    },
}

impl Refusal {
    /// The sentence the asker reads.
    pub fn text(&self) -> String {
        match self {
            Self::Off { label } => format!(
                "Taking the call is turned off for *{}*; change the schedule in the on-call \
                 tool itself. Nothing changed.",
                escape(label)
            ),
            Self::Past { ended } => format!(
                "That span is over already (it ended {}); nothing to take.",
                slack_date(*ended)
            ),
            Self::TooLong { span, max } => format!(
                "That span is {} long, and the most one request may take is {}; take it in \
                 shorter parts. Nothing changed.",
                describe(*span),
                describe(*max)
            ),
            Self::TooFarAhead => format!(
                "That span starts more than {} from now; take the call nearer the time. \
                 Nothing changed.",
                describe(HORIZON)
            ),
            Self::TooMany => format!(
                "You asked to take the call {ASKS} times in the last {}; please wait a few \
                 minutes. Nothing changed.",
                describe(ASKS_PER)
            ),
            Self::Outsider => {
                "Only people of this workspace can take its calls; nothing changed.".to_owned()
            }
            Self::Guest => "Guests cannot take the call; nothing changed.".to_owned(),
            Self::NotInRotation { label } => format!(
                "You are in none of *{}*'s rotations, so you cannot take its call (an admin \
                 can allow you with `take_call_allowed`). Nothing changed.",
                escape(label)
            ),
            Self::CannotCheck { what } => format!(
                "I could not check {what} just now, so I changed nothing; please try again in \
                 a minute."
            ),
        }
    }
}

/// Whether the span may be taken at `now` under `policy`: not over, and no
/// longer than the limit.
pub fn check_span(
    from: SystemTime,
    until: SystemTime,
    now: SystemTime,
    policy: &TakeCallPolicy,
) -> Result<(), Refusal> {
    if until <= now {
        return Err(Refusal::Past { ended: until });
    }
    if from.duration_since(now).is_ok_and(|ahead| ahead > HORIZON) {
        return Err(Refusal::TooFarAhead);
    }
    let span = until.duration_since(from).unwrap_or(Duration::ZERO);
    if span > policy.max_span {
        return Err(Refusal::TooLong {
            span,
            max: policy.max_span,
        });
    }
    Ok(())
}

/// "7 days", "3 days 4 hours", "90 minutes", as a person would say a span.
pub fn describe(span: Duration) -> String {
    let minutes = span.as_secs().div_ceil(60);
    let plural = |count: u64, unit: &str| {
        if count == 1 {
            format!("1 {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };
    let (days, hours) = (minutes / (24 * 60), (minutes / 60) % 24);
    match (days, hours, minutes) {
        (0, 0, minutes) => plural(minutes, "minute"),
        (0, hours, minutes) if minutes % 60 == 0 => plural(hours, "hour"),
        (0, _, minutes) => plural(minutes, "minute"),
        (days, 0, _) => plural(days, "day"),
        (days, hours, _) => format!("{} {}", plural(days, "day"), plural(hours, "hour")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(60 * 60);

    #[test]
    fn a_span_is_refused_when_over_or_too_long_and_taken_otherwise() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_460_000);
        let policy = TakeCallPolicy::default();
        let cases = [
            (now, now + HOUR, Ok(())),
            (now - HOUR, now + HOUR, Ok(())),
            (
                now - 2 * HOUR,
                now - HOUR,
                Err(Refusal::Past { ended: now - HOUR }),
            ),
            (now, now + 7 * 24 * HOUR, Ok(())),
            (now + 27 * 24 * HOUR, now + 28 * 24 * HOUR, Ok(())),
            (
                now + 29 * 24 * HOUR,
                now + 29 * 24 * HOUR + HOUR,
                Err(Refusal::TooFarAhead),
            ),
            (
                now,
                now + 7 * 24 * HOUR + HOUR,
                Err(Refusal::TooLong {
                    span: 7 * 24 * HOUR + HOUR,
                    max: DEFAULT_MAX_SPAN,
                }),
            ),
            (
                now,
                now + 73 * 365 * 24 * HOUR,
                Err(Refusal::TooLong {
                    span: 73 * 365 * 24 * HOUR,
                    max: DEFAULT_MAX_SPAN,
                }),
            ),
        ];
        for (from, until, expected) in cases {
            assert_eq!(check_span(from, until, now, &policy), expected);
        }
    }

    #[test]
    fn each_refusal_is_one_sentence_and_escapes_what_it_echoes() {
        let too_long = Refusal::TooLong {
            span: 8 * 24 * HOUR + 4 * HOUR,
            max: DEFAULT_MAX_SPAN,
        };
        assert_eq!(
            too_long.text(),
            "That span is 8 days 4 hours long, and the most one request may take is 7 days; \
             take it in shorter parts. Nothing changed."
        );
        let hostile = Refusal::NotInRotation {
            label: "<!channel>".into(),
        };
        assert!(
            hostile.text().contains("*&lt;!channel&gt;*"),
            "{}",
            hostile.text()
        );
        for refusal in [
            Refusal::Off {
                label: "payments".into(),
            },
            Refusal::Outsider,
            Refusal::Guest,
            Refusal::TooFarAhead,
            Refusal::TooMany,
            Refusal::CannotCheck {
                what: "who you are",
            },
        ] {
            assert!(refusal.text().ends_with('.'), "{}", refusal.text());
        }
        assert_eq!(describe(90 * 60 * Duration::from_secs(1)), "90 minutes");
        assert_eq!(describe(2 * HOUR), "2 hours");
        assert_eq!(describe(24 * HOUR), "1 day");
    }

    #[test]
    fn a_team_without_rules_of_its_own_has_the_top_levels() {
        let strict = TakeCallPolicy {
            enabled: false,
            ..TakeCallPolicy::default()
        };
        let policies = TakeCallPolicies {
            default: TakeCallPolicy::default(),
            by_schedule: HashMap::from([("Payments_schedule".to_owned(), strict.clone())]),
        };
        assert_eq!(policies.for_schedule("Payments_schedule"), &strict);
        assert_eq!(
            policies.for_schedule("SRE_schedule"),
            &TakeCallPolicy::default()
        );
        assert!(!policies.names_groups());
        let with_group = TakeCallPolicy {
            allowed: vec!["U0LEAD".into(), "S0LEADS".into()],
            ..TakeCallPolicy::default()
        };
        assert_eq!(with_group.allowed_groups().collect::<Vec<_>>(), ["S0LEADS"]);
        assert!(with_group.allows_by_name("U0LEAD"));
        assert!(!with_group.allows_by_name("S0LEADS2"));
    }
}
