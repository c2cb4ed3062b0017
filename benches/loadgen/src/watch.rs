//! The server's side of a run (`--watch PID`): its resident memory, CPU time and open file
//! descriptors read from /proc at the end of every interval, beside that interval's
//! percentiles, and the RSS slope that says whether it leaks.

use serde::Serialize;

/// Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the watched process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServerSample {
    pub rss_bytes: u64,
    /// User and system CPU time since it started, all threads.
    pub cpu_seconds: f64,
    pub open_fds: u64,
}

/// Reads /proc/`pid`; `None` once the process is gone.
pub fn sample(pid: u32) -> Option<ServerSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from its last ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(ServerSample {
        rss_bytes: rss_kib * 1024,
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        open_fds,
    })
}

/// The least-squares slope of RSS over the second half of `samples` (seconds, sample), in
/// MiB per hour: the first half is start-up and warm caches, not a leak. `None` with fewer
/// than four samples in that half.
pub fn rss_slope_mib_per_hour(samples: &[(f64, ServerSample)]) -> Option<f64> {
    let half = &samples[samples.len() / 2..];
    if half.len() < 4 {
        return None;
    }
    let n = half.len() as f64;
    let mean_t = half.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_r = half.iter().map(|(_, s)| s.rss_bytes as f64).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, s) in half {
        covariance += (t - mean_t) * (s.rss_bytes as f64 - mean_r);
        variance += (t - mean_t) * (t - mean_t);
    }
    (variance > 0.0).then(|| covariance / variance * 3600.0 / 1048576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, mib: f64) -> (f64, ServerSample) {
        let sample = ServerSample {
            rss_bytes: (mib * 1048576.0) as u64,
            cpu_seconds: 0.0,
            open_fds: 3,
        };
        (t, sample)
    }

    #[test]
    fn the_slope_is_read_off_the_second_half() {
        // A start-up jump, then a mebibyte a second: 3600 MiB per hour.
        let mut samples = vec![at(0.0, 1.0), at(1.0, 50.0), at(2.0, 50.0), at(3.0, 50.0)];
        samples.extend((4..12).map(|t| at(f64::from(t), 50.0 + f64::from(t - 4))));
        let slope = rss_slope_mib_per_hour(&samples).unwrap();
        assert!((slope - 3600.0).abs() < 1.0, "{slope}");
        let flat: Vec<_> = (0..12).map(|t| at(f64::from(t), 20.0)).collect();
        assert_eq!(rss_slope_mib_per_hour(&flat), Some(0.0));
        assert_eq!(rss_slope_mib_per_hour(&flat[..6]), None);
    }

    #[test]
    fn this_process_can_be_read_and_a_missing_one_cannot() {
        let me = sample(std::process::id()).unwrap();
        assert!(me.rss_bytes > 1024 * 1024, "{me:?}");
        assert!(me.open_fds >= 3, "{me:?}");
        assert_eq!(sample(u32::MAX), None);
    }
}
