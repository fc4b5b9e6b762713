//! Temporal intent, decay, supersession and the re-ranking they make.

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn intent_knows_a_question_that_asks_for_a_release() {
    for q in [
        "Which version added S3 storage?",
        "when was the doctor command added",
        "since which release are laptops shown as late",
        "What is the latest Ferrule release?",
        "newest kiln version?",
        "what was the most recent release as of 2024",
        "what was the first restic version that shipped the dump command?",
        "Which release introduced copy targets for S3-compatible storage?",
        "restore hung on a locked repo - has that been fixed?",
        "backup --stdin reads nothing with a pipe, bug?",
    ] {
        assert!(intent(q).asks_release, "{q}");
    }
    // The newest release answers what is new, and whether there is a newer one.
    for q in [
        "what's new in restic",
        "is there anything newer than 0.18.1?",
        "I run 0.16.4, is that up to date?",
        "I'm on 0.18.1 - is there anything newer?",
    ] {
        let i = intent(q);
        assert!(i.asks_release && i.latest, "{q}");
        assert_eq!(i.beyond, q.contains('.'), "{q}");
    }
    for q in ["is restic 0.17.3 the latest version?", "is 0.17 current"] {
        assert!(intent(q).beyond, "{q}");
    }
    for q in [
        "How do I upgrade from 1.2 to the latest version?",
        "ferrule 1.2 install script - how do I pin a specific release instead of the newest 1.x",
        "what's new in 0.16.0",
    ] {
        assert!(!intent(q).beyond, "{q}");
    }
    for q in [
        "What is the latest install procedure?",
        "How do I upgrade to a new version?",
        "Which port does the current server use?",
        "Is my install up-to-date?",
        "Which Go version do I need to compile restic from source?",
        "When does the nightly prune run in the current release?",
        "What was the minimum kernel version for the server in 2024?",
        "How do I report a bug?",
    ] {
        assert!(!intent(q).asks_release, "{q}");
    }
    // Which release began something, as against which one did it.
    assert!(intent("Which release first offered Prometheus metrics?").origin);
    assert!(intent("which version added the dump command").origin);
    assert!(!intent("which release fixed the lock timeout").origin);
    assert!(!intent("what did the newest version add").origin);
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
    assert_eq!(
        intent("What was the default as of 2023?").date_words,
        ["2023"]
    );
    assert_eq!(
        intent("settings before March 2024").date_words,
        ["march", "2024"]
    );
    assert!(intent("what changed in 2.0?").date_words.is_empty());
}

#[test]
fn latest_is_read_from_its_paraphrases_but_not_from_a_current_folder() {
    for q in [
        "most recent version of the agent?",
        "What's the newest release",
        "whats new in ferrule",
        "Is my install up-to-date?",
        "which version is current",
        "how do people configure it nowadays",
        "What changed in the last release?",
        "recently added features",
        "which version came out last",
        "what was released last?",
        "What was the last restic version released, and what did it fix?",
        "the last stable release",
    ] {
        assert!(intent(q).latest, "{q}");
    }
    for q in [
        "rclone found in current directory",
        "restore into the current working dir",
        "Which port does it use?",
        "what version added compression",
        "what was the last step of the restore",
        "the last snapshot of each host in the repository",
        "forget every snapshot newer than 30 days",
        "is 0.17 newer than 0.16?",
        "what is new in restic 0.17.3?",
    ] {
        assert!(!intent(q).latest, "{q}");
    }
}

#[test]
fn month_and_version_bounds_are_read() {
    assert_eq!(
        intent("what was the default as of March 2024?").not_after,
        Some(d(2024, 3, 31))
    );
    assert_eq!(
        intent("settings before feb 2024").not_after,
        Some(d(2024, 1, 31))
    );
    assert_eq!(
        intent("How did it work in december 2023").not_after,
        Some(d(2023, 12, 31))
    );
    assert_eq!(
        intent("prior to 2021, which port?").not_after,
        Some(d(2020, 12, 31))
    );
    assert_eq!(
        intent("What was the default port before version 2.0?").version,
        Some(VersionBound {
            version: "2.0".into(),
            before: true
        })
    );
    assert_eq!(
        intent("how did pruning work as of v0.17.3").version,
        Some(VersionBound {
            version: "0.17.3".into(),
            before: false
        })
    );
    assert_eq!(
        intent("what changed in v2.5").version.map(|v| v.before),
        Some(false)
    );
    assert_eq!(intent("what got fixed in restic 0.17.3?").version, None);
    // A series named with a wildcard bounds the question, preposition or not.
    for q in [
        "How was it installed in the 1.x line?",
        "Where does the 1.x install script put its files?",
        "with the old v1.x installer, can I use /srv?",
    ] {
        assert_eq!(
            intent(q).version,
            Some(VersionBound {
                version: "1".into(),
                before: false
            }),
            "{q}"
        );
    }
    assert_eq!(
        intent("what changed before 2.3.x?").version,
        Some(VersionBound {
            version: "2.3".into(),
            before: true
        })
    );
    assert_eq!(intent("how do I move from 1.x to 2.x?").version, None);
    assert_eq!(intent("is x.x supported, or 1.xy?").version, None);
    assert_eq!(intent("a may 2024 release").not_after, None);
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

#[test]
fn a_version_of_the_product_newer_than_every_release_and_never_mentioned_is_unreleased() {
    let chunk = |version: Option<&str>, text: &str| Chunk {
        doc_id: crate::ingest::DocId(text.into()),
        source: "CHANGELOG.md".into(),
        title: "Changelog".into(),
        heading_path: Vec::new(),
        page: None,
        date: None,
        series: None,
        file_dated: false,
        metadata: version
            .map(|v| {
                [
                    ("version".to_owned(), v.to_owned()),
                    ("product".to_owned(), "Kiln".to_owned()),
                ]
                .into()
            })
            .unwrap_or_default(),
        span: (0, text.len()),
        text: text.into(),
    };
    let chunks = vec![
        chunk(Some("0.9.3"), "Fix the mount command."),
        chunk(Some("v0.10.0"), "Add the copy command."),
        chunk(
            None,
            "Needs Go 1.21 or newer. Version 1.0 will keep this format.",
        ),
    ];
    let unreleased = |q: &str| unreleased(q, &chunks);
    let future = |v: &str, newest: &str| Some((v.to_owned(), newest.to_owned()));
    // 0.10.0 is newer than 0.9.3: versions compare part by part.
    assert_eq!(
        unreleased("what will kiln 0.11 bring?"),
        future("0.11", "0.10.0")
    );
    assert_eq!(
        unreleased("when will 0.11 be released"),
        future("0.11", "0.10.0")
    );
    assert_eq!(unreleased("changes in v0.12"), future("0.12", "0.10.0"));
    assert_eq!(
        unreleased("is version 0.12.1 out"),
        future("0.12.1", "0.10.0")
    );
    assert_eq!(unreleased("which version added copy, kiln 0.10?"), None);
    assert_eq!(unreleased("is kiln 0.9.3 still supported"), None);
    // Another product's version is not the corpus's release.
    assert_eq!(unreleased("does it build with go 1.22"), None);
    assert_eq!(unreleased("does it run on Ubuntu 24.04"), None);
    // A version the documents mention, even newer, is theirs to answer.
    assert_eq!(unreleased("when is kiln 1.0 due"), None);
    assert_eq!(
        unreleased("when is kiln 1.0.1 due"),
        future("1.0.1", "0.10.0")
    );
    // "13.0" holds "3.0" but does not mention it.
    assert_eq!(
        super::unreleased(
            "what changes in kiln 3.0",
            &[chunk(Some("2.4.0"), "Works with 13.0.")]
        ),
        future("3.0", "2.4.0")
    );
    // Without releases nothing is unreleased.
    assert_eq!(
        super::unreleased("what changes in version 3.0", &chunks[2..]),
        None
    );
}

#[test]
fn versions_order_by_their_numbers_with_a_pre_release_before_its_release() {
    use crate::index::version_order;
    use std::cmp::Ordering::{Equal, Greater, Less};
    assert_eq!(version_order("0.10.0", "0.9.3"), Greater);
    assert_eq!(version_order("v1.2.0", "1.10"), Less);
    assert_eq!(version_order("3.0", "3.0.0"), Equal);
    assert_eq!(version_order("2.0.0-rc.1", "2.0.0"), Less);
    assert_eq!(version_order("2.0.0-rc.1", "1.9.9"), Greater);
    assert_eq!(version_order("1.0.0+build.5", "1.0.0"), Equal);
}
