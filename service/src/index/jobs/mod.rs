//! Reindex jobs: one queue for the whole server, fed by the admin route and by
//! each corpus's watch, with a status anyone can read.
//!
//! Jobs follow Meilisearch's task model: `enqueued`, `processing`, then
//! `succeeded`, `failed` or `canceled`. One job runs at a time, oldest first:
//! embedding uses every core, so two builds side by side would each take twice
//! as long. A corpus has at most one job queued or running; asking for another
//! is refused with the one it has.
//!
//! A job builds a new generation on the worker's thread while the current one
//! keeps serving, then hands the new generation to the caller's `after_swap`
//! hook (the server loads it). If the job fails or is canceled, nothing is
//! swapped and the old generation serves on. Finished jobs are kept in the data
//! dir ([`history`]), so the list survives a restart.

pub mod history;
mod worker;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{GenerationId, Mode, VectorBackend};
use crate::config::Corpus;
use crate::embed::Embedder;
use crate::ingest::FileError;
use crate::sync::lock;
use history::History;

/// Finished jobs kept for `GET /admin/jobs`, in memory and in the history;
/// older ones are forgotten.
const KEEP_FINISHED: usize = 100;

/// Loads a new generation where it is served; its error fails the job.
pub type AfterSwap = Box<dyn FnOnce() -> crate::Result<GenerationId> + Send>;

/// A job's id, unique within the data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the jobs before it.
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

impl Status {
    /// True once the job has ended, one way or another.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

/// Which step a job is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The corpus it reindexes.
    pub corpus: String,
    /// Full or incremental.
    pub mode: Mode,
    /// Where it is in its life.
    pub status: Status,
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
    /// When it started processing (RFC 3339), once it has.
    pub started_at: Option<String>,
    /// Per-file errors: the file and why it was left out.
    pub errors: Vec<FileError>,
    /// Why the job failed.
    pub error: Option<String>,
    /// The generation it built, once it has.
    pub generation: Option<GenerationId>,
    /// When processing started, while it runs.
    #[serde(skip)]
    started: Option<Instant>,
    /// An admin asked to cancel it while it runs.
    #[serde(skip)]
    cancel: bool,
}

/// A job waiting for the worker, with what it needs to run.
struct Queued {
    id: JobId,
    corpus: Corpus,
    mode: Mode,
    after_swap: AfterSwap,
}

struct State {
    next: u64,
    /// Every job kept, oldest first.
    jobs: VecDeque<Job>,
    /// Jobs waiting, oldest first.
    queue: VecDeque<Queued>,
    /// Each corpus's queued or running job.
    active: HashMap<String, JobId>,
    /// True while a worker thread takes jobs from the queue.
    working: bool,
}

/// The job queue of a server. Clones share the queue.
#[derive(Clone)]
pub struct Jobs {
    state: Arc<Mutex<State>>,
    history: Arc<History>,
    data_dir: PathBuf,
    vectors: VectorBackend,
    embedder: Arc<Embedder>,
}

/// Why a job could not be canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefused {
    /// No such job.
    Unknown,
    /// It has ended already, with this status.
    Finished(Status),
}

impl Jobs {
    /// A queue whose jobs write generations under `data_dir`, their vectors in
    /// `vectors`, with the jobs of earlier runs read from the history there.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Io`] when the history cannot be opened or read.
    pub fn open(
        data_dir: PathBuf,
        vectors: VectorBackend,
        embedder: Arc<Embedder>,
    ) -> crate::Result<Jobs> {
        let (history, kept) = History::open(&data_dir)?;
        let state = State {
            next: kept.iter().map(|j| j.id.0).max().unwrap_or(0),
            jobs: kept.into(),
            queue: VecDeque::new(),
            active: HashMap::new(),
            working: false,
        };
        Ok(Jobs {
            state: Arc::new(Mutex::new(state)),
            history: Arc::new(history),
            data_dir,
            vectors,
            embedder,
        })
    }

    /// Queues a reindex of `corpus`; `after_swap` loads the new generation
    /// where it is served, and its error fails the job.
    ///
    /// # Errors
    ///
    /// The id of the job already queued or running for this corpus.
    pub fn enqueue(
        &self,
        corpus: Corpus,
        mode: Mode,
        after_swap: AfterSwap,
    ) -> Result<JobId, JobId> {
        let name = corpus.config.name.clone();
        let mut state = lock(&self.state);
        if let Some(&active) = state.active.get(&name) {
            return Err(active);
        }
        state.next += 1;
        let id = JobId(state.next);
        state.active.insert(name.clone(), id);
        let job = Job {
            id,
            corpus: name,
            mode,
            status: Status::Enqueued,
            phase: Phase::Queued,
            counts: Counts::default(),
            rate: 0.0,
            elapsed_seconds: 0.0,
            enqueued_at: now(),
            started_at: None,
            errors: Vec::new(),
            error: None,
            generation: None,
            started: None,
            cancel: false,
        };
        self.keep(&job);
        state.jobs.push_back(job);
        forget_oldest_finished(&mut state);
        state.queue.push_back(Queued {
            id,
            corpus,
            mode,
            after_swap,
        });
        if !state.working {
            state.working = true;
            drop(state);
            self.start_worker();
        }
        Ok(id)
    }

    /// Cancels job `id`: a queued job never runs; a running one stops at its
    /// next step, unless it is already writing its generation, and ends
    /// `canceled`. Returns the job as it is now.
    ///
    /// # Errors
    ///
    /// [`CancelRefused`] when there is no such job or it has ended.
    pub fn cancel(&self, id: JobId) -> Result<Job, CancelRefused> {
        let mut state = lock(&self.state);
        let job = state
            .jobs
            .iter_mut()
            .find(|j| j.id == id)
            .ok_or(CancelRefused::Unknown)?;
        match job.status {
            Status::Enqueued => {
                job.status = Status::Canceled;
                job.phase = Phase::Canceled;
                let (job, corpus) = (job.clone(), job.corpus.clone());
                state.queue.retain(|q| q.id != id);
                state.active.remove(&corpus);
                self.keep(&job);
                tracing::info!(job = %id, corpus, "reindex canceled before it started");
                Ok(job)
            }
            Status::Processing => {
                job.cancel = true;
                Ok(snapshot(job))
            }
            done => Err(CancelRefused::Finished(done)),
        }
    }

    /// Looks at `corpus` every `interval` for changed files and queues an
    /// incremental job when there are some (unless one is queued or running);
    /// `after_swap` loads each new generation, as for [`Jobs::enqueue`]. Runs
    /// for the life of the process.
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
                    match last.and_then(|id| jobs.get(id)).map(|j| j.status) {
                        Some(Status::Failed) => backoff = (backoff * 2).min(64),
                        Some(Status::Succeeded) => backoff = 1,
                        _ => {}
                    }
                    match super::pending_changes(&corpus, &jobs.data_dir, &jobs.vectors) {
                        Ok(None) => {}
                        Ok(Some(what)) => {
                            let hook = after_swap.clone();
                            let queued = jobs.enqueue(
                                corpus.clone(),
                                Mode::Incremental,
                                Box::new(move || hook()),
                            );
                            if let Ok(id) = queued {
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

    /// Writes `job` to the history. A history that cannot be written costs the
    /// job its place in the list after a restart, not the job: the failure is
    /// logged.
    fn keep(&self, job: &Job) {
        if let Err(e) = self.history.save(job) {
            tracing::error!(job = %job.id, error = %e, "the job history could not be written");
        }
    }
}

/// Forgets the oldest finished job once more than [`KEEP_FINISHED`] are kept.
fn forget_oldest_finished(state: &mut State) {
    let finished = state.jobs.iter().filter(|j| j.status.is_finished()).count();
    if finished > KEEP_FINISHED {
        if let Some(i) = state.jobs.iter().position(|j| j.status.is_finished()) {
            state.jobs.remove(i);
        }
    }
}

/// The time now, as jobs show it.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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

#[cfg(test)]
mod tests;
