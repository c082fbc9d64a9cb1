//! The exit codes, one scheme for every command (documented in README.md).

use std::process::ExitCode;

/// Why the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The run finished (or the command succeeded).
    Ok,
    /// The run finished but a threshold failed.
    ThresholdsFailed,
    /// The input was wrong: scenario, flags, policy files.
    BadInput,
    /// The target could not be reached or brought to the starting state.
    TargetUnavailable,
    /// A bug: an internal rule broke.
    Internal,
    /// Interrupted by SIGINT/SIGTERM; what was measured is written.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::ThresholdsFailed => 1,
            Exit::BadInput => 2,
            Exit::TargetUnavailable => 3,
            Exit::Internal => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}
