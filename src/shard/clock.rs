//! Wall-clock agreement between shards: how far this machine's clock is
//! from the target's (its HTTP `Date` header, read from real SDK responses)
//! and the wait for `--start-at`.
//!
//! Shards start together only as well as their clocks agree; the offset is
//! measured and recorded (`summary.json` → `shard.clock_offset_ms`), not
//! corrected: NTP-synchronised hosts agree to milliseconds, and a shard
//! whose clock is off by seconds is better reported than silently moved.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Longest watch for the `Date` header to tick (it ticks every second).
const WATCH_FOR: Duration = Duration::from_millis(1_500);
/// Gap between probes: a tick is bracketed within this plus two round trips.
const PROBE_GAP: Duration = Duration::from_millis(5);

/// The target's clock minus ours, and how sure we are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockOffset {
    pub offset_ms: f64,
    /// Half the window the target's clock was seen to tick in (±ms).
    pub uncertainty_ms: f64,
}

/// Reads the `Date` header of each response into a shared slot.
#[derive(Debug, Default, Clone)]
struct DateCapture(Arc<Mutex<Option<String>>>);

impl Intercept for DateCapture {
    fn name(&self) -> &'static str {
        "iamstorm-date-capture"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context.response().headers().get("date").map(str::to_owned);
        if let Ok(mut slot) = self.0.lock() {
            *slot = date;
        }
        Ok(())
    }
}

/// One probe: our clock before and after, and the target's `Date` (whole s).
struct Probe {
    before: SystemTime,
    after: SystemTime,
    date_s: i64,
}

fn unix_ms_f64(t: SystemTime) -> f64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// `sts:GetCallerIdentity` (every identity may call it) through the real
/// SDK, keeping the response's `Date` whatever the answer was.
async fn probe(sts: &aws_sdk_sts::Client) -> Option<Probe> {
    let capture = DateCapture::default();
    let before = SystemTime::now();
    let _ = sts
        .get_caller_identity()
        .customize()
        .interceptor(capture.clone())
        .send()
        .await;
    let after = SystemTime::now();
    let date = capture.0.lock().ok()?.clone()?;
    let parsed =
        aws_smithy_types::DateTime::from_str(&date, aws_smithy_types::date_time::Format::HttpDate)
            .ok()?;
    Some(Probe {
        before,
        after,
        date_s: parsed.secs(),
    })
}

/// Measures the offset by watching the target's `Date` tick: the second
/// changes between two probes, so the target's clock was at `date_s.000`
/// inside [previous probe's send, this probe's answer]. Falls back to one
/// probe (±500 ms plus half its round trip) if no tick is seen; `None` if
/// the target answers without a `Date` header.
pub async fn measure_offset(sts: &aws_sdk_sts::Client) -> Option<ClockOffset> {
    let deadline = tokio::time::Instant::now() + WATCH_FOR;
    let mut previous = probe(sts).await?;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(PROBE_GAP).await;
        let Some(next) = probe(sts).await else {
            break;
        };
        if next.date_s > previous.date_s {
            let lo = unix_ms_f64(previous.before);
            let hi = unix_ms_f64(next.after);
            let tick_ms = next.date_s as f64 * 1e3;
            return Some(ClockOffset {
                offset_ms: round_tenth(tick_ms - (lo + hi) / 2.0),
                uncertainty_ms: round_tenth((hi - lo) / 2.0),
            });
        }
        previous = next;
    }
    let mid = (unix_ms_f64(previous.before) + unix_ms_f64(previous.after)) / 2.0;
    let rtt = unix_ms_f64(previous.after) - unix_ms_f64(previous.before);
    Some(ClockOffset {
        offset_ms: round_tenth(previous.date_s as f64 * 1e3 + 500.0 - mid),
        uncertainty_ms: round_tenth(500.0 + rtt / 2.0),
    })
}

fn round_tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Waits until this machine's clock reads `at`; returns how late we were
/// (zero if `at` was still ahead). Sleeps on tokio's timer, which follows
/// the monotonic clock, in one go: the wall clock is read once.
pub async fn wait_until(at: SystemTime) -> Duration {
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => {
            tokio::time::sleep(ahead).await;
            Duration::ZERO
        }
        Err(late) => late.duration(),
    }
}
