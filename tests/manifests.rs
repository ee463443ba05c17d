//! Both Slack app manifests paste as they are, and the Kubernetes example runs
//! one user-group syncer. The manifests are valid against Slack's published
//! manifest schema (tests/data/slack/manifest.schema.1.0.0.json, from
//! slackapi/manifest-schema, MIT), and consistent in what the schema cannot
//! check. Validated with Python's `jsonschema` (scripts/test installs it), as no
//! JSON Schema validator is in the bot's dependency tree.

use std::process::Command;

const CHECK: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    manifest = yaml.safe_load(open(path))
    jsonschema.validate(manifest, schema)
    settings = manifest["settings"]
    events = settings["event_subscriptions"]
    socket = settings.get("socket_mode_enabled", False)
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert ("request_url" in events) != socket, path + ": request_url exactly when Socket Mode is off"
    if not socket:
        assert events["request_url"].startswith("https://"), path
    for scope in ["app_mentions:read", "chat:write", "im:history", "users:read", "users:read.email"]:
        assert scope in scopes, path + ": missing " + scope
    assert sorted(events["bot_events"]) == ["app_home_opened", "app_mention", "message.im"], path
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True, path + ": the Home tab is published on app_home_opened"
    assert home["messages_tab_enabled"] is True, path + ": DMs are questions"
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/oncall"], path
    assert "commands" in scopes, path + ": the slash command needs the commands scope"
    if socket:
        assert "url" not in commands[0], path + ": commands come over Socket Mode"
    else:
        assert commands[0]["url"] == events["request_url"].replace("/slack/events", "/slack/commands"), path
    interactivity = settings["interactivity"]
    assert interactivity["is_enabled"] is True, path + ": buttons and forms need interactivity"
    if socket:
        assert "request_url" not in interactivity, path + ": clicks come over Socket Mode"
    else:
        assert interactivity["request_url"] == events["request_url"].replace("/slack/events", "/slack/interactions"), path
    print(path, "socket mode" if socket else "events api", "ok")
"#;

/// Runs a Python check over files of this repository (paths relative to its
/// root); returns what it printed, once it has succeeded.
fn python_check(script: &str, files: &[&str]) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("python3")
        .args(["-c", script])
        .args(files.iter().map(|file| format!("{root}/{file}")))
        .output()
        .expect("python3 runs (scripts/test installs what this test needs)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{stdout}{stderr}\n(needs python3 with jsonschema and pyyaml: run scripts/test)"
    );
    stdout.into_owned()
}

#[test]
fn both_manifests_are_valid_against_slacks_schema_and_choose_one_way_in() {
    let stdout = python_check(
        CHECK,
        &[
            "tests/data/slack/manifest.schema.1.0.0.json",
            "manifest.yml",
            "manifest.http.yml",
        ],
    );
    assert!(stdout.contains("manifest.yml socket mode ok"), "{stdout}");
    assert!(
        stdout.contains("manifest.http.yml events api ok"),
        "{stdout}"
    );
}

const ONE_SYNCER: &str = r#"
import sys, yaml
def workloads(path):
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if doc["kind"] in ("Deployment", "CronJob"):
            for container in spec["template"]["spec"]["containers"]:
                env = {e["name"] for e in container.get("env", [])}
                yield doc["kind"], container["args"], env
    return
deployment = list(workloads(sys.argv[1]))
cronjob = list(workloads(sys.argv[2]))
assert [kind for kind, _, _ in deployment] == ["Deployment"], deployment
assert [kind for kind, _, _ in cronjob] == ["CronJob"], cronjob
assert "SLACK_USERGROUP" in deployment[0][2]
assert "SLACK_USERGROUP" in cronjob[0][2]
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc and doc["kind"] == "ConfigMap":
            assert "SLACK_USERGROUP" not in doc["data"], path + ": the shared ConfigMap must not turn on both syncers"
print("one syncer ok")
"#;

#[test]
fn the_kubernetes_example_runs_one_user_group_syncer() {
    let stdout = python_check(
        ONE_SYNCER,
        &[
            "deploy/kubernetes.yaml",
            "deploy/cronjob-sync-usergroup.yaml",
        ],
    );
    assert!(stdout.contains("one syncer ok"), "{stdout}");
}

const TWO_REPLICAS: &str = r#"
import sys, yaml
docs = [doc for doc in yaml.safe_load_all(open(sys.argv[1])) if doc]
by_kind = {}
for doc in docs:
    by_kind.setdefault(doc["kind"], []).append(doc)
bots = [d for d in by_kind["Deployment"] if d["metadata"]["name"] == "oncall-bot"]
assert len(bots) == 1
bot = bots[0]
assert bot["spec"]["replicas"] == 2, bot["spec"]["replicas"]
labels = bot["spec"]["template"]["metadata"]["labels"]
pdbs = by_kind["PodDisruptionBudget"]
assert len(pdbs) == 1 and pdbs[0]["spec"]["minAvailable"] == 1
assert pdbs[0]["spec"]["selector"]["matchLabels"].items() <= labels.items()
config = by_kind["ConfigMap"][0]["data"]
url = config["STATE_URL"]
assert url.startswith("redis://"), url
host, port = url[len("redis://"):].split("/")[0].split(":")
services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
assert host in services, host
assert any(p["port"] == int(port) for p in services[host]["spec"]["ports"])
state = [d for d in by_kind["Deployment"] if d["metadata"]["name"] != "oncall-bot"]
assert len(state) == 1
assert services[host]["spec"]["selector"].items() <= state[0]["spec"]["template"]["metadata"]["labels"].items()
env = {e["name"] for e in bot["spec"]["template"]["spec"]["containers"][0].get("env", [])}
assert "SLACK_USERGROUP" in env, "the sync runs in serve, under the lease"
assert "CronJob" not in by_kind
print("two replicas ok")
"#;

#[test]
fn the_two_replica_example_shares_state_in_redis_and_keeps_one_pod_through_disruptions() {
    let stdout = python_check(TWO_REPLICAS, &["deploy/kubernetes-replicas.yaml"]);
    assert!(stdout.contains("two replicas ok"), "{stdout}");
}
