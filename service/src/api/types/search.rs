//! `POST /v1/search` and `GET /v1/corpora`: ranked evidence and what is served.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::{DocId, Fired, GenerationId};
use crate::retrieve::{self, corpora};

/// Which signals rank the results.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Lexical BM25 only.
    Bm25,
    /// Dense vectors only.
    Dense,
    /// Both, fused.
    Hybrid,
}

impl From<retrieve::Mode> for SearchMode {
    fn from(m: retrieve::Mode) -> Self {
        match m {
            retrieve::Mode::Bm25 => SearchMode::Bm25,
            retrieve::Mode::Dense => SearchMode::Dense,
            retrieve::Mode::Hybrid => SearchMode::Hybrid,
        }
    }
}

/// Search results after the input guardrails.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Searched {
    /// The ranking; no evidence when a guardrail blocked the question.
    #[serde(flatten)]
    pub result: SearchResult,
    /// Guardrail rules that fired on the question.
    pub guardrails: Vec<Fired>,
    /// Guardrails that failed and were skipped or declined the question.
    pub warnings: Vec<String>,
}

impl From<crate::answer::Searched> for Searched {
    fn from(s: crate::answer::Searched) -> Self {
        Searched {
            result: s.result.into(),
            guardrails: s.guardrails.into_iter().map(Fired::from).collect(),
            warnings: s.warnings,
        }
    }
}

/// A search result: the corpus and generation it came from and the ranked evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResult {
    /// The corpus searched.
    pub corpus: String,
    /// Its generation.
    pub generation: GenerationId,
    /// The mode used.
    pub mode: SearchMode,
    /// Ranked chunks, best first.
    pub evidence: Vec<Evidence>,
}

impl From<corpora::SearchResult> for SearchResult {
    fn from(r: corpora::SearchResult) -> Self {
        SearchResult {
            corpus: r.corpus,
            generation: r.generation.into(),
            mode: r.mode.into(),
            evidence: r.evidence.into_iter().map(Evidence::from).collect(),
        }
    }
}

/// One ranked chunk with its citation data and scores.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Evidence {
    /// 1-based rank.
    pub rank: usize,
    /// The chunk and its citation metadata.
    #[serde(flatten)]
    pub chunk: Chunk,
    /// Per-signal and fused scores.
    pub scores: Scores,
}

impl From<corpora::Evidence> for Evidence {
    fn from(e: corpora::Evidence) -> Self {
        let s = e.scores;
        Evidence {
            rank: e.rank,
            chunk: e.chunk.into(),
            scores: Scores {
                bm25: s.bm25,
                dense: s.dense,
                recency: s.recency,
                superseded: s.superseded,
                fused: s.fused,
            },
        }
    }
}

/// A chunk: the unit that is indexed, retrieved and cited.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Chunk {
    /// The document it belongs to.
    pub doc_id: DocId,
    /// The document's source path.
    pub source: String,
    /// The document's title.
    pub title: String,
    /// Enclosing headings, outermost first.
    pub heading_path: Vec<String>,
    /// 1-based page, for paginated formats.
    pub page: Option<u32>,
    /// The document's date.
    pub date: Option<chrono::NaiveDate>,
    /// The document's series.
    pub series: Option<String>,
    /// The date is the file's modification time ([`Document::file_dated`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub file_dated: bool,
    /// The document's extra fields (from a parser plugin).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Character offsets `[start, end)` into [`Document::text`].
    #[schema(value_type = Vec<u64>)]
    pub span: (usize, usize),
    /// The chunk's text.
    pub text: String,
}

impl From<crate::ingest::Chunk> for Chunk {
    fn from(c: crate::ingest::Chunk) -> Self {
        Chunk {
            doc_id: DocId(c.doc_id.0),
            source: c.source.to_string_lossy().into_owned(),
            title: c.title,
            heading_path: c.heading_path,
            page: c.page,
            date: c.date,
            series: c.series,
            file_dated: c.file_dated,
            metadata: c.metadata,
            span: c.span,
            text: c.text,
        }
    }
}

/// The scores that placed an evidence item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scores {
    /// BM25, if lexical search found the chunk.
    pub bm25: Option<f32>,
    /// Cosine similarity, if dense search found the chunk.
    pub dense: Option<f32>,
    /// The document's recency factor in [0, 1].
    pub recency: Option<f32>,
    /// True when a newer version in the same series outranks this document.
    pub superseded: bool,
    /// The final score: fused relevance blended with recency.
    pub fused: f32,
}

/// Summary of a served corpus.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CorpusInfo {
    /// Name.
    pub name: String,
    /// Scope statement.
    pub scope: String,
    /// Documents indexed.
    pub documents: usize,
    /// Chunks indexed.
    pub chunks: usize,
    /// Current generation.
    pub generation: GenerationId,
    /// When it was indexed (RFC 3339).
    pub indexed_at: String,
}

impl From<corpora::CorpusInfo> for CorpusInfo {
    fn from(c: corpora::CorpusInfo) -> Self {
        CorpusInfo {
            name: c.name,
            scope: c.scope,
            documents: c.documents,
            chunks: c.chunks,
            generation: c.generation.into(),
            indexed_at: c.indexed_at,
        }
    }
}
