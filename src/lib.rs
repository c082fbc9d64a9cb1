//! iamstorm: a load-test and chaos-simulation harness for the AccessDenied
//! storms an EC2 fleet meets when it scales out — IAM propagation races,
//! missing permissions, broken trust, IMDS credential failures and
//! throttling — with an embedded AWS double that knows the ground truth.
//!
//! See ARCHITECTURE.md for the map.

// Console output that never panics. `println!` panics when stdout is a
// closed pipe (`iamstorm run … | head`), which would abort a run before its
// journal is restored; these drop the text instead.

/// `println!` to stdout, ignoring a closed or failing stdout.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` to stdout, ignoring a closed or failing stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` to stderr, ignoring a closed or failing stderr.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod calibrate;
pub mod chaos;
pub mod cli;
pub mod compare;
pub mod doctor;
pub mod exit;
pub mod fleet;
pub mod guard;
pub mod live;
pub mod load;
pub mod merge;
pub mod observe;
pub mod report;
pub mod report_cmd;
pub mod rollback_cmd;
pub mod run;
pub mod scenario;
pub mod setup;
pub mod shard;
pub mod sim;
pub mod sim_cmd;
pub mod target;
pub mod thresholds;
