//! CPU time consumed, for the figures that must hold on a busy machine: when
//! other processes take the cores, wall time stretches but the CPU time our
//! work needs barely moves. Read from `/proc/self/stat` (this process, every
//! thread, including threads that have exited) and from Redis's `INFO cpu`
//! (the server's own process). Linux only, like the memory figure.

use std::{fs, io, time::Duration};

/// `/proc` reports CPU time in USER_HZ ticks, which Linux fixes at 100 per
/// second for every architecture's user-space ABI (`sysconf(_SC_CLK_TCK)`).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of this process so far (10 ms resolution).
pub fn process_cpu() -> io::Result<Duration> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    parse_proc_stat(&stat).ok_or_else(|| io::Error::other("unexpected /proc/self/stat format"))
}

/// utime + stime of a `/proc/<pid>/stat` line.
pub fn parse_proc_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: fields are counted from the last `)`.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

/// `used_cpu_user + used_cpu_sys` of a Redis `INFO cpu` reply.
pub fn parse_redis_cpu(info: &str) -> Option<Duration> {
    let field = |name: &str| -> Option<f64> {
        info.lines().find_map(|line| {
            line.trim()
                .strip_prefix(name)?
                .strip_prefix(':')?
                .parse()
                .ok()
        })
    };
    let seconds = field("used_cpu_user")? + field("used_cpu_sys")?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// CPU time and work accumulated over many measured iterations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuMeter {
    /// CPU time spent.
    pub cpu: Duration,
    /// Events processed in that time.
    pub events: u64,
}

impl CpuMeter {
    /// Adds one iteration.
    pub fn add(&mut self, cpu: Duration, events: u64) {
        self.cpu += cpu;
        self.events += events;
    }

    /// Microseconds of CPU per 1,000 events (`None` before any event).
    pub fn us_per_1000(&self) -> Option<f64> {
        (self.events > 0).then(|| self.cpu.as_secs_f64() * 1e6 * 1000.0 / self.events as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_even_with_odd_command_names() {
        let stat =
            "4242 (bench (x) y) R 1 4242 4242 0 -1 4194304 900 0 0 0 250 40 0 0 20 0 5 0 100 0 0";
        assert_eq!(parse_proc_stat(stat), Some(Duration::from_millis(2900)));
        assert_eq!(parse_proc_stat("4242 (bench) R 1 2"), None);
        assert_eq!(parse_proc_stat("no parenthesis"), None);
    }

    #[test]
    fn parses_redis_info_cpu() {
        let info = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:0.000000\r\n";
        assert_eq!(parse_redis_cpu(info), Some(Duration::from_millis(3750)));
        assert_eq!(parse_redis_cpu("# CPU\r\nused_cpu_sys:1.0\r\n"), None);
    }

    #[test]
    fn this_process_cpu_grows_with_work() -> io::Result<()> {
        // Spin until 50 ms of CPU are counted; a broken reading never gets
        // there and the deadline fails the test.
        let before = process_cpu()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while process_cpu()? - before < Duration::from_millis(50) {
            assert!(
                std::time::Instant::now() < deadline,
                "20 s of spinning never showed 50 ms of CPU"
            );
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        Ok(())
    }

    #[test]
    fn meter_reports_per_thousand_events() {
        let mut meter = CpuMeter::default();
        assert_eq!(meter.us_per_1000(), None);
        meter.add(Duration::from_millis(300), 100_000);
        meter.add(Duration::from_millis(100), 100_000);
        assert_eq!(meter.us_per_1000(), Some(2000.0));
    }
}
