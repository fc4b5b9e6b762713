//! Recency-aware re-ranking: a decay on document age blended with relevance,
//! temporal intent read from the question, and supersession within a series.
//!
//! Works on an already fused ranking and the chunk table; it never searches and
//! knows nothing about answers. "Today" is passed in, so results are reproducible.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::Scored;
use crate::config::Recency;
use crate::index::{ChunkId, Generation};

/// Recency weight used when the question asks for the latest or current state.
pub const LATEST_WEIGHT: f64 = 0.5;

/// Factor applied to the relevance of a chunk whose document a newer version in
/// the same series supersedes.
pub const SUPERSEDED_FACTOR: f32 = 0.5;

/// What the question says about time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Intent {
    /// "latest", "current", "newest", "most recent", "up to date", "now".
    pub latest: bool,
    /// "history", "previous", "older", "earlier", "changed", "used to", "which
    /// version", "when was": older versions stay in play.
    pub history: bool,
    /// "as of 2023", "in 2019", "before 2020": documents dated after this day are
    /// out of bounds.
    pub not_after: Option<NaiveDate>,
}

const LATEST_WORDS: [&str; 6] = ["latest", "current", "currently", "newest", "now", "recent"];
const HISTORY_WORDS: [&str; 7] = [
    "history",
    "historical",
    "previous",
    "previously",
    "older",
    "earlier",
    "changed",
];

/// Phrases that ask when something happened or which version did it. ("What
/// version do I need" asks about now, so "what version" is not one.)
const HISTORY_PHRASES: [&str; 5] = [
    "used to",
    "which version",
    "which release",
    "when was",
    "when did",
];

/// Reads temporal intent from a question.
pub fn intent(question: &str) -> Intent {
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    let mut not_after = None;
    for pair in words
        .windows(3)
        .map(|w| (w[0], w[1], w[2]))
        .chain(words.windows(2).map(|w| ("", w[0], w[1])))
    {
        let year = |s: &str| s.parse::<i32>().ok().filter(|y| (1900..=2999).contains(y));
        let bound = match pair {
            ("as", "of", y) | ("", "in", y) | ("", "during", y) => {
                year(y).and_then(|y| NaiveDate::from_ymd_opt(y, 12, 31))
            }
            ("", "before", y) => year(y).and_then(|y| NaiveDate::from_ymd_opt(y - 1, 12, 31)),
            _ => None,
        };
        if bound.is_some() {
            not_after = bound;
            break;
        }
    }
    Intent {
        latest: has(&LATEST_WORDS) || lower.contains("up to date") || lower.contains("up-to-date"),
        history: has(&HISTORY_WORDS) || HISTORY_PHRASES.iter().any(|p| lower.contains(p)),
        not_after,
    }
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
/// chunk. Sorted by the new score, then id.
pub fn rerank(
    gen: &Generation,
    mut ranked: Vec<Scored<ChunkId>>,
    settings: &Recency,
    intent: Intent,
    today: NaiveDate,
) -> Vec<Scored<ChunkId>> {
    let weight = if intent.latest {
        settings.weight.max(LATEST_WEIGHT)
    } else {
        settings.weight
    } as f32;
    let (lo, hi) = ranked
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.score), hi.max(s.score))
        });
    let span = (hi - lo).max(f32::EPSILON);
    for s in &mut ranked {
        let Some(chunk) = gen.chunks.get(s.id.0 as usize) else {
            continue;
        };
        let r = factor(chunk.date, today, settings.half_life_days);
        let mut relevance = (s.score - lo) / span;
        if !intent.history {
            if let (Some(series), Some(date)) = (&chunk.series, chunk.date) {
                // A version dated after `today` (an as-of question) supersedes nothing.
                s.superseded = gen
                    .newest_in_series(series, today)
                    .is_some_and(|n| n > date);
            }
        }
        if s.superseded {
            relevance *= SUPERSEDED_FACTOR;
        }
        s.recency = Some(r);
        s.score = (1.0 - weight) * relevance + weight * r;
    }
    // The demotion alone cannot promise the order: an old version may be far more
    // relevant. Where the newest version is among the candidates, an old version
    // ranks just below its best chunk.
    let mut best_current: HashMap<&str, f32> = HashMap::new();
    for s in ranked.iter().filter(|s| !s.superseded) {
        if let Some(series) = gen
            .chunks
            .get(s.id.0 as usize)
            .and_then(|c| c.series.as_deref())
        {
            let b = best_current.entry(series).or_insert(s.score);
            *b = b.max(s.score);
        }
    }
    for s in ranked.iter_mut().filter(|s| s.superseded) {
        if let Some(&best) = gen
            .chunks
            .get(s.id.0 as usize)
            .and_then(|c| c.series.as_deref())
            .and_then(|x| best_current.get(x))
        {
            s.score = s.score.min(best.next_down());
        }
    }
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn intent_reads_latest_history_and_year_bounds() {
        assert!(intent("What is the latest install procedure?").latest);
        assert!(intent("How do I do it now").latest);
        assert!(!intent("How do I install it?").latest);
        assert!(intent("How did the retention policy change historically? history please").history);
        assert!(intent("Which version added S3 storage?").history);
        assert!(intent("When was encryption introduced?").history);
        assert!(!intent("How do I encrypt backups?").history);
        assert!(!intent("What version of PostgreSQL do I need?").history);
        assert_eq!(
            intent("What was the default as of 2023?").not_after,
            Some(d(2023, 12, 31))
        );
        assert_eq!(
            intent("Which port was used in 2019").not_after,
            Some(d(2019, 12, 31))
        );
        assert_eq!(
            intent("settings before 2020").not_after,
            Some(d(2019, 12, 31))
        );
        assert_eq!(intent("in 12 steps").not_after, None);
    }

    #[test]
    fn factor_halves_every_half_life_and_is_zero_for_undated() {
        let today = d(2026, 1, 1);
        assert_eq!(factor(Some(today), today, 100.0), 1.0);
        assert!((factor(Some(d(2025, 9, 23)), today, 100.0) - 0.5).abs() < 1e-6);
        assert_eq!(factor(None, today, 100.0), 0.0);
        // A future date counts as today.
        assert_eq!(factor(Some(d(2027, 1, 1)), today, 100.0), 1.0);
    }
}
