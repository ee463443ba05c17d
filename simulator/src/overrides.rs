//! Schedule overrides as OpsGenie and JSM Operations keep them: each with an
//! alias, over a span, in place of whoever is in the rotations it names (all of
//! them when it names none). Shared by both simulated providers: they differ
//! only in their wire shapes.

use std::time::SystemTime;

/// One override, as the simulated provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOverride {
    pub alias: String,
    /// The username (OpsGenie) or account id (JSM).
    pub user: String,
    pub from: SystemTime,
    pub to: SystemTime,
    /// Rotation ids or names; empty: every rotation.
    pub rotations: Vec<String>,
}

impl SimOverride {
    /// Whether it replaces the rotation with this id and name.
    pub fn covers(&self, id: &str, name: &str) -> bool {
        self.rotations.is_empty()
            || self
                .rotations
                .iter()
                .any(|rotation| rotation == id || rotation == name)
    }

    fn shares_a_rotation_with(&self, other: &Self) -> bool {
        self.rotations.is_empty()
            || other.rotations.is_empty()
            || self
                .rotations
                .iter()
                .any(|rotation| other.rotations.contains(rotation))
    }
}

/// A schedule's overrides.
#[derive(Debug, Default, Clone)]
pub struct OverrideBook {
    overrides: Vec<SimOverride>,
    made: u64,
}

impl OverrideBook {
    /// Makes an override under `alias` (or one of the book's own): `Err` is
    /// the provider's 422 message (an alias taken, an overlap in a rotation).
    pub fn create(
        &mut self,
        user: String,
        from: SystemTime,
        to: SystemTime,
        rotations: Vec<String>,
        alias: Option<String>,
    ) -> Result<String, &'static str> {
        if to <= from {
            return Err("End date must be after start date");
        }
        self.made += 1;
        let alias = alias.unwrap_or_else(|| format!("override-sim-{:04}", self.made));
        if self.overrides.iter().any(|known| known.alias == alias) {
            return Err("An override with this alias already exists for the schedule");
        }
        let new = SimOverride {
            alias: alias.clone(),
            user,
            from,
            to,
            rotations,
        };
        let overlapping = self
            .overrides
            .iter()
            .any(|known| from < known.to && known.from < to && known.shares_a_rotation_with(&new));
        if overlapping {
            return Err("Override overlaps with an existing override of the schedule");
        }
        self.overrides.push(new);
        Ok(alias)
    }

    /// Deletes the override with this alias; false when there is none.
    pub fn delete(&mut self, alias: &str) -> bool {
        let before = self.overrides.len();
        self.overrides.retain(|known| known.alias != alias);
        self.overrides.len() < before
    }

    pub fn get(&self, alias: &str) -> Option<&SimOverride> {
        self.overrides.iter().find(|known| known.alias == alias)
    }

    pub fn all(&self) -> &[SimOverride] {
        &self.overrides
    }

    /// A rotation's periods with the overrides that replace it cut in:
    /// (user, from, to, is override), by start, adjacent periods of one user
    /// joined.
    pub fn apply(
        &self,
        rotation_id: &str,
        rotation_name: &str,
        shifts: &[(String, SystemTime, SystemTime)],
    ) -> Vec<(String, SystemTime, SystemTime, bool)> {
        let covering: Vec<&SimOverride> = self
            .overrides
            .iter()
            .filter(|known| known.covers(rotation_id, rotation_name))
            .collect();
        let mut bounds: Vec<SystemTime> = shifts
            .iter()
            .flat_map(|(_, from, to)| [*from, *to])
            .chain(covering.iter().flat_map(|known| [known.from, known.to]))
            .collect();
        bounds.sort();
        bounds.dedup();
        let mut periods: Vec<(String, SystemTime, SystemTime, bool)> = Vec::new();
        for pair in bounds.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let who = covering
                .iter()
                .find(|known| known.from <= start && end <= known.to)
                .map(|known| (known.user.clone(), true))
                .or_else(|| {
                    shifts
                        .iter()
                        .find(|(_, from, to)| *from <= start && end <= *to)
                        .map(|(user, _, _)| (user.clone(), false))
                });
            let Some((user, is_override)) = who else {
                continue;
            };
            match periods.last_mut() {
                Some(last) if last.0 == user && last.3 == is_override && last.2 == start => {
                    last.2 = end;
                }
                _ => periods.push((user, start, end, is_override)),
            }
        }
        periods
    }

    /// Who covers the whole schedule at `at`, when an override names no
    /// rotation (a schedule without rotations).
    pub fn whole_schedule_at(&self, at: SystemTime) -> Option<&SimOverride> {
        self.overrides
            .iter()
            .find(|known| known.rotations.is_empty() && known.from <= at && at < known.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(hours: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(hours * 3600)
    }

    #[test]
    fn an_override_replaces_only_its_rotation_and_only_its_span() {
        let mut book = OverrideBook::default();
        let alias = book
            .create(
                "dana".into(),
                at(2),
                at(4),
                vec!["Primary".into()],
                Some("mine".into()),
            )
            .expect("made");
        assert_eq!(alias, "mine");
        let shifts = vec![("alice".to_owned(), at(0), at(10))];
        assert_eq!(
            book.apply("r0", "Primary", &shifts),
            vec![
                ("alice".to_owned(), at(0), at(2), false),
                ("dana".to_owned(), at(2), at(4), true),
                ("alice".to_owned(), at(4), at(10), false),
            ]
        );
        assert_eq!(
            book.apply("r1", "Secondary", &shifts),
            vec![("alice".to_owned(), at(0), at(10), false)]
        );
        assert_eq!(
            book.create("erin".into(), at(3), at(5), vec!["Primary".into()], None),
            Err("Override overlaps with an existing override of the schedule")
        );
        assert!(book
            .create("erin".into(), at(3), at(5), vec!["Secondary".into()], None)
            .is_ok());
        assert_eq!(
            book.create("x".into(), at(20), at(21), vec![], Some("mine".into())),
            Err("An override with this alias already exists for the schedule")
        );
        assert!(book.delete("mine"));
        assert!(!book.delete("mine"));
        assert_eq!(
            book.apply("r0", "Primary", &shifts),
            vec![("alice".to_owned(), at(0), at(10), false)]
        );
    }
}
