//! On-call in time: who is on at a moment or over a span, who is next, and the
//! asker's own next shifts. Read in the asker's time zone (their Slack
//! profile's), answered with `<!date^…>` so that every reader sees their own.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::replies::{escape, role, slack_date};
use super::service::Bot;
use super::when::{parse_when, When, FORMS};
use crate::model::{Person, Request, RotationPlan, Shift};

/// How far ahead `when am I on?` looks.
pub const MY_SHIFTS_AHEAD: Duration = Duration::from_secs(28 * 24 * 60 * 60);
/// At most this many of the asker's shifts are listed.
const MY_SHIFTS_SHOWN: usize = 10;

/// What is said to someone whose email Slack does not show.
pub(super) const NO_EMAIL_TEXT: &str =
    "I cannot see your email in Slack, so I cannot find you in the schedules.";

/// One of the asker's shifts: the schedule's name, the rotation's, the shift.
pub(super) type MyShift = (String, String, Shift);

/// An asker's zone, and whether it came from their profile.
struct AskerZone {
    zone: TimeZone,
    from_profile: bool,
}

impl Bot {
    /// The asker's time zone: their Slack profile's, else UTC.
    async fn zone_of(&self, user: &str) -> AskerZone {
        let named = self.user_zone(user).await;
        match named.as_deref().map(TimeZone::get) {
            Some(Ok(zone)) => AskerZone {
                zone,
                from_profile: true,
            },
            _ => AskerZone {
                zone: TimeZone::UTC,
                from_profile: false,
            },
        }
    }

    /// `who is on call <phrase>` for `schedule`.
    pub(super) async fn on_call_in_time(
        &self,
        request: &Request,
        schedule: &str,
        phrase: &str,
    ) -> String {
        let asker = self.zone_of(&request.user).await;
        let now = Timestamp::now().to_zoned_datetime(asker.zone.clone());
        let when = match parse_when(phrase, &now) {
            Ok(when) => when,
            Err(error) => {
                return format!(
                    "{}. I understand times like these: {FORMS}.",
                    escape(&error.to_string())
                )
            }
        };
        let zone_note = if asker.from_profile {
            String::new()
        } else {
            "\n(Read in UTC: your Slack profile has no time zone.)".to_owned()
        };
        let answer = match when {
            When::At(moment) => self.at(schedule, system_time(moment)).await,
            When::Between { from, until } => {
                self.between(schedule, system_time(from), system_time(until))
                    .await
            }
        };
        format!("{answer}{zone_note}")
    }

    async fn at(&self, schedule: &str, at: SystemTime) -> String {
        let later = at + Duration::from_secs(1);
        let plans = match self.directory.plan(schedule, at, later).await {
            Ok(plans) => plans,
            Err(error) => return self.lookup_failed(schedule, &error),
        };
        let rotations: Vec<(usize, &RotationPlan, Vec<&Shift>)> = plans
            .iter()
            .enumerate()
            .map(|(index, plan)| {
                let on: Vec<&Shift> = plan
                    .shifts
                    .iter()
                    .filter(|shift| shift.starts <= at && at < shift.until)
                    .collect();
                (index, plan, on)
            })
            .filter(|(_, _, on)| !on.is_empty())
            .collect();
        let when = slack_date(at);
        if rotations.is_empty() {
            // No timeline (or no rotation covers the moment): the flat list.
            let people = match self.directory.on_call_at(schedule, at).await {
                Ok(people) => people,
                Err(error) => return self.lookup_failed(schedule, &error),
            };
            if people.is_empty() {
                return format!("Nobody is on call for *{}* at {when}.", escape(schedule));
            }
            let names = self.names(&people).await;
            let list: Vec<&str> = people.iter().map(|person| names[person].as_str()).collect();
            return format!(
                "On call for *{}* at {when}: {}",
                escape(schedule),
                list.join(", ")
            );
        }
        let people: Vec<Person> = rotations
            .iter()
            .flat_map(|(_, _, on)| on.iter().map(|shift| shift.person.clone()))
            .collect();
        let names = self.names(&people).await;
        let line = |on: &[&Shift]| {
            on.iter()
                .map(|shift| format!("{}{}", names[&shift.person], until_text(shift)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match rotations.as_slice() {
            [(_, _, on)] => format!("On call for *{}* at {when}: {}", escape(schedule), line(on)),
            several => {
                let lines: String = several
                    .iter()
                    .map(|(index, plan, on)| {
                        format!(
                            "\n• {} ({}): {}",
                            role(*index),
                            escape(&plan.name),
                            line(on)
                        )
                    })
                    .collect();
                format!("On call for *{}* at {when}:{lines}", escape(schedule))
            }
        }
    }

    async fn between(&self, schedule: &str, from: SystemTime, until: SystemTime) -> String {
        let plans = match self.directory.plan(schedule, from, until).await {
            Ok(plans) => plans,
            Err(error) => return self.lookup_failed(schedule, &error),
        };
        let span = format!("from {} to {}", slack_date(from), slack_date(until));
        let plans: Vec<(usize, &RotationPlan)> = plans
            .iter()
            .enumerate()
            .filter(|(_, plan)| !plan.shifts.is_empty())
            .collect();
        if plans.is_empty() {
            let at_start = self.at(schedule, from).await;
            return format!(
                "{at_start}\n({} gives no shifts over a span for *{}*, so this is who is on at its start.)",
                self.source_name(),
                escape(schedule)
            );
        }
        let people: Vec<Person> = plans
            .iter()
            .flat_map(|(_, plan)| plan.shifts.iter().map(|shift| shift.person.clone()))
            .collect();
        let names = self.names(&people).await;
        let lines: String = plans
            .iter()
            .map(|(index, plan)| {
                let hand_overs: Vec<String> = plan
                    .shifts
                    .iter()
                    .enumerate()
                    .map(|(n, shift)| {
                        let name = &names[&shift.person];
                        let marker = if shift.is_override { " (override)" } else { "" };
                        if n == 0 && shift.starts <= from {
                            format!("{name}{marker}{}", until_text(shift))
                        } else {
                            format!(
                                "{name}{marker} from {}{}",
                                slack_date(shift.starts),
                                until_text(shift)
                            )
                        }
                    })
                    .collect();
                format!(
                    "\n• {} ({}): {}",
                    role(*index),
                    escape(&plan.name),
                    hand_overs.join(", then ")
                )
            })
            .collect();
        format!("On call for *{}* {span}:{lines}", escape(schedule))
    }

    /// `next`: for each rotation of `schedule`, who takes over next and when.
    pub(super) async fn next_on_call(&self, schedule: &str) -> String {
        let answer = match self.directory.on_call(schedule).await {
            Ok(answer) => answer,
            Err(failure) => {
                tracing::error!(error = %failure, %schedule, "no on-call answer");
                return super::replies::LOOKUP_FAILED_TEXT.to_owned();
            }
        };
        let rotations: Vec<(usize, &str, &Shift)> = answer
            .on_call
            .rotations
            .iter()
            .enumerate()
            .filter_map(|(index, rotation)| {
                rotation
                    .next
                    .as_ref()
                    .map(|next| (index, rotation.name.as_str(), next))
            })
            .collect();
        if rotations.is_empty() {
            return if answer.on_call.rotations.is_empty() {
                format!(
                    "I cannot see the rotations of *{}* in {}, so I cannot tell who is next.",
                    escape(schedule),
                    self.source_name()
                )
            } else {
                format!(
                    "Nobody else takes over *{}* in the next two weeks.",
                    escape(schedule)
                )
            };
        }
        let people: Vec<Person> = rotations
            .iter()
            .map(|(_, _, shift)| shift.person.clone())
            .collect();
        let names = self.names(&people).await;
        let lines: String = rotations
            .iter()
            .map(|(index, name, shift)| {
                format!(
                    "\n• {} ({}): {} from {}",
                    role(*index),
                    escape(name),
                    names[&shift.person],
                    slack_date(shift.starts)
                )
            })
            .collect();
        format!("Next on call for *{}*:{lines}", escape(schedule))
    }

    /// `when am I on?`: the asker's shifts in the coming weeks, in every
    /// schedule the bot knows, matched by their Slack email.
    pub(super) async fn my_shifts(&self, request: &Request) -> String {
        let Some(email) = self.user_email(&request.user).await else {
            return NO_EMAIL_TEXT.to_owned();
        };
        let now = SystemTime::now();
        let until = now + MY_SHIFTS_AHEAD;
        let mut shifts: Vec<MyShift> = Vec::new();
        let mut oldest: Option<Duration> = None;
        let schedules = self.known_schedules();
        for schedule in &schedules {
            match self.directory.timeline(schedule).await {
                Ok(answer) => {
                    if let crate::oncall::Freshness::Stale { age } = answer.freshness {
                        oldest = oldest.max(Some(age));
                    }
                    for (plan, shift) in answer.timeline.shifts_between(now, until) {
                        let mine = shift
                            .person
                            .email
                            .as_deref()
                            .is_some_and(|theirs| theirs.eq_ignore_ascii_case(&email));
                        if mine {
                            shifts.push((schedule.clone(), plan.name.clone(), shift.clone()));
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, %schedule, "could not read the schedule's shifts");
                }
            }
        }
        let list = schedules
            .iter()
            .map(|schedule| format!("*{}*", escape(schedule)))
            .collect::<Vec<_>>()
            .join(", ");
        if shifts.is_empty() {
            return format!("You have no shifts in the next 4 weeks in {list}.");
        }
        format!(
            "Your shifts in the next 4 weeks:{}",
            shift_lines(shifts, now)
        )
    }

    /// Each person's name as the thread shows it.
    pub(super) async fn names(&self, people: &[Person]) -> HashMap<Person, String> {
        let mut names = HashMap::new();
        for person in people {
            if !names.contains_key(person) {
                let name = self.directory.mention_of(person).await;
                names.insert(person.clone(), name);
            }
        }
        names
    }

    fn lookup_failed(&self, schedule: &str, error: &dyn std::fmt::Display) -> String {
        tracing::error!(%error, %schedule, "could not read the schedule");
        super::replies::LOOKUP_FAILED_TEXT.to_owned()
    }
}

/// The shifts in order of their start, one line each ("• *payments*
/// (Weekly): now to …"), at most [`MY_SHIFTS_SHOWN`].
pub(super) fn shift_lines(mut shifts: Vec<MyShift>, now: SystemTime) -> String {
    shifts.sort_by_key(|(_, _, shift)| shift.starts);
    shifts
        .iter()
        .take(MY_SHIFTS_SHOWN)
        .map(|(schedule, rotation, shift)| {
            let from = if shift.starts <= now {
                "now".to_owned()
            } else {
                slack_date(shift.starts)
            };
            let to = if shift.is_open_ended() {
                " onwards".to_owned()
            } else {
                format!(" to {}", slack_date(shift.until))
            };
            format!(
                "\n• *{}* ({}): {from}{to}",
                escape(schedule),
                escape(rotation),
            )
        })
        .collect()
}

/// " until <date>", or nothing for someone on call with no end (an escalation
/// level that names them directly).
fn until_text(shift: &Shift) -> String {
    if shift.is_open_ended() {
        String::new()
    } else {
        format!(" until {}", slack_date(shift.until))
    }
}

/// A jiff timestamp as the rest of the bot keeps time. Every time the parser
/// yields is a calendar date within jiff's range, which `SystemTime` holds.
fn system_time(timestamp: Timestamp) -> SystemTime {
    SystemTime::try_from(timestamp).unwrap_or(SystemTime::UNIX_EPOCH)
}
