//! The indexes of a corpus and their generations on disk.
//!
//! Every index run writes a complete new generation (`generations/<id>/` holding
//! the lexical index, the vector store, the chunk table, the embeddings and a
//! manifest) and only then switches the corpus's `current` pointer, with an atomic
//! rename. Readers open whatever `current` names, so a run that fails or is killed
//! leaves the previous generation serving. This module knows nothing about fusion,
//! answers or HTTP.
//!
//! With a Qdrant server as the vector store, a generation's vectors are a
//! collection there instead of a folder, and the server's alias is switched
//! before `current`; a replica that sees the alias name a generation it lacks
//! copies it from the server (see [`CorpusStore::follow`]).

mod build;
pub mod jobs;
pub mod lexical;
pub mod qdrant;
pub mod sentences;
mod store;
pub mod vector;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use build::{
    build, index_corpus, pending_changes, sha256_hex, write_vectors, write_vectors_with,
    BuildInput, BuildReport, Mode, Progress, ProgressEvent, Sentences,
};
pub use lexical::LexicalIndex;
pub use qdrant::QdrantServer;
pub use sentences::SentenceVectors;
pub use vector::{
    set_exact_search_max_points, EdgeStore, VectorFilter, VectorPoint, VectorStore,
    EXACT_SEARCH_MAX_POINTS,
};

use crate::config::{Chunking, VectorStoreKind};
use crate::embed::{Embedder, DIM};
use crate::ingest::sentence::{sentences, slice, template_key};
use crate::ingest::{Chunk, FileError};
use crate::Error;

/// A chunk's id within one generation: its position in the chunk table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkId(pub u64);

/// A generation's number; generations of a corpus are numbered 1, 2, 3, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GenerationId(pub u64);

impl std::fmt::Display for GenerationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// Version of the on-disk generation layout; a generation of another version is
/// never reused for an incremental run, nor served. Version 3: sentences no
/// longer end after "e.g." or inside an open parenthesis, so the sentence
/// vectors of a version 2 generation would not line up with its sentences.
pub const FORMAT_VERSION: u32 = 3;

const MANIFEST: &str = "manifest.json";
const CHUNKS: &str = "chunks.jsonl";
const EMBEDDINGS: &str = "embeddings.f32";
const SENTENCES: &str = "sentences.i8";
const LEXICAL: &str = "lexical";
const VECTORS: &str = "vectors";
const CURRENT: &str = "current";
const BUILD_LOCK: &str = "build.lock";

/// Prefixes that make a word of a known one ("reattach", "subdirectory"), for
/// [`Generation::unknown_words`].
const PREFIXES: [&str; 10] = [
    "re", "un", "pre", "non", "sub", "over", "under", "multi", "super", "inter",
];

/// The words of a generation's chunks (lowercased), for reading typos.
#[derive(Debug, Default)]
struct Words {
    /// Each word and how often it occurs, in order, so that the words a
    /// prefix begins are found by a range.
    counts: std::collections::BTreeMap<String, u64>,
    /// The words by first letter and length: one edit changes the length by at
    /// most one, and a typo seldom touches the first letter.
    by_shape: HashMap<(char, usize), Vec<(String, u64)>>,
}

impl Words {
    fn of(chunks: &[Chunk]) -> Words {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for c in chunks {
            for w in c.text.split(|ch: char| !ch.is_alphabetic()) {
                if !w.is_empty() {
                    *counts.entry(w.to_lowercase()).or_default() += 1;
                }
            }
        }
        let mut by_shape: HashMap<(char, usize), Vec<(String, u64)>> = HashMap::new();
        for (w, n) in &counts {
            if let Some(first) = w.chars().next() {
                by_shape
                    .entry((first, w.chars().count()))
                    .or_default()
                    .push((w.clone(), *n));
            }
        }
        Words { counts, by_shape }
    }

    /// The word one edit away that `word` most likely misspells, if `word` has
    /// at least `shortest` characters.
    fn misspelt(&self, word: &str, shortest: usize) -> Option<&str> {
        let first = word.chars().next()?;
        let len = word.chars().count();
        let near = (len.saturating_sub(1)..=len + 1)
            .filter_map(|l| self.by_shape.get(&(first, l)))
            .flatten()
            .map(|(w, n)| (w.as_str(), *n));
        lexical::nearest(word, near, 1, shortest)
    }
}

/// What a generation holds; written last, so its presence marks a complete generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version, [`FORMAT_VERSION`] when written by this build.
    pub format: u32,
    /// This generation's id.
    pub generation: GenerationId,
    /// The corpus name.
    pub corpus: String,
    /// When the build finished, RFC 3339.
    pub indexed_at: String,
    /// sha256 of the embedding model the vectors came from.
    pub model_id: String,
    /// Chunking settings the chunks were cut with.
    pub chunking: Chunking,
    /// Every input that produced chunks, in chunk order.
    pub files: Vec<FileEntry>,
    /// Inputs that were skipped, with the reason.
    pub errors: Vec<FileError>,
    /// Number of documents indexed.
    pub documents: usize,
    /// Number of chunks indexed.
    pub chunks: usize,
    /// Where its vectors are; generations written before this field existed
    /// are embedded ones.
    #[serde(default)]
    pub vectors: VectorStoreKind,
}

/// One input's record in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// The input's key: path relative to the corpus, or record id.
    pub key: String,
    /// sha256 of its content; of a file's, with the fingerprint of the parser
    /// that read it ([`Parser::fingerprint`](crate::ingest::Parser::fingerprint)).
    pub hash: String,
    /// Its chunks: ids `[first, end)`.
    pub chunks: (u64, u64),
    /// The file's modification time when it was read, in nanoseconds since the
    /// epoch; absent for imported records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<u64>,
    /// Documents it parsed into: an incremental run reuses it only while
    /// that is within `limits.max_documents_per_file`.
    #[serde(default)]
    pub documents: usize,
    /// Text bytes of its largest document, held likewise to
    /// `limits.max_document_mib`.
    #[serde(default)]
    pub largest_document_bytes: usize,
}

/// Where a deployment keeps its vectors.
#[derive(Clone)]
pub enum VectorBackend {
    /// In process: a `qdrant-edge` shard in each generation's folder.
    Edge,
    /// On a Qdrant server: a collection per generation, an alias per corpus.
    Qdrant(Arc<QdrantServer>),
}

impl std::fmt::Debug for VectorBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VectorBackend::Edge => f.write_str("Edge"),
            VectorBackend::Qdrant(server) => write!(f, "Qdrant({})", server.url()),
        }
    }
}

impl VectorBackend {
    /// Which kind of store this is.
    pub fn kind(&self) -> VectorStoreKind {
        match self {
            VectorBackend::Edge => VectorStoreKind::Edge,
            VectorBackend::Qdrant(_) => VectorStoreKind::Qdrant,
        }
    }

    /// Connects to the store a deployment names: nothing to do for the
    /// embedded one.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`] naming the server when it does not answer.
    pub fn connect(qdrant: Option<&crate::config::QdrantAddress>) -> crate::Result<VectorBackend> {
        match qdrant {
            None => Ok(VectorBackend::Edge),
            Some(q) => Ok(VectorBackend::Qdrant(QdrantServer::connect(q)?)),
        }
    }
}

/// The on-disk home of one corpus's generations: `<data-dir>/<corpus>/`.
#[derive(Clone)]
pub struct CorpusStore {
    dir: PathBuf,
    name: String,
    keep: usize,
    vectors: VectorBackend,
}

/// The newest of ascending `dates` on or before `day`.
fn newest_on(dates: &[NaiveDate], day: NaiveDate) -> Option<NaiveDate> {
    let n = dates.partition_point(|d| *d <= day);
    n.checked_sub(1).map(|i| dates[i])
}

/// Versions in numeric order, part by part (`0.9.3` < `0.10.0`, a leading `v`
/// aside); a missing part counts as 0 (`3.0` = `3.0.0`), a part that is no
/// number as the lowest, and a pre-release (`2.0.0-rc.1`) comes before its
/// release.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> (Vec<u64>, bool) {
        let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
        let v = v.split_once('+').map_or(v, |(v, _build)| v);
        let (release, pre) = v.split_once('-').map_or((v, None), |(r, p)| (r, Some(p)));
        let numbers = release.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        (numbers, pre.is_none())
    };
    let ((a, a_release), (b, b_release)) = (parts(a), parts(b));
    (0..a.len().max(b.len()))
        .map(|i| a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a_release.cmp(&b_release))
}

/// A loaded, searchable generation.
pub struct Generation {
    /// Its manifest.
    pub manifest: Manifest,
    /// The chunk table; `chunks[i]` has id `ChunkId(i)`.
    pub chunks: Vec<Chunk>,
    /// BM25 over the chunks.
    pub lexical: LexicalIndex,
    /// Dense vectors of the chunks.
    pub vectors: Box<dyn VectorStore>,
    /// Dense vectors of the chunks' sentences.
    pub sentences: SentenceVectors,
    /// Each series' document dates, ascending and distinct, so supersession needs
    /// no scan of the chunk table per query.
    series_dates: HashMap<String, Vec<NaiveDate>>,
    /// The same per series and entry key ([`Chunk::entry_key`]): the dates of one
    /// document's versions.
    version_dates: HashMap<(String, String), Vec<NaiveDate>>,
    /// For each release series with undated releases (`# 0.8.9`), its highest
    /// version: dates cannot tell its newest release.
    version_newest: HashMap<String, String>,
    /// The [`template_key`]s of prose sentences found in at least
    /// [`TEMPLATE_DOCS`] documents.
    templates: HashSet<String>,
    /// The words of the chunks' text, counted at the first
    /// [`Generation::respell`] or [`Generation::unknown_words`].
    words: std::sync::OnceLock<Words>,
}

/// Documents a sentence must recur in, save for its numbers, to be a template.
/// Two is not enough: two versions of one guide share most sentences.
pub const TEMPLATE_DOCS: usize = 3;

/// The template keys of `chunks`' prose sentences (not code) that recur in at
/// least [`TEMPLATE_DOCS`] documents.
fn templates(chunks: &[Chunk]) -> HashSet<String> {
    let mut docs: HashMap<String, HashSet<&str>> = HashMap::new();
    for c in chunks {
        let chars: Vec<char> = c.text.chars().collect();
        for span in sentences(&c.text).iter().filter(|s| !s.code) {
            let key = template_key(&slice(&chars, span.start, span.end));
            if !key.is_empty() {
                docs.entry(key).or_default().insert(&c.doc_id.0);
            }
        }
    }
    docs.into_iter()
        .filter(|(_, d)| d.len() >= TEMPLATE_DOCS)
        .map(|(k, _)| k)
        .collect()
}

impl Generation {
    /// The newest date of `series` on or before `day`, if any.
    pub fn newest_in_series(&self, series: &str, day: NaiveDate) -> Option<NaiveDate> {
        newest_on(self.series_dates.get(series)?, day)
    }

    /// Whether `chunk` is of the newest release of a series with undated
    /// releases, the one with the highest version; `None` when every release
    /// of its series is dated (the newest is then the latest date), or it is
    /// no release.
    pub fn newest_by_version(&self, chunk: &Chunk) -> Option<bool> {
        let newest = self.version_newest.get(chunk.series.as_deref()?)?;
        Some(chunk.metadata.get("version") == Some(newest))
    }

    /// The newest date on or before `day` of the document versions that `chunk`'s
    /// document is one of (same series, same entry key), if it has a series.
    pub fn newest_version(&self, chunk: &Chunk, day: NaiveDate) -> Option<NaiveDate> {
        let key = (chunk.series.clone()?, chunk.entry_key().to_owned());
        newest_on(self.version_dates.get(&key)?, day)
    }

    /// True when `sentence` recurs, save for its numbers, in many documents:
    /// a template that says nothing of any one of them.
    pub fn is_template(&self, sentence: &str) -> bool {
        self.templates.contains(&template_key(sentence))
    }

    /// `question` with each word that neither the corpus nor the embedding model
    /// knows read as the corpus word one edit away that it most likely
    /// misspells ([`lexical::nearest`]): "how do i restor a file" becomes "how do
    /// i restore a file". The model cuts a word it does not know into pieces
    /// that lose its meaning, so a typo costs dense search far more than BM25,
    /// whose stemming and spelling neighbours absorb it. Words the model knows
    /// ("shipped", not "skipped") and names written with capitals inside them
    /// ("OpenID") are kept as written.
    pub fn respell<'q>(&self, question: &'q str, embedder: &Embedder) -> std::borrow::Cow<'q, str> {
        let words = self.words.get_or_init(|| Words::of(&self.chunks));
        let mut out = String::with_capacity(question.len());
        let mut changed = false;
        let mut rest = question;
        while let Some(start) = rest.find(char::is_alphabetic) {
            out.push_str(&rest[..start]);
            let word = &rest[start..];
            let end = word
                .find(|ch: char| !ch.is_alphabetic())
                .unwrap_or(word.len());
            let (word, after) = word.split_at(end);
            let lower = word.to_lowercase();
            let named = word.chars().skip(1).any(char::is_uppercase);
            let known = named || words.counts.contains_key(&lower) || embedder.knows(&lower);
            match (!known)
                .then(|| words.misspelt(&lower, lexical::MIN_MISSPELT_CHARS))
                .flatten()
            {
                Some(corpus_word) => {
                    out.push_str(corpus_word);
                    changed = true;
                }
                None => out.push_str(word),
            }
            rest = after;
        }
        out.push_str(rest);
        if changed {
            std::borrow::Cow::Owned(out)
        } else {
            std::borrow::Cow::Borrowed(question)
        }
    }

    /// The words of `question` that name something neither the corpus nor the
    /// embedding model's vocabulary knows ("Veeam", "rsync", "Terraform"): no
    /// chunk uses the word or its stem, the model has no such whole word, and
    /// it misspells no corpus word. A corpus cannot speak of what it never
    /// names, so such a word marks a question about something else. Words with
    /// digits ("IPv6", "ext4"), acronyms and words under four letters are left
    /// out, and so are everyday words the model splits into pieces: inflections
    /// of a known stem ("reloading"), comparatives ("emptier"), a known word
    /// after one of [`PREFIXES`] ("reattach", "subdirectory"), contractions
    /// written without the apostrophe ("doesnt"), and the start of a corpus
    /// word ("postgres" for "postgresql"). Two words run together
    /// ("filenames") are not read apart: tools are often named so
    /// ("logrotate", "basebackup").
    ///
    /// # Errors
    ///
    /// [`Error::Lexical`] when the lexical index cannot be read.
    pub fn unknown_words<'q>(
        &self,
        question: &'q str,
        embedder: &Embedder,
    ) -> crate::Result<Vec<&'q str>> {
        let words = self.words.get_or_init(|| Words::of(&self.chunks));
        let knows = |w: &str| words.counts.contains_key(w) || embedder.knows(w);
        let mut unknown = Vec::new();
        for word in question.split(|ch: char| !ch.is_alphanumeric()) {
            // An acronym is often spelt out in the documents ("recovery point
            // objective"), and a word of three letters is often one written in
            // lower case ("vpn", "cli"), so their absence says little.
            if word.chars().count() < 4
                || word.chars().any(|ch| ch.is_numeric())
                || word.chars().all(char::is_uppercase)
            {
                continue;
            }
            let lower = word.to_lowercase();
            if knows(&lower) {
                continue;
            }
            let named = word.chars().skip(1).any(char::is_uppercase);
            // Shorter words than respelling takes: "ofen" is no name either.
            if !named && words.misspelt(&lower, 4).is_some() {
                continue;
            }
            let mut stemmed = true;
            for term in lexical::terms(word) {
                stemmed &= self.lexical.uses(&term)? || embedder.knows(&term);
            }
            let prefixed = || {
                PREFIXES.iter().any(|p| {
                    lower
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.len() >= 4 && knows(rest))
                })
            };
            let compared = || {
                ["ier", "iest"].iter().any(|end| {
                    lower
                        .strip_suffix(end)
                        .is_some_and(|base| knows(&format!("{base}y")))
                })
            };
            let contracted = || {
                lower
                    .strip_suffix('t')
                    .is_some_and(|w| w.ends_with('n') && embedder.knows(w))
            };
            // "postgres" shortens a corpus word ("postgresql").
            let shortened = || {
                lower.chars().count() >= 5
                    && words
                        .counts
                        .range(lower.clone()..)
                        .next()
                        .is_some_and(|(w, _)| w.starts_with(&lower))
            };
            if !(stemmed || prefixed() || compared() || contracted() || shortened()) {
                unknown.push(word);
            }
        }
        Ok(unknown)
    }

    /// The chunk with id `id`.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when an index returned an id outside the chunk table.
    pub fn chunk(&self, id: ChunkId) -> crate::Result<&Chunk> {
        self.chunks
            .get(id.0 as usize)
            .ok_or_else(|| Error::Corrupt {
                path: PathBuf::from(&self.manifest.corpus),
                reason: format!(
                    "chunk id {} is outside the chunk table of {} chunks",
                    id.0,
                    self.chunks.len()
                ),
            })
    }
}

fn read_manifest(dir: &Path) -> crate::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let bytes = fs::read(&path).map_err(Error::io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path,
        reason: e.to_string(),
    })
}

fn read_chunks(path: &Path) -> crate::Result<Vec<Chunk>> {
    let f = fs::File::open(path).map_err(Error::io(path))?;
    let mut chunks = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(Error::io(path))?;
        chunks.push(serde_json::from_str(&line).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("line {}: {e}", n + 1),
        })?);
    }
    Ok(chunks)
}

/// Writes the parts of a generation kept on disk whatever the vector store:
/// the chunk table, the embeddings and the lexical index.
fn write_tables(
    dir: &Path,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<()> {
    write_chunks(&dir.join(CHUNKS), chunks)?;
    write_embeddings(&dir.join(EMBEDDINGS), vectors)?;
    sentences.write(&dir.join(SENTENCES))?;
    LexicalIndex::create(&dir.join(LEXICAL), chunks).map(drop)
}

fn write_chunks(path: &Path, chunks: &[Chunk]) -> crate::Result<()> {
    let f = fs::File::create(path).map_err(Error::io(path))?;
    let mut w = BufWriter::new(f);
    for c in chunks {
        serde_json::to_writer(&mut w, c).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        w.write_all(b"\n").map_err(Error::io(path))?;
    }
    let f = w.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(Error::io(path))
}

/// Writes `bytes` to `path` and waits until they are on disk.
/// Writes a file whole or not at all: a full disk or a crash mid-write leaves
/// only a `.tmp` beside it, so a manifest on disk is always a whole one. The
/// caller syncs the folder.
fn write_durable(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp).map_err(Error::io(&tmp))?;
    f.write_all(bytes).map_err(Error::io(&tmp))?;
    f.sync_all().map_err(Error::io(&tmp))?;
    fs::rename(&tmp, path).map_err(Error::io(path))
}

/// Makes a folder's entries (new files, renames) durable.
fn sync_dir(dir: &Path) -> crate::Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

fn write_embeddings(path: &Path, vectors: &[Vec<f32>]) -> crate::Result<()> {
    let mut bytes = Vec::with_capacity(vectors.len() * DIM * 4);
    for v in vectors {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    write_durable(path, &bytes)
}

fn read_embeddings(path: &Path, count: usize) -> crate::Result<Vec<Vec<f32>>> {
    let bytes = fs::read(path).map_err(Error::io(path))?;
    if bytes.len() != count * DIM * 4 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes, expected {} for {count} vectors",
                bytes.len(),
                count * DIM * 4
            ),
        });
    }
    Ok(bytes
        .chunks_exact(DIM * 4)
        .map(|v| {
            v.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}
