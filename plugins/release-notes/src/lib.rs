//! `release-notes`: splits a changelog or release-notes file into one document
//! per version, dated, all sharing one `series`, so that "what is the latest
//! version" is answered from the newest entry.
//!
//! Config (`[sources.parser.config]` in corpus.toml), every key optional:
//!
//! ```toml
//! product = "Ferrule"        # titles become "Ferrule 2.4.0"
//! series  = "ferrule-releases" # default: the file's path
//! # A heading regex with named groups `version` and `date` (2024-05-01,
//! # May 1, 2024, 1st May 2024 ...),
//! # matched against each whole line, replacing the built-in formats.
//! heading = '^Release (?P<version>\S+) on (?P<date>\d{4}-\d{2}-\d{2})$'
//! ```
//!
//! Built-in heading formats: a Markdown heading that opens with a version
//! (bare, `[1.2.0]`, `[1.2.0](link)`, or after "Version" or "Release") and
//! holds a date after it (`## [1.2.0] - 2024-05-01`, `# 1.54.1 (October 21st,
//! 2026) [YANKED]`); a line of its own that is only a version and its date
//! (`Version 1.2.0 (2024-05-01)`); and `Changelog for restic 0.17.0
//! (2024-07-26)` (also `Release notes for …`), as either. A Markdown heading
//! that is a version and nothing else (`# 0.8.9`, `## [1.2.0]`, `## v2.0.0
//! (yanked)`) is a release without a date: its document's date is empty, and
//! its first sentence says the changelog gives none. A heading with more after
//! its version but no date in a known form is an error naming its line.
//!
//! A release whose notes are a list of entries, each a bullet with paragraphs
//! of its own indented below it (`* Fix #1234: …` then its explanation), gets
//! one section per entry, headed by the entry's title, so that a citation points
//! at the entry. The entry's text starts with its title and the release it
//! belongs to, since its own words seldom say which release that is.

wit_bindgen::generate!({ path: "../../wit", world: "parser" });

mod entries;
mod headings;
mod releases;

#[cfg(test)]
mod tests;

use candor::plugin::types::{MetadataEntry, Section};
use serde::Deserialize;

use crate::entries::entries;
use crate::headings::Headings;
use crate::releases::{split, Release};

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

fn document(r: Release, product: &str, series: &str) -> Document {
    let (title, of) = if product.is_empty() {
        (
            format!("Version {}", r.version),
            format!("Version {}", r.version),
        )
    } else {
        (
            format!("{product} {}", r.version),
            format!("Version {} of {product}", r.version),
        )
    };
    // An undated release says so, so that "when did 0.8.9 come out?" is
    // answered with what the file knows.
    let (lead, release) = if r.date.is_empty() {
        (
            format!("{of}: the changelog gives no release date."),
            title.clone(),
        )
    } else {
        (
            format!("{of} was released on {}.", r.date),
            format!("{title}, {}", r.date),
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
