//! The load engine. Open model: for each load entry a pacer takes intended
//! start times from the entry's rate profile ([`profile::Schedule`]:
//! uniform or Poisson arrivals, fleet-wide) and hands each request to the
//! next running instance of the entry's group in turn — so the rate is
//! split evenly over whatever instances run *at that moment*, and a
//! scale-out or scale-in changes the split, not the rate. The request takes
//! one of that instance's workers and is dispatched. Latency is measured
//! from the *intended* start (coordinated-omission free, like wrk2) and also
//! from the actual send; a start later than `LATE_THRESHOLD` is counted,
//! never dropped. When every worker of the instance is busy at the intended
//! start, the request is refused (the instance's in-flight cap) and reported
//! as [`Event::Refused`], never silently dropped. Closed model: each of the
//! entry's workers per instance loops request → answer → think; latency is
//! from the send. Closed workers run on the instances present at start
//! (scale-out adds open-model capacity only).

pub mod keys;
pub mod ops;
pub mod profile;
pub mod raw;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::fleet::{Fleet, SimInstance};
use crate::guard::caps::{Admit, Budget};
use crate::observe::outcome::Outcome;
use crate::scenario::{KeyPattern, LoadModel, Op};
use profile::Schedule;
use raw::{RawEngine, RawEntry};

/// A start this much after its intended time counts as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(10);

/// One load entry, ready to run.
#[derive(Clone, Debug)]
pub struct EntryPlan {
    pub name: String,
    pub op: Op,
    pub bucket: String,
    pub keys: Option<KeyPattern>,
    /// How requests pick among `keys`.
    pub key_choice: keys::KeyChoice,
    /// `sts:AssumeRole` / `iam:GetRole`: the role's name and ARN (empty otherwise).
    pub role_name: String,
    pub role_arn: String,
    /// `sts:AssumeRole`'s session name (empty otherwise).
    pub session_name: String,
    /// Body for writes.
    pub payload: Bytes,
    /// The entry's own SDK behaviour (retries, timeouts), applied to each
    /// of its calls; `None`: the instance's.
    pub sdk: Option<crate::target::clients::SdkSettings>,
    /// `Some`: the entry runs on the raw engine, with this request.
    pub raw: Option<RawEntry>,
    pub model: LoadModel,
    pub start: Duration,
    pub end: Duration,
    /// The `[[fleet]]` group that runs it; `None`: every group.
    pub group: Option<String>,
}

/// What a sender reports to the aggregator.
#[derive(Debug)]
pub enum Event {
    /// A request was sent and answered (or failed).
    Done(Observation),
    /// An open-model request was due but every worker of its instance was
    /// busy: it was not sent.
    Refused {
        entry: usize,
        /// `None` when no instance of the entry's group was running.
        instance: Option<usize>,
        /// Intended start, since t0.
        intended: Duration,
    },
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
/// every dispatched request has reported. `raw` is the run's raw engine,
/// needed exactly when an entry runs on it.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    entries: Arc<Vec<EntryPlan>>,
    fleet: Arc<Fleet>,
    raw: Option<Arc<RawEngine>>,
    t0: tokio::time::Instant,
    seed: u64,
    tx: mpsc::Sender<Event>,
    stop: watch::Receiver<bool>,
    budget: Arc<Budget>,
) {
    assert!(
        raw.is_some() || entries.iter().all(|e| e.raw.is_none()),
        "a raw entry needs the run's raw engine"
    );
    let mut pacers = Vec::new();
    for (entry_index, entry) in entries.iter().enumerate() {
        let ctx = Context {
            entries: entries.clone(),
            entry_index,
            raw: raw.clone(),
            t0,
            seed,
            tx: tx.clone(),
            stop: stop.clone(),
            budget: budget.clone(),
        };
        match &entry.model {
            LoadModel::Open { profile, arrivals } => {
                let schedule = Schedule::new(
                    profile.clone(),
                    entry.end.saturating_sub(entry.start),
                    1.0,
                    0.0,
                    *arrivals,
                    seed,
                    STREAM_ARRIVALS | (entry_index as u64) << 20,
                );
                let pacer = Pacer {
                    ctx,
                    fleet: fleet.clone(),
                    schedule,
                };
                pacers.push(tokio::spawn(pacer.run()));
            }
            LoadModel::Closed {
                workers_per_instance,
                think_time,
            } => {
                let groups = entry.group.clone().map(|g| vec![g]);
                for instance in fleet.active(groups.as_deref()) {
                    for worker in 0..*workers_per_instance {
                        let w = ClosedWorker {
                            ctx: ctx.clone(),
                            instance: instance.clone(),
                            worker,
                            think_time: *think_time,
                        };
                        pacers.push(tokio::spawn(w.run()));
                    }
                }
            }
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

/// Random stream of Poisson arrivals (the entry and instance are mixed in).
const STREAM_ARRIVALS: u64 = 0xA221_0000_0000_0000;
/// Random stream of key choices.
const STREAM_KEYS: u64 = 0x10AD_0000;

/// What every sender of one entry shares.
#[derive(Clone)]
struct Context {
    entries: Arc<Vec<EntryPlan>>,
    entry_index: usize,
    /// The run's raw engine (one client, one pool), when an entry uses it.
    raw: Option<Arc<RawEngine>>,
    t0: tokio::time::Instant,
    seed: u64,
    tx: mpsc::Sender<Event>,
    stop: watch::Receiver<bool>,
    /// The run's hard caps (`--max-rate`, `--max-requests`).
    budget: Arc<Budget>,
}

impl Context {
    fn entry(&self) -> &EntryPlan {
        &self.entries[self.entry_index]
    }

    /// The key of request `index` of this sender (`stream` tells senders
    /// of one entry apart).
    fn key(&self, stream: u64, index: u64) -> String {
        let entry = self.entry();
        entry.keys.as_ref().map_or_else(String::new, |k| {
            // Built per call: a sampler is a handful of floats.
            let sampler = keys::KeySampler::new(entry.key_choice, k.len().max(1));
            let pick = sampler.pick(
                self.seed,
                STREAM_KEYS | self.entry_index as u64,
                stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index,
            );
            k.key(pick)
        })
    }

    /// Sends one request and reports it. `intended` is the start the
    /// schedule meant (open) or the send itself (closed).
    async fn send(&self, instance: &SimInstance, key: String, intended: tokio::time::Instant) {
        let entry = self.entry();
        let sent = tokio::time::Instant::now();
        let answer = match (&entry.raw, &self.raw) {
            (Some(request), Some(engine)) => engine.execute(instance, request, &key).await,
            _ => {
                ops::execute(
                    instance,
                    ops::Call {
                        op: entry.op,
                        bucket: &entry.bucket,
                        key,
                        payload: &entry.payload,
                        role_name: &entry.role_name,
                        role_arn: &entry.role_arn,
                        session_name: &entry.session_name,
                        sdk: entry.sdk.as_ref(),
                    },
                )
                .await
            }
        };
        let done = tokio::time::Instant::now();
        let observation = Observation {
            entry: self.entry_index,
            instance: instance.index,
            intended: intended.saturating_duration_since(self.t0),
            latency_corrected: done.saturating_duration_since(intended),
            latency_raw: done.saturating_duration_since(sent),
            late: sent.saturating_duration_since(intended) > LATE_THRESHOLD,
            outcome: answer.outcome,
            request_id: answer.request_id,
        };
        // The aggregator outlives every sender; a closed channel means
        // the run is being torn down and the sample has nowhere to go.
        let _ = self.tx.send(Event::Done(observation)).await;
    }
}

/// An entry's open-model pacer: its schedule, dealt round-robin over the
/// running instances of its group.
struct Pacer {
    ctx: Context,
    fleet: Arc<Fleet>,
    schedule: Schedule,
}

impl Pacer {
    async fn run(mut self) {
        let start = self.ctx.entry().start;
        let groups = self.ctx.entry().group.clone().map(|g| vec![g]);
        let mut running: Vec<Arc<SimInstance>> = Vec::new();
        let mut seen_version = None;
        let mut in_flight = Vec::new();
        for i in 0u64.. {
            let Some(offset) = self.schedule.next_offset() else {
                break;
            };
            let intended = self.ctx.t0 + start + offset;
            tokio::select! {
                _ = tokio::time::sleep_until(intended) => {}
                _ = self.ctx.stop.changed() => break,
            }
            let version = self.fleet.version();
            if seen_version != Some(version) {
                running = self.fleet.active(groups.as_deref());
                seen_version = Some(version);
            }
            let refused = |instance| Event::Refused {
                entry: self.ctx.entry_index,
                instance,
                intended: intended.saturating_duration_since(self.ctx.t0),
            };
            if running.is_empty() {
                let _ = self.ctx.tx.send(refused(None)).await;
                continue;
            }
            let instance = running[(i % running.len() as u64) as usize].clone();
            let permit = match instance.workers.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    let _ = self.ctx.tx.send(refused(Some(instance.index))).await;
                    continue;
                }
                Err(tokio::sync::TryAcquireError::Closed) => break,
            };
            // The hard caps: a request over the rate cap is refused like one
            // over the in-flight cap; once the request cap is spent, stop.
            match self.ctx.budget.admit() {
                Admit::Send => {}
                Admit::RateCapped => {
                    drop(permit);
                    let _ = self.ctx.tx.send(refused(Some(instance.index))).await;
                    continue;
                }
                Admit::Exhausted => break,
            }
            let key = self.ctx.key(0, i);
            let ctx = self.ctx.clone();
            in_flight.push(tokio::spawn(async move {
                ctx.send(&instance, key, intended).await;
                drop(permit);
            }));
            in_flight.retain(|h: &tokio::task::JoinHandle<()>| !h.is_finished());
        }
        for h in in_flight {
            let _ = h.await;
        }
    }
}

/// One closed-model worker: request, answer, think, until the entry ends.
struct ClosedWorker {
    ctx: Context,
    instance: Arc<SimInstance>,
    worker: u32,
    think_time: Duration,
}

impl ClosedWorker {
    async fn run(mut self) {
        let entry = self.ctx.entry();
        let (begin, end) = (self.ctx.t0 + entry.start, self.ctx.t0 + entry.end);
        tokio::select! {
            _ = tokio::time::sleep_until(begin) => {}
            _ = self.ctx.stop.changed() => return,
        }
        for i in 0u64.. {
            if tokio::time::Instant::now() >= end
                || *self.ctx.stop.borrow()
                || self
                    .instance
                    .retired
                    .load(std::sync::atomic::Ordering::Acquire)
            {
                break;
            }
            let workers = self.instance.workers.clone();
            let permit = tokio::select! {
                p = workers.acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = self.ctx.stop.changed() => break,
            };
            if !self.ctx.budget.admit_wait().await {
                break;
            }
            let stream = (self.instance.index as u64 + 1) << 16 | u64::from(self.worker);
            let key = self.ctx.key(stream, i);
            // Closed model: no schedule, so latency is from the send.
            self.ctx
                .send(&self.instance, key, tokio::time::Instant::now())
                .await;
            drop(permit);
            if !self.think_time.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(self.think_time) => {}
                    _ = self.ctx.stop.changed() => break,
                }
            }
        }
    }
}
