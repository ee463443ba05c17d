//! Hand-over notices: one post per real hand-over in the schedule's
//! `announce_channel`, none when the same person continues, none twice after a
//! restart, and one among several replicas; reminders and topics. On OpsGenie
//! and on PagerDuty (its escalation policy's levels as the rotations).

use std::time::{Duration, SystemTime};

use oncall_bot::bot::slack_date;
use oncall_bot::config::{ServeConfig, SourceConfig};
use oncall_bot::handovers::AnnounceSpec;
use oncall_bot::store::StateConfig;
use oncall_bot_simulator::{
    OpsGenieAccount, PagerDutyAccount, PdShift, PdTarget, Post, SimRotation, SimShift,
    SlackWorkspace,
};

use crate::helpers::*;
use crate::redis_server::RedisServer;
use crate::replicas::Replica;

const ANNOUNCE: &str = "C0ANNOUNCE";

/// A whole second, `seconds` after the next one (the timeline carries seconds).
fn soon(seconds: u64) -> SystemTime {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(now + 1 + seconds)
}

fn shift(email: &str, from: SystemTime, to: SystemTime) -> SimShift {
    SimShift {
        email: email.into(),
        from,
        to,
        is_override: false,
    }
}

/// Weekly: alice, then bob at `handover`. Backup: carol, then carol again.
fn rotations(handover: SystemTime) -> Vec<SimRotation> {
    let hour = Duration::from_secs(3600);
    vec![
        SimRotation {
            name: "Weekly".into(),
            shifts: vec![
                shift("alice@corp.example", handover - hour, handover),
                shift("bob@corp.example", handover, handover + hour),
            ],
        },
        SimRotation {
            name: "Backup".into(),
            shifts: vec![
                shift("carol@corp.example", handover - hour, handover),
                shift("carol@corp.example", handover, handover + hour),
            ],
        },
    ]
}

fn announcing(config: &mut ServeConfig) {
    config.announcements = vec![AnnounceSpec {
        label: SCHEDULE.to_owned(),
        schedule: SCHEDULE.to_owned(),
        channel: Some(ANNOUNCE.to_owned()),
        remind_before: None,
    }];
    config.announce_interval = Duration::from_millis(100);
}

fn notices(slack: &SlackWorkspace) -> Vec<Post> {
    slack
        .posts()
        .into_iter()
        .filter(|post| post.channel == ANNOUNCE)
        .collect()
}

async fn wait_for_notices(slack: &SlackWorkspace, count: usize) {
    for _ in 0..100 {
        if notices(slack).len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} notice(s) never came: {:?}", notices(slack));
}

#[tokio::test]
async fn a_hand_over_is_announced_once_and_the_same_person_continuing_is_not() {
    for upstream in HANDOVER_UPSTREAMS {
        a_hand_over_is_announced_once_on(upstream).await;
    }
}

async fn a_hand_over_is_announced_once_on(upstream: Upstream) {
    let handover = soon(1);
    let sims = sims(upstream).await;
    let mut config = sims.config();
    announcing(&mut config);
    sims.set_rotations(rotations(handover));
    let _replica = Replica::start(&config).await;
    let app = &sims;
    wait_for_notices(&app.slack, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted = notices(&app.slack);
    assert_eq!(posted.len(), 1, "{upstream:?}: {posted:?}");
    assert_eq!(posted[0].thread_ts, None, "at the top of the channel");
    assert_eq!(
        posted[0].text,
        format!(
            "On call for *SRE_schedule* (Weekly) now: <@UBOB> (after <@UALICE>), until {}",
            slack_date(handover + Duration::from_secs(3600))
        )
    );
}

/// The simulations a test's processes share: Slack, and OpsGenie or PagerDuty.
struct Sims {
    slack: SlackWorkspace,
    opsgenie: OpsGenieAccount,
    pagerduty: Option<PagerDutyAccount>,
}

/// The PagerDuty escalation policy standing for the rotations.
const PD_POLICY: &str = "PEPHAND";

async fn sims(upstream: Upstream) -> Sims {
    let pagerduty = match upstream {
        Upstream::PagerDuty => Some(start_pagerduty().await),
        Upstream::OpsGenie | Upstream::Jsm => None,
    };
    Sims {
        slack: start_slack().await,
        opsgenie: start_opsgenie().await,
        pagerduty,
    }
}

/// A person's PagerDuty user id in the harness's account.
fn pd_user(email: &str) -> String {
    match email {
        "alice@corp.example" => "PUSRALI",
        "bob@corp.example" => "PUSRBOB",
        _ => "PUSRCAR",
    }
    .to_owned()
}

impl Sims {
    /// The app's configuration against these simulations.
    fn config(&self) -> ServeConfig {
        let mut config = test_config(&self.slack, &self.opsgenie);
        if let Some(pagerduty) = &self.pagerduty {
            let mut source = pagerduty_config(pagerduty, SCHEDULE);
            source
                .escalation_policies
                .insert(SCHEDULE.into(), PD_POLICY.into());
            config.source = SourceConfig::PagerDuty(source);
        }
        config
    }

    /// `SCHEDULE`'s rotations: OpsGenie's, or on PagerDuty one schedule per
    /// rotation, each a level of the escalation policy.
    fn set_rotations(&self, rotations: Vec<SimRotation>) {
        let Some(pagerduty) = &self.pagerduty else {
            self.opsgenie.set_rotations(SCHEDULE, rotations);
            return;
        };
        let mut levels = Vec::new();
        for (index, rotation) in rotations.into_iter().enumerate() {
            let id = format!("PROT00{index}");
            pagerduty.set_schedule(
                &id,
                &rotation.name,
                rotation
                    .shifts
                    .iter()
                    .map(|shift| PdShift {
                        user: pd_user(&shift.email),
                        from: shift.from,
                        to: shift.to,
                    })
                    .collect(),
            );
            levels.push(vec![PdTarget::Schedule(id)]);
        }
        pagerduty.set_escalation_policy(PD_POLICY, levels);
    }

    /// Who is on call, with no rotations to tell (OpsGenie's flat answer; on
    /// PagerDuty each person a level of their own, always on).
    fn set_on_call(&self, emails: &[&str]) {
        match &self.pagerduty {
            None => self.opsgenie.set_on_call(SCHEDULE, emails),
            Some(pagerduty) => pagerduty.set_escalation_policy(
                PD_POLICY,
                emails
                    .iter()
                    .map(|email| vec![PdTarget::User(pd_user(email))])
                    .collect(),
            ),
        }
    }
}

/// OpsGenie, and PagerDuty through an escalation policy.
const HANDOVER_UPSTREAMS: [Upstream; 2] = [Upstream::OpsGenie, Upstream::PagerDuty];

#[tokio::test]
async fn a_restart_does_not_announce_a_hand_over_twice() {
    for upstream in HANDOVER_UPSTREAMS {
        a_restart_does_not_announce_twice_on(upstream).await;
    }
}

async fn a_restart_does_not_announce_twice_on(upstream: Upstream) {
    let sims = sims(upstream).await;
    let slack = &sims.slack;
    let mut config = sims.config();
    announcing(&mut config);
    let handover = soon(1);
    sims.set_rotations(rotations(handover));
    let mut first = Replica::start(&config).await;
    wait_for_notices(slack, 1).await;
    first.shut_down().await;
    let mut second = Replica::start(&config).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(notices(slack).len(), 1, "{upstream:?}");
    second.shut_down().await;
}

#[tokio::test]
async fn of_two_replicas_sharing_state_one_announces() {
    for upstream in HANDOVER_UPSTREAMS {
        of_two_replicas_one_announces_on(upstream).await;
    }
}

async fn of_two_replicas_one_announces_on(upstream: Upstream) {
    let redis = RedisServer::start().await;
    let sims = sims(upstream).await;
    let slack = &sims.slack;
    let mut config = sims.config();
    announcing(&mut config);
    config.state = Some(StateConfig {
        url: redis.url().into(),
        prefix: "handover-test:".to_owned(),
    });
    let handover = soon(1);
    sims.set_rotations(rotations(handover));
    let _a = Replica::start(&config).await;
    let _b = Replica::start(&config).await;
    wait_for_notices(slack, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(notices(slack).len(), 1, "{upstream:?}");
}

#[tokio::test]
async fn each_incoming_person_is_reminded_once_that_long_before_their_shift() {
    for upstream in HANDOVER_UPSTREAMS {
        reminded_once_on(upstream).await;
    }
}

async fn reminded_once_on(upstream: Upstream) {
    let sims = sims(upstream).await;
    let slack = &sims.slack;
    let mut config = sims.config();
    config.announcements = vec![AnnounceSpec {
        label: "payments".to_owned(),
        schedule: SCHEDULE.to_owned(),
        channel: None,
        remind_before: Some(Duration::from_secs(3600)),
    }];
    config.announce_interval = Duration::from_millis(100);
    // Bob's shift starts an hour and a moment from now: his reminder is due in
    // a moment. Carol's starts in two hours: not yet.
    let bobs = soon(1) + Duration::from_secs(3600);
    let hour = Duration::from_secs(3600);
    sims.set_rotations(vec![SimRotation {
        name: "Weekly".into(),
        shifts: vec![
            shift("alice@corp.example", bobs - hour * 2, bobs),
            shift("bob@corp.example", bobs, bobs + hour),
            shift("carol@corp.example", bobs + hour, bobs + hour * 2),
        ],
    }]);
    let mut first = Replica::start(&config).await;
    let dms = || {
        slack
            .posts()
            .into_iter()
            .filter(|post| post.channel.starts_with('D'))
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if !dms().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.shut_down().await;
    let mut second = Replica::start(&config).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    second.shut_down().await;
    let sent = dms();
    assert_eq!(sent.len(), 1, "{upstream:?}: {sent:?}");
    assert_eq!(sent[0].channel, "DUBOB");
    assert_eq!(
        sent[0].text,
        format!(
            "You are on call for *payments* from {} to {}",
            slack_date(bobs),
            slack_date(bobs + hour)
        )
    );
}

#[tokio::test]
async fn a_channel_topic_names_who_is_on_call_keeping_the_rest_and_writing_only_on_change() {
    for upstream in HANDOVER_UPSTREAMS {
        topic_on(upstream).await;
    }
}

async fn topic_on(upstream: Upstream) {
    let sims = sims(upstream).await;
    let slack = &sims.slack;
    sims.set_on_call(&["alice@corp.example", "bob@corp.example"]);
    slack.set_topic("C0PAYHELP", "Payments help | On call: nobody yet | SLA 1h");
    let mut config = sims.config();
    config.topics = vec![oncall_bot::handovers::TopicSpec {
        channel: "C0PAYHELP".to_owned(),
        schedule: SCHEDULE.to_owned(),
    }];
    config.announce_interval = Duration::from_millis(100);
    let replica = Replica::start(&config).await;
    for _ in 0..100 {
        if !slack.topic_writes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        slack.topic_writes(),
        [(
            "C0PAYHELP".to_owned(),
            "Payments help | On call: <@UALICE>, <@UBOB> | SLA 1h".to_owned()
        )],
        "{upstream:?}: one write, then none while nothing changes"
    );

    // The people change (and the cache is cleared): the next round writes.
    sims.set_on_call(&["carol@corp.example"]);
    let clear = mention("EvClear", "C1", "1.1", "<@UBOT> cache clear");
    replica.deliver_event(&clear).await;
    for _ in 0..100 {
        if slack.topic_writes().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        slack.topic_writes().last().map(|(_, topic)| topic.clone()),
        Some("Payments help | On call: <@UCAROL> | SLA 1h".to_owned())
    );
}
