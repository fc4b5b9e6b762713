use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;
use crate::index::{index_corpus, Progress, ProgressEvent};
use crate::test_utils::{embedder, indexed_notes};

/// The notes corpus under `dir`, indexed, with a queue over its data dir.
fn notes(dir: &std::path::Path) -> (Corpus, Jobs) {
    let settings = indexed_notes(dir);
    let corpus = Corpus::load(&settings.corpora.join("notes")).unwrap();
    let jobs = Jobs::open(settings.data_dir, VectorBackend::Edge, embedder()).unwrap();
    (corpus, jobs)
}

/// The same folder served under another name: a second corpus for the queue.
fn renamed(corpus: &Corpus, name: &str) -> Corpus {
    let mut other = corpus.clone();
    other.config.name = name.into();
    other
}

/// A hook that waits for the test's word before the job may end, and says
/// when the job has reached it.
fn held() -> (AfterSwap, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (reached, reached_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let hook: AfterSwap = Box::new(move || {
        reached.send(()).unwrap();
        release_rx.recv().unwrap();
        Ok(GenerationId(0))
    });
    (hook, reached_rx, release)
}

fn ended(jobs: &Jobs, id: JobId) -> Job {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = jobs.get(id).unwrap();
        if job.status.is_finished() {
            return job;
        }
        assert!(Instant::now() < deadline, "the job never ended: {job:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn one_job_runs_at_a_time_and_a_corpus_has_at_most_one() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, jobs) = notes(dir.path());
    let (hook, reached, release) = held();
    let first = jobs
        .enqueue(corpus.clone(), Mode::Incremental, hook)
        .unwrap();
    reached.recv().unwrap();
    assert_eq!(jobs.get(first).unwrap().status, Status::Processing);

    // The same corpus again: refused with the job it has.
    let again = jobs.enqueue(corpus.clone(), Mode::Full, Box::new(|| Ok(GenerationId(0))));
    assert_eq!(again, Err(first));

    // Another corpus waits behind the running job, and a canceled one never runs.
    let ran = Arc::new(Mutex::new(false));
    let flag = ran.clone();
    let other = renamed(&corpus, "other");
    let second = jobs
        .enqueue(
            other.clone(),
            Mode::Full,
            Box::new(move || {
                *flag.lock().unwrap() = true;
                Ok(GenerationId(0))
            }),
        )
        .unwrap();
    let queued = jobs.get(second).unwrap();
    assert_eq!(
        (queued.status, queued.phase),
        (Status::Enqueued, Phase::Queued)
    );
    let canceled = jobs.cancel(second).unwrap();
    assert_eq!(
        (canceled.status, canceled.phase),
        (Status::Canceled, Phase::Canceled)
    );
    assert_eq!(
        jobs.cancel(second).err(),
        Some(CancelRefused::Finished(Status::Canceled))
    );

    // The running job is past its last step: a cancel comes too late for it.
    assert_eq!(jobs.cancel(first).unwrap().status, Status::Processing);
    release.send(()).unwrap();
    let done = ended(&jobs, first);
    assert_eq!((done.status, done.phase), (Status::Succeeded, Phase::Done));
    assert_eq!(done.generation, Some(GenerationId(2)));
    assert!(!*ran.lock().unwrap(), "the canceled job ran");

    // Its corpus is free again, and the freed one too.
    let third = jobs
        .enqueue(other, Mode::Full, Box::new(|| Ok(GenerationId(0))))
        .unwrap();
    assert_eq!(ended(&jobs, third).status, Status::Succeeded);
    assert_eq!(jobs.cancel(JobId(99)).err(), Some(CancelRefused::Unknown));
    let ids: Vec<u64> = jobs.list().iter().map(|j| j.id.0).collect();
    assert_eq!(ids, [3, 2, 1], "newest first");
}

#[test]
fn finished_jobs_outlive_the_server_and_interrupted_ones_read_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, jobs) = notes(dir.path());
    let data_dir = jobs.data_dir.clone();
    let id = jobs
        .enqueue(corpus, Mode::Full, Box::new(|| Ok(GenerationId(0))))
        .unwrap();
    let done = ended(&jobs, id);
    // A job the server was running when it stopped.
    let mut interrupted = done.clone();
    interrupted.id = JobId(2);
    interrupted.status = Status::Processing;
    interrupted.phase = Phase::Embedding;
    jobs.history.save(&interrupted).unwrap();
    drop(jobs);

    let reopened = Jobs::open(data_dir, VectorBackend::Edge, embedder()).unwrap();
    let list = reopened.list();
    assert_eq!(list.len(), 2, "{list:?}");
    let (was_running, kept) = (&list[0], &list[1]);
    assert_eq!(
        (
            kept.id,
            kept.status,
            kept.generation,
            kept.counts.files_seen
        ),
        (id, Status::Succeeded, done.generation, 1)
    );
    assert_eq!(
        (was_running.status, was_running.phase),
        (Status::Failed, Phase::Failed)
    );
    assert!(
        was_running
            .error
            .as_deref()
            .unwrap()
            .contains("server stopped"),
        "{was_running:?}"
    );
    // Ids go on from the kept ones.
    let corpus = Corpus::load(&dir.path().join("corpora/notes")).unwrap();
    let next = reopened
        .enqueue(corpus, Mode::Incremental, Box::new(|| Ok(GenerationId(0))))
        .unwrap();
    assert_eq!(next, JobId(3));
}

#[test]
fn a_history_that_is_not_one_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(history::FILE), "not a database, just text").unwrap();
    let refused = Jobs::open(dir.path().to_path_buf(), VectorBackend::Edge, embedder())
        .err()
        .unwrap();
    assert!(refused.to_string().contains(history::FILE), "{refused}");
}

/// A build asked to stop stops before it writes: the old generation stays
/// the only one.
#[test]
fn a_canceled_build_writes_no_generation() {
    struct Cancel;
    impl Progress for Cancel {
        fn report(&self, _: ProgressEvent) {}
        fn cancelled(&self) -> bool {
            true
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (corpus, jobs) = notes(dir.path());
    let stopped = index_corpus(
        &corpus,
        &jobs.data_dir,
        &VectorBackend::Edge,
        Mode::Full,
        &embedder(),
        &Cancel,
    );
    assert!(
        matches!(stopped, Err(crate::Error::JobCanceled)),
        "{stopped:?}"
    );
    let generations: Vec<_> = std::fs::read_dir(jobs.data_dir.join("notes/generations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(generations.len(), 1, "{generations:?}");
}
