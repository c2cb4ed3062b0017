//! Repository checks as tests (as rust-analyzer's `tidy.rs`): what a reviewer would
//! otherwise have to remember. They run in `cargo xtask test`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::config::Step;
use crate::shell;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// Files tracked by git (and new ones not ignored), relative to the root.
fn files() -> Vec<PathBuf> {
    let sh = shell::at_root().unwrap();
    let listed = xshell::cmd!(sh, "git ls-files --cached --others --exclude-standard")
        .quiet()
        .read()
        .expect("git ls-files runs");
    listed
        .lines()
        .map(PathBuf::from)
        .filter(|p| shell::root().join(p).exists())
        .collect()
}

#[test]
fn the_readme_lists_every_command() {
    let readme = read(&shell::root().join("README.md"));
    let cli = crate::Cli::command();
    let missing: Vec<&str> = cli
        .get_subcommands()
        .map(|c| c.get_name())
        .filter(|name| !readme.contains(&format!("| `cargo xtask {name}")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's command table has no row for: {missing:?} (add `| `cargo xtask NAME` | does |`)"
    );
}

#[test]
fn every_ci_step_names_the_command_that_fixes_or_reproduces_it() {
    for &step in <Step as strum::VariantArray>::VARIANTS {
        let remedy = crate::ci::remedy(step);
        assert!(
            remedy.contains("`cargo "),
            "ci step `{}` has no command in its remedy: {remedy:?}",
            step.name()
        );
    }
}

#[test]
fn every_crate_and_example_has_a_readme() {
    let mut missing = Vec::new();
    for folder in ["crates", "examples"] {
        for entry in std::fs::read_dir(shell::root().join(folder)).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join("Cargo.toml").exists() && !dir.join("README.md").exists() {
                missing.push(dir);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "crates without a README.md: {missing:?}"
    );
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let missing: Vec<PathBuf> = files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| p.components().any(|c| c.as_os_str() == "src"))
        .filter(|p| {
            let text = read(&shell::root().join(p));
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !(first.starts_with("//!") || first.starts_with("#![doc"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "modules whose first line is not a `//!` doc comment: {missing:?}"
    );
}

#[test]
fn quality_toml_cites_no_document_outside_the_repository() {
    let text = read(&shell::root().join(crate::config::FILE));
    // (`seed` alone is a key of `[[demos.demo]]`: the requirement documents are "the seed(s)".)
    for outside in [
        "DESIGN.md",
        "the PRD",
        "the CQRS issue",
        "the seed",
        "seeds/",
        "seed's",
    ] {
        assert!(
            !text.contains(outside),
            "quality.toml refers to `{outside}`, which is not in the repository: write the figure's origin where it stands"
        );
    }
}

#[test]
fn examples_readme_indexes_every_example_and_demo() {
    let index = read(&shell::root().join("examples/README.md"));
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(shell::root().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let manifest: toml::Table = toml::from_str(&manifest).unwrap();
        let package = manifest["package"]["name"].as_str().unwrap().to_owned();
        if !index.contains(&format!("`cargo run -p {package}`")) {
            missing.push(package);
        }
    }
    let quality = crate::config::load().unwrap();
    for demo in quality.demos.iter().flat_map(|d| &d.demos) {
        if !index.contains(&format!(
            "[{}]({})",
            demo.name,
            demo.path.trim_start_matches("examples/")
        )) {
            missing.push(demo.name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "examples/README.md has no row (with `cargo run -p NAME`) for: {missing:?}"
    );
}
