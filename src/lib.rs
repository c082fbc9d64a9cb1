//! iamstorm: a load-test and chaos-simulation harness for the AccessDenied
//! storms an EC2 fleet meets when it scales out — IAM propagation races,
//! missing permissions, broken trust, IMDS credential failures and
//! throttling — with an embedded AWS double that knows the ground truth.
//!
//! See ARCHITECTURE.md for the map.

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
