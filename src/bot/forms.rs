//! The Home tab's forms, "Take the call…" and "Ask for cover…": opened with
//! the click's trigger, checked within Slack's three seconds (what is wrong
//! is shown beside its field and the form stays open), then turned into the
//! same request a message makes, answered privately by DM.

use std::time::{Duration, SystemTime};

use super::replies::TAKE_CALL_OFF_TEXT;
use super::service::Bot;
use super::when::parse_span;
use crate::model::{
    Form, FormChoice, FormField, FormKind, FormOpening, FormSubmission, ThreadMessage,
};
use crate::overrides::policy::Refusal;
use crate::overrides::{CoverRequest, TakeRequest};
use crate::slack::{SlackError, MAX_NOTE_CHARS};

/// The value that picks the default schedule in a form's team list; teams'
/// values are `team:<name>`, so no team name can be taken for it.
const DEFAULT_CHOICE: &str = "default";
const TEAM_PREFIX: &str = "team:";

/// How long finding the person's own team (their email: `users.info`, cached;
/// their teams: the cached timelines only) may delay a form: its trigger is
/// good for three seconds.
const OWN_TEAM_WITHIN: Duration = Duration::from_millis(1_000);

/// A form that passed the checks that need no one else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRequest {
    pub kind: FormKind,
    pub user: String,
    pub user_team: Option<String>,
    pub schedule: String,
    pub label: String,
    pub from: SystemTime,
    pub until: SystemTime,
    pub note: String,
}

/// What is wrong with a submitted form, beside the fields.
pub type FormErrors = Vec<(FormField, String)>;

impl Bot {
    /// Opens the form a Home tab button asks for, with the person's own team
    /// (when found quickly) chosen.
    pub async fn open_form(&self, opening: &FormOpening) -> Result<(), SlackError> {
        let own = tokio::time::timeout(OWN_TEAM_WITHIN, async {
            let email = self.user_email(&opening.user).await?;
            self.own_places(&email).await.into_iter().next()
        })
        .await
        .ok()
        .flatten();
        let teams = self.form_choices();
        let chosen = own.and_then(|label| {
            teams
                .iter()
                .find(|choice| choice.label == label)
                .map(|choice| choice.value.clone())
        });
        let form = Form {
            kind: opening.kind,
            teams,
            chosen,
        };
        self.slack.open_form(&opening.trigger_id, &form).await
    }

    /// The default schedule and each team, as a form lists them.
    fn form_choices(&self) -> Vec<FormChoice> {
        std::iter::once(FormChoice {
            value: DEFAULT_CHOICE.to_owned(),
            label: self.schedule.clone(),
        })
        .chain(self.routing.teams().iter().map(|team| FormChoice {
            value: format!("{TEAM_PREFIX}{}", team.name),
            label: team.name.clone(),
        }))
        .collect()
    }

    /// Checks a submitted form with what the bot knows itself (and the
    /// person's time zone, from the cache or one `users.info`): the team
    /// exists and, for cover, has a channel to ask in; the span reads, lies
    /// ahead and within the team's limit. Whether the person may take it
    /// (rotations, guests) needs the provider and comes after the ack.
    pub async fn check_form(&self, form: &FormSubmission) -> Result<FormRequest, FormErrors> {
        let Some(overrides) = self.overrides() else {
            return Err(vec![(FormField::Team, TAKE_CALL_OFF_TEXT.to_owned())]);
        };
        let mut errors = FormErrors::new();
        let place = match form.team.as_deref() {
            None => {
                errors.push((FormField::Team, "Pick a team.".to_owned()));
                None
            }
            Some(DEFAULT_CHOICE) => Some((self.schedule.clone(), self.schedule.clone())),
            Some(value) => match value
                .strip_prefix(TEAM_PREFIX)
                .and_then(|name| self.routing.team_named(name))
            {
                Some(team) => Some((team.schedule.clone(), team.name.clone())),
                None => {
                    errors.push((
                        FormField::Team,
                        "There is no such team any more; pick another.".to_owned(),
                    ));
                    None
                }
            },
        };
        if let (FormKind::Cover, Some((schedule, label))) = (form.kind, &place) {
            if !overrides.has_announce_channel(schedule) {
                errors.push((
                    FormField::Team,
                    format!(
                        "{label} has no announce_channel to ask for cover in; ask with \
                         `@ops cover me …` in its channel instead."
                    ),
                ));
            }
        }
        if form
            .note
            .as_deref()
            .is_some_and(|note| note.chars().count() > MAX_NOTE_CHARS)
        {
            errors.push((
                FormField::Note,
                format!("Keep the note under {MAX_NOTE_CHARS} characters."),
            ));
        }
        let span = self.form_span(form).await;
        let span = match span {
            Ok(span) => Some(span),
            Err(error) => {
                errors.push(error);
                None
            }
        };
        if let (Some((schedule, label)), Some((from, until))) = (&place, span) {
            if let Err(refusal) = overrides.check_quickly(schedule, label, from, until) {
                errors.push(refusal_in_form(&refusal, form));
            }
            if errors.is_empty() {
                return Ok(FormRequest {
                    kind: form.kind,
                    user: form.user.clone(),
                    user_team: form.user_team.clone(),
                    schedule: schedule.clone(),
                    label: label.clone(),
                    from,
                    until,
                    note: form.note.clone().unwrap_or_default(),
                });
            }
        }
        Err(errors)
    }

    /// The span the form gives: its words read in the person's zone, or
    /// the start and end picked; one or the other.
    async fn form_span(
        &self,
        form: &FormSubmission,
    ) -> Result<(SystemTime, SystemTime), (FormField, String)> {
        let picked = |seconds: i64| {
            u64::try_from(seconds).ok().and_then(|seconds| {
                SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
            })
        };
        match (form.when.as_deref(), form.from, form.until) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err((
                FormField::When,
                "Write when, or pick a start and an end; not both.".to_owned(),
            )),
            (Some(phrase), None, None) => {
                let zone = self
                    .user_zone(&form.user)
                    .await
                    .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
                    .unwrap_or(jiff::tz::TimeZone::UTC);
                let now = jiff::Timestamp::now().to_zoned_datetime(zone);
                let (from, until) = parse_span(phrase, &now).map_err(|error| {
                    (
                        FormField::When,
                        format!("{error}. Try e.g. tomorrow 09:00-13:00."),
                    )
                })?;
                match (SystemTime::try_from(from), SystemTime::try_from(until)) {
                    (Ok(from), Ok(until)) => Ok((from, until)),
                    _ => Err((FormField::When, "That is no time I can take.".to_owned())),
                }
            }
            (None, Some(from), Some(until)) => match (picked(from), picked(until)) {
                (Some(from), Some(until)) if from < until => Ok((from, until)),
                (Some(_), Some(_)) => Err((
                    FormField::Until,
                    "The end must come after the start.".to_owned(),
                )),
                _ => Err((FormField::From, "That is no time I can take.".to_owned())),
            },
            (None, Some(_), None) => Err((FormField::Until, "Pick an end too.".to_owned())),
            (None, None, Some(_)) => Err((FormField::From, "Pick a start too.".to_owned())),
            (None, None, None) => Err((
                FormField::When,
                "Write when (e.g. tomorrow 09:00-13:00), or pick a start and an end.".to_owned(),
            )),
        }
    }

    /// Acts on a checked form after the ack: the Confirm prompt (taking the
    /// call) or the request for cover, posted where the team sees it; what
    /// the person is told (the prompt, where the request went, or why not)
    /// comes by DM, for them alone.
    pub async fn act_on_form(&self, request: &FormRequest) -> Result<(), SlackError> {
        let Some(overrides) = self.overrides() else {
            return Ok(());
        };
        let said = match request.kind {
            FormKind::TakeCall => {
                overrides
                    .ask(TakeRequest {
                        asker: &request.user,
                        asker_team: request.user_team.as_deref(),
                        schedule: &request.schedule,
                        label: &request.label,
                        from: request.from,
                        until: request.until,
                        thread: None,
                    })
                    .await
            }
            FormKind::Cover => {
                let asked = overrides
                    .ask_cover(CoverRequest {
                        asker: &request.user,
                        asker_team: request.user_team.as_deref(),
                        schedule: &request.schedule,
                        label: &request.label,
                        from: request.from,
                        until: request.until,
                        note: &request.note,
                        asked_in: None,
                    })
                    .await;
                ThreadMessage::plain(match asked {
                    Ok(text) | Err(text) => text,
                })
            }
        };
        let channel = self.slack.open_dm(&request.user).await?;
        self.slack
            .post_message_with_blocks(&channel, &said)
            .await
            .map(drop)
    }
}

/// A refusal of the span or the team, beside the field it is about, in
/// plain words (a form shows no mrkdwn).
fn refusal_in_form(refusal: &Refusal, form: &FormSubmission) -> (FormField, String) {
    let field = if form.when.is_some() {
        FormField::When
    } else {
        FormField::From
    };
    match refusal {
        Refusal::Off { .. } => (FormField::Team, plain(&refusal.text())),
        Refusal::Past { .. } => (field, "That span is over already.".to_owned()),
        _ => (field, plain(&refusal.text())),
    }
}

/// Mrkdwn as plain text: emphasis marks and escapes dropped.
fn plain(text: &str) -> String {
    text.replace('*', "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
