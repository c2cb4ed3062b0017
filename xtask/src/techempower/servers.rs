//! The servers under test: each started on a free port, pinned to the server core, and
//! watched through `/proc` (CPU time of all its threads).

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::verify::TestType;

/// Which cores the server and the load generator run on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pinning {
    pub(crate) server: Option<usize>,
    pub(crate) load: Option<usize>,
}

impl Pinning {
    /// Server on core 0, load generator on core 1, when there are two cores and `taskset`;
    /// otherwise nothing is pinned and the note says why.
    pub(crate) fn detect() -> (Self, String) {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let taskset = Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if cores >= 2 && taskset {
            let pinning = Self {
                server: Some(0),
                load: Some(1),
            };
            (
                pinning,
                "server pinned to core 0, load generator to core 1".to_owned(),
            )
        } else {
            let why = if taskset {
                format!("{cores} core available")
            } else {
                "`taskset` is not installed (util-linux)".to_owned()
            };
            let none = Self {
                server: None,
                load: None,
            };
            (
                none,
                format!("NOT pinned ({why}): figures are less comparable"),
            )
        }
    }
}

/// `program` run on `core` (through `taskset`, which execs it: the pid is the program's).
pub(crate) fn pinned(program: &Path, core: Option<usize>) -> Command {
    match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A running server; killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    /// The tests it implements (and passed verification for, once verified).
    pub(crate) tests: Vec<TestType>,
    child: Child,
}

impl Server {
    /// Starts `binary` on a free port with `DATABASE_URL` (when there is a database) and
    /// waits until it accepts connections. Its output goes to `log`.
    pub(crate) fn start(
        name: &str,
        binary: &Path,
        tests: Vec<TestType>,
        database: Option<&url::Url>,
        core: Option<usize>,
        log: &Path,
    ) -> Result<Self> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = pinned(binary, core);
        command
            .env("ALLFRAME_ADDR", addr.to_string())
            .env_remove("DATABASE_URL")
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .stdin(Stdio::null());
        if let Some(url) = database {
            command.env("DATABASE_URL", url.as_str());
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self {
            name: name.to_owned(),
            addr,
            tests,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = server.child.try_wait()? {
                let output = std::fs::read_to_string(log).unwrap_or_default();
                bail!(
                    "{name} ({}) exited with {status} instead of serving:\n{}",
                    binary.display(),
                    output.trim()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{name}: nothing listens on {addr} after 30 s; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system, all threads) the server has used so far, in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> Result<u64> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let times = ProcTimes::parse(&stat)?;
        Ok(times.utime + times.stime)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CPU-time fields of `/proc/<pid>/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcTimes {
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    /// Of the children it has waited for.
    pub(crate) cutime: u64,
    pub(crate) cstime: u64,
}

impl ProcTimes {
    /// Parses a `stat` line; the command name (field 2) may hold spaces and parentheses, so
    /// the fields are counted from its last `)`.
    pub(crate) fn parse(stat: &str) -> Result<Self> {
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("a /proc stat line without `)`")?;
        // `rest` starts at field 3 (state); utime is field 14.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Result<u64> {
            fields
                .get(n - 3)
                .with_context(|| format!("/proc stat has no field {n}"))?
                .parse()
                .with_context(|| format!("/proc stat field {n} is not a number"))
        };
        Ok(Self {
            utime: field(14)?,
            stime: field(15)?,
            cutime: field(16)?,
            cstime: field(17)?,
        })
    }

    /// This process's own times: its `cutime + cstime` grow by a child's whole CPU time
    /// when the child is waited for.
    pub(crate) fn of_self() -> Result<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
        Self::parse(&stat)
    }
}

/// Clock ticks per second of the `/proc` times (`getconf CLK_TCK`, 100 on Linux).
pub(crate) fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = "4242 (tfb (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    731 96 12 3 20 0 2 0 123 456 789";
        let times = ProcTimes::parse(stat).unwrap();
        assert_eq!(
            times,
            ProcTimes {
                utime: 731,
                stime: 96,
                cutime: 12,
                cstime: 3
            }
        );
        assert!(ProcTimes::parse("4242 no parenthesis").is_err());
        assert!(ProcTimes::parse("1 (x) S 1 2").is_err());
    }

    #[test]
    fn a_waited_child_adds_its_cpu_time_to_ours() {
        let before = ProcTimes::of_self().unwrap();
        // A child that burns about 0.3 s of CPU.
        let status = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let after = ProcTimes::of_self().unwrap();
        let children = (after.cutime + after.cstime) - (before.cutime + before.cstime);
        assert!(
            children > 0,
            "a busy child's CPU time shows in cutime+cstime"
        );
        assert!(ticks_per_second() >= 1.0);
    }
}
