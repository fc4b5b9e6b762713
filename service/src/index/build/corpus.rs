//! A corpus folder as build inputs: what changed since the current
//! generation, and the files hashed now and parsed only when needed.

use super::*;

/// What changed in the corpus folder since its current generation was indexed:
/// files added, removed, or modified after it; `None` when nothing did.
///
/// Cheap enough to poll: it lists the files and reads their modification times,
/// never their contents.
///
/// # Errors
///
/// [`Error::Io`] when discovery fails, index errors when the manifest is damaged.
pub fn pending_changes(
    corpus: &Corpus,
    data_dir: &Path,
    vectors: &VectorBackend,
) -> crate::Result<Option<String>> {
    let store = CorpusStore::new(data_dir, &corpus.config.name, vectors);
    let Some(id) = store.current()? else {
        return Ok(Some("the corpus has no generation yet".into()));
    };
    let manifest = read_manifest(&store.generation_dir(id))?;
    let indexed_at = chrono::DateTime::parse_from_rfc3339(&manifest.indexed_at)
        .map(std::time::SystemTime::from)
        .map_err(|e| Error::Corrupt {
            path: store.generation_dir(id).join(MANIFEST),
            reason: format!("indexed_at: {e}"),
        })?;
    // A file's time as read by the build when it was recorded (any difference,
    // earlier or later, is a change); otherwise (a failed file) its time
    // against the generation's.
    let mut known: HashMap<String, Option<u64>> = manifest
        .files
        .into_iter()
        .map(|f| (f.key, f.modified))
        .collect();
    known.extend(
        manifest
            .errors
            .into_iter()
            .map(|e| (e.path.to_string_lossy().into_owned(), None)),
    );
    let (mut added, mut modified) = (0, 0);
    for file in ingest::discover(corpus)? {
        let key = file.rel_path.to_string_lossy().into_owned();
        let now = std::fs::metadata(&file.abs_path)
            .and_then(|m| m.modified())
            .ok();
        match known.remove(&key) {
            None => added += 1,
            Some(Some(recorded)) if now.map(nanos) != Some(recorded) => modified += 1,
            Some(None) if now.is_none_or(|t| t > indexed_at) => modified += 1,
            Some(_) => {}
        }
    }
    let removed = known.len();
    Ok((added + modified + removed > 0).then(|| {
        format!("{added} files added, {modified} modified, {removed} removed since generation {id}")
    }))
}

/// A file time as nanoseconds since the epoch (0 before it).
fn nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Indexes a corpus folder: discovers its files, builds a generation, swaps it in.
///
/// # Errors
///
/// As [`build`], plus [`Error::Io`] when discovery fails.
pub fn index_corpus(
    corpus: &Corpus,
    data_dir: &Path,
    vectors: &VectorBackend,
    mode: Mode,
    embedder: &Embedder,
    progress: &dyn Progress,
) -> crate::Result<BuildReport> {
    let chunker = Chunker::from_file(embedder.tokenizer_path(), corpus.config.chunking)?;
    let parsers = Parser::for_sources(corpus, &data_dir.join(crate::plugins::CACHE_DIR))?;
    let store = CorpusStore::new(data_dir, &corpus.config.name, vectors)
        .keeping(corpus.config.keep_generations);
    let limits = corpus.config.limits;
    let inputs = ingest::discover(corpus)?
        .into_iter()
        .map(|file| {
            let parser = parsers[file.source_index].clone();
            file_input(file, parser, limits)
        })
        .collect();
    build(
        &store,
        inputs,
        (mode, Sentences::Embed),
        embedder,
        &chunker,
        progress,
    )
}

/// A corpus file as a build input: hashed now (streaming, within the size
/// limit), parsed only if the build finds it changed. A file that cannot be
/// read or is too big becomes an input that fails, so the build reports it.
fn file_input(file: ingest::SourceFile, parser: Parser, limits: IngestLimits) -> BuildInput {
    let key = file.rel_path.to_string_lossy().into_owned();
    let rel = file.rel_path.clone();
    // The time before the bytes: an edit between the two shows as a change
    // at the next look rather than hiding behind a newer time. Only the hash
    // is taken now, streaming: the bytes are read when the file is parsed,
    // so the corpus is never in memory at once.
    let looked = std::fs::metadata(&file.abs_path)
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|m| {
            let max = limits.max_file_mib << 20;
            if m.len() > max as u64 {
                return Err(format!(
                    "is {:.1} MiB, more than the corpus allows ({} MiB, limits.max_file_mib)",
                    m.len() as f64 / (1 << 20) as f64,
                    limits.max_file_mib
                ));
            }
            let hash = sha256_file(&file.abs_path).map_err(|e| format!("cannot read: {e}"))?;
            Ok((hash, m.modified().ok()))
        });
    let (hash, modified) = match looked {
        Ok(x) => x,
        Err(reason) => {
            // Failed like an unparseable file: reported, never reused.
            return BuildInput {
                key,
                hash: String::new(),
                parse: Box::new(move || Err(Error::BadDocument { path: rel, reason })),
                modified: None,
                max_chunks: limits.max_chunks_per_file,
                max_documents: limits.max_documents_per_file,
                max_document_bytes: limits.max_document_mib << 20,
            };
        }
    };
    let (abs, expected) = (file.abs_path.clone(), hash.clone());
    BuildInput {
        key,
        // A file read by another parser, or with another config, is another
        // input: its chunks may differ.
        hash: sha256_hex(format!("{hash}\n{}", parser.fingerprint()).as_bytes()),
        modified: modified.map(nanos),
        max_chunks: limits.max_chunks_per_file,
        max_documents: limits.max_documents_per_file,
        max_document_bytes: limits.max_document_mib << 20,
        parse: Box::new(move || {
            let bad = |reason: String| Error::BadDocument {
                path: rel.clone(),
                reason,
            };
            let bytes = std::fs::read(&abs).map_err(|e| bad(format!("cannot read: {e}")))?;
            if sha256_hex(&bytes) != expected {
                return Err(bad(
                    "changed while being indexed; the next run picks it up".into()
                ));
            }
            let mut docs = parser.parse(&rel, &bytes)?;
            drop(bytes);
            // Dates come from the document; the file's time is the documented
            // fallback. It says nothing of when one release of a changelog came
            // out, and would make every undated release the newest.
            let file_date = modified.map(|t| chrono::DateTime::<chrono::Utc>::from(t).date_naive());
            for doc in docs
                .iter_mut()
                .filter(|d| d.date.is_none() && !d.is_series_entry())
            {
                doc.date = file_date;
                doc.file_dated = file_date.is_some();
            }
            Ok(docs)
        }),
    }
}
