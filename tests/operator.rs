//! What the operator is given holds together: the Prometheus alert rules pass
//! `promtool check rules` and their unit tests (`promtool test rules`; Debian's
//! `prometheus` package has promtool, and `scripts/test` installs it), and every
//! metric the rules and the Grafana dashboard name is one the bot exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use oncall_bot::metrics::Metrics;

fn deploy() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy"))
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(deploy())
        .output()
        .unwrap_or_else(|error| {
            panic!("promtool: {error} (scripts/test installs Debian's `prometheus` package)")
        });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{said}");
    said
}

#[test]
fn the_alert_rules_pass_promtools_check() {
    let said = promtool(&["check", "rules", "prometheus-rules.yaml"]);
    assert!(said.contains("SUCCESS: 8 rules found"), "{said}");
}

#[test]
fn the_reply_failure_and_dead_loop_alerts_fire_when_they_should() {
    let said = promtool(&["test", "rules", "prometheus-rules.test.yaml"]);
    assert!(said.contains("SUCCESS"), "{said}");
}

/// The `oncall_bot_…` metric families named in `text` (a histogram's
/// `_bucket`, `_sum` and `_count` and a counter's `_total` read as their
/// family).
fn families_named(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("oncall_bot_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len().max(1)..];
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        found.insert(family.to_owned());
    }
    found
}

#[test]
fn every_metric_the_rules_and_the_dashboard_name_is_exported() {
    // A family shows in the exposition once it has a series: one of each.
    let metrics = Metrics::new();
    metrics.event("app_mention", "answered");
    metrics.reply("posted");
    metrics.source_call("opsgenie", "on_calls", "ok");
    metrics.cache(true);
    metrics.alert("raised");
    metrics.alert_webhook("shown");
    metrics.take_call("made");
    metrics.task_panic("answer");
    metrics.loop_restart("notices");
    metrics.loop_success("notices", std::time::SystemTime::now());
    metrics.usergroup_sync("updated");
    metrics.store_error("claim");
    let exported: BTreeSet<String> = metrics
        .render()
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(exported.contains("oncall_bot_replies"), "{exported:?}");
    for file in ["prometheus-rules.yaml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(deploy().join(file)).expect("readable");
        if file.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text).expect("the dashboard is JSON");
        }
        let named = families_named(&text);
        assert!(named.len() > 5, "{file}: {named:?}");
        let unknown: Vec<&String> = named.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics the bot does not export: {unknown:?}"
        );
    }
}
