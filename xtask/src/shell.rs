//! The shell every subcommand runs processes in: at the workspace root, with cargo found
//! through `$CARGO` (the cargo that runs xtask).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

/// The workspace root (the parent of xtask's manifest directory).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// A shell at the workspace root.
pub(crate) fn at_root() -> Result<Shell> {
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(root());
    Ok(sh)
}

/// The cargo that runs xtask, so a toolchain picked by rustup is the one used throughout.
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` at the root.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Builds `bin` of `package` in release in the workspace at `root` (the working tree, or a
/// worktree of another revision) into `target_dir`; the executable's path.
pub(crate) fn build_release(
    root: &Path,
    target_dir: &Path,
    package: &str,
    bin: &str,
) -> Result<PathBuf> {
    let sh = at_root()?;
    sh.change_dir(root);
    sh.set_var("CARGO_TARGET_DIR", target_dir);
    let cargo = cargo();
    eprintln!(
        "cargo build --release --package {package} --bin {bin} (in {})",
        root.display()
    );
    xshell::cmd!(
        sh,
        "{cargo} build --release --package {package} --bin {bin}"
    )
    .quiet()
    .run()
    .with_context(|| {
        format!(
            "building {bin} failed; reproduce with `cargo build --release -p {package} --bin {bin}` in {}",
            root.display()
        )
    })?;
    Ok(target_dir.join("release").join(bin))
}

/// Builds `packages` in release in one cargo call in the workspace at `root` into
/// `target_dir`, so what they share builds once, with the features they need between them;
/// each package's binary (named after it), in order.
pub(crate) fn build_release_together(
    root: &Path,
    target_dir: &Path,
    packages: &[&str],
) -> Result<Vec<PathBuf>> {
    let sh = at_root()?;
    sh.change_dir(root);
    sh.set_var("CARGO_TARGET_DIR", target_dir);
    let cargo = cargo();
    let selected: Vec<String> = packages.iter().map(|p| format!("--package={p}")).collect();
    let line = format!("cargo build --release {} --bins", selected.join(" "));
    eprintln!("{line} (in {})", root.display());
    xshell::cmd!(sh, "{cargo} build --release {selected...} --bins")
        .quiet()
        .run()
        .with_context(|| {
            format!(
                "building failed; reproduce with `{line}` in {}",
                root.display()
            )
        })?;
    Ok(packages
        .iter()
        .map(|p| target_dir.join("release").join(p))
        .collect())
}

/// Whether cargo-nextest is installed (the tests fall back to `cargo test` without it).
pub(crate) fn nextest_available() -> Result<bool> {
    let sh = at_root()?;
    let cargo = cargo();
    Ok(xshell::cmd!(sh, "{cargo} nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok())
}
