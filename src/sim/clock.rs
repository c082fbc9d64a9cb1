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

/// `t` moved by `offset_ms` (negative: earlier). The double's clock skew
/// (`sim::faults`) is applied with this; saturates at the epoch.
pub fn offset(t: SystemTime, offset_ms: i64) -> SystemTime {
    let d = Duration::from_millis(offset_ms.unsigned_abs());
    if offset_ms >= 0 {
        t + d
    } else {
        t.checked_sub(d)
            .filter(|t| *t >= UNIX_EPOCH)
            .unwrap_or(UNIX_EPOCH)
    }
}

/// SigV4's basic ISO 8601 form, `20150830T123600Z`, as AWS quotes it in
/// clock-skew errors.
pub fn amz_date(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    dt.format(&fmt)
        .unwrap_or_else(|_| "19700101T000000Z".to_owned())
}

/// An HTTP `Date` header value (RFC 7231 IMF-fixdate), e.g.
/// `Tue, 15 Nov 1994 08:12:31 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    dt.format(&fmt)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 GMT".to_owned())
}

/// A request signed too far from the double's clock, with the times AWS
/// quotes back.
#[derive(Clone, Debug, PartialEq)]
pub struct SkewError {
    pub signed_at: SystemTime,
    pub now: SystemTime,
    pub max: Duration,
}

impl SkewError {
    /// STS and IAM answer `403 SignatureDoesNotMatch` with this message
    /// ("Signature expired: 20220127T001427Z is now earlier than
    /// 20220127T014428Z (20220127T015928Z - 15 min.)", aws/aws-cli#6676;
    /// "Signature not yet current: … is still later than … (… + 15 min.)").
    pub fn query_message(&self) -> String {
        let mins = self.max.as_secs() / 60;
        if self.signed_at < self.now {
            format!(
                "Signature expired: {} is now earlier than {} ({} - {mins} min.)",
                amz_date(self.signed_at),
                amz_date(self.now - self.max),
                amz_date(self.now)
            )
        } else {
            format!(
                "Signature not yet current: {} is still later than {} ({} + {mins} min.)",
                amz_date(self.signed_at),
                amz_date(self.now + self.max),
                amz_date(self.now)
            )
        }
    }
}

/// Checks a request's signing time against the double's `now`: AWS allows
/// `max` (15 minutes) either way.
pub fn check_signing_time(
    signed_at: SystemTime,
    now: SystemTime,
    max: Duration,
) -> Result<(), SkewError> {
    let apart = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if apart > max {
        Err(SkewError {
            signed_at,
            now,
            max,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(900);

    #[test]
    fn skew_messages_quote_the_times_like_aws() {
        let now = UNIX_EPOCH + Duration::from_secs(1_643_248_768); // 2022-01-27T01:59:28Z
        let early = now - Duration::from_secs(6321);
        let e = check_signing_time(early, now, MAX).expect_err("too early");
        assert_eq!(
            e.query_message(),
            "Signature expired: 20220127T001407Z is now earlier than 20220127T014428Z (20220127T015928Z - 15 min.)"
        );
        let late = now + Duration::from_secs(3600);
        let e = check_signing_time(late, now, MAX).expect_err("too late");
        assert!(e.query_message().starts_with(
            "Signature not yet current: 20220127T025928Z is still later than 20220127T021428Z"
        ));
        assert!(check_signing_time(now - MAX, now, MAX).is_ok());
        assert!(check_signing_time(now + MAX, now, MAX).is_ok());
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = UNIX_EPOCH + Duration::from_secs(784_887_151);
        assert_eq!(http_date(t), "Tue, 15 Nov 1994 08:12:31 GMT");
    }

    #[test]
    fn offsets_move_both_ways_and_saturate() {
        let t = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(offset(t, 5000), t + Duration::from_secs(5));
        assert_eq!(offset(t, -5000), t - Duration::from_secs(5));
        assert_eq!(offset(t, -1_000_000), UNIX_EPOCH);
    }
}
