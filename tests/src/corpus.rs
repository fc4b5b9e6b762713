//! The corpora most tests share: the clinic (one document, plus whatever
//! sources or guardrails a test adds), the small orchard corpus with two broken
//! files, and the two calibrated corpora of the answer tests.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{candor_ok, index_corpus};
use crate::files::{copy_fixture, write};

/// The clinic's document (tests/fixtures/clinic/hours.md): it opens at nine on
/// Saturdays. Tests that edit it replace "nine".
pub const CLINIC_HOURS: &str = include_str!("../fixtures/clinic/hours.md");

/// A clinic corpus folder `corpora/<name>` under `root`: corpus.toml with the
/// docs/ source and `more` (further sources, guardrails), and docs/hours.md.
pub fn clinic(root: &Path, name: &str, more: &str) -> PathBuf {
    let c = root.join("corpora").join(name);
    write(
        &c.join("corpus.toml"),
        format!("name = \"{name}\"\nscope = \"Opening hours and services of the clinic.\"\n[[sources]]\npath = \"docs\"\n{more}"),
    );
    write(&c.join("docs/hours.md"), CLINIC_HOURS);
    c
}

/// Adds `n` service pages, docs/service-<i>.md, to the clinic corpus `c`: enough
/// pages that a reindex takes a while under load, and one distinct question each.
pub fn add_services(c: &Path, n: usize) {
    for i in 0..n {
        write(
            &c.join(format!("docs/service-{i}.md")),
            include_str!("../fixtures/clinic/service.md").replace("{i}", &i.to_string()),
        );
    }
}

/// A small corpus about a fictional product, plus two broken files
/// (tests/fixtures/orchard/).
pub fn make_corpus(root: &Path) -> PathBuf {
    let c = root.join("corpora/orchard");
    copy_fixture("orchard", &c);
    c
}

/// A calibrated greenhouse corpus and a calibrated install-guide corpus, served
/// together (tests/fixtures/answer/, with the off-topic questions of both).
pub fn answer_fixture(root: &Path) -> (PathBuf, PathBuf) {
    copy_fixture("answer", root);
    let data = root.join("data");
    for name in ["orchard", "guides"] {
        let c = &root.join("corpora").join(name);
        index_corpus(root, c, &data);
        // A damaged calibration from an earlier build is replaced, not read.
        write(&c.join("calibration.json"), "{\"support\": 3}");
        let (in_scope, unanswerable, off) = (
            c.join("eval/in_scope.jsonl"),
            c.join("eval/unanswerable.jsonl"),
            root.join("off_topic.jsonl"),
        );
        let mut args = vec![
            "calibrate",
            "--corpus",
            c.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ];
        args.extend([
            "--in-scope",
            in_scope.to_str().unwrap(),
            "--out-of-scope",
            off.to_str().unwrap(),
            "--json",
        ]);
        if unanswerable.is_file() {
            args.extend(["--unanswerable", unanswerable.to_str().unwrap()]);
        }
        let out = candor_ok(root, &args);
        let cal: Value = serde_json::from_str(out.trim()).unwrap();
        assert!(
            c.join("calibration.json").is_file(),
            "calibration is stored with the corpus"
        );
        assert!(cal["in_scope_answered"].as_f64().unwrap() >= 0.8, "{cal}");
        assert!(
            cal["out_of_scope_declined"].as_f64().unwrap() >= 0.8,
            "{cal}"
        );
    }
    (root.join("corpora"), data)
}
