//! The PostgreSQL the TechEmpower run uses, set up as TFB sets up its own: the `hello_world`
//! database with `world` (10,000 rows) and `fortune` (12 rows).
//!
//! Found in this order: `--database URL`, `DATABASE_URL`, quality.toml's `[database]`
//! default when it answers, else a throwaway cluster started with `initdb` / `pg_ctl` (when
//! installed) and stopped afterwards. With none of them the database tests are left out, and
//! the run says so.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::verify::{DatabaseProbe, StatementStats};
use crate::config;
use crate::shell;
use crate::test::Database as Located;

/// Where the schema comes from: the same file the servers' README points at.
const SCHEMA: &str = "benches/techempower/hello_world.sql";

/// What `--database` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Choice {
    /// `DATABASE_URL`, else quality.toml's default if it answers, else a throwaway cluster.
    #[default]
    Auto,
    /// No database: json and plaintext only.
    None,
    /// Always a throwaway cluster.
    Throwaway,
    /// This server (any database on it; `hello_world` is created beside it).
    Url(url::Url),
}

impl std::str::FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "none" => Ok(Self::None),
            "throwaway" => Ok(Self::Throwaway),
            url => url::Url::parse(url).map(Self::Url).map_err(|err| {
                format!("`{url}` is neither auto, none, throwaway nor a postgres:// URL: {err}")
            }),
        }
    }
}

/// A seeded `hello_world` database, and the cluster it lives in when we started one.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The URL the servers connect to (database `hello_world`).
    pub(crate) url: url::Url,
    /// How it was found, for the report.
    pub(crate) origin: String,
    /// `pg_stat_statements` is loaded, so query counts can be checked.
    pub(crate) statement_stats: bool,
    _cluster: Option<Cluster>,
}

/// Finds or starts PostgreSQL and seeds `hello_world`; `Ok(None)` when there is none to use
/// (and `why` says so).
pub(crate) fn prepare(
    choice: &Choice,
    quality: &config::Quality,
    database: &str,
) -> Result<Result<Prepared, String>> {
    let (server, origin, cluster) = match choice {
        Choice::None => return Ok(Err("--database none".to_owned())),
        Choice::Url(url) => (url.clone(), "--database".to_owned(), None),
        Choice::Throwaway => {
            let cluster = Cluster::start()?;
            (cluster.url(), cluster.describe(), Some(cluster))
        }
        Choice::Auto => {
            let located = Located::locate(&quality.database);
            match (&located.reachable, std::env::var_os("DATABASE_URL")) {
                (Ok(()), _) => (located.url.clone(), located.describe(), None),
                (Err(why), Some(_)) => bail!(
                    "DATABASE_URL is set but does not answer ({why}); unset it, or pass \
                     `--database none` to run json and plaintext only"
                ),
                (Err(why), None) => match Cluster::binaries() {
                    Some(_) => {
                        let cluster = Cluster::start()?;
                        (cluster.url(), cluster.describe(), Some(cluster))
                    }
                    None => {
                        return Ok(Err(format!(
                            "no PostgreSQL answers ({why}) and `initdb`/`pg_ctl` are not \
                             installed for a throwaway cluster"
                        )));
                    }
                },
            }
        }
    };
    let url = seed(&server, database)?;
    let statement_stats = enable_statement_stats(&url)?;
    Ok(Ok(Prepared {
        url,
        origin,
        statement_stats,
        _cluster: cluster,
    }))
}

/// `url` with its database replaced by `database`.
fn with_database(url: &url::Url, database: &str) -> url::Url {
    let mut url = url.clone();
    url.set_path(&format!("/{database}"));
    url
}

pub(crate) fn connect(url: &url::Url) -> Result<postgres::Client> {
    postgres::Client::connect(url.as_str(), postgres::NoTls)
        .with_context(|| format!("connecting to {}", redacted(url)))
}

fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

/// Creates `database` on the server of `server` when missing and loads TFB's schema into it
/// (idempotent: the SQL inserts only missing rows). Returns the database's URL.
pub(crate) fn seed(server: &url::Url, database: &str) -> Result<url::Url> {
    let mut admin = connect(server)?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .context("looking for the database")?
        .is_some();
    if !exists {
        // Identifiers cannot be bound parameters; the name comes from quality.toml.
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            bail!("database name `{database}` must be letters, digits and `_`");
        }
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .with_context(|| format!("creating database {database}"))?;
    }
    let url = with_database(server, database);
    let schema_path = shell::root().join(SCHEMA);
    let schema = std::fs::read_to_string(&schema_path)
        .with_context(|| format!("reading {}", schema_path.display()))?;
    connect(&url)?
        .batch_execute(&schema)
        .with_context(|| format!("loading {SCHEMA} into {database}"))?;
    Ok(url)
}

/// Creates the `pg_stat_statements` view when the server preloads the module; false when it
/// does not (the query-count checks are then skipped, and the report says so).
fn enable_statement_stats(url: &url::Url) -> Result<bool> {
    let mut client = connect(url)?;
    let preload: String = client
        .query_one("SHOW shared_preload_libraries", &[])?
        .get(0);
    if !preload.split(',').any(|l| l.trim() == "pg_stat_statements") {
        return Ok(false);
    }
    // Creating it needs a superuser: without one the counts are skipped, not the run.
    if let Err(err) = client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements") {
        eprintln!(
            "query counts will not be checked: creating pg_stat_statements failed ({err}); \
             run `CREATE EXTENSION pg_stat_statements` as a superuser, or use `--database throwaway`"
        );
        return Ok(false);
    }
    Ok(true)
}

/// A PostgreSQL cluster of our own on a free port, stopped and deleted when dropped.
#[derive(Debug)]
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: then it runs as the `postgres` user.
    as_postgres: bool,
}

impl Cluster {
    /// The directory holding `initdb` and `pg_ctl`: on PATH, else Debian's layout.
    fn binaries() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).find(|dir| dir.join("initdb").is_file())
        });
        on_path
            .or_else(|| {
                let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| Some(e.ok()?.path().join("bin")))
                    .filter(|bin| bin.join("initdb").is_file())
                    .collect();
                versions.sort();
                versions.pop()
            })
            .filter(|dir| dir.join("pg_ctl").is_file())
    }

    fn start() -> Result<Self> {
        let bin = Self::binaries().context(
            "a throwaway PostgreSQL needs `initdb` and `pg_ctl` (`apt-get install postgresql`)",
        )?;
        let as_postgres = is_root()?;
        let data = if as_postgres {
            // The postgres user must own the directory: not under root's home. A fixed path,
            // so a cluster left by an interrupted run is found and stopped below.
            std::env::temp_dir().join("allframe-techempower-pg")
        } else {
            shell::target_dir().join("techempower").join("pgdata")
        };
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let cluster = Self {
            bin,
            data,
            port,
            as_postgres,
        };
        if cluster.data.join("postmaster.pid").exists() {
            eprintln!("stopping a throwaway PostgreSQL left by an interrupted run");
            let data = cluster.data.display().to_string();
            let _ = cluster.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
        cluster.remove_data();
        eprintln!(
            "starting a throwaway PostgreSQL in {} on port {port}",
            cluster.data.display()
        );
        let data = cluster.data.display().to_string();
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"],
        )?;
        let options = |preload: bool| {
            let mut o = format!("-p {port} -c listen_addresses=127.0.0.1 -k {data}");
            if preload {
                o.push_str(" -c shared_preload_libraries=pg_stat_statements");
            }
            o
        };
        let log = format!("{data}/server.log");
        let start = |preload: bool| {
            cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    &data,
                    "-l",
                    &log,
                    "-w",
                    "-o",
                    &options(preload),
                    "start",
                ],
            )
        };
        // pg_stat_statements ships in postgresql-contrib; start without it when absent.
        if start(true).is_err() {
            start(false).with_context(|| format!("starting PostgreSQL; its log is {log}"))?;
        }
        Ok(cluster)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "`{} {}` failed: {}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.port
        ))
        .expect("a valid URL")
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL: a throwaway cluster on port {} (stopped when the run ends)",
            self.port
        )
    }

    fn remove_data(&self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        if let Err(err) = self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]) {
            eprintln!("stopping the throwaway PostgreSQL: {err:#}");
        }
        self.remove_data();
    }
}

fn is_root() -> Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// The verifier's questions, answered over a connection of our own.
pub(crate) struct Probe {
    client: postgres::Client,
    statement_stats: bool,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("statement_stats", &self.statement_stats)
            .finish_non_exhaustive()
    }
}

impl Probe {
    pub(crate) fn connect(db: &Prepared) -> Result<Self> {
        Ok(Self {
            client: connect(&db.url)?,
            statement_stats: db.statement_stats,
        })
    }
}

impl DatabaseProbe for Probe {
    fn world_numbers(&mut self) -> Result<Vec<i32>> {
        let rows = self
            .client
            .query("SELECT randomnumber FROM world ORDER BY id", &[])?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn statement_stats(&mut self) -> Result<Option<StatementStats>> {
        if !self.statement_stats {
            return Ok(None);
        }
        // Classified here rather than in SQL, so this query's own text names no table.
        let rows = self.client.query(
            "SELECT query, calls, rows FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )?;
        let mut stats = StatementStats::default();
        for row in rows {
            let query: String = row.get(0);
            let (calls, rows): (i64, i64) = (row.get(1), row.get(2));
            let (calls, rows) = (calls.unsigned_abs(), rows.unsigned_abs());
            let query = query.to_ascii_lowercase();
            let select = query.trim_start().starts_with("select");
            let update = query.trim_start().starts_with("update");
            if query.contains("pg_stat_statements") {
                continue;
            }
            if mentions(&query, "world") {
                if select {
                    stats.world_selects += calls;
                    stats.world_rows += rows;
                } else if update {
                    stats.world_updates += calls;
                    stats.world_updated_rows += rows;
                }
            } else if mentions(&query, "fortune") && select {
                stats.fortune_selects += calls;
                stats.fortune_rows += rows;
            }
        }
        Ok(Some(stats))
    }

    fn reset_statement_stats(&mut self) -> Result<()> {
        self.client
            .batch_execute("SELECT pg_stat_statements_reset()")?;
        Ok(())
    }
}

/// `query` names `table` as a whole word (TFB's `\mworld\M`).
fn mentions(query: &str, table: &str) -> bool {
    query.match_indices(table).any(|(at, _)| {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !word(query[..at].chars().next_back()) && !word(query[at + table.len()..].chars().next())
    })
}
