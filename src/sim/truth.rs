//! Ground truth: why the double decided what it did, per request id.
//!
//! Every response the double sends carries an `x-amz-request-id`; the
//! verdict behind it is kept here so the harness can check its own
//! classifier. Memory is bounded: a ring of the most recent `capacity`
//! verdicts (older ids answer "evicted"), plus whole-run counters.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What the double decided for one request.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Served successfully.
    Ok,
    /// IAM evaluation denied it.
    Denied,
    /// A quota bucket was empty.
    Throttled,
    /// Authentication failed (unknown key, bad signature, expired token, skew).
    AuthFailed,
    /// The request was well-authenticated but invalid or failed for another reason.
    Error,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// e.g. `s3:GetObject`, `sts:GetCallerIdentity`, `imds:GetCredentials`.
    pub action: String,
    pub principal: Option<String>,
    /// Which authorizer replica evaluated it, and at which IAM version.
    pub replica: Option<u16>,
    pub version: Option<u64>,
    /// The AWS error code sent, if any.
    pub code: Option<String>,
    /// Plain words: which statement allowed, why denied, which bucket was dry.
    pub reason: String,
    /// When the decision was made, ms since the double started.
    pub at_ms: u64,
}

struct Ring {
    first_seq: u64,
    slots: Vec<Option<Verdict>>,
}

/// The log. Request ids are the sequence number in 16 hex digits.
pub struct TruthLog {
    next_seq: AtomicU64,
    capacity: usize,
    ring: Mutex<Ring>,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// The answer to "what happened to request X".
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Lookup {
    Found { verdict: Verdict },
    Evicted,
    Pending,
    Unknown,
}

impl TruthLog {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0);
        Self {
            next_seq: AtomicU64::new(1),
            capacity,
            ring: Mutex::new(Ring {
                first_seq: 1,
                slots: Vec::new(),
            }),
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Allocates the next request id.
    pub fn next_id(&self) -> RequestId {
        RequestId(self.next_seq.fetch_add(1, Ordering::Relaxed))
    }

    pub fn record(&self, id: RequestId, verdict: Verdict) {
        {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let key = format!("{}:{}", kind_name(&verdict.kind), verdict.action);
            *counts.entry(key).or_insert(0) += 1;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let seq = id.0;
        if seq < ring.first_seq {
            return;
        }
        let cap = self.capacity as u64;
        // Slide the window so that `seq` fits.
        while seq >= ring.first_seq + cap {
            let first = ring.first_seq;
            let idx = (first % cap) as usize;
            if idx < ring.slots.len() {
                ring.slots[idx] = None;
            }
            ring.first_seq += 1;
        }
        let idx = (seq % cap) as usize;
        if ring.slots.len() <= idx {
            ring.slots.resize(idx + 1, None);
        }
        ring.slots[idx] = Some(verdict);
    }

    pub fn lookup(&self, id: RequestId) -> Lookup {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let cap = self.capacity as u64;
        if id.0 == 0 || id.0 >= self.next_seq.load(Ordering::Relaxed) {
            return Lookup::Unknown;
        }
        if id.0 < ring.first_seq {
            return Lookup::Evicted;
        }
        match ring.slots.get((id.0 % cap) as usize) {
            Some(Some(v)) => Lookup::Found { verdict: v.clone() },
            _ => Lookup::Pending,
        }
    }

    /// Whole-run counts by `kind:action`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn kind_name(k: &VerdictKind) -> &'static str {
    match k {
        VerdictKind::Ok => "ok",
        VerdictKind::Denied => "denied",
        VerdictKind::Throttled => "throttled",
        VerdictKind::AuthFailed => "auth_failed",
        VerdictKind::Error => "error",
    }
}

/// A request id: formatted like AWS's, 16 uppercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

impl std::str::FromStr for RequestId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(RequestId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: VerdictKind) -> Verdict {
        Verdict {
            kind,
            action: "s3:GetObject".into(),
            principal: None,
            replica: None,
            version: None,
            code: None,
            reason: String::new(),
            at_ms: 0,
        }
    }

    #[test]
    fn ring_keeps_the_newest_and_reports_evicted() {
        let log = TruthLog::new(4);
        let ids: Vec<_> = (0..10).map(|_| log.next_id()).collect();
        for id in &ids {
            log.record(*id, v(VerdictKind::Ok));
        }
        assert!(matches!(log.lookup(ids[0]), Lookup::Evicted));
        assert!(matches!(log.lookup(ids[9]), Lookup::Found { .. }));
        assert!(matches!(log.lookup(RequestId(999)), Lookup::Unknown));
        assert_eq!(log.counts().get("ok:s3:GetObject"), Some(&10));
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = RequestId(0xABC);
        assert_eq!(id.to_string(), "0000000000000ABC");
        assert_eq!("0000000000000ABC".parse::<RequestId>().unwrap(), id);
    }
}
