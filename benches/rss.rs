//! Resident set size of this process, read from `/proc/self/status` (`VmRSS`),
//! for the memory figure. Linux only: elsewhere the reading fails with a clear
//! error and the memory bench records nothing.

use std::{fs, io};

/// The process's resident set size in bytes.
pub fn resident_bytes() -> io::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    parse_vm_rss(&status).ok_or_else(|| io::Error::other("no VmRSS line in /proc/self/status"))
}

/// The `VmRSS:   1234 kB` line of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    // The kernel always reports kB (KiB) here; anything else is not a reading.
    (words.next()? == "kB").then_some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let status = "Name:\tcore\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
    }

    #[test]
    fn rejects_what_is_not_a_reading() {
        assert_eq!(parse_vm_rss("VmPeak:\t1 kB\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t12 pages\n"), None);
    }

    #[test]
    fn reads_this_process_and_sees_memory_being_touched() -> io::Result<()> {
        let before = resident_bytes()?;
        // 64 MiB written page by page must become resident.
        let block = vec![1u8; 64 << 20];
        let after = resident_bytes()?;
        assert!(
            std::hint::black_box(&block)
                .iter()
                .step_by(4096)
                .all(|&b| b == 1)
        );
        assert!(
            after >= before + (32 << 20),
            "rss went from {before} to {after} bytes"
        );
        Ok(())
    }
}
