//! Recency-aware re-ranking: a decay on document age blended with relevance,
//! temporal intent read from the question, and supersession within a series.
//!
//! Works on an already fused ranking and the chunk table; it never searches and
//! knows nothing about answers. "Today" is passed in, so results are reproducible.

mod intent;

use std::collections::HashMap;

use chrono::NaiveDate;

use super::Scored;
use crate::config::Recency;
use crate::index::{ChunkId, Generation};
use crate::ingest::Chunk;

pub use self::intent::{intent, unreleased, Intent, VersionBound};

/// Recency weight used when the question asks for the latest or current state.
pub const LATEST_WEIGHT: f64 = 0.5;

/// Weight of a release entry's age, older first, when the question asks which
/// release began something.
pub const ORIGIN_WEIGHT: f64 = 0.2;

/// Factor applied to the relevance of a chunk whose document a newer version in
/// the same series supersedes.
pub const SUPERSEDED_FACTOR: f32 = 0.5;

/// Factor applied to the relevance of a release series' entry when the
/// question is not about releases, changes or time, and to that of any other
/// passage when the question asks which release did something.
pub const RELEASE_ENTRY_FACTOR: f32 = 0.5;

/// Chunks the question points at by itself, whether or not the searches found
/// them: those of the releases it names by version, and, when it asks for the
/// latest release, those of each series' newest release on or before `today`.
/// A release's list of changes may share no word with "what's new in 0.17?".
pub fn implied(gen: &Generation, intent: &Intent, today: NaiveDate) -> Vec<ChunkId> {
    let newest = intent.latest && intent.asks_release;
    if !newest && intent.versions.is_empty() {
        return Vec::new();
    }
    gen.chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            intent.names_release_of(c)
                || (newest
                    && c.metadata.contains_key("version")
                    && gen.newest_by_version(c).unwrap_or_else(|| {
                        matches!((&c.series, c.date), (Some(series), Some(date))
                            if gen.newest_in_series(series, today) == Some(date))
                    }))
        })
        .map(|(i, _)| ChunkId(i as u64))
        .collect()
}

/// The recency factor of a document dated `date` on `today`: 1 for today, halving
/// every `half_life_days`; 0 for undated documents, whose age is unknown.
pub fn factor(date: Option<NaiveDate>, today: NaiveDate, half_life_days: f64) -> f32 {
    match date {
        Some(d) => {
            let age = (today - d).num_days().max(0) as f64;
            0.5f64.powf(age / half_life_days) as f32
        }
        None => 0.0,
    }
}

/// Re-ranks fused chunks: relevance is scaled to [0, 1] over the candidates, then
/// blended with the recency factor. Unless the question asks about history, chunks
/// of superseded versions are demoted and placed below the newest version's best
/// chunk: older versions of the same document, and, when the question asks for
/// the latest state, older entries of a dated series. Sorted by the new score,
/// then id.
pub fn rerank(
    gen: &Generation,
    mut ranked: Vec<Scored<ChunkId>>,
    settings: &Recency,
    intent: Intent,
    today: NaiveDate,
) -> Vec<Scored<ChunkId>> {
    let (lo, hi) = ranked
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.score), hi.max(s.score))
        });
    let blend = Blend {
        gen,
        intent: &intent,
        today,
        half_life_days: settings.half_life_days,
        weight: recency_weight(settings, &intent),
        lo,
        span: (hi - lo).max(f32::EPSILON),
    };
    for s in &mut ranked {
        blend.rescore(s);
    }
    // The demotion alone cannot promise the order: an old version may be far more
    // relevant. Where the newest version is among the candidates, an old version
    // ranks just below its best chunk.
    below_newest(gen, &mut ranked, intent.latest);
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    ranked
}

/// How much recency counts against relevance for this question.
fn recency_weight(settings: &Recency, intent: &Intent) -> f32 {
    let weight = if intent.latest {
        settings.weight.max(LATEST_WEIGHT)
    } else if intent.origin {
        ORIGIN_WEIGHT
    } else if intent.asks_release {
        // "Which release fixed X" is answered by the release that holds X,
        // whatever its age.
        0.0
    } else {
        settings.weight
    };
    weight as f32
}

/// What a candidate's new score is made of, besides the candidate.
struct Blend<'a> {
    gen: &'a Generation,
    intent: &'a Intent,
    today: NaiveDate,
    half_life_days: f64,
    /// The recency weight.
    weight: f32,
    /// The lowest fused score and the span up to the highest, which scale
    /// relevance to [0, 1].
    lo: f32,
    span: f32,
}

impl Blend<'_> {
    /// Scores one candidate: its scaled relevance, demoted when superseded or
    /// off the question's subject, blended with its age.
    fn rescore(&self, s: &mut Scored<ChunkId>) {
        let intent = self.intent;
        let Some(chunk) = self.gen.chunks.get(s.id.0 as usize) else {
            return;
        };
        // The latest state is what documents say of their own dates; a file's
        // modification time says when it was copied.
        let date = chunk.date.filter(|_| !(intent.latest && chunk.file_dated));
        let r = factor(date, self.today, self.half_life_days);
        let mut relevance = (s.score - self.lo) / self.span;
        let by_version = self.gen.newest_by_version(chunk).filter(|_| intent.latest);
        if let Some(newest) = by_version {
            // Undated releases leave their versions to tell the newest.
            s.superseded = !newest;
        } else if !intent.history || intent.latest {
            if let Some(date) = chunk.date {
                // A question about the latest state is about the newest entry of
                // a dated series (a changelog's newest release); otherwise only
                // newer versions of the same document supersede it. A version
                // dated after `today` (an as-of question) supersedes nothing.
                let newest = match &chunk.series {
                    Some(series) if intent.latest => self.gen.newest_in_series(series, self.today),
                    _ => self.gen.newest_version(chunk, self.today),
                };
                s.superseded = newest.is_some_and(|n| n > date);
            }
        }
        if s.superseded {
            relevance *= SUPERSEDED_FACTOR;
        }
        // An entry of a release series tells what changed in a release; a
        // question that asks neither about releases nor about changes is
        // better answered by the documents that describe how things are, and
        // one that asks which release did something by the release entries.
        let release_entry = chunk.series.is_some() && !chunk.entry_key().is_empty();
        let about_releases =
            intent.asks_release || intent.history || intent.latest || !intent.versions.is_empty();
        if (release_entry && !about_releases) || (!release_entry && intent.asks_release) {
            relevance *= RELEASE_ENTRY_FACTOR;
        }
        // A release the question names by its version outranks every other
        // passage: "what changed in 0.17.3" is about that release. One it
        // names to ask for a newer one ("I'm on 0.17.3, anything newer?") is
        // only where the asker stands.
        if intent.names_release_of(chunk) && !intent.beyond {
            relevance += 1.0;
        }
        s.recency = Some(r);
        // Asked which release began something, an older release entry ranks
        // higher; other passages get nothing for their age.
        let age = match (intent.origin, release_entry) {
            (true, true) => 1.0 - r,
            (true, false) => 0.0,
            (false, _) => r,
        };
        s.score = (1.0 - self.weight) * relevance + self.weight * age;
    }
}

/// Caps each superseded candidate's score just below the best current one of
/// its series (or, unless `latest`, of its series entry).
fn below_newest<'g>(gen: &'g Generation, ranked: &mut [Scored<ChunkId>], latest: bool) {
    let identity = |c: &'g Chunk| -> Option<(&'g str, &'g str)> {
        let series = c.series.as_deref()?;
        Some((series, if latest { "" } else { c.entry_key() }))
    };
    let mut best_current: HashMap<(&str, &str), f32> = HashMap::new();
    for s in ranked.iter().filter(|s| !s.superseded) {
        if let Some(id) = gen.chunks.get(s.id.0 as usize).and_then(identity) {
            let b = best_current.entry(id).or_insert(s.score);
            *b = b.max(s.score);
        }
    }
    for s in ranked.iter_mut().filter(|s| s.superseded) {
        if let Some(&best) = gen
            .chunks
            .get(s.id.0 as usize)
            .and_then(identity)
            .and_then(|id| best_current.get(&id))
        {
            s.score = s.score.min(best.next_down());
        }
    }
}

#[cfg(test)]
mod tests;
