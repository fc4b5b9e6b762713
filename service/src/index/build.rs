//! Builds a new generation from inputs: parse what changed, chunk, embed, write
//! both indexes, then swap.
//!
//! Incremental runs reuse the chunks and vectors of inputs whose content hash is
//! unchanged since the current generation, so only new or edited files are parsed
//! and embedded, and deleted files simply do not carry over. The build never
//! modifies the generation that is serving.

mod corpus;
mod embed;
mod previous;
#[cfg(test)]
mod tests;
mod write;

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

pub use corpus::{index_corpus, pending_changes};
use embed::embed_new;
use previous::{current_keys, Previous, Reusable};
use write::write_new_generation;
pub use write::{write_vectors, write_vectors_with};

/// Full rebuild, or reuse of unchanged inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

    /// True when the build should stop ([`Error::JobCanceled`]): asked before
    /// each file and each batch of embeddings, never once writing has begun,
    /// so a canceled build leaves nothing behind.
    fn cancelled(&self) -> bool {
        false
    }
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
    if progress.cancelled() {
        return Err(Error::JobCanceled);
    }

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
        // The build stops after this loop (`cancelled` is asked again there).
        if progress.cancelled() {
            break;
        }
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
        // Reparsed, a file may give the chunks it gave before (a parser or
        // its config changed in ways this file does not show): their vectors
        // still hold.
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
                vectors: reusable
                    .filter(|r| r.chunks == chunks)
                    .map(|r| (r.vectors, r.sentences)),
                chunks,
            })
            .map_err(|e| (input.key, error_reason(&e))),
    }
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

/// A bad input's reason without repeating its path.
fn error_reason(e: &Error) -> String {
    match e {
        Error::BadDocument { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}
