//! The extractive composer: an answer made of the corpus's own sentences, each one
//! cited to the exact place it came from.
//!
//! No sentence is written, paraphrased or merged, so the answer cannot say anything
//! the sources do not; only their markup is reduced to plain text. The first
//! sentence comes from the best-ranked chunk unless another top chunk holds one
//! that matches the question clearly better, so citation [1] is the best
//! evidence; the others are the sentences of the top chunks that cover the
//! question's terms best, without repeats. A sentence that does not match the
//! question is never quoted.

mod choose;
mod kinds;
mod release;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;

use crate::index::{lexical, ChunkId, Generation};
use crate::ingest::sentence::{plain, sentences, slice, Span};
use crate::ingest::{Chunk, DocId};
use crate::retrieve::Scored;

use choose::{choose, Opening};
use kinds::Kinds;
pub(super) use release::about_whole;
use release::{naming_sentence, overview, states_release, whole_release};

/// Characters of context on each side of a cited sentence in its snippet.
const SNIPPET_CONTEXT: usize = 100;
/// Sentences shorter than this are fragments (list bullets, stray words).
const MIN_SENTENCE_CHARS: usize = 12;
/// A further sentence must hold at least this share of what the first holds
/// of the question.
const RELATIVE_FLOOR: f32 = 0.5;
/// The least share of the question's (IDF-weighted) terms a sentence holds to
/// be quoted at all: below it, the sentence is about something else.
const MIN_MATCH: f32 = 0.15;
/// A sentence of a lower-ranked chunk leads the answer only when it holds this
/// much more of the question than the best of the best-ranked chunk: the
/// ranking also weighs meaning, which term overlap alone does not see.
const CLEARLY_BETTER: f32 = 0.1;
/// What belonging to a release adds to a sentence's fit when the question asks
/// which version or release did something, or when: the release is the answer.
const STATES_RELEASE: f32 = 0.3;
/// What holding the kind of thing the question asks for adds to a sentence's
/// fit: a path for "where", a number for "how many" or "when", an option or a
/// command for "which option" or "how do I".
const HOLDS_KIND: f32 = 0.1;
/// The share of its match a line of code counts with, against prose.
const CODE_FIT: f32 = 0.5;
/// Below [`MIN_MATCH`] of the question's terms, a sentence is still quoted
/// when it is this close to the question in meaning (a cosine): it says the
/// same thing in other words ("come out" against "was released").
const MIN_MEANING: f32 = 0.5;
/// The weight of shared terms in a sentence's match; its closeness in
/// meaning has the rest.
const WORDS_SHARE: f32 = 0.5;
/// Sentences sharing more than this share of their terms repeat each other.
const REPEAT_OVERLAP: f32 = 0.7;

/// Characters of a list or code that an introducing first sentence brings
/// along past `max_sentences`: "The default policy keeps:" is answered by
/// its whole list, not by its first two items.
const INTRODUCED_CHARS: usize = 400;

/// Where one sentence of an answer comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    /// The document.
    pub doc_id: DocId,
    /// Its title.
    pub title: String,
    /// Its source path, relative to the corpus folder.
    pub source: PathBuf,
    /// 1-based page, for paginated formats.
    pub page: Option<u32>,
    /// The document's date.
    pub date: Option<NaiveDate>,
    /// Character offsets `[start, end)` of the cited sentence in the document text.
    pub span: (usize, usize),
    /// The sentence with some of its surrounding text.
    pub snippet: String,
    /// The evidence's ranking score.
    pub score: f32,
    /// The document's extra fields from its parser plugin (a release's version).
    pub metadata: BTreeMap<String, String>,
}

/// A composed answer: text with `[n]` markers, and `citations[n - 1]` for each.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// Sentences, each followed by its marker.
    pub text: String,
    /// One citation per sentence, in order.
    pub citations: Vec<Citation>,
    /// How close in meaning its closest sentence is to the question (a
    /// cosine), when the sentences' vectors are known.
    pub meaning: Option<f32>,
}

/// True for a sentence that can stand in an answer: not a question, and a complete
/// sentence rather than a heading or a label (it ends like a sentence, or is long).
/// A list item of a few words stands whole ("Fix unusable mount on macOS"), and
/// one of two words when it names a path, a number or an option ("macOS:
/// ~/Library/Caches/restic").
fn quotable(text: &str, item: bool) -> bool {
    const LONG_WORDS: usize = 8;
    const ITEM_WORDS: usize = 3;
    // Link targets are not words a reader reads: a line of bare URLs (a
    // changelog entry's references) says nothing.
    let words = text
        .split_whitespace()
        .filter(|w| !(w.starts_with("http://") || w.starts_with("https://")))
        .count();
    words > 0
        && !text.ends_with('?')
        && text.chars().count() >= MIN_SENTENCE_CHARS
        && (text.ends_with(['.', '!', '"', ')', ':', ';', '”'])
            || words >= LONG_WORDS
            || (item && words >= ITEM_WORDS)
            || (item && words >= 2 && Kinds::held(text, false) != Kinds::default()))
}

struct Candidate<'a> {
    rank: usize,
    id: ChunkId,
    chunk: &'a Chunk,
    chunk_score: f32,
    /// Position of the sentence in its chunk.
    index: usize,
    span: Span,
    text: String,
    terms: Vec<String>,
    /// How well the sentence matches the question: the share of the
    /// question's weighted terms it holds, blended with its closeness in
    /// meaning where its vector is known.
    score: f32,
    /// Its closeness in meaning to the question (a cosine), when known.
    meaning: Option<f32>,
    /// The IDF-weighted share of the question's terms it holds.
    words: f32,
    /// It matches the question well enough to be quoted for its own sake.
    matches: bool,
    /// What candidates are ordered by: `score`, plus [`STATES_RELEASE`] when
    /// the question asks which release and the sentence belongs to one.
    fit: f32,
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
/// `ranked` that answer `question`. Superseded chunks are read only when
/// nothing else was found. Returns None when no sentence matches the question.
///
/// The first sentence is the best match of the best-ranked chunk that has one,
/// unless a sentence of another chunk matches clearly better: then the answer
/// leads with it. A sentence matches by the share of the question's content
/// terms it holds, weighted by their rarity in the corpus.
///
/// # Errors
///
/// Index errors.
pub fn compose(
    gen: &Generation,
    question: &str,
    question_vector: &[f32],
    ranked: &[Scored<ChunkId>],
    evidence_chunks: usize,
    max_sentences: usize,
) -> crate::Result<Option<Composed>> {
    let q_terms = super::support::weighted_terms(gen, question)?;
    let intent = crate::retrieve::recency::intent(question);
    let mut pool: Vec<(ChunkId, f32)> = evidence(ranked, evidence_chunks)
        .iter()
        .map(|s| (s.id, s.score))
        .collect();
    // A question about a whole release reads all of it: its list of changes
    // may share no word with the question.
    let whole = whole_release(gen, &intent, &q_terms, &pool)?;
    if let Some((doc, score)) = &whole {
        for (i, c) in gen.chunks.iter().enumerate() {
            let id = ChunkId(i as u64);
            if c.doc_id == *doc && !pool.iter().any(|(p, _)| *p == id) {
                pool.push((id, *score));
            }
        }
    }
    let reading = Reading {
        gen,
        vector: question_vector,
        q_terms,
        wanted: Kinds::asked(question),
        asks_release: intent.asks_release,
    };
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for (rank, &(id, chunk_score)) in pool.iter().enumerate() {
        reading.read_chunk(rank, id, chunk_score, &mut candidates)?;
    }
    if let Some(items) = whole
        .as_ref()
        .and_then(|(doc, _)| overview(doc, &reading.q_terms, &candidates))
    {
        return Ok(Some(release_overview(
            gen,
            question_vector,
            items,
            max_sentences,
        )));
    }
    let mut order: Vec<&Candidate<'_>> = candidates.iter().filter(|c| c.matches).collect();
    order.sort_by(by_fit);
    // The best match of the best-ranked chunk that has one, unless another
    // chunk's best is clearly better.
    let Some(lead) = order
        .iter()
        .copied()
        .min_by(|a, b| a.rank.cmp(&b.rank).then(by_fit(a, b)))
    else {
        return Ok(None);
    };
    let first = match order.first() {
        Some(best) if best.fit >= lead.fit + CLEARLY_BETTER => *best,
        _ => lead,
    };
    let named = reading
        .asks_release
        .then(|| naming_first(gen, first))
        .flatten();
    let opening = Opening::of(
        first,
        named.as_ref(),
        choose::quotes(question, &first.text),
        &candidates,
        max_sentences,
    );
    let mut chosen = choose(&opening, &order, &candidates, max_sentences);
    // The sentences after the first read in the order of the evidence, unless
    // the first one's own context must stay right after it.
    if !(named.is_some() || first.text.ends_with(':')) {
        if let Some(rest) = chosen.get_mut(1..) {
            rest.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.span.start.cmp(&b.span.start)));
        }
    }
    Ok(Some(assemble(&chosen)))
}

/// The answer to a question about a whole release: the sentence that names
/// the release, then its list of changes.
fn release_overview<'g>(
    gen: &'g Generation,
    question_vector: &[f32],
    items: Vec<&Candidate<'g>>,
    max_sentences: usize,
) -> Composed {
    let named = naming_sentence(gen, items[0]);
    let chosen: Vec<&Candidate<'_>> = named.iter().chain(items).take(max_sentences).collect();
    let mut composed = assemble(&chosen);
    // The question is about the release, which the naming sentence states:
    // its closeness in meaning is the answer's.
    if let Some(n) = &named {
        let m = gen.sentences.similarity(n.id, n.index, question_vector);
        composed.meaning = composed.meaning.into_iter().chain(m).reduce(f32::max);
    }
    composed
}

/// For a question that asks which release: when the first sentence comes from
/// a release but does not say which one, the release's own sentence that
/// names it, to go first ("Version 2.2.0 of Ferrule was released on
/// 2025-11-03.").
fn naming_first<'g>(gen: &'g Generation, first: &Candidate<'g>) -> Option<Candidate<'g>> {
    if first.chunk.metadata.contains_key("version") && !states_release(first.chunk, &first.text) {
        naming_sentence(gen, first)
    } else {
        None
    }
}

/// Candidates by how well they fit, then by rank and place.
fn by_fit(a: &&Candidate<'_>, b: &&Candidate<'_>) -> std::cmp::Ordering {
    b.fit
        .total_cmp(&a.fit)
        .then(a.rank.cmp(&b.rank))
        .then(a.span.start.cmp(&b.span.start))
}

/// A question as the composer reads the evidence for it.
struct Reading<'g> {
    gen: &'g Generation,
    vector: &'g [f32],
    /// Its content terms, weighted by rarity.
    q_terms: Vec<(String, f32)>,
    /// The kinds of answer it asks for (a path, a number).
    wanted: Kinds,
    /// It asks which release.
    asks_release: bool,
}

impl<'g> Reading<'g> {
    /// Adds each quotable sentence of chunk `id` (at `rank` in the pool) to
    /// `out`, with how well it answers.
    fn read_chunk(
        &self,
        rank: usize,
        id: ChunkId,
        chunk_score: f32,
        out: &mut Vec<Candidate<'g>>,
    ) -> crate::Result<()> {
        let gen = self.gen;
        let chunk = gen.chunk(id)?;
        let chars: Vec<char> = chunk.text.chars().collect();
        // What the chunk's place says (its document's title, its headings, its
        // release) holds for each of its sentences.
        let context: Vec<String> = lexical::terms(&format!(
            "{} {} {}",
            chunk.title,
            chunk.heading_path.join(" "),
            chunk.metadata.get("version").map_or("", String::as_str)
        ));
        let spans = sentences(&chunk.text);
        let last = spans.len().saturating_sub(1);
        for (i, span) in spans.iter().enumerate() {
            let text = slice(&chars, span.start, span.end);
            // A window may start or stop inside a sentence; such pieces would
            // misquote the source.
            let cut_start = i == 0 && opens_inside(gen, id, chunk).unwrap_or(continues(&text));
            let cut_end = i == last
                && !text.ends_with(['.', '!', '?', '"', ')', ':'])
                && span.end == chars.len()
                && spans.len() > 1;
            let quoted = if span.code {
                text.chars().count() >= MIN_SENTENCE_CHARS
            } else {
                quotable(&text, span.item) && !cut_start && !cut_end
            };
            if !quoted {
                continue;
            }
            if chunk.heading_path.iter().any(|h| h.trim() == text.trim()) {
                // A heading names a topic; the sentences under it say something.
                continue;
            }
            let terms = lexical::terms(&text);
            let mut present: std::collections::HashSet<String> = terms.iter().cloned().collect();
            present.extend(context.iter().cloned());
            let words = super::support::covered(&self.q_terms, &present);
            let meaning = gen.sentences.similarity(id, i, self.vector);
            let score = match meaning {
                Some(m) => WORDS_SHARE * words + (1.0 - WORDS_SHARE) * m,
                None => words,
            };
            let (matches, fit) = self.judge(chunk, span, &text, (words, meaning, score));
            out.push(Candidate {
                rank,
                id,
                chunk,
                chunk_score,
                index: i,
                span: *span,
                text,
                terms,
                words,
                score,
                meaning,
                matches,
                fit,
            });
        }
        Ok(())
    }

    /// Whether a sentence matches well enough to be quoted for its own sake,
    /// and its fit, from its word share, closeness in meaning and score.
    fn judge(
        &self,
        chunk: &Chunk,
        span: &Span,
        text: &str,
        (words, meaning, score): (f32, Option<f32>, f32),
    ) -> (bool, f32) {
        // A template ("Version 2.3.1 of Ferrule was released on ...") is
        // quoted only to name a release the question asks for.
        let matches = (words >= MIN_MATCH || meaning.is_some_and(|m| m >= MIN_MEANING))
            && (span.code
                || !self.gen.is_template(text)
                || (self.asks_release && states_release(chunk, text)));
        let kind = match self.wanted.shared(Kinds::held(text, span.code)) {
            true => HOLDS_KIND,
            false => 0.0,
        };
        let fit = kind
            + if span.code {
                // A command shows how, but prose says what it does: code
                // leads only when it matches far better.
                score * CODE_FIT
            } else if self.asks_release && chunk.metadata.contains_key("version") {
                // A release's sentence answers "which release" once the
                // release is named, which the answer then does first.
                score + STATES_RELEASE
            } else {
                score
            };
        (matches, fit)
    }
}

/// The answer quoting `chosen` in order, each sentence cited.
fn assemble(chosen: &[&Candidate<'_>]) -> Composed {
    let mut text = String::new();
    let mut citations = Vec::new();
    for (n, c) in chosen.iter().enumerate() {
        if n > 0 {
            text.push(' ');
        }
        let quoted = if c.span.code {
            c.text.trim().to_owned()
        } else {
            plain(&c.text)
        };
        text.push_str(&format!("{quoted} [{}]", n + 1));
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
    let meaning = chosen.iter().filter_map(|c| c.meaning).reduce(f32::max);
    Composed {
        text,
        citations,
        meaning,
    }
}

/// Whether `chunk` (`id`) opens inside a sentence. The first chunk of a
/// document or a section does not; another is read from the text the chunk
/// before it has just before where this one starts: a paragraph break or a
/// sentence's end means it does not ("restic is written in Go" opens a
/// paragraph in lowercase). None when no chunk holds that text.
fn opens_inside(gen: &Generation, id: ChunkId, chunk: &Chunk) -> Option<bool> {
    let start = chunk.span.0;
    if start == 0 {
        return Some(false);
    }
    let before = usize::try_from(id.0)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| gen.chunks.get(i))
        .filter(|b| b.doc_id == chunk.doc_id);
    // The first chunk of a document or of a section opens where they do.
    let Some(before) = before.filter(|b| b.heading_path == chunk.heading_path) else {
        return Some(false);
    };
    if !(before.span.0 < start && start <= before.span.1) {
        return None;
    }
    let head: String = before.text.chars().take(start - before.span.0).collect();
    let trimmed = head.trim_end_matches([' ', '\t']);
    Some(!(trimmed.ends_with("\n\n") || trimmed.trim_end().ends_with(['.', '!', '?', ':'])))
}

/// True when `text` goes on from something before it: it opens in lowercase
/// or with the punctuation that follows a word (", you need FUSE-T" of a
/// window that starts just after "On macOS").
fn continues(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c.is_lowercase() || matches!(c, ',' | ';' | ':' | ')' | ']'))
}

/// True when two sentences are the same text (overlapping windows repeat it) or
/// say nearly the same words.
fn repeats(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    if same_place(a, b) {
        return true;
    }
    let shared = a.terms.iter().filter(|t| b.terms.contains(t)).count() as f32;
    let smaller = a.terms.len().min(b.terms.len()).max(1) as f32;
    shared / smaller > REPEAT_OVERLAP
}

/// True for a sentence that speaks of the code before it: "the example",
/// "this command", "these paths", "the above"; or that opens by referring
/// back ("This prints the snapshots ...", "These lines ...") or in lowercase,
/// going on with the sentence that introduced the code ("... e.g.:" /
/// `restic backup --one-file-system / /media/usb` / "will back up both").
/// Only a sentence right after code brings it along.
fn points_back(text: &str) -> bool {
    let t = text.to_lowercase();
    let first_word = t
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    text.starts_with(char::is_lowercase)
        || ["this", "these"].contains(&first_word)
        || [
            "the example",
            "this example",
            "the command above",
            "this command",
            "these paths",
            "these settings",
            "the above",
        ]
        .iter()
        .any(|p| t.contains(p))
}

/// True when `a` and `b` quote overlapping text of one document, or the same
/// words.
fn same_place(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    let overlap = a.chunk.doc_id == b.chunk.doc_id
        && a.chunk.span.0 + a.span.start < b.chunk.span.0 + b.span.end
        && b.chunk.span.0 + b.span.start < a.chunk.span.0 + a.span.end;
    overlap || a.text == b.text
}

#[cfg(test)]
mod tests;
