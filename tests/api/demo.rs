//! `oncall-bot demo`: the conversation a newcomer sees, with no credentials.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const TRANSCRIPT: &str = "\
Simulated workspace: #support, the bot @ops, and Dana. OpsGenie schedule SRE_schedule: alice and bob on call.

#support  dana: @ops the checkout page returns 502s, can someone look?
    ↳ ops (in thread): On call for *SRE_schedule* right now: @alice, @bob
DM        dana → ops: who is on call?
    ↳ ops (in thread): On call for *SRE_schedule* right now: @alice, @bob
#support  dana: @ops cache clear
    ↳ ops (in thread): Cache cleared: the next answer comes straight from the on-call schedule.

Slack retries the first event (X-Slack-Retry-Num: 1): acked, 0 new replies.
Slack delivers the bot's own message back to it: ignored, 0 new replies.
";

fn demo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oncall-bot"));
    command.arg("demo").env_clear().stdin(Stdio::null());
    command
}

#[tokio::test]
async fn the_demo_needs_no_variables_and_prints_the_conversation() {
    let output = demo().output().await.expect("the demo runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with(TRANSCRIPT), "{stdout}");
    // Then on-call in time: a day, the asker's shifts, and a hand-over notice
    // (their dates are today's, so only their start is pinned).
    let rest: Vec<&str> = stdout[TRANSCRIPT.len()..].lines().collect();
    let expected = [
        "",
        "On-call in time (the schedule now has a weekly rotation; bob takes over from alice in a moment; times in UTC):",
        "#support  dana: @ops who is on call on Saturday?",
        "    ↳ ops (in thread): On call for *SRE_schedule* from ",
        "                       • primary (Weekly): @bob ",
        "                       (Read in UTC: your Slack profile has no time zone.)",
        "#support  bob: @ops when am I on?",
        "    ↳ ops (in thread): Your shifts in the next 4 weeks:",
        "                       • *SRE_schedule* (Weekly): ",
        "#oncall   ops: On call for *SRE_schedule* now: @bob (after @alice), until ",
        "",
        "The Home tab and cover (the schedule now has a Backup rotation too: dana, then erin):",
        "DM        dana → ops: cache clear",
        "Home      dana opens ops's Home tab, which reads:",
        "          │ == Who is on call ==",
        "          │ (As of ",
        "          │ [Take the call…] [Ask for cover…]",
        "          │ == Your shifts in the next 4 weeks ==",
        "          │ • *SRE_schedule* (Backup): now to ",
        "          │ ────",
        "          │ *SRE_schedule*",
        "          │ • primary (Weekly): @bob until ",
        "          │ • secondary (Backup): @dana until ",
        "Home      dana clicks [Ask for cover…]: a form opens",
        "Home      dana fills it in: SRE_schedule, tomorrow 09:00-13:00",
        "#oncall   ops: @dana needs cover for *SRE_schedule* (rotation *Backup*) from ",
        "DM        ops → dana: I asked in #oncall for someone to cover",
        "#oncall   erin clicks [I'll cover]",
        "    ↻ ops updates the request: @dana's request for cover",
        "#oncall   ops: @erin took the call for *SRE_schedule* (rotation *Backup*)",
        "DM        ops → dana: @erin took the call",
        "OpsGenie now holds 1 override(s) made by the bot.",
    ];
    assert_eq!(rest.len(), expected.len(), "{stdout}");
    for (line, start) in rest.iter().zip(expected) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}"
        );
    }
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn with_alerts_on_the_demo_shows_the_alerts_opsgenie_received() {
    let output = demo()
        .env("ALERT_ON_MENTION", "true")
        .output()
        .await
        .expect("the demo runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("                       I also raised a P4 alert in OpsGenie."),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "OpsGenie received a P4 alert: \"Dana asked for help in Slack: the checkout page returns 502s, can someone look?\""
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "OpsGenie received a P4 alert: \"Dana asked for help in Slack: who is on call?\""
        ),
        "{stdout}"
    );
    assert_eq!(stdout.matches("OpsGenie received").count(), 2, "{stdout}");
    assert!(stdout.contains(LOOP), "{stdout}");
}

/// The alert's loop as the demo plays it: a click, a note and the close.
const LOOP: &str = "\
The alert, both ways:
#support  bob clicks [Take it] under the first answer
    → OpsGenie: acknowledge, as bob@demo.example
    → OpsGenie: assign to bob@demo.example, as bob@demo.example
    ↻ ops updates its answer: Taken by @bob [Take it] [Close]
OpsGenie  alice adds a note (its webhook tells the bot)
    ↳ ops (in thread): Note from @alice: Rolling back the 14:02 deploy
OpsGenie  alice closes the alert (its webhook tells the bot)
    ↳ ops (in thread): @alice closed it in OpsGenie.
    ↻ ops updates its answer: Closed by @alice (no buttons left)
";

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn next_line(lines: &mut Lines) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the demo prints in time")
        .expect("stdout reads")
        .expect("the demo keeps printing")
}

#[tokio::test]
async fn demo_serve_prints_a_curl_line_that_gets_an_answer() {
    demo_serve_answers(&[]).await;
}

#[tokio::test]
async fn demo_serve_runs_against_pagerduty_too() {
    demo_serve_answers(&["--provider", "pagerduty"]).await;
}

async fn demo_serve_answers(provider: &[&str]) {
    let mut child = demo()
        .arg("--serve")
        .args(provider)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let curl = loop {
        let line = next_line(&mut lines).await;
        if line.starts_with("ts=$(date +%s)") {
            break line;
        }
    };
    // Pasted twice, at once: two events, two answers.
    for _ in 0..2 {
        let ran = Command::new("sh")
            .args(["-c", &curl])
            .output()
            .await
            .expect("sh runs the curl line");
        assert!(ran.status.success(), "{ran:?}");
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "HTTP 200\n");
    }
    let mut answered = 0;
    let mut previous = String::new();
    while answered < 2 {
        let line = next_line(&mut lines).await;
        if line.contains("↳ ops (in thread): On call for *SRE_schedule* right now:") {
            assert_eq!(
                previous, "#support  dana: @ops hello from curl",
                "the message, then its answer"
            );
            answered += 1;
        }
        previous = line;
    }
    child.start_kill().expect("the demo stops");
}

#[tokio::test]
async fn the_demo_runs_against_jsm_operations_too() {
    let output = demo()
        .args(["--provider", "jsm"])
        .env("ALERT_ON_MENTION", "true")
        .output()
        .await
        .expect("the demo runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("Simulated workspace: #support, the bot @ops, and Dana. JSM Operations schedule SRE_schedule"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    ↳ ops (in thread): On call for *SRE_schedule* right now: @alice, @bob\n                       I also raised a P4 alert in JSM Operations."),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("JSM Operations received a P4 alert").count(),
        2,
        "{stdout}"
    );
    assert!(
        stdout.contains(&LOOP.replace("OpsGenie", "JSM Operations")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("JSM Operations now holds 1 override(s) made by the bot.\n"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_demo_runs_against_pagerduty_too() {
    let output = demo()
        .args(["--provider", "pagerduty"])
        .env("ALERT_ON_MENTION", "true")
        .output()
        .await
        .expect("the demo runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "Simulated workspace: #support, the bot @ops, and Dana. PagerDuty schedule SRE_schedule: alice on call (one person at a time), bob next.",
        "                       I also raised a P4 alert in PagerDuty.",
        "PagerDuty received a severity info alert: \"Dana asked for help in Slack: the checkout page returns 502s, can someone look?\"",
        "    → PagerDuty: incident PINC001 is acknowledged, assigned to PUSRBOB (From: bob@demo.example)",
        "    ↳ ops (in thread): Note from @alice: Rolling back the 14:02 deploy",
        "    ↳ ops (in thread): @alice closed it in PagerDuty.",
    ] {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
    assert!(
        stdout.contains("(the whole schedule, every layer of it)"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("PagerDuty now holds 1 override(s) made by the bot.\n"),
        "{stdout}"
    );
}
