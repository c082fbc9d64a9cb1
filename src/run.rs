//! `iamstorm run`: scenario → target → setup → fleet → load + timeline →
//! ground truth → reports. Errors from the target are data in the reports;
//! only a target that cannot be reached or set up ends the run early.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use tokio::sync::{mpsc, watch};

use crate::chaos::{self, ChangeRecord};
use crate::exit::Exit;
use crate::fleet::{self, Fleet, GroupSpec};
use crate::guard;
use crate::load::raw::{RawEngine, RawEntry};
use crate::load::{self, EntryPlan, Event};
use crate::observe::metrics::{Metrics, Sample, saturating_us};
use crate::observe::propagation::{
    Change, ChangeKind, PropagationResult, PropagationTracker, Truth,
};
use crate::observe::truth_check;
use crate::report::summary::ClassCounts;
use crate::report::{
    self,
    summary::{RunInfo, Summary, TimelineChange},
};
use crate::scenario::{self, Engine, Measure, Scenario, TargetKind};
use crate::setup;
use crate::sim::SimConfig;
use crate::sim::consistency::PropagationConfig;
use crate::target::Target;
use crate::target::admin::PropagationTruth;
use crate::target::clients::{self, SdkSettings};

/// Metrics are bucketed per second.
const INTERVAL: Duration = Duration::from_secs(1);

/// What the `run` command was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub scenario: PathBuf,
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub quiet: bool,
    /// `--threshold` gates, judged with the scenario's own.
    pub thresholds: Vec<crate::thresholds::Threshold>,
    /// `--metrics-addr`: serve live Prometheus text here while the run goes.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `--target`, `--endpoint-url`, `--allow-aws`, `--max-rate`, `--max-requests`.
    pub guard: guard::Overrides,
    /// `--dry-run`: print every call, send nothing.
    pub dry_run: bool,
    /// `--shard`, `--run-id`, `--start-at`, `--results-uri` as given.
    pub sharding: crate::shard::ShardFlags,
    /// Resolved from `sharding` and the environment by `run_scenario`.
    pub shard: Option<crate::shard::ShardRun>,
}

/// Where a finished run's files are and what it measured.
pub struct RunOutcome {
    pub out_dir: PathBuf,
    pub summary: Summary,
    pub interrupted: bool,
}

/// The `run` command: prints progress and the summary, returns the exit code.
pub async fn run_scenario(mut opts: RunOptions) -> Exit {
    let scenario = match scenario::load(&opts.scenario) {
        Ok(s) => s,
        Err(e) => {
            errln!("{e}");
            return Exit::BadInput;
        }
    };
    // A shard runs its share of the scenario (crate::shard).
    let scenario = match crate::shard::prepare(
        scenario,
        &opts.sharding,
        opts.seed,
        &opts.thresholds,
        |name| std::env::var(name).ok(),
    ) {
        Ok((scenario, None)) => scenario,
        Ok((scenario, Some(shard))) => {
            opts.seed = Some(shard.seed);
            if shard.spec.count > 1 {
                opts.thresholds.clear();
            }
            opts.shard = Some(shard);
            scenario
        }
        Err(e) => {
            errln!("error: {e}");
            return Exit::BadInput;
        }
    };
    if opts.dry_run {
        return match rails(&scenario, &opts) {
            Ok(rails) => {
                out!("{}", guard::dry_run::render(&scenario, &rails));
                Exit::Ok
            }
            Err(RunError { exit, message }) => {
                errln!("error: {message}");
                exit
            }
        };
    }
    match execute(&scenario, &opts).await {
        Ok(done) => {
            let mut stdout = std::io::stdout();
            let _ = report::console::render(&done.summary, &mut stdout);
            outln!("results: {}", done.out_dir.display());
            let failed = done.summary.thresholds.iter().filter(|t| !t.passed).count();
            if done.interrupted {
                errln!("interrupted: the results above cover what ran before the signal");
                Exit::Interrupted
            } else if let Some(why) = &done.summary.aborted {
                errln!("aborted: {why} (exit 1)");
                Exit::ThresholdsFailed
            } else if failed > 0 {
                errln!(
                    "{failed} of {} thresholds failed (exit 1)",
                    done.summary.thresholds.len()
                );
                Exit::ThresholdsFailed
            } else {
                Exit::Ok
            }
        }
        Err(RunError { exit, message }) => {
            errln!("error: {message}");
            exit
        }
    }
}

/// A run that could not produce results.
#[derive(Debug)]
pub struct RunError {
    pub exit: Exit,
    pub message: String,
}

/// The target and its safety rails for this run; every problem at once.
fn rails(scenario: &Scenario, opts: &RunOptions) -> Result<guard::Rails, RunError> {
    // A dry run sends nothing: it is how one reads the plan before allowing AWS.
    let overrides = guard::Overrides {
        allow_aws: opts.guard.allow_aws || opts.dry_run,
        ..opts.guard.clone()
    };
    guard::resolve(scenario, &overrides, std::env::var("AWS_ENDPOINT_URL").ok()).map_err(
        |problems| RunError {
            exit: Exit::BadInput,
            message: problems.join("\nerror: "),
        },
    )
}

fn target_error(message: impl std::fmt::Display) -> RunError {
    RunError {
        exit: Exit::TargetUnavailable,
        message: message.to_string(),
    }
}

/// The run id: UTC timestamp + scenario name.
pub fn run_id(name: &str, at: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(at);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!(
        "{}-{name}",
        dt.format(&fmt).unwrap_or_else(|_| "run".to_owned())
    )
}

/// The double's configuration for `scenario` (also what `iamstorm sim --scenario` serves).
pub fn sim_config(scenario: &Scenario, seed: u64) -> SimConfig {
    let s = &scenario.sim;
    SimConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        account_id: s.account_id.clone(),
        seed,
        propagation: PropagationConfig {
            replicas: s.replicas,
            delay: s.propagation.to_delay_model(),
            grant_delay: s.grant.as_ref().map(|p| p.to_delay_model()),
            revoke_delay: s.revoke.as_ref().map(|p| p.to_delay_model()),
            routing: s.routing,
        },
        quotas: s.quotas.clone(),
        new_credential_lag: s.new_credential_lag,
        ..imds_config(s, SimConfig::default())
    }
}

/// `[sim.imds]` over `base`.
fn imds_config(s: &crate::scenario::SimSettings, base: SimConfig) -> SimConfig {
    SimConfig {
        instance_credentials_ttl: s
            .imds_credentials_ttl
            .unwrap_or(base.instance_credentials_ttl),
        instance_credentials_rotate_before: s
            .imds_rotate_before
            .unwrap_or(base.instance_credentials_rotate_before),
        imds_association_lag: s.imds_association_lag.unwrap_or(base.imds_association_lag),
        ..base
    }
}

/// Runs a loaded scenario end to end and writes its results.
pub async fn execute(scenario: &Scenario, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let rails = rails(scenario, opts)?;
    let seed = opts.seed.or(scenario.seed).unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    if opts.shard.as_ref().is_some_and(|s| s.results.is_some()) && rails.kind == TargetKind::Sim {
        return Err(RunError {
            exit: Exit::BadInput,
            message: "--results-uri uploads to the target's S3, and the embedded double ends with the run\n  help: run against a target that outlives it (--target endpoint or aws)".to_owned(),
        });
    }
    let id = opts.shard.as_ref().map_or_else(
        || run_id(&scenario.name, SystemTime::now()),
        |s| s.run_id.clone(),
    );
    let out_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&id));
    std::fs::create_dir_all(&out_dir).map_err(|e| RunError {
        exit: Exit::BadInput,
        message: format!(
            "cannot create the output directory {}: {e}\n  help: pass a writable --out DIR",
            out_dir.display()
        ),
    })?;
    let say = |line: String| {
        if !opts.quiet {
            errln!("{line}");
        }
    };
    match &opts.shard {
        Some(shard) => outln!("iamstorm run {} — {}", scenario.name, shard.describe()),
        None => outln!(
            "iamstorm run {} — seed {seed} (replay with --seed {seed})",
            scenario.name
        ),
    }
    for w in crate::scenario::plausibility::warnings(scenario) {
        errln!("warning: {w}");
    }
    // From here a signal ends the run with results written (exit 130): before
    // the load starts they say so and hold no requests.
    let mut shutdown = crate::cli::ShutdownSignal::install();
    let before_load = BeforeLoad {
        scenario,
        out_dir: &out_dir,
        id: &id,
        seed,
    };

    let started_target = unless_interrupted(&mut shutdown, async {
        match rails.kind {
            TargetKind::Sim => Target::embedded(sim_config(scenario, seed))
                .await
                .map_err(|e| target_error(format!("cannot start the embedded double: {e}"))),
            kind => Target::connect(kind, rails.endpoint_url.clone(), rails.region.clone())
                .await
                .map_err(target_error),
        }
    })
    .await;
    let Some(target) = started_target else {
        return before_load.interrupted("while the target was being reached");
    };
    let target = target?;
    // Shared with the timeline, which launches instances on scale-out.
    let target = Arc::new(target);
    say(format!("target: {}", target.describe()));
    if rails.caps != guard::Caps::default() {
        say(format!(
            "caps: rate {}, requests {}",
            rails
                .caps
                .max_rate_per_s
                .map_or_else(|| "none".to_owned(), |r| format!("{r}/s")),
            rails
                .caps
                .max_requests
                .map_or_else(|| "none".to_owned(), |n| n.to_string())
        ));
    }
    if target.double_admin().is_none()
        && let Some(action) = chaos::double_only(&scenario.timeline).first()
    {
        return Err(RunError {
            exit: Exit::BadInput,
            message: format!(
                "the [[timeline]] action at {:?} ({}) needs the iamstorm double's admin API, which {} does not have\n  help: run against the embedded double (--target sim) or a standalone `iamstorm sim` (--target endpoint)",
                action.at,
                action.kind.name(),
                target.describe()
            ),
        });
    }
    if target.double_admin().is_none() && !scenario.sim.faults.is_empty() {
        return Err(RunError {
            exit: Exit::BadInput,
            message: format!(
                "[[sim.faults]] need the iamstorm double's admin API, which {} does not have\n  help: remove them for this target",
                target.describe()
            ),
        });
    }
    if target.double_admin().is_some()
        && std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
    {
        errln!(
            "warning: AWS_EC2_METADATA_DISABLED=true: the SDK's IMDS provider refuses every fetch, so the simulated instances get no credentials; unset it for this run"
        );
    }
    // The raw engine's one client, checked before the target is touched.
    let raw_engine = if scenario.load.iter().any(|l| l.engine == Engine::Raw) {
        let engine = RawEngine::new(
            target.endpoint_url.as_deref(),
            &target.region,
            scenario.sdk.connect_timeout,
        )
        .map_err(|e| RunError {
            exit: Exit::BadInput,
            message: e.to_string(),
        })?;
        Some(Arc::new(engine))
    } else {
        None
    };
    let operator = clients::operator_config(&target);
    let iam = clients::iam(&operator);
    let s3_operator = clients::s3(&operator);
    say(format!(
        "setup: {} roles, {} buckets",
        scenario.roles.len(),
        scenario.buckets.len()
    ));
    let set_up = unless_interrupted(&mut shutdown, async {
        if rails.kind == TargetKind::Aws {
            setup::verify(scenario, &iam, &s3_operator)
                .await
                .map_err(target_error)?;
        } else {
            setup::apply(scenario, &iam, &s3_operator)
                .await
                .map_err(target_error)?;
        }
        if let Some(admin) = target.double_admin() {
            admin.converge().await.map_err(target_error)?;
        }
        Ok::<(), RunError>(())
    })
    .await;
    let Some(set_up) = set_up else {
        return before_load.interrupted("during setup");
    };
    set_up?;
    let journal = if rails.journaled() {
        let path = out_dir.join(guard::journal::JOURNAL_FILE);
        let header = guard::journal::Header::new(
            &id,
            rails.kind.as_str(),
            target.endpoint_url.as_deref(),
            &target.region,
            &target.account_id,
        );
        let journal = guard::Journal::create(&path, &header).map_err(|e| RunError {
            exit: Exit::BadInput,
            message: format!(
                "{e}\n  help: pass a fresh --out DIR (a journal is never overwritten)"
            ),
        })?;
        say(format!("journal: {}", path.display()));
        Some(Arc::new(journal))
    } else {
        None
    };
    let budget = Arc::new(guard::Budget::new(&rails.caps));

    let groups: Vec<GroupSpec> = scenario
        .fleet
        .iter()
        .map(|g| GroupSpec {
            group: g.group.clone(),
            instance_profile: Some(g.instance_profile.clone()),
            instances: g.instances,
            workers_per_instance: g.workers_per_instance,
            boot_delay: g.boot_delay,
        })
        .collect();
    let sdk = SdkSettings::from(&scenario.sdk);
    say(format!(
        "fleet: launching {} instances",
        groups.iter().map(|g| g.instances).sum::<u32>()
    ));
    let Some(launched) =
        unless_interrupted(&mut shutdown, fleet::launch(&target, &groups, &sdk)).await
    else {
        return before_load.interrupted("while the fleet booted");
    };
    let launched = launched.map_err(target_error)?;
    let booted = launched
        .iter()
        .filter(|i| i.boot.outcome.class == crate::observe::outcome::OutcomeClass::Ok)
        .count();
    say(format!(
        "fleet: {} instances launched, {booted} got credentials from {}",
        launched.len(),
        if target.double_admin().is_some() {
            "their IMDS"
        } else {
            "the default chain"
        }
    ));

    let entries = Arc::new(plan_entries(scenario));
    let fleet = Arc::new(Fleet::new(launched, &groups));
    let mut metrics = Metrics::new(entries.iter().map(|e| e.name.clone()).collect(), INTERVAL)
        .with_seal_lag(sdk.operation_timeout + Duration::from_secs(5));
    set_rate_targets(&mut metrics, &entries, scenario.duration);

    let (obs_tx, obs_rx) = mpsc::channel::<Event>(65_536);
    let (change_tx, change_rx) = mpsc::channel::<ChangeRecord>(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Shards start together: every one waits for --start-at here.
    let start_line = match &opts.shard {
        Some(shard) => {
            let Some(line) =
                unless_interrupted(&mut shutdown, shard.start_line(&clients::sts(&operator))).await
            else {
                return before_load.interrupted("while waiting for --start-at");
            };
            if let Some(o) = line.offset {
                say(format!(
                    "clock: the target's clock is {:+.1} ms from ours (±{:.1} ms)",
                    o.offset_ms, o.uncertainty_ms
                ));
            }
            if let Some(late) = line.late.filter(|d| !d.is_zero()) {
                errln!(
                    "warning: started {:.3} s after --start-at (setup took longer); the merge aligns shards on wall-clock",
                    late.as_secs_f64()
                );
            }
            line
        }
        None => crate::shard::StartLine::default(),
    };
    // Scenario faults are timed from the run's start: post them right before
    // it (their windows are relative to the moment the double receives them).
    if !scenario.sim.faults.is_empty() {
        target
            .double_admin()
            .expect("checked before setup: faults need the admin API")
            .add_faults(&scenario.sim.faults)
            .await
            .map_err(target_error)?;
    }
    let t0 = tokio::time::Instant::now();
    let started = SystemTime::now();
    let t0_unix_ms = crate::sim::clock::unix_ms(started);
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    let hlog = report::hlog::HlogWriter::start(&out_dir, names.clone(), started).map_err(|e| {
        RunError {
            exit: Exit::BadInput,
            message: format!("cannot write results to {}: {e}", out_dir.display()),
        }
    })?;
    let (live_tx, live_rx) = tokio::sync::watch::channel(crate::live::Snapshot::default());
    let (abort_tx, mut abort_rx) = watch::channel(None::<String>);
    let gates: Vec<crate::thresholds::Threshold> = scenario
        .thresholds
        .iter()
        .chain(&opts.thresholds)
        .cloned()
        .collect();
    let run_info = RunInfo {
        run_id: id.clone(),
        seed,
        scenario: scenario.name.clone(),
        duration: scenario.duration,
        op_apis: entries.iter().map(|e| e.op.as_str().to_owned()).collect(),
    };
    let display = tokio::spawn(crate::live::display::show(
        live_rx.clone(),
        crate::live::display::Mode::detect(opts.quiet),
    ));
    if let Some(addr) = opts.metrics_addr {
        let listener = crate::live::prometheus::bind(addr).await.map_err(|e| RunError {
            exit: Exit::BadInput,
            message: format!(
                "cannot listen on --metrics-addr {addr}: {e}\n  help: pick a free port, e.g. --metrics-addr 127.0.0.1:9464"
            ),
        })?;
        if !addr.ip().is_loopback() {
            errln!("warning: serving live metrics on {addr}, which is not a loopback address");
        }
        say(format!(
            "metrics: http://{}/metrics",
            listener.local_addr().unwrap_or(addr)
        ));
        tokio::spawn(crate::live::prometheus::serve(
            listener,
            live_rx,
            stop_rx.clone(),
        ));
    }
    let aggregator = tokio::spawn(aggregate(
        metrics.keep_sealed_histograms(),
        obs_rx,
        change_rx,
        AggregateContext {
            instances: fleet.len(),
            probe_names: names,
            hlog: hlog.sender(),
            live: live_tx,
            t0,
            duration: scenario.duration,
            seed,
            abort: LiveGates {
                gates: gates
                    .iter()
                    .filter(|t| t.abort_after.is_some())
                    .cloned()
                    .collect(),
                info: run_info.clone(),
                tx: abort_tx,
            },
        },
    ));
    let timeline: Vec<_> = scenario
        .timeline
        .iter()
        .map(|a| {
            let probe = entries.iter().position(|e| e.op == a.probe_op);
            (a.clone(), probe)
        })
        .collect();
    let chaos_clients = chaos::Clients {
        iam: iam.clone(),
        s3: clients::s3(&operator),
        admin: target.double_admin().cloned(),
        fleet: Some(fleet.clone()),
        instances: Vec::new(),
        ec2: match (target.double_admin(), &target.endpoint_url) {
            (Some(_), Some(url)) => Some(crate::target::ec2::Ec2Client::new(
                url,
                &target.region,
                target.operator_keys().access_key_id(),
                target.operator_keys().secret_access_key(),
            )),
            _ => None,
        },
        journal: journal.clone(),
        launcher: Some(chaos::Launcher {
            target: target.clone(),
            sdk: sdk.clone(),
            t0,
        }),
    };
    let chaos = tokio::spawn(chaos::run(
        timeline,
        chaos_clients,
        t0,
        change_tx,
        stop_rx.clone(),
    ));
    say(format!(
        "load: {} entries for {:?}",
        entries.len(),
        scenario.duration
    ));
    let load = load::run(
        entries.clone(),
        fleet.clone(),
        raw_engine,
        t0,
        seed,
        obs_tx,
        stop_rx,
        budget.clone(),
    );
    let interrupted = tokio::select! {
        _ = load => false,
        _ = shutdown.recv() => true,
        _ = abort_rx.wait_for(Option::is_some) => false,
    };
    let aborted = abort_rx.borrow().clone();
    if let Some(why) = &aborted {
        say(format!("load: aborted — {why}"));
    }
    let _ = stop_tx.send(true);
    let changes = chaos.await.unwrap_or_default();
    // Restore before anything else: the target must not stay changed.
    let restored = match &journal {
        Some(journal) => {
            let restored = guard::restore(journal, &iam, &s3_operator).await;
            for r in &restored {
                say(format!(
                    "restore: #{} {} on {}: {}",
                    r.seq, r.action, r.resource, r.result
                ));
            }
            if restored.iter().any(|r| r.result != "restored") {
                errln!(
                    "warning: some changes were not restored; run `iamstorm rollback {}`",
                    journal.path().display()
                );
            }
            restored
        }
        None => Vec::new(),
    };
    if budget.exhausted() {
        say(format!(
            "load: stopped at the request cap ({} requests)",
            rails.caps.max_requests.unwrap_or_default()
        ));
    }
    for c in &changes {
        match &c.result {
            Ok(()) => say(format!(
                "timeline: {} at {:.1}s (acked {:.3}s)",
                c.action,
                c.sent.as_secs_f64(),
                c.acked.as_secs_f64()
            )),
            Err(e) => say(format!(
                "timeline: {} at {:.1}s FAILED: {e}",
                c.action,
                c.sent.as_secs_f64()
            )),
        }
    }
    let (mut metrics, trackers, reservoir, per_instance) =
        aggregator.await.map_err(|e| RunError {
            exit: Exit::Internal,
            message: format!("aggregator failed: {e}"),
        })?;
    // The aggregator dropped the snapshot sender: the display clears itself.
    let _ = display.await;
    metrics.finish();
    let hlog_tx = hlog.sender();
    for h in metrics.drain_sealed_histograms() {
        let _ = hlog_tx.send(h);
    }
    drop(hlog_tx);
    // The latency log is an extra: losing it must not lose the summary.
    if let Err(e) = hlog.finish() {
        errln!("warning: latency.hlog not written: {e}");
    }

    let classifier = match target.double_admin() {
        Some(admin) => check_classifier(admin, &reservoir).await,
        None => None,
    };
    let truth = match target.double_admin() {
        Some(admin) => admin.propagation().await.ok(),
        None => None,
    };
    let results: Vec<PropagationResult> = trackers
        .iter()
        .map(|(record, tracker)| {
            tracker.result(
                truth
                    .as_ref()
                    .and_then(|t| truth_for(t, record, t0_unix_ms))
                    .as_ref(),
            )
        })
        .collect();
    let ran_for = if interrupted {
        t0.elapsed().min(scenario.duration)
    } else {
        scenario.duration
    };
    let ran_for = match &aborted {
        Some(_) => t0.elapsed().min(scenario.duration),
        None => ran_for,
    };
    let mut summary = Summary::build(
        RunInfo {
            duration: ran_for,
            ..run_info
        },
        &metrics,
        &results,
    );
    if let Some(why) = &aborted {
        summary
            .verdict_lines
            .insert(0, format!("The run was aborted: {why} (abort_on_fail)."));
    }
    summary.aborted = aborted;
    summary.classifier = classifier;
    summary.shard = opts.shard.as_ref().map(|s| s.info(started, start_line));
    summary.restored = restored;
    summary.boots = fleet
        .all()
        .iter()
        .map(|i| report::summary::BootSummary {
            instance: i.index,
            instance_id: i.instance_id.clone(),
            group: i.group.clone(),
            template_version: i.template_version,
            launched_at_s: i.launched_at_s,
            boot_delay_ms: i.boot_delay.as_micros() as f64 / 1000.0,
            // µs resolution, like every other latency in the report.
            boot_ms: i.boot.duration.as_micros() as f64 / 1000.0,
            joined_at_s: i.joined_at_s,
            first_request_s: per_instance
                .get(i.index)
                .and_then(|t| t.first_intended)
                .map(|d| d.as_secs_f64()),
            class: i.boot.outcome.class,
            detail: i.boot.outcome.detail.clone(),
            retired: i.retired.load(std::sync::atomic::Ordering::Acquire),
            counts_by_class: per_instance
                .get(i.index)
                .map(|t| t.counts)
                .unwrap_or_default(),
        })
        .collect();
    summary
        .verdict_lines
        .extend(report::summary::launch_template_verdict(&summary));
    summary
        .verdict_lines
        .extend(report::summary::boot_verdict(&summary));
    // Knees read the thresholds (an op's p99 SLO): judge those first.
    let rows = report::csv::rows_from_metrics(&metrics);
    summary
        .verdict_lines
        .extend(report::summary::classifier_verdict(&summary));
    summary.timeline = changes
        .iter()
        .map(|c| TimelineChange {
            action: c.action.clone(),
            scheduled_s: c.scheduled.as_secs_f64(),
            sent_s: c.sent.as_secs_f64(),
            acked_s: c.acked.as_secs_f64(),
            result: match &c.result {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.clone(),
            },
            measured: c.measure.is_some() && c.result.is_ok(),
        })
        .collect();
    if !gates.is_empty() {
        let judged = serde_json::to_value(&summary).map_err(|e| RunError {
            exit: Exit::Internal,
            message: format!("cannot serialize the summary: {e}"),
        })?;
        summary.thresholds = crate::thresholds::evaluate_all(&gates, &judged);
    }
    summary.knees = report::knee::find(&summary, &rows);
    summary
        .verdict_lines
        .extend(summary.knees.iter().map(report::knee::verdict));
    let events = report::events::events(&summary.timeline, &results);
    report::write_atomic(&out_dir.join(report::EVENTS_CSV), |w| {
        report::events::write(&events, w)
    })
    .map_err(|e| RunError {
        exit: Exit::BadInput,
        message: format!("cannot write results to {}: {e}", out_dir.display()),
    })?;
    report::write_all(&out_dir, &summary, &metrics).map_err(|e| RunError {
        exit: Exit::BadInput,
        message: format!("cannot write results to {}: {e}", out_dir.display()),
    })?;
    if let Some(shard) = &opts.shard {
        let uploaded = shard
            .finish(&out_dir, &metrics, started, ran_for, &s3_operator)
            .await
            .map_err(|e| {
                target_error(format!(
                    "{e}\n  help: the results are in {}; upload them with any S3 client",
                    out_dir.display()
                ))
            })?;
        if let Some(what) = uploaded {
            say(format!("results: uploaded {what}"));
        }
    }
    // A signal after the load (while restoring or writing) let the results
    // be finished; it still ends the process as interrupted.
    let interrupted = interrupted || shutdown.recv().now_or_never().is_some();
    Ok(RunOutcome {
        out_dir,
        summary,
        interrupted,
    })
}

/// `work`, unless SIGINT/SIGTERM comes first (`None`; `work` is dropped).
async fn unless_interrupted<T>(
    shutdown: &mut crate::cli::ShutdownSignal,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = shutdown.recv() => None,
    }
}

/// What a run interrupted before its load needs to write its results.
struct BeforeLoad<'a> {
    scenario: &'a Scenario,
    out_dir: &'a Path,
    id: &'a str,
    seed: u64,
}

impl BeforeLoad<'_> {
    /// Writes the results of a run that sent no load — every file, each
    /// atomically, a verdict line saying when the signal came — and ends the
    /// run as interrupted. Nothing was journaled yet: the timeline starts
    /// with the load.
    fn interrupted(&self, when: &str) -> Result<RunOutcome, RunError> {
        let entries = plan_entries(self.scenario);
        let mut metrics = Metrics::new(entries.iter().map(|e| e.name.clone()).collect(), INTERVAL);
        metrics.finish();
        let info = RunInfo {
            run_id: self.id.to_owned(),
            seed: self.seed,
            scenario: self.scenario.name.clone(),
            duration: Duration::ZERO,
            op_apis: entries.iter().map(|e| e.op.as_str().to_owned()).collect(),
        };
        let mut summary = Summary::build(info, &metrics, &[]);
        summary.verdict_lines.insert(
            0,
            format!("The run was interrupted {when}, before any load was sent."),
        );
        report::write_all(self.out_dir, &summary, &metrics).map_err(|e| RunError {
            exit: Exit::BadInput,
            message: format!("cannot write results to {}: {e}", self.out_dir.display()),
        })?;
        Ok(RunOutcome {
            out_dir: self.out_dir.to_path_buf(),
            summary,
            interrupted: true,
        })
    }
}

fn plan_entries(scenario: &Scenario) -> Vec<EntryPlan> {
    scenario
        .load
        .iter()
        .map(|l| {
            let bucket = l.bucket.clone().unwrap_or_default();
            let size = scenario
                .buckets
                .iter()
                .find(|b| b.name == bucket)
                .map_or(1024, |b| b.object_size_bytes);
            let payload = setup::object_body(&l.name, l.size_bytes.unwrap_or(size));
            let sdk = l.sdk.as_ref().map(SdkSettings::from);
            let raw = (l.engine == Engine::Raw).then(|| {
                let timeout = sdk
                    .as_ref()
                    .map_or(scenario.sdk.operation_timeout, |s| s.operation_timeout);
                RawEntry::new(l.op, &bucket, &payload, timeout)
            });
            EntryPlan {
                name: l.name.clone(),
                op: l.op,
                bucket,
                keys: l.keys.clone(),
                key_choice: l.key_choice,
                role_name: l.role.as_ref().map_or_else(String::new, |r| r.name.clone()),
                role_arn: l.role.as_ref().map_or_else(String::new, |r| {
                    format!("arn:aws:iam::{}:role/{}", scenario.sim.account_id, r.name)
                }),
                session_name: l
                    .role
                    .as_ref()
                    .and_then(|r| r.session_name.clone())
                    .unwrap_or_default(),
                payload,
                sdk,
                raw,
                model: l.model.clone(),
                start: l.start,
                end: l.end,
                group: l.group.clone(),
            }
        })
        .collect()
}

/// Per-second targets: the integral of an open entry's rate profile over
/// the part of the second it runs. Closed entries have no target.
fn set_rate_targets(metrics: &mut Metrics, entries: &[EntryPlan], duration: Duration) {
    let seconds = duration.as_secs_f64().ceil() as u64;
    for (i, e) in entries.iter().enumerate() {
        let Some(profile) = e.model.profile() else {
            continue;
        };
        let (start, end) = (e.start.as_secs_f64(), e.end.as_secs_f64());
        for s in 0..seconds {
            let (lo, hi) = (s as f64, (s + 1) as f64);
            // Seconds the entry does not run have no target (not a zero one).
            if lo < end && hi > start {
                let expected = profile.expected_between(start, end, lo, hi);
                metrics.set_rate_target(i, Duration::from_secs(s), expected);
            }
        }
    }
}

/// Looks the sampled request ids up in the double's ground truth and
/// tallies the confusion matrix; `None` (with a warning) if the double
/// cannot be asked — the run's measurements stand without it.
async fn check_classifier(
    admin: &crate::target::AdminClient,
    reservoir: &truth_check::Reservoir,
) -> Option<truth_check::ClassifierCheck> {
    let ids: Vec<String> = reservoir
        .sample()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let mut verdicts = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(crate::sim::admin::MAX_LOOKUP_IDS) {
        match admin.requests(chunk).await {
            Ok(found) if found.len() == chunk.len() => {
                verdicts.extend(found.into_iter().map(|t| match t {
                    crate::target::admin::RequestTruth::Found { verdict } => Some(verdict.kind),
                    _ => None,
                }))
            }
            Ok(found) => {
                errln!(
                    "warning: the double answered {} verdicts for {} request ids; classifier check skipped",
                    found.len(),
                    chunk.len()
                );
                return None;
            }
            Err(e) => {
                errln!("warning: classifier check skipped: {e}");
                return None;
            }
        }
    }
    Some(truth_check::tally(reservoir, &verdicts))
}

/// One instance's requests, as the aggregator tallies them.
#[derive(Clone, Copy, Debug, Default)]
struct InstanceTally {
    counts: ClassCounts,
    /// Intended start of its first request, since t0.
    first_intended: Option<Duration>,
}

/// What the aggregator needs besides its inputs.
struct AggregateContext {
    /// Fleet size at start (trackers grow with scale-out).
    instances: usize,
    /// Entry names by index: a measured change's probe op.
    probe_names: Vec<String>,
    /// Sealed histograms go to latency.hlog.
    hlog: std::sync::mpsc::Sender<crate::observe::metrics::SealedHistogram>,
    /// A snapshot a second for the live display and --metrics-addr.
    live: tokio::sync::watch::Sender<crate::live::Snapshot>,
    t0: tokio::time::Instant,
    duration: Duration,
    /// The run seed: the truth-check sample is drawn from it.
    seed: u64,
    /// `abort_on_fail` thresholds, judged every second.
    abort: LiveGates,
}

/// The thresholds judged while the run goes, and where a failure is told.
struct LiveGates {
    gates: Vec<crate::thresholds::Threshold>,
    /// For the live summary they are judged against.
    info: RunInfo,
    tx: watch::Sender<Option<String>>,
}

impl LiveGates {
    /// Judges the gates due at `elapsed` against the metrics so far; tells
    /// the first failure (once). A gate with nothing to measure yet waits.
    fn judge(&mut self, metrics: &Metrics, elapsed: Duration) {
        if self.gates.is_empty() || self.tx.borrow().is_some() {
            return;
        }
        let due: Vec<_> = self
            .gates
            .iter()
            .filter(|t| t.abort_after.is_some_and(|after| elapsed >= after))
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let live = Summary::build(
            RunInfo {
                duration: elapsed.min(self.info.duration).max(INTERVAL),
                ..self.info.clone()
            },
            metrics,
            &[],
        );
        let Ok(value) = serde_json::to_value(&live) else {
            return;
        };
        if let Some(failed) = crate::thresholds::evaluate_all(&due, &value)
            .into_iter()
            .find(|r| r.observed.is_some() && !r.passed)
        {
            self.tx.send_replace(Some(format!(
                "`{}` failed at {:.1}s ({})",
                failed.threshold,
                elapsed.as_secs_f64(),
                failed.reason
            )));
        }
    }
}

/// Consumes observations and change acknowledgements until every sender is gone.
async fn aggregate(
    mut metrics: Metrics,
    mut observations: mpsc::Receiver<Event>,
    mut changes: mpsc::Receiver<ChangeRecord>,
    ctx: AggregateContext,
) -> (
    Metrics,
    Vec<(ChangeRecord, PropagationTracker)>,
    truth_check::Reservoir,
    Vec<InstanceTally>,
) {
    let AggregateContext {
        instances,
        probe_names,
        hlog,
        live,
        t0,
        duration,
        seed,
        mut abort,
    } = ctx;
    let mut reservoir = truth_check::Reservoir::new(seed, truth_check::SAMPLE_SIZE);
    // Requests by class per instance: which instances were denied.
    let mut per_instance: Vec<InstanceTally> = Vec::new();
    let mut trackers: Vec<(ChangeRecord, PropagationTracker)> = Vec::new();
    let mut changes_open = true;
    let mut last_action: Option<(f64, String)> = None;
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                abort.judge(&metrics, t0.elapsed());
                live.send_replace(crate::live::Snapshot::take(
                    &metrics,
                    t0.elapsed(),
                    duration,
                    last_action.clone(),
                ));
            }
            obs = observations.recv() => {
                let o = match obs {
                    None => break,
                    Some(Event::Refused { entry, .. }) => {
                        metrics.record_refused(entry);
                        continue;
                    }
                    Some(Event::Done(o)) => o,
                };
                metrics.record(&Sample {
                    op: o.entry,
                    class: o.outcome.class,
                    intended_offset: o.intended,
                    latency_corrected_us: saturating_us(o.latency_corrected),
                    latency_raw_us: saturating_us(o.latency_raw),
                    late: o.late,
                });
                if let Some(d) = &o.outcome.detail {
                    metrics.record_detail(o.entry, o.outcome.class, d);
                }
                for h in metrics.drain_sealed_histograms() {
                    let _ = hlog.send(h);
                }
                reservoir.offer(o.request_id.as_deref(), o.outcome.class);
                if o.instance < crate::observe::propagation::MAX_INSTANCES {
                    if o.instance >= per_instance.len() {
                        per_instance.resize(o.instance + 1, InstanceTally::default());
                    }
                    let tally = &mut per_instance[o.instance];
                    tally.counts.add(o.outcome.class, 1);
                    tally.first_intended = Some(tally.first_intended.map_or(o.intended, |t| t.min(o.intended)));
                }
                // The request was evaluated about when it was sent.
                let sent = o.intended + o.latency_corrected.saturating_sub(o.latency_raw);
                for (record, tracker) in &mut trackers {
                    if record.probe_entry == Some(o.entry) {
                        tracker.observe(o.instance, sent, o.outcome.class);
                    }
                }
            }
            change = changes.recv(), if changes_open => {
                match change {
                    Some(record) => {
                        last_action = Some((
                            record.acked.as_secs_f64(),
                            match &record.result {
                                Ok(()) => record.action.clone(),
                                Err(e) => format!("{} FAILED: {e}", record.action),
                            },
                        ));
                        if let (Some(measure), Ok(())) = (record.measure, &record.result) {
                            let kind = match measure { Measure::Grant => ChangeKind::Grant, Measure::Revoke => ChangeKind::Revoke };
                            let probe = record.probe_entry.and_then(|i| probe_names.get(i)).cloned().unwrap_or_default();
                            let change = Change { kind, action: record.action.clone(), probe, at: record.sent, acked: record.acked };
                            // The probe now measures this change: earlier ones on it end here.
                            for (earlier, tracker) in &mut trackers {
                                if earlier.probe_entry == record.probe_entry {
                                    tracker.end_at(record.sent);
                                }
                            }
                            trackers.push((record, PropagationTracker::new(change, instances)));
                        }
                    }
                    None => changes_open = false,
                }
            }
        }
    }
    (metrics, trackers, reservoir, per_instance)
}

/// The double's record of the IAM version a change created, converted to
/// the run's clock.
fn truth_for(truth: &PropagationTruth, record: &ChangeRecord, t0_unix_ms: u64) -> Option<Truth> {
    // sim time (ms since the double started) = run time + offset.
    let offset_ms = t0_unix_ms as i64 - truth.started_at_unix_ms as i64;
    let sent_sim = record.sent.as_millis() as i64 + offset_ms;
    let acked_sim = record.acked.as_millis() as i64 + offset_ms;
    let version = truth
        .versions
        .iter()
        .filter(|v| v.label == record.truth_label)
        .min_by_key(|v| {
            let p = v.published_at as i64;
            if p < sent_sim - 50 {
                sent_sim - p
            } else if p > acked_sim + 50 {
                p - acked_sim
            } else {
                0
            }
        })?;
    let replica_applied = version
        .applied_at
        .iter()
        .map(|&ms| Duration::from_millis((ms as i64 - offset_ms).max(0) as u64))
        .collect();
    Some(Truth { replica_applied })
}
