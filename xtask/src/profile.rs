//! `cargo xtask profile TARGET`: where the time goes. Linux `perf` samples the server of a
//! load profile (a `[[load.target_app]]`: a demo or the TechEmpower server) or the criterion
//! benchmarks matching a filter (`bench:FILTER`), with DWARF call graphs (release builds keep
//! no frame pointers), and inferno folds the samples into a flamegraph SVG under
//! `<target>/xtask/profile/`, beside the folded stacks; `cargo xtask report` links it.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use inferno::collapse::Collapse;
use xshell::cmd;

use crate::load::Profile;
use crate::load::profile::Timing;
use crate::{config, shell};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A `[[load.target_app]]` of quality.toml (a demo, or `techempower`), or `bench:FILTER`
    /// for the criterion benchmarks whose id matches FILTER.
    target: String,
    /// The load profile the server runs under.
    #[arg(long, value_enum, default_value = "sustained")]
    load_profile: Profile,
    /// Seconds of load, or of each benchmark's profiling run.
    #[arg(long, default_value = "10")]
    seconds: f64,
    /// Samples a second.
    #[arg(long, default_value_t = 499)]
    frequency: u32,
}

/// Where the flamegraphs are written (and `report` finds them).
pub(crate) fn dir() -> PathBuf {
    shell::target_dir().join("xtask").join("profile")
}

pub(crate) fn run(args: &Args) -> Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number, not {}", args.seconds);
    }
    if !perf_available() {
        bail!(
            "Linux `perf` cannot record here: on Debian `apt-get install linux-perf` (`.ci/run` \
             installs it), and a `/proc/sys/kernel/perf_event_paranoid` above 2 needs root or \
             a lower value"
        );
    }
    let out = dir();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let name: String = args
        .target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let recordings = match args.target.strip_prefix("bench:") {
        Some(filter) => {
            let quality = config::load()?;
            let bench = quality
                .bench
                .as_ref()
                .context("quality.toml has no [bench] section")?;
            let executables = crate::bench::build_suites(
                &shell::root(),
                &bench.package,
                None,
                &shell::target_dir(),
            )?;
            benchmarks(&executables, filter, args, &out.join(&name))?
        }
        None => load_target(&args.target, args, &out.join(&name))?,
    };
    let svg = out.join(format!("{name}.svg"));
    let samples = flamegraph(&recordings, &args.target, &svg)?;
    eprintln!(
        "profile: {samples} samples of {}; flamegraph {}",
        args.target,
        svg.display()
    );
    Ok(())
}

/// Whether `perf` records here: installed, and allowed to (`perf_event_paranoid`, a
/// container's seccomp filter).
pub(crate) fn perf_available() -> bool {
    let probe = std::env::temp_dir().join(format!("allframe-perf-probe-{}", std::process::id()));
    let recorded = Command::new("perf")
        .args(["record", "--quiet", "-o"])
        .arg(&probe)
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&probe);
    recorded
}

/// `perf record` of the process `pid`, or of the command after `--`.
fn record(frequency: u32, data: &Path) -> Command {
    let mut perf = Command::new("perf");
    perf.arg("record")
        .arg("--quiet")
        .arg("-F")
        .arg(frequency.to_string())
        .arg("--call-graph")
        .arg("dwarf,16384")
        .arg("-o")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    perf
}

/// The server of `target` under its load profile, sampled from when it is up (and its setup
/// sent) until it stops.
fn load_target(target: &str, args: &Args, stem: &Path) -> Result<Vec<PathBuf>> {
    let quality = config::load()?;
    let load = quality
        .load
        .as_ref()
        .context("quality.toml has no [load] section")?;
    let setup = crate::load::prepare(&quality, load, Some(target))?;
    let server = setup.head.start(
        setup.pinning,
        &setup
            .work
            .join(format!("profile-{}.log", args.load_profile.name())),
    )?;
    let data = stem.with_extension("perf.data");
    let mut perf = record(args.frequency, &data)
        .arg("-p")
        .arg(server.pid().to_string())
        .spawn()
        .context("starting `perf record`")?;
    // perf attaches before the first sample; give it that moment, and see that it did.
    std::thread::sleep(Duration::from_millis(200));
    if let Some(status) = perf.try_wait()? {
        bail!(
            "`perf record -p {}` exited with {status} before the load began",
            server.pid()
        );
    }
    let timing = Timing::lasting(load, args.load_profile, args.seconds);
    let figures =
        crate::load::profile::run(load, args.load_profile, timing, server, &setup.generator);
    // perf ends with the server, whatever the load's outcome.
    finish(&mut perf)?;
    let figures = figures?;
    if figures.level == crate::level::Level::Failure {
        bail!(
            "the load under the profile failed, so the flamegraph is not of a working server: {}",
            figures.notes.join("; ")
        );
    }
    eprintln!(
        "profile: {} at {:.0} req/s, p99 {:.2} ms",
        args.load_profile.name(),
        figures.achieved_rate,
        figures.p99_us as f64 / 1000.0
    );
    Ok(vec![data])
}

/// `perf record -p` ends when its process exits; one still running a few seconds after the
/// server has stopped is interrupted, which makes it write its file (and wait for that).
fn finish(perf: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = perf.try_wait()? {
            if !status.success() {
                bail!("`perf record` exited with {status}");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let pid = perf.id().to_string();
            let sh = shell::at_root()?;
            cmd!(sh, "kill -INT {pid}").quiet().run()?;
            // Interrupted, it writes its file and exits; its status is the signal's.
            perf.wait()?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each bench executable run on `filter` for `--seconds` under perf (criterion's
/// `--profile-time`: the benchmark alone, no analysis).
fn benchmarks(
    executables: &[PathBuf],
    filter: &str,
    args: &Args,
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    let mut recordings = Vec::new();
    for (i, executable) in executables.iter().enumerate() {
        let data = stem.with_extension(format!("{i}.perf.data"));
        let status = record(args.frequency, &data)
            .arg("--")
            .arg(executable)
            .arg("--bench")
            .arg("--profile-time")
            .arg(args.seconds.to_string())
            .arg(filter)
            .stderr(Stdio::null())
            .status()
            .context("running `perf record`")?;
        if !status.success() {
            bail!(
                "`perf record -- {} --bench --profile-time {} {filter}` exited with {status}",
                executable.display(),
                args.seconds
            );
        }
        recordings.push(data);
    }
    Ok(recordings)
}

/// Folds the recordings' stacks (written beside `svg` as `.folded`, each stack weighed by
/// its samples' periods: CPU nanoseconds for perf's cpu-clock) and draws them; the number of
/// samples.
fn flamegraph(recordings: &[PathBuf], title: &str, svg: &Path) -> Result<usize> {
    let mut folded = Vec::new();
    let mut samples = 0;
    for data in recordings {
        let script = Command::new("perf")
            .arg("script")
            .arg("--no-inline")
            .arg("-i")
            .arg(data)
            .stderr(Stdio::null())
            .output()
            .context("running `perf script`")?;
        if !script.status.success() {
            bail!(
                "`perf script -i {}` exited with {}",
                data.display(),
                script.status
            );
        }
        // A sample is a header line (command, pid, time, event) and its indented frames.
        samples += script
            .stdout
            .split(|&b| b == b'\n')
            .filter(|line| line.first().is_some_and(|b| !b.is_ascii_whitespace()))
            .count();
        inferno::collapse::perf::Folder::default()
            .collapse(BufReader::new(&script.stdout[..]), &mut folded)
            .with_context(|| format!("folding the stacks of {}", data.display()))?;
    }
    let folded = String::from_utf8(folded).context("folded stacks are not UTF-8")?;
    if samples == 0 || folded.is_empty() {
        bail!(
            "perf recorded no samples of {title} (is `/proc/sys/kernel/perf_event_paranoid` \
             above 2? try as root, or lower it)"
        );
    }
    std::fs::write(svg.with_extension("folded"), &folded)?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = format!("{title}: {samples} samples");
    let file = std::fs::File::create(svg).with_context(|| format!("creating {}", svg.display()))?;
    inferno::flamegraph::from_lines(&mut options, folded.lines(), file)
        .context("drawing the flamegraph")?;
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real fixture benchmark under perf: its flamegraph names the benchmark's code.
    #[test]
    fn a_profile_of_the_fixture_benchmark_draws_its_function() {
        // `cargo xtask test` leaves this test out where perf does not run, and says so.
        assert!(perf_available(), "Linux perf does not run here");
        let args = Args {
            target: "bench:fixture".into(),
            load_profile: Profile::Sustained,
            seconds: 1.0,
            frequency: 199,
        };
        let out = tempfile::tempdir().unwrap();
        let fixture = crate::bench::build_suites(
            &shell::root(),
            "allframe-benches",
            Some("fixture"),
            &shell::target_dir(),
        )
        .unwrap();
        let recordings =
            benchmarks(&fixture, "fixture", &args, &out.path().join("fixture")).unwrap();
        let svg = out.path().join("fixture.svg");
        let samples = flamegraph(&recordings, "bench:fixture", &svg).unwrap();
        // 199 a second of CPU; a second shared with other tests still gives a few dozen.
        assert!(samples > 20, "{samples} samples in a second at 199 Hz");
        let drawn = std::fs::read_to_string(&svg).unwrap();
        assert!(drawn.starts_with("<?xml"), "{}", &drawn[..100]);
        assert!(
            drawn.contains("fixture"),
            "the benchmark's frames are drawn"
        );
    }
}
