//! CI gating: threshold expressions (`latency.p99{op=s3:GetObject} < 50ms`)
//! parsed from the scenario and `--threshold`, judged against a run's
//! summary. [`expr`] owns the grammar, [`eval`] the judgement; a failed
//! threshold makes the run exit 1 (`Exit::ThresholdsFailed`).

pub mod eval;
pub mod expr;

pub use eval::{ThresholdResult, evaluate, evaluate_all};
pub use expr::{ExprError, Threshold, parse};
