//! `release-notes`: splits a changelog or release-notes file into one document
//! per version, dated, all sharing one `series`, so that "what is the latest
//! version" is answered from the newest entry.
//!
//! Config (`[sources.parser.config]` in corpus.toml), every key optional:
//!
//! ```toml
//! product = "Ferrule"        # titles become "Ferrule 2.4.0"
//! series  = "ferrule-releases" # default: the file's path
//! # A heading regex with named groups `version` and `date` (YYYY-MM-DD),
//! # matched against each whole line, replacing the built-in formats.
//! heading = '^Release (?P<version>\S+) on (?P<date>\d{4}-\d{2}-\d{2})$'
//! ```
//!
//! Built-in heading formats: Keep a Changelog (`## [1.2.0] - 2024-05-01`),
//! `Version 1.2.0 (2024-05-01)` and `Changelog for restic 0.17.0 (2024-07-26)`
//! (also `Release notes for …`), as a Markdown heading or a line of its own.
//!
//! A release whose notes are a list of entries, each a bullet with paragraphs
//! of its own indented below it (`* Fix #1234: …` then its explanation), gets
//! one section per entry, headed by the entry's title, so that a citation points
//! at the entry. The entry's text starts with its title and the release it
//! belongs to, since its own words seldom say which release that is.

wit_bindgen::generate!({ path: "../../wit", world: "parser" });

use std::collections::HashMap;

use candor::plugin::types::{MetadataEntry, Section};
use regex::Regex;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    product: String,
    #[serde(default)]
    series: Option<String>,
    #[serde(default)]
    heading: Option<String>,
}

/// One release found in the file.
#[derive(Debug, PartialEq)]
struct Release {
    version: String,
    date: String,
    /// (heading path, text) in reading order.
    sections: Vec<(Vec<String>, String)>,
}

/// What a line of the file is.
enum Line<'a> {
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
struct Headings {
    custom: Option<Regex>,
    keep_a_changelog: Regex,
    version_paren: Regex,
    changelog_for: Regex,
    versionish: Regex,
    unreleased: Regex,
}

const VERSION: &str = r"v?\d+(?:\.\d+)*(?:[-+][0-9A-Za-z.+-]+)?";

impl Headings {
    fn new(custom: Option<&str>) -> Result<Headings, String> {
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
            keep_a_changelog: built_in(&format!(
                r"^\[(?P<version>{VERSION})\]\s*(?:-|–|—)\s*(?P<date>\d{{4}}-\d{{2}}-\d{{2}})\s*$"
            )),
            version_paren: built_in(&format!(
                r"^(?i:version|release)\s+(?P<version>{VERSION})\s*\((?P<date>\d{{4}}-\d{{2}}-\d{{2}})\)\s*$"
            )),
            // `Changelog for restic 0.17.0 (2024-07-26)`: the product's name,
            // one or a few words, sits between "for" and the version.
            changelog_for: built_in(&format!(
                r"^(?i:changelog|release\s+notes?)\s+for\s+(?:[A-Za-z0-9_.+-]+\s+){{0,3}}(?P<version>{VERSION})\s*\((?P<date>\d{{4}}-\d{{2}}-\d{{2}})\)\s*$"
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

    /// Classifies line `n` (1-based, for errors).
    fn line<'a>(&self, n: usize, line: &'a str) -> Result<Line<'a>, String> {
        let (level, text) = markdown_heading(line);
        // Most lines are notes or subheadings: a first character that cannot
        // start a release heading rules the regexes out.
        let candidate = if level > 0 { text } else { line.trim() };
        let found = match &self.custom {
            Some(re) => re.captures(line.trim_end()),
            None if level > 0 && candidate.starts_with('[') => {
                self.keep_a_changelog.captures(candidate)
            }
            None if starts_release_word(candidate) => self
                .version_paren
                .captures(candidate)
                .or_else(|| self.changelog_for.captures(candidate)),
            None if starts_changelog_word(candidate) => self.changelog_for.captures(candidate),
            None => None,
        };
        if let Some(c) = found {
            let version = c.name("version").map_or("", |m| m.as_str()).trim();
            let date = c.name("date").map_or("", |m| m.as_str()).trim();
            if version.is_empty() {
                return Err(format!("line {n}: the heading has an empty version"));
            }
            if !valid_date(date) {
                return Err(format!(
                    "line {n}: `{date}` is not a date in YYYY-MM-DD form (version {version})"
                ));
            }
            return Ok(Line::Release {
                version: version.to_owned(),
                date: date.to_owned(),
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
            return Err(format!(
                "line {n}: `{}` looks like a release heading but has no date in a known form; \
                 use `## [1.2.0] - 2024-05-01` or `Version 1.2.0 (2024-05-01)`, or set `heading`",
                line.trim()
            ));
        }
        Ok(Line::Heading { level, text })
    }
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

/// `YYYY-MM-DD` naming a real day.
fn valid_date(s: &str) -> bool {
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

/// Link reference definitions (`[1.2.0]: https://...`) are footnotes of the file,
/// not notes of the release they happen to follow.
fn is_link_definition(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('[') && t.find("]:").is_some_and(|i| !t[1..i].contains(']'))
}

/// Splits `text` into releases. Text before the first release, and under a
/// heading as high as a release's that is not one (`## [Unreleased]`), belongs to
/// no release and is left out.
fn split(text: &str, headings: &Headings) -> Result<Vec<Release>, String> {
    let mut releases: Vec<Release> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    // The open release's heading level, and the subheadings inside it.
    let mut open: Option<usize> = None;
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        // Inside a fenced code block every line is text, `# comments` included.
        let fence = line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~");
        let kind = if in_fence || fence {
            in_fence ^= fence;
            Line::Text(line)
        } else {
            headings.line(n, line)?
        };
        match kind {
            Line::Release {
                version,
                date,
                level,
            } => {
                if let Some(first) = seen.insert(version.clone(), n) {
                    return Err(format!(
                        "line {n}: version {version} appears twice (first at line {first})"
                    ));
                }
                open = Some(level);
                path.clear();
                releases.push(Release {
                    version,
                    date,
                    sections: vec![(Vec::new(), String::new())],
                });
            }
            Line::Heading { level, text } => match open {
                // A release on a plain line owns every heading below it, up to
                // the next release or an `Unreleased` heading.
                Some(0) if headings.unreleased.is_match(text) => open = None,
                Some(release_level) if level > release_level || release_level == 0 => {
                    path.retain(|(l, _)| *l < level);
                    path.push((level, text.to_owned()));
                    let heading = path.iter().map(|(_, t)| t.clone()).collect();
                    if let Some(r) = releases.last_mut() {
                        r.sections.push((heading, String::new()));
                    }
                }
                _ => open = None,
            },
            Line::Text(t) => {
                if open.is_none() || is_link_definition(t) {
                    continue;
                }
                if let Some((_, body)) = releases.last_mut().and_then(|r| r.sections.last_mut()) {
                    body.push_str(t.trim_end());
                    body.push('\n');
                }
            }
        }
    }
    for r in &mut releases {
        r.sections.retain_mut(|(_, body)| {
            *body = body.trim().to_owned();
            !body.is_empty()
        });
    }
    if releases.is_empty() {
        return Err(
            "no release headings found; expected `## [1.2.0] - 2024-05-01` or \
                    `Version 1.2.0 (2024-05-01)`, or set `heading` in the config"
                .into(),
        );
    }
    Ok(releases)
}

/// A bullet line's indent and text: `(1, "Fix #1: x")` for ` * Fix #1: x`.
fn bullet(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start().len();
    let rest = line.trim_start();
    let text = rest
        .strip_prefix("* ")
        .or_else(|| rest.strip_prefix("- "))
        .or_else(|| rest.strip_prefix("+ "))?;
    Some((indent, text.trim()))
}

/// Splits a section whose text is a list of entries, each a bullet followed by
/// indented paragraphs of its own, into one section per entry: headed by
/// `heading` and the entry's title, its text the title with `release` (`restic
/// 0.17.0, 2024-07-26`), then the paragraphs. Text before the first entry keeps
/// the section's heading. A list of one-line bullets (a summary) is one section.
fn entries(heading: &[String], text: &str, release: &str) -> Vec<(Vec<String>, String)> {
    let whole = || vec![(heading.to_vec(), text.to_owned())];
    let lines: Vec<&str> = text.lines().collect();
    let Some(top) = lines.iter().filter_map(|l| bullet(l)).map(|b| b.0).min() else {
        return whole();
    };
    // (title, body lines) per entry, and the lines before the first.
    let mut preamble: Vec<&str> = Vec::new();
    let mut items: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_title = false;
    for line in lines {
        match bullet(line) {
            // The section's text was trimmed, so its first bullet may have
            // lost the space of indent the others have.
            Some((indent, title)) if indent <= top + 1 => {
                items.push((title.to_owned(), Vec::new()));
                in_title = true;
            }
            _ => match items.last_mut() {
                None => preamble.push(line),
                // A title may wrap onto the lines right below it.
                Some((title, body)) if in_title && !line.trim().is_empty() && body.is_empty() => {
                    title.push(' ');
                    title.push_str(line.trim());
                }
                Some((_, body)) => {
                    in_title = false;
                    body.push(line);
                }
            },
        }
    }
    let has_body = |body: &[&str]| {
        body.iter()
            .any(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() > top + 1)
    };
    if items.len() < 2 || !items.iter().all(|(_, body)| has_body(body)) {
        return whole();
    }
    let mut out = Vec::new();
    let preamble = preamble.join("\n").trim().to_owned();
    if !preamble.is_empty() {
        out.push((heading.to_vec(), preamble));
    }
    for (title, body) in items {
        let indent = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let body: Vec<&str> = body
            .iter()
            .map(|l| l.get(indent..).unwrap_or_else(|| l.trim_start()))
            .collect();
        let mut path = heading.to_vec();
        path.push(title.clone());
        let text = format!(
            "{} ({release}).\n\n{}",
            title.trim_end_matches(['.', ':']),
            body.join("\n").trim()
        );
        out.push((path, text.trim().to_owned()));
    }
    out
}

fn document(r: Release, product: &str, series: &str) -> Document {
    let (title, lead) = if product.is_empty() {
        (
            format!("Version {}", r.version),
            format!("Version {} was released on {}.", r.version, r.date),
        )
    } else {
        (
            format!("{product} {}", r.version),
            format!(
                "Version {} of {product} was released on {}.",
                r.version, r.date
            ),
        )
    };
    let mut metadata = vec![MetadataEntry {
        key: "version".into(),
        value: r.version.clone(),
    }];
    if !product.is_empty() {
        metadata.push(MetadataEntry {
            key: "product".into(),
            value: product.to_owned(),
        });
    }
    let mut sections = vec![Section {
        heading: Vec::new(),
        text: lead,
        page: None,
    }];
    let release = format!("{title}, {}", r.date);
    for (heading, text) in r.sections {
        sections.extend(
            entries(&heading, &text, &release)
                .into_iter()
                .map(|(heading, text)| Section {
                    heading,
                    text,
                    page: None,
                }),
        );
    }
    Document {
        key: r.version,
        title,
        date: r.date,
        series: series.to_owned(),
        metadata,
        sections,
    }
}

fn parse(path: &str, bytes: &[u8], config: &str) -> Result<Vec<Document>, String> {
    let config: Config = if config.trim().is_empty() {
        Config::default()
    } else {
        serde_json::from_str(config).map_err(|e| format!("config: {e}"))?
    };
    let headings = Headings::new(config.heading.as_deref())?;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text: {e}"))?
        .trim_start_matches('\u{feff}');
    let series = config.series.as_deref().unwrap_or(path);
    Ok(split(text, &headings)?
        .into_iter()
        .map(|r| document(r, config.product.trim(), series))
        .collect())
}

struct ReleaseNotes;

impl Guest for ReleaseNotes {
    fn parse(path: String, bytes: Vec<u8>, config: String) -> Result<Vec<Document>, String> {
        parse(&path, &bytes, &config)
    }
}

export!(ReleaseNotes);

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str, config: &str) -> Result<Vec<Document>, String> {
        parse("CHANGELOG.md", text.as_bytes(), config)
    }

    fn summary(d: &Document) -> (String, String, String, Vec<(Vec<String>, String)>) {
        (
            d.key.clone(),
            d.title.clone(),
            d.date.clone(),
            d.sections
                .iter()
                .map(|s| (s.heading.clone(), s.text.clone()))
                .collect(),
        )
    }

    const KEEP: &str = "# Changelog\nAll notable changes.\n\n## [Unreleased]\n- Work in progress\n\n## [2.0.0] - 2024-06-01\n### Added\n- Incremental backups.\n### Removed\n- The legacy agent.\n\n## [1.9.1] - 2024-02-29\n### Fixed\n- Restores of empty folders.\n\n[2.0.0]: https://example.com/compare/1.9.1...2.0.0\n";

    #[test]
    fn keep_a_changelog_gives_one_dated_document_per_version() {
        let d = docs(KEEP, r#"{"product":"Ferrule"}"#).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            summary(&d[0]),
            (
                "2.0.0".into(),
                "Ferrule 2.0.0".into(),
                "2024-06-01".into(),
                vec![
                    (
                        vec![],
                        "Version 2.0.0 of Ferrule was released on 2024-06-01.".into()
                    ),
                    (vec!["Added".into()], "- Incremental backups.".into()),
                    (vec!["Removed".into()], "- The legacy agent.".into()),
                ]
            )
        );
        // The link definition at the end is not a note of 1.9.1.
        assert_eq!(
            d[1].sections.last().unwrap().text,
            "- Restores of empty folders."
        );
        assert!(d.iter().all(|d| d.series == "CHANGELOG.md"));
        assert_eq!(d[0].metadata[0].key, "version");
        assert_eq!(d[0].metadata[0].value, "2.0.0");
    }

    #[test]
    fn version_lines_with_dates_in_parentheses_are_releases() {
        let text = "Version 3.1.0 (2025-01-10)\nFaster restores.\n\nSecond paragraph.\n\nversion 3.0.2 (2024-12-01)\n## Fixes\nA crash on start.\n";
        let d = docs(text, r#"{"series":"ferrule"}"#).unwrap();
        assert_eq!(
            d.iter().map(summary).collect::<Vec<_>>(),
            vec![
                (
                    "3.1.0".into(),
                    "Version 3.1.0".into(),
                    "2025-01-10".into(),
                    vec![
                        (vec![], "Version 3.1.0 was released on 2025-01-10.".into()),
                        (vec![], "Faster restores.\n\nSecond paragraph.".into()),
                    ]
                ),
                (
                    "3.0.2".into(),
                    "Version 3.0.2".into(),
                    "2024-12-01".into(),
                    vec![
                        (vec![], "Version 3.0.2 was released on 2024-12-01.".into()),
                        (vec!["Fixes".into()], "A crash on start.".into()),
                    ]
                ),
            ]
        );
        assert_eq!(d[0].series, "ferrule");
        // As a Markdown heading too.
        let d = docs("## Version 1.0.0 (2020-01-01)\nFirst.\n", "").unwrap();
        assert_eq!(d[0].key, "1.0.0");
    }

    #[test]
    fn a_configured_heading_regex_replaces_the_built_in_formats() {
        let text = "Release 7 on 2023-03-04\nNotes.\n## [1.0.0] - 2020-01-01\nStill release 7.\n";
        let d = docs(
            text,
            r#"{"heading":"^Release (?P<version>\\S+) on (?P<date>\\d{4}-\\d{2}-\\d{2})$"}"#,
        );
        // `## [1.0.0] - ...` is not a release under this regex, but it looks like
        // one, so it is an error rather than silently merged notes.
        assert!(d.unwrap_err().contains("line 3"));
        let d = docs(
            "Release 7 on 2023-03-04\nNotes.\n",
            r#"{"heading":"^Release (?P<version>\\S+) on (?P<date>\\d{4}-\\d{2}-\\d{2})$"}"#,
        )
        .unwrap();
        assert_eq!((d[0].key.as_str(), d[0].date.as_str()), ("7", "2023-03-04"));
    }

    #[test]
    fn mistakes_are_errors_naming_the_line() {
        let bad_date = docs("## [1.0.0] - 2024-02-30\n- x\n", "").unwrap_err();
        assert!(
            bad_date.contains("line 1") && bad_date.contains("2024-02-30"),
            "{bad_date}"
        );
        let undated = docs("## [1.1.0]\n- y\n## [1.0.0] - 2024-01-01\n- x\n", "").unwrap_err();
        assert!(
            undated.contains("line 1") && undated.contains("no date"),
            "{undated}"
        );
        let twice = docs("## [1.0.0] - 2024-01-01\n## [1.0.0] - 2024-01-02\n", "").unwrap_err();
        assert!(
            twice.contains("line 2") && twice.contains("first at line 1"),
            "{twice}"
        );
        assert!(docs("Just some text.\n", "")
            .unwrap_err()
            .contains("no release headings"));
        assert!(docs(KEEP, r#"{"heading":"^(?P<version>\\S+)$"}"#)
            .unwrap_err()
            .contains("`version` and `date`"));
        assert!(docs(KEEP, r#"{"heading":"("}"#)
            .unwrap_err()
            .contains("not a valid regex"));
        assert!(docs(KEEP, r#"{"prodcut":"x"}"#)
            .unwrap_err()
            .contains("unknown field"));
        assert!(parse("x.md", &[0xff, 0xfe], "")
            .unwrap_err()
            .contains("UTF-8"));
    }

    #[test]
    fn code_blocks_link_headings_and_numbered_subheadings_are_read_right() {
        let text = "## [2.0.0] - 2024-06-01\n### Changed\nRun this:\n```sh\n# stop the old agent first\nferrule-agent stop\n```\n    # indented code\nStill 2.0.0.\n### 2 new backends\n- S3 and B2.\n";
        let d = docs(text, "").unwrap();
        let body: Vec<&str> = d[0].sections.iter().map(|s| s.text.as_str()).collect();
        assert!(
            body[1].contains("# stop the old agent first") && body[1].contains("Still 2.0.0."),
            "{body:?}"
        );
        assert_eq!(d[0].sections[2].heading, vec!["2 new backends".to_owned()]);
        // A git-cliff style heading is not a format we read: an error, not lost notes.
        let linked = docs(
            "## [1.2.0](https://example.invalid/1.2.0) (2024-05-01)\n- x\n",
            "",
        )
        .unwrap_err();
        assert!(linked.contains("line 1"), "{linked}");
        // A plain-line release ends at an Unreleased heading.
        let plain = docs(
            "Version 1.0.0 (2024-01-01)\nFirst.\n## Unreleased\nNot yet.\n",
            "",
        )
        .unwrap();
        assert!(
            plain[0]
                .sections
                .iter()
                .all(|s| !s.text.contains("Not yet")),
            "{:?}",
            plain[0].sections
        );
    }

    const RESTIC_LIKE: &str = "# Table of Contents\n\n* [Changelog for 0.9.1](#changelog-for-restic-091-2018-06-10)\n\n# Changelog for restic 0.9.1 (2018-06-10)\nThe following sections list the changes in restic 0.9.1 relevant to\nrestic users.\n\n## Summary\n\n * Fix #1801: Add limiting bandwidth to the rclone backend\n * Enh #1766: Allow the `--no-lock` flag for `mount`\n\n## Details\n\n * Bugfix #1801: Add limiting bandwidth to the rclone backend\n   (and the others)\n\n   The rclone backend did not respect `--limit-upload` or\n   `--limit-download`.\n\n   https://github.com/restic/restic/issues/1801\n\n * Enhancement #1766: Allow the `--no-lock` flag for `mount`\n\n   Mounting no longer needs an exclusive lock:\n\n       restic mount --no-lock /mnt\n\n# Changelog for restic 0.9.0 (2018-05-21)\n## Details\n\n * Feature #1: First\n\n   Body one.\n";

    #[test]
    fn changelog_for_headings_are_releases_and_detailed_entries_are_sections() {
        let d = docs(RESTIC_LIKE, r#"{"product":"restic"}"#).unwrap();
        assert_eq!(
            d.iter()
                .map(|d| (d.key.as_str(), d.date.as_str(), d.title.as_str()))
                .collect::<Vec<_>>(),
            [
                ("0.9.1", "2018-06-10", "restic 0.9.1"),
                ("0.9.0", "2018-05-21", "restic 0.9.0")
            ]
        );
        let sections: Vec<(Vec<String>, &str)> = d[0]
            .sections
            .iter()
            .map(|s| (s.heading.clone(), s.text.as_str()))
            .collect();
        // The summary's one-line bullets stay one section.
        assert_eq!(sections[2].0, ["Summary"]);
        assert!(sections[2].1.contains("Fix #1801") && sections[2].1.contains("Enh #1766"));
        // Each detailed entry is a section headed by its title, which names the
        // release; a wrapped title is joined, and indented code stays indented.
        assert_eq!(
            sections[3],
            (
                vec!["Details".to_owned(), "Bugfix #1801: Add limiting bandwidth to the rclone backend (and the others)".to_owned()],
                "Bugfix #1801: Add limiting bandwidth to the rclone backend (and the others) (restic 0.9.1, 2018-06-10).\n\nThe rclone backend did not respect `--limit-upload` or\n`--limit-download`.\n\nhttps://github.com/restic/restic/issues/1801"
            )
        );
        assert_eq!(
            sections[4].1,
            "Enhancement #1766: Allow the `--no-lock` flag for `mount` (restic 0.9.1, 2018-06-10).\n\nMounting no longer needs an exclusive lock:\n\n    restic mount --no-lock /mnt"
        );
        assert_eq!(sections.len(), 5);
        // One entry alone is not a list of entries.
        assert_eq!(d[1].sections[1].heading, ["Details"]);
        // Release notes for ... reads the same, and a version in the words of a
        // plain heading is not mistaken for one.
        let d = docs(
            "## Release notes for Ferrule 2.4.0 (2025-11-02)\nFaster.\n",
            "",
        )
        .unwrap();
        assert_eq!(
            (d[0].key.as_str(), d[0].date.as_str()),
            ("2.4.0", "2025-11-02")
        );
    }

    #[test]
    fn dates_must_be_real_days() {
        assert!(valid_date("2024-02-29") && valid_date("2000-02-29"));
        assert!(!valid_date("2023-02-29") && !valid_date("1900-02-29"));
        assert!(!valid_date("2024-13-01") && !valid_date("2024-1-01") && !valid_date("soon"));
    }
}
