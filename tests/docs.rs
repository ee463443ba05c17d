//! The documentation holds together: the README stays a five-minute read, every
//! page under `docs/` is linked from it, every relative link and anchor in the
//! Markdown resolves, and every environment variable is in the configuration
//! reference.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use oncall_bot::config::Cli;

/// A five-minute read.
const README_MAX_LINES: usize = 230;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The Markdown files people read: the top-level ones and `docs/`.
fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "CONTRIBUTING.md"]
        .iter()
        .map(|name| root().join(name))
        .collect();
    files.extend(doc_pages());
    files
}

fn doc_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("a docs folder")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    pages
}

/// The targets of the inline links `[text](target)` of a Markdown text, outside
/// code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.insert(anchor_of(line.trim_start_matches('#')));
        }
    }
    found
}

/// What is wrong with one link of `from`, if anything.
fn broken(from: &Path, target: &str) -> Option<String> {
    if target.starts_with("http://") || target.starts_with("https://") || target.contains('<') {
        return None;
    }
    let (file, anchor) = match target.split_once('#') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (target, None),
    };
    let dir = from.parent().expect("a folder");
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        dir.join(file)
    };
    if !path.exists() {
        return Some(format!("{}: `{target}` does not exist", from.display()));
    }
    let anchor = anchor?;
    let headings = anchors(&read(&path));
    (!headings.contains(anchor)).then(|| format!("{}: no heading for `{target}`", from.display()))
}

#[test]
fn the_readme_is_a_five_minute_read() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): move reference material to docs/"
    );
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let readme = read(&root().join("README.md"));
    let linked: BTreeSet<String> = links(&readme).into_iter().collect();
    for page in doc_pages() {
        let name = format!(
            "docs/{}",
            page.file_name().expect("a name").to_string_lossy()
        );
        assert!(linked.contains(&name), "README.md does not link {name}");
    }
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    for file in markdown_files() {
        for target in links(&read(&file)) {
            problems.extend(broken(&file, &target));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_environment_variable_is_in_the_configuration_reference() {
    fn collect(command: &clap::Command, names: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env() {
                names.insert(name.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, names);
        }
    }
    let mut variables = BTreeSet::new();
    collect(&Cli::command(), &mut variables);
    let reference = read(&root().join("docs/configuration.md"));
    let missing: Vec<&String> = variables
        .iter()
        .filter(|name| !reference.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md: {missing:?}"
    );
}

/// Every `docs/<page>.md` named in `src/` (in `--help` and `check`), once each.
fn pages_named_in_src(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            pages_named_in_src(&path, out);
            continue;
        }
        let text = read(&path);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("docs/") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
                .collect();
            out.insert(name.trim_end_matches('.').to_owned());
            rest = &rest[at + 5..];
        }
    }
}

#[test]
fn every_page_help_and_check_point_at_exists() {
    let mut named = BTreeSet::new();
    pages_named_in_src(&root().join("src"), &mut named);
    assert!(named.contains("docs/configuration.md"), "{named:?}");
    for page in named {
        assert!(
            root().join(&page).is_file(),
            "src/ points at {page}, which does not exist"
        );
    }
}

#[test]
fn the_link_checker_reads_links_and_github_anchors() {
    assert_eq!(
        links("see [a](docs/a.md#x) and [b](b.md)\n```\n[c](c.md)\n```"),
        vec!["docs/a.md#x", "b.md"]
    );
    assert_eq!(
        anchor_of(" User groups: `@opsoncall` follows the people on call"),
        "user-groups-opsoncall-follows-the-people-on-call"
    );
    assert_eq!(
        anchor_of(" What the Slack app asks for"),
        "what-the-slack-app-asks-for"
    );
}
