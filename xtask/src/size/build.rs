//! Builds one binary in release and keeps a copy of it, unstripped (for symbols) and
//! stripped (what a user ships).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cargo_metadata::Message;
use indicatif::{ProgressBar, ProgressStyle};
use xshell::cmd;

use crate::shell;

/// Where copies go, and how loud the builds are.
#[derive(Debug)]
pub(crate) struct Builder {
    /// The workspace built: the working tree, or a worktree of a base revision.
    root: PathBuf,
    target_dir: PathBuf,
    out_dir: PathBuf,
    verbose: bool,
}

/// One measured binary on disk.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) unstripped: PathBuf,
    pub(crate) stripped: PathBuf,
}

impl Builder {
    pub(crate) fn new(root: &Path, target_dir: &Path, verbose: bool) -> Result<Self> {
        let sh = shell::at_root()?;
        cmd!(sh, "strip --version").quiet().ignore_stdout().run().context(
            "`strip` (GNU binutils) is needed to measure stripped sizes: `apt-get install binutils`",
        )?;
        Ok(Self {
            root: root.to_path_buf(),
            target_dir: target_dir.to_path_buf(),
            out_dir: target_dir.join("xtask").join("size"),
            verbose,
        })
    }

    /// Builds `package` with exactly `features`, copies its executable to
    /// `target/xtask/size/<name>/` at once (the next build overwrites cargo's), strips it.
    /// `progress` (such as `2/3`) is shown beside the name.
    pub(crate) fn build(
        &self,
        package: &str,
        features: &[String],
        name: &str,
        progress: &str,
    ) -> Result<Built> {
        let label = format!("{name} ({progress})");
        let sh = shell::at_root()?;
        sh.change_dir(&self.root);
        sh.set_var("CARGO_TARGET_DIR", &self.target_dir);
        let cargo = shell::cargo();
        let features = features.join(",");
        let feature_args: Vec<&str> = if features.is_empty() {
            vec![]
        } else {
            vec!["--features", &features]
        };
        let build = cmd!(
            sh,
            "{cargo} build --release --package {package} --no-default-features {feature_args...} --message-format=json-render-diagnostics"
        )
        .quiet();
        let reproduce = format!(
            "cargo build --release --package {package} --no-default-features{}",
            if features.is_empty() {
                String::new()
            } else {
                format!(" --features {features}")
            }
        );
        eprintln!("building {label}: {reproduce}");
        let stdout = if self.verbose {
            build
                .read()
                .with_context(|| format!("building {label} failed; reproduce with `{reproduce}`"))?
        } else {
            let spinner = ProgressBar::new_spinner()
                .with_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("template"),
                )
                .with_message(format!(
                    "building {label} (release, fat LTO; --verbose shows cargo)"
                ));
            spinner.enable_steady_tick(Duration::from_millis(120));
            let output = build.ignore_status().output();
            spinner.finish_and_clear();
            let output = output.with_context(|| format!("running `{reproduce}`"))?;
            if !output.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&output.stderr));
                bail!("building {label} failed; reproduce with `{reproduce}`");
            }
            String::from_utf8(output.stdout).context("cargo's JSON messages are UTF-8")?
        };
        let executable = Message::parse_stream(stdout.as_bytes())
            .filter_map(Result::ok)
            .find_map(|message| match message {
                Message::CompilerArtifact(artifact) if artifact.target.name == package => {
                    artifact.executable
                }
                _ => None,
            })
            .with_context(|| format!("cargo reported no executable for {package}"))?;

        let dir = self.out_dir.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let unstripped = dir.join(package);
        let stripped = dir.join(format!("{package}.stripped"));
        std::fs::copy(&executable, &unstripped)
            .with_context(|| format!("copying {executable} to {}", unstripped.display()))?;
        cmd!(sh, "strip -o {stripped} {unstripped}")
            .quiet()
            .run()
            .with_context(|| format!("stripping {}", unstripped.display()))?;
        Ok(Built {
            unstripped,
            stripped,
        })
    }
}
