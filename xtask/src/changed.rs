//! `cargo xtask ci --changed`: the workspace packages a diff reaches, so ci can skip the
//! steps that build none of them and say so. A package is reached when it holds a changed
//! file or depends on a reached one (cargo metadata's resolve graph: normal, dev and build
//! dependencies). A file in no package but the root's own files (quality.toml, Cargo.lock,
//! baselines/, .ci/) or in xtask, which is every step's code, reaches everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::config::{Quality, Step, TECHEMPOWER_TARGET};
use crate::shell;

/// The package every step is code of.
const XTASK: &str = "xtask";

/// A workspace package: its name, its directory from the root and the workspace packages it
/// depends on.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) depends_on: Vec<String>,
}

/// What a diff reaches.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Every step, because of this file.
    Everything(PathBuf),
    /// These packages (none when the diff is empty).
    Packages(BTreeSet<String>),
}

impl Reach {
    /// Whether a step building `packages` (`None`: a step that always runs) is reached.
    pub(crate) fn reaches(&self, packages: Option<&[String]>) -> bool {
        match (self, packages) {
            (Reach::Everything(_), _) | (_, None) => true,
            (Reach::Packages(reached), Some(packages)) => {
                packages.iter().any(|p| reached.contains(p))
            }
        }
    }
}

/// The packages (or everything) the files changed since `base` reach: committed, staged,
/// unstaged and untracked files alike.
pub(crate) fn since(base: &str) -> Result<Reach> {
    let sh = shell::at_root()?;
    let diff = cmd!(sh, "git diff --name-only {base}")
        .quiet()
        .read()
        .with_context(|| {
            format!("listing the files changed since {base} (`git diff --name-only {base}`)")
        })?;
    let untracked = cmd!(sh, "git ls-files --others --exclude-standard")
        .quiet()
        .read()
        .context("listing untracked files (`git ls-files --others --exclude-standard`)")?;
    let files: Vec<PathBuf> = diff
        .lines()
        .chain(untracked.lines())
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    Ok(reach(&files, &workspace()?))
}

/// The workspace's packages and their dependencies on one another, from `cargo metadata`.
fn workspace() -> Result<Vec<Package>> {
    let root = shell::root();
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .exec()
        .context("reading the workspace (`cargo metadata`)")?;
    let members: BTreeMap<_, _> = metadata
        .workspace_packages()
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let resolve = metadata
        .resolve
        .as_ref()
        .context("cargo metadata gave no resolve graph")?;
    let mut packages = Vec::new();
    for node in &resolve.nodes {
        let Some(package) = members.get(&node.id) else {
            continue;
        };
        let dir = package
            .manifest_path
            .parent()
            .context("a manifest has a directory")?;
        packages.push(Package {
            name: package.name.to_string(),
            dir: dir
                .as_std_path()
                .strip_prefix(&root)
                .unwrap_or(dir.as_std_path())
                .to_path_buf(),
            depends_on: node
                .deps
                .iter()
                .filter_map(|d| members.get(&d.pkg))
                .map(|p| p.name.to_string())
                .collect(),
        });
    }
    Ok(packages)
}

/// What `files` (paths from the workspace root) reach in `packages`.
pub(crate) fn reach(files: &[PathBuf], packages: &[Package]) -> Reach {
    let mut reached = BTreeSet::new();
    for file in files {
        // The innermost package holding the file (a package may sit inside another's
        // directory); the root's own package, if any, does not count as holding it.
        let owner = packages
            .iter()
            .filter(|p| !p.dir.as_os_str().is_empty() && file.starts_with(&p.dir))
            .max_by_key(|p| p.dir.components().count());
        match owner {
            Some(p) if p.name != XTASK => {
                reached.insert(p.name.clone());
            }
            _ => return Reach::Everything(file.clone()),
        }
    }
    // Everything that depends on a reached package, until nothing new is reached.
    loop {
        let more: Vec<String> = packages
            .iter()
            .filter(|p| !reached.contains(&p.name))
            .filter(|p| p.depends_on.iter().any(|d| reached.contains(d)))
            .map(|p| p.name.clone())
            .collect();
        if more.is_empty() {
            return Reach::Packages(reached);
        }
        reached.extend(more);
    }
}

/// The packages a step builds and exercises; `None` for the steps that always run (fmt and
/// clippy look at every file, and are quick once warm).
pub(crate) fn packages_of(
    step: Step,
    quality: &Quality,
    workspace: &[String],
) -> Option<Vec<String>> {
    let one = |p: &str| Some(vec![p.to_owned()]);
    match step {
        Step::Fmt | Step::Clippy => None,
        Step::Features => one(crate::features::FACADE),
        Step::Test => Some(workspace.to_vec()),
        Step::Size => Some(vec![
            quality.size.probe.clone(),
            quality.size.reference.clone(),
        ]),
        Step::Memory => quality.memory.as_ref().map(|m| vec![m.package.clone()]),
        Step::BenchTest | Step::Instructions => {
            quality.bench.as_ref().map(|b| vec![b.package.clone()])
        }
        Step::Techempower => quality
            .techempower
            .as_ref()
            .map(|t| vec![t.package.clone()]),
        Step::Demos => quality
            .demos
            .as_ref()
            .map(|d| d.demos.iter().map(|d| d.package.clone()).collect()),
        Step::Load => {
            let load = quality.load.as_ref()?;
            let target = if load.target == TECHEMPOWER_TARGET {
                quality.techempower.as_ref().map(|t| t.package.clone())
            } else {
                quality
                    .demos
                    .as_ref()
                    .and_then(|d| d.demos.iter().find(|d| d.name == load.target))
                    .map(|d| d.package.clone())
            };
            Some(
                target
                    .into_iter()
                    .chain([crate::load::LOADGEN.to_owned()])
                    .collect(),
            )
        }
    }
}

/// The workspace's package names, for the `test` step.
pub(crate) fn names() -> Result<Vec<String>> {
    Ok(workspace()?.into_iter().map(|p| p.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, dir: &str, depends_on: &[&str]) -> Package {
        Package {
            name: name.to_owned(),
            dir: PathBuf::from(dir),
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    /// core <- facade <- demo, core <- bench; loadgen stands alone; a fixture lives inside
    /// the facade's directory.
    fn graph() -> Vec<Package> {
        vec![
            package("core", "crates/core", &[]),
            package("facade", "crates/facade", &["core"]),
            package("fixture", "crates/facade/fixture", &[]),
            package("demo", "examples/demo", &["facade"]),
            package("bench", "benches/bench", &["core"]),
            package("loadgen", "benches/loadgen", &[]),
            package("xtask", "xtask", &[]),
        ]
    }

    fn reached(files: &[&str]) -> Reach {
        let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        reach(&files, &graph())
    }

    fn names(names: &[&str]) -> Reach {
        Reach::Packages(names.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn a_change_reaches_its_package_and_everything_that_depends_on_it() {
        assert_eq!(
            reached(&["crates/core/src/lib.rs"]),
            names(&["bench", "core", "demo", "facade"])
        );
        assert_eq!(reached(&["examples/demo/README.md"]), names(&["demo"]));
        assert_eq!(
            reached(&["benches/loadgen/src/main.rs", "examples/demo/src/main.rs"]),
            names(&["demo", "loadgen"])
        );
        assert_eq!(reached(&[]), names(&[]));
    }

    #[test]
    fn a_file_belongs_to_the_innermost_package_holding_it() {
        assert_eq!(
            reached(&["crates/facade/fixture/src/lib.rs"]),
            names(&["fixture"])
        );
        assert_eq!(
            reached(&["crates/facade/src/lib.rs"]),
            names(&["demo", "facade"])
        );
    }

    #[test]
    fn root_files_and_xtask_reach_every_step() {
        for file in [
            "quality.toml",
            "Cargo.lock",
            "baselines/size.json",
            "xtask/src/ci.rs",
        ] {
            assert_eq!(
                reached(&["examples/demo/src/main.rs", file]),
                Reach::Everything(PathBuf::from(file)),
                "{file}"
            );
        }
    }

    #[test]
    fn a_step_runs_when_one_of_its_packages_is_reached() {
        let reach = reached(&["benches/loadgen/src/main.rs"]);
        let load = ["demo".to_owned(), "loadgen".to_owned()];
        assert!(reach.reaches(Some(&load)));
        assert!(!reach.reaches(Some(&["bench".to_owned()])));
        assert!(reach.reaches(None), "fmt and clippy always run");
        assert!(reached(&["quality.toml"]).reaches(Some(&["bench".to_owned()])));
    }

    #[test]
    fn this_workspace_reads_and_core_reaches_the_demos() {
        let workspace = workspace().expect("cargo metadata");
        let core = workspace
            .iter()
            .find(|p| p.name == "allframe-core")
            .expect("allframe-core is a member");
        let file = core.dir.join("src").join("lib.rs");
        let Reach::Packages(reached) = reach(&[file], &workspace) else {
            panic!("a file of allframe-core reaches packages");
        };
        for package in ["allframe", "cms", "allframe-benches"] {
            assert!(
                reached.contains(package),
                "{package} depends on allframe-core"
            );
        }
        assert!(
            !reached.contains("allframe-loadgen"),
            "the load generator does not"
        );
    }
}
