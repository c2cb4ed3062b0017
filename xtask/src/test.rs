//! `cargo xtask test`: the workspace tests, with PostgreSQL when one is reachable.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::{config, shell};

/// The gates' self-tests, each tens of seconds: bench's and load's inject a regression to see
/// it caught and run A against A to see nothing, load's stress finds a fixture's knee, and
/// profile samples a release benchmark.
pub(crate) const GATE_SELF_TESTS: &str =
    "(test(/and_a_against_a/) | test(/^load::tests::/) | test(/^profile::tests::/))";

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Skip the doctests.
    #[arg(long)]
    pub(crate) no_doc: bool,
    /// Skip the gates' self-tests (they build release binaries); `cargo xtask test` and CI
    /// on main run them.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Nightly depth: a million cases per property test, 100,000 power-loss crash points.
    #[arg(long)]
    pub(crate) long: bool,
    /// Run only the tests of these packages (repeatable; all by default). The doctests stay
    /// the workspace's: narrowing them would build the libraries with other features.
    #[arg(long = "package", short = 'p', value_name = "NAME")]
    pub(crate) packages: Vec<String>,
    /// Run only tests whose name matches (passed to the test runner).
    pub(crate) filter: Vec<String>,
}

/// Property-test cases (`ALLFRAME_PROPERTY_CASES`) and power-loss crash points
/// (`ALLFRAME_POWER_LOSS_CASES`) of `--long`; the tests' own defaults are a few thousand.
const LONG: [(&str, &str); 2] = [
    ("ALLFRAME_PROPERTY_CASES", "1000000"),
    ("ALLFRAME_POWER_LOSS_CASES", "100000"),
];

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let sh = shell::at_root()?;
    let cargo = shell::cargo();

    let database = Database::locate(&quality.database);
    eprintln!("{}", database.describe());
    if database.reachable.is_ok() {
        sh.set_var("DATABASE_URL", database.url.as_str());
    }

    if args.long {
        for (name, value) in LONG {
            eprintln!("--long: {name}={value}");
            sh.set_var(name, value);
        }
    }
    let filter = &args.filter;
    // Without a database, nextest leaves the PostgreSQL test binaries out and counts their
    // tests as skipped (run directly, each of those tests prints SKIPPED and why).
    let mut leave_out: Vec<String> = Vec::new();
    if database.reachable.is_err() {
        leave_out.push("not binary(/postgres/)".to_owned());
    }
    // The report's browser test needs Debian's chromium; without it the binary is left out
    // (nextest counts it skipped) and this says how to get it.
    if !["/usr/bin/chromium", "/usr/bin/google-chrome"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
    {
        eprintln!(
            "chromium: not installed; the report's browser test will be SKIPPED \
             (`apt-get install -y chromium` runs it)"
        );
        leave_out.push("not binary(report_in_browser)".to_owned());
    }
    // The profile command's test samples a benchmark with Linux perf.
    if !crate::profile::perf_available() {
        eprintln!(
            "perf: not installed; the profile test will be SKIPPED (`apt-get install -y \
             linux-perf` runs it)"
        );
        leave_out.push("not test(a_profile_of_the_fixture_benchmark)".to_owned());
    }
    if args.quick {
        eprintln!(
            "--quick: the gates' self-tests ({GATE_SELF_TESTS}) are skipped; `cargo xtask test` runs them"
        );
        leave_out.push(format!("not {GATE_SELF_TESTS}"));
    }
    if !args.packages.is_empty() {
        let of: Vec<String> = args
            .packages
            .iter()
            .map(|p| format!("package(={p})"))
            .collect();
        eprintln!("the tests of {} only", args.packages.join(", "));
        leave_out.push(format!("({})", of.join(" | ")));
    }
    let expression: Vec<String> = if leave_out.is_empty() {
        vec![]
    } else {
        vec!["-E".to_owned(), leave_out.join(" & ")]
    };
    if shell::nextest_available()? {
        cmd!(
            sh,
            "{cargo} nextest run --workspace --all-features --no-tests=warn {expression...} {filter...}"
        )
        .run()
        .context("tests failed; reproduce with `cargo nextest run --workspace --all-features`")?;
    } else {
        eprintln!(
            "cargo-nextest is not installed (`cargo install cargo-nextest`): using cargo test"
        );
        // The same tests `leave_out` names for nextest, as `--skip` filters.
        let mut skip: Vec<&str> = Vec::new();
        if args.quick {
            skip.extend(["--skip", "and_a_against_a", "--skip", "load::tests::"]);
            skip.extend(["--skip", "profile::tests::"]);
        } else if !crate::profile::perf_available() {
            skip.extend(["--skip", "a_profile_of_the_fixture_benchmark"]);
        }
        if !skip.is_empty() {
            skip.insert(0, "--");
        }
        let selected: Vec<String> = if args.packages.is_empty() {
            vec!["--workspace".to_owned()]
        } else {
            args.packages
                .iter()
                .map(|p| format!("--package={p}"))
                .collect()
        };
        cmd!(
            sh,
            "{cargo} test {selected...} --all-features --lib --bins --tests {filter...} {skip...}"
        )
        .run()
        .context("tests failed; reproduce with `cargo test --workspace --all-features`")?;
    }
    if !args.no_doc {
        cmd!(
            sh,
            "{cargo} test --workspace --all-features --doc {filter...}"
        )
        .run()
        .context("doctests failed; reproduce with `cargo test --workspace --all-features --doc`")?;
    }
    Ok(())
}

/// Which PostgreSQL the tests use, and whether it answers.
#[derive(Debug)]
pub(crate) struct Database {
    pub(crate) url: url::Url,
    from_env: bool,
    pub(crate) reachable: Result<(), String>,
}

impl Database {
    /// `DATABASE_URL` when set, else the default of `quality.toml`; probed over TCP.
    pub(crate) fn locate(config: &config::Database) -> Self {
        let env = std::env::var("DATABASE_URL").ok();
        let (url, from_env) = match env.as_deref().map(url::Url::parse) {
            Some(Ok(url)) => (url, true),
            Some(Err(err)) => {
                let reachable = Err(format!("DATABASE_URL is not a URL: {err}"));
                return Self {
                    url: config.default_url.clone(),
                    from_env: true,
                    reachable,
                };
            }
            None => (config.default_url.clone(), false),
        };
        let reachable = probe(&url);
        Self {
            url,
            from_env,
            reachable,
        }
    }

    pub(crate) fn describe(&self) -> String {
        let source = if self.from_env {
            "DATABASE_URL"
        } else {
            "quality.toml [database] default_url"
        };
        let url = redacted(&self.url);
        match &self.reachable {
            Ok(()) => format!("PostgreSQL: using {url} (from {source})"),
            Err(why) => format!(
                "PostgreSQL: none reachable at {url} (from {source}): {why}. \
                 Tests that need a database will be SKIPPED and say so."
            ),
        }
    }
}

fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

fn probe(url: &url::Url) -> Result<(), String> {
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port().unwrap_or(5432);
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {host}: {err}"))?;
    let mut last = format!("{host}:{port} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(err) => last = format!("{addr}: {err}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_reported_plainly() {
        // Port 1 on loopback: nothing listens there.
        let url = url::Url::parse("postgres://postgres:secret@127.0.0.1:1/db").unwrap();
        let db = Database {
            reachable: probe(&url),
            url,
            from_env: false,
        };
        assert!(db.reachable.is_err());
        let text = db.describe();
        assert!(
            text.contains("none reachable") && text.contains("SKIPPED"),
            "{text}"
        );
        assert!(
            !text.contains("secret"),
            "passwords are not printed: {text}"
        );
    }

    #[test]
    fn a_listening_server_is_reachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = url::Url::parse(&format!("postgres://postgres@127.0.0.1:{port}/db")).unwrap();
        assert_eq!(probe(&url), Ok(()));
    }
}
