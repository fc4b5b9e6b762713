//! A corpus's generations on disk (and on a Qdrant server): which one is
//! current, building the next under a lock, swapping, following another
//! replica, and retiring old ones.

use super::*;

impl CorpusStore {
    /// The store of corpus `name` under `data_dir`, its vectors in `vectors`;
    /// nothing is created until a build.
    pub fn new(data_dir: &Path, name: &str, vectors: &VectorBackend) -> CorpusStore {
        CorpusStore {
            dir: data_dir.join(name),
            name: name.to_owned(),
            keep: 2,
            vectors: vectors.clone(),
        }
    }

    /// The same store, keeping `n` complete generations after a swap (at least 1
    /// here; corpus configs ask for at least 2, as a server may still read the
    /// generation a swap replaces).
    pub fn keeping(mut self, n: usize) -> CorpusStore {
        self.keep = n.max(1);
        self
    }

    /// The corpus name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn generations_dir(&self) -> PathBuf {
        self.dir.join("generations")
    }

    pub(super) fn generation_dir(&self, id: GenerationId) -> PathBuf {
        self.generations_dir().join(id.to_string())
    }

    /// The generation `current` points to, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when the pointer does not hold a generation number.
    pub fn current(&self) -> crate::Result<Option<GenerationId>> {
        let path = self.dir.join(CURRENT);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        text.trim()
            .parse()
            .map(|n| Some(GenerationId(n)))
            .map_err(|_| Error::Corrupt {
                path,
                reason: format!("`{}` is not a generation number", text.trim()),
            })
    }

    /// Loads the current generation for searching.
    ///
    /// # Errors
    ///
    /// [`Error::NotIndexed`] when there is none; [`Error::Corrupt`] or
    /// [`Error::Io`] when its files are unreadable.
    pub fn open_current(&self) -> crate::Result<Generation> {
        let id = self
            .current()?
            .ok_or_else(|| Error::NotIndexed(self.name.clone()))?;
        let dir = self.generation_dir(id);
        let manifest = read_manifest(&dir)?;
        if manifest.format != FORMAT_VERSION {
            return Err(Error::Corrupt {
                path: dir.join(MANIFEST),
                reason: format!(
                    "generation {id} of `{}` has layout version {}, this build reads version {FORMAT_VERSION}: reindex the corpus with `candor index`",
                    self.name, manifest.format
                ),
            });
        }
        if manifest.vectors != self.vectors.kind() {
            return Err(Error::Vector(format!(
                "generation {id} of `{}` keeps its vectors in the {:?} store, but this deployment uses the {:?} one: run with the deployment file it was built with, or reindex the corpus",
                self.name,
                manifest.vectors,
                self.vectors.kind()
            )));
        }
        let vectors = self.open_vectors(id)?;
        let chunks = read_chunks(&dir.join(CHUNKS))?;
        if chunks.len() != manifest.chunks {
            return Err(Error::Corrupt {
                path: dir.join(CHUNKS),
                reason: format!("{} chunks, manifest says {}", chunks.len(), manifest.chunks),
            });
        }
        let mut series_dates: HashMap<String, Vec<NaiveDate>> = HashMap::new();
        let mut version_dates: HashMap<(String, String), Vec<NaiveDate>> = HashMap::new();
        for c in &chunks {
            if let (Some(series), Some(date)) = (&c.series, c.date) {
                series_dates.entry(series.clone()).or_default().push(date);
                version_dates
                    .entry((series.clone(), c.entry_key().to_owned()))
                    .or_default()
                    .push(date);
            }
        }
        for dates in series_dates.values_mut().chain(version_dates.values_mut()) {
            dates.sort();
            dates.dedup();
        }
        let releases = || {
            chunks.iter().filter_map(|c| {
                let version = c.metadata.get("version")?;
                (!c.entry_key().is_empty()).then_some((c.series.as_ref()?, c, version))
            })
        };
        let mut version_newest: HashMap<String, String> = releases()
            .filter(|(_, c, _)| c.date.is_none())
            .map(|(series, _, version)| (series.clone(), version.clone()))
            .collect();
        for (series, _, version) in releases() {
            if let Some(top) = version_newest.get_mut(series) {
                if version_order(version, top).is_gt() {
                    top.clone_from(version);
                }
            }
        }
        let sentences = SentenceVectors::read(&dir.join(SENTENCES), chunks.len())?;
        Ok(Generation {
            manifest,
            templates: templates(&chunks),
            words: std::sync::OnceLock::new(),
            series_dates,
            version_dates,
            version_newest,
            sentences,
            chunks,
            lexical: LexicalIndex::open(&dir.join(LEXICAL))?,
            vectors,
        })
    }

    /// A new, empty vector store for generation `id`.
    pub(super) fn create_vectors(&self, id: GenerationId) -> crate::Result<Box<dyn VectorStore>> {
        Ok(match &self.vectors {
            VectorBackend::Edge => {
                Box::new(EdgeStore::create(&self.generation_dir(id).join(VECTORS))?)
            }
            VectorBackend::Qdrant(server) => Box::new(server.create(&self.name, id)?),
        })
    }

    pub(super) fn open_vectors(&self, id: GenerationId) -> crate::Result<Box<dyn VectorStore>> {
        Ok(match &self.vectors {
            VectorBackend::Edge => {
                Box::new(EdgeStore::open(&self.generation_dir(id).join(VECTORS))?)
            }
            VectorBackend::Qdrant(server) => Box::new(server.open(&self.name, id)?),
        })
    }

    /// The id a new generation gets: after every one on disk and, with a
    /// Qdrant server, after every one there (another replica may have built it).
    pub(super) fn next_generation(&self) -> crate::Result<GenerationId> {
        let mut last = self.generation_ids()?.last().copied();
        if let VectorBackend::Qdrant(server) = &self.vectors {
            last = last.max(server.generations(&self.name)?.last().copied());
        }
        Ok(GenerationId(last.map_or(1, |g| g.0 + 1)))
    }

    /// Makes this replica serve the generation the Qdrant alias names, when
    /// another replica moved it: copies the generation from the server (chunk
    /// table, embeddings and manifest; the lexical index is rebuilt here) unless
    /// it is already on disk, then points `current` at it. Returns the
    /// generation when it changed; with the embedded store, or while a build of
    /// this corpus runs here, there is nothing to follow.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`], or [`Error::Vector`] / [`Error::Corrupt`]
    /// when the server's copy is incomplete; `current` is then unchanged.
    pub fn follow(&self) -> crate::Result<Option<GenerationId>> {
        let VectorBackend::Qdrant(server) = &self.vectors else {
            return Ok(None);
        };
        // Behind unless `current` is the served generation, copied or built for
        // the server (a data dir that served embedded generations may hold one
        // of the same number).
        let behind = || -> crate::Result<Option<GenerationId>> {
            let Some(served) = server.served(&self.name)? else {
                return Ok(None);
            };
            let same = self.current()? == Some(served)
                && read_manifest(&self.generation_dir(served))
                    .is_ok_and(|m| m.vectors == VectorStoreKind::Qdrant);
            Ok((!same).then_some(served))
        };
        if behind()?.is_none() {
            return Ok(None);
        }
        let _lock = match self.lock_builds() {
            Ok(lock) => lock,
            Err(Error::IndexBusy(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // Looked at again under the lock: a build here may have just finished.
        let Some(served) = behind()? else {
            return Ok(None);
        };
        let dir = self.generation_dir(served);
        let manifest_json = server.manifest(&self.name, served)?;
        // A folder of that number here is the same generation only if its
        // manifest is the one published (not an embedded build, nor one that
        // was never published).
        let local = fs::read_to_string(dir.join(MANIFEST)).ok();
        if local.as_deref() != Some(manifest_json.as_str()) {
            let manifest: Manifest = serde_json::from_str(&manifest_json).map_err(|e| {
                Error::Vector(format!(
                    "Qdrant at {}: the manifest of generation {served} of `{}` is unreadable: {e}",
                    server.url(),
                    self.name
                ))
            })?;
            let mut chunks = Vec::new();
            let mut vectors = Vec::new();
            let mut sentences = Vec::new();
            for (c, v, s) in server.open(&self.name, served)?.records()? {
                chunks.push(c);
                vectors.push(v);
                sentences.push(s);
            }
            if chunks.len() != manifest.chunks {
                return Err(Error::Vector(format!(
                    "Qdrant at {}: generation {served} of `{}` holds {} chunks, its manifest says {}",
                    server.url(),
                    self.name,
                    chunks.len(),
                    manifest.chunks
                )));
            }
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
            }
            fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
            write_tables(&dir, &chunks, &vectors, &SentenceVectors::new(sentences))?;
            write_durable(&dir.join(MANIFEST), manifest_json.as_bytes())?;
            sync_dir(&dir)?;
        }
        self.point_current(served)?;
        self.retire_local(served)?;
        Ok(Some(served))
    }

    /// Takes the corpus's build lock, held until the returned file is dropped (or the
    /// process dies: the OS releases it), so two builds never interleave.
    pub(super) fn lock_builds(&self) -> crate::Result<fs::File> {
        fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        let path = self.dir.join(BUILD_LOCK);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(Error::IndexBusy(self.name.clone())),
            Err(fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
        }
    }

    /// Ids of the generation folders on disk, ascending.
    pub(super) fn generation_ids(&self) -> crate::Result<Vec<GenerationId>> {
        let dir = self.generations_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Io {
                    path: dir,
                    source: e,
                })
            }
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io(&dir))?;
            if let Some(n) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                ids.push(GenerationId(n));
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Removes what interrupted builds left behind, unless a build is running now
    /// (then its folder is work in progress, not debris); returns what it removed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the lock or a folder cannot be handled.
    pub fn clean_up(&self) -> crate::Result<Vec<PathBuf>> {
        match self.lock_builds() {
            Ok(_lock) => self.remove_partial(),
            Err(Error::IndexBusy(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Removes generation folders that never completed (no manifest: a build that
    /// failed or was killed) and returns what it removed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a folder cannot be removed.
    pub fn remove_partial(&self) -> crate::Result<Vec<PathBuf>> {
        let current = self.current()?;
        let mut removed = Vec::new();
        for id in self.generation_ids()? {
            let dir = self.generation_dir(id);
            if Some(id) != current && !dir.join(MANIFEST).is_file() {
                fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
                removed.push(dir);
            }
        }
        Ok(removed)
    }

    /// Serves generation `id` (whose `manifest` is on disk): moves the Qdrant
    /// alias first, when there is one, then `current`, then removes all but the
    /// newest generations it keeps (see [`CorpusStore::keeping`]), here and on
    /// the server.
    pub(super) fn swap(&self, id: GenerationId, manifest: &str) -> crate::Result<()> {
        if let VectorBackend::Qdrant(server) = &self.vectors {
            server.publish(&self.name, id, manifest)?;
        }
        self.point_current(id)?;
        self.retire_local(id)?;
        if let VectorBackend::Qdrant(server) = &self.vectors {
            // Served already: an old collection left behind costs space, not
            // correctness, so a failure here is only reported.
            if let Err(e) = self.retire_on_server(server, id) {
                tracing::warn!(corpus = %self.name, error = %e, "cannot delete old collections; they stay until the next swap");
            }
        }
        Ok(())
    }

    /// Deletes the server's collections of generations older than the newest
    /// `keep` up to `id` (other replicas may still serve those), and never a
    /// newer one (another build's).
    pub(super) fn retire_on_server(
        &self,
        server: &QdrantServer,
        id: GenerationId,
    ) -> crate::Result<()> {
        let ids = server.generations(&self.name)?;
        let upto = ids.partition_point(|g| *g <= id);
        let keep: Vec<GenerationId> = ids[upto.saturating_sub(self.keep)..].to_vec();
        for name in server.delete_others(&self.name, &keep)? {
            tracing::info!(corpus = %self.name, collection = %name, "deleted an old generation's collection");
        }
        Ok(())
    }

    /// Points `current` at `id` atomically.
    pub(super) fn point_current(&self, id: GenerationId) -> crate::Result<()> {
        let tmp = self.dir.join(format!("{CURRENT}.tmp"));
        let target = self.dir.join(CURRENT);
        {
            let mut f = fs::File::create(&tmp).map_err(Error::io(&tmp))?;
            writeln!(f, "{id}").map_err(Error::io(&tmp))?;
            f.sync_all().map_err(Error::io(&tmp))?;
        }
        fs::rename(&tmp, &target).map_err(Error::io(&target))?;
        sync_dir(&self.dir)
    }

    /// Removes the generation folders beyond the newest it keeps, never `id`
    /// (the one now current).
    pub(super) fn retire_local(&self, id: GenerationId) -> crate::Result<()> {
        let ids = self.generation_ids()?;
        let keep_from = ids.len().saturating_sub(self.keep);
        for old in &ids[..keep_from] {
            if *old != id {
                let dir = self.generation_dir(*old);
                fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
            }
        }
        Ok(())
    }
}
