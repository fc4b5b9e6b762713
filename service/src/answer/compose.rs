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

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use crate::index::{lexical, ChunkId, Generation};
use crate::ingest::sentence::{plain, sentences, slice, Span};
use crate::ingest::{Chunk, DocId};
use crate::retrieve::Scored;

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
        let named = naming_sentence(gen, items[0]);
        let chosen: Vec<&Candidate<'_>> = named.iter().chain(items).take(max_sentences).collect();
        let mut composed = assemble(&chosen);
        // The question is about the release, which the naming sentence states:
        // its closeness in meaning is the answer's.
        if let Some(n) = &named {
            let m = gen.sentences.similarity(n.id, n.index, question_vector);
            composed.meaning = composed.meaning.into_iter().chain(m).reduce(f32::max);
        }
        return Ok(Some(composed));
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
    // A sentence of a release that does not say which release it is, for a
    // question that asks which: the release's own sentence that names it goes
    // first ("Version 2.2.0 of Ferrule was released on 2025-11-03.").
    let named = if reading.asks_release
        && first.chunk.metadata.contains_key("version")
        && !states_release(first.chunk, &first.text)
    {
        naming_sentence(gen, first)
    } else {
        None
    };
    let opening = Opening::of(first, named.as_ref(), &candidates, max_sentences);
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

/// What an answer opens with: the sentence that names the release (when the
/// first needs one), the first sentence, and what it brings along.
struct Opening<'c, 'g> {
    first: &'c Candidate<'g>,
    /// The sentences the first one introduces (it ends in a colon).
    introduced: Vec<&'c Candidate<'g>>,
    /// In order: the naming sentence, the first, then what follows it.
    sentences: Vec<&'c Candidate<'g>>,
}

impl<'c, 'g> Opening<'c, 'g> {
    fn of(
        first: &'c Candidate<'g>,
        named: Option<&'c Candidate<'g>>,
        candidates: &'c [Candidate<'g>],
        max_sentences: usize,
    ) -> Opening<'c, 'g> {
        // The next sentence of the same paragraph usually goes on with the first one's
        // point ("A retention policy decides how long snapshots are kept. The default
        // policy keeps 7 daily ..."), so it follows the first when it shares a term
        // with the question.
        let continuation = candidates.iter().find(|c| {
            c.rank == first.rank && c.index == first.index + 1 && c.words > 0.0 && {
                let between: String = first
                    .chunk
                    .text
                    .chars()
                    .skip(first.span.end)
                    .take(c.span.start - first.span.end)
                    .collect();
                !between.contains("\n\n")
            }
        });
        // A sentence that ends in a colon introduces what follows it ("The default
        // policy keeps:"), a list or a command, which is the answer itself.
        let introduced: Vec<&Candidate<'_>> = if first.text.ends_with(':') {
            let mut chars = 0;
            (1..)
                .map_while(|step| {
                    candidates.iter().find(|c| {
                        c.rank == first.rank
                            && c.index == first.index + step
                            && (step == 1 || c.span.item || c.span.code)
                    })
                })
                .enumerate()
                .take_while(|(n, c)| {
                    chars += c.text.chars().count();
                    n + 1 < max_sentences || chars <= INTRODUCED_CHARS
                })
                .map(|(_, c)| c)
                .collect()
        } else {
            Vec::new()
        };
        let follow: Vec<&Candidate<'_>> = if introduced.is_empty() {
            continuation.into_iter().collect()
        } else {
            introduced.clone()
        };
        let sentences = named
            .into_iter()
            .chain(std::iter::once(first))
            .chain(follow)
            .collect();
        Opening {
            first,
            introduced,
            sentences,
        }
    }

    /// Whether `c` is placed for the first sentence's sake.
    fn places(&self, c: &Candidate<'_>) -> bool {
        self.sentences.iter().any(|o| std::ptr::eq(*o, c))
    }

    fn introduces(&self, c: &Candidate<'_>) -> bool {
        self.introduced.iter().any(|i| std::ptr::eq(*i, c))
    }
}

/// The sentences of the answer: the opening, then the best of the rest (each
/// at least [`RELATIVE_FLOOR`] of the first's score), up to `max_sentences`,
/// without repeats, each with what it needs to be understood.
fn choose<'c, 'g>(
    opening: &Opening<'c, 'g>,
    order: &[&'c Candidate<'g>],
    candidates: &'c [Candidate<'g>],
    max_sentences: usize,
) -> Vec<&'c Candidate<'g>> {
    let first = opening.first;
    let mut chosen: Vec<&Candidate<'_>> = Vec::new();
    for c in opening.sentences.iter().copied().chain(
        order
            .iter()
            .copied()
            .filter(|c| c.score >= RELATIVE_FLOOR * first.score),
    ) {
        let introduced_by_first = opening.introduces(c);
        if chosen.len() >= max_sentences && !introduced_by_first {
            break;
        }
        if !fits(&chosen, c, opening.places(c)) {
            continue;
        }
        // A sentence about the code just before it ("The example runs at
        // 01:30 on weekdays", "... at these paths") comes with that code.
        if points_back(&c.text) && !introduced_by_first {
            let code: Vec<&Candidate<'_>> = (1..=c.index)
                .map_while(|back| {
                    candidates
                        .iter()
                        .find(|p| p.rank == c.rank && p.index + back == c.index && p.span.code)
                })
                .collect();
            if !code.is_empty() {
                chosen.push(c);
                for p in code.into_iter().rev() {
                    if fits(&chosen, p, true) {
                        chosen.push(p);
                    }
                }
                continue;
            }
        }
        // Any other sentence that ends in a colon says only "as follows":
        // what it introduces comes with it, one past the limit if need be,
        // or the sentence is left out. Of a list, that is the item that
        // fits the question best.
        if c.text.ends_with(':') && !std::ptr::eq(c, first) && !introduced_by_first {
            let mut after = (1..).map_while(|step| {
                candidates
                    .iter()
                    .find(|n| n.rank == c.rank && n.index == c.index + step)
            });
            let next = match after.next() {
                Some(n) if n.span.item => std::iter::once(n)
                    .chain(after.take_while(|n| n.span.item))
                    .max_by(|a, b| a.fit.total_cmp(&b.fit).then(b.index.cmp(&a.index))),
                other => other,
            };
            if let Some(n) = next.filter(|n| fits(&chosen, n, true)) {
                chosen.push(c);
                chosen.push(n);
            }
            continue;
        }
        chosen.push(c);
    }
    chosen
}

/// Whether `c` may join `chosen`. What the first sentence brings along (the
/// release's name, what it introduces) is `placed` for its sake: it may share
/// the first sentence's words ("export a recovery key:" and the command that
/// does), so only a quote of the same place is a repeat.
fn fits(chosen: &[&Candidate<'_>], c: &Candidate<'_>, placed: bool) -> bool {
    !chosen.iter().any(|k| match placed {
        true => same_place(k, c),
        false => repeats(k, c),
    })
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

/// Words of a question that ask about a release as a whole rather than about
/// something in it.
const WHOLE_RELEASE_WORDS: &str = "release releases version versions new news change changes \
    changed fix fixes fixed add adds added get got happen happened contain contains included \
    include includes notes changelog what's whats latest newest recent current last";

/// "What's in 0.16.5?", "What got fixed in restic 0.17.3?", "what's new in
/// the latest release": a question that names a release, or asks for the
/// latest, and asks nothing narrower is about the whole release. Its
/// document, and the score of its best chunk in `pool`; None for any other
/// question.
fn whole_release(
    gen: &Generation,
    intent: &crate::retrieve::recency::Intent,
    q_terms: &[(String, f32)],
    pool: &[(ChunkId, f32)],
) -> crate::Result<Option<(DocId, f32)>> {
    if intent.versions.is_empty() && !intent.latest {
        return Ok(None);
    }
    for &(id, score) in pool {
        let release = gen.chunk(id)?;
        // The release it names, or for "what's new in the latest release"
        // the best-ranked one, which the ranking made the newest.
        let named = if intent.versions.is_empty() {
            release.metadata.contains_key("version")
        } else {
            intent.names_release_of(release)
        };
        if !named {
            continue;
        }
        let mut known = lexical::terms(WHOLE_RELEASE_WORDS);
        known.extend(lexical::terms(&format!(
            "{} {}",
            release.title,
            release.metadata.get("version").map_or("", String::as_str)
        )));
        let whole = q_terms.iter().all(|(t, _)| known.contains(t));
        return Ok(whole.then(|| (release.doc_id.clone(), score)));
    }
    Ok(None)
}

/// A whole release's answer: its list of changes in the order written (a
/// summary comes first), items under a heading the question names ("fixed":
/// Fixed) first. None when `candidates` hold no list item of `doc`.
fn overview<'c, 'g>(
    doc: &DocId,
    q_terms: &[(String, f32)],
    candidates: &'c [Candidate<'g>],
) -> Option<Vec<&'c Candidate<'g>>> {
    let named_heading = |c: &Candidate<'_>| {
        lexical::terms(&c.chunk.heading_path.join(" "))
            .iter()
            .any(|h| q_terms.iter().any(|(t, _)| t == h))
    };
    let mut items: Vec<&Candidate<'g>> = candidates
        .iter()
        .filter(|c| c.chunk.doc_id == *doc && c.span.item)
        .collect();
    items.sort_by_key(|c| (!named_heading(c), c.chunk.span.0 + c.span.start));
    let mut distinct: Vec<&Candidate<'g>> = Vec::new();
    for c in items {
        if !distinct.iter().any(|k| repeats(k, c)) {
            distinct.push(c);
        }
    }
    (!distinct.is_empty()).then_some(distinct)
}

/// The first sentence of `of`'s document that names its release (a release
/// document opens with one), as a candidate that goes with `of`.
fn naming_sentence<'g>(gen: &'g Generation, of: &Candidate<'g>) -> Option<Candidate<'g>> {
    let (id, chunk) = gen
        .chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.doc_id == of.chunk.doc_id)
        .min_by_key(|(_, c)| c.span.0)?;
    let chars: Vec<char> = chunk.text.chars().collect();
    sentences(&chunk.text)
        .into_iter()
        .enumerate()
        .map(|(index, span)| (index, span, slice(&chars, span.start, span.end)))
        .find(|(_, _, text)| states_release(chunk, text))
        .map(|(index, span, text)| Candidate {
            rank: of.rank,
            id: ChunkId(id as u64),
            chunk,
            chunk_score: of.chunk_score,
            index,
            span,
            terms: lexical::terms(&text),
            text,
            score: of.score,
            meaning: None,
            words: of.words,
            matches: true,
            fit: of.fit,
        })
}

/// True when `sentence` names the release its chunk belongs to: the
/// document's version, or its date.
fn states_release(chunk: &Chunk, sentence: &str) -> bool {
    chunk
        .metadata
        .get("version")
        .is_some_and(|v| sentence.contains(v.as_str()))
        || chunk
            .date
            .filter(|_| !chunk.file_dated)
            .is_some_and(|d| sentence.contains(&d.to_string()))
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
/// "this command", "these paths", "the above".
fn points_back(text: &str) -> bool {
    let t = text.to_lowercase();
    [
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

/// Kinds of things an answer can hold: a path, a number, an option or a
/// command.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Kinds {
    path: bool,
    number: bool,
    option: bool,
}

impl Kinds {
    /// What a question asks for, by how it asks: "where" wants a path, "how
    /// many", "how long", "when" and "what port" a number, "which option" or
    /// "what command" an option or a command.
    fn asked(question: &str) -> Kinds {
        let q = question.to_lowercase();
        let words: Vec<&str> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has = |w: &str| words.contains(&w);
        let follows =
            |a: &str, b: &[&str]| words.windows(2).any(|p| p[0] == a && b.contains(&p[1]));
        Kinds {
            path: has("where") || has("path") || has("directory") || has("folder"),
            number: follows("how", &["many", "much", "long", "big", "large", "often", "old"])
                // "When does ..." asks a time; "shows when a job ran" does not.
                || words.first() == Some(&"when")
                || has("port")
                || has("timeout")
                || has("size"),
            option: ["which", "what"].iter().any(|w| {
                follows(
                    w,
                    &["option", "options", "flag", "flags", "switch", "command"],
                )
            }),
        }
    }

    /// What a sentence holds: a path (`/etc/x`, not a URL), a number, an
    /// option (`--dry-run`) or, for a line of code, a command.
    fn held(text: &str, code: bool) -> Kinds {
        let tokens = || {
            text.split_whitespace()
                .map(|t| t.trim_matches(|c: char| ",.;:()`'\"".contains(c)))
        };
        Kinds {
            path: tokens().any(|t| {
                t.len() > 1
                    && t.contains('/')
                    && !t.contains("://")
                    && t.chars().any(char::is_alphabetic)
            }),
            number: text.chars().any(|c| c.is_ascii_digit()),
            option: code || tokens().any(|t| t.len() > 2 && t.starts_with("--")),
        }
    }

    /// Whether `held` has any kind this asks for.
    fn shared(self, held: Kinds) -> bool {
        (self.path && held.path) || (self.number && held.number) || (self.option && held.option)
    }
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
mod tests {
    use super::*;
    use crate::index::{build, BuildInput, CorpusStore, Mode, Sentences, VectorBackend};
    use crate::ingest::Document;

    /// The answer composed for `question` from one document of `text`, with
    /// every chunk ranked in order.
    fn answer(text: &str, question: &str) -> crate::Result<String> {
        let doc = Document::plain("guide".into(), "Guide".into(), text.to_owned());
        answer_from(doc, question)
    }

    /// The answer composed for `question` from `doc`, every chunk ranked in
    /// order.
    fn answer_from(doc: Document, question: &str) -> crate::Result<String> {
        let e = crate::test_utils::embedder();
        let chunker = crate::ingest::chunk::Chunker::from_file(
            e.tokenizer_path(),
            crate::config::Chunking::default(),
        )?;
        let dir = tempfile::tempdir().unwrap();
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
        let bytes = doc.text();
        let input = BuildInput::new(
            doc.id.0.clone(),
            bytes.as_bytes(),
            Box::new(move || Ok(vec![doc.clone()])),
        );
        build(
            &store,
            vec![input],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
        let gen = store.open_current()?;
        let ranked: Vec<Scored<ChunkId>> = (0..gen.chunks.len())
            .map(|i| Scored {
                id: ChunkId(i as u64),
                bm25: None,
                dense: None,
                score: 1.0 - i as f32 * 0.01,
                recency: None,
                superseded: false,
            })
            .collect();
        let composed = compose(&gen, question, &e.embed_one(question)?, &ranked, 4, 3)?;
        Ok(composed.map(|c| c.text).unwrap_or_default())
    }

    #[test]
    fn what_a_colon_introduces_comes_with_it() -> crate::Result<()> {
        // A sentence that ends in a colon, not the first one chosen: its
        // command follows it.
        let a = answer(
            "A reload applies most settings of the configuration file without stopping jobs. \
             Always check the configuration file before a reload:\n\n    ferrule config check\n\n\
             Changes to the listen address need a full restart.",
            "How do I check the configuration file before a reload?",
        )?;
        assert!(
            a.contains("before a reload: [1] ferrule config check [2]")
                || a.contains("before a reload: [2] ferrule config check [3]"),
            "{a}"
        );
        // A command that shares the introducing sentence's words is not a
        // repeat of it.
        let a = answer(
            "Right after ferrule init, export a recovery key:\n\n    \
             ferrule key export --out ferrule-recovery.key\n\nThe recovery key decrypts the repository on its own.",
            "How do I export a recovery key?",
        )?;
        assert!(
            a.contains(
                "export a recovery key: [1] ferrule key export --out ferrule-recovery.key [2]"
            ),
            "{a}"
        );
        // A list introduced by the first sentence comes whole, past the three
        // sentences an answer has.
        let a = answer(
            "The default retention policy keeps:\n\n- 7 daily snapshots,\n- 4 weekly snapshots,\n\
             - 12 monthly snapshots,\n- 0 yearly snapshots.\n\nOlder snapshots are pruned every night.",
            "Which snapshots does the default retention policy keep?",
        )?;
        assert!(
            a.starts_with("The default retention policy keeps: [1]")
                && a.contains("12 monthly snapshots")
                && a.contains("0 yearly snapshots. [5]"),
            "{a}"
        );
        Ok(())
    }

    #[test]
    fn a_sentence_about_the_code_before_it_brings_the_code() -> crate::Result<()> {
        let a = answer(
            "Backups follow a cron expression that you may change.\n\n    \
             cron = \"30 1 * * 1-5\"\n\n\
             The example runs the nightly job at 01:30 on weekdays. Times follow the server's zone.",
            "When does the nightly job run on weekdays?",
        )?;
        assert!(
            a.contains("The example runs the nightly job at 01:30 on weekdays. [1] cron = \"30 1 * * 1-5\" [2]"),
            "{a}"
        );
        Ok(())
    }

    #[test]
    fn a_section_that_opens_in_lowercase_is_quoted() -> crate::Result<()> {
        let section = |heading: &str, text: &str| crate::ingest::Section {
            heading_path: vec![heading.to_owned()],
            page: None,
            text: text.to_owned(),
        };
        let mut doc = Document::plain("install".into(), "Installation".into(), String::new());
        doc.sections = vec![
            section(
                "Packages",
                "Packages exist for Debian and Fedora. Install them with the package manager.",
            ),
            section(
                "From source",
                "restic is written in Go, and you need at least Go version 1.25 to build it.",
            ),
        ];
        let a = answer_from(doc, "Which Go version do I need to build restic?")?;
        assert!(a.contains("at least Go version 1.25"), "{a}");
        Ok(())
    }

    #[test]
    fn a_question_asks_for_a_kind_that_sentences_hold() {
        let asked = |q: &str| {
            let k = Kinds::asked(q);
            (k.path, k.number, k.option)
        };
        assert_eq!(
            asked("Where does the install script put the files?"),
            (true, false, false)
        );
        assert_eq!(
            asked("How many monthly snapshots are kept?"),
            (false, true, false)
        );
        assert_eq!(
            asked("When does the nightly prune run?"),
            (false, true, false)
        );
        assert_eq!(asked("ferrule port?"), (false, true, false));
        assert_eq!(
            asked("Which option removes the program?"),
            (false, false, true)
        );
        // A "when" inside the question, and a command it names, ask nothing.
        assert_eq!(
            asked("Which metric shows when a job last succeeded?"),
            (false, false, false)
        );
        assert_eq!(
            asked("What release shipped the dump command?"),
            (false, false, false)
        );

        let held = |t: &str, code: bool| {
            let k = Kinds::held(t, code);
            (k.path, k.number, k.option)
        };
        assert_eq!(
            held("The script installs it under `/opt/ferrule`.", false),
            (true, false, false)
        );
        assert_eq!(
            held("See https://example.com/docs for more.", false),
            (false, false, false)
        );
        assert_eq!(held("Pack files are 64 MiB.", false), (false, true, false));
        assert_eq!(
            held("--uninstall removes the program files.", false),
            (false, false, true)
        );
        assert_eq!(held("ferrule config check", true), (false, false, true));
        assert!(Kinds::asked("Where is it?").shared(Kinds::held("In /srv/x.", false)));
        assert!(!Kinds::asked("Where is it?").shared(Kinds::held("It has 3 parts.", false)));
    }

    #[test]
    fn a_piece_that_goes_on_from_a_cut_is_recognised() {
        for cut in [
            ", you need FUSE-T.",
            "you need FUSE-T.",
            "; then run it.",
            ") and more.",
        ] {
            assert!(super::continues(cut), "{cut}");
        }
        for whole in [
            "On macOS, you need FUSE-T.",
            "(See the guide.)",
            "2 GB at least.",
            "`restic mount` needs FUSE.",
        ] {
            assert!(!super::continues(whole), "{whole}");
        }
    }

    #[test]
    fn headings_questions_and_fragments_are_not_quotable() {
        assert!(quotable("Restores always run at full speed.", false));
        assert!(!quotable("Backing up a database", false));
        assert!(quotable("Backing up a database", true));
        // A two-word item stands when it names something concrete.
        assert!(quotable("macOS: ~/Library/Caches/restic", true));
        assert!(!quotable("macOS: Homebrew", true));
        assert!(!quotable("macOS: ~/Library/Caches/restic", false));
        assert!(!quotable(
            "Can Ferrule back up laptops that are often offline?",
            false
        ));
        assert!(!quotable("Yes.", false));
        // A changelog entry's references.
        assert!(!quotable(
            "https://github.com/restic/restic/issues/5107 https://github.com/restic/restic/pull/5110",
            false
        ));
        assert!(quotable(
            "The limit applies to uploads only and restores run at full speed",
            false
        ));
    }
}
