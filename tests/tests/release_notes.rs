//! Release notes parsed by the release-notes plugin: the latest version, the
//! release that holds a fact across a series, and a guardrail refused as a
//! parser.

use candor_e2e::cli::{candor, candor_ok, index_argv, index_report};
use candor_e2e::files::{copy_fixture, write};
use candor_e2e::http::post;
use candor_e2e::server::serve;
use serde_json::json;
use std::path::PathBuf;

/// A temporary folder with the fixture `fixture` indexed as corpus `name`
/// under `corpora/`, checked to give `documents` documents and no failed file.
fn indexed(fixture: &str, name: &str, documents: u64) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = tmp.path().join("corpora").join(name);
    copy_fixture(fixture, &c);
    let report = index_report(tmp.path(), &c, &data);
    assert_eq!(
        (
            report["documents"].as_u64(),
            report["files_failed"].as_u64()
        ),
        (Some(documents), Some(0)),
        "{report}"
    );
    (tmp, data, c)
}

/// The answer of the server at `base` to `question` about `corpus`.
fn ask(base: &str, corpus: &str, question: &str) -> serde_json::Value {
    post(
        base,
        "/v1/answer",
        &json!({"question": question, "corpus": corpus}).to_string(),
    )
    .1
}

#[test]
fn release_notes_parsed_by_the_plugin_answer_the_latest_version() {
    let (tmp, data, c) = indexed("release_notes/releases", "releases", 3);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| ask(&server.base, "releases", q);
    let latest = ask("What is the latest version?");
    assert_eq!(latest["status"], "answered", "{latest}");
    let first = &latest["citations"][0];
    assert_eq!(
        (
            first["doc_id"].as_str(),
            first["title"].as_str(),
            first["date"].as_str(),
            first["metadata"]["version"].as_str()
        ),
        (
            Some("notes/CHANGELOG.md#2.4.0"),
            Some("Ferrule 2.4.0"),
            Some("2026-09-14"),
            Some("2.4.0")
        ),
        "{latest}"
    );
    assert!(
        latest["answer"].as_str().unwrap().contains("2.4.0"),
        "{latest}"
    );
    // An older entry still answers for what it introduced.
    let s3 = ask("Which version added S3-compatible object storage?");
    assert_eq!(
        s3["citations"][0]["doc_id"], "notes/CHANGELOG.md#2.2.0",
        "{s3}"
    );

    // A guardrail named as a parser is refused, naming the entry.
    write(
        &c.join("corpus.toml"),
        include_str!("../fixtures/release_notes/parser_is_a_guardrail.toml"),
    );
    let out = candor(tmp.path(), &index_argv(&c, &data, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("sources[0].parser.plugin")
            && err.contains("is a guardrail, not a parser"),
        "{err}"
    );
}

#[test]
fn a_release_series_answers_from_the_release_that_holds_the_fact_and_the_newest_for_latest() {
    // A changelog in restic's form: one `Changelog for` heading per release, a
    // summary, and details with one indented entry each, some with Markdown links.
    let (tmp, data, c) = indexed("release_notes/kiln", "kiln", 6);
    // Calibration questions: in.jsonl and unanswerable.jsonl, and the answer
    // tests' off-topic ones.
    copy_fixture("release_notes/kiln_questions", tmp.path());
    write(
        &tmp.path().join("off.jsonl"),
        include_str!("../fixtures/answer/off_topic.jsonl"),
    );
    let arg = |p: &str| tmp.path().join(p).to_str().unwrap().to_owned();
    candor_ok(
        tmp.path(),
        &[
            "calibrate",
            "--corpus",
            c.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--in-scope",
            &arg("in.jsonl"),
            "--unanswerable",
            &arg("unanswerable.jsonl"),
            "--out-of-scope",
            &arg("off.jsonl"),
        ],
    );

    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| ask(&server.base, "kiln", q);
    // A fact of an old release is cited from that release, whose version the
    // answer names, however many newer releases there are.
    let rewrite = ask("Which version introduced the rewrite command?");
    assert_eq!(rewrite["status"], "answered", "{rewrite}");
    assert_eq!(
        rewrite["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.7.0",
        "{rewrite}"
    );
    assert!(
        rewrite["answer"].as_str().unwrap().contains("0.7.0"),
        "{rewrite}"
    );
    // "Most recent", "newest" and "latest" all mean the newest release.
    for q in [
        "What is the most recent release?",
        "newest kiln version?",
        "what's new in the latest release",
    ] {
        let a = ask(q);
        assert_eq!(
            a["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.11.0",
            "{q}: {a}"
        );
    }
    // A question that names an older release and asks for a newer one, or
    // whether it is current, is answered by the newest, however little its
    // words look like the notes'.
    for q in [
        "I'm on 0.8.0 - is there anything newer?",
        "I run kiln 0.9.0, is that up to date?",
        "is 0.10.0 the latest version?",
    ] {
        let a = ask(q);
        assert_eq!(
            (a["status"].as_str(), &a["citations"][0]["doc_id"]),
            (Some("answered"), &json!("notes/CHANGELOG.md#0.11.0")),
            "{q}: {a}"
        );
    }
    // "What's new in" a release it names is about that release.
    let named = ask("what's new in kiln 0.9.0?");
    assert_eq!(
        named["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.9.0",
        "{named}"
    );
    // "The latest release" is answered by naming it.
    let latest = ask("What is the latest kiln release?");
    assert!(
        latest["answer"].as_str().unwrap().contains("0.11.0"),
        "{latest}"
    );
    // A question about a whole release is answered by its summary, after the
    // sentence that names it, not by the template every release repeats.
    let whole = ask("What's in kiln 0.9.0?");
    let text = whole["answer"].as_str().unwrap_or_default();
    assert!(
        text.contains("0.9.0")
            && text.contains("Retry failed uploads")
            && !text.contains("The following sections"),
        "{whole}"
    );
    // An entry whose title is a Markdown link is quoted as its text.
    let mount = ask("which release added the mount command?");
    assert_eq!(
        mount["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.6.0",
        "{mount}"
    );
    let text = mount["answer"].as_str().unwrap();
    assert!(
        text.contains("mount command")
            && !text.contains("](")
            && !text.contains("http")
            && !text.contains('`'),
        "{mount}"
    );
    // On topic, but no release holds it: declined, saying what is covered.
    let tape = ask("Which kiln release added support for LTO tape drives?");
    assert_eq!(
        (tape["status"].as_str(), tape["reason"].as_str()),
        (Some("unsupported"), Some("insufficient_evidence")),
        "{tape}"
    );
    assert!(
        tape["message"]
            .as_str()
            .unwrap()
            .contains("Release notes of kiln"),
        "{tape}"
    );
    // A release newer than any the notes hold is not theirs to answer, however
    // well an older release's entry matches the rest of the question.
    let next = ask("Which fixes to the rewrite command come in kiln 0.12?");
    assert_eq!(
        (next["status"].as_str(), next["reason"].as_str()),
        (Some("unsupported"), Some("insufficient_evidence")),
        "{next}"
    );
    let message = next["message"].as_str().unwrap();
    assert!(
        message.contains("0.12") && message.contains("0.11.0"),
        "{next}"
    );
}

#[test]
fn a_changelog_with_undated_releases_answers_its_highest_version_for_latest() {
    // Newer releases without dates above older dated ones, as some real
    // changelogs are written.
    let (tmp, data, _) = indexed("release_notes/undated", "undated", 4);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| ask(&server.base, "undated", q);
    // The file's modification time is today: taken for the undated releases'
    // date, it would make each of them the newest.
    // "what's new?" shares no word with the newest release's notes; asking
    // for the newest release, and nothing else, it is answered from it.
    for q in [
        "What is the latest release?",
        "most recent version of tessel",
        "what's new?",
    ] {
        let latest = ask(q);
        let first = &latest["citations"][0];
        assert_eq!(
            (
                latest["status"].as_str(),
                first["doc_id"].as_str(),
                first["date"].as_str()
            ),
            (Some("answered"), Some("notes/CHANGELOG.md#0.10.1"), None),
            "{q}: {latest}"
        );
    }
    let shutdown = ask("Which version added graceful shutdown?");
    assert_eq!(
        shutdown["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.10.0",
        "{shutdown}"
    );
    assert!(
        shutdown["answer"]
            .as_str()
            .unwrap()
            .contains("the changelog gives no release date"),
        "{shutdown}"
    );
    // A dated release keeps its date (`24. March, 2024` in the heading).
    let cookies = post(
        &server.base,
        "/v1/search",
        &json!({"question": "Which release fixed cookies with an empty value?", "corpus": "undated"})
            .to_string(),
    )
    .1;
    assert_eq!(
        (
            cookies["evidence"][0]["doc_id"].as_str(),
            cookies["evidence"][0]["date"].as_str()
        ),
        (Some("notes/CHANGELOG.md#0.9.2"), Some("2024-03-24")),
        "{cookies}"
    );
}

#[test]
fn an_incremental_index_parses_again_what_a_changed_parser_config_reads() {
    let (tmp, data, c) = indexed("release_notes/releases", "releases", 3);
    let config = |extra: &str| {
        write(
            &c.join("corpus.toml"),
            include_str!("../fixtures/release_notes/releases/corpus.toml")
                .replace("product = \"Ferrule\"", extra),
        )
    };
    let counts = |r: &serde_json::Value| {
        (
            r["files_changed"].as_u64(),
            r["files_skipped"].as_u64(),
            r["chunks_embedded"].as_u64(),
        )
    };
    // A heading regex that finds the same releases: the file is parsed
    // again, gives the same chunks, and keeps its vectors.
    config(
        "product = \"Ferrule\"\nheading = '^## \\[(?P<version>[^\\]]+)\\] - (?P<date>\\d{4}-\\d{2}-\\d{2})$'",
    );
    let same = index_report(tmp.path(), &c, &data);
    assert_eq!(counts(&same), (Some(0), Some(1), Some(0)), "{same}");
    // Another product name changes every title: the file is read anew.
    config("product = \"Forge\"");
    let renamed = index_report(tmp.path(), &c, &data);
    assert_eq!(
        (
            renamed["files_changed"].as_u64(),
            renamed["documents"].as_u64()
        ),
        (Some(1), Some(3)),
        "{renamed}"
    );
    assert!(renamed["chunks_embedded"].as_u64() > Some(0), "{renamed}");
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let latest = ask(&server.base, "releases", "What is the latest version?");
    assert_eq!(latest["citations"][0]["title"], "Forge 2.4.0", "{latest}");
}
