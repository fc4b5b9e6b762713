//! The engine assembled: everything a server serves, built from its settings,
//! with no HTTP in it. The command line opens one to serve it, and tests open
//! one to exercise startup without a process; `api` puts routes in front of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::answer::{Answerer, Calibrations, DEFAULT_MAX_QUESTION_CHARS};
use crate::config::{Assets, Corpus, QdrantAddress};
use crate::embed::Embedder;
use crate::index::jobs::Jobs;
use crate::index::VectorBackend;
use crate::retrieve::corpora::{discover_corpora, Corpora};
use crate::Error;

/// What a served engine is made of.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The folder whose subfolders are the corpora.
    pub corpora: PathBuf,
    /// Where generations, the plugin cache and the feedback store live.
    pub data_dir: PathBuf,
    /// The Qdrant server or cluster holding the vectors; `None`: in process.
    pub qdrant: Option<QdrantAddress>,
    /// Longest accepted question, in characters.
    pub max_question_chars: usize,
    /// Most questions waiting for the engine at once; `None`: the default.
    pub max_pending: Option<usize>,
}

impl Settings {
    /// Settings for the corpora under `corpora`, stored in `data_dir`, vectors
    /// in process, default limits.
    pub fn new(corpora: PathBuf, data_dir: PathBuf) -> Settings {
        Settings {
            corpora,
            data_dir,
            qdrant: None,
            max_question_chars: DEFAULT_MAX_QUESTION_CHARS,
            max_pending: None,
        }
    }
}

/// A served engine: the answerer over every corpus, the reindex job queue
/// (with a watch on each corpus that asks for one) and the feedback store.
pub struct Service {
    /// Answers and searches the corpora.
    pub answerer: Arc<Answerer>,
    /// Reindex jobs, shared with the watches.
    pub jobs: Jobs,
    /// The answer log and feedback.
    pub feedback: Arc<crate::feedback::Store>,
}

impl Service {
    /// Loads the model, opens every corpus's current generation and the
    /// feedback store, follows a shared vector store's generations and starts
    /// the watches. While a shared vector store does not answer, or holds no
    /// generation yet that another replica is expected to publish, it waits
    /// and tries again (1 s, doubling up to 10 s), telling `waiting` why each
    /// time and `None` once it succeeds.
    ///
    /// # Errors
    ///
    /// A corpus folder or its configuration is invalid, the model or a
    /// generation cannot be read, a plugin fails to load, or a watch cannot
    /// start.
    pub fn open(settings: &Settings, waiting: &dyn Fn(Option<String>)) -> crate::Result<Service> {
        let corpora = discover_corpora(&settings.corpora)?;
        let embedder = Arc::new(Embedder::load(&Assets::locate()?)?);
        let shared = settings.qdrant.is_some();
        let (vectors, answerer) = until_available(shared, waiting, || {
            let vectors = VectorBackend::connect(settings.qdrant.as_ref())?;
            let answerer = answerer(
                corpora.clone(),
                settings,
                &vectors,
                embedder.clone(),
                Calibrations::Load,
            )?;
            Ok((vectors, answerer))
        })?;
        if let Some(q) = &settings.qdrant {
            answerer
                .corpora()
                .follow_every(Duration::from_secs(q.follow_seconds))?;
            tracing::info!(urls = %q.urls.join(", "), every_seconds = q.follow_seconds, "vectors on a Qdrant server; following the generations it serves");
        }
        let jobs = Jobs::open(settings.data_dir.clone(), vectors, embedder)?;
        for (name, served) in answerer.corpora().iter() {
            if let Some(w) = &served.config.watch {
                jobs.watch(
                    served.corpus(),
                    Duration::from_secs(w.interval_seconds),
                    Arc::new(answerer.corpora().reloader(name)),
                )?;
                tracing::info!(corpus = %name, every_seconds = w.interval_seconds, "watching for changed files");
            }
        }
        let feedback = Arc::new(crate::feedback::Store::open(&settings.data_dir)?);
        Ok(Service {
            answerer,
            jobs,
            feedback,
        })
    }
}

/// The engine over `corpora`, with the model already loaded; for commands
/// that answer without serving (`candor ask`, `calibrate`, `eval corpus`).
///
/// # Errors
///
/// As [`Service::open`], without the waiting.
pub fn answerer(
    corpora: Vec<Corpus>,
    settings: &Settings,
    vectors: &VectorBackend,
    embedder: Arc<Embedder>,
    calibrations: Calibrations,
) -> crate::Result<Arc<Answerer>> {
    let data_dir = &settings.data_dir;
    let corpora = Corpora::open(corpora, data_dir, vectors, embedder)?;
    let mut answerer = Answerer::new(
        Arc::new(corpora),
        &data_dir.join(crate::plugins::CACHE_DIR),
        calibrations,
    )?
    .with_max_question_chars(settings.max_question_chars);
    if let Some(max) = settings.max_pending {
        answerer = answerer.with_max_pending(max);
    }
    Ok(Arc::new(answerer))
}

/// Runs `load` until it succeeds or fails for another reason than a shared
/// vector store not answering, or (with `shared`) not holding a generation yet
/// that another replica is expected to publish. Each such failure is logged with
/// the cause and given to `waiting` (which `/readyz` shows).
fn until_available<T>(
    shared: bool,
    waiting: &dyn Fn(Option<String>),
    mut load: impl FnMut() -> crate::Result<T>,
) -> crate::Result<T> {
    let mut wait = Duration::from_secs(1);
    loop {
        let why = match load() {
            Err(e @ Error::VectorUnavailable(_)) => {
                (e, "the vector store does not answer; not ready")
            }
            Err(e @ Error::NotIndexed(_)) if shared => (
                e,
                "no generation published yet; not ready until a replica indexes the corpus",
            ),
            done => {
                if done.is_ok() {
                    waiting(None);
                }
                return done;
            }
        };
        // Readiness says why first: whoever reads the log line may ask it next.
        waiting(Some(format!("{}: {}", why.1, why.0)));
        tracing::warn!(error = %why.0, retry_in_seconds = wait.as_secs(), "{}", why.1);
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_opens_indexed_corpora_and_refuses_one_never_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let never = Settings::new(dir.path().join("corpora"), dir.path().join("data"));
        let settings = crate::test_utils::indexed_notes(dir.path());
        std::fs::remove_dir_all(&settings.data_dir).unwrap();
        let refused = Service::open(&never, &|_| {}).err().unwrap();
        assert!(matches!(refused, Error::NotIndexed(_)), "{refused}");

        let settings = crate::test_utils::indexed_notes(dir.path());
        let service = Service::open(&settings, &|_| {}).unwrap();
        let names: Vec<String> = service
            .answerer
            .corpora()
            .list()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["notes"]);
        assert!(settings.data_dir.join(crate::feedback::FILE).is_file());
    }

    #[test]
    fn a_store_that_never_answers_is_waited_for_and_other_failures_are_not() {
        let told = std::sync::Mutex::new(Vec::new());
        let waiting = |why: Option<String>| told.lock().unwrap().push(why);
        let mut calls = 0;
        let loaded = until_available(true, &waiting, || {
            calls += 1;
            match calls {
                1 => Err(Error::VectorUnavailable("node down".into())),
                _ => Ok(calls),
            }
        });
        assert_eq!(loaded.unwrap(), 2);
        let told = told.into_inner().unwrap();
        assert_eq!(told.len(), 2);
        assert!(told[0].as_deref().unwrap().contains("node down"));
        assert_eq!(told[1], None);

        let failed = until_available(true, &|_| {}, || -> crate::Result<()> {
            Err(Error::InvalidRequest("bad".into()))
        });
        assert!(matches!(failed, Err(Error::InvalidRequest(_))));
        // Without a shared store nobody else publishes: not indexed is final.
        let alone = until_available(false, &|_| {}, || -> crate::Result<()> {
            Err(Error::NotIndexed("c".into()))
        });
        assert!(matches!(alone, Err(Error::NotIndexed(_))));
    }
}
