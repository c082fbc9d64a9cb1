//! IAM: the policy language (`policy`, `wildcard`), the evaluator (`eval`),
//! versioned state (`store`), the Query API (`api`), and the bridge the
//! data plane calls (`authz`).

pub mod api;
pub mod authz;
pub mod eval;
pub mod policy;
pub mod store;
pub mod wildcard;
