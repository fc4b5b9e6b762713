//! The sections of `corpus.toml`, each with its defaults and its own range
//! checks: sources and their parsers, limits, chunking, retrieval, recency,
//! answers and the language model, guardrails, the watch.

use std::path::PathBuf;

use serde::Deserialize;

use super::MODEL_MAX_TOKENS;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
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

impl Recency {
    /// Checks every value; on failure, the key (below `recency.`) and why.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.half_life_days.is_finite() && self.half_life_days > 0.0) {
            return Err((
                "half_life_days",
                format!(
                    "must be a positive number of days, got {}",
                    self.half_life_days
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(("weight", format!("must be in [0, 1], got {}", self.weight)));
        }
        if !(self.freshness_days.is_finite() && self.freshness_days > 0.0) {
            return Err((
                "freshness_days",
                format!(
                    "must be a positive number of days, got {}",
                    self.freshness_days
                ),
            ));
        }
        Ok(())
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
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
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
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

impl AnswerSettings {
    /// Checks the ranges; on failure, the key (below `answer.`) and why.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=4).contains(&self.max_sentences) {
            return Err((
                "max_sentences",
                format!("must be in 1..=4, got {}", self.max_sentences),
            ));
        }
        if !(1..=20).contains(&self.evidence_chunks) {
            return Err((
                "evidence_chunks",
                format!("must be in 1..=20, got {}", self.evidence_chunks),
            ));
        }
        Ok(())
    }
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
