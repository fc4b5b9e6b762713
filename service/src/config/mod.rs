//! Corpus configuration (`corpus.toml`) and the deployment file (`candor.toml`):
//! parsing and validation before any work.
//!
//! Everything is checked up front (unknown keys, missing folders, bad globs, out of
//! range numbers) so that a bad config fails in milliseconds with the file and key,
//! never halfway through an index run. This module must not touch indexes or models.

mod assets;
mod deployment;
mod sections;

use std::path::{Path, PathBuf};

pub use assets::{find_dir, Assets, ASSETS_ENV};
pub use deployment::{
    ClusterLayout, Deployment, QdrantAddress, VectorStoreKind, VectorStoreSettings, DEPLOYMENT_ENV,
};
use globset::{Glob, GlobSet, GlobSetBuilder};
pub use sections::{
    AnswerSettings, Chunking, Composer, Fusion, GuardrailSettings, IngestLimits, LlmSettings,
    OnError, OnLlmFailure, ParserSettings, Recency, Retrieval, Source, Stage, Watch,
};
use serde::Deserialize;

use crate::Error;

/// The file name a corpus folder must contain.
pub const CORPUS_FILE: &str = "corpus.toml";

/// The embedding model's training length in word-pieces; a chunk plus its title
/// prefix must fit, or the model would silently drop the rest.
pub const MODEL_MAX_TOKENS: usize = 256;

/// A validated corpus: its folder plus the parsed `corpus.toml`.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The folder holding `corpus.toml`; source paths are relative to it.
    pub root: PathBuf,
    /// The parsed and validated settings.
    pub config: CorpusConfig,
}

/// The contents of `corpus.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusConfig {
    /// The corpus name used in the API and in the data directory: `[a-z0-9_-]+`.
    pub name: String,
    /// What the corpus covers and what it does not, in plain words.
    pub scope: String,
    /// Where the documents are.
    pub sources: Vec<Source>,
    /// How document age affects ranking.
    #[serde(default)]
    pub recency: Recency,
    /// How much one file may bring into the index.
    #[serde(default)]
    pub limits: IngestLimits,
    /// How documents are cut into chunks.
    #[serde(default)]
    pub chunking: Chunking,
    /// How lexical and dense results are combined.
    #[serde(default)]
    pub retrieval: Retrieval,
    /// How answers are composed and when the corpus declines to answer.
    #[serde(default)]
    pub answer: AnswerSettings,
    /// The language model the `llm` composer asks; required when
    /// `answer.composer = "llm"`.
    #[serde(default)]
    pub llm: Option<LlmSettings>,
    /// Guardrail plugins, run in order.
    #[serde(default)]
    pub guardrails: Vec<GuardrailSettings>,
    /// Complete generations kept on disk after a swap, the serving one included;
    /// 2..=100. Default: 2 (the one just replaced may still be answering).
    #[serde(default = "default_keep_generations")]
    pub keep_generations: usize,
    /// Reindex on a schedule; absent: only when asked (admin API or CLI).
    #[serde(default)]
    pub watch: Option<Watch>,
}

fn default_keep_generations() -> usize {
    2
}

/// Checks a corpus name, which names folders, URLs and metric labels.
///
/// # Errors
///
/// What is wrong with it.
pub fn check_name(name: &str) -> Result<(), String> {
    let allowed =
        |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_';
    if name.is_empty() || !name.chars().all(allowed) {
        return Err(format!(
            "`{name}` must be non-empty and use only a-z, 0-9, - and _"
        ));
    }
    Ok(())
}

/// Checks a corpus scope statement, which declined answers quote.
///
/// # Errors
///
/// What is wrong with it.
pub fn check_scope(scope: &str) -> Result<(), String> {
    if scope.trim().is_empty() {
        return Err("must state what the corpus covers".into());
    }
    Ok(())
}

impl Corpus {
    /// Loads and validates `<dir>/corpus.toml`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file and the key for any syntax error, unknown
    /// key, missing source folder, bad glob or out-of-range value; [`Error::Io`] when
    /// the file cannot be read.
    pub fn load(dir: &Path) -> crate::Result<Corpus> {
        let file = dir.join(CORPUS_FILE);
        let text = std::fs::read_to_string(&file).map_err(Error::io(&file))?;
        let config = parse(&file, &text)?;
        let corpus = Corpus {
            root: dir.to_path_buf(),
            config,
        };
        corpus.validate(&file)?;
        Ok(corpus)
    }

    /// The compiled glob matcher of source `i`, relative to that source's folder.
    ///
    /// # Errors
    ///
    /// Never after [`Corpus::load`] succeeded, which compiled every glob once.
    pub fn source_matcher(&self, i: usize) -> crate::Result<GlobSet> {
        let file = self.root.join(CORPUS_FILE);
        compile_glob(&file, i, &self.config.sources[i].glob)
    }

    fn validate(&self, file: &Path) -> crate::Result<()> {
        let c = &self.config;
        let bad = |key: &str, message: String| config_error(file, key, message);
        // A section's check names its key below the section.
        let in_section =
            |section: &'static str| move |(k, m): (&str, String)| bad(&format!("{section}.{k}"), m);
        check_name(&c.name).map_err(|m| bad("name", m))?;
        check_scope(&c.scope).map_err(|m| bad("scope", m))?;
        self.check_sources(file)?;
        c.recency.check().map_err(in_section("recency"))?;
        c.limits.check().map_err(in_section("limits"))?;
        c.chunking.check().map_err(in_section("chunking"))?;
        c.retrieval.check().map_err(in_section("retrieval"))?;
        c.answer.check().map_err(in_section("answer"))?;
        if let Some(l) = &c.llm {
            l.check().map_err(in_section("llm"))?;
        }
        if c.answer.composer == Composer::Llm && c.llm.is_none() {
            return Err(bad(
                "answer.composer",
                "`llm` needs an [llm] table (base_url, model)".into(),
            ));
        }
        for (i, g) in c.guardrails.iter().enumerate() {
            check_plugin(
                &format!("guardrails[{i}]"),
                &g.plugin,
                (g.timeout_ms, 10_000),
                g.memory_mib,
            )
            .map_err(|(k, m)| bad(&k, m))?;
        }
        // The generation a swap replaces may still answer requests in flight.
        if !(2..=100).contains(&c.keep_generations) {
            return Err(bad(
                "keep_generations",
                format!(
                    "must be in 2..=100 (the replaced generation may still be serving), got {}",
                    c.keep_generations
                ),
            ));
        }
        if let Some(w) = &c.watch {
            if !(1..=86_400).contains(&w.interval_seconds) {
                return Err(bad(
                    "watch.interval_seconds",
                    format!("must be in 1..=86400, got {}", w.interval_seconds),
                ));
            }
        }
        self.check_scope_examples(file)
    }

    /// Checks every source: its folder exists, its glob compiles, its parser
    /// plugin entry is sound.
    fn check_sources(&self, file: &Path) -> crate::Result<()> {
        let bad = |key: &str, message: String| config_error(file, key, message);
        if self.config.sources.is_empty() {
            return Err(bad(
                "sources",
                "at least one [[sources]] entry is required".into(),
            ));
        }
        for (i, s) in self.config.sources.iter().enumerate() {
            let dir = self.root.join(&s.path);
            if !dir.is_dir() {
                return Err(bad(
                    &format!("sources[{i}].path"),
                    format!("folder {} does not exist", dir.display()),
                ));
            }
            compile_glob(file, i, &s.glob)?;
            if let Some(p) = &s.parser {
                check_plugin(
                    &format!("sources[{i}].parser"),
                    &p.plugin,
                    (p.timeout_ms, 60_000),
                    p.memory_mib,
                )
                .map_err(|(k, m)| bad(&k, m))?;
            }
        }
        Ok(())
    }

    /// Checks that every `answer.scope_examples` file exists.
    fn check_scope_examples(&self, file: &Path) -> crate::Result<()> {
        for (i, p) in self.config.answer.scope_examples.iter().enumerate() {
            if !self.root.join(p).is_file() {
                return Err(config_error(
                    file,
                    &format!("answer.scope_examples[{i}]"),
                    format!("file {} does not exist", self.root.join(p).display()),
                ));
            }
        }
        Ok(())
    }
}

/// An [`Error::Config`] for `key` of `file`.
fn config_error(file: &Path, key: &str, message: String) -> Error {
    Error::Config {
        file: file.to_path_buf(),
        key: key.to_owned(),
        message,
    }
}

/// Checks a plugin entry at `key`: its name, its deadline against `(timeout_ms,
/// max)`, and its memory cap; on failure, the offending key and why.
fn check_plugin(
    key: &str,
    plugin: &str,
    (timeout_ms, max_timeout_ms): (u64, u64),
    memory_mib: usize,
) -> Result<(), (String, String)> {
    if plugin.is_empty()
        || !plugin
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err((
            format!("{key}.plugin"),
            format!("`{plugin}` must use only a-z, 0-9, - and _"),
        ));
    }
    if !(1..=max_timeout_ms).contains(&timeout_ms) {
        return Err((
            format!("{key}.timeout_ms"),
            format!("must be in 1..={max_timeout_ms}, got {timeout_ms}"),
        ));
    }
    if !(1..=1024).contains(&memory_mib) {
        return Err((
            format!("{key}.memory_mib"),
            format!("must be in 1..=1024, got {memory_mib}"),
        ));
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> crate::Result<T> {
    let de = toml::Deserializer::parse(text).map_err(|e| Error::Config {
        file: file.to_path_buf(),
        key: "-".into(),
        message: e.to_string().trim().replace('\n', " "),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = match e.path().to_string() {
            p if p == "." => "-".to_owned(),
            p => p,
        };
        Error::Config {
            file: file.to_path_buf(),
            key,
            message: e.into_inner().message().to_owned(),
        }
    })
}

fn compile_glob(file: &Path, i: usize, glob: &str) -> crate::Result<GlobSet> {
    let bad = |message: String| Error::Config {
        file: file.to_path_buf(),
        key: format!("sources[{i}].glob"),
        message,
    };
    let g = Glob::new(glob).map_err(|e| bad(format!("`{glob}` is not a valid glob: {e}")))?;
    GlobSetBuilder::new()
        .add(g)
        .build()
        .map_err(|e| bad(format!("`{glob}`: {e}")))
}

#[cfg(test)]
mod tests;
