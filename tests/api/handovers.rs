//! Hand-over notices: one post per real hand-over in the schedule's
//! `announce_channel`, none when the same person continues, none twice after a
//! restart, and one among several replicas.

use std::time::{Duration, SystemTime};

use oncall_bot::bot::slack_date;
use oncall_bot::config::ServeConfig;
use oncall_bot::handovers::AnnounceSpec;
use oncall_bot::store::StateConfig;
use oncall_bot_simulator::{OpsGenieAccount, Post, SimRotation, SimShift, SlackWorkspace};

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
    let handover = soon(1);
    let app = spawn_app_with_workspace(|_, config| announcing(config)).await;
    app.opsgenie.set_rotations(SCHEDULE, rotations(handover));
    wait_for_notices(&app.slack, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted = notices(&app.slack);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].thread_ts, None, "at the top of the channel");
    assert_eq!(
        posted[0].text,
        format!(
            "On call for *SRE_schedule* (Weekly) now: <@UBOB> (after <@UALICE>), until {}",
            slack_date(handover + Duration::from_secs(3600))
        )
    );
}

async fn sims() -> (SlackWorkspace, OpsGenieAccount) {
    (start_slack().await, start_opsgenie().await)
}

#[tokio::test]
async fn a_restart_does_not_announce_a_hand_over_twice() {
    let (slack, opsgenie) = sims().await;
    let mut config = test_config(&slack, &opsgenie);
    announcing(&mut config);
    let handover = soon(1);
    opsgenie.set_rotations(SCHEDULE, rotations(handover));
    let mut first = Replica::start(&config).await;
    wait_for_notices(&slack, 1).await;
    first.shut_down().await;
    let mut second = Replica::start(&config).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(notices(&slack).len(), 1);
    second.shut_down().await;
}

#[tokio::test]
async fn of_two_replicas_sharing_state_one_announces() {
    let redis = RedisServer::start().await;
    let (slack, opsgenie) = sims().await;
    let mut config = test_config(&slack, &opsgenie);
    announcing(&mut config);
    config.state = Some(StateConfig {
        url: redis.url().into(),
        prefix: "handover-test:".to_owned(),
    });
    let handover = soon(1);
    opsgenie.set_rotations(SCHEDULE, rotations(handover));
    let _a = Replica::start(&config).await;
    let _b = Replica::start(&config).await;
    wait_for_notices(&slack, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(notices(&slack).len(), 1);
}

#[tokio::test]
async fn each_incoming_person_is_reminded_once_that_long_before_their_shift() {
    let (slack, opsgenie) = sims().await;
    let mut config = test_config(&slack, &opsgenie);
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
    opsgenie.set_rotations(
        SCHEDULE,
        vec![SimRotation {
            name: "Weekly".into(),
            shifts: vec![
                shift("alice@corp.example", bobs - hour * 2, bobs),
                shift("bob@corp.example", bobs, bobs + hour),
                shift("carol@corp.example", bobs + hour, bobs + hour * 2),
            ],
        }],
    );
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
    assert_eq!(sent.len(), 1, "{sent:?}");
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
    let (slack, opsgenie) = sims().await;
    slack.set_topic("C0PAYHELP", "Payments help | On call: nobody yet | SLA 1h");
    let mut config = test_config(&slack, &opsgenie);
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
        "one write, then none while nothing changes"
    );

    // The people change (and the cache is cleared): the next round writes.
    opsgenie.set_on_call(SCHEDULE, &["carol@corp.example"]);
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
