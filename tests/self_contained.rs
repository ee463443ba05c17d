//! The repository carries what it builds and tests from: no code, test, script
//! or build file reads a folder beside the checkout (a clone in an empty folder
//! has none). Prose (`*.md`) may say where a copied file came from.

use std::path::{Path, PathBuf};

/// Folders that are not the project's own text.
const SKIPPED_DIRS: &[&str] = &[".git", "target"];

/// The needles, put together at run time so that this file does not hold them.
fn needles() -> [String; 2] {
    [
        ["..", "shared"].join("/"),
        ["shared", "contracts"].join("/"),
    ]
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_ref()) {
                files(&path, out);
            }
        } else if !name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The files under `root` that name a folder beside the checkout.
fn reaching_outside(root: &Path) -> Vec<String> {
    let mut all = Vec::new();
    files(root, &mut all);
    let needles = needles();
    all.into_iter()
        .filter(|path| {
            let Ok(bytes) = std::fs::read(path) else {
                return false;
            };
            let text = String::from_utf8_lossy(&bytes);
            needles.iter().any(|needle| text.contains(needle.as_str()))
        })
        .map(|path| {
            path.strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn nothing_but_prose_names_a_folder_beside_the_checkout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = reaching_outside(root);
    assert!(
        found.is_empty(),
        "these files reach outside the repository; copy the data into tests/data/ \
         (with its origin in tests/data/README.md) and point at the copy: {found:?}"
    );
}

#[test]
fn the_check_finds_a_file_that_reads_outside_and_lets_prose_say_it() {
    let root = std::env::temp_dir().join(format!("self-contained-{}", std::process::id()));
    let nested = root.join("src");
    std::fs::create_dir_all(&nested).expect("a temporary folder");
    let needle = &needles()[0];
    std::fs::write(
        nested.join("reads.rs"),
        format!("read(\"{needle}/x.json\")"),
    )
    .expect("written");
    std::fs::write(root.join("NOTES.md"), format!("copied from {needle}")).expect("written");
    std::fs::create_dir_all(root.join("target")).expect("a target folder");
    std::fs::write(root.join("target").join("built.rs"), needle).expect("written");
    let found = reaching_outside(&root);
    std::fs::remove_dir_all(&root).ok();
    assert_eq!(
        found,
        vec![Path::new("src").join("reads.rs").display().to_string()]
    );
}
