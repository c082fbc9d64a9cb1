//! The double's clock: one monotonic origin for models (propagation, ground
//! truth) and the wall clock for the wire (SigV4 dates, credential expiry).
//!
//! Models measure time as a `Duration` since the double started so that the
//! ground truth it publishes lines up with nothing but itself; the harness
//! converts using the `started_at_unix_ms` the admin API reports.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A started clock. Cheap to copy.
#[derive(Clone, Copy, Debug)]
pub struct SimClock {
    origin: Instant,
    origin_wall: SystemTime,
}

impl SimClock {
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
            origin_wall: SystemTime::now(),
        }
    }

    /// Time since the double started: the axis every model and every ground
    /// truth record uses.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Wall-clock "now" for the wire protocols.
    pub fn now_wall(&self) -> SystemTime {
        SystemTime::now()
    }

    /// The wall-clock instant the double started, in ms since the Unix epoch.
    pub fn started_at_unix_ms(&self) -> u64 {
        unix_ms(self.origin_wall)
    }
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// ISO 8601 in the form AWS uses in XML and IMDS JSON: `2026-11-28T11:16:26Z`.
pub fn iso8601(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    dt.format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Convenience: a `Duration` in whole milliseconds as `u64`.
pub fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
