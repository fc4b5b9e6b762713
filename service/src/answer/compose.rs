//! The extractive composer: an answer made of the corpus's own sentences, each one
//! cited to the exact place it came from.
//!
//! No sentence is written, paraphrased or merged, so the answer cannot say anything
//! the sources do not. The first sentence always comes from the best-ranked chunk,
//! so citation [1] is the best evidence; the others are the sentences of the top
//! chunks that cover the question's terms best, without repeats.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use crate::index::{lexical, ChunkId, Generation};
use crate::ingest::{Chunk, DocId};
use crate::retrieve::Scored;

/// Characters of context on each side of a cited sentence in its snippet.
const SNIPPET_CONTEXT: usize = 100;
/// Sentences shorter than this are fragments (list bullets, stray words).
const MIN_SENTENCE_CHARS: usize = 12;
/// A further sentence must score at least this share of the best one.
const RELATIVE_FLOOR: f32 = 0.5;
/// Sentences sharing more than this share of their terms repeat each other.
const REPEAT_OVERLAP: f32 = 0.7;

/// Where one sentence of an answer comes from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Citation {
    /// The document.
    pub doc_id: DocId,
    /// Its title.
    pub title: String,
    /// Its source path, relative to the corpus folder.
    #[schema(value_type = String)]
    pub source: PathBuf,
    /// 1-based page, for paginated formats.
    pub page: Option<u32>,
    /// The document's date.
    pub date: Option<NaiveDate>,
    /// Character offsets `[start, end)` of the cited sentence in the document text.
    #[schema(value_type = Vec<u64>)]
    pub span: (usize, usize),
    /// The sentence with some of its surrounding text.
    pub snippet: String,
    /// The evidence's ranking score.
    pub score: f32,
    /// The document's extra fields from its parser plugin (a release's version).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A composed answer: text with `[n]` markers, and `citations[n - 1]` for each.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// Sentences, each followed by its marker.
    pub text: String,
    /// One citation per sentence, in order.
    pub citations: Vec<Citation>,
}

/// A sentence of a chunk: character offsets into the chunk text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// Sentence spans of `text` (character offsets), trimmed, without list markers.
/// A sentence ends after `.`, `!` or `?` followed by white space and a capital,
/// digit or opening mark, at a blank line, or before a line that starts a list
/// item or a heading. A single line break inside a paragraph (hard-wrapped text)
/// is a space.
fn sentences(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let push = |s: usize, e: usize, out: &mut Vec<Span>| {
        let (mut s, mut e) = (s, e);
        while s < e && chars[s].is_whitespace() {
            s += 1;
        }
        s += list_marker(&chars[s..e]);
        while e > s && chars[e - 1].is_whitespace() {
            e -= 1;
        }
        if e > s {
            out.push(Span { start: s, end: e });
        }
    };
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            let mut k = i + 1;
            while k < chars.len() && chars[k] != '\n' && chars[k].is_whitespace() {
                k += 1;
            }
            if k >= chars.len()
                || chars[k] == '\n'
                || chars[k] == '#'
                || list_marker(&chars[k..]) > 0
            {
                push(start, i, &mut out);
                start = i + 1;
            }
        } else if matches!(c, '.' | '!' | '?') {
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j], '"' | '\'' | ')' | ']' | '”' | '’') {
                j += 1;
            }
            let mut k = j;
            while k < chars.len() && chars[k].is_whitespace() {
                k += 1;
            }
            let next_starts = k > j
                && chars.get(k).is_some_and(|n| {
                    n.is_uppercase() || n.is_ascii_digit() || matches!(n, '"' | '(' | '[' | '“')
                });
            // `2. Then` is a numbered list item, not a sentence `2.`.
            let number = chars[start..i]
                .iter()
                .filter(|c| !c.is_whitespace())
                .all(char::is_ascii_digit);
            if next_starts && !number {
                push(start, j, &mut out);
                start = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    push(start, chars.len(), &mut out);
    out
}

/// The sentences of `text`, as [`compose`] reads them.
pub fn sentence_texts(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    sentences(text)
        .iter()
        .map(|s| slice(&chars, s.start, s.end))
        .collect()
}

/// Length of a list marker (`- `, `* `, `+ `, `12. `, `3) `) at the start of `s`.
fn list_marker(s: &[char]) -> usize {
    match s {
        ['-' | '*' | '+', ' ', ..] => 2,
        _ => {
            let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
            match s.get(digits..digits + 2) {
                Some(['.' | ')', ' ']) if (1..=3).contains(&digits) => digits + 2,
                _ => 0,
            }
        }
    }
}

/// True for a sentence that can stand in an answer: not a question, and a complete
/// sentence rather than a heading or a label (it ends like a sentence, or is long).
fn quotable(text: &str) -> bool {
    const LONG_WORDS: usize = 8;
    !text.ends_with('?')
        && text.chars().count() >= MIN_SENTENCE_CHARS
        && (text.ends_with(['.', '!', '"', ')', ':', ';', '”'])
            || text.split_whitespace().count() >= LONG_WORDS)
}

fn slice(chars: &[char], s: usize, e: usize) -> String {
    chars[s..e].iter().collect()
}

struct Candidate<'a> {
    rank: usize,
    chunk: &'a Chunk,
    chunk_score: f32,
    /// Position of the sentence in its chunk.
    index: usize,
    span: Span,
    text: String,
    terms: Vec<String>,
    score: f32,
}

/// The first `evidence_chunks` of `ranked` a composer reads: superseded chunks
/// only when there is nothing else.
pub fn evidence(ranked: &[Scored<ChunkId>], evidence_chunks: usize) -> Vec<&Scored<ChunkId>> {
    let current: Vec<&Scored<ChunkId>> = ranked
        .iter()
        .filter(|s| !s.superseded)
        .take(evidence_chunks)
        .collect();
    if current.is_empty() {
        ranked.iter().take(evidence_chunks).collect()
    } else {
        current
    }
}

/// Picks up to `max_sentences` sentences from the first `evidence_chunks` of
/// `ranked` that best answer `question`. Superseded chunks are read only when
/// nothing else was found. Returns None when no chunk has a sentence.
///
/// # Errors
///
/// Index errors.
pub fn compose(
    gen: &Generation,
    question: &str,
    ranked: &[Scored<ChunkId>],
    evidence_chunks: usize,
    max_sentences: usize,
) -> crate::Result<Option<Composed>> {
    let q_terms = super::support::question_terms(question);
    let mut idf: HashMap<&str, f32> = HashMap::new();
    for t in &q_terms {
        idf.insert(t, gen.lexical.idf(t)?);
    }
    let total: f32 = idf.values().sum();
    let pool = evidence(ranked, evidence_chunks);

    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for (rank, s) in pool.iter().enumerate() {
        let chunk = gen.chunk(s.id)?;
        let chars: Vec<char> = chunk.text.chars().collect();
        let spans = sentences(&chunk.text);
        let last = spans.len().saturating_sub(1);
        for (i, span) in spans.iter().enumerate() {
            let text = slice(&chars, span.start, span.end);
            // A window may start or stop inside a sentence; such pieces would
            // misquote the source.
            let cut_start =
                i == 0 && chunk.span.0 > 0 && text.chars().next().is_some_and(char::is_lowercase);
            let cut_end = i == last
                && !text.ends_with(['.', '!', '?', '"', ')', ':'])
                && span.end == chars.len()
                && spans.len() > 1;
            if !quotable(&text) || cut_start || cut_end {
                continue;
            }
            let terms = lexical::terms(&text);
            let covered: f32 = terms.iter().filter_map(|t| idf.get(t.as_str())).sum();
            let score = if total > 0.0 { covered / total } else { 0.0 };
            candidates.push(Candidate {
                rank,
                chunk,
                chunk_score: s.score,
                index: i,
                span: *span,
                text,
                terms,
                score,
            });
        }
    }
    // The first sentence comes from the best chunk that has one.
    let Some(first_rank) = candidates.iter().map(|c| c.rank).min() else {
        return Ok(None);
    };
    let by_score = |a: &&Candidate<'_>, b: &&Candidate<'_>| {
        b.score
            .total_cmp(&a.score)
            .then(a.rank.cmp(&b.rank))
            .then(a.span.start.cmp(&b.span.start))
    };
    let mut order: Vec<&Candidate<'_>> = candidates.iter().collect();
    order.sort_by(by_score);
    // The first sentence is the best of the best chunk that shares a word with the
    // question; if no chunk does, the best sentence anywhere.
    let first = order
        .iter()
        .copied()
        .filter(|c| c.score > 0.0)
        .min_by(|a, b| a.rank.cmp(&b.rank).then(by_score(a, b)))
        .or_else(|| order.iter().copied().find(|c| c.rank == first_rank))
        .into_iter();
    let best = order.first().map_or(0.0, |c| c.score);
    // The next sentence of the same paragraph usually goes on with the first one's
    // point ("A retention policy decides how long snapshots are kept. The default
    // policy keeps 7 daily ..."), so it follows the first.
    let first: Vec<&Candidate<'_>> = first.collect();
    let continuation = first.first().and_then(|f| {
        candidates.iter().find(|c| {
            c.rank == f.rank && c.index == f.index + 1 && {
                let between: String = f
                    .chunk
                    .text
                    .chars()
                    .skip(f.span.end)
                    .take(c.span.start - f.span.end)
                    .collect();
                !between.contains("\n\n")
            }
        })
    });
    let mut chosen: Vec<&Candidate<'_>> = Vec::new();
    for c in first.into_iter().chain(continuation).chain(
        order
            .iter()
            .copied()
            .filter(|c| c.score > 0.0 && c.score >= RELATIVE_FLOOR * best),
    ) {
        if chosen.len() == max_sentences {
            break;
        }
        if chosen.iter().any(|k| repeats(k, c)) {
            continue;
        }
        chosen.push(c);
    }
    if let Some(rest) = chosen.get_mut(1..) {
        rest.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.span.start.cmp(&b.span.start)));
    }

    let mut text = String::new();
    let mut citations = Vec::new();
    for (n, c) in chosen.iter().enumerate() {
        if n > 0 {
            text.push(' ');
        }
        // Hard-wrapped lines read as one line; the span still points at the source.
        let flat = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        text.push_str(&format!("{flat} [{}]", n + 1));
        let chars: Vec<char> = c.chunk.text.chars().collect();
        let (s, e) = (
            c.span.start.saturating_sub(SNIPPET_CONTEXT),
            (c.span.end + SNIPPET_CONTEXT).min(chars.len()),
        );
        let snippet = format!(
            "{}{}{}",
            if s > 0 { "…" } else { "" },
            slice(&chars, s, e).trim(),
            if e < chars.len() { "…" } else { "" }
        );
        citations.push(Citation {
            doc_id: c.chunk.doc_id.clone(),
            title: c.chunk.title.clone(),
            source: c.chunk.source.clone(),
            page: c.chunk.page,
            date: c.chunk.date,
            span: (c.chunk.span.0 + c.span.start, c.chunk.span.0 + c.span.end),
            snippet,
            score: c.chunk_score,
            metadata: c.chunk.metadata.clone(),
        });
    }
    Ok(Some(Composed { text, citations }))
}

/// True when two sentences are the same text (overlapping windows repeat it) or
/// say nearly the same words.
fn repeats(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    let same_place = a.chunk.doc_id == b.chunk.doc_id
        && a.chunk.span.0 + a.span.start < b.chunk.span.0 + b.span.end
        && b.chunk.span.0 + b.span.start < a.chunk.span.0 + a.span.end;
    if same_place || a.text == b.text {
        return true;
    }
    let shared = a.terms.iter().filter(|t| b.terms.contains(t)).count() as f32;
    let smaller = a.terms.len().min(b.terms.len()).max(1) as f32;
    shared / smaller > REPEAT_OVERLAP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_sentence_ends_and_line_breaks_but_not_inside_abbreviations() {
        assert_eq!(
            sentence_texts("Backups run nightly. They keep 30 days, e.g. for audits.\n\nSee retention! (Really.) Done"),
            ["Backups run nightly.", "They keep 30 days, e.g. for audits.", "See retention!", "(Really.)", "Done"]
        );
        assert_eq!(
            sentence_texts("Backing up\n\nPinned snapshots are never pruned\nand do not count.\n- Port 7420 open.\n2. Then start it."),
            ["Backing up", "Pinned snapshots are never pruned\nand do not count.", "Port 7420 open.", "Then start it."]
        );
        assert_eq!(
            sentence_texts("Version 2.5 is out."),
            ["Version 2.5 is out."]
        );
        assert!(sentence_texts("  \n ").is_empty());
    }

    #[test]
    fn headings_questions_and_fragments_are_not_quotable() {
        assert!(quotable("Restores always run at full speed."));
        assert!(!quotable("Backing up a database"));
        assert!(!quotable(
            "Can Ferrule back up laptops that are often offline?"
        ));
        assert!(!quotable("Yes."));
        assert!(quotable(
            "The limit applies to uploads only and restores run at full speed"
        ));
    }

    #[test]
    fn spans_are_character_offsets() {
        let t = "Über alles. Zweiter Satz.";
        let s = sentences(t);
        assert_eq!((s[1].start, s[1].end), (12, 25));
    }
}
