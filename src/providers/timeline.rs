//! A schedule's timeline as OpsGenie and JSM both send it (JSM without the
//! `data` envelope, people by account id): rotations in order, each with its
//! periods. Read here once into [`RotationPlan`]s.

use std::time::SystemTime;

use serde::Deserialize;

use crate::model::{Person, RotationPlan, Shift};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FinalTimeline {
    pub final_timeline: Option<Rotations>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Rotations {
    #[serde(default)]
    pub rotations: Vec<TimelineRotation>,
}

#[derive(Debug, Deserialize)]
pub(super) struct TimelineRotation {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub order: f64,
    #[serde(default)]
    pub periods: Vec<TimelinePeriod>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TimelinePeriod {
    pub start_date: String,
    pub end_date: String,
    /// `default`, `override`, `forwarding`, `historical`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `recipient` in OpsGenie, `responder` in JSM.
    #[serde(alias = "responder")]
    pub recipient: Option<Participant>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Participant {
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The account id (JSM).
    #[serde(default)]
    pub id: String,
    /// The username, an email (OpsGenie).
    #[serde(default)]
    pub name: String,
}

impl FinalTimeline {
    /// The user participants of every period, for resolving them at once.
    pub fn users(&self) -> impl Iterator<Item = &Participant> {
        self.final_timeline
            .iter()
            .flat_map(|timeline| &timeline.rotations)
            .flat_map(|rotation| &rotation.periods)
            .filter_map(|period| period.recipient.as_ref())
            .filter(|participant| participant.kind == "user")
    }

    /// The rotations in the schedule's order, each with the shifts that
    /// overlap `from` .. `until` by start, people found by `person_of`. Adjacent
    /// shifts of the same person are one: JSM splits the period that spans
    /// "now" in two.
    pub fn plans(
        self,
        from: SystemTime,
        until: SystemTime,
        person_of: impl Fn(&Participant) -> Option<Person>,
    ) -> Vec<RotationPlan> {
        let mut rotations = self
            .final_timeline
            .map(|timeline| timeline.rotations)
            .unwrap_or_default();
        rotations.sort_by(|a, b| a.order.total_cmp(&b.order));
        rotations
            .into_iter()
            .map(|rotation| {
                let mut shifts: Vec<Shift> = rotation
                    .periods
                    .iter()
                    .filter(|period| period.kind != "historical")
                    .filter_map(|period| {
                        let participant = period.recipient.as_ref()?;
                        if participant.kind != "user" {
                            return None;
                        }
                        let person = person_of(participant)?;
                        let starts = humantime::parse_rfc3339_weak(&period.start_date).ok()?;
                        let ends = humantime::parse_rfc3339_weak(&period.end_date).ok()?;
                        (ends > from && starts < until).then_some(Shift {
                            person,
                            starts,
                            until: ends,
                            is_override: period.kind == "override",
                        })
                    })
                    .collect();
                shifts.sort_by_key(|shift| shift.starts);
                RotationPlan {
                    id: rotation.id.filter(|id| !id.is_empty()),
                    name: rotation.name,
                    shifts: merge_split_periods(shifts),
                }
            })
            .collect()
    }
}

/// Adjacent shifts of the same person (one ending as the next starts) as one.
fn merge_split_periods(shifts: Vec<Shift>) -> Vec<Shift> {
    let mut merged: Vec<Shift> = Vec::with_capacity(shifts.len());
    for shift in shifts {
        match merged.last_mut() {
            Some(last)
                if last.person == shift.person
                    && last.until == shift.starts
                    && last.is_override == shift.is_override =>
            {
                last.until = shift.until;
            }
            _ => merged.push(shift),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn both_shapes_read_alike_and_a_split_period_is_one_shift() {
        // JSM: `responder` by account id, the period around "now" (1000) in two.
        let jsm: FinalTimeline = serde_json::from_str(
            r#"{"finalTimeline": {"rotations": [{"name": "Weekly", "order": 1, "periods": [
                {"startDate": "1970-01-01T00:00:00Z", "endDate": "1970-01-01T00:16:40Z", "type": "default",
                 "responder": {"type": "user", "id": "acc-alice"}},
                {"startDate": "1970-01-01T00:16:40Z", "endDate": "1970-01-01T00:33:20Z", "type": "default",
                 "responder": {"type": "user", "id": "acc-alice"}},
                {"startDate": "1970-01-01T00:33:20Z", "endDate": "1970-01-01T00:50:00Z", "type": "override",
                 "responder": {"type": "user", "id": "acc-bob"}},
                {"startDate": "1970-01-01T00:50:00Z", "endDate": "1970-01-01T01:06:40Z", "type": "default",
                 "responder": {"type": "team", "id": "team-1"}}
            ]}]}}"#,
        )
        .expect("JSM's shape");
        assert_eq!(jsm.users().count(), 3);
        let plans = jsm.plans(at(0), at(10_000), |participant| {
            Some(Person::with_email(&participant.id))
        });
        let shifts: Vec<(&str, u64, u64, bool)> = plans[0]
            .shifts
            .iter()
            .map(|shift| {
                let secs = |time: SystemTime| {
                    time.duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |since| since.as_secs())
                };
                (
                    shift.person.name.as_str(),
                    secs(shift.starts),
                    secs(shift.until),
                    shift.is_override,
                )
            })
            .collect();
        assert_eq!(
            shifts,
            [("acc-alice", 0, 2000, false), ("acc-bob", 2000, 3000, true)],
            "the split merged, the team left out"
        );

        // OpsGenie: `recipient` by username; a span that ends before a shift
        // starts leaves it out.
        let opsgenie: FinalTimeline = serde_json::from_str(
            r#"{"finalTimeline": {"rotations": [{"name": "R", "order": 1, "periods": [
                {"startDate": "1970-01-01T00:00:00Z", "endDate": "1970-01-01T00:16:40Z",
                 "recipient": {"type": "user", "name": "alice@x"}},
                {"startDate": "1970-01-01T00:16:40Z", "endDate": "1970-01-01T00:33:20Z",
                 "recipient": {"type": "user", "name": "bob@x"}}
            ]}]}}"#,
        )
        .expect("OpsGenie's shape");
        let plans = opsgenie.plans(at(0), at(500), |participant| {
            Some(Person::with_email(&participant.name))
        });
        assert_eq!(plans[0].shifts.len(), 1);
        assert_eq!(plans[0].shifts[0].person.name, "alice@x");
    }
}
