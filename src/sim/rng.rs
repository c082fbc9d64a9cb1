//! Seed derivation for the double's models (Invariant 3: one seed).
//!
//! Every random choice is a pure function of (run seed, stream name, index),
//! so a decision does not depend on which task happened to draw first.

/// SplitMix64 finaliser: a high-quality 64-bit mix, used to derive
/// independent streams from one seed.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A value derived from the seed for a named stream and an index, e.g.
/// `derive(seed, STREAM_ROUTING, request_seq)`.
pub fn derive(seed: u64, stream: u64, index: u64) -> u64 {
    mix64(seed ^ mix64(stream ^ mix64(index)))
}

/// Uniform float in [0, 1) from a derived value.
pub fn unit_f64(v: u64) -> f64 {
    (v >> 11) as f64 / (1u64 << 53) as f64
}

pub const STREAM_PROPAGATION: u64 = 1;
pub const STREAM_ROUTING: u64 = 2;
pub const STREAM_IDS: u64 = 3;
pub const STREAM_FAULTS: u64 = 4;
