//! The lexical index: BM25 over chunks with tantivy.
//!
//! Fields are the title (boosted at query time), the heading path and the body,
//! all analysed with English stop words and stemming. Queries are built term by
//! term from the analysed text, never through a query language, so user input
//! cannot change the query's structure. Knows nothing about vectors or fusion.

use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::index::ChunkId;
use crate::ingest::Chunk;
use crate::Error;

/// The analyzer name registered on every index.
const ANALYZER: &str = "candor_en";

/// Tokens longer than this many bytes are dropped (base64 blobs, hashes).
const MAX_TOKEN_BYTES: usize = 40;

/// Indexing memory budget. Default: 100 MB; larger budgets write fewer segments.
const WRITER_HEAP_BYTES: usize = 100_000_000;

/// A BM25 hit: a chunk and its score.
pub type LexicalHit = (ChunkId, f32);

/// An open lexical index.
pub struct LexicalIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    /// The body terms and their document frequencies, read on first use by
    /// [`LexicalIndex::spelling_neighbour`].
    vocabulary: std::sync::OnceLock<Vec<(String, u64)>>,
}

/// Terms shorter than this are never taken for misspellings: at three letters
/// one edit reaches too many other words.
pub(crate) const MIN_MISSPELT_CHARS: usize = 5;

#[derive(Clone, Copy)]
struct Fields {
    chunk: Field,
    title: Field,
    heading: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        chunk: b.add_u64_field("chunk", NumericOptions::default().set_fast().set_stored()),
        title: b.add_text_field("title", text.clone()),
        heading: b.add_text_field("heading", text.clone()),
        body: b.add_text_field("body", text),
    };
    (b.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser);
    match StopWordFilter::new(Language::English) {
        Some(stop) => builder
            .filter(stop)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

/// The word of `vocabulary` (words with their frequencies) that `word` most
/// likely misspells: the most frequent one with the same first letter at most
/// `edits` edits away; ties go to the word that sorts first, so the choice is
/// reproducible. None for a word shorter than `shortest` characters or one
/// with no neighbour.
pub(crate) fn nearest<'v>(
    word: &str,
    vocabulary: impl Iterator<Item = (&'v str, u64)>,
    edits: usize,
    shortest: usize,
) -> Option<&'v str> {
    let word: Vec<char> = word.chars().collect();
    if word.len() < shortest {
        return None;
    }
    // Misspellings seldom touch the first letter; holding it keeps the scan
    // to a small share of the vocabulary.
    vocabulary
        .filter(|(t, _)| t.chars().next() == word.first().copied())
        .filter(|(t, _)| {
            let t: Vec<char> = t.chars().collect();
            t.len().abs_diff(word.len()) <= edits && edit_distance(&t, &word) <= edits
        })
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(t, _)| t)
}

/// The optimal string alignment distance: edits (insert, delete, substitute,
/// swap two neighbours) that turn `a` into `b`.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// Verbs whose final double consonant the English stemmer drops from their
/// past and -ing forms only: "added" and "adding" stem to "ad", "add" and
/// "adds" to "add".
const DOUBLED_VERBS: [&str; 4] = ["add", "err", "staff", "stuff"];

/// The analysed terms of `text` (lower-cased, stop words dropped, stemmed): the
/// terms BM25 matches on, except that the forms of a [`DOUBLED_VERBS`] verb
/// share one term, so that "which version added it" matches "Add it".
/// Deduplicated, in first-seen order.
pub fn terms(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut terms: Vec<String> = Vec::new();
    while let Some(tok) = stream.next() {
        let word = text
            .get(tok.offset_from..tok.offset_to)
            .unwrap_or("")
            .to_lowercase();
        let term = DOUBLED_VERBS
            .iter()
            .find(|v| {
                v.len() == tok.text.len() + 1
                    && v.starts_with(tok.text.as_str())
                    && word.starts_with(*v)
            })
            .map_or_else(|| tok.text.clone(), |v| (*v).to_owned());
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    terms
}

impl LexicalIndex {
    /// Writes a new index of `chunks` into the empty folder `dir`; chunk `i` gets id `i`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Lexical`] when the index cannot be written.
    pub fn create(dir: &Path, chunks: &[Chunk]) -> crate::Result<LexicalIndex> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let (schema, f) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        index.tokenizers().register(ANALYZER, analyzer());
        // One thread keeps document order, and so tie order, reproducible.
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_HEAP_BYTES)?;
        for (i, c) in chunks.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.chunk, i as u64);
            doc.add_text(f.title, &c.title);
            doc.add_text(f.heading, c.heading_path.join(" "));
            doc.add_text(f.body, &c.text);
            writer.add_document(doc)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        Self::with_index(dir, index, f)
    }

    /// Opens the index in `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Lexical`] when the folder holds no readable index.
    pub fn open(dir: &Path) -> crate::Result<LexicalIndex> {
        let index = Index::open_in_dir(dir)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let (_, f) = schema();
        Self::with_index(dir, index, f)
    }

    fn with_index(dir: &Path, index: Index, fields: Fields) -> crate::Result<LexicalIndex> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(LexicalIndex {
            dir: dir.to_path_buf(),
            reader,
            fields,
            vocabulary: std::sync::OnceLock::new(),
        })
    }

    /// The IDF of a term no chunk holds: the highest [`LexicalIndex::idf`] gives.
    pub fn max_idf(&self) -> f32 {
        let n = self.reader.searcher().num_docs() as f32;
        (1.0 + (n + 0.5) / 0.5).ln()
    }

    /// For an analysed term the corpus never uses, the term it most likely
    /// misspells: the most frequent body term with the same first letter one
    /// edit away (an insertion, deletion, substitution or swap of neighbours;
    /// two for long words). None
    /// for a term the corpus uses, a short one, or one with no neighbour.
    ///
    /// # Errors
    ///
    /// [`Error::Lexical`] when the index cannot be read.
    pub fn spelling_neighbour(&self, term: &str) -> crate::Result<Option<String>> {
        let len = term.chars().count();
        if len < MIN_MISSPELT_CHARS || self.doc_freq(term)? > 0 {
            return Ok(None);
        }
        let vocabulary = match self.vocabulary.get() {
            Some(v) => v,
            None => {
                let v = self.read_vocabulary()?;
                self.vocabulary.get_or_init(|| v)
            }
        };
        let edits = if len >= 8 { 2 } else { 1 };
        Ok(nearest(
            term,
            vocabulary.iter().map(|(t, n)| (t.as_str(), *n)),
            edits,
            MIN_MISSPELT_CHARS,
        )
        .map(str::to_owned))
    }

    /// Whether any chunk body holds the analysed `term`.
    ///
    /// # Errors
    ///
    /// [`Error::Lexical`] when the index cannot be read.
    pub fn uses(&self, term: &str) -> crate::Result<bool> {
        Ok(self.doc_freq(term)? > 0)
    }

    fn doc_freq(&self, term: &str) -> crate::Result<u64> {
        let searcher = self.reader.searcher();
        Ok(searcher.doc_freq(&Term::from_field_text(self.fields.body, term))?)
    }

    fn read_vocabulary(&self) -> crate::Result<Vec<(String, u64)>> {
        let searcher = self.reader.searcher();
        let mut freq: std::collections::BTreeMap<String, u64> = Default::default();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.body)?;
            let mut stream = inverted.terms().stream().map_err(Error::io(&self.dir))?;
            while stream.advance() {
                if let Ok(t) = std::str::from_utf8(stream.key()) {
                    *freq.entry(t.to_owned()).or_default() += u64::from(stream.value().doc_freq);
                }
            }
        }
        Ok(freq.into_iter().collect())
    }

    /// BM25's inverse document frequency of an analysed term over chunk bodies:
    /// `ln(1 + (N - df + 0.5) / (df + 0.5))`. A term the corpus never uses gets the
    /// highest weight.
    ///
    /// # Errors
    ///
    /// [`Error::Lexical`] when the index cannot be read.
    pub fn idf(&self, term: &str) -> crate::Result<f32> {
        let searcher = self.reader.searcher();
        let n = searcher.num_docs() as f32;
        let df = searcher.doc_freq(&Term::from_field_text(self.fields.body, term))? as f32;
        Ok((1.0 + (n - df + 0.5) / (df + 0.5)).ln())
    }

    /// The `limit` best chunks for `query` by BM25, best first; ties go to the lower chunk id.
    ///
    /// # Errors
    ///
    /// [`Error::Lexical`] when the index cannot be read.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        title_boost: f32,
    ) -> crate::Result<Vec<LexicalHit>> {
        let terms = terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for field in [f.title, f.heading, f.body] {
            for t in &terms {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                ));
                let q = if field == f.title && title_boost != 1.0 {
                    Box::new(BoostQuery::new(q, title_boost))
                } else {
                    q
                };
                clauses.push((Occur::Should, q));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // Over-fetch a little so ties cut at the limit can be ordered by chunk id.
        let top = searcher.search(&query, &TopDocs::with_limit(limit + limit / 4 + 1))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let column = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("chunk")?;
            let id = column.first(addr.doc_id).ok_or_else(|| Error::Corrupt {
                path: self.dir.clone(),
                reason: format!("document {addr:?} has no chunk id"),
            })?;
            hits.push((ChunkId(id), score));
        }
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.truncate(limit);
        Ok(hits)
    }

    /// The number of chunks indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// True when no chunk is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the stored chunk id of every document (for consistency checks).
    #[cfg(test)]
    fn stored_ids(&self) -> Vec<u64> {
        use tantivy::schema::Value;
        let searcher = self.reader.searcher();
        let mut ids = Vec::new();
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            for doc in 0..seg.max_doc() {
                let d: TantivyDocument = searcher
                    .doc(tantivy::DocAddress::new(ord as u32, doc))
                    .unwrap();
                ids.push(
                    d.get_first(self.fields.chunk)
                        .and_then(|v| v.as_u64())
                        .unwrap(),
                );
            }
        }
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::DocId;

    fn chunk(title: &str, text: &str) -> Chunk {
        Chunk {
            doc_id: DocId(title.into()),
            source: title.into(),
            title: title.into(),
            heading_path: vec!["Section".into()],
            page: None,
            date: None,
            series: None,
            file_dated: false,
            metadata: Default::default(),
            span: (0, text.len()),
            text: text.into(),
        }
    }

    #[test]
    fn bm25_ranks_by_stemmed_terms_and_survives_reopen() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let chunks = vec![
            chunk(
                "Backups",
                "Nightly backups are written to the object store.",
            ),
            chunk(
                "Upgrades",
                "Upgrading the cluster requires draining each node.",
            ),
            chunk("Networking", "The ingress controller terminates TLS."),
        ];
        let idx = LexicalIndex::create(&dir.path().join("lex"), &chunks)?;
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.stored_ids(), vec![0, 1, 2]);
        // "upgrade" matches "Upgrading"/"Upgrades" through stemming.
        let hits = idx.search("how do I upgrade?", 10, 1.0)?;
        assert_eq!(hits[0].0, ChunkId(1));
        drop(idx);
        let idx = LexicalIndex::open(&dir.path().join("lex"))?;
        let hits = idx.search("backup", 10, 1.0)?;
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![ChunkId(0)]
        );
        Ok(())
    }

    #[test]
    fn every_form_of_add_is_one_term_and_other_doubled_stems_stay() {
        assert_eq!(terms("Added adding adds Add"), vec!["add"]);
        assert_eq!(terms("stopped stop"), vec!["stop"]);
        // "AD" (an abbreviation) is not a form of "add".
        assert_eq!(terms("AD added"), vec!["ad", "add"]);
        assert_eq!(terms("erred staffed"), vec!["err", "staff"]);
    }

    #[test]
    fn query_syntax_is_not_interpreted_and_stop_words_do_not_match() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let idx = LexicalIndex::create(
            dir.path(),
            &[chunk("A", "the and of"), chunk("B", "title: value")],
        )?;
        assert!(idx.search("the AND of", 10, 1.0)?.is_empty());
        assert_eq!(idx.search("title:value (\"", 10, 1.0)?.len(), 1);
        Ok(())
    }

    #[test]
    fn a_misspelt_term_reads_as_the_corpus_term_one_edit_away() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let idx = LexicalIndex::create(
            dir.path(),
            &[
                chunk("Restore", "Restoring a snapshot writes its files back."),
                chunk("Restore", "Restores run at full speed."),
                chunk("Repository", "The repository holds every snapshot."),
            ],
        )?;
        let term = |w: &str| terms(w).remove(0);
        // A swap of two letters, and a dropped one.
        assert_eq!(
            idx.spelling_neighbour(&term("resotring"))?,
            Some(term("restoring"))
        );
        assert_eq!(
            idx.spelling_neighbour(&term("repositry"))?,
            Some(term("repository"))
        );
        // A word the corpus uses, a short word, and one with no neighbour.
        assert_eq!(idx.spelling_neighbour(&term("snapshot"))?, None);
        assert_eq!(idx.spelling_neighbour("rsto")?, None);
        assert_eq!(idx.spelling_neighbour(&term("kubernetes"))?, None);
        Ok(())
    }

    #[test]
    fn equal_scores_tie_break_on_chunk_id() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let same: Vec<Chunk> = (0..20)
            .map(|_| chunk("Same", "identical words here"))
            .collect();
        let idx = LexicalIndex::create(dir.path(), &same)?;
        let hits = idx.search("identical", 5, 1.0)?;
        assert_eq!(
            hits.iter().map(|h| h.0 .0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        Ok(())
    }
}
