//! Virtual time: the simulator's notion of "now".
//!
//! The pure core (store, controllers, operator model) never reads the wall
//! clock; it is handed a [`SimTime`] by its caller. The async edge owns a
//! [`VirtualClock`] that maps real elapsed time to virtual time with a speed
//! factor, so a one-minute JobManager start costs `60 / speed` real seconds.
//! Timestamps are rendered as RFC 3339 in UTC without a date library, because
//! only this one format is needed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub i64);

impl SimTime {
    /// This time plus a virtual duration, saturating at the end of time
    /// (a user can configure an absurd interval; it must not wrap or panic).
    pub fn plus(self, duration: Duration) -> SimTime {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        SimTime(self.0.saturating_add(millis))
    }

    /// The virtual duration from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> Duration {
        Duration::from_millis((self.0 - earlier.0).max(0) as u64)
    }

    /// RFC 3339 with second precision, as Kubernetes renders `metav1.Time`.
    pub fn rfc3339(self) -> String {
        let (date, secs_of_day) = self.civil();
        format!(
            "{date}T{:02}:{:02}:{:02}Z",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }

    /// RFC 3339 with microseconds, as Kubernetes renders `metav1.MicroTime`.
    pub fn rfc3339_micros(self) -> String {
        let (date, secs_of_day) = self.civil();
        let micros = self.0.rem_euclid(1000) * 1000;
        format!(
            "{date}T{:02}:{:02}:{:02}.{micros:06}Z",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }

    /// Parses the RFC 3339 forms Kubernetes emits (`Z` suffix, optional fraction).
    pub fn parse_rfc3339(text: &str) -> Option<SimTime> {
        let text = text.strip_suffix('Z')?;
        let (date, time) = text.split_once('T')?;
        let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (year, month, day) = (
            date_parts.next()??,
            date_parts.next()??,
            date_parts.next()??,
        );
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, fraction)) => (hms, fraction),
            None => (time, ""),
        };
        let mut time_parts = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
        let (hour, minute, second) = (
            time_parts.next()??,
            time_parts.next()??,
            time_parts.next()??,
        );
        let millis = match fraction {
            "" => 0,
            f => format!("{f:0<3}")[..3].parse::<i64>().ok()?,
        };
        let days = days_from_civil(year, month, day);
        Some(SimTime(
            ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis,
        ))
    }

    fn civil(self) -> (String, i64) {
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        (
            format!("{year:04}-{month:02}-{day:02}"),
            secs.rem_euclid(86_400),
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
/// Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Maps real elapsed time to virtual time: `virtual = origin + real_elapsed * speed`.
///
/// This is the only place in the simulator that reads the wall clock.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    real_origin: Instant,
    virtual_origin: SimTime,
    speed: f64,
}

/// The slowest speed a virtual clock runs at: a thousandth of real time.
pub const MIN_SPEED: f64 = 1e-3;
/// The fastest: a million virtual seconds (about eleven days) per real second.
/// Bounding it keeps every virtual-to-real conversion and scaled timer finite.
pub const MAX_SPEED: f64 = 1e6;

/// Whether `speed` (virtual seconds per real second) is one a clock accepts.
pub fn valid_speed(speed: f64) -> bool {
    (MIN_SPEED..=MAX_SPEED).contains(&speed)
}

/// Why a speed is refused, for every place that takes one from a user.
pub fn speed_error(speed: impl std::fmt::Display) -> String {
    format!(
        "speed must be a number of virtual seconds per real second from {MIN_SPEED} to {MAX_SPEED}, got {speed}"
    )
}

impl VirtualClock {
    /// A clock that starts at the current wall-clock time and runs `speed`
    /// virtual seconds per real second.
    pub fn starting_now(speed: f64) -> VirtualClock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        VirtualClock::starting_at(SimTime(wall.as_millis() as i64), speed)
    }

    /// A clock that starts at `origin`, for reproducible timestamps in tests.
    pub fn starting_at(origin: SimTime, speed: f64) -> VirtualClock {
        assert!(valid_speed(speed), "{}", speed_error(speed));
        VirtualClock {
            real_origin: Instant::now(),
            virtual_origin: origin,
            speed,
        }
    }

    /// Virtual seconds per real second.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        let real = self.real_origin.elapsed().as_secs_f64();
        SimTime(self.virtual_origin.0 + (real * self.speed * 1000.0) as i64)
    }

    /// How long to wait in real time until virtual time reaches `at`.
    pub fn real_until(&self, at: SimTime) -> Duration {
        let virtual_ms = at.0.saturating_sub(self.now().0).max(0) as f64;
        real_secs(virtual_ms / 1000.0 / self.speed)
    }

    /// The real duration that corresponds to a virtual one.
    pub fn to_real(&self, virtual_duration: Duration) -> Duration {
        real_secs(virtual_duration.as_secs_f64() / self.speed)
    }
}

/// Seconds as a `Duration`, saturating instead of panicking when a huge
/// virtual duration at a slow speed exceeds what a `Duration` holds.
pub fn real_secs(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_rfc3339() {
        let t = SimTime(1_730_800_000_123);
        assert_eq!(t.rfc3339(), "2024-11-05T09:46:40Z");
        assert_eq!(t.rfc3339_micros(), "2024-11-05T09:46:40.123000Z");
        assert_eq!(
            SimTime::parse_rfc3339("2024-11-05T09:46:40.123000Z"),
            Some(t)
        );
        assert_eq!(
            SimTime::parse_rfc3339("2024-11-05T09:46:40Z"),
            Some(SimTime(1_730_800_000_000))
        );
        assert_eq!(SimTime(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            SimTime::parse_rfc3339("2000-02-29T23:59:59Z")
                .map(SimTime::rfc3339)
                .as_deref(),
            Some("2000-02-29T23:59:59Z")
        );
    }

    #[test]
    fn virtual_time_runs_at_the_speed_factor() {
        let clock = VirtualClock::starting_at(SimTime(0), 1000.0);
        assert_eq!(
            clock.to_real(Duration::from_secs(60)),
            Duration::from_millis(60)
        );
        let later = clock.now().plus(Duration::from_secs(10));
        assert!(clock.real_until(later) <= Duration::from_millis(10));
    }
}
