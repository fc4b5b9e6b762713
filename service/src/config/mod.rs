//! Corpus configuration (`corpus.toml`) and the deployment file (`candor.toml`):
//! parsing and validation before any work.
//!
//! Everything is checked up front (unknown keys, missing folders, bad globs, out of
//! range numbers) so that a bad config fails in milliseconds with the file and key,
//! never halfway through an index run. This module must not touch indexes or models.

mod assets;
mod deployment;

use std::path::{Path, PathBuf};

pub use assets::{find_dir, Assets, ASSETS_ENV};
pub use deployment::{
    ClusterLayout, Deployment, QdrantAddress, VectorStoreKind, VectorStoreSettings, DEPLOYMENT_ENV,
};
use globset::{Glob, GlobSet, GlobSetBuilder};
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

/// `[watch]`: while the server runs, look for changed files on a schedule and
/// reindex incrementally when there are any.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// Seconds between looks; 1..=86400.
    pub interval_seconds: u64,
}

/// One `[[guardrails]]` entry: a guardrail plugin and when it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailSettings {
    /// The plugin's name: the component `<name>.wasm` (dashes may be written as
    /// underscores) in the plugins folder.
    pub plugin: String,
    /// `input` checks questions before retrieval; `output` checks composed answers.
    pub stage: Stage,
    /// What a failing guardrail (trap, timeout, bad result) means. Default:
    /// `fail_closed`, the question is declined as `blocked`.
    #[serde(default)]
    pub on_error: OnError,
    /// Deadline per call in milliseconds; 1..=10000. Default: 50.
    #[serde(default = "default_guardrail_timeout_ms")]
    pub timeout_ms: u64,
    /// Memory cap in MiB; 1..=1024. Default: 64.
    #[serde(default = "default_guardrail_memory_mib")]
    pub memory_mib: usize,
    /// The plugin's own settings, passed to it as a JSON object.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_guardrail_timeout_ms() -> u64 {
    50
}
fn default_guardrail_memory_mib() -> usize {
    64
}

/// When a guardrail runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// On the question, before retrieval.
    Input,
    /// On the composed answer.
    Output,
}

/// What a guardrail failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Decline the question as `blocked` ("guardrail unavailable").
    #[default]
    FailClosed,
    /// Go on without this guardrail, with a warning.
    FailOpen,
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A folder relative to the corpus folder.
    pub path: PathBuf,
    /// Which files under `path` to take. Default: `**/*`.
    #[serde(default = "default_glob")]
    pub glob: String,
    /// A parser plugin for these files; absent means the built-in parser chosen
    /// by file type.
    #[serde(default)]
    pub parser: Option<ParserSettings>,
}

/// A source's `[sources.parser]` table: the parser plugin that turns its files
/// into documents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParserSettings {
    /// The plugin's name, as for guardrails.
    pub plugin: String,
    /// Deadline per file in milliseconds; 1..=60000. Default: 2000.
    #[serde(default = "default_parser_timeout_ms")]
    pub timeout_ms: u64,
    /// Memory cap in MiB; 1..=1024. Default: 256.
    #[serde(default = "default_parser_memory_mib")]
    pub memory_mib: usize,
    /// The plugin's own settings, passed to it as a JSON object.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_parser_timeout_ms() -> u64 {
    2_000
}
fn default_parser_memory_mib() -> usize {
    256
}

fn default_glob() -> String {
    "**/*".to_owned()
}

/// `[recency]`: a decay on document age, blended with relevance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recency {
    /// Age, in days, at which the recency factor halves. Must be > 0. Default: 365.
    #[serde(default = "default_half_life_days")]
    pub half_life_days: f64,
    /// How much recency counts against relevance, in [0, 1]. Default: 0.1.
    #[serde(default = "default_recency_weight")]
    pub weight: f64,
    /// Evidence older than this many days gets a staleness warning. Default: 730.
    #[serde(default = "default_freshness_days")]
    pub freshness_days: f64,
}

fn default_half_life_days() -> f64 {
    365.0
}
fn default_recency_weight() -> f64 {
    0.1
}
fn default_freshness_days() -> f64 {
    730.0
}

impl Default for Recency {
    fn default() -> Self {
        Recency {
            half_life_days: default_half_life_days(),
            weight: default_recency_weight(),
            freshness_days: default_freshness_days(),
        }
    }
}

/// `[limits]`: what one file may bring into the index. A file over any of them
/// is an error of that file, reported and skipped; the run goes on. They bound
/// the memory and time one file can cost, whoever wrote it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IngestLimits {
    /// Largest file read, in MiB; 1..=1024. Default: 32.
    #[serde(default = "default_max_file_mib")]
    pub max_file_mib: usize,
    /// Largest text of one parsed document, in MiB; 1..=1024. Default: 16.
    #[serde(default = "default_max_document_mib")]
    pub max_document_mib: usize,
    /// Most documents parsed from one file; 1..=1000000. Default: 10000.
    #[serde(default = "default_max_documents_per_file")]
    pub max_documents_per_file: usize,
    /// Most chunks cut from one file; 1..=10000000. Default: 40000 (about 40 MB of
    /// text, a few minutes of embedding on two cores).
    #[serde(default = "default_max_chunks_per_file")]
    pub max_chunks_per_file: usize,
}

fn default_max_file_mib() -> usize {
    32
}
fn default_max_document_mib() -> usize {
    16
}
fn default_max_documents_per_file() -> usize {
    10_000
}
fn default_max_chunks_per_file() -> usize {
    40_000
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_file_mib: default_max_file_mib(),
            max_document_mib: default_max_document_mib(),
            max_documents_per_file: default_max_documents_per_file(),
            max_chunks_per_file: default_max_chunks_per_file(),
        }
    }
}

impl IngestLimits {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    ///
    /// The offending field's name and what is allowed.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let ranges = [
            ("max_file_mib", self.max_file_mib, 1_024),
            ("max_document_mib", self.max_document_mib, 1_024),
            (
                "max_documents_per_file",
                self.max_documents_per_file,
                1_000_000,
            ),
            ("max_chunks_per_file", self.max_chunks_per_file, 10_000_000),
        ];
        for (key, value, max) in ranges {
            if !(1..=max).contains(&value) {
                return Err((key, format!("must be in 1..={max}, got {value}")));
            }
        }
        Ok(())
    }
}

/// `[chunking]`: token-bounded windows with overlap.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct Chunking {
    /// Word-pieces per chunk, title and heading prefix included; at most 256 (the
    /// model's training length). Default: 240.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Word-pieces shared by consecutive windows of one section; less than
    /// `max_tokens / 2`. Default: 48.
    #[serde(default = "default_overlap_tokens")]
    pub overlap_tokens: usize,
}

fn default_max_tokens() -> usize {
    240
}
fn default_overlap_tokens() -> usize {
    48
}

impl Chunking {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    ///
    /// The offending field's name and what is allowed.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(32..=MODEL_MAX_TOKENS).contains(&self.max_tokens) {
            return Err((
                "max_tokens",
                format!(
                    "must be in 32..={MODEL_MAX_TOKENS} (the model's training length), got {}",
                    self.max_tokens
                ),
            ));
        }
        if self.overlap_tokens * 2 >= self.max_tokens {
            return Err((
                "overlap_tokens",
                format!(
                    "must be less than half of max_tokens ({}), got {}",
                    self.max_tokens, self.overlap_tokens
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            max_tokens: default_max_tokens(),
            overlap_tokens: default_overlap_tokens(),
        }
    }
}

/// How lexical and dense rankings are fused.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: `sum 1 / (k + rank)`.
    Rrf,
    /// A weighted sum of z-score normalised scores.
    Blend,
}

impl std::str::FromStr for Fusion {
    type Err = String;

    fn from_str(s: &str) -> Result<Fusion, String> {
        match s {
            "rrf" => Ok(Fusion::Rrf),
            "blend" => Ok(Fusion::Blend),
            other => Err(format!(
                "`{other}` is not a fusion method; use rrf or blend"
            )),
        }
    }
}

/// `[retrieval]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retrieval {
    /// Fusion method. Default: `blend`.
    #[serde(default = "default_fusion")]
    pub fusion: Fusion,
    /// RRF's `k`; > 0. Default: 60.
    #[serde(default = "default_rrf_k")]
    pub rrf_k: f64,
    /// Weight of the dense signal in fusion, in [0, 1]; lexical gets the rest.
    /// Default: 0.45 (best on the SciFact train split).
    #[serde(default = "default_dense_weight")]
    pub dense_weight: f64,
    /// Chunks taken from each retriever before fusion; 1..=1000. Default: 100.
    #[serde(default = "default_candidates")]
    pub candidates: usize,
    /// Boost of the title field in BM25, > 0. Every chunk of a document repeats its
    /// title, so a full-weight title match outweighs the passage itself. Default: 0.4
    /// (best on the SciFact train split).
    #[serde(default = "default_title_boost")]
    pub title_boost: f32,
}

fn default_fusion() -> Fusion {
    Fusion::Blend
}
fn default_rrf_k() -> f64 {
    60.0
}
fn default_dense_weight() -> f64 {
    0.45
}
fn default_candidates() -> usize {
    100
}
fn default_title_boost() -> f32 {
    0.4
}

impl Retrieval {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    ///
    /// The offending field's name and what is allowed.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.rrf_k.is_finite() && self.rrf_k > 0.0) {
            return Err(("rrf_k", format!("must be > 0, got {}", self.rrf_k)));
        }
        if !(0.0..=1.0).contains(&self.dense_weight) {
            return Err((
                "dense_weight",
                format!("must be in [0, 1], got {}", self.dense_weight),
            ));
        }
        if !(1..=1000).contains(&self.candidates) {
            return Err((
                "candidates",
                format!("must be in 1..=1000, got {}", self.candidates),
            ));
        }
        if !(self.title_boost.is_finite() && self.title_boost > 0.0) {
            return Err((
                "title_boost",
                format!("must be > 0, got {}", self.title_boost),
            ));
        }
        Ok(())
    }
}

impl Default for Retrieval {
    fn default() -> Self {
        Retrieval {
            fusion: default_fusion(),
            rrf_k: default_rrf_k(),
            dense_weight: default_dense_weight(),
            candidates: default_candidates(),
            title_boost: default_title_boost(),
        }
    }
}

/// `[answer]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerSettings {
    /// Most sentences an answer holds (either composer); 1..=4. Default: 3.
    #[serde(default = "default_max_sentences")]
    pub max_sentences: usize,
    /// Top-ranked chunks the composer reads sentences from; 1..=20. Default: 5.
    #[serde(default = "default_evidence_chunks")]
    pub evidence_chunks: usize,
    /// JSONL files (relative to the corpus folder, one object with a `text` field per
    /// line) of questions this corpus answers. A question close to them is in
    /// scope; they sharpen the scope statement. Default: none.
    #[serde(default)]
    pub scope_examples: Vec<PathBuf>,
    /// Who writes the answer. Default: `extractive`.
    #[serde(default)]
    pub composer: Composer,
}

/// Who writes an answer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Composer {
    /// The corpus's own sentences, each cited.
    #[default]
    Extractive,
    /// A language model writes from the numbered evidence; sentences without a
    /// valid, supported citation are dropped.
    Llm,
}

/// `[llm]`: an OpenAI-compatible chat completions endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    /// The API's base address, up to and including `/v1`
    /// (`http://127.0.0.1:8091/v1`, `https://api.openai.com/v1`).
    pub base_url: String,
    /// The model name sent with each request.
    pub model: String,
    /// The environment variable holding the API key, sent as a bearer token;
    /// absent: no key is sent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Deadline for a whole generation in milliseconds; 100..=600000. Default: 30000.
    #[serde(default = "default_llm_timeout_ms")]
    pub timeout_ms: u64,
    /// Most tokens the model may write; 1..=8192. Default: 400.
    #[serde(default = "default_llm_max_tokens")]
    pub max_tokens: u32,
    /// Sampling temperature; 0..=2. Default: 0 (the most likely words).
    #[serde(default)]
    pub temperature: f32,
    /// The system prompt. `{scope}` becomes the scope statement and `{sources}`
    /// the numbered evidence; both must appear. Absent: a built-in prompt.
    #[serde(default)]
    pub prompt: Option<String>,
    /// What an answer becomes when the model fails (unreachable, too slow,
    /// malformed output). Default: `extractive`.
    #[serde(default)]
    pub on_failure: OnLlmFailure,
}

/// What an answer becomes when the language model fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLlmFailure {
    /// The extractive composer answers instead, with a warning.
    #[default]
    Extractive,
    /// `unsupported` with reason `composer_unavailable`.
    Unsupported,
}

fn default_llm_timeout_ms() -> u64 {
    30_000
}
fn default_llm_max_tokens() -> u32 {
    400
}

impl LlmSettings {
    /// Checks every value; on failure, the key (below `llm.`) and why.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let url = self.base_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(char::is_whitespace)
        {
            return Err((
                "base_url",
                format!(
                    "must be an http:// or https:// address, got `{}`",
                    self.base_url
                ),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(("model", "must not be empty".into()));
        }
        if !(100..=600_000).contains(&self.timeout_ms) {
            return Err((
                "timeout_ms",
                format!("must be in 100..=600000, got {}", self.timeout_ms),
            ));
        }
        if !(1..=8192).contains(&self.max_tokens) {
            return Err((
                "max_tokens",
                format!("must be in 1..=8192, got {}", self.max_tokens),
            ));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err((
                "temperature",
                format!("must be in [0, 2], got {}", self.temperature),
            ));
        }
        if let Some(p) = &self.prompt {
            for slot in ["{scope}", "{sources}"] {
                if !p.contains(slot) {
                    return Err(("prompt", format!("must contain `{slot}`")));
                }
            }
        }
        Ok(())
    }
}

fn default_max_sentences() -> usize {
    3
}
fn default_evidence_chunks() -> usize {
    5
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings {
            max_sentences: default_max_sentences(),
            evidence_chunks: default_evidence_chunks(),
            scope_examples: Vec::new(),
            composer: Composer::default(),
        }
    }
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
        let bad = |key: &str, message: String| Error::Config {
            file: file.to_path_buf(),
            key: key.to_owned(),
            message,
        };
        check_name(&c.name).map_err(|m| bad("name", m))?;
        check_scope(&c.scope).map_err(|m| bad("scope", m))?;
        if c.sources.is_empty() {
            return Err(bad(
                "sources",
                "at least one [[sources]] entry is required".into(),
            ));
        }
        for (i, s) in c.sources.iter().enumerate() {
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
        let r = &c.recency;
        if !(r.half_life_days.is_finite() && r.half_life_days > 0.0) {
            return Err(bad(
                "recency.half_life_days",
                format!(
                    "must be a positive number of days, got {}",
                    r.half_life_days
                ),
            ));
        }
        if !(0.0..=1.0).contains(&r.weight) {
            return Err(bad(
                "recency.weight",
                format!("must be in [0, 1], got {}", r.weight),
            ));
        }
        if !(r.freshness_days.is_finite() && r.freshness_days > 0.0) {
            return Err(bad(
                "recency.freshness_days",
                format!(
                    "must be a positive number of days, got {}",
                    r.freshness_days
                ),
            ));
        }
        c.limits
            .check()
            .map_err(|(k, m)| bad(&format!("limits.{k}"), m))?;
        c.chunking
            .check()
            .map_err(|(k, m)| bad(&format!("chunking.{k}"), m))?;
        c.retrieval
            .check()
            .map_err(|(k, m)| bad(&format!("retrieval.{k}"), m))?;
        let a = &c.answer;
        if !(1..=4).contains(&a.max_sentences) {
            return Err(bad(
                "answer.max_sentences",
                format!("must be in 1..=4, got {}", a.max_sentences),
            ));
        }
        if !(1..=20).contains(&a.evidence_chunks) {
            return Err(bad(
                "answer.evidence_chunks",
                format!("must be in 1..=20, got {}", a.evidence_chunks),
            ));
        }
        if let Some(l) = &c.llm {
            l.check().map_err(|(k, m)| bad(&format!("llm.{k}"), m))?;
        }
        if a.composer == Composer::Llm && c.llm.is_none() {
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
        for (i, p) in a.scope_examples.iter().enumerate() {
            if !self.root.join(p).is_file() {
                return Err(bad(
                    &format!("answer.scope_examples[{i}]"),
                    format!("file {} does not exist", self.root.join(p).display()),
                ));
            }
        }
        Ok(())
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
mod tests {
    use super::*;

    fn corpus_with(toml_text: &str) -> (tempfile::TempDir, crate::Result<Corpus>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join(CORPUS_FILE), toml_text).unwrap();
        let r = Corpus::load(dir.path());
        (dir, r)
    }

    const MINIMAL: &str = r#"
name = "notes"
scope = "Maintenance windows of our clusters; nothing else."
[[sources]]
path = "docs"
glob = "**/*.md"
"#;

    fn config_error(r: crate::Result<Corpus>) -> (String, String) {
        match r {
            Err(Error::Config { key, message, file }) => {
                assert!(
                    file.ends_with(CORPUS_FILE),
                    "error names the file: {}",
                    file.display()
                );
                (key, message)
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let (_d, r) = corpus_with(MINIMAL);
        let c = r.unwrap();
        assert_eq!(c.config.name, "notes");
        assert_eq!(c.config.chunking.max_tokens, 240);
        assert_eq!(c.config.recency.half_life_days, 365.0);
        assert_eq!(c.config.retrieval.fusion, Fusion::Blend);
    }

    #[test]
    fn unknown_key_names_the_key() {
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[recency]\nhalf_life = 3\n"));
        let (key, message) = config_error(r);
        assert_eq!(key, "recency.half_life");
        assert!(message.contains("unknown field `half_life`"), "{message}");
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let (_d, r) = corpus_with(&format!("colour = \"red\"\n{MINIMAL}"));
        let (key, message) = config_error(r);
        assert_eq!(key, "colour");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn missing_source_folder_is_named() {
        let (_d, r) = corpus_with(&MINIMAL.replace("path = \"docs\"", "path = \"nowhere\""));
        let (key, message) = config_error(r);
        assert_eq!(key, "sources[0].path");
        assert!(
            message.contains("nowhere") && message.contains("does not exist"),
            "{message}"
        );
    }

    #[test]
    fn bad_glob_is_named() {
        let (_d, r) = corpus_with(&MINIMAL.replace("**/*.md", "docs/[a-"));
        let (key, message) = config_error(r);
        assert_eq!(key, "sources[0].glob");
        assert!(message.contains("not a valid glob"), "{message}");
    }

    #[test]
    fn bad_half_life_values_are_rejected() {
        for v in ["0", "-3", "nan", "inf"] {
            let (_d, r) = corpus_with(&format!("{MINIMAL}\n[recency]\nhalf_life_days = {v}\n"));
            let (key, message) = config_error(r);
            assert_eq!(key, "recency.half_life_days", "value {v}");
            assert!(message.contains("positive"), "{message}");
        }
    }

    #[test]
    fn wrong_type_names_the_key() {
        let (_d, r) = corpus_with(&format!(
            "{MINIMAL}\n[recency]\nhalf_life_days = \"a year\"\n"
        ));
        let (key, message) = config_error(r);
        assert_eq!(key, "recency.half_life_days");
        assert!(message.contains("invalid type"), "{message}");
    }

    #[test]
    fn syntax_error_names_the_file() {
        let (_d, r) = corpus_with("name = \"x\nscope = ");
        let (key, _message) = config_error(r);
        assert_eq!(key, "-");
    }

    #[test]
    fn ingest_limits_have_defaults_and_ranges() {
        let (_d, r) = corpus_with(MINIMAL);
        assert_eq!(r.unwrap().config.limits, IngestLimits::default());
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[limits]\nmax_file_mib = 2\n"));
        let limits = r.unwrap().config.limits;
        assert_eq!(
            (limits.max_file_mib, limits.max_chunks_per_file),
            (2, 40_000)
        );
        let (_d, r) = corpus_with(&format!(
            "{MINIMAL}\n[limits]\nmax_documents_per_file = 0\n"
        ));
        let (key, message) = config_error(r);
        assert_eq!(key, "limits.max_documents_per_file");
        assert!(message.contains("1..=1000000"), "{message}");
    }

    #[test]
    fn chunk_size_beyond_model_length_is_rejected() {
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[chunking]\nmax_tokens = 512\n"));
        let (key, _) = config_error(r);
        assert_eq!(key, "chunking.max_tokens");
    }

    #[test]
    fn bad_name_is_rejected() {
        let (_d, r) = corpus_with(&MINIMAL.replace("\"notes\"", "\"My Notes\""));
        let (key, _) = config_error(r);
        assert_eq!(key, "name");
    }

    #[test]
    fn answer_settings_are_range_checked_and_example_files_must_exist() {
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[answer]\nmax_sentences = 5\n"));
        assert_eq!(config_error(r).0, "answer.max_sentences");
        let (_d, r) = corpus_with(&format!(
            "{MINIMAL}\n[answer]\nscope_examples = [\"eval/missing.jsonl\"]\n"
        ));
        let (key, message) = config_error(r);
        assert_eq!(key, "answer.scope_examples[0]");
        assert!(message.contains("missing.jsonl"), "{message}");
    }

    #[test]
    fn the_llm_composer_needs_a_valid_llm_table() {
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[answer]\ncomposer = \"llm\"\n"));
        assert_eq!(config_error(r).0, "answer.composer");
        let llm = "\n[llm]\nbase_url = \"http://127.0.0.1:8091/v1\"\nmodel = \"m\"\n";
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[answer]\ncomposer = \"llm\"\n{llm}"));
        let c = r.unwrap().config;
        let l = c.llm.unwrap();
        assert_eq!(c.answer.composer, Composer::Llm);
        assert_eq!(
            (l.timeout_ms, l.max_tokens, l.on_failure),
            (30_000, 400, OnLlmFailure::Extractive)
        );
        for (extra, key) in [
            ("timeout_ms = 5\n", "llm.timeout_ms"),
            ("temperature = 3.0\n", "llm.temperature"),
            ("prompt = \"Answer from {sources}.\"\n", "llm.prompt"),
        ] {
            let (_d, r) = corpus_with(&format!("{MINIMAL}{llm}{extra}"));
            assert_eq!(config_error(r).0, key, "{extra}");
        }
        let (_d, r) = corpus_with(&format!(
            "{MINIMAL}\n[llm]\nbase_url = \"ftp://x\"\nmodel = \"m\"\n"
        ));
        assert_eq!(config_error(r).0, "llm.base_url");
    }

    #[test]
    fn guardrails_parse_with_defaults_and_bad_values_are_named() {
        let guard = "\n[[guardrails]]\nplugin = \"topic-policy\"\nstage = \"input\"\n[guardrails.config]\nstrict = true\n";
        let (_d, r) = corpus_with(&format!("{MINIMAL}{guard}"));
        let g = &r.unwrap().config.guardrails[0];
        assert_eq!(
            (g.stage, g.on_error, g.timeout_ms, g.memory_mib),
            (Stage::Input, OnError::FailClosed, 50, 64)
        );
        assert_eq!(g.config.get("strict").and_then(|v| v.as_bool()), Some(true));
        let (_d, r) = corpus_with(&format!(
            "{MINIMAL}{}",
            guard.replace("stage = \"input\"", "stage = \"input\"\ntimeout_ms = 0")
        ));
        assert_eq!(config_error(r).0, "guardrails[0].timeout_ms");
        let (_d, r) = corpus_with(&format!(
            "{MINIMAL}{}",
            guard.replace("\"input\"", "\"sideways\"")
        ));
        let (key, message) = config_error(r);
        assert_eq!(key, "guardrails[0].stage");
        assert!(message.contains("unknown variant"), "{message}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Corpus::load(dir.path()), Err(Error::Io { .. })));
    }
}
