//! PagerDuty's REST answers, as far as the bot reads them. Lenient: unknown
//! fields are ignored, optional ones may be missing or null.

use serde::Deserialize;

/// A page of a classic-paginated list: its items, `more`, and the `limit`
/// the API used (it may cap what was asked).
pub(super) trait Page: serde::de::DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, bool, Option<usize>);
}

impl Page for SchedulesPage {
    type Item = ScheduleSummary;
    fn into_parts(self) -> (Vec<ScheduleSummary>, bool, Option<usize>) {
        (self.schedules, self.more, self.limit)
    }
}

impl Page for OncallsPage {
    type Item = Oncall;
    fn into_parts(self) -> (Vec<Oncall>, bool, Option<usize>) {
        (self.oncalls, self.more, self.limit)
    }
}

/// A page of `/schedules`.
#[derive(Debug, Deserialize)]
pub(super) struct SchedulesPage {
    #[serde(default)]
    pub schedules: Vec<ScheduleSummary>,
    #[serde(default)]
    pub more: bool,
    /// The page size the API used (it may cap what was asked).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ScheduleSummary {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ScheduleAnswer {
    pub schedule: Schedule,
}

#[derive(Debug, Deserialize)]
pub(super) struct Schedule {
    pub final_schedule: Option<SubSchedule>,
    pub overrides_subschedule: Option<SubSchedule>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SubSchedule {
    #[serde(default)]
    pub rendered_schedule_entries: Vec<Entry>,
}

/// One stretch of the schedule: who, from when, until when.
#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    pub user: Option<Reference>,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Reference {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserAnswer {
    pub user: User,
}

#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub email: Option<String>,
}

/// A page of `/oncalls`.
#[derive(Debug, Deserialize)]
pub(super) struct OncallsPage {
    #[serde(default)]
    pub oncalls: Vec<Oncall>,
    #[serde(default)]
    pub more: bool,
    pub limit: Option<usize>,
}

/// One person on call at one level of an escalation policy: through a schedule
/// from `start` to `end`, or always (no start, no end) when the level names
/// them directly.
#[derive(Debug, Deserialize)]
pub(super) struct Oncall {
    pub escalation_level: u32,
    pub user: Option<Reference>,
    pub schedule: Option<Summary>,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Summary {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub summary: String,
}

/// A time as PagerDuty writes it: RFC 3339 in the schedule's or the account's
/// time zone (`2015-11-09T08:00:00-05:00`), not only in UTC. jiff reads any
/// offset; humantime, used for the bot's own UTC times, reads only `Z`.
pub(super) fn time(text: &str) -> Option<std::time::SystemTime> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|at| std::time::SystemTime::try_from(at).ok())
}
