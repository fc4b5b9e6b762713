//! The library's one error type.
//!
//! Variants carry what went wrong and where (a path, a key, an id) as data, so the
//! caller decides how to present it. The caller's mistakes (bad config, bad input
//! files, unknown corpus) are separate variants from Candor's own failures (I/O,
//! index corruption, model runtime), so the HTTP layer can map them to 4xx or 5xx.

use std::path::PathBuf;

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file is syntactically wrong or has a bad value.
    #[error("{}: {key}: {message}", file.display())]
    Config {
        /// The offending file.
        file: PathBuf,
        /// Dotted key path inside the file (`recency.half_life_days`), or `-` for the whole file.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A runtime asset (model, tokenizer, ONNX Runtime) is missing.
    #[error("missing asset {}: {what}; run `make assets` to fetch it (or set CANDOR_ASSETS_DIR)", path.display())]
    MissingAsset {
        /// Where it was looked for.
        path: PathBuf,
        /// Which asset this is.
        what: &'static str,
    },
    /// One input document could not be read or parsed; ingestion skips it.
    #[error("{}: {reason}", path.display())]
    BadDocument {
        /// The file (or, for imported data, the record) that failed.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A request named a corpus that is not loaded.
    #[error("unknown corpus `{0}`")]
    UnknownCorpus(String),
    /// Feedback named an answer that was never logged.
    #[error("unknown answer `{0}`")]
    UnknownAnswer(String),
    /// Feedback named, as a correct document, one its answer's corpus does not
    /// hold.
    #[error("correct_doc_ids: `{doc}` is not a document of corpus `{corpus}`; ids are document paths relative to the corpus folder, like `docs/guide.md`")]
    UnknownDocument {
        /// The answer's corpus.
        corpus: String,
        /// The id given.
        doc: String,
    },
    /// A corpus has no index generation yet.
    #[error("corpus `{0}` has not been indexed yet; run `candor index --corpus <dir>`")]
    NotIndexed(String),
    /// Another index run of this corpus holds its build lock.
    #[error("another index run of corpus `{0}` is in progress")]
    IndexBusy(String),
    /// A request was malformed (empty query, bad parameter).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A question with no word in it.
    #[error("`question` is empty")]
    EmptyQuestion,
    /// A question longer than the engine takes.
    #[error("`question` has {chars} characters; the limit is {max}")]
    QuestionTooLong {
        /// Its length, in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A `top_k` outside its range.
    #[error("`top_k` must be in 1..={max}, got {got}")]
    InvalidTopK {
        /// The value asked for.
        got: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The embedding model failed at run time.
    #[error("embedding failed: {0}")]
    Embed(String),
    /// The lexical index failed.
    #[error("lexical index: {0}")]
    Lexical(#[from] tantivy::TantivyError),
    /// The vector store failed.
    #[error("vector store: {0}")]
    Vector(String),
    /// The vector store's server cannot be reached (after retries); the request
    /// may succeed later.
    #[error("vector store unavailable: {0}")]
    VectorUnavailable(String),
    /// A plugin failed: it could not be loaded, or a call trapped, ran out of time
    /// or memory, or returned something malformed.
    #[error("plugin `{plugin}`: {cause}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        cause: String,
    },
    /// As much uncached work is under way as the engine admits; the request
    /// may succeed shortly.
    #[error("{0} questions are being answered or searched already, the most this server takes at once; try again shortly")]
    Overloaded(usize),
    /// The reader of a streamed answer went away before it was complete.
    #[error("the client went away before the answer was complete")]
    Cancelled,
    /// An admin canceled the reindex job before it wrote its generation.
    #[error("the job was canceled")]
    JobCanceled,
    /// A worker thread panicked; a bug in Candor or a library, never the caller's fault.
    #[error("internal failure: {0}")]
    Internal(String),
    /// Stored index data is inconsistent with what we expect.
    #[error("index data at {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file or folder that is inconsistent.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// An I/O operation failed on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// Wraps a SQLite error with the database file it happened on.
    pub(crate) fn db(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        }
    }
}
