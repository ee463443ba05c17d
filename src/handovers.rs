//! Hand-over notices: when someone new takes over a rotation, the bot says so
//! in the team's `announce_channel`: "On call for *payments* now: @bob (after
//! @alice), until <!date^…>". Computed from the timeline, so swaps and
//! overrides count; the same person continuing is no hand-over. With
//! `remind_before`, each incoming person also gets a DM that long before their
//! shift.
//!
//! Each tick announces the hand-overs since the last one, and the first tick
//! looks back only to the start of the process: a restart never announces a
//! hand-over twice (it may miss one that happened while it was down). With
//! several replicas, a shared claim per hand-over lets one of them post it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::MissedTickBehavior;

use crate::model::{Person, RotationPlan, Shift};
use crate::oncall::OnCallDirectory;
use crate::slack::markup::{escape, slack_date};
use crate::slack::SlackApi;
use crate::store::SharedState;
use crate::supervise::LoopHandle;

/// How often the timelines are read for hand-overs.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(30);

/// The lease of the replica that does the rounds.
const NOTICES_LEASE: &str = "notices";

/// How long a hand-over's claim is kept across replicas.
const CLAIM_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Where a schedule's hand-overs are announced, and how long before a shift
/// its person is reminded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceSpec {
    /// How the notice names it: the team's name, or the schedule's.
    pub label: String,
    pub schedule: String,
    /// A channel id (`C…`) for hand-over notices.
    pub channel: Option<String>,
    /// DM each incoming person this long before their shift.
    pub remind_before: Option<Duration>,
}

/// A channel whose topic keeps a segment naming who is on call for a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub channel: String,
    pub schedule: String,
}

/// The topic segment the bot keeps.
const TOPIC_SEGMENT: &str = "On call: ";
/// Slack's limit on a topic.
const MAX_TOPIC_CHARS: usize = 250;

/// Posts hand-over notices for every [`AnnounceSpec`], and keeps the topics of
/// every [`TopicSpec`].
pub struct HandoverNotices {
    directory: Arc<OnCallDirectory>,
    slack: Arc<SlackApi>,
    specs: Vec<AnnounceSpec>,
    topics: Vec<TopicSpec>,
    /// The segment last written per channel: no Slack call while it holds.
    written: std::sync::Mutex<std::collections::HashMap<String, String>>,
    shared: Arc<SharedState>,
}

/// One hand-over in a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub rotation: String,
    /// 0 for the primary rotation.
    pub order: usize,
    pub rotations: usize,
    pub incoming: Shift,
    pub outgoing: Option<Shift>,
}

impl HandoverNotices {
    pub fn new(
        directory: Arc<OnCallDirectory>,
        slack: Arc<SlackApi>,
        specs: Vec<AnnounceSpec>,
        topics: Vec<TopicSpec>,
        shared: Arc<SharedState>,
    ) -> Self {
        Self {
            directory,
            slack,
            specs,
            topics,
            written: std::sync::Mutex::new(std::collections::HashMap::new()),
            shared,
        }
    }

    /// Keeps `spec`'s channel topic naming `people` (who is on call now), the
    /// rest of the topic as people wrote it; writes only on a change. Returns
    /// whether it wrote.
    async fn keep_topic(&self, spec: &TopicSpec, people: &[Person]) -> bool {
        let mut names = Vec::new();
        for person in people {
            names.push(self.directory.mention_of(person).await);
        }
        let segment = if names.is_empty() {
            format!("{TOPIC_SEGMENT}nobody")
        } else {
            format!("{TOPIC_SEGMENT}{}", names.join(", "))
        };
        let unchanged = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&spec.channel)
            == Some(&segment);
        if unchanged {
            return false;
        }
        let current = match self.slack.channel_topic(&spec.channel).await {
            Ok(topic) => topic,
            Err(error) => {
                tracing::warn!(%error, channel = %spec.channel, "could not read the channel's topic");
                return false;
            }
        };
        let topic = with_segment(&current, &segment);
        let wrote = if topic == current {
            false
        } else {
            match self.slack.set_channel_topic(&spec.channel, &topic).await {
                Ok(()) => {
                    tracing::info!(channel = %spec.channel, "channel topic updated");
                    true
                }
                Err(error) => {
                    tracing::warn!(%error, channel = %spec.channel, "could not set the channel's topic");
                    return false;
                }
            }
        };
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(spec.channel.clone(), segment);
        wrote
    }

    /// Lets another replica do the rounds at once (at shutdown).
    pub async fn release_lease(&self) {
        self.shared.release_lease(NOTICES_LEASE).await;
    }

    /// Announces hand-overs every `tick` until dropped, from now on, telling
    /// `handle` how each round went. With shared state one replica does the
    /// rounds (the one holding the lease), so that the timelines are read once
    /// per round whatever the number of replicas.
    pub async fn run_every(self: Arc<Self>, tick: Duration, handle: LoopHandle) {
        let mut since = SystemTime::now();
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = SystemTime::now();
            if self.shared.is_shared()
                && self.shared.hold_lease(NOTICES_LEASE, tick * 2).await != Some(true)
            {
                // Another replica does the rounds (or none, while Redis is away:
                // a notice late is better than a notice twice).
                handle.succeeded();
                since = now;
                continue;
            }
            match self.round(since, now).await {
                Ok(()) => handle.succeeded(),
                Err(failed) => handle.failed(failed),
            }
            since = now;
        }
    }

    /// One round: per schedule, one read of its timeline over every window
    /// the round needs (hand-overs since the last round, reminders that long
    /// ahead, who is on call now for topics); then the notices, reminders and
    /// topics of every team and channel that use it.
    pub async fn round(&self, since: SystemTime, now: SystemTime) -> Result<(), String> {
        let mut schedules: Vec<&str> = Vec::new();
        for schedule in self
            .specs
            .iter()
            .map(|spec| spec.schedule.as_str())
            .chain(self.topics.iter().map(|topic| topic.schedule.as_str()))
        {
            if !schedules.contains(&schedule) {
                schedules.push(schedule);
            }
        }
        let mut failed = Vec::new();
        for schedule in schedules {
            let specs: Vec<&AnnounceSpec> = self
                .specs
                .iter()
                .filter(|spec| spec.schedule == schedule)
                .collect();
            let ahead = specs
                .iter()
                .filter_map(|spec| spec.remind_before)
                .max()
                .unwrap_or(Duration::ZERO);
            let look_back = since
                .checked_sub(Duration::from_secs(24 * 60 * 60))
                .unwrap_or(since);
            let until = now
                .checked_add(ahead + Duration::from_secs(1))
                .unwrap_or(now);
            let plans = match self.directory.plan(schedule, look_back, until).await {
                Ok(plans) => plans,
                Err(error) => {
                    tracing::warn!(%error, %schedule, "could not read the timeline for hand-overs");
                    failed.push(format!("{schedule}: {error}"));
                    continue;
                }
            };
            for spec in &specs {
                if spec.channel.is_some() {
                    self.announce(spec, &plans, since, now).await;
                }
                if let Some(before) = spec.remind_before {
                    self.remind(spec, &plans, before, since, now).await;
                }
            }
            for topic in self
                .topics
                .iter()
                .filter(|topic| topic.schedule == schedule)
            {
                let people = if plans.is_empty() {
                    // No rotations: who is on call comes from the (cached) answer.
                    match self.directory.on_call(schedule).await {
                        Ok(answer) => answer.on_call.people.clone(),
                        Err(error) => {
                            tracing::warn!(%error, %schedule, "no on-call answer for the topic");
                            failed.push(format!("{schedule}: {error}"));
                            continue;
                        }
                    }
                } else {
                    on_call_at(&plans, now)
                };
                self.keep_topic(topic, &people).await;
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Posts the hand-overs of `spec`'s schedule after `since`, up to `now`;
    /// returns how many were posted.
    async fn announce(
        &self,
        spec: &AnnounceSpec,
        plans: &[RotationPlan],
        since: SystemTime,
        now: SystemTime,
    ) -> usize {
        let rotations = plans.len();
        let mut posted = 0;
        for (order, plan) in plans.iter().enumerate() {
            for handover in handovers(&plan.shifts, since, now) {
                let handover = Handover {
                    rotation: plan.name.clone(),
                    order,
                    rotations,
                    incoming: handover.0.clone(),
                    outgoing: handover.1.cloned(),
                };
                if self.post(spec, &handover).await {
                    posted += 1;
                }
            }
        }
        posted
    }

    /// DMs the people whose shifts start `before` after `since` .. `now`;
    /// returns how many were reminded.
    async fn remind(
        &self,
        spec: &AnnounceSpec,
        plans: &[RotationPlan],
        before: Duration,
        since: SystemTime,
        now: SystemTime,
    ) -> usize {
        let (Some(from), Some(until)) = (since.checked_add(before), now.checked_add(before)) else {
            return 0;
        };
        let mut reminded = 0;
        for plan in plans {
            for shift in plan
                .shifts
                .iter()
                .filter(|shift| from < shift.starts && shift.starts <= until)
            {
                if self.remind_of(spec, shift).await {
                    reminded += 1;
                }
            }
        }
        reminded
    }

    async fn remind_of(&self, spec: &AnnounceSpec, shift: &Shift) -> bool {
        let user = match self.directory.slack_user(&shift.person).await {
            Ok(Some(user)) => user,
            _ => {
                tracing::info!(schedule = %spec.schedule, "no Slack account to remind of a shift");
                return false;
            }
        };
        let starts = shift
            .starts
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let claim = format!("reminded:{}:{user}:{starts}", spec.schedule);
        if self.shared.claim(&claim, CLAIM_TTL).await == Some(false) {
            return false;
        }
        let text = format!(
            "You are on call for *{}* from {} to {}",
            escape(&spec.label),
            slack_date(shift.starts),
            slack_date(shift.until)
        );
        let sent = match self.slack.open_dm(&user).await {
            Ok(channel) => self.slack.post_message(&channel, &text).await,
            Err(error) => Err(error),
        };
        match sent {
            Ok(()) => {
                tracing::info!(schedule = %spec.schedule, "shift reminder sent");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "could not send a shift reminder");
                self.shared.release(&claim).await;
                false
            }
        }
    }

    async fn post(&self, spec: &AnnounceSpec, handover: &Handover) -> bool {
        let Some(channel) = &spec.channel else {
            return false;
        };
        let starts = handover
            .incoming
            .starts
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let claim = format!(
            "announced:{channel}:{}:{}:{starts}",
            spec.schedule, handover.rotation
        );
        if self.shared.claim(&claim, CLAIM_TTL).await == Some(false) {
            return false;
        }
        let incoming = self.directory.mention_of(&handover.incoming.person).await;
        let outgoing = match &handover.outgoing {
            Some(shift) => Some(self.directory.mention_of(&shift.person).await),
            None => None,
        };
        let text = notice_text(spec, handover, &incoming, outgoing.as_deref());
        match self.slack.post_message(channel, &text).await {
            Ok(()) => {
                tracing::info!(%channel, schedule = %spec.schedule, "hand-over announced");
                true
            }
            Err(error) => {
                tracing::warn!(%error, %channel, "could not announce the hand-over");
                self.shared.release(&claim).await;
                false
            }
        }
    }
}

/// Everyone on call at `now` in any rotation, in the schedule's order.
fn on_call_at(plans: &[RotationPlan], now: SystemTime) -> Vec<Person> {
    let mut people: Vec<Person> = Vec::new();
    for plan in plans {
        for shift in &plan.shifts {
            if shift.starts <= now && now < shift.until && !people.contains(&shift.person) {
                people.push(shift.person.clone());
            }
        }
    }
    people
}

/// The shifts starting after `since` up to `now` whose person differs from the
/// one before them, each with the shift it follows.
fn handovers(
    shifts: &[Shift],
    since: SystemTime,
    now: SystemTime,
) -> Vec<(&Shift, Option<&Shift>)> {
    shifts
        .iter()
        .enumerate()
        .filter(|(_, shift)| since < shift.starts && shift.starts <= now)
        .filter_map(|(index, shift)| {
            let before = shifts[..index]
                .iter()
                .rev()
                .find(|earlier| earlier.starts < shift.starts && earlier.until >= shift.starts);
            match before {
                Some(before) if before.person == shift.person => None,
                before => Some((shift, before)),
            }
        })
        .collect()
}

/// `topic` with its `On call: …` part (parts are separated by ` | `) replaced
/// by `segment`, or `segment` added; cut to Slack's limit.
pub fn with_segment(topic: &str, segment: &str) -> String {
    let mut parts: Vec<&str> = topic
        .split(" | ")
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    match parts
        .iter()
        .position(|part| part.starts_with(TOPIC_SEGMENT.trim_end()))
    {
        Some(at) => parts[at] = segment,
        None => parts.push(segment),
    }
    let topic = parts.join(" | ");
    if topic.chars().count() <= MAX_TOPIC_CHARS {
        return topic;
    }
    topic.chars().take(MAX_TOPIC_CHARS).collect()
}

/// "On call for *payments* now: @bob (after @alice), until <!date^…>".
pub fn notice_text(
    spec: &AnnounceSpec,
    handover: &Handover,
    incoming: &str,
    outgoing: Option<&str>,
) -> String {
    let rotation = if handover.rotations > 1 {
        format!(" ({})", escape(&handover.rotation))
    } else {
        String::new()
    };
    let after = outgoing
        .map(|name| format!(" (after {name})"))
        .unwrap_or_default();
    format!(
        "On call for *{}*{rotation} now: {incoming}{after}, until {}",
        escape(&spec.label),
        slack_date(handover.incoming.until)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Person;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn shift(email: &str, from: u64, to: u64) -> Shift {
        Shift {
            person: Person::with_email(email),
            starts: at(from),
            until: at(to),
            is_override: false,
        }
    }

    #[test]
    fn the_topic_keeps_what_people_wrote_and_one_on_call_part() {
        let segment = "On call: <@U1>, <@U2>";
        let cases = [
            ("", "On call: <@U1>, <@U2>"),
            (
                "Checkout support",
                "Checkout support | On call: <@U1>, <@U2>",
            ),
            (
                "Checkout support | On call: <@U9> | SLA 1h",
                "Checkout support | On call: <@U1>, <@U2> | SLA 1h",
            ),
            ("On call: <@U1>, <@U2>", "On call: <@U1>, <@U2>"),
        ];
        for (topic, expected) in cases {
            assert_eq!(with_segment(topic, segment), expected, "{topic:?}");
        }
        let long = "x".repeat(300);
        assert_eq!(
            with_segment(&long, segment).chars().count(),
            MAX_TOPIC_CHARS
        );
    }

    #[test]
    fn a_hand_over_is_a_new_person_starting_within_the_window() {
        let shifts = [
            shift("alice@x", 0, 100),
            shift("bob@x", 100, 200),
            shift("bob@x", 200, 300),
            shift("carol@x", 300, 400),
        ];
        let found: Vec<(&str, Option<&str>)> = handovers(&shifts, at(50), at(350))
            .into_iter()
            .map(|(incoming, outgoing)| {
                (
                    incoming.person.name.as_str(),
                    outgoing.map(|shift| shift.person.name.as_str()),
                )
            })
            .collect();
        assert_eq!(
            found,
            [("bob@x", Some("alice@x")), ("carol@x", Some("bob@x"))]
        );
        assert!(
            handovers(&shifts, at(100), at(199)).is_empty(),
            "at `since` itself: told before"
        );
        assert!(
            handovers(&shifts, at(150), at(250)).is_empty(),
            "bob continues"
        );
    }
}
