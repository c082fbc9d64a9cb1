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
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
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

/// The counters' key once [`MAX_COUNTER_KEYS`] is reached.
const OTHER_ACTION: &str = "(other):(other)";

/// Whole-run counts per (service, API, outcome): a read lock and one atomic
/// add per request once a pair has been seen.
#[derive(Default)]
pub struct Counters {
    /// By action (`service:Api`), so a lookup borrows the request's text.
    rows: RwLock<HashMap<String, Row>>,
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
        let slot = OUTCOMES.iter().position(|k| k == kind).unwrap_or(0);
        {
            let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = rows.get(action) {
                r[slot].fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut rows = self.rows.write().unwrap_or_else(|e| e.into_inner());
        let key = if rows.len() >= MAX_COUNTER_KEYS && !rows.contains_key(action) {
            OTHER_ACTION.to_owned()
        } else {
            action.to_owned()
        };
        rows.entry(key).or_default()[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Every row, sorted by service then API.
    pub fn snapshot(&self) -> Vec<CounterRow> {
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<CounterRow> = rows
            .iter()
            .map(|(action, r)| {
                let n = |i: usize| r[i].load(Ordering::Relaxed);
                let (service, api) = match action.split_once(':') {
                    _ if action == OTHER_ACTION => ("(other)", "(other)"),
                    Some(pair) => pair,
                    None => ("unknown", action.as_str()),
                };
                CounterRow {
                    service: service.to_owned(),
                    api: api.to_owned(),
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

/// What [`TruthLog::record`] takes: a verdict's parts, borrowed, so
/// recording allocates nothing for texts it has seen before.
#[derive(Clone, Copy, Debug)]
pub struct VerdictParts<'a> {
    pub kind: VerdictKind,
    pub action: &'a str,
    pub principal: Option<&'a str>,
    pub replica: Option<u16>,
    pub version: Option<u64>,
    pub code: Option<&'a str>,
    pub reason: &'a str,
    pub at_ms: u64,
}

/// Most distinct texts (actions, principals, codes, reasons) the log
/// keeps; they repeat across requests, so this is only reached by clients
/// inventing API names. Past it a verdict's new texts read [`DROPPED_TEXT`].
pub const MAX_TEXTS: usize = 1 << 16;
/// Stands in for a text past [`MAX_TEXTS`].
pub const DROPPED_TEXT: &str = "(not kept: more than 65,536 distinct verdict texts)";
const TEXT_NONE: u32 = u32::MAX;
const TEXT_DROPPED: u32 = u32::MAX - 1;

/// Each distinct text once, by a 4-byte id.
#[derive(Default)]
struct Texts {
    ids: HashMap<Arc<str>, u32>,
    texts: Vec<Arc<str>>,
}

impl Texts {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        if self.texts.len() >= MAX_TEXTS {
            return TEXT_DROPPED;
        }
        let id = self.texts.len() as u32;
        let text: Arc<str> = Arc::from(text);
        self.texts.push(text.clone());
        self.ids.insert(text, id);
        id
    }

    fn opt_id(&mut self, text: Option<&str>) -> u32 {
        text.map_or(TEXT_NONE, |t| self.id(t))
    }

    fn text(&self, id: u32) -> Option<String> {
        match id {
            TEXT_NONE => None,
            TEXT_DROPPED => Some(DROPPED_TEXT.to_owned()),
            id => Some(self.texts[id as usize].to_string()),
        }
    }
}

const KINDS: [VerdictKind; 6] = OUTCOMES;
const NO_REPLICA: u16 = u16::MAX;
const NO_VERSION: u64 = u64::MAX;

/// One stored verdict in 48 bytes: texts by id, `seq` 0 when empty.
#[derive(Clone, Copy)]
struct Slot {
    seq: u64,
    at_ms: u64,
    version: u64,
    action: u32,
    principal: u32,
    code: u32,
    reason: u32,
    replica: u16,
    kind: u8,
}

impl Slot {
    /// Not all-zero on purpose: filling the ring with it writes every page,
    /// so the ring's memory is resident from the start and RSS stays flat
    /// as it fills (`results/bench/memory.md`).
    const EMPTY: Slot = Slot {
        seq: 0,
        at_ms: 0,
        version: NO_VERSION,
        action: TEXT_NONE,
        principal: TEXT_NONE,
        code: TEXT_NONE,
        reason: TEXT_NONE,
        replica: NO_REPLICA,
        kind: u8::MAX,
    };
}

struct Ring {
    first_seq: u64,
    slots: Vec<Slot>,
    texts: Texts,
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
    /// A log of the last `capacity` verdicts, its memory (48 bytes a
    /// verdict) taken now rather than as requests arrive.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0);
        Self {
            next_seq: AtomicU64::new(1),
            capacity,
            ring: Mutex::new(Ring {
                first_seq: 1,
                slots: vec![Slot::EMPTY; capacity],
                texts: Texts::default(),
            }),
            counters: Counters::default(),
        }
    }

    /// Allocates the next request id.
    pub fn next_id(&self) -> RequestId {
        RequestId(self.next_seq.fetch_add(1, Ordering::Relaxed))
    }

    pub fn record(&self, id: RequestId, verdict: VerdictParts<'_>) {
        self.counters.add(verdict.action, &verdict.kind);
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let seq = id.0;
        if seq < ring.first_seq {
            return;
        }
        let cap = self.capacity as u64;
        // Slide the window so that `seq` fits; the slots it passes over
        // are overwritten below or recognised as stale by their `seq`.
        if seq >= ring.first_seq + cap {
            ring.first_seq = seq + 1 - cap;
        }
        let ring = &mut *ring;
        let slot = Slot {
            seq,
            at_ms: verdict.at_ms,
            version: verdict.version.unwrap_or(NO_VERSION),
            action: ring.texts.id(verdict.action),
            principal: ring.texts.opt_id(verdict.principal),
            code: ring.texts.opt_id(verdict.code),
            reason: ring.texts.id(verdict.reason),
            replica: verdict.replica.unwrap_or(NO_REPLICA),
            kind: KINDS.iter().position(|k| *k == verdict.kind).unwrap_or(0) as u8,
        };
        ring.slots[(seq % cap) as usize] = slot;
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
        let slot = ring.slots[(id.0 % cap) as usize];
        if slot.seq != id.0 {
            return Lookup::Pending;
        }
        let text = |id: u32| ring.texts.text(id);
        Lookup::Found {
            verdict: Verdict {
                kind: KINDS[usize::from(slot.kind)],
                action: text(slot.action).unwrap_or_default(),
                principal: text(slot.principal),
                replica: (slot.replica != NO_REPLICA).then_some(slot.replica),
                version: (slot.version != NO_VERSION).then_some(slot.version),
                code: text(slot.code),
                reason: text(slot.reason).unwrap_or_default(),
                at_ms: slot.at_ms,
            },
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
        ring.texts = Texts::default();
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

    fn v(kind: VerdictKind) -> VerdictParts<'static> {
        VerdictParts {
            kind,
            action: "s3:GetObject",
            principal: None,
            replica: None,
            version: None,
            code: None,
            reason: "",
            at_ms: 0,
        }
    }

    #[test]
    fn repeated_texts_are_kept_once_and_lookups_rebuild_the_verdict() {
        let log = TruthLog::new(16);
        let mut last = RequestId(0);
        for i in 0..40u64 {
            last = log.next_id();
            log.record(
                last,
                VerdictParts {
                    kind: VerdictKind::Denied,
                    action: "s3:GetObject",
                    principal: Some("arn:aws:sts::123456789012:assumed-role/app/i-1"),
                    replica: Some(3),
                    version: Some(i),
                    code: Some("AccessDenied"),
                    reason: "implicit deny: no identity-based policy allows the action",
                    at_ms: 1000 + i,
                },
            );
        }
        assert_eq!(log.ring.lock().unwrap().texts.texts.len(), 4);
        let Lookup::Found { verdict } = log.lookup(last) else {
            panic!("the newest verdict is kept");
        };
        assert_eq!(verdict.kind, VerdictKind::Denied);
        assert_eq!(verdict.action, "s3:GetObject");
        assert_eq!(
            verdict.principal.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/app/i-1")
        );
        assert_eq!((verdict.replica, verdict.version), (Some(3), Some(39)));
        assert_eq!(verdict.code.as_deref(), Some("AccessDenied"));
        assert_eq!(verdict.at_ms, 1039);
        assert!(matches!(
            log.lookup(RequestId(last.0 - 16)),
            Lookup::Evicted
        ));
    }

    #[test]
    fn texts_past_the_cap_read_as_dropped() {
        let log = TruthLog::new(4);
        let mut last = RequestId(0);
        for i in 0..=MAX_TEXTS {
            last = log.next_id();
            let action = format!("svc:Api{i}");
            log.record(
                last,
                VerdictParts {
                    action: &action,
                    ..v(VerdictKind::Error)
                },
            );
        }
        let Lookup::Found { verdict } = log.lookup(last) else {
            panic!("kept");
        };
        assert_eq!(verdict.action, DROPPED_TEXT);
        assert_eq!(log.ring.lock().unwrap().texts.texts.len(), MAX_TEXTS);
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
        denied.action = "sts:AssumeRole";
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
