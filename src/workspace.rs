//! Who is of the bot's workspace: the one rule behind paging, acting on alerts
//! and taking the call. Slack names a person's workspace and Enterprise Grid
//! organisation in several places (an event's `user_team`, an interaction's
//! `team.id`, `team.enterprise_id` and `enterprise.id`, `users.info`'s
//! `team_id` and `enterprise_user.enterprise_id`); each caller passes every one
//! it has, and the rule reads them all alike.

use crate::model::BotIdentity;

/// What Slack said about where a person is from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Affiliation<'a> {
    /// Their workspace, as the payload and their profile name it.
    pub teams: [Option<&'a str>; 2],
    /// Every organisation named for them.
    pub enterprises: [Option<&'a str>; 2],
}

impl<'a> Affiliation<'a> {
    /// From the payload's team and organisation, and the person's profile
    /// (`users.info`) when it was read.
    pub fn of(
        payload_team: Option<&'a str>,
        payload_enterprise: Option<&'a str>,
        profile_team: Option<&'a str>,
        profile_enterprise: Option<&'a str>,
    ) -> Self {
        Self {
            teams: [payload_team, profile_team],
            enterprises: [payload_enterprise, profile_enterprise],
        }
    }
}

/// Whether someone belongs to `home`'s workspace: the same Enterprise Grid
/// organisation named anywhere, or else every workspace named for them is
/// `home`'s or one of `allowed_teams` (Slack Connect partners let in on
/// purpose): a profile that contradicts the payload is not overlooked.
/// Someone Slack names no workspace for is home: the payload came signed from
/// Slack, and Slack names the workspace of everyone from elsewhere.
pub fn belongs(home: &BotIdentity, who: &Affiliation<'_>, allowed_teams: &[String]) -> bool {
    let same_organisation = home.enterprise_id.as_deref().is_some_and(|ours| {
        who.enterprises
            .iter()
            .flatten()
            .any(|theirs| *theirs == ours)
    });
    if same_organisation {
        return true;
    }
    let Some(ours) = home.team_id.as_deref() else {
        return true;
    };
    who.teams
        .iter()
        .flatten()
        .all(|theirs| *theirs == ours || allowed_teams.iter().any(|allowed| allowed == theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_its_organisation_from_any_place_and_allowed_teams_belong() {
        let home = BotIdentity {
            user_id: "UBOT".into(),
            bot_id: None,
            team_id: Some("THOME".into()),
            enterprise_id: Some("EORG".into()),
        };
        let allowed = ["TPARTNER".to_owned()];
        let cases = [
            (Affiliation::of(Some("THOME"), None, None, None), true),
            (Affiliation::of(None, None, None, None), true),
            (Affiliation::of(Some("TOTHER"), None, None, None), false),
            (
                Affiliation::of(Some("TOTHER"), Some("EOTHER"), None, None),
                false,
            ),
            (
                Affiliation::of(Some("TSISTER"), Some("EORG"), None, None),
                true,
            ),
            // Only the profile says which organisation (a typed `@ops ack`).
            (
                Affiliation::of(Some("TSISTER"), None, Some("TSISTER"), Some("EORG")),
                true,
            ),
            (Affiliation::of(None, None, Some("TOTHER"), None), false),
            (Affiliation::of(Some("TPARTNER"), None, None, None), true),
            // The payload says home, the profile says elsewhere: not home.
            (
                Affiliation::of(Some("THOME"), None, Some("TOTHER"), None),
                false,
            ),
        ];
        for (who, expected) in cases {
            assert_eq!(belongs(&home, &who, &allowed), expected, "{who:?}");
        }
        let no_organisation = BotIdentity {
            enterprise_id: None,
            ..home
        };
        assert!(!belongs(
            &no_organisation,
            &Affiliation::of(Some("TSISTER"), Some("EORG"), None, None),
            &[]
        ));
    }
}
