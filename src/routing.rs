//! Which schedule a request is about: teams named in the message, a channel's own
//! team, else the default schedule.

use std::collections::HashMap;

/// A team and the OpsGenie schedule that answers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: String,
    pub aliases: Vec<String>,
    pub schedule: String,
}

impl Team {
    fn is_called(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word)
            || self
                .aliases
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(word))
    }
}

/// Teams and channel defaults, from the config file (empty without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    teams: Vec<Team>,
    /// Channel id → index into `teams`.
    channels: HashMap<String, usize>,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    Team(&'a Team),
    Default,
}

impl Routing {
    /// `channels` are (channel id, team name); names must be among `teams`.
    pub fn new(teams: Vec<Team>, channels: &[(String, String)]) -> Result<Self, String> {
        let mut routing = Self {
            teams,
            channels: HashMap::new(),
        };
        for (channel, team) in channels {
            let index = routing
                .teams
                .iter()
                .position(|known| known.is_called(team))
                .ok_or_else(|| {
                    format!("channel {channel} names the team `{team}`, which is not defined")
                })?;
            routing.channels.insert(channel.clone(), index);
        }
        Ok(routing)
    }

    pub fn teams(&self) -> &[Team] {
        &self.teams
    }

    /// The team called `name` (its name or an alias, any case).
    pub fn team_named(&self, name: &str) -> Option<&Team> {
        let name = name.trim();
        self.teams.iter().find(|team| team.is_called(name))
    }

    /// The team a request is about: the first word that names one, else the
    /// channel's team, else the default.
    pub fn destination(&self, channel: &str, text: &str) -> Destination<'_> {
        let named = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .filter(|word| !word.is_empty())
            .find_map(|word| self.team_named(word));
        match named.or_else(|| self.channels.get(channel).map(|index| &self.teams[*index])) {
            Some(team) => Destination::Team(team),
            None => Destination::Default,
        }
    }

    /// "payments (pay, billing), database (db)"
    pub fn describe_teams(&self) -> String {
        self.teams
            .iter()
            .map(|team| {
                if team.aliases.is_empty() {
                    format!("*{}*", team.name)
                } else {
                    format!("*{}* ({})", team.name, team.aliases.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> Routing {
        Routing::new(
            vec![
                Team {
                    name: "payments".into(),
                    aliases: vec!["pay".into(), "billing".into()],
                    schedule: "Payments_schedule".into(),
                },
                Team {
                    name: "database".into(),
                    aliases: vec![],
                    schedule: "database_schedule".into(),
                },
            ],
            &[("C0PAYHELP".into(), "Payments".into())],
        )
        .expect("valid")
    }

    #[test]
    fn a_word_naming_a_team_or_alias_picks_it_in_any_case() {
        let routing = routing();
        let schedule = |channel: &str, text: &str| match routing.destination(channel, text) {
            Destination::Team(team) => team.schedule.clone(),
            Destination::Default => "default".to_owned(),
        };
        assert_eq!(schedule("C1", "<@UBOT> payments"), "Payments_schedule");
        assert_eq!(
            schedule("C1", "who is on call for BILLING?"),
            "Payments_schedule"
        );
        assert_eq!(schedule("C1", "the Database is slow"), "database_schedule");
        assert_eq!(schedule("C1", "paypal is down"), "default");
        assert_eq!(schedule("C0PAYHELP", "anyone?"), "Payments_schedule");
        assert_eq!(schedule("C0PAYHELP", "database!"), "database_schedule");
        assert_eq!(schedule("C1", "anyone?"), "default");
    }

    #[test]
    fn a_channel_naming_an_unknown_team_is_refused() {
        let error = Routing::new(vec![], &[("C1".into(), "ghosts".into())]).expect_err("unknown");
        assert!(error.contains("`ghosts`"), "{error}");
    }
}
