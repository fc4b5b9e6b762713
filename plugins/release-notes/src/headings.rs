//! What a line of a changelog is: a release heading (built-in formats or the
//! configured regex, with its version and date checked), another Markdown
//! heading, or text.

use regex::Regex;

/// What a line of the file is.
pub(crate) enum Line<'a> {
    /// A release heading; `level` is its Markdown level, 0 for a plain line.
    Release {
        version: String,
        date: String,
        level: usize,
    },
    /// Any other Markdown heading.
    Heading { level: usize, text: &'a str },
    /// Body text.
    Text(&'a str),
}

/// Recognises release headings, built-in or configured.
pub(crate) struct Headings {
    custom: Option<Regex>,
    heading_version: Regex,
    date_in: Regex,
    changelog_for: Regex,
    version_date: Regex,
    versionish: Regex,
    pub(crate) unreleased: Regex,
}

const VERSION: &str = r"v?\d+(?:\.\d+)*(?:[-+][0-9A-Za-z.+-]+)?";

/// The date forms changelogs write: `2024-05-01`, `2024/05/01`, `2021-1-4`, `May 1, 2024`,
/// `October 21st, 2026`, `Sept. 3 2024`, `1 May 2024` and `24. March, 2024`. [`iso_date`] reads
/// them and checks the day.
const DATE: &str = r"\d{4}[-/]\d{1,2}[-/]\d{1,2}|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|\d{1,2}(?:st|nd|rd|th|\.)?\s+[A-Za-z]{3,9}\.?,?\s+\d{4}";

impl Headings {
    pub(crate) fn new(custom: Option<&str>) -> Result<Headings, String> {
        let custom = match custom {
            None => None,
            Some(pattern) => {
                let re = Regex::new(pattern)
                    .map_err(|e| format!("config `heading` is not a valid regex: {e}"))?;
                let names: Vec<&str> = re.capture_names().flatten().collect();
                if !(names.contains(&"version") && names.contains(&"date")) {
                    return Err(
                        "config `heading` must have the named groups `version` and `date`".into(),
                    );
                }
                Some(re)
            }
        };
        // ASCII classes are all the built-in formats need, and they compile in a
        // fraction of the time: every call is a fresh instance that compiles anew.
        let built_in = |p: &str| {
            regex::RegexBuilder::new(p)
                .unicode(false)
                .build()
                .expect("built-in patterns compile")
        };
        Ok(Headings {
            custom,
            // A Markdown heading that opens with a version, bare, in brackets
            // (Keep a Changelog) or as a link (`## [0.15.5](https://...)`, an
            // ASCII target),
            // perhaps after "Version" or "Release"; its date is found after it.
            heading_version: built_in(&format!(
                r"^(?:(?i:version|release)\s+)?\[?(?P<version>{VERSION})\]?(?:\([!-(*-~]*\))?"
            )),
            // A date anywhere in what follows the version, whatever stands
            // around it: `- 2024-05-01`, `(October 1, 2021) [YANKED]`,
            // `&ndash; 2026-04-16`, `2024-02-25 <a name="1.8.3"></a>`.
            date_in: built_in(&format!(r"\b(?P<date>{DATE})\b")),
            // `Changelog for restic 0.17.0 (2024-07-26)`: the product's name,
            // one or a few words, sits between "for" and the version.
            changelog_for: built_in(&format!(
                r"^(?i:changelog|release\s+notes?)\s+for\s+(?:[A-Za-z0-9_.+-]+\s+){{0,3}}(?P<version>{VERSION})\s*\((?P<date>{DATE})\)\s*$"
            )),
            // A version and a date, the version perhaps after "Version" or
            // "Release": `# 1.54.1 (October 21st, 2026)`, `## v2.0.0 -
            // 2024-01-02`, `Version 3.1.0 / 1 May 2024`.
            version_date: built_in(&format!(
                r"^(?:(?i:version|release)\s+)?(?P<version>{VERSION})\s*(?:(?:-|–|—|/)\s*)?(?:\((?P<date>{DATE})\)|(?P<bare>{DATE}))\s*$"
            )),
            // A dotted version in brackets or at the start, then a link, space
            // or the end: `## [1.2.0](https://...) (2024-05-01)` is caught, and
            // `### 2 new backends` is not.
            versionish: built_in(
                r"^\[?(?i:version\s+|release\s+)?v?\d+\.\d+[0-9A-Za-z.+-]*\]?(\(|\s|$)",
            ),
            unreleased: built_in(r"^\[?(?i:unreleased)\]?\s*$"),
        })
    }

    /// The version a Markdown heading opens with and the first date after
    /// it, when it has both and no words stand between them but notes in
    /// brackets (`(YANKED)`) and entities (`&ndash;`): `### 2 new backends
    /// (2024-05-01)` is a subheading, not release 2.
    fn in_heading<'t>(&self, text: &'t str) -> Option<(&'t str, &'t str)> {
        let v = self.heading_version.captures(text)?;
        let version = v.name("version")?.as_str();
        let rest = &text[v.get(0)?.end()..];
        let d = self.date_in.captures(rest)?.name("date")?;
        (!has_words(&rest[..d.start()])).then_some((version, d.as_str()))
    }

    /// The version of a Markdown heading that is a version and nothing more but
    /// notes in brackets: `0.8.9`, `[1.2.0](https://...)`, `v2.0.0 (yanked)`.
    fn undated<'t>(&self, text: &'t str) -> Option<&'t str> {
        let v = self.heading_version.captures(text)?;
        let rest = &text[v.get(0)?.end()..];
        let bare = rest.chars().all(|c| !c.is_alphanumeric()) || {
            let open = rest.trim_start();
            open.starts_with(['(', '['])
                && !has_words(open)
                && !open.chars().any(|c| c.is_ascii_digit())
        };
        bare.then(|| v.name("version").map(|m| m.as_str()))?
    }

    /// Classifies line `n` (1-based, for errors).
    pub(crate) fn line<'a>(&self, n: usize, line: &'a str) -> Result<Line<'a>, String> {
        let (level, text) = markdown_heading(line);
        // Most lines are notes or subheadings: a first character that cannot
        // start a release heading rules the regexes out.
        let candidate = if level > 0 { text } else { line.trim() };
        let pair = |c: regex::Captures<'a>| {
            let group = |name| c.name(name).map_or("", |m| m.as_str().trim());
            let date = Some(group("date")).filter(|d| !d.is_empty());
            (group("version"), date.unwrap_or_else(|| group("bare")))
        };
        let opens_version = matches!(candidate.bytes().next(), Some(b'[' | b'0'..=b'9' | b'v'));
        let found = match &self.custom {
            Some(re) => re.captures(line.trim_end()).map(pair),
            None if starts_changelog_word(candidate) => {
                self.changelog_for.captures(candidate).map(pair)
            }
            None if level > 0 && (opens_version || starts_release_word(candidate)) => self
                .in_heading(candidate)
                .or_else(|| self.changelog_for.captures(candidate).map(pair)),
            // A line of its own is a release only when it is nothing else.
            None if starts_release_word(candidate) => self
                .version_date
                .captures(candidate)
                .or_else(|| self.changelog_for.captures(candidate))
                .map(pair),
            None => None,
        };
        if let Some((version, date)) = found {
            if version.is_empty() {
                return Err(format!("line {n}: the heading has an empty version"));
            }
            let Some(date) = iso_date(date) else {
                return Err(format!(
                    "line {n}: `{date}` is not a real day in a known form, such as \
                     2024-05-01 or May 1, 2024 (version {version})"
                ));
            };
            return Ok(Line::Release {
                version: version.to_owned(),
                date,
                level,
            });
        }
        if level == 0 {
            return Ok(Line::Text(line));
        }
        // A heading that names a version but matched no format would silently merge
        // its notes into the release above; say so instead.
        let may_name_a_version =
            matches!(text.bytes().next(), Some(b'[' | b'0'..=b'9' | b'v' | b'V'))
                || starts_release_word(text);
        if may_name_a_version && self.versionish.is_match(text) && !self.unreleased.is_match(text) {
            // Many changelogs date no release (`# 0.8.9`), or only the recent
            // ones: such a heading is a release without a date. One with more
            // after its version may hold a date in a form not read here, and
            // taking it for undated would lose that date unseen.
            if let Some(version) = self.undated(text) {
                return Ok(Line::Release {
                    version: version.to_owned(),
                    date: String::new(),
                    level,
                });
            }
            return Err(format!(
                "line {n}: `{}` looks like a release heading but has no date in a known form; \
                 use `## [1.2.0] - 2024-05-01`, `## 1.2.0 (May 1, 2024)` or \
                 `Version 1.2.0 (2024-05-01)`, or set `heading`",
                line.trim()
            ));
        }
        Ok(Line::Heading { level, text })
    }
}

/// Whether `between` holds a letter outside brackets, parentheses and HTML
/// entities.
fn has_words(between: &str) -> bool {
    let mut depth = 0usize;
    let mut entity = false;
    for c in between.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '&' if depth == 0 => entity = true,
            ';' => entity = false,
            c if c.is_alphabetic() && depth == 0 && !entity => return true,
            _ => {}
        }
    }
    false
}

/// Whether `s` starts with "changelog", in any case.
fn starts_changelog_word(s: &str) -> bool {
    s.as_bytes()
        .get(..9)
        .is_some_and(|h| h.eq_ignore_ascii_case(b"changelog"))
}

/// Whether `s` starts with "version" or "release", in any case.
fn starts_release_word(s: &str) -> bool {
    let head = s.as_bytes().get(..7).unwrap_or_default();
    head.eq_ignore_ascii_case(b"version") || head.eq_ignore_ascii_case(b"release")
}

/// A Markdown ATX heading's level and text, or `(0, line)`.
fn markdown_heading(line: &str) -> (usize, &str) {
    // Four spaces of indent make a code block, not a heading.
    if line.starts_with("    ") || line.starts_with('\t') {
        return (0, line);
    }
    let trimmed = line.trim_start();
    let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
    let rest = &trimmed[hashes..];
    if (1..=6).contains(&hashes) && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
        (hashes, rest.trim().trim_end_matches('#').trim())
    } else {
        (0, line)
    }
}

/// A date in one of the forms of [`DATE`] as `YYYY-MM-DD`, when it names a
/// real day.
pub(crate) fn iso_date(s: &str) -> Option<String> {
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let iso = match words[..] {
        [ymd] => {
            let parts: Vec<u32> = ymd
                .split(['-', '/'])
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let [y, m, d] = parts[..] else { return None };
            format!("{y:04}-{m:02}-{d:02}")
        }
        [month, day, year] | [day, month, year] if month_number(month).is_some() => {
            let day: u32 = day
                .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '.')
                .parse()
                .ok()?;
            format!("{year}-{:02}-{day:02}", month_number(month)?)
        }
        _ => return None,
    };
    valid_date(&iso).then_some(iso)
}

/// The number of a month named in English, whole or cut to three or more
/// letters ("Sep", "Sept.", "September").
fn month_number(word: &str) -> Option<u32> {
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
    let word = word.trim_end_matches('.').to_ascii_lowercase();
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&word))
        .map(|i| i as u32 + 1)
}

/// `YYYY-MM-DD` naming a real day.
pub(crate) fn valid_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts[..] else { return false };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}
