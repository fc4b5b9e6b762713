//! Releases in answers: a question about a whole release, and the sentence
//! that names the release a quoted sentence belongs to.

use super::*;

/// Words of a question that ask about a release as a whole rather than about
/// something in it.
const WHOLE_RELEASE_WORDS: &str = "release releases version versions new news change changes \
    changed fix fixes fixed add adds added get got happen happened contain contains included \
    include includes notes changelog what's whats latest newest recent current last";

/// "What's in 0.16.5?", "What got fixed in restic 0.17.3?", "what's new in
/// the latest release": a question that names a release, or asks for the
/// latest, and asks nothing narrower is about the whole release; so is one
/// that asks for a newer release than one it names. Its
/// document, and the score of its best chunk in `pool`; None for any other
/// question.
pub(super) fn whole_release(
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
        // (and "I'm on 0.17.3, anything newer?") the best-ranked one, which the
        // ranking made the newest.
        let named = if intent.versions.is_empty() || intent.beyond {
            release.metadata.contains_key("version")
        } else {
            intent.names_release_of(release)
        };
        if !named {
            continue;
        }
        let whole = intent.beyond || about_whole(q_terms.iter().map(|t| t.0.as_str()), release);
        return Ok(whole.then(|| (release.doc_id.clone(), score)));
    }
    Ok(None)
}

/// True when a question of the content terms `q_terms` asks about `release`
/// as a whole: it has no term besides [`WHOLE_RELEASE_WORDS`] and those of the
/// release's title and version ("what got fixed in restic 0.17.3").
pub(in crate::answer) fn about_whole<'t>(
    mut q_terms: impl Iterator<Item = &'t str>,
    release: &Chunk,
) -> bool {
    let mut known = lexical::terms(WHOLE_RELEASE_WORDS);
    known.extend(lexical::terms(&format!(
        "{} {}",
        release.title,
        release.metadata.get("version").map_or("", String::as_str)
    )));
    q_terms.all(|t| known.iter().any(|k| k == t))
}

/// A whole release's answer: its list of changes in the order written (a
/// summary comes first), items under a heading the question names ("fixed":
/// Fixed) first. None when `candidates` hold no list item of `doc`.
pub(super) fn overview<'c, 'g>(
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
pub(super) fn naming_sentence<'g>(
    gen: &'g Generation,
    of: &Candidate<'g>,
) -> Option<Candidate<'g>> {
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
pub(super) fn states_release(chunk: &Chunk, sentence: &str) -> bool {
    chunk
        .metadata
        .get("version")
        .is_some_and(|v| sentence.contains(v.as_str()))
        || chunk
            .date
            .filter(|_| !chunk.file_dated)
            .is_some_and(|d| sentence.contains(&d.to_string()))
}
