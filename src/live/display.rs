//! Draws [`Snapshot`]s while a run goes: an `indicatif` bar with the line
//! as its message on a TTY, a plain line every [`LINE_EVERY`] on stderr
//! otherwise (CI logs), nothing when quiet.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use super::Snapshot;

/// How often the line-oriented display prints.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl Mode {
    /// A bar when stderr is a terminal, lines otherwise, nothing if quiet.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Shows snapshots until the sender is dropped.
pub async fn show(mut rx: watch::Receiver<Snapshot>, mode: Mode) {
    match mode {
        Mode::Quiet => while rx.changed().await.is_ok() {},
        Mode::Bar => {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:20} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            while rx.changed().await.is_ok() {
                let s = rx.borrow_and_update().clone();
                bar.set_length(s.duration.as_secs().max(1));
                bar.set_position(s.elapsed.as_secs());
                bar.set_message(s.line());
            }
            bar.finish_and_clear();
        }
        Mode::Lines => {
            let mut last_printed: Option<Duration> = None;
            while rx.changed().await.is_ok() {
                let s = rx.borrow_and_update().clone();
                let due = last_printed.is_none_or(|t| s.elapsed >= t + LINE_EVERY);
                if due {
                    errln!("progress {}", s.line());
                    last_printed = Some(s.elapsed);
                }
            }
        }
    }
}
