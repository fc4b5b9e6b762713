//! Ingestion: discover a corpus's files, parse them into documents, cut documents
//! into chunks.
//!
//! The output is plain data ([`Document`], [`Chunk`]) that knows nothing about
//! embeddings or indexes. One bad file never stops a run: it becomes a
//! [`FileError`] with its path and reason, and the rest goes on.

pub mod chunk;
pub mod discover;
pub mod parse;
pub mod parser;
pub mod sentence;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use chunk::Chunker;
pub use discover::{discover, SourceFile};
pub use parser::Parser;

/// A document's stable id: its path relative to the corpus folder (or, for imported
/// datasets, the record's own id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocId(pub String);

impl std::fmt::Display for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed document: metadata plus its text as a sequence of sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Stable id.
    pub id: DocId,
    /// Where it came from, relative to the corpus folder.
    pub source: PathBuf,
    /// Title from metadata, the first heading, or the file name.
    pub title: String,
    /// Publication or revision date, when known.
    pub date: Option<NaiveDate>,
    /// Versions of one document share a series (`install-guide`); the newest
    /// supersedes the others. The entries of one file (a changelog's releases)
    /// share a series too, but each holds its own facts: see [`Chunk::entry_key`].
    pub series: Option<String>,
    /// True when `date` is the file's modification time, the document having
    /// none of its own: it tells when the file was written or copied (a fresh
    /// checkout dates every file today), not when its content was.
    pub file_dated: bool,
    /// Extra fields a parser plugin kept with the document, by key.
    pub metadata: BTreeMap<String, String>,
    /// The body, in reading order.
    pub sections: Vec<Section>,
}

/// A run of text under one heading path, on one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Enclosing headings, outermost first; empty before the first heading.
    pub heading_path: Vec<String>,
    /// 1-based page number for paginated formats (PDF).
    pub page: Option<u32>,
    /// Plain text, markup removed.
    pub text: String,
}

/// The key of document `id` within its file `source`: what follows `#`.
fn entry_key<'d>(id: &'d DocId, source: &Path) -> &'d str {
    let source = source.to_string_lossy();
    id.0.strip_prefix(source.as_ref())
        .and_then(|rest| rest.strip_prefix('#'))
        .unwrap_or("")
}

impl Document {
    /// True when the document is one entry of a release series (a changelog's
    /// release): it has a series and a key of its own within its file
    /// ([`Chunk::entry_key`]).
    pub fn is_series_entry(&self) -> bool {
        self.series.is_some() && !entry_key(&self.id, &self.source).is_empty()
    }

    /// An undated document of one section, whose id is also its source: an
    /// imported record, or a test's text.
    pub fn plain(id: String, title: String, text: String) -> Document {
        Document {
            source: PathBuf::from(&id),
            id: DocId(id),
            title,
            date: None,
            series: None,
            file_dated: false,
            metadata: Default::default(),
            sections: vec![Section {
                heading_path: Vec::new(),
                page: None,
                text,
            }],
        }
    }

    /// The separator between sections in [`Document::text`].
    pub const SECTION_SEPARATOR: &'static str = "\n\n";

    /// The document's full text: sections joined by [`Document::SECTION_SEPARATOR`].
    /// Chunk spans are character offsets into this string.
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self.sections.iter().map(|s| s.text.as_str()).collect();
        texts.join(Self::SECTION_SEPARATOR)
    }
}

/// A chunk: the unit that is indexed, retrieved and cited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// The document it belongs to.
    pub doc_id: DocId,
    /// The document's source path.
    pub source: PathBuf,
    /// The document's title.
    pub title: String,
    /// Enclosing headings, outermost first.
    pub heading_path: Vec<String>,
    /// 1-based page, for paginated formats.
    pub page: Option<u32>,
    /// The document's date.
    pub date: Option<NaiveDate>,
    /// The document's series.
    pub series: Option<String>,
    /// The date is the file's modification time ([`Document::file_dated`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub file_dated: bool,
    /// The document's extra fields (from a parser plugin).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Character offsets `[start, end)` into [`Document::text`].
    pub span: (usize, usize),
    /// The chunk's text.
    pub text: String,
}

impl Chunk {
    /// The document's key within its file: `2.4.0` for `CHANGELOG.md#2.4.0`,
    /// empty for a document that is a whole file. Documents of one series with
    /// the same key are versions of each other (`install-v1.md`, `install-v2.md`);
    /// with different keys they are entries of a dated series, such as a
    /// changelog's releases, none of which replaces another.
    pub fn entry_key(&self) -> &str {
        entry_key(&self.doc_id, &self.source)
    }

    /// The text given to the embedding model: title and headings give a passage the
    /// context its words alone may lack.
    pub fn embedding_text(&self) -> String {
        embedding_prefix(&self.title, &self.heading_path) + &self.text
    }
}

/// `title\nheading > heading\n`, omitting empty parts.
pub(crate) fn embedding_prefix(title: &str, heading_path: &[String]) -> String {
    let mut s = String::new();
    if !title.is_empty() {
        s.push_str(title);
        s.push('\n');
    }
    if !heading_path.is_empty() {
        s.push_str(&heading_path.join(" > "));
        s.push('\n');
    }
    s
}

/// A file that could not be ingested; the run skips it and goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    /// The file, relative to the corpus folder.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}
