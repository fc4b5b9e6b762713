//! Reindex jobs: index work as a queue of jobs with a status anyone can read,
//! at most one running per corpus.
//!
//! A job builds a new generation on its own thread while the current one keeps
//! serving, then hands the new generation to the caller's `after_swap` hook (the
//! server loads it). If the job fails, nothing is swapped and the old generation
//! serves on.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use std::time::Instant;

use serde::Serialize;

use super::{
    index_corpus, BuildReport, GenerationId, Mode, Progress, ProgressEvent, VectorBackend,
};
use crate::config::Corpus;
use crate::embed::Embedder;
use crate::ingest::FileError;

/// Finished jobs kept for `GET /admin/jobs`; older ones are forgotten.
const KEEP_FINISHED: usize = 100;

/// A job's id, unique within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
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
}

/// What a job has done so far.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
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

/// A job's status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The corpus it reindexes.
    pub corpus: String,
    /// Full or incremental.
    pub mode: Mode,
    /// Where it is.
    pub phase: Phase,
    /// What it has done.
    pub counts: Counts,
    /// Chunks embedded per second of the job so far.
    pub rate: f64,
    /// Seconds since it started (until it ended, once it has).
    pub elapsed_seconds: f64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Per-file errors: the file and why it was left out.
    pub errors: Vec<FileError>,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The generation it built, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationId>,
    #[serde(skip)]
    started: Option<Instant>,
}

#[derive(Default)]
struct State {
    next: u64,
    /// Oldest first.
    jobs: VecDeque<Job>,
    running: HashMap<String, JobId>,
}

/// The job queue of a server. Clones share the queue.
#[derive(Clone)]
pub struct Jobs {
    state: Arc<Mutex<State>>,
    data_dir: PathBuf,
    vectors: VectorBackend,
    embedder: Arc<Embedder>,
}

impl Jobs {
    /// A queue whose jobs write generations under `data_dir`, their vectors in
    /// `vectors`.
    pub fn new(data_dir: PathBuf, vectors: VectorBackend, embedder: Arc<Embedder>) -> Jobs {
        Jobs {
            state: Arc::default(),
            data_dir,
            vectors,
            embedder,
        }
    }

    /// Starts reindexing `corpus`; `after_swap` loads the new generation where it
    /// is served, and its error fails the job.
    ///
    /// # Errors
    ///
    /// The running job's id when one is already reindexing this corpus.
    pub fn start(
        &self,
        corpus: Corpus,
        mode: Mode,
        after_swap: impl FnOnce() -> crate::Result<GenerationId> + Send + 'static,
    ) -> Result<JobId, JobId> {
        let name = corpus.config.name.clone();
        let id = {
            let mut state = lock(&self.state);
            if let Some(&running) = state.running.get(&name) {
                return Err(running);
            }
            state.next += 1;
            let id = JobId(state.next);
            state.running.insert(name.clone(), id);
            state.jobs.push_back(Job {
                id,
                corpus: name.clone(),
                mode,
                phase: Phase::Discovering,
                counts: Counts::default(),
                rate: 0.0,
                elapsed_seconds: 0.0,
                started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                errors: Vec::new(),
                error: None,
                generation: None,
                started: Some(Instant::now()),
            });
            let finished = state.jobs.len().saturating_sub(state.running.len());
            if finished > KEEP_FINISHED {
                if let Some(i) = state.jobs.iter().position(|j| j.started.is_none()) {
                    state.jobs.remove(i);
                }
            }
            id
        };
        let (state, data_dir, vectors, embedder) = (
            self.state.clone(),
            self.data_dir.clone(),
            self.vectors.clone(),
            self.embedder.clone(),
        );
        let job_name = name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("candor-job-{id}"))
            .spawn(move || {
                let progress = JobProgress {
                    state: state.clone(),
                    id,
                };
                // A panic deep in a library must not leave the corpus marked as
                // reindexing forever: it fails the job like any error.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    index_corpus(&corpus, &data_dir, &vectors, mode, &embedder, &progress).and_then(
                        |report| {
                            progress.update(|j| j.phase = Phase::Swapping);
                            after_swap().map(|_| report)
                        },
                    )
                }))
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("no message");
                    Err(crate::Error::Internal(format!("the job panicked: {what}")))
                });
                finish(&state, id, &job_name, result);
            });
        if let Err(e) = spawned {
            let e = crate::Error::Internal(format!("cannot start the job's thread: {e}"));
            finish(&self.state, id, &name, Err(e));
        }
        Ok(id)
    }

    /// Looks at `corpus` every `interval` for changed files and starts an
    /// incremental job when there are some (unless one is running); `after_swap`
    /// loads each new generation, as for [`Jobs::start`]. Runs for the life of
    /// the process.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Internal`] when the watching thread cannot start.
    pub fn watch(
        &self,
        corpus: Corpus,
        interval: std::time::Duration,
        after_swap: Arc<dyn Fn() -> crate::Result<GenerationId> + Send + Sync>,
    ) -> crate::Result<()> {
        let jobs = self.clone();
        let name = corpus.config.name.clone();
        let thread = format!("candor-watch-{name}");
        let failed = format!("cannot start watching `{name}`");
        std::thread::Builder::new()
            .name(thread)
            .spawn(move || {
                // After a job that failed, the changes are still pending; waiting
                // twice as long each time (up to 64 intervals) keeps a broken
                // corpus from filling the log and the job history.
                let (mut last, mut backoff) = (None, 1u32);
                loop {
                    std::thread::sleep(interval * backoff);
                    match last.and_then(|id| jobs.get(id)).map(|j| j.phase) {
                        Some(Phase::Failed) => backoff = (backoff * 2).min(64),
                        Some(Phase::Done) => backoff = 1,
                        _ => {}
                    }
                    match super::pending_changes(&corpus, &jobs.data_dir, &jobs.vectors) {
                        Ok(None) => {}
                        Ok(Some(what)) => {
                            let hook = after_swap.clone();
                            if let Ok(id) =
                                jobs.start(corpus.clone(), Mode::Incremental, move || hook())
                            {
                                tracing::info!(corpus = %name, job = %id, "{what}; reindexing");
                                last = Some(id);
                            }
                        }
                        Err(e) => tracing::warn!(corpus = %name, "cannot look for changes: {e}"),
                    }
                }
            })
            .map(drop)
            .map_err(|e| crate::Error::Internal(format!("{failed}: {e}")))
    }

    /// A job's status.
    pub fn get(&self, id: JobId) -> Option<Job> {
        lock(&self.state)
            .jobs
            .iter()
            .find(|j| j.id == id)
            .map(snapshot)
    }

    /// Recent jobs, newest first.
    pub fn list(&self) -> Vec<Job> {
        lock(&self.state).jobs.iter().rev().map(snapshot).collect()
    }
}

/// A job's status as of now: running jobs' elapsed time keeps moving.
fn snapshot(job: &Job) -> Job {
    let mut j = job.clone();
    if let Some(t) = j.started {
        j.elapsed_seconds = t.elapsed().as_secs_f64();
        j.rate = rate(&j);
    }
    j
}

fn rate(j: &Job) -> f64 {
    if j.elapsed_seconds > 0.0 {
        j.counts.chunks_embedded as f64 / j.elapsed_seconds
    } else {
        0.0
    }
}

fn finish(state: &Mutex<State>, id: JobId, corpus: &str, result: crate::Result<BuildReport>) {
    let mut s = lock(state);
    s.running.remove(corpus);
    let Some(j) = s.jobs.iter_mut().find(|j| j.id == id) else {
        return;
    };
    if let Some(t) = j.started.take() {
        j.elapsed_seconds = t.elapsed().as_secs_f64();
    }
    match result {
        Ok(r) => {
            j.phase = Phase::Done;
            j.counts = Counts {
                files_seen: r.files_seen,
                files_parsed: r.files_seen,
                files_changed: r.files_changed,
                files_skipped: r.files_skipped,
                files_failed: r.files_failed,
                chunks_embedded: r.chunks_embedded,
                chunks_to_embed: r.chunks_embedded,
                sentences_embedded: r.sentences_embedded,
                sentences_to_embed: r.sentences_embedded,
            };
            j.errors = r.errors;
            j.generation = Some(r.generation);
            tracing::info!(job = %id, corpus, generation = %r.generation, files_failed = r.files_failed, "reindex done");
        }
        Err(e) => {
            j.phase = Phase::Failed;
            j.error = Some(e.to_string());
            tracing::warn!(job = %id, corpus, "reindex failed: {e}");
        }
    }
    j.rate = rate(j);
    let outcome = if j.phase == Phase::Done {
        "done"
    } else {
        "failed"
    };
    crate::metrics::observe(
        "candor_reindex_job_seconds",
        "Duration of reindex jobs, by corpus and outcome.",
        &[("corpus", corpus), ("outcome", outcome)],
        j.elapsed_seconds,
    );
}

struct JobProgress {
    state: Arc<Mutex<State>>,
    id: JobId,
}

impl JobProgress {
    fn update(&self, f: impl FnOnce(&mut Job)) {
        if let Some(j) = lock(&self.state).jobs.iter_mut().find(|j| j.id == self.id) {
            f(j);
        }
    }
}

impl Progress for JobProgress {
    fn report(&self, event: ProgressEvent) {
        self.update(|j| match event {
            ProgressEvent::Parsed { done, total } => {
                j.phase = Phase::Parsing;
                j.counts.files_parsed = done as usize;
                j.counts.files_seen = total as usize;
            }
            ProgressEvent::Embedded { done, total } => {
                j.phase = Phase::Embedding;
                j.counts.chunks_embedded = done as usize;
                j.counts.chunks_to_embed = total as usize;
            }
            ProgressEvent::EmbeddedSentences { done, total } => {
                j.phase = Phase::Embedding;
                j.counts.sentences_embedded = done as usize;
                j.counts.sentences_to_embed = total as usize;
            }
            ProgressEvent::Indexing => j.phase = Phase::Indexing,
        });
    }
}
