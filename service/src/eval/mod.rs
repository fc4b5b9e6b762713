//! Evaluation: ranking metrics, the BEIR benchmark runner, answer-level checks
//! and the eval report.
//!
//! Measures retrieval quality and speed on judged query sets; it drives the index
//! and retrieve modules like any caller and must not reach into their internals.

pub mod answer;
pub mod beir;
pub mod metrics;
pub mod report;
