//! The commit axis every chart shares: the commits of HEAD's history that have a
//! measurement, oldest first, each followed by a stop for runs on its uncommitted changes.

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::shell;

/// A commit of the history.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub(crate) hash: String,
    pub(crate) unix_time: u64,
    pub(crate) subject: String,
}

/// One place on the axis.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub(crate) commit: Commit,
    /// Runs on uncommitted changes to the commit.
    pub(crate) dirty: bool,
}

impl Stop {
    /// `1a2b3c4d`, or `1a2b3c4d+` for uncommitted changes.
    pub(crate) fn label(&self) -> String {
        let short = &self.commit.hash[..self.commit.hash.len().min(8)];
        if self.dirty {
            format!("{short}+")
        } else {
            short.to_owned()
        }
    }

    pub(crate) fn subject(&self) -> String {
        if self.dirty {
            format!("uncommitted changes on: {}", self.commit.subject)
        } else {
            self.commit.subject.clone()
        }
    }
}

/// HEAD's history, oldest first; from `since` (included) when given.
pub(crate) fn history(since: Option<&str>) -> Result<Vec<Commit>> {
    let sh = shell::at_root()?;
    let log = cmd!(
        sh,
        "git log --topo-order --reverse --format=%H%x1f%ct%x1f%s HEAD"
    )
    .quiet()
    .read()
    .context("reading the commit history (`git log HEAD`); is this a git checkout?")?;
    let commits: Vec<Commit> = log
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\x1f');
            Some(Commit {
                hash: fields.next()?.to_owned(),
                unix_time: fields.next()?.parse().ok()?,
                subject: fields.next().unwrap_or_default().to_owned(),
            })
        })
        .collect();
    let Some(since) = since else {
        return Ok(commits);
    };
    let spec = format!("{since}^{{commit}}");
    let resolved = cmd!(sh, "git rev-parse --verify {spec}")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| format!("`--since {since}` names no commit (`git rev-parse {since}`)"))?;
    match commits.iter().position(|c| c.hash == resolved) {
        Some(start) => Ok(commits[start..].to_vec()),
        None => bail!(
            "`--since {since}` is not in HEAD's history (`git merge-base --is-ancestor {since} HEAD`)"
        ),
    }
}

/// The stops of `commits` that some run in `measured` (commit, dirty) was taken at.
pub(crate) fn stops(commits: &[Commit], measured: &[(String, bool)]) -> Vec<Stop> {
    let mut stops = Vec::new();
    for commit in commits {
        for dirty in [false, true] {
            if measured
                .iter()
                .any(|(c, d)| *c == commit.hash && *d == dirty)
            {
                stops.push(Stop {
                    commit: commit.clone(),
                    dirty,
                });
            }
        }
    }
    stops
}
