//! Evaluation: ranking metrics and the BEIR benchmark runner.
//!
//! Measures retrieval quality and speed on judged query sets; it drives the index
//! and retrieve modules like any caller and must not reach into their internals.

pub mod beir;
pub mod metrics;
