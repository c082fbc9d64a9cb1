//! `iamstorm rollback JOURNAL`: after a run died before restoring (kill -9,
//! power loss) or a restore failed, reconnect to the journal's target with
//! the default credential chain and undo every change still pending,
//! newest first. Safe to repeat: undo steps are idempotent and each success
//! is appended to the journal.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::guard::{self, Journal};
use crate::scenario::TargetKind;
use crate::target::{Target, clients};

pub async fn run(path: PathBuf, endpoint_url: Option<String>) -> Exit {
    let (journal, header) = match Journal::reopen(&path) {
        Ok(j) => j,
        Err(e) => {
            errln!("error: {e}\n  help: pass the journal.jsonl of a run's results directory");
            return Exit::BadInput;
        }
    };
    let pending = journal.pending();
    if pending.is_empty() {
        outln!(
            "{}: nothing to restore (every change of run {} is restored)",
            path.display(),
            header.run_id
        );
        return Exit::Ok;
    }
    let kind = match TargetKind::from_name(&header.target) {
        Some(TargetKind::Sim) | None => {
            errln!(
                "error: {}: the journal's target {:?} cannot be reconnected to",
                path.display(),
                header.target
            );
            return Exit::BadInput;
        }
        Some(k) => k,
    };
    let endpoint = endpoint_url.or(header.endpoint_url.clone());
    let target = match Target::connect(kind, endpoint, Some(header.region.clone())).await {
        Ok(t) => t,
        Err(e) => {
            errln!("error: {e}");
            return Exit::TargetUnavailable;
        }
    };
    if !header.account_id.is_empty() && target.account_id != header.account_id {
        errln!(
            "error: these credentials are for account {}, but the journal's changes were made in account {}\n  help: use credentials for account {}",
            target.account_id,
            header.account_id,
            header.account_id
        );
        return Exit::BadInput;
    }
    outln!(
        "rollback of run {}: {} pending change(s) on {}",
        header.run_id,
        pending.len(),
        target.describe()
    );
    let operator = clients::operator_config(&target);
    let restored =
        guard::restore(&journal, &clients::iam(&operator), &clients::s3(&operator)).await;
    let mut failed = 0;
    for r in &restored {
        outln!("  #{} {} on {}: {}", r.seq, r.action, r.resource, r.result);
        if r.result != "restored" {
            failed += 1;
        }
    }
    if failed > 0 {
        errln!(
            "error: {failed} change(s) could not be restored; fix the cause above and run `iamstorm rollback {}` again",
            path.display()
        );
        Exit::TargetUnavailable
    } else {
        outln!("all restored; journal: {}", path.display());
        Exit::Ok
    }
}
