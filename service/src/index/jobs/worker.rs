//! The queue's worker: one thread that runs the queued jobs, oldest first, and
//! ends when the queue is empty (the next job queued starts another).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{now, rate, Counts, Job, JobId, Jobs, Phase, Queued, State, Status};
use crate::index::{index_corpus, BuildReport, Progress, ProgressEvent};
use crate::sync::lock;

impl Jobs {
    /// Starts the thread that empties the queue; the caller has marked the
    /// queue as worked on.
    pub(super) fn start_worker(&self) {
        let jobs = self.clone();
        let spawned = std::thread::Builder::new()
            .name("candor-jobs".into())
            .spawn(move || {
                while let Some(next) = jobs.take_next() {
                    jobs.run(next);
                }
            });
        if let Err(e) = spawned {
            // No thread, no jobs: fail every queued one rather than leave them
            // queued forever.
            let why = format!("cannot start the job worker: {e}");
            while let Some(next) = self.take_next() {
                self.finish(
                    next.id,
                    &next.corpus.config.name,
                    Err(crate::Error::Internal(why.clone())),
                );
            }
        }
    }

    /// The oldest queued job, now marked processing; `None` (and the queue
    /// marked as not worked on) when there is none.
    fn take_next(&self) -> Option<Queued> {
        let mut state = lock(&self.state);
        while let Some(next) = state.queue.pop_front() {
            // Every queued job is listed (only finished ones are forgotten);
            // one that is not is skipped rather than left to stop the worker.
            let Some(job) = state.jobs.iter_mut().find(|j| j.id == next.id) else {
                continue;
            };
            job.status = Status::Processing;
            job.phase = Phase::Discovering;
            job.started_at = Some(now());
            job.started = Some(Instant::now());
            let job = job.clone();
            // As in `finish`: the history says it runs before anyone sees it run.
            self.keep(&job);
            drop(state);
            return Some(next);
        }
        state.working = false;
        None
    }

    /// Builds the job's generation and hands it to its hook.
    fn run(&self, queued: Queued) {
        let Queued {
            id,
            corpus,
            mode,
            after_swap,
        } = queued;
        let progress = JobProgress {
            state: self.state.clone(),
            id,
        };
        // A panic deep in a library must not leave the corpus marked as
        // reindexing forever: it fails the job like any error.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            index_corpus(
                &corpus,
                &self.data_dir,
                &self.vectors,
                mode,
                &self.embedder,
                &progress,
            )
            .and_then(|report| {
                progress.update(|j| j.phase = Phase::Swapping);
                after_swap().map(|_| report)
            })
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(crate::Error::Internal(format!("the job panicked: {what}")))
        });
        self.finish(id, &corpus.config.name, result);
    }

    /// Records how job `id` ended, frees its corpus for the next job, and
    /// writes it to the history.
    fn finish(&self, id: JobId, corpus: &str, result: crate::Result<BuildReport>) {
        let mut state = lock(&self.state);
        state.active.remove(corpus);
        let Some(j) = state.jobs.iter_mut().find(|j| j.id == id) else {
            return;
        };
        if let Some(t) = j.started.take() {
            j.elapsed_seconds = t.elapsed().as_secs_f64();
        }
        match result {
            Ok(r) => succeeded(j, r),
            Err(crate::Error::JobCanceled) => {
                j.status = Status::Canceled;
                j.phase = Phase::Canceled;
                tracing::info!(job = %id, corpus, "reindex canceled");
            }
            Err(e) => {
                j.status = Status::Failed;
                j.phase = Phase::Failed;
                j.error = Some(e.to_string());
                tracing::warn!(job = %id, corpus, "reindex failed: {e}");
            }
        }
        j.rate = rate(j);
        let job = j.clone();
        // Written before the lock goes: whoever sees the job finished may stop
        // the server, and the history must already say how it ended.
        self.keep(&job);
        drop(state);
        let outcome = match job.status {
            Status::Succeeded => "done",
            Status::Canceled => "canceled",
            _ => "failed",
        };
        crate::metrics::observe(
            "candor_reindex_job_seconds",
            "Duration of reindex jobs, by corpus and outcome.",
            &[("corpus", corpus), ("outcome", outcome)],
            job.elapsed_seconds,
        );
    }
}

/// Job `j` built generation `r.generation`, which now serves.
fn succeeded(j: &mut Job, r: BuildReport) {
    j.status = Status::Succeeded;
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
    tracing::info!(job = %j.id, corpus = %j.corpus, generation = %r.generation, files_failed = r.files_failed, "reindex done");
}

/// A running job's view of the build: progress in, cancellation out.
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

    fn read<T: Default>(&self, f: impl FnOnce(&Job) -> T) -> T {
        lock(&self.state)
            .jobs
            .iter()
            .find(|j| j.id == self.id)
            .map(f)
            .unwrap_or_default()
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

    fn cancelled(&self) -> bool {
        self.read(|j| j.cancel)
    }
}
