//! The admin routes' jobs: reindexing a corpus while it serves.

use serde::Serialize;
use utoipa::ToSchema;

use super::GenerationId;
use crate::index::{self, jobs};

/// A job's id, unique within the data dir.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(transparent)]
pub struct JobId(pub u64);

/// Full rebuild, or reuse of unchanged inputs.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReindexMode {
    /// Parse and embed every input.
    Full,
    /// Parse and embed only inputs whose content hash changed.
    Incremental,
}

/// Where a job is in its life (Meilisearch's task model).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the jobs before it: one job runs at a time.
    Enqueued,
    /// Building.
    Processing,
    /// The new generation serves.
    Succeeded,
    /// The job stopped on an error; the previous generation serves on.
    Failed,
    /// Canceled before it wrote its generation; the previous one serves on.
    Canceled,
}

/// Which step a job is at.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting in the queue.
    Queued,
    /// Listing the corpus's files and loading its parsers.
    Discovering,
    /// Parsing changed files.
    Parsing,
    /// Embedding new chunks.
    Embedding,
    /// Writing the lexical index and the vector store.
    Indexing,
    /// Loading the new generation into the server.
    Swapping,
    /// The new generation serves.
    Done,
    /// The job stopped; the previous generation serves on.
    Failed,
    /// The job was canceled; the previous generation serves on.
    Canceled,
}

/// What a job has done so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Counts {
    /// Files found.
    pub files_seen: usize,
    /// Files parsed or reused so far.
    pub files_parsed: usize,
    /// Files parsed because they were new or changed (known at the end).
    pub files_changed: usize,
    /// Files reused unchanged (known at the end).
    pub files_skipped: usize,
    /// Files that failed and were left out (known at the end).
    pub files_failed: usize,
    /// Chunks embedded so far.
    pub chunks_embedded: usize,
    /// Chunks to embed.
    pub chunks_to_embed: usize,
    /// Sentences embedded so far (after the chunks).
    pub sentences_embedded: usize,
    /// Sentences to embed.
    pub sentences_to_embed: usize,
}

/// A file that could not be ingested; the run skips it and goes on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileError {
    /// The file, relative to the corpus folder.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// A job's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The corpus it reindexes.
    pub corpus: String,
    /// Full or incremental.
    pub mode: ReindexMode,
    /// Where it is in its life.
    pub status: JobStatus,
    /// Which step it is at.
    pub phase: Phase,
    /// What it has done.
    pub counts: Counts,
    /// Chunks embedded per second of the job so far.
    pub rate: f64,
    /// Seconds since it started processing (until it ended, once it has).
    pub elapsed_seconds: f64,
    /// When it was enqueued (RFC 3339).
    pub enqueued_at: String,
    /// When it started processing (RFC 3339); absent while it waits, and for a
    /// job canceled before it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub started_at: Option<String>,
    /// Per-file errors: the file and why it was left out.
    pub errors: Vec<FileError>,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The generation it built, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationId>,
}

impl From<jobs::Job> for Job {
    fn from(j: jobs::Job) -> Self {
        let c = j.counts;
        Job {
            id: JobId(j.id.0),
            corpus: j.corpus,
            mode: match j.mode {
                index::Mode::Full => ReindexMode::Full,
                index::Mode::Incremental => ReindexMode::Incremental,
            },
            status: match j.status {
                jobs::Status::Enqueued => JobStatus::Enqueued,
                jobs::Status::Processing => JobStatus::Processing,
                jobs::Status::Succeeded => JobStatus::Succeeded,
                jobs::Status::Failed => JobStatus::Failed,
                jobs::Status::Canceled => JobStatus::Canceled,
            },
            phase: match j.phase {
                jobs::Phase::Queued => Phase::Queued,
                jobs::Phase::Discovering => Phase::Discovering,
                jobs::Phase::Parsing => Phase::Parsing,
                jobs::Phase::Embedding => Phase::Embedding,
                jobs::Phase::Indexing => Phase::Indexing,
                jobs::Phase::Swapping => Phase::Swapping,
                jobs::Phase::Done => Phase::Done,
                jobs::Phase::Failed => Phase::Failed,
                jobs::Phase::Canceled => Phase::Canceled,
            },
            counts: Counts {
                files_seen: c.files_seen,
                files_parsed: c.files_parsed,
                files_changed: c.files_changed,
                files_skipped: c.files_skipped,
                files_failed: c.files_failed,
                chunks_embedded: c.chunks_embedded,
                chunks_to_embed: c.chunks_to_embed,
                sentences_embedded: c.sentences_embedded,
                sentences_to_embed: c.sentences_to_embed,
            },
            rate: j.rate,
            elapsed_seconds: j.elapsed_seconds,
            enqueued_at: j.enqueued_at,
            started_at: j.started_at,
            errors: j
                .errors
                .into_iter()
                .map(|e| FileError {
                    path: e.path.to_string_lossy().into_owned(),
                    reason: e.reason,
                })
                .collect(),
            error: j.error,
            generation: j.generation.map(GenerationId::from),
        }
    }
}
