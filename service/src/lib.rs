//! Candor: a narrow-scope retrieval and answer engine over domain corpora.
//!
//! The modules follow the data's path: [`config`] → [`plugins`] → [`ingest`] →
//! [`embed`] → [`index`] → [`retrieve`] → [`answer`] → [`api`], with [`eval`]
//! measuring quality and [`feedback`] keeping answers and ratings. No module
//! imports one later in that chain; only [`api`] knows about HTTP.
//!
//! Index a corpus folder and search it:
//!
//! ```no_run
//! use std::path::Path;
//!
//! use candor::config::{Assets, Corpus};
//! use candor::embed::Embedder;
//! use candor::{index, retrieve};
//!
//! # fn main() -> candor::Result<()> {
//! let corpus = Corpus::load(Path::new("corpora/ferrule"))?;
//! let embedder = Embedder::load(&Assets::locate()?)?;
//! let data = Path::new("data");
//! let vectors = index::VectorBackend::Edge;
//! index::index_corpus(&corpus, data, &vectors, index::Mode::Incremental, &embedder, &())?;
//!
//! let generation = index::CorpusStore::new(data, &corpus.config.name, &vectors).open_current()?;
//! let request = retrieve::Request {
//!     query: "How do I restore a file?",
//!     mode: retrieve::Mode::Hybrid,
//!     limit: 5,
//!     filter: Default::default(),
//!     recency: None,
//! };
//! for hit in retrieve::search_chunks(&generation, &embedder, &corpus.config.retrieval, &request)? {
//!     println!("{:.3} {}", hit.score, generation.chunk(hit.id)?.title);
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod answer;
pub mod api;
pub mod cache;
pub mod config;
pub mod embed;
pub mod error;
pub mod eval;
pub mod feedback;
pub mod ids;
pub mod index;
pub mod ingest;
pub mod jsonl;
pub mod metrics;
pub mod plugins;
pub mod printable;
pub mod retrieve;
pub mod service;
pub mod sync;

pub use error::Error;

#[cfg(test)]
mod test_utils;

/// The library's result type; write it in full as `crate::Result<T>`.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod layering_tests {
    //! The module map is the pipeline: a module may use earlier stages, never later
    //! ones, and only `api` may name the HTTP stack or describe the HTTP contract
    //! (`utoipa`): the engine's types are not the wire's.

    use std::path::{Path, PathBuf};

    /// Stages in pipeline order; `eval` and `feedback` consume answers, `service`
    /// assembles the engine, and `api` serves it.
    /// Modules outside the list (`error`, `cache`, `ids`, `jsonl`, `metrics`,
    /// `printable`, `sync`) are shared utilities.
    const STAGES: [(&str, usize); 11] = [
        ("config", 0),
        ("plugins", 1),
        ("ingest", 2),
        ("embed", 3),
        ("index", 4),
        ("retrieve", 5),
        ("answer", 6),
        ("eval", 7),
        ("feedback", 7),
        ("service", 8),
        ("api", 9),
    ];

    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(rust_files(&p));
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn no_stage_reaches_up_the_pipeline_and_only_api_speaks_http() {
        // `utoipa` counts as HTTP: its derives would make an engine type part of
        // the API's contract.
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut violations = Vec::new();
        for (stage, level) in STAGES {
            let dir = src.join(stage);
            for file in rust_files(&dir) {
                let text = std::fs::read_to_string(&file).unwrap();
                for (n, line) in text.lines().enumerate() {
                    for (other, other_level) in STAGES {
                        let later = other_level > level || (other_level == level && other != stage);
                        if later && line.contains(&format!("crate::{other}")) {
                            violations.push(format!(
                                "{}:{}: {stage} uses {other}",
                                file.display(),
                                n + 1
                            ));
                        }
                    }
                    if stage != "api"
                        && ["axum", "hyper", "tower", "utoipa"]
                            .iter()
                            .any(|h| line.contains(&format!("{h}::")))
                    {
                        violations.push(format!(
                            "{}:{}: {stage} names the HTTP stack",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
        assert!(
            violations.is_empty(),
            "layering violations:\n{}",
            violations.join("\n")
        );
    }
}
