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
use crate::ingest::Chunk;

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

/// What the question says about time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intent {
    /// Asks for the latest or current state: "latest", "newest", "most recent",
    /// "current version", "what's new", "up to date", "nowadays".
    pub latest: bool,
    /// "history", "previous", "older", "earlier", "changed", "used to", "which
    /// version", "when was": older versions stay in play.
    pub history: bool,
    /// "as of 2023", "in March 2024", "before 2020": documents dated after this
    /// day are out of bounds.
    pub not_after: Option<NaiveDate>,
    /// "before 2.0", "as of version 0.17", "in v1.4", "the 1.x installer": a
    /// bound named by a release or a release series,
    /// which only the corpus can date ([`Intent::resolve`]).
    pub version: Option<VersionBound>,
    /// Every version number the question names ("what changed in 0.17.3"):
    /// documents of those releases rank first.
    pub versions: Vec<String>,
    /// Asks which version or release did something, or since when: "which
    /// version added", "what release fixed", "since which version", "when did",
    /// or for the latest release itself: "the newest version".
    pub asks_release: bool,
    /// Asks which release first did something: "which version added",
    /// "since when", "first offered", "introduced". The oldest release that
    /// speaks of it is the answer; later ones mention it as it changes.
    pub origin: bool,
}

/// A time bound named by a version rather than a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionBound {
    /// The version as written, without a leading `v`: `0.17`, `2.0.1`; for a
    /// series written with a wildcard (`1.x`), the prefix its releases share.
    pub version: String,
    /// "before 2.0" (strictly earlier) rather than "as of 2.0" (up to it).
    pub before: bool,
}

const LATEST_WORDS: [&str; 9] = [
    "latest",
    "newest",
    "current",
    "currently",
    "recent",
    "recently",
    "now",
    "nowadays",
    "today",
];
/// Words after "current" that name a thing of the moment, not the present
/// state of the product ("the current directory").
const NOT_TEMPORAL_AFTER_CURRENT: [&str; 14] = [
    "directory",
    "dir",
    "folder",
    "path",
    "working",
    "user",
    "users",
    "shell",
    "session",
    "host",
    "machine",
    "process",
    "terminal",
    "umask",
];
/// Phrases that ask for the present state.
const LATEST_PHRASES: [&str; 8] = [
    "up to date",
    "up-to-date",
    "what's new",
    "what’s new",
    "whats new",
    "what is new",
    "last release",
    "last version",
];
/// Phrases that ask for a release as the answer, besides "which/what
/// [word] version/release".
const RELEASE_PHRASES: [&str; 9] = [
    "first version",
    "first release",
    "since when",
    "since which",
    "when did",
    "when was",
    "when were",
    "version added",
    "release added",
];
/// Words of a question that asks whether, and so in which release, a fault was
/// fixed.
const FIX_WORDS: [&str; 5] = ["fixed", "patched", "bug", "bugfix", "regression"];
/// Words of a question that asks when something began.
const ORIGIN_WORDS: [&str; 12] = [
    "first",
    "earliest",
    "introduced",
    "introduce",
    "introduces",
    "appear",
    "appeared",
    "added",
    "add",
    "since",
    "offered",
    "shipped",
];
/// Words of a question about what something needs ("which Go version do I
/// need"), where a version is not a release of the product.
const REQUIREMENT_WORDS: [&str; 8] = [
    "need",
    "needs",
    "require",
    "requires",
    "required",
    "requirement",
    "requirements",
    "minimum",
];
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

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A month's name or its abbreviation (`mar`, `sept`), 1-based.
fn month(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() >= 3 && m.starts_with(word)))
        .map(|i| i as u32 + 1)
}

fn year(word: &str) -> Option<i32> {
    word.parse::<i32>()
        .ok()
        .filter(|y| (1900..=2999).contains(y))
}

/// A version number as written in a question: digits with at least one dot
/// (`2.0`, `0.17.3`), optionally after a `v`.
fn version(word: &str) -> Option<String> {
    let v = word.strip_prefix('v').unwrap_or(word);
    let v = v.trim_end_matches('.');
    let parts: Vec<&str> = v.split('.').collect();
    (parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| v.to_owned())
}

/// A release series written with a wildcard, `1.x` or `v2.3.x`, as the
/// version prefix its releases share: `1`, `2.3`.
fn series(word: &str) -> Option<String> {
    let prefix = word.strip_suffix(".x")?;
    let v = prefix.strip_prefix('v').unwrap_or(prefix);
    v.split('.')
        .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.to_owned())
}

/// The last day of a month.
fn month_end(y: i32, m: u32) -> Option<NaiveDate> {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
}

/// Reads temporal intent from a question.
pub fn intent(question: &str) -> Intent {
    let lower = question.to_lowercase();
    // Words keep their dots, so that `0.17.3` stays one word; a sentence's
    // final dot is trimmed off.
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    let latest_word = words.iter().enumerate().any(|(i, w)| {
        LATEST_WORDS.contains(w)
            && !(*w == "current"
                && words
                    .get(i + 1)
                    .is_some_and(|n| NOT_TEMPORAL_AFTER_CURRENT.contains(n)))
    });
    let (mut not_after, mut bound_version) = (None, None);
    for (i, w) in words.iter().enumerate() {
        // "as of", "in", "during", "by", "until" look up to the bound; "before"
        // and "prior to" stop short of it.
        let before = match *w {
            "before" => true,
            "of" if i > 0 && words[i - 1] == "as" => false,
            "to" if i > 0 && words[i - 1] == "prior" => true,
            "in" | "during" | "until" | "till" | "by" => false,
            _ => continue,
        };
        let mut rest = words[i + 1..]
            .iter()
            .copied()
            .skip_while(|w| matches!(*w, "the" | "version" | "release" | "v" | "end" | "of"));
        let (Some(a), b) = (rest.next(), rest.next()) else {
            continue;
        };
        let date = if let Some(y) = year(a) {
            if before {
                NaiveDate::from_ymd_opt(y - 1, 12, 31)
            } else {
                NaiveDate::from_ymd_opt(y, 12, 31)
            }
        } else if let (Some(m), Some(y)) = (month(a), b.and_then(year)) {
            if before {
                NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.pred_opt())
            } else {
                month_end(y, m)
            }
        } else {
            None
        };
        if date.is_some() {
            not_after = date;
            break;
        }
        if let Some(v) = version(a).or_else(|| series(a)) {
            bound_version = Some(VersionBound { version: v, before });
            break;
        }
    }
    // "the 1.x install script" places the question in that series as "in 1.x"
    // does; a question that names two ("from 1.x to 2.x") is in neither.
    if not_after.is_none() && bound_version.is_none() {
        let mut named: Vec<String> = words.iter().filter_map(|w| series(w)).collect();
        named.dedup();
        if let [one] = named.as_slice() {
            bound_version = Some(VersionBound {
                version: one.clone(),
                before: false,
            });
        }
    }
    let versions: Vec<String> = words.iter().filter_map(|w| version(w)).collect();
    let release_word = |w: &&str| matches!(*w, "version" | "versions" | "release" | "releases");
    let latest = latest_word
        || lower.contains("most recent")
        || LATEST_PHRASES.iter().any(|p| lower.contains(p));
    // "What is the latest release?" asks for a release as much as "which
    // release added ..." does.
    // "Which Go version do I need?" asks what something requires, not which
    // release did something.
    let requirement = words.iter().any(|w| REQUIREMENT_WORDS.contains(w));
    // "... shows snapshots a day early. fixed?" and "bug?" ask which release
    // fixed it; "how do I fix ..." asks how.
    let asks_fix = words.iter().any(|w| FIX_WORDS.contains(w))
        && !matches!(words.first(), Some(&"how" | &"why"));
    let asks_release = !requirement
        && (asks_fix
            || RELEASE_PHRASES.iter().any(|p| lower.contains(p))
            || (latest
                && words.iter().enumerate().any(|(j, w)| {
                    // "In the current release" sets the time of another
                    // question; it does not ask for the release.
                    release_word(w)
                        && !words[j.saturating_sub(3)..j]
                            .iter()
                            .any(|p| matches!(*p, "in" | "on" | "with" | "for" | "under"))
                }))
            || words.iter().enumerate().any(|(i, w)| {
                matches!(*w, "which" | "what" | "first" | "earliest")
                    && words[i + 1..].iter().take(2).any(release_word)
            }));
    let origin = asks_release && !latest && words.iter().any(|w| ORIGIN_WORDS.contains(w));
    Intent {
        versions,
        asks_release,
        origin,
        latest,
        history: has(&HISTORY_WORDS) || HISTORY_PHRASES.iter().any(|p| lower.contains(p)),
        not_after,
        version: bound_version,
    }
}

impl Intent {
    /// True when `chunk` belongs to a release the question names by its
    /// version, or to a patch of it ("0.17" names 0.17.3).
    pub fn names_release_of(&self, chunk: &Chunk) -> bool {
        chunk.metadata.get("version").is_some_and(|v| {
            let v = v.strip_prefix('v').unwrap_or(v);
            self.versions.iter().any(|q| {
                v == q
                    || v.strip_prefix(q.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            })
        })
    }

    /// The day after which documents are out of bounds: the question's date
    /// bound, or its version bound dated by the release documents of `gen`
    /// (documents with a `version` field) that carry that version or a
    /// patch of it. A version the corpus does not know bounds nothing.
    pub fn resolve(&self, gen: &Generation) -> Option<NaiveDate> {
        if self.not_after.is_some() {
            return self.not_after;
        }
        let bound = self.version.as_ref()?;
        let prefix = format!("{}.", bound.version);
        let dates = gen.chunks.iter().filter_map(|c| {
            let v = c.metadata.get("version")?;
            let v = v.strip_prefix('v').unwrap_or(v);
            (v == bound.version || v.starts_with(&prefix)).then_some(c.date?)
        });
        if bound.before {
            dates.min().and_then(|d| d.pred_opt())
        } else {
            dates.max()
        }
    }
}

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
                    && matches!((&c.series, c.date), (Some(series), Some(date))
                        if gen.newest_in_series(series, today) == Some(date)))
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
pub fn rerank<'g>(
    gen: &'g Generation,
    mut ranked: Vec<Scored<ChunkId>>,
    settings: &Recency,
    intent: Intent,
    today: NaiveDate,
) -> Vec<Scored<ChunkId>> {
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
        // The latest state is what documents say of their own dates; a file's
        // modification time says when it was copied.
        let date = chunk.date.filter(|_| !(intent.latest && chunk.file_dated));
        let r = factor(date, today, settings.half_life_days);
        let mut relevance = (s.score - lo) / span;
        if !intent.history || intent.latest {
            if let Some(date) = chunk.date {
                // A question about the latest state is about the newest entry of
                // a dated series (a changelog's newest release); otherwise only
                // newer versions of the same document supersede it. A version
                // dated after `today` (an as-of question) supersedes nothing.
                let newest = match &chunk.series {
                    Some(series) if intent.latest => gen.newest_in_series(series, today),
                    _ => gen.newest_version(chunk, today),
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
        // passage: "what changed in 0.17.3" is about that release.
        if intent.names_release_of(chunk) {
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
        s.score = (1.0 - weight) * relevance + weight * age;
    }
    // The demotion alone cannot promise the order: an old version may be far more
    // relevant. Where the newest version is among the candidates, an old version
    // ranks just below its best chunk.
    let identity = |c: &'g Chunk| -> Option<(&'g str, &'g str)> {
        let series = c.series.as_deref()?;
        Some((series, if intent.latest { "" } else { c.entry_key() }))
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
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    ranked
}

#[cfg(test)]
mod tests;
