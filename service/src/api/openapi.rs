//! `/openapi.json`: the API description, generated from the request and response
//! types and the handlers' annotations, so it follows the code. The end-to-end
//! tests check every route's real responses against it.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::answer::{Answer, Citation, Fired, Outcome, Reason, Support};
use crate::index::jobs::JobId;
use crate::index::GenerationId;

/// The description of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "Candor", description = "Cited answers from your own documents, or an open statement that they do not say."),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        super::openapi_json,
        super::corpora,
        super::search,
        super::answer::answer,
        super::feedback,
        super::admin::reindex,
        super::admin::jobs,
        super::admin::job,
        super::admin::reload_plugins,
        super::admin::reload_keys,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Only when the server runs with a keys file (`--keys`).
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, when the server is started with `--keys`: `Authorization: Bearer <key>`",
                    ))
                    .build(),
            ),
        );
    }
}

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
    composer: crate::config::Composer,
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
            Outcome::Unsupported(r) => (Status::Unsupported, None, Vec::new(), Some(r)),
        };
        AnswerResponse {
            answer_id,
            status,
            answer,
            citations,
            reason,
            message: a.message,
            scope: a.scope,
            confidence: a.confidence,
            support: a.support,
            warnings: a.warnings,
            guardrails: a.guardrails,
            corpus: a.corpus,
            generation: a.generation,
            cached: a.cached,
            took_ms: a.took_ms,
            composer: a.composer,
            dropped_sentences,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published description (`docs/openapi.json`) is the one the server
    /// serves: a change to the API shows up in review as a change to that file.
    /// `CANDOR_WRITE_OPENAPI=1` rewrites it after an intended change.
    #[test]
    fn the_published_description_is_the_served_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let served = ApiDoc::openapi().to_pretty_json().expect("serialisable") + "\n";
        if std::env::var_os("CANDOR_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &served).expect("docs/ is writable");
        }
        let published = std::fs::read_to_string(&path).expect("docs/openapi.json exists");
        assert!(
            published == served,
            "docs/openapi.json differs from the served description; rerun with CANDOR_WRITE_OPENAPI=1 if the change is intended"
        );
    }
}
