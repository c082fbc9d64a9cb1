//! Observation: the outcome vocabulary, the SDK-error classifier, interval
//! metrics, the propagation tracker and the classifier's truth check.
//! Nothing here does I/O.

pub mod classify;
pub mod metrics;
pub mod outcome;
pub mod propagation;
pub mod truth_check;
