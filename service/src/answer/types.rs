//! What goes into the engine and what comes out: questions, answers, the
//! progress of an answer in the making, search results.

use super::*;

/// A question for [`Answerer::answer`].
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// The question text.
    pub text: &'a str,
    /// The corpus; when None, the best-matching served corpus.
    pub corpus: Option<&'a str>,
    /// Documents dated after this day are left out.
    pub as_of: Option<NaiveDate>,
    /// Evidence chunks the composer reads; None uses the corpus setting.
    pub top_k: Option<usize>,
}

/// A question the engine accepted. Only [`Answerer::ask`] makes one, and it
/// checks the question once: answering it needs no second look.
#[derive(Debug, Clone)]
pub struct Asked {
    pub(super) text: String,
    pub(super) corpus: Option<String>,
    pub(super) as_of: Option<NaiveDate>,
    pub(super) top_k: Option<usize>,
}

pub(super) fn check_top_k(k: usize, max: usize) -> crate::Result<()> {
    if (1..=max).contains(&k) {
        Ok(())
    } else {
        Err(Error::InvalidTopK { got: k, max })
    }
}

impl Asked {
    pub(super) fn question(&self) -> Question<'_> {
        Question {
            text: &self.text,
            corpus: self.corpus.as_deref(),
            as_of: self.as_of,
            top_k: self.top_k,
        }
    }
}

/// Why a question was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The question is about something the corpus does not cover.
    OutOfScope,
    /// In scope, but nothing retrieved supports an answer.
    InsufficientEvidence,
    /// A guardrail refused the question or the answer.
    Blocked,
    /// The corpus composes with a language model, the model failed, and the
    /// corpus is set to decline rather than answer extractively.
    ComposerUnavailable,
}

impl Reason {
    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfScope => "out_of_scope",
            Reason::InsufficientEvidence => "insufficient_evidence",
            Reason::Blocked => "blocked",
            Reason::ComposerUnavailable => "composer_unavailable",
        }
    }
}

/// What happened to a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A cited answer.
    Answered(Composed),
    /// No answer, and why.
    Unsupported(Reason),
}

/// A piece of an answer in the making, for a reader that follows it.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The evidence the answer cites, numbered from 1: first, before any text.
    Evidence(&'a [Citation]),
    /// The next sentence, released only after it passed every check.
    Sentence(&'a str),
    /// Everything sent so far is void (the language model failed); the answer
    /// starts again, from new evidence. The text says why.
    Restart(&'a str),
    /// Still working, nothing to show: lets a reader that has gone stop a
    /// language model mid-sentence.
    Working,
}

/// Receives [`Progress`]; returns false when the reader has gone, which stops
/// the answer ([`Error::Cancelled`]).
pub type Sink<'a> = &'a mut dyn FnMut(Progress<'_>) -> bool;

/// What the language model did for an answer: for the answer log, so that rated
/// answers become eval cases for the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRun {
    /// The model, as the endpoint named it.
    pub model: String,
    /// SHA-256 of the system prompt and question.
    pub prompt_hash: String,
    /// Everything the model wrote.
    pub raw_output: String,
    /// The sentences kept, with their support scores.
    pub kept: Vec<generate::Kept>,
    /// The sentences left out, and why.
    pub dropped: Vec<Dropped>,
    /// Why the model failed, when it did (the answer then fell back).
    pub failure: Option<String>,
}

/// How the support decision saw the question (for explaining an outcome).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Support {
    /// The measured signals.
    pub signals: Signals,
    /// The confidence an answer needs.
    pub threshold: f32,
    /// False when the corpus has no calibration of its own.
    pub calibrated: bool,
    /// The evidence check's view, when the calibration has one.
    pub evidence: Option<EvidenceView>,
}

/// How the evidence check saw the best-ranked document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceView {
    /// The check's probability that the best-ranked document is relevant.
    pub probability: f32,
    /// Below this, the question is declined as `insufficient_evidence`.
    pub threshold: f32,
}

/// The result of a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Answered or unsupported.
    pub outcome: Outcome,
    /// A sentence for a person saying what happened.
    pub message: String,
    /// The scope statement of the corpus (or of every corpus, when none fits).
    pub scope: String,
    /// The support model's confidence in [0, 1].
    pub confidence: f32,
    /// Signals and threshold behind the decision; None when no corpus was assessed.
    pub support: Option<Support>,
    /// Things the reader should know (stale evidence, no calibration, a guardrail
    /// that failed open).
    pub warnings: Vec<String>,
    /// Guardrail rules that fired (blocked or redacted).
    pub guardrails: Vec<Fired>,
    /// The corpus that answered or declined.
    pub corpus: String,
    /// Its generation.
    pub generation: GenerationId,
    /// True when served from the answer cache.
    pub cached: bool,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
    /// The question as the input guardrails left it, redactions applied: what
    /// an answer log may keep. Not part of the JSON answer.
    pub asked: String,
    /// Who wrote the answer (after any fallback).
    pub composer: Composer,
    /// The language model's part, when the corpus composes with one. Not part of
    /// the JSON answer beyond `dropped_sentences`.
    pub llm: Option<LlmRun>,
    /// True when a guardrail failed and its `on_error` policy shaped this
    /// answer (a fail_closed block, a fail_open skip): never cached, so the
    /// next asker meets the guardrail again. Not part of the JSON answer.
    pub degraded: bool,
}

/// Counts an answer by corpus, outcome and reason, and whether the cache served it.
pub(super) fn count(a: &Answer) {
    let (status, reason) = match &a.outcome {
        Outcome::Answered(_) => ("answered", ""),
        Outcome::Unsupported(r) => ("unsupported", r.as_str()),
    };
    crate::metrics::inc(
        "candor_answers_total",
        "Answers by corpus, status and reason.",
        &[
            ("corpus", &a.corpus),
            ("status", status),
            ("reason", reason),
        ],
    );
    crate::metrics::inc(
        "candor_answer_cache_total",
        "Answer cache lookups by result (hit, miss).",
        &[("result", if a.cached { "hit" } else { "miss" })],
    );
}

/// Search results after the input guardrails.
#[derive(Debug, Clone)]
pub struct Searched {
    /// The ranking; no evidence when a guardrail blocked the question.
    pub result: SearchResult,
    /// Guardrail rules that fired on the question.
    pub guardrails: Vec<Fired>,
    /// Guardrails that failed and were skipped or declined the question.
    pub warnings: Vec<String>,
}
