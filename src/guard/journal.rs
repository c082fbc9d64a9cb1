//! The mutation journal: a JSON-lines file written *before* every change
//! the run makes to a real target, so the change can be undone at the end,
//! on Ctrl-C/SIGTERM, or after a crash (`iamstorm rollback JOURNAL`).
//!
//! One header line, then per change an `intent` (what will change and the
//! undo steps read from the prior state), an `applied` line once the target
//! answered, and a `restored` line once undone. Every line is fsync'd
//! before the call it announces is made. Secrets never enter it: undo steps
//! hold resource names and policy documents only.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::undo::UndoStep;

/// The journal's format version.
pub const JOURNAL_VERSION: u32 = 1;
/// The file name inside a run's results directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// Where the journaled changes were made: what `rollback` reconnects to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub journal: String,
    pub version: u32,
    pub run_id: String,
    pub target: String,
    /// `None`: AWS's own endpoints.
    pub endpoint_url: Option<String>,
    pub region: String,
    pub account_id: String,
}

/// One line after the header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Line {
    /// Written (and fsync'd) before the change is sent.
    Intent {
        seq: u64,
        /// Seconds since the load started.
        at_s: f64,
        action: String,
        resource: String,
        /// Applied in order, they bring the resource back to its state
        /// before the change.
        undo: Vec<UndoStep>,
    },
    /// The target's answer to the change.
    Applied {
        seq: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The change was undone (`ok`), or undoing it failed.
    Restored {
        seq: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// A change that still needs undoing.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub seq: u64,
    pub action: String,
    pub resource: String,
    pub undo: Vec<UndoStep>,
}

/// An open journal being appended to.
pub struct Journal {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: File,
    next_seq: u64,
    pending: Vec<Pending>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the journal {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn write_line(file: &mut File, value: &impl Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    // The line must be on disk before the call it announces is made.
    file.sync_data()
}

impl Journal {
    /// Creates `path` (refusing to overwrite one) and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Self, JournalError> {
        let err = |source| JournalError::Write {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        write_line(&mut file, header).map_err(err)?;
        Self::continue_with(path, file, 1, Vec::new())
    }

    /// Opens an existing journal to append `restored` lines (rollback).
    pub fn reopen(path: &Path) -> Result<(Self, Header), JournalError> {
        let (header, pending, next_seq) = read(path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Write {
                path: path.to_owned(),
                source,
            })?;
        Ok((Self::continue_with(path, file, next_seq, pending)?, header))
    }

    fn continue_with(
        path: &Path,
        file: File,
        next_seq: u64,
        pending: Vec<Pending>,
    ) -> Result<Self, JournalError> {
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                file,
                next_seq,
                pending,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, state: &mut State, line: &Line) -> Result<(), JournalError> {
        write_line(&mut state.file, line).map_err(|source| JournalError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Records a change about to be made; returns its sequence number.
    /// The change must not be sent if this fails.
    pub fn intent(
        &self,
        at_s: f64,
        action: &str,
        resource: &str,
        undo: Vec<UndoStep>,
    ) -> Result<u64, JournalError> {
        let mut state = self.lock();
        let seq = state.next_seq;
        let line = Line::Intent {
            seq,
            at_s,
            action: action.to_owned(),
            resource: resource.to_owned(),
            undo: undo.clone(),
        };
        self.append(&mut state, &line)?;
        state.next_seq += 1;
        state.pending.push(Pending {
            seq,
            action: action.to_owned(),
            resource: resource.to_owned(),
            undo,
        });
        Ok(seq)
    }

    /// Records the target's answer to change `seq`. A failed change stays
    /// pending: whether it half-applied is unknown, and undo is idempotent.
    pub fn applied(&self, seq: u64, result: &Result<(), String>) -> Result<(), JournalError> {
        let mut state = self.lock();
        let line = Line::Applied {
            seq,
            ok: result.is_ok(),
            error: result.as_ref().err().cloned(),
        };
        self.append(&mut state, &line)
    }

    /// Records that change `seq` was undone (or why not).
    pub fn restored(&self, seq: u64, result: &Result<(), String>) -> Result<(), JournalError> {
        let mut state = self.lock();
        let line = Line::Restored {
            seq,
            ok: result.is_ok(),
            error: result.as_ref().err().cloned(),
        };
        self.append(&mut state, &line)?;
        if result.is_ok() {
            state.pending.retain(|p| p.seq != seq);
        }
        Ok(())
    }

    /// Changes not yet undone, newest first (the order to undo them in).
    pub fn pending(&self) -> Vec<Pending> {
        let mut pending = self.lock().pending.clone();
        pending.sort_by_key(|p| std::cmp::Reverse(p.seq));
        pending
    }
}

/// Reads a journal: its header, the changes not yet restored, and the next
/// sequence number. A torn last line (a crash mid-write) is ignored: the
/// change it announced was never sent.
pub fn read(path: &Path) -> Result<(Header, Vec<Pending>, u64), JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse = |line: usize, message: String| JournalError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| JournalError::Read {
            path: path.to_owned(),
            source,
        })?;
    let Some(first) = lines.first() else {
        return Err(parse(1, "the journal is empty".to_owned()));
    };
    let header: Header = serde_json::from_str(first)
        .map_err(|e| parse(1, format!("not an iamstorm journal header: {e}")))?;
    if header.journal != "iamstorm" || header.version != JOURNAL_VERSION {
        return Err(parse(
            1,
            format!(
                "journal version {} of {:?}; this iamstorm reads version {JOURNAL_VERSION}",
                header.version, header.journal
            ),
        ));
    }
    let mut pending: Vec<Pending> = Vec::new();
    let mut next_seq = 1;
    let last = lines.len();
    for (i, text) in lines.iter().enumerate().skip(1) {
        let line: Line = match serde_json::from_str(text) {
            Ok(line) => line,
            Err(_) if i + 1 == last => break,
            Err(e) => return Err(parse(i + 1, format!("unreadable journal line: {e}"))),
        };
        match line {
            Line::Intent {
                seq,
                action,
                resource,
                undo,
                ..
            } => {
                next_seq = next_seq.max(seq + 1);
                pending.push(Pending {
                    seq,
                    action,
                    resource,
                    undo,
                });
            }
            Line::Restored { seq, ok: true, .. } => pending.retain(|p| p.seq != seq),
            Line::Applied { .. } | Line::Restored { .. } => {}
        }
    }
    pending.sort_by_key(|p| std::cmp::Reverse(p.seq));
    Ok((header, pending, next_seq))
}

impl Header {
    pub fn new(
        run_id: &str,
        target: &str,
        endpoint_url: Option<&str>,
        region: &str,
        account_id: &str,
    ) -> Self {
        Self {
            journal: "iamstorm".to_owned(),
            version: JOURNAL_VERSION,
            run_id: run_id.to_owned(),
            target: target.to_owned(),
            endpoint_url: endpoint_url.map(str::to_owned),
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str) -> UndoStep {
        UndoStep::DeleteRolePolicy {
            role: "app".into(),
            policy_name: name.into(),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("iamstorm-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(JOURNAL_FILE)
    }

    #[test]
    fn pending_changes_survive_a_reread_newest_first() {
        let path = temp("reread");
        let header = Header::new("run-1", "aws", None, "us-east-1", "123456789012");
        let j = Journal::create(&path, &header).expect("create");
        let a = j
            .intent(1.0, "put a", "role/app", vec![step("a")])
            .expect("a");
        j.applied(a, &Ok(())).expect("applied");
        let b = j
            .intent(2.0, "put b", "role/app", vec![step("b")])
            .expect("b");
        j.applied(b, &Err("AccessDenied".into())).expect("applied");
        let c = j
            .intent(3.0, "put c", "role/app", vec![step("c")])
            .expect("c");
        j.restored(c, &Ok(())).expect("restored");
        let (read_header, pending, next) = read(&path).expect("read");
        assert_eq!(read_header, header);
        assert_eq!(next, 4);
        let seqs: Vec<u64> = pending.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, vec![b, a], "newest first, restored one gone");
        assert_eq!(pending, j.pending());
    }

    #[test]
    fn a_torn_last_line_is_ignored_a_torn_middle_line_is_an_error() {
        let path = temp("torn");
        let header = Header::new("run-1", "aws", None, "us-east-1", "1");
        let j = Journal::create(&path, &header).expect("create");
        j.intent(1.0, "put a", "role/app", vec![step("a")])
            .expect("a");
        drop(j);
        let mut text = std::fs::read_to_string(&path).expect("text");
        text.push_str("{\"state\":\"intent\",\"seq\":2,\"at_");
        std::fs::write(&path, &text).expect("torn");
        let (_, pending, _) = read(&path).expect("torn tail is ignored");
        assert_eq!(pending.len(), 1);
        text.push_str("\n{\"state\":\"restored\",\"seq\":1,\"ok\":true}\n");
        std::fs::write(&path, &text).expect("torn middle");
        let err = read(&path).expect_err("torn middle line");
        assert!(err.to_string().contains(":3:"), "{err}");
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let path = temp("exists");
        let header = Header::new("run-1", "aws", None, "us-east-1", "1");
        Journal::create(&path, &header).expect("first");
        assert!(Journal::create(&path, &header).is_err());
    }
}
