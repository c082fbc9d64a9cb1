//! Observation: the outcome vocabulary, the SDK-error classifier, interval
//! metrics, and the propagation tracker. Nothing here does I/O.

pub mod classify;
pub mod metrics;
pub mod outcome;
pub mod propagation;
