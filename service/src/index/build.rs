//! Builds a new generation from inputs: parse what changed, chunk, embed, write
//! both indexes, then swap.
//!
//! Incremental runs reuse the chunks and vectors of inputs whose content hash is
//! unchanged since the current generation, so only new or edited files are parsed
//! and embedded, and deleted files simply do not carry over. The build never
//! modifies the generation that is serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sentences::{self, ChunkSentences, Quantized, SentenceVectors};
use super::{
    read_chunks, read_embeddings, read_manifest, sync_dir, write_durable, write_tables, ChunkId,
    CorpusStore, EdgeStore, FileEntry, GenerationId, Manifest, VectorBackend, VectorPoint,
    VectorStore, CHUNKS, EMBEDDINGS, FORMAT_VERSION, MANIFEST, SENTENCES, VECTORS,
};
use crate::config::{Corpus, IngestLimits};
use crate::embed::Embedder;
use crate::ingest::{self, Chunk, Chunker, Document, FileError, Parser};
use crate::Error;

/// Texts per embedding call during a build; progress is reported after each.
const EMBED_STEP_TEXTS: usize = 256;

/// Full rebuild, or reuse of unchanged inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ReindexMode)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Parse and embed every input.
    Full,
    /// Parse and embed only inputs whose content hash changed.
    Incremental,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "full" => Ok(Mode::Full),
            "incremental" => Ok(Mode::Incremental),
            other => Err(format!(
                "`{other}` is not a reindex mode; use `full` or `incremental`"
            )),
        }
    }
}

/// Whether a build embeds the sentences of each chunk, which the extractive
/// composer compares with the question. A build that only ranks (`candor eval
/// beir`) skips them: they cost several times the chunks' own embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sentences {
    /// Embed each distinct sentence of the new chunks.
    Embed,
    /// Store no sentence vectors.
    Skip,
}

/// Parses one input into its documents (a file may hold several).
pub type ParseFn = Box<dyn FnOnce() -> crate::Result<Vec<Document>> + Send>;

/// One input to index: a file or an imported record, with its content hash and a
/// way to parse it that runs only if the hash changed.
pub struct BuildInput {
    /// Unique key: path relative to the corpus folder, or a record id.
    pub key: String,
    /// sha256 of the content, hex.
    pub hash: String,
    /// Parses the content.
    pub parse: ParseFn,
    /// The file's modification time when its bytes were read (nanoseconds since
    /// the epoch), so a later look can tell whether it changed since.
    pub modified: Option<u64>,
    /// Most chunks it may be cut into; more fails the input.
    pub max_chunks: usize,
    /// Most documents it may parse into; more fails the input.
    pub max_documents: usize,
    /// Largest text of one of its documents, in bytes; more fails the input.
    pub max_document_bytes: usize,
}

impl BuildInput {
    /// An input whose content is `bytes`, parsed by `parse` when needed.
    pub fn new(key: String, bytes: &[u8], parse: ParseFn) -> BuildInput {
        BuildInput {
            key,
            hash: sha256_hex(bytes),
            parse,
            modified: None,
            max_chunks: usize::MAX,
            max_documents: usize::MAX,
            max_document_bytes: usize::MAX,
        }
    }
}

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Records `key` as the file of its chunks' documents; a reason when one of
/// those ids is another file's already.
fn claim_ids(owners: &mut HashMap<String, String>, key: &str, chunks: &[Chunk]) -> Option<String> {
    let ids: std::collections::BTreeSet<&str> =
        chunks.iter().map(|c| c.doc_id.0.as_str()).collect();
    if let Some((id, other)) = ids
        .iter()
        .find_map(|id| owners.get(*id).filter(|o| *o != key).map(|o| (id, o)))
    {
        return Some(format!(
            "document id `{id}` is already the id of a document of `{other}`; rename one of the files"
        ));
    }
    for id in ids {
        owners.insert(id.to_owned(), key.to_owned());
    }
    None
}

/// sha256 of a file's content as lowercase hex, read in pieces.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Whether a file stays within the document limits `(max_documents,
/// max_document_bytes)`: its number of documents and the text bytes of its
/// largest (both also recorded in the manifest, so a reused file is held to
/// limits lowered since).
fn within_limits(max: (usize, usize), documents: usize, largest: usize) -> Result<(), String> {
    if documents > max.0 {
        return Err(format!(
            "yields {documents} documents, more than the corpus allows ({}, limits.max_documents_per_file)",
            max.0
        ));
    }
    if largest > max.1 {
        return Err(format!(
            "holds a document of {:.1} MiB of text, more than the corpus allows ({} MiB, limits.max_document_mib)",
            largest as f64 / (1 << 20) as f64,
            max.1 >> 20
        ));
    }
    Ok(())
}

/// The text bytes of `docs`' largest document.
fn largest_document(docs: &[Document]) -> usize {
    docs.iter()
        .map(|d| d.sections.iter().map(|s| s.text.len()).sum::<usize>())
        .max()
        .unwrap_or(0)
}

/// What a build reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEvent {
    /// `done` of `total` inputs parsed or reused.
    Parsed {
        /// Inputs handled so far.
        done: u64,
        /// All inputs.
        total: u64,
    },
    /// `done` of `total` new chunks embedded.
    Embedded {
        /// Chunks embedded so far.
        done: u64,
        /// Chunks to embed.
        total: u64,
    },
    /// `done` of `total` distinct sentences of the new chunks embedded.
    EmbeddedSentences {
        /// Sentences embedded so far.
        done: u64,
        /// Sentences to embed.
        total: u64,
    },
    /// Writing the lexical index and the vector store.
    Indexing,
}

/// Receives progress; the CLI draws a bar or logs lines.
pub trait Progress {
    /// Called at each step.
    fn report(&self, event: ProgressEvent);
}

impl Progress for () {
    fn report(&self, _: ProgressEvent) {}
}

/// The outcome of a build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The generation now serving.
    pub generation: GenerationId,
    /// Inputs seen.
    pub files_seen: usize,
    /// Inputs parsed and embedded because they were new or changed.
    pub files_changed: usize,
    /// Inputs reused unchanged from the previous generation.
    pub files_skipped: usize,
    /// Inputs that failed and were left out.
    pub files_failed: usize,
    /// Inputs of the previous generation that no longer exist.
    pub files_deleted: usize,
    /// Why an incremental run could not reuse the previous generation and embedded
    /// everything again; `None` when it reused it (or there was none, or the run was full).
    pub reuse_refused: Option<String>,
    /// Documents in the new generation.
    pub documents: usize,
    /// Chunks in the new generation.
    pub chunks: usize,
    /// Chunks embedded by this run.
    pub chunks_embedded: usize,
    /// Distinct sentences of those chunks embedded by this run.
    pub sentences_embedded: usize,
    /// Per-input errors.
    pub errors: Vec<FileError>,
    /// Incomplete generation folders removed before the build.
    pub removed_partial: Vec<String>,
    /// Seconds spent parsing and chunking.
    pub parse_seconds: f64,
    /// Seconds spent inside the embedding model.
    pub embed_seconds: f64,
    /// Seconds spent writing indexes and files.
    pub index_seconds: f64,
    /// Wall-clock seconds for the whole build.
    pub total_seconds: f64,
}

/// One input of the current generation: its content hash, what it measured
/// against the limits, its chunks, their vectors and their sentences' vectors.
struct Reusable {
    hash: String,
    documents: usize,
    largest: usize,
    chunks: Vec<Chunk>,
    vectors: Vec<Vec<f32>>,
    sentences: Vec<ChunkSentences>,
}

/// What an incremental run may reuse from the current generation.
struct Previous {
    chunks_by_key: HashMap<String, Reusable>,
}

impl Previous {
    /// What the current generation offers for reuse: `None` when there is none, the
    /// reason when it cannot be reused.
    fn load(
        store: &CorpusStore,
        embedder: &Embedder,
        chunker: &Chunker,
    ) -> crate::Result<Option<Result<Previous, &'static str>>> {
        let Some(id) = store.current()? else {
            return Ok(None);
        };
        let dir = store.generation_dir(id);
        let manifest = read_manifest(&dir)?;
        if manifest.format != FORMAT_VERSION {
            return Ok(Some(Err("the generation was written in another format")));
        }
        if manifest.model_id != embedder.model_id() {
            return Ok(Some(Err("the embedding model changed")));
        }
        if manifest.chunking != chunker.settings() {
            return Ok(Some(Err("the chunking settings changed")));
        }
        let chunks = read_chunks(&dir.join(CHUNKS))?;
        let vectors = read_embeddings(&dir.join(EMBEDDINGS), chunks.len())?;
        let sentences = SentenceVectors::read(&dir.join(SENTENCES), chunks.len())?;
        let mut chunks_by_key = HashMap::new();
        for f in manifest.files {
            let (a, b) = (f.chunks.0 as usize, f.chunks.1 as usize);
            if a > b || b > chunks.len() {
                return Err(Error::Corrupt {
                    path: dir.join(MANIFEST),
                    reason: format!("bad chunk range for {}", f.key),
                });
            }
            chunks_by_key.insert(
                f.key,
                Reusable {
                    hash: f.hash,
                    documents: f.documents,
                    largest: f.largest_document_bytes,
                    chunks: chunks[a..b].to_vec(),
                    vectors: vectors[a..b].to_vec(),
                    sentences: sentences.take(a..b),
                },
            );
        }
        Ok(Some(Ok(Previous { chunks_by_key })))
    }
}

/// Keys of the inputs the current generation was built from.
fn current_keys(store: &CorpusStore) -> crate::Result<std::collections::HashSet<String>> {
    Ok(match store.current()? {
        Some(id) => read_manifest(&store.generation_dir(id))?
            .files
            .into_iter()
            .map(|f| f.key)
            .collect(),
        None => Default::default(),
    })
}

/// Builds a new generation of `store` from `inputs` and makes it current.
///
/// # Errors
///
/// Fails (leaving the current generation serving) when the model, an index or the
/// disk fails. A bad input does not fail the build: it is listed in the report.
pub fn build(
    store: &CorpusStore,
    mut inputs: Vec<BuildInput>,
    (mode, sentences): (Mode, Sentences),
    embedder: &Embedder,
    chunker: &Chunker,
    progress: &dyn Progress,
) -> crate::Result<BuildReport> {
    let started = Instant::now();
    inputs.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(dup) = inputs.windows(2).find(|w| w[0].key == w[1].key) {
        return Err(Error::InvalidRequest(format!(
            "input `{}` appears twice",
            dup[0].key
        )));
    }
    // Held to the end: partial folders are only removed when no build can own them.
    let _lock = store.lock_builds()?;
    let removed_partial = store
        .remove_partial()?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (mut previous, reuse_refused) = match mode {
        Mode::Incremental => match Previous::load(store, embedder, chunker)? {
            Some(Ok(p)) => (Some(p), None),
            Some(Err(reason)) => (None, Some(reason.to_owned())),
            None => (None, None),
        },
        Mode::Full => (None, None),
    };
    let mut gone = current_keys(store)?;
    for input in &inputs {
        gone.remove(&input.key);
    }

    let total = inputs.len() as u64;
    let parse_started = Instant::now();
    let (mut slots, errors) = parse_all(inputs, previous.as_mut(), chunker, progress);
    let parse_seconds = parse_started.elapsed().as_secs_f64();
    let skipped = slots.iter().filter(|s| s.vectors.is_some()).count();
    let changed = slots.len() - skipped;

    let embed_started = Instant::now();
    let (chunks_embedded, sentences_embedded) =
        embed_new(&mut slots, sentences, embedder, progress)?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();

    progress.report(ProgressEvent::Indexing);
    let index_started = Instant::now();
    let (generation, documents, chunks) = write_slots(store, slots, &errors, embedder, chunker)?;
    let index_seconds = index_started.elapsed().as_secs_f64();

    Ok(BuildReport {
        generation,
        files_seen: total as usize,
        files_changed: changed,
        files_skipped: skipped,
        files_failed: errors.len(),
        files_deleted: gone.len(),
        reuse_refused,
        documents,
        chunks,
        chunks_embedded,
        sentences_embedded,
        errors,
        removed_partial,
        parse_seconds,
        embed_seconds,
        index_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// One input on its way into a generation: parsed and chunked, or taken
/// whole (chunks and vectors) from the previous generation.
struct Slot {
    key: String,
    hash: String,
    modified: Option<u64>,
    documents: usize,
    largest: usize,
    chunks: Vec<Chunk>,
    vectors: Option<(Vec<Vec<f32>>, Vec<ChunkSentences>)>,
}

/// Parses and chunks what changed, and takes the rest from the previous
/// generation; inputs that fail are listed, not fatal.
fn parse_all(
    inputs: Vec<BuildInput>,
    mut previous: Option<&mut Previous>,
    chunker: &Chunker,
    progress: &dyn Progress,
) -> (Vec<Slot>, Vec<FileError>) {
    let total = inputs.len() as u64;
    let mut slots = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    // Which file each document id came from: ids must be unique across files
    // (`a#b.txt` as a whole file and `a` with key `b.txt` would collide).
    let mut owners: HashMap<String, String> = HashMap::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let reusable = previous
            .as_deref_mut()
            .and_then(|p| p.chunks_by_key.remove(&input.key));
        let slot = slot_of(input, reusable, chunker).and_then(|slot| {
            match claim_ids(&mut owners, &slot.key, &slot.chunks) {
                Some(reason) => Err((slot.key, reason)),
                None => Ok(slot),
            }
        });
        match slot {
            Ok(slot) => slots.push(slot),
            Err((key, reason)) => errors.push(FileError {
                path: key.into(),
                reason,
            }),
        }
        progress.report(ProgressEvent::Parsed {
            done: i as u64 + 1,
            total,
        });
    }
    (slots, errors)
}

/// One input's slot: what the previous generation holds of it when the file
/// is unchanged, else its chunks fresh from parsing; on failure its key and why.
fn slot_of(
    input: BuildInput,
    reusable: Option<Reusable>,
    chunker: &Chunker,
) -> Result<Slot, (String, String)> {
    let max = (input.max_documents, input.max_document_bytes);
    match reusable {
        // An unchanged file is reused only within today's limits, which
        // may have been lowered since it was indexed.
        Some(r)
            if r.hash == input.hash
                && r.chunks.len() <= input.max_chunks
                && within_limits(max, r.documents, r.largest).is_ok() =>
        {
            Ok(Slot {
                key: input.key,
                hash: input.hash,
                modified: input.modified,
                documents: r.documents,
                largest: r.largest,
                chunks: r.chunks,
                vectors: Some((r.vectors, r.sentences)),
            })
        }
        _ => (input.parse)()
            .and_then(|docs| {
                let largest = largest_document(&docs);
                within_limits(max, docs.len(), largest).map_err(|reason| Error::BadDocument {
                    path: input.key.clone().into(),
                    reason,
                })?;
                let mut chunks = Vec::new();
                for doc in &docs {
                    chunks.extend(chunker.chunk(doc)?);
                    if chunks.len() > input.max_chunks {
                        return Err(Error::BadDocument {
                            path: doc.source.clone(),
                            reason: format!(
                                "yields more than {} chunks, more than the corpus allows (limits.max_chunks_per_file)",
                                input.max_chunks
                            ),
                        });
                    }
                }
                Ok((docs.len(), largest, chunks))
            })
            .map(|(documents, largest, chunks)| Slot {
                key: input.key.clone(),
                hash: input.hash.clone(),
                modified: input.modified,
                documents,
                largest,
                chunks,
                vectors: None,
            })
            .map_err(|e| (input.key, error_reason(&e))),
    }
}

/// Embeds the chunks of the slots that have no vectors, all at once, and (as
/// `sentences` says) each distinct sentence of them; returns how many chunks
/// and sentences were embedded.
fn embed_new(
    slots: &mut [Slot],
    sentences: Sentences,
    embedder: &Embedder,
    progress: &dyn Progress,
) -> crate::Result<(usize, usize)> {
    let mut pending: Vec<(usize, usize)> = Vec::new();
    for (s, slot) in slots.iter().enumerate() {
        if slot.vectors.is_none() {
            pending.extend((0..slot.chunks.len()).map(|c| (s, c)));
        }
    }
    let texts: Vec<String> = pending
        .iter()
        .map(|&(s, c)| slots[s].chunks[c].embedding_text())
        .collect();
    let new_vectors = embed_all(embedder, &texts, progress, |done, total| {
        ProgressEvent::Embedded { done, total }
    })?;
    // Each distinct sentence of the new chunks once: overlapping windows
    // repeat sentences, and identical lines recur across documents.
    let mut sentence_texts: Vec<String> = Vec::new();
    let mut known: HashMap<String, usize> = HashMap::new();
    let wanted = sentences == Sentences::Embed;
    let per_chunk: Vec<Vec<Option<usize>>> = pending
        .iter()
        .map(|&(s, c)| {
            sentences::embedded_texts(&slots[s].chunks[c])
                .into_iter()
                .map(|t| {
                    t.filter(|_| wanted).map(|t| {
                        let next = sentence_texts.len();
                        *known.entry(t.clone()).or_insert_with(|| {
                            sentence_texts.push(t);
                            next
                        })
                    })
                })
                .collect()
        })
        .collect();
    let sentence_vectors: Vec<Quantized> =
        embed_all(embedder, &sentence_texts, progress, |done, total| {
            ProgressEvent::EmbeddedSentences { done, total }
        })?
        .iter()
        .map(|v| Quantized::new(v))
        .collect();
    let mut fresh = new_vectors.into_iter().zip(per_chunk.into_iter().map(|c| {
        c.into_iter()
            .map(|i| i.map(|i| sentence_vectors[i].clone()))
            .collect::<ChunkSentences>()
    }));
    for slot in slots.iter_mut().filter(|s| s.vectors.is_none()) {
        slot.vectors = Some(fresh.by_ref().take(slot.chunks.len()).unzip());
    }
    Ok((texts.len(), sentence_texts.len()))
}

/// Assembles the chunk table in input order, writes it as the next
/// generation and makes that current; returns its id, documents and chunks.
fn write_slots(
    store: &CorpusStore,
    slots: Vec<Slot>,
    errors: &[FileError],
    embedder: &Embedder,
    chunker: &Chunker,
) -> crate::Result<(GenerationId, usize, usize)> {
    let mut chunks = Vec::new();
    let mut vectors = Vec::new();
    let mut sentences = Vec::new();
    let mut files = Vec::new();
    for slot in slots {
        let first = chunks.len() as u64;
        chunks.extend(slot.chunks);
        let (v, s) = slot.vectors.unwrap_or_default();
        vectors.extend(v);
        sentences.extend(s);
        files.push(FileEntry {
            key: slot.key,
            hash: slot.hash,
            chunks: (first, chunks.len() as u64),
            modified: slot.modified,
            documents: slot.documents,
            largest_document_bytes: slot.largest,
        });
    }
    let id = store.next_generation()?;
    // A file may hold several documents, and a document spans adjacent chunks.
    let documents = chunks
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || chunks[i - 1].doc_id != c.doc_id)
        .count();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        generation: id,
        corpus: store.name().to_owned(),
        // Microseconds: `pending_changes` compares file times with it, and a file
        // written in the second before the build must not look newer.
        indexed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        model_id: embedder.model_id().to_owned(),
        chunking: chunker.settings(),
        files,
        errors: errors.to_vec(),
        documents,
        chunks: chunks.len(),
        vectors: store.vectors.kind(),
    };
    let sentences = SentenceVectors::new(sentences);
    let json = match write_new_generation(store, &manifest, &chunks, &vectors, &sentences) {
        Ok(json) => json,
        Err(e) => {
            // A build that fails here (a full disk, most often) takes its
            // folder with it, rather than leaving it to the next build.
            let dir = store.generation_dir(id);
            if let Err(removal) = std::fs::remove_dir_all(&dir) {
                if removal.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(folder = %dir.display(), error = %removal, "cannot remove a failed build's folder; the next build removes it");
                }
            }
            return Err(e);
        }
    };
    store.swap(id, &json)?;
    Ok((id, documents, chunks.len()))
}

/// Writes the generation `manifest` names, the manifest last, and returns the
/// manifest's JSON.
fn write_new_generation(
    store: &CorpusStore,
    manifest: &Manifest,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<String> {
    let dir = store.generation_dir(manifest.generation);
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    write_generation(store, manifest.generation, chunks, vectors, sentences)?;
    let manifest_path = dir.join(MANIFEST);
    let json = serde_json::to_string_pretty(manifest).map_err(|e| Error::Io {
        path: manifest_path.clone(),
        source: e.into(),
    })?;
    // Everything the manifest vouches for is on disk before the manifest, and the
    // manifest before `current` names the generation.
    write_durable(&manifest_path, json.as_bytes())?;
    sync_dir(&dir)?;
    Ok(json)
}

fn write_generation(
    store: &CorpusStore,
    id: GenerationId,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<()> {
    let dir = store.generation_dir(id);
    write_tables(&dir, chunks, vectors, sentences)?;
    match (&store.vectors, VECTOR_WRITER.get()) {
        (VectorBackend::Edge, Some(program)) => write_vectors_apart(program, &dir)?,
        _ => fill_vectors(store.create_vectors(id)?, chunks, vectors, sentences)?,
    }
    match store.vectors {
        // Swapped in, it is served, and mapped: it must have the room for it.
        VectorBackend::Edge => EdgeStore::check_room(&dir.join(VECTORS)),
        VectorBackend::Qdrant(_) => Ok(()),
    }
}

fn fill_vectors(
    store: Box<dyn VectorStore>,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<()> {
    let points: Vec<VectorPoint> = chunks
        .iter()
        .zip(vectors)
        .zip(sentences.iter())
        .enumerate()
        .map(|(i, ((chunk, vector), sentences))| VectorPoint {
            id: ChunkId(i as u64),
            vector,
            chunk,
            sentences,
        })
        .collect();
    store.upsert(&points)?;
    store.finish()
}

/// The program that writes embedded vector stores, when it is not to be this
/// process (see [`write_vectors_with`]).
static VECTOR_WRITER: OnceLock<PathBuf> = OnceLock::new();

/// Has each embedded vector store written by `program write-vectors <generation
/// folder>` (which calls [`write_vectors`]) rather than in this process.
/// qdrant-edge writes through memory-mapped files, and a write into a mapped
/// file that finds the disk full is a SIGBUS: in a server, the end of every
/// corpus it serves. In a child process it ends the child, and the build fails
/// with that cause while the server serves on. The first call wins; without
/// one, stores are written in process.
pub fn write_vectors_with(program: PathBuf) {
    // A second call names the same program; the first is kept.
    let _ = VECTOR_WRITER.set(program);
}

/// Writes the embedded vector store of the generation in `dir` from its tables
/// (written before it).
///
/// # Errors
///
/// [`Error::Io`] or [`Error::Corrupt`] when a table cannot be read, and the
/// store's errors.
pub fn write_vectors(dir: &Path) -> crate::Result<()> {
    let chunks = read_chunks(&dir.join(CHUNKS))?;
    let vectors = read_embeddings(&dir.join(EMBEDDINGS), chunks.len())?;
    let sentences = SentenceVectors::read(&dir.join(SENTENCES), chunks.len())?;
    let store = Box::new(EdgeStore::create(&dir.join(VECTORS))?);
    fill_vectors(store, &chunks, &vectors, &sentences)
}

/// Runs `program write-vectors dir` and turns how it ended into a result.
fn write_vectors_apart(program: &Path, dir: &Path) -> crate::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let at = dir.join(VECTORS);
    let out = std::process::Command::new(program)
        .arg("write-vectors")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| Error::Io {
            path: at.clone(),
            source: std::io::Error::other(format!(
                "cannot start `{} write-vectors`: {e}",
                program.display()
            )),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let reason = match out.status.signal() {
        Some(libc::SIGBUS) => "the process writing it was stopped by SIGBUS, a write into a \
             memory-mapped file that failed: most likely no space left on the device"
            .to_owned(),
        Some(signal) => format!("the process writing it was killed by signal {signal}"),
        None => {
            // Its own error, as `candor` prints it: the last line that says one.
            let said = String::from_utf8_lossy(&out.stderr);
            let last = said.lines().rev().find(|l| l.starts_with("candor: "));
            format!(
                "the process writing it failed ({}): {}",
                out.status,
                last.map_or("it said nothing", |l| l.trim_start_matches("candor: "))
            )
        }
    };
    Err(Error::Io {
        path: at,
        source: std::io::Error::other(reason),
    })
}

/// Embeds `texts`, longest first so batches pad little, reporting progress
/// with `event`; the vectors come back in `texts`' order.
fn embed_all(
    embedder: &Embedder,
    texts: &[String],
    progress: &dyn Progress,
    event: impl Fn(u64, u64) -> ProgressEvent,
) -> crate::Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(texts[i].len()), i));
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
    let mut done = 0;
    for step in order.chunks(EMBED_STEP_TEXTS) {
        let batch: Vec<&str> = step.iter().map(|&i| texts[i].as_str()).collect();
        let vectors = embedder.embed(&batch)?;
        if vectors.len() != batch.len() || vectors.iter().any(|v| v.len() != crate::embed::DIM) {
            return Err(Error::Embed(format!(
                "the model returned {} vectors for {} texts, or a vector of the wrong size",
                vectors.len(),
                batch.len()
            )));
        }
        for (&i, v) in step.iter().zip(vectors) {
            out[i] = v;
        }
        done += step.len();
        progress.report(event(done as u64, texts.len() as u64));
    }
    Ok(out)
}

/// A bad input's reason without repeating its path.
fn error_reason(e: &Error) -> String {
    match e {
        Error::BadDocument { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

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
        hash,
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
            // Dates come from the document; the file's time is the documented fallback.
            let file_date = modified.map(|t| chrono::DateTime::<chrono::Utc>::from(t).date_naive());
            for doc in docs.iter_mut().filter(|d| d.date.is_none()) {
                doc.date = file_date;
                doc.file_dated = file_date.is_some();
            }
            Ok(docs)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Chunking;
    use crate::index::{Generation, VectorFilter};

    use crate::test_utils::embedder;

    fn dense_top(gen: &Generation, e: &Embedder, query: &str) -> crate::Result<String> {
        let hits = gen
            .vectors
            .search(&e.embed_one(query)?, 1, &VectorFilter::default())?;
        Ok(gen.chunk(hits[0].0)?.doc_id.0.clone())
    }

    fn lexical_docs(gen: &Generation, query: &str) -> crate::Result<Vec<String>> {
        gen.lexical
            .search(query, 5, 1.0)?
            .iter()
            .map(|h| Ok(gen.chunk(h.0)?.doc_id.0.clone()))
            .collect()
    }

    fn input(key: &str, text: &str) -> BuildInput {
        let (k, t) = (key.to_owned(), text.to_owned());
        BuildInput::new(
            key.to_owned(),
            text.as_bytes(),
            Box::new(move || Ok(vec![Document::plain(k.clone(), k, t)])),
        )
    }

    fn failing(key: &str) -> BuildInput {
        let k = key.to_owned();
        BuildInput::new(
            key.to_owned(),
            b"x",
            Box::new(move || {
                Err(Error::BadDocument {
                    path: k.into(),
                    reason: "corrupt on purpose".into(),
                })
            }),
        )
    }

    const DOCS: [(&str, &str); 3] = [
        (
            "bees",
            "Honey bees pollinate orchards and produce wax in their hives.",
        ),
        (
            "tides",
            "The moon's gravity raises ocean tides twice a day along the coast.",
        ),
        (
            "rust",
            "Iron oxidises into rust when exposed to water and oxygen.",
        ),
    ];

    /// The embedded store, and the test Qdrant server when there is one; `test`
    /// names the corpus on the server, which outlives the test's folders.
    fn backends(test: &str) -> Vec<(String, VectorBackend)> {
        let mut all = vec![("t".to_owned(), VectorBackend::Edge)];
        if let Some(server) = crate::index::qdrant::test_server(test) {
            all.push((
                format!("{}{}", test.replace(' ', "_"), std::process::id()),
                VectorBackend::Qdrant(server),
            ));
        }
        all
    }

    /// Deletes what a test left on the Qdrant server.
    fn clean_server(name: &str, backend: &VectorBackend) -> crate::Result<()> {
        if let VectorBackend::Qdrant(server) = backend {
            server.delete_others(name, &[])?;
        }
        Ok(())
    }

    #[test]
    fn a_typo_reads_as_the_corpus_word_but_known_words_and_names_stay() -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        build(
            &store,
            vec![input(
                "a",
                "To restore a file, open the repository. Encryption keeps it skipped by nobody.",
            )],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        let gen = store.open_current()?;
        assert_eq!(
            gen.respell("How do I restor a file from the repositry?", &e),
            "How do I restore a file from the repository?"
        );
        // "shipped" is a word the model knows, though the corpus only has
        // "skipped"; "OpenID" is a name; short words are never taken for typos.
        for kept in [
            "Which release shipped it?",
            "Does it speak OpenId?",
            "a fle",
        ] {
            assert!(
                matches!(gen.respell(kept, &e), std::borrow::Cow::Borrowed(_)),
                "{kept}"
            );
        }
        // A typo keeps the whitespace and punctuation around it.
        assert_eq!(gen.respell("encrytion?!", &e), "encryption?!");
        Ok(())
    }

    #[test]
    fn each_distinct_sentence_is_embedded_once_and_reused_by_incremental_builds(
    ) -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        let r = build(
            &store,
            vec![
                input("a", "Honey bees make wax. Tides rise twice a day."),
                input("b", "Honey bees make wax. Iron rusts in wet air."),
            ],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        // The sentence both files share is embedded once.
        assert_eq!(r.sentences_embedded, 3);
        // Where sentence `text` of `doc`'s chunk is, and how close it is to `query`.
        let closeness = |gen: &Generation, doc: &str, text: &str, query: &str| {
            let id = gen.chunks.iter().position(|c| c.doc_id.0 == doc).unwrap();
            let index = crate::ingest::sentence::sentence_texts(&gen.chunks[id].text)
                .iter()
                .position(|s| s == text)
                .unwrap();
            let q = e.embed_one(query)?;
            crate::Result::Ok(gen.sentences.similarity(ChunkId(id as u64), index, &q))
        };
        let gen = store.open_current()?;
        let wax = closeness(
            &gen,
            "a",
            "Honey bees make wax.",
            "insects that produce wax",
        )?;
        let tides = closeness(
            &gen,
            "a",
            "Tides rise twice a day.",
            "insects that produce wax",
        )?;
        assert!(
            wax.zip(tides).is_some_and(|(w, t)| w > t + 0.2),
            "{wax:?} {tides:?}"
        );
        let own = closeness(
            &gen,
            "a",
            "Tides rise twice a day.",
            "Tides rise twice a day.",
        )?;
        assert!(own.is_some_and(|s| s > 0.98), "{own:?}");
        drop(gen);

        let r = build(
            &store,
            vec![
                input("a", "Honey bees make wax. Tides rise twice a day."),
                input("b", "Honey bees make wax. Salt water corrodes steel."),
            ],
            (Mode::Incremental, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        // Only the changed file's sentences; the unchanged file keeps its vectors.
        assert_eq!((r.files_skipped, r.sentences_embedded), (1, 2));
        let gen = store.open_current()?;
        let own = closeness(
            &gen,
            "a",
            "Tides rise twice a day.",
            "Tides rise twice a day.",
        )?;
        assert!(own.is_some_and(|s| s > 0.98), "{own:?}");
        let steel = closeness(&gen, "b", "Salt water corrodes steel.", "steel corrosion")?;
        assert!(steel.is_some_and(|s| s > 0.5), "{steel:?}");
        drop(gen);

        // A build for ranking alone embeds no sentence, and stores none.
        let r = build(
            &store,
            vec![input("c", "Glaciers carve valleys. Owls hunt at night.")],
            (Mode::Full, Sentences::Skip),
            &e,
            &chunker,
            &(),
        )?;
        assert_eq!((r.chunks, r.sentences_embedded), (1, 0));
        let gen = store.open_current()?;
        let q = e.embed_one("Owls hunt at night.")?;
        assert_eq!(gen.sentences.similarity(ChunkId(0), 1, &q), None);
        Ok(())
    }

    #[test]
    fn full_then_incremental_builds_reuse_unchanged_inputs() -> crate::Result<()> {
        for (name, backend) in backends("the build test") {
            builds_reuse_unchanged_inputs(&name, &backend)?;
            clean_server(&name, &backend)?;
        }
        Ok(())
    }

    fn builds_reuse_unchanged_inputs(name: &str, backend: &VectorBackend) -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), name, backend);
        let mut inputs: Vec<BuildInput> = DOCS.iter().map(|(k, t)| input(k, t)).collect();
        inputs.push(failing("broken"));
        let r = build(
            &store,
            inputs,
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        assert_eq!(
            (
                r.generation,
                r.files_changed,
                r.files_failed,
                r.chunks_embedded
            ),
            (GenerationId(1), 3, 1, 3)
        );
        assert_eq!(r.errors[0].reason, "corrupt on purpose");

        let gen = store.open_current()?;
        assert_eq!(gen.vectors.count()?, 3);
        // A paraphrase with no shared content word: only the dense signal can find it.
        assert_eq!(dense_top(&gen, &e, "insects that make honey")?, "bees");
        assert_eq!(lexical_docs(&gen, "lunar gravity")?, vec!["tides"]);
        drop(gen);

        // Change one input, drop another: only the changed one is embedded.
        let inputs = vec![
            input("bees", DOCS[0].1),
            input("tides", "Spring tides follow the full moon."),
        ];
        let r = build(
            &store,
            inputs,
            (Mode::Incremental, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        assert_eq!(
            (
                r.files_changed,
                r.files_skipped,
                r.files_deleted,
                r.chunks_embedded
            ),
            (1, 1, 1, 1)
        );
        let gen = store.open_current()?;
        assert_eq!(gen.manifest.generation, GenerationId(2));
        assert_eq!(gen.chunks.len(), 2);
        assert_eq!(lexical_docs(&gen, "spring tides full moon")?, vec!["tides"]);
        assert_eq!(dense_top(&gen, &e, "honey bees")?, "bees");
        Ok(())
    }

    #[test]
    fn a_replica_follows_the_generation_another_published() -> crate::Result<()> {
        for (name, backend) in backends("the replica test") {
            if let VectorBackend::Qdrant(server) = &backend {
                replica_follows(&name, &backend, server)?;
                clean_server(&name, &backend)?;
            }
        }
        Ok(())
    }

    fn replica_follows(
        name: &str,
        backend: &VectorBackend,
        server: &crate::index::QdrantServer,
    ) -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let builder = CorpusStore::new(a.path(), name, backend);
        let replica = CorpusStore::new(b.path(), name, backend);
        assert_eq!(replica.follow()?, None, "nothing published yet");
        // The replica once had an embedded generation 1 of other content.
        let embedded = CorpusStore::new(b.path(), name, &VectorBackend::Edge);
        build(
            &embedded,
            vec![input("other", "Unrelated text.")],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        let inputs = DOCS.iter().map(|(k, t)| input(k, t)).collect();
        build(
            &builder,
            inputs,
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        match CorpusStore::new(a.path(), name, &VectorBackend::Edge).open_current() {
            Err(Error::Vector(m)) => assert!(m.contains("deployment"), "{m}"),
            other => panic!("opened a Qdrant generation as embedded: {:?}", other.err()),
        }
        assert_eq!(replica.follow()?, Some(GenerationId(1)));
        assert_eq!(replica.follow()?, None, "already serving it");
        let gen = replica.open_current()?;
        let built = builder.open_current()?;
        assert_eq!(gen.chunks, built.chunks);
        assert_eq!(gen.manifest.files.len(), 3);
        assert_eq!(lexical_docs(&gen, "lunar gravity")?, vec!["tides"]);
        assert_eq!(dense_top(&gen, &e, "insects that make honey")?, "bees");
        drop((gen, built));

        // Two more generations: the replica skips straight to the newest, and
        // the server keeps the two newest collections.
        for text in ["Spring tides follow the full moon.", "Neap tides are weak."] {
            let inputs = vec![input("bees", DOCS[0].1), input("tides", text)];
            build(
                &builder,
                inputs,
                (Mode::Incremental, Sentences::Embed),
                &e,
                &chunker,
                &(),
            )?;
        }
        assert_eq!(replica.follow()?, Some(GenerationId(3)));
        let gen = replica.open_current()?;
        assert_eq!(lexical_docs(&gen, "neap tides")?, vec!["tides"]);
        assert_eq!(
            server.generations(name)?,
            vec![GenerationId(2), GenerationId(3)]
        );
        // A replica with a copy builds the next generation after the server's.
        let inputs = DOCS.iter().map(|(k, t)| input(k, t)).collect();
        let r = build(
            &replica,
            inputs,
            (Mode::Incremental, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        assert_eq!(r.generation, GenerationId(4));
        assert_eq!(builder.follow()?, Some(GenerationId(4)));
        Ok(())
    }

    #[test]
    fn changed_chunking_re_embeds_everything_and_says_why() -> crate::Result<()> {
        let e = embedder();
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        let first = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        build(
            &store,
            DOCS.iter().map(|(k, t)| input(k, t)).collect(),
            (Mode::Full, Sentences::Embed),
            &e,
            &first,
            &(),
        )?;
        let other = Chunker::from_file(
            e.tokenizer_path(),
            Chunking {
                max_tokens: 128,
                overlap_tokens: 16,
            },
        )?;
        let r = build(
            &store,
            DOCS.iter().map(|(k, t)| input(k, t)).collect(),
            (Mode::Incremental, Sentences::Embed),
            &e,
            &other,
            &(),
        )?;
        assert_eq!(
            r.reuse_refused.as_deref(),
            Some("the chunking settings changed")
        );
        assert_eq!(
            (r.files_changed, r.chunks_embedded, r.files_deleted),
            (3, 3, 0)
        );
        // A full run still counts inputs that disappeared.
        let r = build(
            &store,
            vec![input("bees", DOCS[0].1)],
            (Mode::Full, Sentences::Embed),
            &e,
            &other,
            &(),
        )?;
        assert_eq!((r.files_deleted, r.reuse_refused), (2, None));
        Ok(())
    }

    #[test]
    fn a_second_concurrent_build_of_one_corpus_is_refused() -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        let held = store.lock_builds()?;
        let r = build(
            &store,
            vec![input("a", "x")],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        );
        assert!(
            matches!(r, Err(Error::IndexBusy(ref name)) if name == "t"),
            "{r:?}"
        );
        drop(held);
        assert_eq!(
            build(
                &store,
                vec![input("a", "x")],
                (Mode::Full, Sentences::Embed),
                &e,
                &chunker,
                &()
            )?
            .generation,
            GenerationId(1)
        );
        Ok(())
    }

    #[test]
    fn a_swap_keeps_as_many_complete_generations_as_asked() -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        for (keep, expected) in [
            (1, vec![GenerationId(3)]),
            (3, vec![GenerationId(3), GenerationId(4), GenerationId(5)]),
        ] {
            let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge).keeping(keep);
            let runs = if keep == 1 { 3 } else { 2 };
            for _ in 0..runs {
                build(
                    &store,
                    vec![input("a", "x")],
                    (Mode::Full, Sentences::Embed),
                    &e,
                    &chunker,
                    &(),
                )?;
            }
            assert_eq!(store.generation_ids()?, expected, "keeping {keep}");
        }
        Ok(())
    }

    #[test]
    fn duplicate_keys_are_refused_before_any_work() -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        let r = build(
            &store,
            vec![input("a", "x"), input("a", "y")],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        );
        assert!(matches!(r, Err(Error::InvalidRequest(m)) if m.contains("`a` appears twice")));
        assert_eq!(store.current()?, None);
        Ok(())
    }

    #[test]
    fn a_reused_file_is_held_to_limits_lowered_since() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let limits = |max_chunks: usize| {
            std::fs::write(
                dir.path().join(crate::config::CORPUS_FILE),
                format!("name = \"t\"\nscope = \"Widgets.\"\n[[sources]]\npath = \"docs\"\n[limits]\nmax_chunks_per_file = {max_chunks}\n"),
            )
            .unwrap();
            crate::config::Corpus::load(dir.path())
        };
        std::fs::write(docs.join("long.txt"), "Widgets are small. ".repeat(300)).unwrap();
        std::fs::write(docs.join("ok.txt"), "Widgets are small.").unwrap();
        let data = tempfile::tempdir().unwrap();
        let e = embedder();
        let index = |corpus: &crate::config::Corpus, mode| {
            index_corpus(corpus, data.path(), &VectorBackend::Edge, mode, &e, &())
        };
        let first = index(&limits(100)?, Mode::Full)?;
        assert!(first.errors.is_empty() && first.chunks > 3, "{first:?}");
        // Neither file changed, but `long.txt` now has more chunks than allowed.
        let again = index(&limits(3)?, Mode::Incremental)?;
        assert_eq!(
            (again.files_skipped, again.files_failed),
            (1, 1),
            "{again:?}"
        );
        assert!(
            again.errors[0].path.display().to_string() == "docs/long.txt"
                && again.errors[0]
                    .reason
                    .contains("limits.max_chunks_per_file"),
            "{again:?}"
        );
        assert_eq!((again.documents, again.chunks), (1, 1));
        Ok(())
    }

    #[test]
    fn document_limits_name_the_count_or_size_over_them() {
        assert!(within_limits((2, 1 << 20), 2, 1 << 20).is_ok());
        let many = within_limits((2, 1 << 20), 3, 10).unwrap_err();
        assert!(
            many.contains("3 documents") && many.contains("(2, limits.max_documents_per_file)"),
            "{many}"
        );
        let big = within_limits((2, 1 << 20), 1, (1 << 20) + (1 << 19)).unwrap_err();
        assert!(
            big.contains("1.5 MiB") && big.contains("(1 MiB, limits.max_document_mib)"),
            "{big}"
        );
    }

    #[test]
    fn a_file_over_the_corpus_limits_fails_alone() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(
            dir.path().join(crate::config::CORPUS_FILE),
            "name = \"t\"\nscope = \"Widgets.\"\n[[sources]]\npath = \"docs\"\n[limits]\nmax_file_mib = 1\nmax_chunks_per_file = 3\n",
        )
        .unwrap();
        std::fs::write(docs.join("big.txt"), "Widgets are small. ".repeat(60_000)).unwrap();
        std::fs::write(docs.join("long.txt"), "Widgets are small. ".repeat(500)).unwrap();
        std::fs::write(docs.join("ok.txt"), "Widgets are small.").unwrap();
        let corpus = crate::config::Corpus::load(dir.path())?;
        let data = tempfile::tempdir().unwrap();
        let e = embedder();
        let report = index_corpus(
            &corpus,
            data.path(),
            &VectorBackend::Edge,
            Mode::Full,
            &e,
            &(),
        )?;
        let reasons: Vec<(String, &str)> = report
            .errors
            .iter()
            .map(|f| (f.path.display().to_string(), f.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons[0].0 == "docs/big.txt"
                && reasons[0].1.contains("1.1 MiB")
                && reasons[0].1.contains("limits.max_file_mib"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].0 == "docs/long.txt" && reasons[1].1.contains("limits.max_chunks_per_file"),
            "{reasons:?}"
        );
        assert_eq!((report.documents, report.chunks), (1, 1));
        Ok(())
    }

    #[test]
    fn a_document_id_two_files_claim_stays_with_the_first() -> crate::Result<()> {
        let e = embedder();
        let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        // A file `a` whose parser keys a document `b.txt` makes the id `a#b.txt`,
        // the id of the whole file `a#b.txt`.
        let keyed = BuildInput::new(
            "a".into(),
            b"x",
            Box::new(|| {
                Ok(vec![Document::plain(
                    "a#b.txt".into(),
                    "B".into(),
                    "Gears turn.".into(),
                )])
            }),
        );
        let report = build(
            &store,
            vec![input("a#b.txt", "Bees hum."), keyed],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert_eq!(report.errors[0].path, std::path::Path::new("a#b.txt"));
        assert!(report.errors[0]
            .reason
            .contains("already the id of a document of `a`"));
        assert_eq!(report.documents, 1);
        Ok(())
    }
}
