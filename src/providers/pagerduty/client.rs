//! The PagerDuty REST client: schedules by id or exact name, the final schedule
//! over a window (one person at a time: a higher layer hides a lower one and
//! overrides hide all), people by id with their emails (cached).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use moka::future::Cache;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use super::wire::{Entry, Oncall, OncallsPage, Page, ScheduleAnswer, SchedulesPage, UserAnswer};
use crate::metrics::Metrics;
use crate::model::{Person, RotationPlan, Shift};
use crate::outbound::{Credential, RestClient, RestError, RetryPolicy, System, Timeouts};
use crate::providers::ProviderError;

pub const US_API_URL: &str = "https://api.pagerduty.com";
pub const EU_API_URL: &str = "https://api.eu.pagerduty.com";
pub const US_EVENTS_URL: &str = "https://events.pagerduty.com";
pub const EU_EVENTS_URL: &str = "https://events.eu.pagerduty.com";

/// The API version every call pins.
const ACCEPT: &str = "application/vnd.pagerduty+json;version=2";
/// Lists are read this many at a time (PagerDuty's maximum).
const PAGE_SIZE: usize = 100;
/// At most this many pages per list, so that a server that ignores `offset`
/// cannot keep a lookup going for ever (and `offset + limit` stays under
/// PagerDuty's 10,000).
const MAX_PAGES: usize = 20;
/// How long a person's email is remembered.
const USER_TTL: Duration = Duration::from_secs(60 * 60);
/// How far the window asked of PagerDuty reaches before and past the one a
/// caller wants, so that the shifts at its edges are not cut.
const MARGIN_BEFORE: Duration = Duration::from_secs(24 * 60 * 60);
const MARGIN_AFTER: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// One escalation level as it is read: its sources (schedule id and name;
/// empty for someone the level names directly), and its shifts.
type Level = (Vec<(String, String)>, Vec<Shift>);

/// The final schedule's rotation, as the answers name it.
pub const FINAL_SCHEDULE: &str = "final schedule";

const PAGERDUTY: System = System {
    name: "PagerDuty",
    label: "pagerduty",
};

pub(super) const API_TOKEN: Credential = Credential {
    name: "PAGERDUTY_API_TOKEN",
    advice: "check it (a REST API key, read access at least; write access to act on \
             incidents and make overrides) and PAGERDUTY_REGION (us or eu)",
};

/// What only PagerDuty can get wrong; every HTTP failure is a [`RestError`].
#[derive(Debug, thiserror::Error)]
pub enum PagerDutyError {
    #[error("PagerDuty has no schedule with the id or the exact name `{0}` (check PAGERDUTY_SCHEDULE or the team's schedule)")]
    UnknownSchedule(String),
    #[error("PagerDuty has several schedules named `{0}`; use its id instead (PAGERDUTY_SCHEDULE or the team's schedule)")]
    AmbiguousSchedule(String),
    #[error(
        "incidents through PagerDuty need PAGERDUTY_ROUTING_KEY (an Events API v2 integration key)"
    )]
    NoRoutingKey,
    #[error("PagerDuty has no escalation policy with the id `{0}` (check PAGERDUTY_ESCALATION_POLICY or the team's escalation_policy)")]
    UnknownEscalationPolicy(String),
}

/// How the bot reaches PagerDuty.
#[derive(Clone)]
pub struct PagerDutyConfig {
    pub api_url: Url,
    pub events_url: Url,
    pub api_token: SecretString,
    /// The default schedule: an id, or an exact name.
    pub schedule: String,
    /// An Events API v2 integration key, for alerts.
    pub routing_key: Option<SecretString>,
    /// Schedule (as configured: id or name) → the escalation policy whose
    /// levels answer for it, primary, secondary…: PAGERDUTY_ESCALATION_POLICY
    /// for the default schedule, a team's `escalation_policy` for its own.
    pub escalation_policies: BTreeMap<String, String>,
}

impl std::fmt::Debug for PagerDutyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDutyConfig")
            .field("api_url", &self.api_url.as_str())
            .field("events_url", &self.events_url.as_str())
            .field("schedule", &self.schedule)
            .field("escalation_policies", &self.escalation_policies)
            .finish_non_exhaustive()
    }
}

/// A PagerDuty REST client; cheap to clone.
#[derive(Clone)]
pub struct PagerDutyClient {
    rest: RestClient,
    config: PagerDutyConfig,
    /// Schedule id or name → id, found once.
    schedules: Arc<Mutex<HashMap<String, String>>>,
    /// User id → the person.
    users: Cache<String, Person>,
    /// Incident id → its key (the bot's alias, or another's): a note's
    /// delivery names only its incident, and an incident's key never changes.
    incident_keys: Cache<String, Option<String>>,
}

impl std::fmt::Debug for PagerDutyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDutyClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Whether `key` is shaped like a PagerDuty id (`PABC123`): seven or more
/// upper-case letters and digits. A name like that is still found by the
/// lookup by name when no schedule has it as its id.
fn looks_like_id(key: &str) -> bool {
    key.len() >= 7
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl PagerDutyClient {
    pub fn new(config: PagerDutyConfig, timeouts: Timeouts) -> Result<Self, RestError> {
        let rest = RestClient::new(PAGERDUTY, timeouts)?;
        rest.url(&config.api_url, &[])?;
        rest.url(&config.events_url, &[])?;
        Ok(Self {
            rest,
            config,
            schedules: Arc::new(Mutex::new(HashMap::new())),
            users: Cache::builder()
                .time_to_live(USER_TTL)
                .max_capacity(10_000)
                .build(),
            incident_keys: Cache::builder()
                .time_to_live(USER_TTL)
                .max_capacity(10_000)
                .build(),
        })
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.rest = self.rest.with_metrics(metrics);
        self
    }

    pub fn with_retry_policy(mut self, retries: RetryPolicy) -> Self {
        self.rest = self.rest.with_retry_policy(retries);
        self
    }

    pub fn config(&self) -> &PagerDutyConfig {
        &self.config
    }

    pub(super) fn incident_keys(&self) -> &Cache<String, Option<String>> {
        &self.incident_keys
    }

    pub(super) fn rest(&self) -> &RestClient {
        &self.rest
    }

    /// The token and the API version, as PagerDuty takes them.
    /// The token's header is marked sensitive, so that no `Debug` of a request
    /// shows it.
    pub(super) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = match reqwest::header::HeaderValue::from_str(&format!(
            "Token token={}",
            self.config.api_token.expose_secret()
        )) {
            Ok(mut token) => {
                token.set_sensitive(true);
                request.header(reqwest::header::AUTHORIZATION, token)
            }
            // A token no header can carry: sent without it, refused as a 401
            // that names PAGERDUTY_API_TOKEN.
            Err(_) => request,
        };
        request
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
    }

    /// A GET of the REST API, retried by policy.
    pub(super) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, RestError> {
        let mut url = self.rest.url(&self.config.api_url, segments)?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(name, value)| (*name, value.as_str())));
        }
        self.rest
            .call(call, API_TOKEN, |http| {
                self.authorized(http.get(url.clone()))
            })
            .await
    }

    /// The escalation policy's name, when PagerDuty knows the id (for
    /// `check`): an unknown one would otherwise answer "nobody on call".
    pub async fn escalation_policy_name(&self, id: &str) -> Result<String, ProviderError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            escalation_policy: Named,
        }
        #[derive(serde::Deserialize)]
        struct Named {
            #[serde(default)]
            name: String,
        }
        let answer: Result<Answer, RestError> = self
            .get("escalation_policy", &["escalation_policies", id], &[])
            .await;
        match answer {
            Ok(answer) => Ok(answer.escalation_policy.name),
            Err(RestError::NotFound { .. }) => {
                Err(PagerDutyError::UnknownEscalationPolicy(id.to_owned()).into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Every item of a classic-paginated list (`limit`, `offset`, `more`),
    /// page by page with the `limit` PagerDuty answers with, at most
    /// [`MAX_PAGES`]; a list cut there is logged and what was read is used.
    async fn every_page<P: Page>(
        &self,
        call: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Vec<P::Item>, RestError> {
        let mut items = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let mut asked = query.to_vec();
            asked.push(("limit", PAGE_SIZE.to_string()));
            asked.push(("offset", offset.to_string()));
            let page: P = self.get(call, segments, &asked).await?;
            let (read, more, limit) = page.into_parts();
            let count = read.len();
            items.extend(read);
            if !more || count == 0 {
                return Ok(items);
            }
            offset += limit.unwrap_or(count).max(1);
        }
        tracing::warn!(
            pages = MAX_PAGES,
            call,
            "PagerDuty's list past the page cap was not read; what was read is used"
        );
        Ok(items)
    }

    /// The schedule's id: `key` itself when PagerDuty knows it as one, else
    /// the one schedule with exactly that name. Found once, then remembered.
    pub async fn schedule_id(&self, key: &str) -> Result<String, ProviderError> {
        if let Some(id) = self
            .schedules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
        {
            return Ok(id.clone());
        }
        let id = if looks_like_id(key) {
            let probe: Result<ScheduleAnswer, RestError> =
                self.get("schedule", &["schedules", key], &[]).await;
            match probe {
                Ok(_) => key.to_owned(),
                Err(RestError::NotFound { .. }) => self.schedule_named(key).await?,
                Err(error) => return Err(error.into()),
            }
        } else {
            self.schedule_named(key).await?
        };
        self.schedules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned(), id.clone());
        Ok(id)
    }

    /// The one schedule named exactly `name`, paging through `?query=`.
    async fn schedule_named(&self, name: &str) -> Result<String, ProviderError> {
        let found: Vec<String> = self
            .every_page::<SchedulesPage>("schedules", &["schedules"], &[("query", name.to_owned())])
            .await?
            .into_iter()
            .filter(|schedule| schedule.name == name)
            .map(|schedule| schedule.id)
            .collect();
        match found.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(PagerDutyError::UnknownSchedule(name.to_owned()).into()),
            _ => Err(PagerDutyError::AmbiguousSchedule(name.to_owned()).into()),
        }
    }

    /// The final schedule's stretches over `from` .. `until`, each marked when
    /// an override put its person there.
    async fn final_entries(
        &self,
        schedule: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<(Entry, bool)>, ProviderError> {
        let id = self.schedule_id(schedule).await?;
        let answer: ScheduleAnswer = self
            .get(
                "schedule",
                &["schedules", &id],
                &[
                    ("since", crate::outbound::rfc3339(from)),
                    ("until", crate::outbound::rfc3339(until)),
                ],
            )
            .await?;
        // Times compared as times: the texts may carry different offsets.
        let time = super::wire::time;
        let overrides: Vec<(String, SystemTime, SystemTime)> = answer
            .schedule
            .overrides_subschedule
            .map(|sub| sub.rendered_schedule_entries)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| Some((entry.user?.id, time(&entry.start)?, time(&entry.end)?)))
            .collect();
        Ok(answer
            .schedule
            .final_schedule
            .map(|sub| sub.rendered_schedule_entries)
            .unwrap_or_default()
            .into_iter()
            .map(|entry| {
                let span = time(&entry.start).zip(time(&entry.end));
                let overridden = entry.user.as_ref().zip(span).is_some_and(|(user, span)| {
                    overrides.iter().any(|(who, start, end)| {
                        *who == user.id && *start <= span.0 && *end >= span.1
                    })
                });
                (entry, overridden)
            })
            .collect())
    }

    /// A person by their PagerDuty user id: their email (lower case) and name.
    pub async fn person(&self, user_id: &str) -> Result<Person, ProviderError> {
        let fetch = async {
            let answer: UserAnswer = self.get("user", &["users", user_id], &[]).await?;
            let user = answer.user;
            Ok::<_, RestError>(Person {
                name: if user.name.is_empty() {
                    user.email.clone().unwrap_or_else(|| user.id.clone())
                } else {
                    user.name
                },
                email: user.email.map(|email| email.to_lowercase()),
                account_id: Some(user.id),
            })
        };
        self.users
            .try_get_with_by_ref(user_id, fetch)
            .await
            .map_err(|error: Arc<RestError>| ProviderError::Shared(error))
    }

    /// The final schedule over `from` .. `until`, as one rotation; or, when
    /// an escalation policy answers for `schedule`, one rotation per level.
    /// PagerDuty cuts the entries at the window's edges, so the window asked
    /// for reaches a day before and two weeks past: a shift's start and end are
    /// its own.
    pub async fn plan(
        &self,
        schedule: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<RotationPlan>, ProviderError> {
        let since = from.checked_sub(MARGIN_BEFORE).unwrap_or(from);
        let to = until.checked_add(MARGIN_AFTER).unwrap_or(until);
        if let Some(policy) = self.config.escalation_policies.get(schedule) {
            return self.levels(policy, (since, to), (from, until)).await;
        }
        let entries = self.final_entries(schedule, since, to).await?;
        let mut shifts = Vec::with_capacity(entries.len());
        for (entry, is_override) in entries {
            let Some(user) = entry.user else {
                continue;
            };
            let (Some(starts), Some(ends)) = (
                super::wire::time(&entry.start),
                super::wire::time(&entry.end),
            ) else {
                continue;
            };
            if ends <= from || starts >= until {
                continue;
            }
            shifts.push(Shift {
                person: self.person(&user.id).await?,
                starts,
                until: ends,
                is_override,
            });
        }
        shifts.sort_by_key(|shift| shift.starts);
        Ok(vec![RotationPlan {
            id: None,
            name: FINAL_SCHEDULE.to_owned(),
            shifts,
        }])
    }

    /// Each level of `policy` as a rotation, from `/oncalls` over `asked`
    /// (paged), keeping the shifts that meet `wanted`. A level is named after
    /// its one schedule, else "level N"; someone a level names directly is on
    /// call there always (an open-ended shift).
    async fn levels(
        &self,
        policy: &str,
        asked: (SystemTime, SystemTime),
        wanted: (SystemTime, SystemTime),
    ) -> Result<Vec<RotationPlan>, ProviderError> {
        let oncalls: Vec<Oncall> = self
            .every_page::<OncallsPage>(
                "oncalls",
                &["oncalls"],
                &[
                    ("escalation_policy_ids[]", policy.to_owned()),
                    ("since", crate::outbound::rfc3339(asked.0)),
                    ("until", crate::outbound::rfc3339(asked.1)),
                ],
            )
            .await?;
        let mut levels: BTreeMap<u32, Level> = BTreeMap::new();
        for oncall in oncalls {
            let Some(user) = oncall.user else {
                continue;
            };
            let edge = |text: Option<&String>, open: SystemTime| match text {
                None => Some(open),
                Some(text) => super::wire::time(text),
            };
            let (Some(starts), Some(ends)) = (
                edge(oncall.start.as_ref(), SystemTime::UNIX_EPOCH),
                edge(oncall.end.as_ref(), Shift::open_end()),
            ) else {
                continue;
            };
            if ends <= wanted.0 || starts >= wanted.1 {
                continue;
            }
            let (names, shifts) = levels.entry(oncall.escalation_level).or_default();
            let source = oncall
                .schedule
                .map(|s| (s.id, s.summary))
                .unwrap_or_default();
            if !names.contains(&source) {
                names.push(source);
            }
            let person = self.person(&user.id).await?;
            // Someone on at a level through two schedules is named once.
            if !shifts
                .iter()
                .any(|shift| shift.person == person && shift.starts == starts)
            {
                shifts.push(Shift {
                    person,
                    starts,
                    until: ends,
                    is_override: false,
                });
            }
        }
        Ok(levels
            .into_iter()
            .map(|(level, (names, mut shifts))| {
                shifts.sort_by_key(|shift| shift.starts);
                // Named after its schedule, and overridden there, only when
                // all of it comes from one.
                let (id, name) = match names.as_slice() {
                    [(id, name)] if !id.is_empty() => (
                        Some(id.clone()),
                        if name.is_empty() {
                            id.clone()
                        } else {
                            name.clone()
                        },
                    ),
                    _ => (None, format!("level {level}")),
                };
                RotationPlan { id, name, shifts }
            })
            .collect())
    }

    /// Who is on call at `at`: the final schedule's person then.
    pub async fn on_call_people_at(
        &self,
        schedule: &str,
        at: SystemTime,
    ) -> Result<Vec<Person>, ProviderError> {
        let plans = self.plan(schedule, at, at + Duration::from_secs(1)).await?;
        Ok(plans
            .into_iter()
            .flat_map(|plan| plan.shifts)
            .filter(|shift| shift.starts <= at && at < shift.until)
            .map(|shift| shift.person)
            .collect())
    }

    /// Who is on call now.
    pub async fn on_call_people(&self, schedule: &str) -> Result<Vec<Person>, ProviderError> {
        self.on_call_people_at(schedule, SystemTime::now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_from_names_by_their_shape() {
        assert!(looks_like_id("PABC123"));
        assert!(looks_like_id("P1X2Y3Z4"));
        assert!(!looks_like_id("Payments"));
        assert!(!looks_like_id("PAB"));
        assert!(!looks_like_id("SRE schedule"));
    }
}
