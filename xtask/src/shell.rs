//! The shell every subcommand runs processes in: at the workspace root, with cargo found
//! through `$CARGO` (the cargo that runs xtask).

use std::path::PathBuf;

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
