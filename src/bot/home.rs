//! The bot's Home tab: for the default schedule and every team, who is on
//! call now per rotation and until when, and who is next; the viewer's own
//! shifts in the next four weeks; the buttons that open the forms. Every
//! schedule's timeline is read once, from the directory's cache, however many
//! teams use it and however many people open the tab at once.

use std::collections::HashMap;
use std::time::SystemTime;

use futures_util::future::join_all;

use super::in_time::{shift_lines, MyShift, MY_SHIFTS_AHEAD, NO_EMAIL_TEXT};
use super::replies::{describe_age, escape, role, slack_date};
use super::service::Bot;
use crate::model::{FormKind, HomeBlock, HomeTab, Person, RotationPlan, Shift, Timeline};
use crate::oncall::{Freshness, NoAnswer, TimelineAnswer};
use crate::slack::{SlackError, MAX_VIEW_BLOCKS};

/// At most this many rotations of a team are shown, so that its section stays
/// within Slack's 3,000 characters whole.
const ROTATIONS_SHOWN: usize = 10;
/// A section holds at most this much text; the compact lines of the other
/// teams are packed into sections this long.
const SECTION_CHARS: usize = 2_900;

/// A place the tab shows: the default schedule or a team.
struct Place {
    label: String,
    schedule: String,
}

/// What one schedule looks like now, for every place that uses it.
struct Seen {
    /// Per rotation (primary first): who is on now, and who is next.
    rotations: Vec<(String, Vec<Shift>, Option<Shift>)>,
    /// Who is on call, when the provider gives no rotations.
    flat: Vec<Person>,
    freshness: Freshness,
    /// The viewer has a shift in it in the weeks ahead, or is on now.
    viewers: bool,
}

impl Bot {
    /// Publishes `user`'s Home tab (on `app_home_opened`), at most once per
    /// [`super::service::HOME_REPUBLISH_AFTER`].
    pub async fn publish_home(&self, user: &str) -> Result<(), SlackError> {
        self.publish_home_once_in_a_while(user).await
    }

    /// The default schedule, then each team, as the tab and the forms list
    /// them.
    fn places(&self) -> Vec<Place> {
        std::iter::once(Place {
            label: self.schedule.clone(),
            schedule: self.schedule.clone(),
        })
        .chain(self.routing.teams().iter().map(|team| Place {
            label: team.name.clone(),
            schedule: team.schedule.clone(),
        }))
        .collect()
    }

    /// Each known schedule's timeline, read at once (each from the cache or
    /// one provider call).
    async fn timelines(&self) -> HashMap<String, Result<TimelineAnswer, NoAnswer>> {
        let schedules = self.known_schedules();
        let read = join_all(
            schedules
                .iter()
                .map(|schedule| self.directory.timeline(schedule)),
        )
        .await;
        schedules.into_iter().zip(read).collect()
    }

    /// The labels of the places whose rotations `email` is in, over the
    /// weeks ahead, from the timelines the cache holds (nobody is asked: a
    /// form waits on this).
    pub(super) async fn own_places(&self, email: &str) -> Vec<String> {
        let now = SystemTime::now();
        let mut own = Vec::new();
        for place in self.places() {
            if let Some(timeline) = self.directory.cached_timeline(&place.schedule).await {
                if has_shift(&timeline, email, now) {
                    own.push(place.label);
                }
            }
        }
        own
    }

    /// Publishes `user`'s Home tab unless it was published moments ago (Slack
    /// sends `app_home_opened` each time the tab is shown).
    async fn publish_home_once_in_a_while(&self, user: &str) -> Result<(), SlackError> {
        let first = self
            .recent_homes
            .entry_by_ref(user)
            .or_insert(())
            .await
            .is_fresh();
        if !first {
            tracing::debug!("Home tab published moments ago; not again");
            return Ok(());
        }
        let tab = self.home_of(user).await;
        self.slack.publish_home(user, &tab).await
    }

    /// `user`'s Home tab.
    pub async fn home_of(&self, user: &str) -> HomeTab {
        let email = self.user_email(user).await;
        let now = SystemTime::now();
        let timelines = self.timelines().await;
        let mut seen: HashMap<String, Option<Seen>> = HashMap::new();
        for (schedule, read) in &timelines {
            let state = match read {
                Ok(answer) => Some(self.seen(schedule, answer, email.as_deref(), now).await),
                Err(error) => {
                    tracing::warn!(%error, %schedule, "no timeline for the Home tab");
                    None
                }
            };
            seen.insert(schedule.clone(), state);
        }
        let people: Vec<Person> = seen
            .values()
            .flatten()
            .flat_map(|state| {
                state
                    .rotations
                    .iter()
                    .flat_map(|(_, on, next)| on.iter().chain(next).map(|s| s.person.clone()))
                    .chain(state.flat.iter().cloned())
            })
            .collect();
        let names = self.names(&people).await;
        let source = self.source_name();

        let mut own = Vec::new();
        let mut others = Vec::new();
        for place in self.places() {
            let state = seen.get(&place.schedule).and_then(Option::as_ref);
            let full = full_text(&place, state, &names, source);
            let compact = compact_line(&place, state, &names);
            if state.is_some_and(|state| state.viewers) {
                own.push((full, compact));
            } else {
                others.push(compact);
            }
        }

        let mut blocks = vec![
            HomeBlock::Header("Who is on call".to_owned()),
            HomeBlock::Note(format!(
                "As of {}, in your time zone. Ask `@ops` in any channel for more.",
                slack_date(now)
            )),
        ];
        if self.overrides().is_some() {
            blocks.push(HomeBlock::Buttons(vec![
                FormKind::TakeCall,
                FormKind::Cover,
            ]));
        }
        blocks.push(HomeBlock::Header(
            "Your shifts in the next 4 weeks".to_owned(),
        ));
        blocks.push(HomeBlock::Text(self.my_shifts_text(
            email.as_deref(),
            &timelines,
            now,
        )));
        blocks.push(HomeBlock::Divider);

        lay_out_teams(&mut blocks, own, &others);
        HomeTab { blocks }
    }

    /// One schedule as the tab shows it.
    async fn seen(
        &self,
        schedule: &str,
        answer: &TimelineAnswer,
        email: Option<&str>,
        now: SystemTime,
    ) -> Seen {
        let timeline = &answer.timeline;
        let rotations: Vec<(String, Vec<Shift>, Option<Shift>)> = timeline
            .plans
            .iter()
            .map(|plan| {
                let rotation = RotationPlan::at(plan.clone(), now);
                (rotation.name, rotation.current, rotation.next)
            })
            .filter(|(_, on, next)| !on.is_empty() || next.is_some())
            .collect();
        let mut freshness = answer.freshness;
        let mut flat = Vec::new();
        if rotations.is_empty() {
            // No rotations in the timeline: who is on from the (cached) answer.
            match self.directory.on_call(schedule).await {
                Ok(on_call) => {
                    flat = on_call.on_call.people.clone();
                    freshness = on_call.freshness;
                }
                Err(error) => {
                    tracing::warn!(%error, %schedule, "no on-call answer for the Home tab")
                }
            }
        }
        let viewers = email.is_some_and(|email| {
            has_shift(timeline, email, now) || flat.iter().any(|person| is(person, email))
        });
        Seen {
            rotations,
            flat,
            freshness,
            viewers,
        }
    }

    /// The viewer's shifts in every schedule, from the timelines already read.
    fn my_shifts_text(
        &self,
        email: Option<&str>,
        timelines: &HashMap<String, Result<TimelineAnswer, NoAnswer>>,
        now: SystemTime,
    ) -> String {
        let Some(email) = email else {
            return NO_EMAIL_TEXT.to_owned();
        };
        let until = now + MY_SHIFTS_AHEAD;
        let places = self.places();
        let label_of = |schedule: &str| {
            places
                .iter()
                .filter(|place| place.schedule == schedule)
                .map(|place| place.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut shifts: Vec<MyShift> = Vec::new();
        let mut unread = Vec::new();
        let mut oldest: Option<std::time::Duration> = None;
        for schedule in self.known_schedules() {
            match timelines.get(&schedule) {
                Some(Ok(answer)) => {
                    if let Freshness::Stale { age } = answer.freshness {
                        oldest = oldest.max(Some(age));
                    }
                    for (plan, shift) in answer.timeline.shifts_between(now, until) {
                        if is(&shift.person, email) {
                            shifts.push((label_of(&schedule), plan.name.clone(), shift.clone()));
                        }
                    }
                }
                _ => unread.push(format!("*{}*", escape(&label_of(&schedule)))),
            }
        }
        let mut text = if shifts.is_empty() {
            "You have no shifts in the next 4 weeks.".to_owned()
        } else {
            shift_lines(shifts, now).trim_start().to_owned()
        };
        if let Some(age) = oldest {
            text.push_str(&format!(
                "\n_{} is not answering; this is how the schedules stood {} ago._",
                self.source_name(),
                describe_age(age)
            ));
        }
        if !unread.is_empty() {
            text.push_str(&format!(
                "\n_I could not read {} just now._",
                unread.join(", ")
            ));
        }
        text
    }
}

fn is(person: &Person, email: &str) -> bool {
    person
        .email
        .as_deref()
        .is_some_and(|theirs| theirs.eq_ignore_ascii_case(email))
}

/// Whether `email` has a shift in the timeline from `now` over the weeks ahead.
fn has_shift(timeline: &Timeline, email: &str, now: SystemTime) -> bool {
    timeline
        .shifts_between(now, now + MY_SHIFTS_AHEAD)
        .any(|(_, shift)| is(&shift.person, email))
}

/// A place in full: each rotation's people until when, and who is next.
fn full_text(
    place: &Place,
    state: Option<&Seen>,
    names: &HashMap<Person, String>,
    source: &str,
) -> String {
    let title = title(place);
    let Some(state) = state else {
        return format!("{title}\nI could not read who is on call just now.");
    };
    let name = |person: &Person| {
        names
            .get(person)
            .cloned()
            .unwrap_or_else(|| escape(&person.name))
    };
    let mut text = title;
    if let Freshness::Stale { age } = state.freshness {
        text.push_str(&format!(
            "\n_{source} is not answering; this is how it stood {} ago._",
            describe_age(age)
        ));
    }
    if state.rotations.is_empty() {
        if state.flat.is_empty() {
            text.push_str("\nNobody is on call right now.");
        } else {
            let list: Vec<String> = state.flat.iter().map(name).collect();
            text.push_str(&format!("\nOn call: {}", list.join(", ")));
        }
    }
    for (index, (rotation, on, next)) in state.rotations.iter().enumerate().take(ROTATIONS_SHOWN) {
        let now = if on.is_empty() {
            "nobody now".to_owned()
        } else {
            on.iter()
                .map(|shift| {
                    if shift.is_open_ended() {
                        name(&shift.person)
                    } else {
                        format!("{} until {}", name(&shift.person), slack_date(shift.until))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let next = next
            .as_ref()
            .map(|shift| {
                format!(
                    "; next {} from {}",
                    name(&shift.person),
                    slack_date(shift.starts)
                )
            })
            .unwrap_or_default();
        // One rotation (PagerDuty's final schedule, say) has no roles to tell.
        if state.rotations.len() == 1 {
            text.push_str(&format!("\nOn call: {now}{next}"));
        } else {
            text.push_str(&format!(
                "\n• {} ({}): {now}{next}",
                role(index),
                escape(rotation)
            ));
        }
    }
    if state.rotations.len() > ROTATIONS_SHOWN {
        text.push_str(&format!(
            "\n…and {} more rotations: ask `@ops` in the team's channel.",
            state.rotations.len() - ROTATIONS_SHOWN
        ));
    }
    text
}

/// A place in one line: who is on now.
fn compact_line(place: &Place, state: Option<&Seen>, names: &HashMap<Person, String>) -> String {
    let label = format!("*{}*", escape(&place.label));
    let Some(state) = state else {
        return format!("{label}: could not be read just now");
    };
    let people: Vec<String> = state
        .rotations
        .iter()
        .flat_map(|(_, on, _)| on.iter().map(|shift| &shift.person))
        .chain(&state.flat)
        .map(|person| {
            names
                .get(person)
                .cloned()
                .unwrap_or_else(|| escape(&person.name))
        })
        .collect();
    let stale = if matches!(state.freshness, Freshness::Stale { .. }) {
        " (as it stood earlier)"
    } else {
        ""
    };
    if people.is_empty() {
        format!("{label}: nobody{stale}")
    } else {
        format!("{label}: {}{stale}", people.join(", "))
    }
}

/// "*payments*", and the schedule when it is named otherwise.
fn title(place: &Place) -> String {
    if place.label == place.schedule {
        format!("*{}*", escape(&place.label))
    } else {
        format!(
            "*{}* (schedule {})",
            escape(&place.label),
            escape(&place.schedule)
        )
    }
}

/// The teams after the tab's head: the viewer's own in full, the rest a line
/// each. When that is more than a view holds, own teams past the budget are
/// shown as lines too, and lines past it are counted in a last note; the tab
/// never has more than [`MAX_VIEW_BLOCKS`].
fn lay_out_teams(blocks: &mut Vec<HomeBlock>, own: Vec<(String, String)>, others: &[String]) {
    let budget = MAX_VIEW_BLOCKS.saturating_sub(blocks.len() + 2);
    let lines_after = |in_full: usize| {
        let lines: Vec<&str> = own[in_full..]
            .iter()
            .map(|(_, line)| line.as_str())
            .chain(others.iter().map(String::as_str))
            .collect();
        pack(&lines)
    };
    // As many own teams in full as leave room for every other line; when
    // not even all lines fit, half the room in full and the rest in lines.
    let fitting = (0..=own.len().min(budget))
        .rev()
        .map(|in_full| (in_full, lines_after(in_full)))
        .find(|(in_full, packed)| in_full + packed.len() <= budget);
    let (in_full, packed) = fitting.unwrap_or_else(|| {
        let in_full = own.len().min(budget / 2);
        (in_full, lines_after(in_full))
    });
    blocks.extend(
        own[..in_full]
            .iter()
            .map(|(full, _)| HomeBlock::Text(full.clone())),
    );
    if packed.is_empty() {
        return;
    }
    if in_full > 0 {
        blocks.push(HomeBlock::Header("Other teams".to_owned()));
    }
    let room = MAX_VIEW_BLOCKS.saturating_sub(blocks.len() + 1);
    let left_out: usize = packed.iter().skip(room).map(|(_, count)| count).sum();
    blocks.extend(
        packed
            .into_iter()
            .take(room)
            .map(|(text, _)| HomeBlock::Text(text)),
    );
    if left_out > 0 {
        blocks.push(HomeBlock::Note(format!(
            "…and {left_out} more teams: ask `@ops team <name>` in any channel."
        )));
    }
}

/// Lines packed into sections of at most [`SECTION_CHARS`], each with how
/// many lines it holds.
fn pack(lines: &[&str]) -> Vec<(String, usize)> {
    let mut packed: Vec<(String, usize)> = Vec::new();
    for line in lines {
        match packed.last_mut() {
            Some((text, count))
                if text.chars().count() + 1 + line.chars().count() <= SECTION_CHARS =>
            {
                text.push('\n');
                text.push_str(line);
                *count += 1;
            }
            _ => packed.push(((*line).to_owned(), 1)),
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Vec<HomeBlock> {
        vec![HomeBlock::Header("Who is on call".into()); 6]
    }

    fn team(n: usize, long: bool) -> (String, String) {
        let padding = if long {
            "x".repeat(2_000)
        } else {
            String::new()
        };
        (
            format!("*team-{n}*\n• primary: <@U{n}>"),
            format!("*team-{n}*: <@U{n}>{padding}"),
        )
    }

    #[test]
    fn any_number_of_teams_fits_in_a_view_own_teams_first_and_none_unaccounted() {
        for (own, others, long) in [
            (0, 0, false),
            (3, 40, false),
            (40, 0, false),
            (150, 300, false),
            (0, 500, true),
            (95, 95, true),
        ] {
            let mut blocks = head();
            let own: Vec<(String, String)> = (0..own).map(|n| team(n, long)).collect();
            let others: Vec<String> = (own.len()..own.len() + others)
                .map(|n| team(n, long).1)
                .collect();
            lay_out_teams(&mut blocks, own.clone(), &others);
            assert!(blocks.len() <= MAX_VIEW_BLOCKS, "{} blocks", blocks.len());
            let text: String = blocks
                .iter()
                .map(|block| match block {
                    HomeBlock::Text(text) | HomeBlock::Note(text) | HomeBlock::Header(text) => {
                        text.clone()
                    }
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let shown = (0..own.len() + others.len())
                .filter(|n| text.contains(&format!("*team-{n}*")))
                .count();
            let left_out: usize = text
                .rsplit_once("…and ")
                .and_then(|(_, tail)| tail.split(' ').next()?.parse().ok())
                .unwrap_or(0);
            assert_eq!(
                shown + left_out,
                own.len() + others.len(),
                "every team shown or counted"
            );
            if let Some((full, _)) = own.first() {
                assert!(text.contains(full.as_str()), "the first own team in full");
            }
        }
    }
}
