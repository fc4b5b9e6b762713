//! `POST /v1/answer`: the answer and what it is made of.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::answer::{self as engine, Answer, Outcome};

/// A document's stable id: its path relative to the corpus folder (or, for imported
/// datasets, the record's own id).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(transparent)]
pub struct DocId(pub String);

/// A generation's number; generations of a corpus are numbered 1, 2, 3, …
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(transparent)]
pub struct GenerationId(pub u64);

impl From<crate::index::GenerationId> for GenerationId {
    fn from(g: crate::index::GenerationId) -> Self {
        GenerationId(g.0)
    }
}

/// `answered` or `unsupported`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
pub enum Status {
    /// A cited answer.
    Answered,
    /// No answer; `reason` says why.
    Unsupported,
}

/// Why a question was not answered.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
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

impl From<engine::Reason> for Reason {
    fn from(r: engine::Reason) -> Self {
        match r {
            engine::Reason::OutOfScope => Reason::OutOfScope,
            engine::Reason::InsufficientEvidence => Reason::InsufficientEvidence,
            engine::Reason::Blocked => Reason::Blocked,
            engine::Reason::ComposerUnavailable => Reason::ComposerUnavailable,
        }
    }
}

/// Where one sentence of an answer comes from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Citation {
    /// The document.
    pub doc_id: DocId,
    /// Its title.
    pub title: String,
    /// Its source path, relative to the corpus folder.
    pub source: String,
    /// 1-based page, for paginated formats.
    pub page: Option<u32>,
    /// The document's date.
    pub date: Option<chrono::NaiveDate>,
    /// Character offsets `[start, end)` of the cited sentence in the document text.
    #[schema(value_type = Vec<u64>)]
    pub span: (usize, usize),
    /// The sentence with some of its surrounding text.
    pub snippet: String,
    /// The evidence's ranking score.
    pub score: f32,
    /// The document's extra fields from its parser plugin (a release's version).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl From<engine::Citation> for Citation {
    fn from(c: engine::Citation) -> Self {
        Citation {
            doc_id: DocId(c.doc_id.0),
            title: c.title,
            source: c.source.to_string_lossy().into_owned(),
            page: c.page,
            date: c.date,
            span: c.span,
            snippet: c.snippet,
            score: c.score,
            metadata: c.metadata,
        }
    }
}

/// How the support decision saw the question (for explaining an outcome).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Support {
    /// The measured signals.
    pub signals: Signals,
    /// The confidence an answer needs.
    pub threshold: f32,
    /// False when the corpus has no calibration of its own.
    pub calibrated: bool,
    /// The evidence check's view, when the calibration has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceView>,
}

impl From<engine::Support> for Support {
    fn from(s: engine::Support) -> Self {
        Support {
            signals: s.signals.into(),
            threshold: s.threshold,
            calibrated: s.calibrated,
            evidence: s.evidence.map(|e| EvidenceView {
                probability: e.probability,
                threshold: e.threshold,
            }),
        }
    }
}

/// How the evidence check saw the best-ranked document.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct EvidenceView {
    /// The check's probability that the best-ranked document is relevant.
    pub probability: f32,
    /// Below this, the question is declined as `insufficient_evidence`.
    pub threshold: f32,
}

/// What a question and its retrieved evidence look like to the support decision.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Signals {
    /// Cosine similarity of the best dense hit.
    pub dense_best: f32,
    /// Mean cosine similarity of the top dense hits: how much of the corpus is about
    /// the question's topic, not just one lucky passage.
    pub dense_mean: f32,
    /// Share of the question's content terms (weighted by IDF) found in the top
    /// chunks.
    pub coverage: f32,
    /// Overlap of the top documents of BM25 and of dense search, in [0, 1].
    pub agreement: f32,
    /// How high the best-ranked document stands in BM25's or dense search's own
    /// ranking, whichever is higher: 1 when one of them ranks it first, 0 when
    /// neither has it among its top documents. A fused winner that neither
    /// retriever prefers is a compromise, and often the wrong document.
    pub lead: f32,
    /// Cosine similarity to the corpus's scope statement.
    pub scope: f32,
    /// Mean cosine similarity to the nearest scope examples; the scope statement's
    /// similarity when the corpus has none.
    pub examples: f32,
    /// How rare the rarest question term that the top chunks lack is: its IDF
    /// over the IDF of a term no chunk holds, so 1 when the question names
    /// something the corpus never mentions ("kubernetes"), 0 when the top
    /// chunks hold every term.
    pub missing: f32,
    /// 1 when the question names something that neither the corpus nor the
    /// embedding model's vocabulary knows ("Veeam", "crontab"), else 0.
    pub unknown: f32,
    /// How well the composed answer fits the question: the IDF-weighted share
    /// of the question's content terms its sentences (or the titles of what
    /// they cite) hold. 0 before an answer is composed, and when none could be.
    pub answer: f32,
    /// How close in meaning the composed answer's closest sentence is to the
    /// question (a cosine of their embeddings). 0 before an answer is
    /// composed, and when none could be.
    pub meaning: f32,
}

impl From<engine::Signals> for Signals {
    fn from(s: engine::Signals) -> Self {
        Signals {
            dense_best: s.dense_best,
            dense_mean: s.dense_mean,
            coverage: s.coverage,
            agreement: s.agreement,
            lead: s.lead,
            scope: s.scope,
            examples: s.examples,
            missing: s.missing,
            unknown: s.unknown,
            answer: s.answer,
            meaning: s.meaning,
        }
    }
}

/// When a guardrail runs.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// On the question, before retrieval.
    Input,
    /// On the composed answer.
    Output,
}

/// A guardrail rule that fired.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Fired {
    /// The plugin.
    pub plugin: String,
    /// Where it ran.
    pub stage: Stage,
    /// `block` or `redact`.
    pub action: &'static str,
    /// The plugin's code for the rule (`pii.email`), or `guardrail.unavailable`.
    pub code: String,
    /// Why, for a person.
    pub reason: String,
}

impl From<engine::Fired> for Fired {
    fn from(f: engine::Fired) -> Self {
        Fired {
            plugin: f.plugin,
            stage: match f.stage {
                crate::config::Stage::Input => Stage::Input,
                crate::config::Stage::Output => Stage::Output,
            },
            action: f.action,
            code: f.code,
            reason: f.reason,
        }
    }
}

/// Who writes an answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Composer {
    /// The corpus's own sentences, each cited.
    Extractive,
    /// A language model writes from the numbered evidence; sentences without a
    /// valid, supported citation are dropped.
    Llm,
}

impl From<crate::config::Composer> for Composer {
    fn from(c: crate::config::Composer) -> Self {
        match c {
            crate::config::Composer::Extractive => Composer::Extractive,
            crate::config::Composer::Llm => Composer::Llm,
        }
    }
}

// The engine's `Answer` also holds what only the answer log keeps (the
// question as the guardrails left it, the language model's run).
/// `POST /v1/answer`: the answer, with the id it was logged under.
#[derive(Serialize, ToSchema)]
pub struct AnswerResponse {
    /// The id to send feedback with; absent when the server keeps no log.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    answer_id: Option<String>,
    /// Answered or not.
    status: Status,
    /// Sentences each followed by `[n]`; null when unsupported.
    answer: Option<String>,
    /// `citations[n - 1]` backs the sentence marked `[n]`.
    citations: Vec<Citation>,
    /// Why the question was not answered; absent when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    reason: Option<Reason>,
    /// What happened, for a person.
    message: String,
    /// The scope statement of the corpus (or of every corpus).
    scope: String,
    /// The support model's confidence in [0, 1].
    confidence: f32,
    /// Signals and threshold behind the decision.
    support: Option<Support>,
    /// Things the reader should know.
    warnings: Vec<String>,
    /// Guardrail rules that fired.
    guardrails: Vec<Fired>,
    /// The corpus that answered or declined.
    corpus: String,
    /// Its generation.
    generation: GenerationId,
    /// True when served from the answer cache.
    cached: bool,
    /// Time spent, in milliseconds.
    took_ms: f64,
    /// Who wrote the answer: `extractive` or `llm` (after any fallback).
    composer: Composer,
    /// Sentences the language model wrote that were left out (no valid
    /// citation, or not supported by the source cited); 0 for extractive answers.
    dropped_sentences: usize,
}

impl AnswerResponse {
    /// `a` as the API shows it, logged under `answer_id` if it was.
    pub fn new(a: Answer, answer_id: Option<String>) -> AnswerResponse {
        let dropped_sentences = a.llm.as_ref().map_or(0, |r| r.dropped.len());
        let (status, answer, citations, reason) = match a.outcome {
            Outcome::Answered(c) => (Status::Answered, Some(c.text), c.citations, None),
            Outcome::Unsupported(r) => (Status::Unsupported, None, Vec::new(), Some(r.into())),
        };
        AnswerResponse {
            answer_id,
            status,
            answer,
            citations: citations.into_iter().map(Citation::from).collect(),
            reason,
            message: a.message,
            scope: a.scope,
            confidence: a.confidence,
            support: a.support.map(Support::from),
            warnings: a.warnings,
            guardrails: a.guardrails.into_iter().map(Fired::from).collect(),
            corpus: a.corpus,
            generation: a.generation.into(),
            cached: a.cached,
            took_ms: a.took_ms,
            composer: a.composer.into(),
            dropped_sentences,
        }
    }
}
