//! The set of served corpora, each with its settings and current generation: the
//! engine's entry point for searching by corpus name.
//!
//! Loading checks everything before serving (every corpus config valid, every
//! corpus indexed), so a server never starts half-working. Knows nothing of HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::{search_chunks, Clock, Mode, Request, Scored};
use crate::config::{Corpus, CorpusConfig, CORPUS_FILE};
use crate::embed::Embedder;
use crate::index::{ChunkId, CorpusStore, Generation, GenerationId, VectorBackend, VectorFilter};
use crate::ingest::Chunk;
use crate::Error;

/// One served corpus.
pub struct Served {
    /// Its folder (where `corpus.toml` is).
    pub root: PathBuf,
    /// Its validated configuration.
    pub config: CorpusConfig,
    /// The generation queries run against.
    pub generation: Arc<Generation>,
}

impl Served {
    /// The corpus as configured when the server started: what a reindex of it reads.
    pub fn corpus(&self) -> Corpus {
        Corpus {
            root: self.root.clone(),
            config: self.config.clone(),
        }
    }
}

/// Where a corpus's [`Served`] lives: swapped whole when a new generation is
/// loaded. A request holds the `Arc` it took, so it finishes on the generation
/// it began with. Shared with those that serve the corpus beyond retrieval
/// (the answer path's `ServedCorpus`).
pub struct Slot(RwLock<Arc<Served>>);

impl Slot {
    /// What the slot serves now.
    pub fn current(&self) -> Arc<Served> {
        crate::sync::read(&self.0).clone()
    }
}

/// All served corpora, by name, and the shared embedder.
pub struct Corpora {
    corpora: BTreeMap<String, Arc<Slot>>,
    embedder: Arc<Embedder>,
    data_dir: PathBuf,
    vectors: VectorBackend,
    // One reload at a time, so a slower one never installs an older generation
    // over a newer one.
    reloading: Mutex<()>,
}

/// A search result: the corpus and generation it came from and the ranked evidence.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// The corpus searched.
    pub corpus: String,
    /// Its generation.
    pub generation: GenerationId,
    /// The mode used.
    pub mode: Mode,
    /// Ranked chunks, best first.
    pub evidence: Vec<Evidence>,
}

/// One ranked chunk with its citation data and scores.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// 1-based rank.
    pub rank: usize,
    /// The chunk and its citation metadata.
    pub chunk: Chunk,
    /// Per-signal and fused scores.
    pub scores: Scores,
}

/// The scores that placed an evidence item.
#[derive(Debug, Clone)]
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

/// A search over the served corpora.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The question.
    pub text: &'a str,
    /// The corpus; may be left out when one corpus is served.
    pub corpus: Option<&'a str>,
    /// Signals to use.
    pub mode: Mode,
    /// Results wanted.
    pub limit: usize,
    /// Documents dated after this day are left out.
    pub as_of: Option<chrono::NaiveDate>,
    /// Apply the corpus's recency, temporal intent and supersession; false ranks
    /// by relevance alone (to measure what recency adds).
    pub recency: bool,
}

/// Summary of a served corpus.
#[derive(Debug, Clone)]
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

impl Corpora {
    /// Loads every corpus folder (a subfolder holding `corpus.toml`) under `dir` and
    /// its current generation from `data_dir`, vectors from `vectors`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad corpus config or a duplicate name,
    /// [`Error::NotIndexed`] for a corpus without a generation, and I/O or index
    /// errors.
    pub fn load(
        dir: &Path,
        data_dir: &Path,
        vectors: &VectorBackend,
        embedder: Arc<Embedder>,
    ) -> crate::Result<Corpora> {
        Corpora::open(discover_corpora(dir)?, data_dir, vectors, embedder)
    }

    /// Serves the given corpora with their current generations from `data_dir`;
    /// with a Qdrant server, a generation another replica published there is
    /// copied first (see [`CorpusStore::follow`]).
    ///
    /// # Errors
    ///
    /// As [`Corpora::load`].
    pub fn open(
        list: Vec<Corpus>,
        data_dir: &Path,
        vectors: &VectorBackend,
        embedder: Arc<Embedder>,
    ) -> crate::Result<Corpora> {
        let mut corpora = BTreeMap::new();
        for corpus in list {
            let name = corpus.config.name.clone();
            let store =
                CorpusStore::new(data_dir, &name, vectors).keeping(corpus.config.keep_generations);
            for dir in store.clean_up()? {
                tracing::warn!(corpus = %name, path = %dir.display(), "removed an incomplete generation left by an interrupted build");
            }
            if let Some(g) = store.follow()? {
                tracing::info!(corpus = %name, generation = %g, "copied the generation the vector store serves");
            }
            let generation = Arc::new(store.open_current()?);
            let served = Served {
                root: corpus.root.clone(),
                config: corpus.config,
                generation,
            };
            if corpora
                .insert(name.clone(), Arc::new(Slot(RwLock::new(Arc::new(served)))))
                .is_some()
            {
                return Err(Error::Config {
                    file: corpus.root.join(CORPUS_FILE),
                    key: "name".into(),
                    message: format!("another corpus is also named `{name}`"),
                });
            }
        }
        Ok(Corpora {
            corpora,
            embedder,
            data_dir: data_dir.to_path_buf(),
            vectors: vectors.clone(),
            reloading: Mutex::new(()),
        })
    }

    /// The store of a served corpus.
    fn store(&self, served: &Served) -> CorpusStore {
        CorpusStore::new(&self.data_dir, &served.config.name, &self.vectors)
            .keeping(served.config.keep_generations)
    }

    /// Serves, for every corpus, the generation the shared vector store names
    /// when another replica moved it (nothing to do with the embedded store),
    /// and whatever `current` names when it is not what is loaded. Returns, per
    /// corpus, the generation it moved to or why it could not; a corpus that
    /// fails keeps serving what it served.
    pub fn follow(&self) -> Vec<(String, crate::Result<Option<GenerationId>>)> {
        self.iter()
            .map(|(name, served)| {
                let store = self.store(&served);
                let loaded = served.generation.manifest.generation;
                let moved = store.follow().and_then(|_| match store.current()? {
                    Some(g) if g != loaded => self.reload(name).map(Some),
                    _ => Ok(None),
                });
                (name.clone(), moved)
            })
            .collect()
    }

    /// Calls [`Corpora::follow`] every `interval` for the life of the process,
    /// logging what moved and what failed.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when the thread cannot start.
    pub fn follow_every(self: &Arc<Self>, interval: std::time::Duration) -> crate::Result<()> {
        let corpora = self.clone();
        std::thread::Builder::new()
            .name("candor-follow".into())
            .spawn(move || {
                // An outage is logged when it starts and when it ends, not at
                // every look.
                let mut failing = std::collections::HashSet::new();
                loop {
                    std::thread::sleep(interval);
                    for (name, result) in corpora.follow() {
                        match result {
                            Ok(moved) => {
                                if failing.remove(&name) {
                                    tracing::info!(corpus = %name, "following the vector store's generations again");
                                }
                                if let Some(g) = moved {
                                    tracing::info!(corpus = %name, generation = %g, "now serving the generation another replica published");
                                }
                            }
                            Err(e) => {
                                if failing.insert(name.clone()) {
                                    tracing::warn!(corpus = %name, error = %e, "cannot follow the vector store's generations; serving what was served");
                                }
                            }
                        }
                    }
                }
            })
            .map(drop)
            .map_err(|e| Error::Internal(format!("cannot start following generations: {e}")))
    }

    /// Loads corpus `name`'s current generation from disk and serves it from now
    /// on; requests already running finish on the one they picked.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCorpus`], or index errors (the old generation serves on).
    pub fn reload(&self, name: &str) -> crate::Result<GenerationId> {
        let slot = self
            .corpora
            .get(name)
            .ok_or_else(|| Error::UnknownCorpus(name.to_owned()))?;
        let _one_at_a_time = crate::sync::lock(&self.reloading);
        let old = slot.current();
        let generation = Arc::new(self.store(&old).open_current()?);
        let id = generation.manifest.generation;
        let served = Served {
            root: old.root.clone(),
            config: old.config.clone(),
            generation,
        };
        *crate::sync::write(&slot.0) = Arc::new(served);
        Ok(id)
    }

    /// A hook that loads corpus `name`'s current generation, for a job to call
    /// after it swaps one in.
    pub fn reloader(
        self: &Arc<Self>,
        name: &str,
    ) -> impl Fn() -> crate::Result<GenerationId> + Send + Sync + 'static {
        let (corpora, name) = (self.clone(), name.to_owned());
        move || corpora.reload(&name)
    }

    /// The served corpora, by name.
    pub fn list(&self) -> Vec<CorpusInfo> {
        self.iter()
            .map(|(name, s)| CorpusInfo {
                name: name.clone(),
                scope: s.config.scope.clone(),
                documents: s.generation.manifest.documents,
                chunks: s.generation.manifest.chunks,
                generation: s.generation.manifest.generation,
                indexed_at: s.generation.manifest.indexed_at.clone(),
            })
            .collect()
    }

    /// Every served corpus's slot, by name.
    pub fn slots(&self) -> impl Iterator<Item = (&String, &Arc<Slot>)> {
        self.corpora.iter()
    }

    /// The shared embedding model.
    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// Every served corpus, by name, as served now.
    pub fn iter(&self) -> impl Iterator<Item = (&String, Arc<Served>)> {
        self.corpora
            .iter()
            .map(|(name, slot)| (name, slot.current()))
    }

    /// The named corpus, or the only one when `corpus` is None.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCorpus`] for a name not served; [`Error::InvalidRequest`] when
    /// no name is given and several corpora are served.
    pub fn pick(&self, corpus: Option<&str>) -> crate::Result<(&String, Arc<Served>)> {
        match corpus {
            Some(name) => self
                .corpora
                .get_key_value(name)
                .map(|(name, slot)| (name, slot.current()))
                .ok_or_else(|| Error::UnknownCorpus(name.to_owned())),
            None if self.corpora.len() == 1 => self
                .iter()
                .next()
                .ok_or_else(|| Error::UnknownCorpus(String::new())),
            None => Err(Error::InvalidRequest(format!(
                "several corpora are served ({}); name one in `corpus`",
                self.corpora.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Ranked chunks of one served corpus, with recency, intent and supersession
    /// applied as its settings say. `query.corpus` is not consulted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for bad parameters, or index and model failures.
    pub fn rank(&self, served: &Served, query: &Query<'_>) -> crate::Result<Vec<Scored<ChunkId>>> {
        let clock = Clock {
            settings: served.config.recency.clone(),
            today: chrono::Utc::now().date_naive(),
        };
        let request = Request {
            query: query.text,
            mode: query.mode,
            limit: query.limit,
            filter: VectorFilter {
                not_after: query.as_of,
            },
            recency: query.recency.then_some(clock),
        };
        search_chunks(
            &served.generation,
            &self.embedder,
            &served.config.retrieval,
            &request,
        )
    }

    /// Ranked evidence for `query` from one corpus (the only one when `corpus` is None).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCorpus`], [`Error::InvalidRequest`] for bad parameters, or
    /// index and model failures.
    pub fn search(&self, query: &Query<'_>) -> crate::Result<SearchResult> {
        let (name, served) = self.pick(query.corpus)?;
        let gen = &served.generation;
        let evidence = self
            .rank(&served, query)?
            .into_iter()
            .enumerate()
            .map(|(i, s)| Evidence::new(i + 1, gen, &s))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(SearchResult {
            corpus: name.clone(),
            generation: gen.manifest.generation,
            mode: query.mode,
            evidence,
        })
    }
}

impl Evidence {
    /// The evidence item at 1-based `rank` for a scored chunk of `gen`.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when the id is outside the chunk table.
    pub fn new(rank: usize, gen: &Generation, s: &Scored<ChunkId>) -> crate::Result<Evidence> {
        Ok(Evidence {
            rank,
            chunk: gen.chunk(s.id)?.clone(),
            scores: Scores {
                bm25: s.bm25,
                dense: s.dense,
                recency: s.recency,
                superseded: s.superseded,
                fused: s.score,
            },
        })
    }
}

/// Every corpus folder directly under `dir`, sorted by folder name.
///
/// # Errors
///
/// [`Error::Io`] when `dir` cannot be read, or the first corpus config error.
pub fn discover_corpora(dir: &Path) -> crate::Result<Vec<Corpus>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        if !path.is_dir() {
            continue;
        }
        let file = path.join(CORPUS_FILE);
        match std::fs::symlink_metadata(&file) {
            // No corpus.toml: not a corpus.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A folder closed to this user (a volume's lost+found) cannot say
            // whether it is one; it is passed over, but not unsaid.
            Err(e) => {
                tracing::warn!(folder = %path.display(), "skipped a folder this process cannot look into: {e}");
            }
            // A corpus.toml that is there but cannot be read (a broken link)
            // must not make its corpus vanish from the service unsaid.
            Ok(_) => match std::fs::metadata(&file) {
                Ok(m) if m.is_file() => dirs.push(path),
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::Io {
                        path: file,
                        source: e,
                    })
                }
            },
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        return Err(Error::Config {
            file: dir.to_path_buf(),
            key: "-".into(),
            message: format!("no corpus folders (subfolders with {CORPUS_FILE}) here"),
        });
    }
    dirs.iter().map(|d| Corpus::load(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_skips_what_is_not_a_corpus_but_not_a_config_it_cannot_reach() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        std::fs::create_dir(dir.path().join("drafts")).unwrap();
        let kb = dir.path().join("kb");
        std::fs::create_dir_all(kb.join("docs")).unwrap();
        std::fs::write(
            kb.join(CORPUS_FILE),
            "name = \"kb\"\nscope = \"Things.\"\n[[sources]]\npath = \"docs\"\n",
        )
        .unwrap();
        let names = |found: Vec<Corpus>| -> Vec<String> {
            found.into_iter().map(|c| c.config.name).collect()
        };
        assert_eq!(names(discover_corpora(dir.path()).unwrap()), ["kb"]);
        let lost = dir.path().join("lost");
        std::fs::create_dir(&lost).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.toml"), lost.join(CORPUS_FILE)).unwrap();
        let e = discover_corpora(dir.path()).unwrap_err().to_string();
        assert!(e.contains("lost") && e.contains(CORPUS_FILE), "{e}");
    }
}
