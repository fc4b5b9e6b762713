//! Tests of the parser: whole changelogs read through `parse`, and the date check.

use super::*;
use crate::headings::{iso_date, valid_date};

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
    for (text, date) in [
        ("## [1.0.0] - 2024-02-30\n- x\n", "2024-02-30"),
        (
            "# 1.0.0 (February 30th, 2024)\n- x\n",
            "February 30th, 2024",
        ),
    ] {
        let bad_date = docs(text, "").unwrap_err();
        assert!(
            bad_date.contains("line 1") && bad_date.contains(date),
            "{bad_date}"
        );
    }
    // More after the version than brackets may be a date in another form.
    for heading in [
        "## [1.1.0] - 01.02.2024",
        "## 1.1.0 (1/2/24)",
        "## 1.1.0 spring",
    ] {
        let unread = docs(
            &format!("{heading}\n- y\n## [1.0.0] - 2024-01-01\n- x\n"),
            "",
        )
        .unwrap_err();
        assert!(
            unread.contains("line 1") && unread.contains("no date"),
            "{heading}: {unread}"
        );
    }
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
    // A version written as a link (git-cliff, release-please), and notes
    // about the release after its date.
    for heading in [
        "## [1.2.0](https://example.invalid/compare/1.1.0...1.2.0) (2024-05-01)",
        "## [1.2.0](https://example.invalid/1.2.0) - 2024-05-01",
        "## 1.2.0 (YANKED) (May 1, 2024)",
        "## [1.2.0] - 2024-05-01 [YANKED]",
        "## [1.2.0] &ndash; 2024-05-01",
        "## [1.2.0] - 2024-5-1 <a name=\"1.2.0\"></a>",
        "### 1.2.0 (2024-05-01) \"spring edition\"",
    ] {
        let d = docs(&format!("{heading}\n- x\n"), "").unwrap();
        assert_eq!(
            (d[0].key.as_str(), d[0].date.as_str()),
            ("1.2.0", "2024-05-01"),
            "{heading}"
        );
    }
    // A version heading with no date is a release of its own, undated, not
    // notes merged into the release above.
    for heading in [
        "## [1.2.1](https://example.invalid/1.2.1)",
        "## 1.2.1",
        "# 1.2.1 (yanked)",
        "## [1.2.1]",
    ] {
        let d = docs(
            &format!("{heading}\n- y\n## [1.2.0] - 2024-05-01\n- x\n"),
            "",
        )
        .unwrap();
        assert_eq!(
            d.iter()
                .map(|d| (d.key.as_str(), d.date.as_str()))
                .collect::<Vec<_>>(),
            [("1.2.1", ""), ("1.2.0", "2024-05-01")],
            "{heading}"
        );
        assert_eq!(
            d[0].sections[0].text, "Version 1.2.1: the changelog gives no release date.",
            "{heading}"
        );
        assert!(
            d[0].sections.iter().any(|s| s.text.contains("- y")),
            "{heading}"
        );
    }
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
fn version_headings_with_dates_in_words_are_releases() {
    let text = "# 1.54.1 (October 21st, 2026)\n### Fixed\n- time: revert a change\n\n\
                # 1.54.0 (Oct 19, 2026)\n- fs: add `File::set_times`\n\n\
                ## v1.53.0 - 2026-07-17\n- x\n\n## 1.52.0 / 3 May 2026\n- y\n\n\
                ## 1.51.0 (Sept. 2nd 2025)\n- z\n\n## Version 1.50.0 - 2025-08-01\n- w\n\n\
                Release 1.49.0 / July 3rd, 2025\n- v\n# 1.48.0 (24. March, 2025)\n- u\n";
    let d = docs(text, "").unwrap();
    assert_eq!(
        d.iter()
            .map(|d| (d.key.as_str(), d.date.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("1.54.1", "2026-10-21"),
            ("1.54.0", "2026-10-19"),
            ("v1.53.0", "2026-07-17"),
            ("1.52.0", "2026-05-03"),
            ("1.51.0", "2025-09-02"),
            ("1.50.0", "2025-08-01"),
            ("1.49.0", "2025-07-03"),
            ("1.48.0", "2025-03-24"),
        ]
    );
    assert_eq!(
        d[0].sections[0].text,
        "Version 1.54.1 was released on 2026-10-21."
    );
    // A subheading that opens with a number is not a release, dated or not.
    let d = docs(
        "# 2.0.0 (May 1, 2024)\n### 2 new backends\n- s3\n### 3 fixes since 2024-04-01\n- x\n",
        "",
    )
    .unwrap();
    assert_eq!(d.len(), 1);
    // A configured heading's date may be written in words too.
    let d = docs(
        "Release 7 on March 4, 2023\nNotes.\n",
        r#"{"heading":"^Release (?P<version>\\S+) on (?P<date>.+)$"}"#,
    )
    .unwrap();
    assert_eq!((d[0].key.as_str(), d[0].date.as_str()), ("7", "2023-03-04"));
}

#[test]
fn setext_headings_are_releases_and_subsections() {
    let text =
        "# Rust Release Notes\n\nVersion 1.65.0 (2022-11-03)\n==========================\n\n\
                Language\n--------\n- [Stabilize generic associated types (GATs)][96709]\n\n\
                Libraries\n---------\n- [Implement `Eq` for `Wrapping`][96710]\n\n\
                [96709]: https://github.com/rust-lang/rust/pull/96709/\n\n\
                Version 1.64.0 (2022-09-22)\n===========================\n\n\
                A paragraph of its own.\n\n---\n\nCompiler\n--------\n- Add a target\n";
    let d = docs(text, r#"{"product":"Rust"}"#).unwrap();
    assert_eq!(
        d.iter().map(summary).collect::<Vec<_>>()[0].3,
        vec![
            (
                vec![],
                "Version 1.65.0 of Rust was released on 2022-11-03.".into()
            ),
            (
                vec!["Language".into()],
                "- [Stabilize generic associated types (GATs)][96709]".into()
            ),
            (
                vec!["Libraries".into()],
                "- [Implement `Eq` for `Wrapping`][96710]".into()
            ),
        ]
    );
    // A rule after a blank line is not an underline.
    assert_eq!(
        d[1].sections
            .iter()
            .map(|s| (s.heading.clone(), s.text.clone()))
            .collect::<Vec<_>>()[1..],
        [
            (vec![], "A paragraph of its own.\n\n---".to_owned()),
            (vec!["Compiler".to_owned()], "- Add a target".to_owned()),
        ]
    );
    // Errors still name the line of the file.
    let bad = docs("Notes\n\nVersion 1.0.0 (2024-02-30)\n=====\n- x\n", "").unwrap_err();
    assert!(bad.contains("line 3"), "{bad}");
}

#[test]
fn dates_must_be_real_days() {
    assert!(valid_date("2024-02-29") && valid_date("2000-02-29"));
    assert!(!valid_date("2023-02-29") && !valid_date("1900-02-29"));
    assert!(!valid_date("2024-13-01") && !valid_date("2024-1-01") && !valid_date("soon"));
    assert_eq!(iso_date("2024/02/29").as_deref(), Some("2024-02-29"));
    assert_eq!(iso_date("1st Jan 2024").as_deref(), Some("2024-01-01"));
    assert_eq!(iso_date("24. March, 2024").as_deref(), Some("2024-03-24"));
    assert_eq!(iso_date("Ma 1, 2024"), None);
    assert_eq!(iso_date("June 31, 2024"), None);
    assert_eq!(iso_date("Foo 3, 2024"), None);
}
