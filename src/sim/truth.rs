//! Ground truth: why the double decided what it did, per request id.
//!
//! Every response the double sends carries an `x-amz-request-id`; the
//! verdict behind it is kept here so the harness can check its own
//! classifier. Memory is bounded: a ring of the most recent `capacity`
//! verdicts (older ids answer "evicted"), plus whole-run counters per
//! (service, API, outcome) kept in atomics (`GET /_iamstorm/counters`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    /// An injected fault answered it (`sim::faults`): error, outage, reset.
    Fault,
}

/// Every outcome, in counter order.
pub const OUTCOMES: [VerdictKind; 6] = [
    VerdictKind::Ok,
    VerdictKind::Denied,
    VerdictKind::Throttled,
    VerdictKind::AuthFailed,
    VerdictKind::Error,
    VerdictKind::Fault,
];

/// Most distinct (service, API) pairs counted; API names come from clients
/// (`Action=Anything`), so past this they share one `(other)` row.
pub const MAX_COUNTER_KEYS: usize = 1024;

type Row = Arc<[AtomicU64; OUTCOMES.len()]>;

/// Whole-run counts per (service, API, outcome): a read lock and one atomic
/// add per request once a pair has been seen.
#[derive(Default)]
pub struct Counters {
    rows: RwLock<HashMap<(String, String), Row>>,
}

/// One row of `GET /_iamstorm/counters`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CounterRow {
    pub service: String,
    pub api: String,
    pub ok: u64,
    pub denied: u64,
    pub throttled: u64,
    pub auth_failed: u64,
    pub error: u64,
    pub fault: u64,
}

impl Counters {
    /// Counts one verdict for `action` (`service:Api`).
    pub fn add(&self, action: &str, kind: &VerdictKind) {
        let (service, api) = action.split_once(':').unwrap_or(("unknown", action));
        let slot = OUTCOMES.iter().position(|k| k == kind).unwrap_or(0);
        let row = self.row(service, api);
        row[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn row(&self, service: &str, api: &str) -> Row {
        {
            let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = rows.get(&(service.to_owned(), api.to_owned())) {
                return r.clone();
            }
        }
        let mut rows = self.rows.write().unwrap_or_else(|e| e.into_inner());
        let key = if rows.len() >= MAX_COUNTER_KEYS {
            ("(other)".to_owned(), "(other)".to_owned())
        } else {
            (service.to_owned(), api.to_owned())
        };
        rows.entry(key).or_default().clone()
    }

    /// Every row, sorted by service then API.
    pub fn snapshot(&self) -> Vec<CounterRow> {
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<CounterRow> = rows
            .iter()
            .map(|((service, api), r)| {
                let n = |i: usize| r[i].load(Ordering::Relaxed);
                CounterRow {
                    service: service.clone(),
                    api: api.clone(),
                    ok: n(0),
                    denied: n(1),
                    throttled: n(2),
                    auth_failed: n(3),
                    error: n(4),
                    fault: n(5),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.service, &a.api).cmp(&(&b.service, &b.api)));
        out
    }

    pub fn clear(&self) {
        self.rows.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
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
    counters: Counters,
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
            counters: Counters::default(),
        }
    }

    /// Allocates the next request id.
    pub fn next_id(&self) -> RequestId {
        RequestId(self.next_seq.fetch_add(1, Ordering::Relaxed))
    }

    pub fn record(&self, id: RequestId, verdict: Verdict) {
        self.counters.add(&verdict.action, &verdict.kind);
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

    /// Whole-run counts by `kind:action` (non-zero only).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for row in self.counters.snapshot() {
            let n = [
                row.ok,
                row.denied,
                row.throttled,
                row.auth_failed,
                row.error,
                row.fault,
            ];
            for (kind, n) in OUTCOMES.iter().zip(n) {
                if n > 0 {
                    let key = format!("{}:{}:{}", kind_name(kind), row.service, row.api);
                    out.insert(key, n);
                }
            }
        }
        out
    }

    /// Whole-run counts per (service, API, outcome).
    pub fn counters(&self) -> Vec<CounterRow> {
        self.counters.snapshot()
    }

    /// Forgets every verdict and count (`POST /_iamstorm/reset`). Ids keep
    /// increasing, so an id is never reused.
    pub fn clear(&self) {
        let next = self.next_seq.load(Ordering::Relaxed);
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.first_seq = next;
        ring.slots.clear();
        drop(ring);
        self.counters.clear();
    }
}

fn kind_name(k: &VerdictKind) -> &'static str {
    match k {
        VerdictKind::Ok => "ok",
        VerdictKind::Denied => "denied",
        VerdictKind::Throttled => "throttled",
        VerdictKind::AuthFailed => "auth_failed",
        VerdictKind::Error => "error",
        VerdictKind::Fault => "fault",
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
    fn counters_split_service_api_and_outcome_and_clear_resets_them() {
        let log = TruthLog::new(8);
        for kind in [VerdictKind::Ok, VerdictKind::Ok, VerdictKind::Fault] {
            log.record(log.next_id(), v(kind));
        }
        let mut denied = v(VerdictKind::Denied);
        denied.action = "sts:AssumeRole".into();
        log.record(log.next_id(), denied);
        let rows = log.counters();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].service.as_str(), rows[0].api.as_str()),
            ("s3", "GetObject")
        );
        assert_eq!((rows[0].ok, rows[0].fault, rows[0].denied), (2, 1, 0));
        assert_eq!((rows[1].service.as_str(), rows[1].denied), ("sts", 1));
        let last = RequestId(4);
        log.clear();
        assert!(log.counters().is_empty());
        assert!(matches!(log.lookup(last), Lookup::Evicted));
        let id = log.next_id();
        log.record(id, v(VerdictKind::Ok));
        assert!(matches!(log.lookup(id), Lookup::Found { .. }));
    }

    #[test]
    fn invented_api_names_cannot_grow_the_counters_without_bound() {
        let c = Counters::default();
        for i in 0..(MAX_COUNTER_KEYS + 50) {
            c.add(&format!("iam:Made{i}"), &VerdictKind::Error);
        }
        let rows = c.snapshot();
        assert_eq!(rows.len(), MAX_COUNTER_KEYS + 1);
        assert_eq!(
            rows.iter().find(|r| r.api == "(other)").map(|r| r.error),
            Some(50)
        );
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = RequestId(0xABC);
        assert_eq!(id.to_string(), "0000000000000ABC");
        assert_eq!("0000000000000ABC".parse::<RequestId>().unwrap(), id);
    }
}
