//! Schedule overrides: `POST /schedules/{id}/overrides`, answered 201 with a
//! status per override (so a 201 does not say it was made: each one's status
//! and errors are read). A PagerDuty override covers the whole schedule, every
//! layer under it; the bot's rotation choice does not narrow it. With an
//! escalation policy, a level that is one schedule is a rotation whose id is
//! that schedule's: taking the call there overrides that schedule.

use serde::Deserialize;
use serde_json::json;

use super::client::{PagerDutyClient, API_TOKEN};
use crate::model::OverrideRequest;
use crate::outbound::RestError;
use crate::providers::alert_actions::ActionError;
use crate::providers::ProviderError;

#[derive(Debug, Deserialize)]
struct Made {
    /// Its own status: 201 when made.
    status: Option<u16>,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(rename = "override")]
    made: Option<OverrideBody>,
}

#[derive(Debug, Deserialize)]
struct OverrideBody {
    id: Option<String>,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    user: Option<UserRef>,
}

#[derive(Debug, Deserialize)]
struct UserRef {
    id: String,
}

#[derive(Debug, Deserialize)]
struct OverridesPage {
    #[serde(default)]
    overrides: Vec<OverrideBody>,
}

fn refusal(error: RestError) -> ActionError {
    ActionError::from_rest_or_forbidden(
        error,
        "PagerDuty does not let the bot's API key change schedules (it needs write access)",
    )
}

/// Why the schedule could not be found, for the person who asked: an outage
/// is a failure (said as one, and nothing is claimed about the override), a
/// key or a schedule PagerDuty refuses is a refusal in words.
fn schedule_failure(error: ProviderError) -> ActionError {
    match error {
        ProviderError::Rest(error) => refusal(error),
        other => ActionError::Refused(other.to_string()),
    }
}

/// The override's id as the bot keeps it: with the schedule it was made on
/// when that is a level's own schedule (`PSEC001:POVR1`), so that it is read
/// back and deleted there.
fn kept_id(target: &str, default: &str, id: String) -> String {
    if target == default {
        id
    } else {
        format!("{target}:{id}")
    }
}

impl PagerDutyClient {
    /// The schedule an override of `request` is made on: the one rotation's
    /// own schedule (an escalation level's), else the request's schedule.
    async fn override_target(
        &self,
        request: &OverrideRequest,
    ) -> Result<(String, String), ActionError> {
        let default = self
            .schedule_id(&request.schedule)
            .await
            .map_err(schedule_failure)?;
        if !self
            .config()
            .escalation_policies
            .contains_key(&request.schedule)
        {
            return Ok((default.clone(), default));
        }
        // Levels: only the one level's own schedule, never the team's default
        // one, whose person the taker may not be replacing.
        match request.rotations.as_slice() {
            [only] => match &only.id {
                Some(level_schedule) => Ok((level_schedule.clone(), default)),
                None => Err(ActionError::Refused(format!(
                    "{} is not one PagerDuty schedule, so I cannot make an override there; \
                     make it in PagerDuty",
                    only.name
                ))),
            },
            _ => Err(ActionError::Refused(
                "you are on several levels of the escalation policy, and a PagerDuty override \
                 goes on one schedule; make it in PagerDuty"
                    .to_owned(),
            )),
        }
    }

    /// The PagerDuty user the override is for, by their email.
    async fn override_user(&self, request: &OverrideRequest) -> Result<String, ActionError> {
        if let Some(id) = request
            .who
            .account_id
            .as_deref()
            .filter(|id| !id.contains('@'))
        {
            return Ok(id.to_owned());
        }
        // By email only: a display name is anyone's to set.
        let Some(email) = request.who.email.as_deref() else {
            return Err(ActionError::Refused(
                "PagerDuty knows people by email, and this person's Slack profile shows none"
                    .to_owned(),
            ));
        };
        self.user_id_by_email(email)
            .await
            .map_err(refusal)?
            .ok_or_else(|| {
                ActionError::Refused(format!("PagerDuty has no user with the email {email}"))
            })
    }

    /// Makes the override; returns its id. Sent once (a write); after an
    /// answer that may hide a landing, read back by person and span.
    pub async fn create_override(&self, request: &OverrideRequest) -> Result<String, ActionError> {
        let (schedule, default) = self.override_target(request).await?;
        let user = self.override_user(request).await?;
        let body = json!({"overrides": [{
            "start": crate::outbound::rfc3339(request.from),
            "end": crate::outbound::rfc3339(request.until),
            "user": {"id": user, "type": "user_reference"},
        }]});
        let url = self
            .rest()
            .url(
                &self.config().api_url,
                &["schedules", &schedule, "overrides"],
            )
            .map_err(ActionError::Failed)?;
        let answer: Result<Vec<Made>, RestError> = self
            .rest()
            .write("override", API_TOKEN, |http| {
                self.authorized(http.post(url.clone())).json(&body)
            })
            .await;
        match answer {
            Ok(made) => {
                let Some(first) = made.into_iter().next() else {
                    return Err(ActionError::Refused(
                        "PagerDuty answered without the override".to_owned(),
                    ));
                };
                match (first.status, first.made.and_then(|made| made.id)) {
                    (Some(201) | None, Some(id)) if first.errors.is_empty() => {
                        Ok(kept_id(&schedule, &default, id))
                    }
                    _ => Err(ActionError::Refused(if first.errors.is_empty() {
                        "PagerDuty did not make the override".to_owned()
                    } else {
                        format!(
                            "PagerDuty did not make the override: {}",
                            first.errors.join("; ")
                        )
                    })),
                }
            }
            Err(error) if error.may_have_landed() => match self.find_override(request).await? {
                Some(id) => Ok(id),
                None => Err(ActionError::Failed(error)),
            },
            Err(error) => Err(refusal(error)),
        }
    }

    /// The id of an override of `request`'s person over its span, when the
    /// schedule holds one.
    pub async fn find_override(
        &self,
        request: &OverrideRequest,
    ) -> Result<Option<String>, ActionError> {
        let (schedule, default) = self.override_target(request).await?;
        let user = self.override_user(request).await?;
        let page: OverridesPage = self
            .get(
                "overrides",
                &["schedules", &schedule, "overrides"],
                &[
                    ("since", crate::outbound::rfc3339(request.from)),
                    ("until", crate::outbound::rfc3339(request.until)),
                ],
            )
            .await
            .map_err(refusal)?;
        let same = |time: &str, wanted: std::time::SystemTime| {
            super::wire::time(time).is_some_and(|time| {
                let gap = time
                    .duration_since(wanted)
                    .or_else(|_| wanted.duration_since(time))
                    .unwrap_or_default();
                gap < std::time::Duration::from_secs(60)
            })
        };
        Ok(page
            .overrides
            .into_iter()
            .find(|found| {
                found.user.as_ref().is_some_and(|who| who.id == user)
                    && same(&found.start, request.from)
                    && same(&found.end, request.until)
            })
            .and_then(|found| found.id)
            .map(|id| kept_id(&schedule, &default, id)))
    }

    /// Deletes the override with this id (`DELETE
    /// /schedules/{id}/overrides/{override_id}`, on the level's schedule when
    /// the id names one); one already gone is fine.
    pub async fn delete_override(&self, schedule: &str, id: &str) -> Result<(), ActionError> {
        let (schedule, id) = match id.split_once(':') {
            Some((level_schedule, id)) => (level_schedule.to_owned(), id),
            None => (
                self.schedule_id(schedule).await.map_err(schedule_failure)?,
                id,
            ),
        };
        let url = self
            .rest()
            .url(
                &self.config().api_url,
                &["schedules", &schedule, "overrides", id],
            )
            .map_err(ActionError::Failed)?;
        let deleted: Result<serde_json::Value, RestError> = self
            .rest()
            .write("override_delete", API_TOKEN, |http| {
                self.authorized(http.delete(url.clone()))
            })
            .await;
        match deleted {
            Ok(_) | Err(RestError::NotFound { .. }) => Ok(()),
            Err(error) => Err(refusal(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Person;
    use crate::outbound::Timeouts;
    use crate::providers::pagerduty::PagerDutyConfig;
    use std::time::{Duration, SystemTime};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn client(server: &MockServer) -> PagerDutyClient {
        PagerDutyClient::new(
            PagerDutyConfig {
                api_url: server.uri().parse().expect("a URL"),
                events_url: server.uri().parse().expect("a URL"),
                api_token: "t".into(),
                schedule: "PSRE001".into(),
                routing_key: None,
                escalation_policies: Default::default(),
            },
            Timeouts::default(),
        )
        .expect("a client")
    }

    /// The server knows PSRE001 as a schedule's id.
    async fn known_schedule(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/schedules/PSRE001"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"schedule": {}})),
            )
            .mount(server)
            .await;
    }

    fn request() -> OverrideRequest {
        let from = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        OverrideRequest {
            schedule: "PSRE001".into(),
            who: Person {
                email: Some("bob@corp.example".into()),
                name: "Bob".into(),
                account_id: Some("PUSRBOB".into()),
            },
            from,
            until: from + Duration::from_secs(3600),
            rotations: Vec::new(),
            alias: String::new(),
        }
    }

    #[tokio::test]
    async fn an_outage_is_a_failure_and_a_bodiless_refusal_says_its_status() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/schedules/PSRE001"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        let down = client(&server)
            .await
            .with_retry_policy(crate::outbound::RetryPolicy::none())
            .create_override(&request())
            .await;
        assert!(
            matches!(down, Err(ActionError::Failed(_))),
            "an outage is not PagerDuty saying no: {down:?}"
        );
        known_schedule(&server).await;
        Mock::given(method("POST"))
            .and(path("/schedules/PSRE001/overrides"))
            .respond_with(ResponseTemplate::new(400).set_body_string("<html>proxy</html>"))
            .mount(&server)
            .await;
        let refused = client(&server).await.create_override(&request()).await;
        match refused {
            Err(ActionError::Refused(reason)) => {
                assert_eq!(reason, "it answered HTTP 400 without a reason")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn with_levels_an_override_goes_on_the_takers_level_schedule_or_nowhere() {
        use crate::model::RotationRef;
        let server = MockServer::start().await;
        known_schedule(&server).await;
        Mock::given(method("POST"))
            .and(path("/schedules/PSEC001/overrides"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!([
                {"status": 201, "errors": [], "override": {"id": "POVR9", "start": "x", "end": "y"}}
            ])))
            .expect(1)
            .mount(&server)
            .await;
        let levels = PagerDutyClient::new(
            PagerDutyConfig {
                escalation_policies: [("PSRE001".to_owned(), "PEP1".to_owned())].into(),
                ..client(&server).await.config().clone()
            },
            Timeouts::default(),
        )
        .expect("a client");
        let level = |id: Option<&str>, name: &str| RotationRef {
            id: id.map(str::to_owned),
            name: name.to_owned(),
        };
        let on = |rotations: Vec<RotationRef>| OverrideRequest {
            rotations,
            ..request()
        };
        let made = levels
            .create_override(&on(vec![level(Some("PSEC001"), "Secondary")]))
            .await;
        assert_eq!(
            made.ok().as_deref(),
            Some("PSEC001:POVR9"),
            "kept with its schedule"
        );
        for refused in [
            on(Vec::new()),
            on(vec![level(None, "level 2")]),
            on(vec![
                level(Some("PSEC001"), "A"),
                level(Some("PSEC002"), "B"),
            ]),
        ] {
            assert!(
                matches!(
                    levels.create_override(&refused).await,
                    Err(ActionError::Refused(_))
                ),
                "never the team's default schedule"
            );
        }
    }

    #[tokio::test]
    async fn a_201_whose_override_has_a_status_of_400_is_a_refusal_in_pagerdutys_words() {
        let server = MockServer::start().await;
        known_schedule(&server).await;
        Mock::given(method("POST"))
            .and(path("/schedules/PSRE001/overrides"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!([
                {"status": 400, "errors": ["Override must end after its start"],
                 "override": {"start": "x", "end": "y", "user": {"id": "PUSRBOB"}}}
            ])))
            .mount(&server)
            .await;
        let refused = client(&server).await.create_override(&request()).await;
        assert!(
            matches!(&refused, Err(ActionError::Refused(reason)) if reason.ends_with("Override must end after its start")),
            "{refused:?}"
        );
        Mock::given(method("POST"))
            .and(path("/schedules/PSRE001/overrides"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!([
                {"status": 201, "errors": [], "override": {"id": "POVR1", "start": "x", "end": "y"}}
            ])))
            .with_priority(1)
            .mount(&server)
            .await;
        let made = client(&server).await.create_override(&request()).await;
        assert_eq!(made.ok().as_deref(), Some("POVR1"));
    }
}
