//! The crate's shape, checked on every `cargo test`: each `crate::…` path in
//! `src/` points down the layers (edge → domain → clients → plain types), the
//! domain's modules import each other without cycles, the files of one folder
//! name each other without cycles too, and only the edges and the composition
//! root name the HTTP framework or the WebSocket library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its layer; a module may name modules of
/// lower layers only. Layer 5, the domain, is the one whose modules may also name
/// each other (without cycles).
const LAYERS: &[(&str, u8)] = &[
    // Plain types, and the plumbing beside them.
    ("model", 0),
    ("metrics", 1),
    ("outbound", 2),
    // The background loops' supervisor (uses the plumbing's backoff).
    ("supervise", 3),
    // One module per outside system.
    ("slack", 4),
    ("providers", 4),
    ("store", 4),
    // The domain.
    ("routing", 5),
    ("alias", 5),
    ("workspace", 5),
    ("overrides", 5),
    ("oncall", 5),
    ("alerting", 5),
    ("alert_threads", 5),
    ("usergroup_sync", 5),
    ("handovers", 5),
    ("bot", 5),
    // Settings, from the command line and the file.
    ("config", 6),
    // The edges: Slack's two doors and their intake; the `check` subcommand.
    ("edge", 7),
    ("check", 7),
    // The composition root, and the logging it sets up.
    ("startup", 8),
    ("telemetry", 8),
    // `demo` drives the composition root against the simulations.
    ("demo", 9),
];

const DOMAIN: u8 = 5;

/// Where the HTTP framework and the WebSocket library may be named.
const FRAMEWORK_ALLOWED: &[&str] = &["edge", "startup"];
const FRAMEWORK_NAMES: &[&str] = &["axum", "tungstenite"];

/// The top-level module a file of `src/` belongs to (`src/slack/api.rs` → `slack`).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// The code of a line, without its `//` comment (doc comments included).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// The top-level modules `text` names through `crate::…`, including grouped
/// imports (`crate::{a::X, b}`).
fn crate_references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = code_of(line);
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn mentions_framework(text: &str) -> Option<&'static str> {
    text.lines().map(code_of).find_map(|code| {
        FRAMEWORK_NAMES.iter().copied().find(|name| {
            code.match_indices(name).any(|(at, _)| {
                let before = code[..at].chars().last();
                let after = code[at + name.len()..].chars().next();
                let boundary =
                    |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                boundary(before) && boundary(after)
            })
        })
    })
}

/// Every arrow that points the wrong way, as readable lines; empty when the
/// shape holds. `files` are (path relative to `src/`, text).
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let mut domain_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in files {
        let shown = path.display();
        let Some(module) = module_of(path) else {
            continue;
        };
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&layer) = layers.get(module.as_str()) else {
            problems.push(format!(
                "{shown}: module `{module}` has no layer; add it to LAYERS"
            ));
            continue;
        };
        for target in crate_references(text) {
            if target == module {
                continue;
            }
            let Some(&target_layer) = layers.get(target.as_str()) else {
                problems.push(format!(
                    "{shown}: names `crate::{target}`, which has no layer"
                ));
                continue;
            };
            let same_domain = layer == DOMAIN && target_layer == DOMAIN;
            if same_domain {
                domain_edges
                    .entry(module.clone())
                    .or_default()
                    .insert(target.clone());
            } else if target_layer >= layer {
                problems.push(format!(
                    "{shown}: `{module}` (layer {layer}) names `crate::{target}` (layer {target_layer}): an arrow against the direction"
                ));
            }
        }
        if !FRAMEWORK_ALLOWED.contains(&module.as_str()) {
            if let Some(name) = mentions_framework(text) {
                problems.push(format!(
                    "{shown}: names `{name}`, which only edge/ and startup.rs may"
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&domain_edges) {
        problems.push(format!("a cycle in the domain: {}", cycle.join(" → ")));
    }
    for (folder, edges) in folder_edges(files) {
        if let Some(cycle) = find_cycle(&edges) {
            problems.push(format!("a cycle inside {folder}/: {}", cycle.join(" → ")));
        }
    }
    problems
}

/// Per folder of `src/`, which of its files name which others: `super::x` and
/// `crate::<folder>::x` from a sibling, `x::`, `self::x` and `use x` from the
/// folder's `mod.rs`. A file naming `super::Item` of `mod.rs` is not counted:
/// `mod.rs` is the folder's door, re-exporting its files.
fn folder_edges(
    files: &[(PathBuf, String)],
) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut by_folder: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
    for (path, text) in files {
        let Some(folder) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        else {
            continue;
        };
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        by_folder
            .entry(folder.display().to_string().replace('\\', "/"))
            .or_default()
            .push((name, text.as_str()));
    }
    let mut edges = BTreeMap::new();
    for (folder, members) in by_folder {
        let siblings: BTreeSet<&str> = members
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| *name != "mod")
            .collect();
        let crate_path = format!("crate::{}::", folder.replace('/', "::"));
        let mut folder_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, text) in &members {
            let prefixes: Vec<String> = if name == "mod" {
                vec!["self::".to_owned(), "use ".to_owned(), crate_path.clone()]
            } else {
                vec!["super::".to_owned(), crate_path.clone()]
            };
            for line in text.lines().map(code_of) {
                for prefix in &prefixes {
                    for (at, _) in line.match_indices(prefix.as_str()) {
                        let before = line[..at].chars().last();
                        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                            continue;
                        }
                        let target: String = line[at + prefix.len()..]
                            .trim_start_matches("pub ")
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if target != *name && siblings.contains(target.as_str()) {
                            folder_edges.entry(name.clone()).or_default().insert(target);
                        }
                    }
                }
                // `mod.rs` naming a child's path directly: `book::Book`.
                if name == "mod" {
                    for sibling in &siblings {
                        let direct = format!("{sibling}::");
                        let named = line.match_indices(direct.as_str()).any(|(at, _)| {
                            !line[..at]
                                .chars()
                                .last()
                                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                        });
                        if named {
                            folder_edges
                                .entry(name.clone())
                                .or_default()
                                .insert((*sibling).to_owned());
                        }
                    }
                }
            }
        }
        edges.insert(folder, folder_edges);
    }
    edges
}

/// A cycle in `edges`, as the modules along it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let relative = path.strip_prefix(root).expect("below src/").to_owned();
            out.push((relative, text));
        }
    }
}

#[test]
fn every_import_in_src_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    assert!(files.len() > 20, "read the whole of src/");
    let problems = violations(&files);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_check_catches_each_kind_of_wrong_arrow() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    let cases = [
        (
            file("model.rs", "use crate::slack::SlackApi;"),
            "`model` (layer 0) names `crate::slack`",
        ),
        (
            file("slack/api.rs", "use crate::{model::BotIdentity, bot::Bot};"),
            "`slack` (layer 4) names `crate::bot`",
        ),
        (
            file("providers/jsm/client.rs", "let x = crate::slack::DEFAULT;"),
            "`providers` (layer 4) names `crate::slack`",
        ),
        (
            file("oncall.rs", "use crate::edge::Inbox;"),
            "`oncall` (layer 5) names `crate::edge`",
        ),
        (
            file("bot/service.rs", "async fn f(router: axum::Router) {}"),
            "names `axum`",
        ),
        (
            file("wiring.rs", "fn f() {}"),
            "module `wiring` has no layer",
        ),
    ];
    for ((path, text), expected) in cases {
        let problems = violations(&[(path.clone(), text)]);
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "{}: expected {expected:?}, got {problems:?}",
            path.display()
        );
    }
    let cycle = violations(&[
        file("bot/service.rs", "use crate::alerting::AlertRaiser;"),
        file("alerting.rs", "use crate::bot::Request;"),
    ]);
    assert!(
        cycle
            .iter()
            .any(|problem| problem.starts_with("a cycle in the domain")),
        "{cycle:?}"
    );
    let in_folder = violations(&[
        file("bot/service.rs", "use super::take_call::PendingTake;"),
        file("bot/take_call.rs", "use super::service::Bot;"),
    ]);
    assert!(
        in_folder
            .iter()
            .any(|problem| problem.starts_with("a cycle inside bot/: ")),
        "{in_folder:?}"
    );
    let in_folder_by_crate_path = violations(&[
        file(
            "overrides/book.rs",
            "use crate::overrides::policy::Refusal;",
        ),
        file("overrides/policy.rs", "fn f(_: super::book::Book) {}"),
    ]);
    assert!(
        in_folder_by_crate_path
            .iter()
            .any(|problem| problem.starts_with("a cycle inside overrides/: ")),
        "{in_folder_by_crate_path:?}"
    );
    let fine = violations(&[
        file("overrides/mod.rs", "pub mod book;\nuse book::Book;"),
        file("overrides/book.rs", "use super::Overrides;"),
        file(
            "bot/service.rs",
            "use crate::alerting::AlertRaiser; // crate::edge in a comment",
        ),
        file(
            "alerting.rs",
            "use crate::model::Request;\n/// axum is not named here",
        ),
        file("edge/http.rs", "use axum::Router; use crate::bot::Bot;"),
    ]);
    assert!(fine.is_empty(), "{fine:?}");
}
