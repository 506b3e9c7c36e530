//! Wall-clock time, injected: the daemons use [`SystemClock`], tests a
//! clock they set or advance.

/// Wall-clock source, injectable for tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Minutes since local midnight (publish windows), by default from
    /// [`Clock::now_ms`] in the host's time zone; a fake clock pinned to a
    /// time of day overrides it.
    fn minute_of_day(&self) -> u16 {
        local_minute_of_day(self.now_ms())
    }
}

/// Minutes since local midnight at `ms` since the Unix epoch.
fn local_minute_of_day(ms: i64) -> u16 {
    use chrono::Timelike;
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return 0;
    };
    let local = t.with_timezone(&chrono::Local);
    u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0)
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn minute_of_day(&self) -> u16 {
        use chrono::Timelike;
        let now = chrono::Local::now();
        u16::try_from(now.hour() * 60 + now.minute()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct At(i64);

    impl Clock for At {
        fn now_ms(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn minute_of_day_follows_now_ms_in_local_time() {
        let ms = SystemClock.now_ms();
        assert!(ms > 1_600_000_000_000, "{ms}");
        let a = At(ms).minute_of_day();
        let b = SystemClock.minute_of_day();
        // Same minute, unless the minute turned between the two readings.
        assert!(a == b || (a + 1) % 1440 == b, "{a} vs {b}");
        assert!(At(ms + 60_000).minute_of_day() == (a + 1) % 1440);
        assert!(At(ms).minute_of_day() < 1440);
    }
}
