//! Candor: a narrow-scope retrieval and answer engine over domain corpora.
//!
//! The modules follow the data's path: [`config`] → [`ingest`] → [`embed`] →
//! [`index`] → [`retrieve`] → [`api`], with [`eval`] measuring retrieval quality.
//! No module imports one later in that chain; only [`api`] knows about HTTP.
#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod embed;
pub mod error;
pub mod eval;
pub mod index;
pub mod ingest;
pub mod retrieve;

pub use error::Error;

#[cfg(test)]
mod test_utils;

/// The library's result type; write it in full as `crate::Result<T>`.
pub type Result<T> = std::result::Result<T, Error>;
