//! Another revision of the repository checked out beside the working tree (a git worktree
//! under the target directory), for gates that measure a base revision in the same run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::shell;

/// The folder a worktree of `rev` lives in.
fn dir(rev: &str) -> PathBuf {
    let name: String = rev
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    shell::target_dir()
        .join("xtask")
        .join("worktrees")
        .join(name)
}

/// The commit `rev` names, or an error saying it is not here.
pub(crate) fn commit(rev: &str) -> Result<String> {
    let sh = shell::at_root()?;
    let spec = format!("{rev}^{{commit}}");
    cmd!(sh, "git rev-parse --verify --quiet {spec}")
        .quiet()
        .read()
        .with_context(|| format!("`{rev}` is not a commit here (try `git fetch`)"))
}

/// A worktree of `rev`, created or moved to it.
pub(crate) fn checkout(rev: &str) -> Result<PathBuf> {
    let sh = shell::at_root()?;
    let dir = dir(rev);
    let commit = commit(rev)?;
    if dir.join(".git").exists() {
        cmd!(sh, "git -C {dir} checkout --quiet --detach {commit}").run()?;
    } else {
        cmd!(sh, "git worktree add --quiet --detach {dir} {commit}")
            .run()
            .with_context(|| format!("creating a worktree of {rev} in {}", dir.display()))?;
    }
    Ok(dir)
}

/// The target directory base revisions build in: apart from the working tree's, so neither
/// side's artifacts evict the other's.
pub(crate) fn target_dir() -> PathBuf {
    shell::target_dir().join("xtask").join("base-target")
}

/// The revision a change is measured against by default: the merge base with `main` (or
/// `origin/main`) when HEAD is not on it, else the commit before HEAD.
pub(crate) fn default_base() -> Result<String> {
    let sh = shell::at_root()?;
    let head = commit("HEAD")?;
    for main in ["origin/main", "main"] {
        let Ok(base) = cmd!(sh, "git merge-base HEAD {main}")
            .quiet()
            .ignore_stderr()
            .read()
        else {
            continue;
        };
        if base != head {
            return Ok(base);
        }
    }
    commit("HEAD~1").context(
        "no base revision to measure against: HEAD has no parent here (a shallow clone? \
         `git fetch --deepen=1`), or name one with `--base REV`",
    )
}
