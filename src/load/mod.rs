//! The open-model load engine. For each load entry and each instance that
//! runs it, a pacer computes intended start times `t0 + start + phase +
//! i / share` (the entry's rate split evenly across its instances, phases
//! staggered), waits for one of the instance's workers, and dispatches the
//! call. Latency is measured from the *intended* start (coordinated-omission
//! free, like wrk2) and also from the actual send; a start later than
//! `LATE_THRESHOLD` is counted, never dropped.

pub mod ops;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::fleet::SimInstance;
use crate::observe::outcome::Outcome;
use crate::scenario::{KeyPattern, Op};
use crate::sim::rng;

/// A start this much after its intended time counts as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(10);

/// One load entry, ready to run.
#[derive(Clone, Debug)]
pub struct EntryPlan {
    pub name: String,
    pub op: Op,
    pub bucket: String,
    pub keys: Option<KeyPattern>,
    /// Body for writes.
    pub payload: Bytes,
    pub rate_per_s: f64,
    pub start: Duration,
    pub end: Duration,
    /// Fleet indexes that run this entry.
    pub instances: Vec<usize>,
}

/// One finished request, as the aggregator receives it.
#[derive(Debug)]
pub struct Observation {
    pub entry: usize,
    pub instance: usize,
    /// Intended start, since t0.
    pub intended: Duration,
    pub latency_corrected: Duration,
    pub latency_raw: Duration,
    pub late: bool,
    pub outcome: Outcome,
    pub request_id: Option<String>,
}

/// Runs every entry until its end or until `stop` turns true; returns when
/// every dispatched request has reported.
pub async fn run(
    entries: Arc<Vec<EntryPlan>>,
    fleet: Arc<Vec<SimInstance>>,
    t0: tokio::time::Instant,
    seed: u64,
    tx: mpsc::Sender<Observation>,
    stop: watch::Receiver<bool>,
) {
    let mut pacers = Vec::new();
    for (entry_index, entry) in entries.iter().enumerate() {
        let n = entry.instances.len();
        for (slot, &instance) in entry.instances.iter().enumerate() {
            let pacer = Pacer {
                entries: entries.clone(),
                fleet: fleet.clone(),
                entry_index,
                instance,
                share_per_s: entry.rate_per_s / n as f64,
                phase: slot as f64 / n as f64,
                t0,
                seed,
                tx: tx.clone(),
                stop: stop.clone(),
            };
            pacers.push(tokio::spawn(pacer.run()));
        }
    }
    drop(tx);
    for p in pacers {
        // A pacer that panicked is an internal bug; surface it.
        if let Err(e) = p.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

struct Pacer {
    entries: Arc<Vec<EntryPlan>>,
    fleet: Arc<Vec<SimInstance>>,
    entry_index: usize,
    instance: usize,
    share_per_s: f64,
    /// Fraction of a period this pacer is offset by.
    phase: f64,
    t0: tokio::time::Instant,
    seed: u64,
    tx: mpsc::Sender<Observation>,
    stop: watch::Receiver<bool>,
}

impl Pacer {
    async fn run(mut self) {
        let entry = &self.entries[self.entry_index];
        if self.share_per_s <= 0.0 {
            return;
        }
        let period_s = 1.0 / self.share_per_s;
        let mut in_flight = Vec::new();
        for i in 0u64.. {
            let offset_s = entry.start.as_secs_f64() + (self.phase + i as f64) * period_s;
            let intended = Duration::from_secs_f64(offset_s);
            if intended >= entry.end {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(self.t0 + intended) => {}
                _ = self.stop.changed() => break,
            }
            let instance = &self.fleet[self.instance];
            let permit = tokio::select! {
                p = instance.workers.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = self.stop.changed() => break,
            };
            let key = entry.keys.as_ref().map_or_else(String::new, |k| {
                let pick = rng::derive(
                    self.seed,
                    0x10AD_0000 | self.entry_index as u64,
                    (self.instance as u64) << 40 | i,
                );
                k.key(pick % k.len().max(1))
            });
            let (entries, fleet, tx) = (self.entries.clone(), self.fleet.clone(), self.tx.clone());
            let (entry_index, instance_index, t0) = (self.entry_index, self.instance, self.t0);
            in_flight.push(tokio::spawn(async move {
                let entry = &entries[entry_index];
                let sent = tokio::time::Instant::now();
                let answer = ops::execute(
                    &fleet[instance_index],
                    ops::Call {
                        op: entry.op,
                        bucket: &entry.bucket,
                        key,
                        payload: &entry.payload,
                    },
                )
                .await;
                let done = tokio::time::Instant::now();
                drop(permit);
                let intended_at = t0 + intended;
                let observation = Observation {
                    entry: entry_index,
                    instance: instance_index,
                    intended,
                    latency_corrected: done.saturating_duration_since(intended_at),
                    latency_raw: done.saturating_duration_since(sent),
                    late: sent.saturating_duration_since(intended_at) > LATE_THRESHOLD,
                    outcome: answer.outcome,
                    request_id: answer.request_id,
                };
                // The aggregator outlives every sender; a closed channel means
                // the run is being torn down and the sample has nowhere to go.
                let _ = tx.send(observation).await;
            }));
            in_flight.retain(|h: &tokio::task::JoinHandle<()>| !h.is_finished());
        }
        for h in in_flight {
            let _ = h.await;
        }
    }
}
