//! Temporal intent: what a question says about time, read from its words
//! (the latest state, history, a date or version bound, which release did
//! something).

use chrono::NaiveDate;

use crate::index::{version_order, Generation};
use crate::ingest::Chunk;

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
    /// The words that name that date ("2024", "march"): the documents' dates
    /// answer them, not their text.
    pub date_words: Vec<String>,
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
    /// Names a version and asks whether a newer release exists, or whether
    /// it is current: "I'm on 0.18.1, is there anything newer?", "is 0.17.3
    /// the latest version?", "I run 0.16.4, is that up to date?". The newest
    /// release answers it.
    pub beyond: bool,
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
const LATEST_PHRASES: [&str; 9] = [
    "up to date",
    "up-to-date",
    "came out last",
    "released last",
    "last came out",
    "what's new",
    "what’s new",
    "whats new",
    "what is new",
];
/// Phrases that ask whether there is a newer release than the asker's.
const NEWER_PHRASES: [&str; 5] = [
    "anything newer",
    "something newer",
    "any newer",
    "a newer version",
    "a newer release",
];
/// How many of the last [`LATEST_PHRASES`] ("what's new") ask for the newest
/// release, as the [`NEWER_PHRASES`] do.
const NEWS_OF: usize = 4;
/// Words a few words after "last" that make it ask for the latest release:
/// "the last release", "the last restic version released", "last stable
/// version"; "the last step" does not.
const LAST_OF: [&str; 5] = ["release", "releases", "released", "version", "versions"];
/// How many words after "last" [`LAST_OF`] is looked for.
const LAST_WITHIN: usize = 3;
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

/// Words just before a version that make it a version of the corpus's own
/// product, besides the product's name ("Ferrule 3.0", "version 3.0").
const RELEASE_BEFORE: [&str; 4] = ["version", "release", "ver", "v"];
/// Words one or two after a version that do ("when will 2.5 be released").
const RELEASE_AFTER: [&str; 3] = ["release", "released", "releases"];

/// A version of the corpus's product that `question` names, newer than every
/// release among `chunks` (those with a `version` field) and mentioned by none
/// of them, with the newest release: "What will Ferrule 3.0 bring?" of a
/// corpus whose newest release is 2.4.0 asks about what its documents cannot
/// hold. A version is the product's when the product's name (a release's
/// `product` field), "version" or "release" stands just before it, it is
/// written `v3.0`, or "release(d)" follows it; "Go 1.22" and "Ubuntu 24.04"
/// are other products'. None when there are no releases.
pub fn unreleased(question: &str, chunks: &[Chunk]) -> Option<(String, String)> {
    let lower = question.to_lowercase();
    let words = words(&lower);
    let asked: Vec<String> = (0..words.len())
        .filter_map(|i| {
            let v = version(words[i])?;
            let before = i.checked_sub(1).map(|b| words[b]);
            let product = before.is_some_and(|b| {
                RELEASE_BEFORE.contains(&b)
                    || chunks
                        .iter()
                        .filter_map(|c| c.metadata.get("product"))
                        .any(|p| p.to_lowercase() == b)
            });
            let released = words[i + 1..]
                .iter()
                .take(2)
                .any(|w| RELEASE_AFTER.contains(w));
            (product || released || words[i].starts_with('v')).then_some(v)
        })
        .collect();
    if asked.is_empty() {
        return None;
    }
    let newest = chunks
        .iter()
        .filter_map(|c| c.metadata.get("version"))
        .map(|v| v.strip_prefix('v').unwrap_or(v))
        .max_by(|a, b| version_order(a, b).then(b.cmp(a)))?;
    let asked = asked.into_iter().find(|q| {
        version_order(q, newest) == std::cmp::Ordering::Greater
            && !chunks.iter().any(|c| mentions(&c.text, q))
    })?;
    Some((asked, newest.to_owned()))
}

/// True when `text` holds `version` or a patch of it: "3.0" in "from 3.0
/// on" or "v3.0.1", not in "13.0" or "3.05".
fn mentions(text: &str, version: &str) -> bool {
    text.match_indices(version).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + version.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
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
    let words = words(&lower);
    let (not_after, bound_version, date_words) = time_bound(&words);
    let versions: Vec<String> = words.iter().filter_map(|w| version(w)).collect();
    let latest = asks_latest(&lower, &words);
    let asks_release = asks_release(&lower, &words, latest);
    let origin = asks_release && !latest && words.iter().any(|w| ORIGIN_WORDS.contains(w));
    Intent {
        beyond: asks_release && beyond(&lower, &words),
        versions,
        asks_release,
        origin,
        latest,
        history: words.iter().any(|w| HISTORY_WORDS.contains(w))
            || HISTORY_PHRASES.iter().any(|p| lower.contains(p)),
        not_after,
        date_words,
        version: bound_version,
    }
}

/// The words of a lowercased question.
fn words(lower: &str) -> Vec<&str> {
    // Words keep their dots, so that `0.17.3` stays one word; a sentence's
    // final dot is trimmed off.
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// True when the question asks for the latest or current state.
fn asks_latest(lower: &str, words: &[&str]) -> bool {
    let latest_word = words.iter().enumerate().any(|(i, w)| {
        LATEST_WORDS.contains(w)
            && !(*w == "current"
                && words
                    .get(i + 1)
                    .is_some_and(|n| NOT_TEMPORAL_AFTER_CURRENT.contains(n)))
    });
    let last_release = words.iter().enumerate().any(|(i, w)| {
        *w == "last"
            && words[i + 1..]
                .iter()
                .take(LAST_WITHIN)
                .any(|n| LAST_OF.contains(n))
    });
    // "What's new in 0.17.3?" asks about that release, not the newest.
    let named = words.iter().any(|w| version(w).is_some());
    latest_word
        || last_release
        || lower.contains("most recent")
        || LATEST_PHRASES[..LATEST_PHRASES.len() - NEWS_OF]
            .iter()
            .any(|p| lower.contains(p))
        || (whats_new(lower) && !named)
        || asks_newer(lower, words)
}

/// True when the question asks "what's new".
fn whats_new(lower: &str) -> bool {
    LATEST_PHRASES[LATEST_PHRASES.len() - NEWS_OF..]
        .iter()
        .any(|p| lower.contains(p))
}

/// True when the question names a version and asks whether a newer release
/// exists ("anything newer?") or whether it is current: "up to date", or a
/// latest word after it ("is 0.17.3 the latest version?", "is 0.17 still
/// current"). "How do I upgrade from 1.2 to the latest version?" and "pin
/// 1.2 instead of the newest 1.x" ask neither.
fn beyond(lower: &str, words: &[&str]) -> bool {
    let current = words.iter().enumerate().any(|(i, w)| {
        version(w).is_some()
            && words[i + 1..]
                .iter()
                .find(|n| !matches!(**n, "the" | "still" | "really" | "is" | "a"))
                .is_some_and(|n| LATEST_WORDS.contains(n))
    });
    words.iter().any(|w| version(w).is_some())
        && (asks_newer(lower, words)
            || current
            || lower.contains("up to date")
            || lower.contains("up-to-date"))
}

/// True when the question asks whether there is a release newer than what it
/// has: "is there anything newer?", "a newer version", "newer than 0.18.1";
/// "snapshots newer than 30 days" and "is 0.17 newer than 0.16?" do not.
fn asks_newer(lower: &str, words: &[&str]) -> bool {
    NEWER_PHRASES.iter().any(|p| lower.contains(p))
        || words.windows(3).enumerate().any(|(i, w)| {
            w[0] == "newer"
                && w[1] == "than"
                && version(w[2]).is_some()
                && i.checked_sub(1).is_none_or(|b| version(words[b]).is_none())
        })
}

/// The question's time bound: a date ("as of 2023", "before March 2024") with
/// the words that name it, or a version ("before 2.0", "in 1.x", "the 1.x
/// installer"), whichever comes first.
fn time_bound(words: &[&str]) -> (Option<NaiveDate>, Option<VersionBound>, Vec<String>) {
    for i in 0..words.len() {
        let Some(before) = bound_word(words, i) else {
            continue;
        };
        let mut rest = words[i + 1..]
            .iter()
            .copied()
            .skip_while(|w| matches!(*w, "the" | "version" | "release" | "v" | "end" | "of"));
        let (Some(a), b) = (rest.next(), rest.next()) else {
            continue;
        };
        if let Some(date) = bound_date(a, b, before) {
            let named = match (year(a), b) {
                (Some(_), _) => vec![a.to_owned()],
                (None, Some(b)) => vec![a.to_owned(), b.to_owned()],
                (None, None) => Vec::new(),
            };
            return (Some(date), None, named);
        }
        if let Some(v) = version(a).or_else(|| series(a)) {
            return (None, Some(VersionBound { version: v, before }), Vec::new());
        }
    }
    // "the 1.x install script" places the question in that series as "in 1.x"
    // does; a question that names two ("from 1.x to 2.x") is in neither.
    let mut named: Vec<String> = words.iter().filter_map(|w| series(w)).collect();
    named.dedup();
    match named.as_slice() {
        [one] => (
            None,
            Some(VersionBound {
                version: one.clone(),
                before: false,
            }),
            Vec::new(),
        ),
        _ => (None, None, Vec::new()),
    }
}

/// Whether word `i` opens a time bound, and if so whether the bound stops
/// short of what follows.
fn bound_word(words: &[&str], i: usize) -> Option<bool> {
    // "as of", "in", "during", "by", "until" look up to the bound; "before"
    // and "prior to" stop short of it.
    match words[i] {
        "before" => Some(true),
        "of" if i > 0 && words[i - 1] == "as" => Some(false),
        "to" if i > 0 && words[i - 1] == "prior" => Some(true),
        "in" | "during" | "until" | "till" | "by" => Some(false),
        _ => None,
    }
}

/// The last day a bound of a year (`a`) or a month and year (`a b`) allows.
fn bound_date(a: &str, b: Option<&str>, before: bool) -> Option<NaiveDate> {
    if let Some(y) = year(a) {
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
    }
}

/// True when the question asks which version or release did something, or
/// since when (`latest`: it asks for the latest state).
fn asks_release(lower: &str, words: &[&str], latest: bool) -> bool {
    let release_word = |w: &&str| matches!(*w, "version" | "versions" | "release" | "releases");
    // "What is the latest release?" asks for a release as much as "which
    // release added ..." does.
    // "Which Go version do I need?" asks what something requires, not which
    // release did something.
    let requirement = words.iter().any(|w| REQUIREMENT_WORDS.contains(w));
    // "... shows snapshots a day early. fixed?" and "bug?" ask which release
    // fixed it; "how do I fix ..." asks how.
    let asks_fix = words.iter().any(|w| FIX_WORDS.contains(w))
        && !matches!(words.first(), Some(&"how" | &"why"));
    // "What's new?", "anything newer?", and "I run 0.16.4, is that up to
    // date?" are answered by the newest release; "what's new in 0.16.0" by
    // the release it names.
    let news =
        (whats_new(lower) && !words.iter().any(|w| version(w).is_some())) || beyond(lower, words);
    !requirement
        && (asks_fix
            || news
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
            }))
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
