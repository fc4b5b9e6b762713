//! The API's request and response types: the JSON the routes read and write,
//! and what `/openapi.json` describes. Each is converted from or into an engine
//! type, so the engine can change its own types without changing the contract.

mod admin;
mod answer;
mod search;

pub use admin::{Counts, FileError, Job, JobId, JobStatus, Phase, ReindexMode};
pub use answer::{
    AnswerResponse, Citation, Composer, DocId, EvidenceView, Fired, GenerationId, Reason, Signals,
    Stage, Status, Support,
};
pub use search::{Chunk, CorpusInfo, Evidence, Scores, SearchMode, SearchResult, Searched};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error: `{"error": {"code", "message", ...}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error object.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine code (`invalid_json`, `unknown_corpus`, `job_running`).
    pub code: String,
    /// What was wrong, for a person.
    pub message: String,
    /// With `job_running`: the job that runs.
    #[schema(nullable = false)]
    pub job_id: Option<u64>,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// True once every corpus serves a generation.
    pub ready: bool,
    /// The generation each corpus serves.
    pub generations: BTreeMap<String, u64>,
    /// While not ready, what loading waits for and why (an unreachable vector
    /// store, a generation not yet published), when it waits for something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Plugins whose latest call failed, with how many calls in a row have
    /// (timeouts, memory, refused for being busy, traps). A failing guardrail
    /// blocks its corpus's questions (`fail_closed`) or lets them through
    /// unguarded (`fail_open`); the server stays ready either way.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failing_plugins: BTreeMap<String, u64>,
}

/// An answer's id, as returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct AnswerId(pub String);

/// A rating of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// The outcome was right.
    Up,
    /// The outcome was wrong.
    Down,
}

/// What a caller says about an answer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The answer rated.
    pub answer_id: AnswerId,
    /// Up or down.
    pub rating: Rating,
    /// Free text, at most 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    /// The documents that do answer the question, when the caller knows them.
    #[serde(default)]
    pub correct_doc_ids: Vec<String>,
}

impl From<Feedback> for crate::feedback::Feedback {
    fn from(f: Feedback) -> Self {
        crate::feedback::Feedback {
            answer_id: crate::feedback::AnswerId(f.answer_id.0),
            rating: match f.rating {
                Rating::Up => crate::feedback::Rating::Up,
                Rating::Down => crate::feedback::Rating::Down,
            },
            comment: f.comment,
            correct_doc_ids: f.correct_doc_ids,
        }
    }
}

/// `POST /v1/feedback`.
#[derive(Serialize, ToSchema)]
pub struct Recorded {
    /// Always true: the rating is stored.
    pub recorded: bool,
}

/// `POST /admin/corpora/{name}/reindex`.
#[derive(Serialize, ToSchema)]
pub struct Started {
    /// The new job.
    pub job_id: JobId,
}

/// `POST /admin/plugins/reload`.
#[derive(Serialize, ToSchema)]
pub struct Reloaded {
    /// Guardrails loaded, per corpus.
    pub guardrails: BTreeMap<String, usize>,
}

/// `POST /admin/keys/reload`.
#[derive(Serialize, ToSchema)]
pub struct KeysReloaded {
    /// Keys the file now holds.
    pub keys: usize,
}
