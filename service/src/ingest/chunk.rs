//! Cuts documents into token-bounded chunks that keep their headings and page.
//!
//! Windows are counted in the embedding model's own word-pieces, so no chunk is
//! silently truncated by the model: the title and heading prefix that is embedded
//! with each chunk is subtracted from the budget. Consecutive windows of one section
//! overlap, and a window prefers to end at a sentence boundary. This module knows
//! nothing about embeddings beyond counting tokens.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::config::Chunking;
use crate::ingest::{embedding_prefix, Chunk, Document};
use crate::Error;

/// The `[CLS]` and `[SEP]` tokens the model adds to every input.
const SPECIAL_TOKENS: usize = 2;

/// A window never shrinks below this share of `max_tokens`, however long the
/// title and headings are; a longer prefix is then cut by the model instead of
/// the body.
const MIN_BODY_SHARE: f64 = 0.5;

/// A window may end early, at a sentence end, once it holds this share of its budget.
const SENTENCE_SNAP_SHARE: f64 = 0.75;

/// Text is tokenized in pieces of at most this many bytes, cut at a paragraph,
/// line, sentence or word boundary: the tokenizer keeps a few hundred bytes per token, so
/// a section of megabytes would otherwise cost gigabytes. Windows do not cross
/// a cut, and a piece holds dozens of windows, so few windows are shortened.
const PIECE_BYTES: usize = 64 * 1024;

/// Splits documents into chunks with a word-piece tokenizer.
pub struct Chunker {
    tokenizer: Tokenizer,
    settings: Chunking,
}

impl Chunker {
    /// Loads the tokenizer from a `tokenizer.json` file.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when the file does not parse as a tokenizer.
    pub fn from_file(tokenizer_json: &Path, settings: Chunking) -> crate::Result<Chunker> {
        let mut tokenizer = Tokenizer::from_file(tokenizer_json).map_err(|e| Error::Corrupt {
            path: tokenizer_json.to_path_buf(),
            reason: e.to_string(),
        })?;
        // The shipped tokenizer.json pads and truncates at 128; counting must see every token.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Corrupt {
                path: tokenizer_json.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(Chunker {
            tokenizer,
            settings,
        })
    }

    /// The settings this chunker applies.
    pub fn settings(&self) -> Chunking {
        self.settings
    }

    /// Cuts `doc` into chunks, in reading order.
    ///
    /// # Errors
    ///
    /// [`Error::BadDocument`] when the tokenizer rejects the text.
    pub fn chunk(&self, doc: &Document) -> crate::Result<Vec<Chunk>> {
        let mut chunks = Vec::new();
        let mut section_char_start = 0;
        for (i, section) in doc.sections.iter().enumerate() {
            if i > 0 {
                section_char_start += Document::SECTION_SEPARATOR.chars().count();
            }
            let prefix = embedding_prefix(&doc.title, &section.heading_path);
            let budget = self
                .body_budget(&prefix)
                .map_err(|reason| bad(doc, reason))?;
            // Characters before the last window's start, counted on from there:
            // window starts only move forward, and recounting from the section's
            // start would be quadratic in its length.
            let (mut counted_to, mut counted) = (0, 0);
            for (b_start, b_end) in self
                .windows(&section.text, budget)
                .map_err(|reason| bad(doc, reason))?
            {
                let (Some(text), Some(before)) = (
                    section.text.get(b_start..b_end),
                    section.text.get(counted_to.min(b_start)..b_start),
                ) else {
                    return Err(bad(
                        doc,
                        format!("token offsets {b_start}..{b_end} are not on character boundaries"),
                    ));
                };
                if counted_to > b_start {
                    counted = section.text[..b_start].chars().count();
                } else {
                    counted += before.chars().count();
                }
                counted_to = b_start;
                let c_start = section_char_start + counted;
                chunks.push(Chunk {
                    doc_id: doc.id.clone(),
                    source: doc.source.clone(),
                    title: doc.title.clone(),
                    heading_path: section.heading_path.clone(),
                    page: section.page,
                    date: doc.date,
                    series: doc.series.clone(),
                    file_dated: doc.file_dated,
                    metadata: doc.metadata.clone(),
                    span: (c_start, c_start + text.chars().count()),
                    text: text.to_owned(),
                });
            }
            section_char_start += section.text.chars().count();
        }
        Ok(chunks)
    }

    /// Word-pieces left for the body once the prefix and special tokens are counted.
    fn body_budget(&self, prefix: &str) -> Result<usize, String> {
        let prefix_tokens = self.count(prefix)?;
        let max = self.settings.max_tokens;
        let floor = (max as f64 * MIN_BODY_SHARE) as usize;
        Ok(max
            .saturating_sub(prefix_tokens + SPECIAL_TOKENS)
            .max(floor))
    }

    fn count(&self, text: &str) -> Result<usize, String> {
        if text.is_empty() {
            return Ok(0);
        }
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())?
            .len())
    }

    /// Byte ranges of `text` covering it in windows of at most `budget` tokens.
    fn windows(&self, text: &str, budget: usize) -> Result<Vec<(usize, usize)>, String> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = piece_end(text, start);
            for (s, e) in self.piece_windows(&text[start..end], budget)? {
                out.push((start + s, start + e));
            }
            start = end;
        }
        Ok(out)
    }

    /// Byte ranges of `text`, one piece, covering it in windows of at most
    /// `budget` tokens.
    fn piece_windows(&self, text: &str, budget: usize) -> Result<Vec<(usize, usize)>, String> {
        let budget = budget.max(1);
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())?;
        let offsets = enc.get_offsets();
        let n = offsets.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if n <= budget {
            return Ok(vec![(offsets[0].0, offsets[n - 1].1)]);
        }
        let tokens = enc.get_tokens();
        let overlap = self.settings.overlap_tokens.min(budget / 2);
        let snap_floor = ((budget as f64) * SENTENCE_SNAP_SHARE) as usize;
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let mut end = (start + budget).min(n);
            if end < n {
                // Prefer ending just after a sentence terminator in the window's tail.
                if let Some(k) = (start + snap_floor..end)
                    .rev()
                    .find(|&k| is_sentence_end(&tokens[k]))
                {
                    end = k + 1;
                }
            }
            out.push((offsets[start].0, offsets[end - 1].1));
            if end >= n {
                break;
            }
            // Overlap never reaches back to the window start, so every step advances.
            start = (end - overlap).max(start + 1);
        }
        Ok(out)
    }
}

/// Where the piece of `text` that starts at `start` ends: within PIECE_BYTES,
/// after the last paragraph break, else line break, else sentence end, else
/// space, else at a character boundary.
fn piece_end(text: &str, start: usize) -> usize {
    let hard = start + PIECE_BYTES;
    if hard >= text.len() {
        return text.len();
    }
    let mut hard = hard;
    while !text.is_char_boundary(hard) {
        hard -= 1;
    }
    let head = &text[start..hard];
    // Only a cut in the second half counts, so pieces stay large.
    let half = head.len() / 2;
    ["\n\n", "\n", ". ", " "]
        .iter()
        .find_map(|sep| {
            head.rfind(sep)
                .filter(|&i| i >= half)
                .map(|i| start + i + sep.len())
        })
        .unwrap_or(hard)
}

fn is_sentence_end(token: &str) -> bool {
    matches!(token, "." | "?" | "!")
}

fn bad(doc: &Document, reason: String) -> Error {
    Error::BadDocument {
        path: doc.source.clone(),
        reason: format!("tokenizer: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{DocId, Section};
    use crate::test_utils::assets;

    fn chunker(max_tokens: usize, overlap_tokens: usize) -> Chunker {
        Chunker::from_file(
            &assets().tokenizer,
            Chunking {
                max_tokens,
                overlap_tokens,
            },
        )
        .unwrap()
    }

    fn doc(sections: Vec<Section>) -> Document {
        Document {
            id: DocId("a.md".into()),
            source: "a.md".into(),
            title: "Guide".into(),
            date: None,
            series: None,
            file_dated: false,
            metadata: Default::default(),
            sections,
        }
    }

    fn section(heading: &[&str], page: Option<u32>, text: &str) -> Section {
        Section {
            heading_path: heading.iter().map(|s| s.to_string()).collect(),
            page,
            text: text.into(),
        }
    }

    #[test]
    fn short_sections_become_one_chunk_each_with_heading_page_and_span() {
        let d = doc(vec![
            section(&["Intro"], Some(1), "Hello world."),
            section(&["Intro", "Setup"], Some(2), "Install it."),
        ]);
        let chunks = chunker(64, 8).chunk(&d).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].heading_path, vec!["Intro", "Setup"]);
        assert_eq!(chunks[1].page, Some(2));
        let text = d.text();
        for c in &chunks {
            let spanned: String = text
                .chars()
                .skip(c.span.0)
                .take(c.span.1 - c.span.0)
                .collect();
            assert_eq!(spanned, c.text);
        }
    }

    #[test]
    fn a_section_longer_than_a_piece_is_covered_with_true_spans() {
        // Multi-byte characters, so byte and character offsets differ, and
        // about three pieces of text.
        let sentences: Vec<String> = (0..12_000).map(|i| format!("Ünit {i} wörks.")).collect();
        let body = sentences.join(" ");
        assert!(body.len() > 2 * PIECE_BYTES);
        let d = doc(vec![
            section(&["Intro"], None, "Hi."),
            section(&[], None, &body),
        ]);
        let chunks = chunker(128, 16).chunk(&d).unwrap();
        let text: Vec<char> = d.text().chars().collect();
        for c in &chunks {
            let spanned: String = text[c.span.0..c.span.1].iter().collect();
            assert_eq!(spanned, c.text);
        }
        for s in &sentences {
            assert!(
                chunks.iter().any(|c| c.text.contains(s.as_str())),
                "lost: {s}"
            );
        }
    }

    #[test]
    fn pieces_end_at_a_break_in_their_second_half_or_on_a_character_boundary() {
        let words = "wörd ".repeat(PIECE_BYTES);
        let end = piece_end(&words, 0);
        assert!(end > PIECE_BYTES / 2 && end <= PIECE_BYTES, "{end}");
        assert!(words[..end].ends_with(' '));
        let solid = "ö".repeat(PIECE_BYTES);
        let end = piece_end(&solid, 2);
        assert!(
            solid.is_char_boundary(end) && end <= PIECE_BYTES + 2,
            "{end}"
        );
        assert_eq!(piece_end("short", 0), 5);
    }

    #[test]
    fn long_text_is_windowed_within_budget_with_overlap_and_nothing_lost() {
        let sentences: Vec<String> = (0..120)
            .map(|i| format!("Sentence number {i} talks about widgets."))
            .collect();
        let body = sentences.join(" ");
        let d = doc(vec![section(&[], None, &body)]);
        let c = chunker(64, 16);
        let chunks = c.chunk(&d).unwrap();
        assert!(chunks.len() > 5, "got {} chunks", chunks.len());
        for ch in &chunks {
            let n = c.count(&ch.embedding_text()).unwrap() + SPECIAL_TOKENS;
            assert!(
                n <= 64,
                "chunk of {n} tokens exceeds the budget: {:?}",
                ch.text
            );
        }
        // Every sentence survives in some chunk, and consecutive chunks overlap.
        for s in &sentences {
            assert!(
                chunks.iter().any(|ch| ch.text.contains(s.as_str())),
                "lost: {s}"
            );
        }
        for w in chunks.windows(2) {
            assert!(
                w[1].span.0 < w[0].span.1,
                "windows {:?} and {:?} do not overlap",
                w[0].span,
                w[1].span
            );
        }
        // Windows prefer to end at sentence ends.
        assert!(chunks[..chunks.len() - 1]
            .iter()
            .all(|ch| ch.text.ends_with('.')));
    }

    #[test]
    fn text_without_sentence_ends_still_advances() {
        let body = "word ".repeat(1000);
        let d = doc(vec![section(&[], None, body.trim())]);
        let chunks = chunker(32, 15).chunk(&d).unwrap();
        assert!(chunks.len() > 30);
        assert_eq!(chunks.last().unwrap().span.1, body.trim().chars().count());
    }

    #[test]
    fn spans_count_characters_not_bytes() {
        let d = doc(vec![
            section(&[], None, "Ünïcödé first."),
            section(&[], None, "Zweiter Abschnitt ist hier."),
        ]);
        let chunks = chunker(64, 8).chunk(&d).unwrap();
        let text = d.text();
        let spanned: String = text
            .chars()
            .skip(chunks[1].span.0)
            .take(chunks[1].span.1 - chunks[1].span.0)
            .collect();
        assert_eq!(spanned, "Zweiter Abschnitt ist hier.");
    }
}
