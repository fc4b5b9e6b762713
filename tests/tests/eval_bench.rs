//! The measuring commands: `candor eval beir` on a slice of SciFact (and its
//! refused overrides), and `candor bench` with every figure it reports.

use std::path::{Path, PathBuf};

use candor_e2e::cli::{candor, candor_ok};
use candor_e2e::corpus::clinic;
use candor_e2e::files::{workspace, write};
use serde_json::Value;

#[test]
fn out_of_range_eval_overrides_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--max-tokens", "0"),
        ("--dense-weight", "3"),
        ("--rrf-k", "-60"),
    ] {
        let arg = format!("{flag}={value}");
        let out = candor(
            tmp.path(),
            &["eval", "beir", "--data", tmp.path().to_str().unwrap(), &arg],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

/// SciFact, shrunk: the first judged test queries, their relevant abstracts, and
/// other abstracts as distractors, in BEIR layout.
fn scifact_slice(dir: &Path, queries: usize, distractors: usize) -> Option<PathBuf> {
    let src = workspace().join("../shared/data/beir/scifact");
    if !src.join("corpus.jsonl").is_file() {
        // A user's machine may lack the reference data; CI never does.
        assert!(
            std::env::var_os("CI").is_none(),
            "reference data missing at {} in CI",
            src.display()
        );
        eprintln!("skipping: reference data not found at {}", src.display());
        return None;
    }
    let qrels = std::fs::read_to_string(src.join("qrels/test.tsv")).unwrap();
    let mut picked: Vec<String> = Vec::new();
    let mut relevant = std::collections::HashSet::new();
    let mut kept_qrels = String::from("query-id\tcorpus-id\tscore\n");
    for line in qrels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if !picked.contains(&cols[0].to_owned()) {
            if picked.len() == queries {
                continue;
            }
            picked.push(cols[0].to_owned());
        }
        relevant.insert(cols[1].to_owned());
        kept_qrels.push_str(line);
        kept_qrels.push('\n');
    }
    let corpus = std::fs::read_to_string(src.join("corpus.jsonl")).unwrap();
    let mut out = String::new();
    let mut others = 0;
    for line in corpus.lines() {
        let id = serde_json::from_str::<Value>(line).unwrap()["_id"]
            .as_str()
            .unwrap()
            .to_owned();
        if relevant.contains(&id)
            || (others < distractors && {
                others += 1;
                true
            })
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    let slice = dir.join("scifact-slice");
    write(&slice.join("corpus.jsonl"), out);
    write(&slice.join("qrels/test.tsv"), kept_qrels);
    std::fs::copy(src.join("queries.jsonl"), slice.join("queries.jsonl")).unwrap();
    Some(slice)
}

#[test]
fn beir_eval_on_a_scifact_slice_reports_metrics_and_caches_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(slice) = scifact_slice(tmp.path(), 25, 150) else {
        return;
    };
    let data = tmp.path().join("data");
    let run = |mode: &str| -> Value {
        let out = candor_ok(
            tmp.path(),
            &[
                "eval",
                "beir",
                "--data",
                slice.to_str().unwrap(),
                "--split",
                "test",
                "--mode",
                mode,
                "--json",
                "--raw-sample",
                "24",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        serde_json::from_str(out.trim()).unwrap()
    };
    let hybrid = run("hybrid");
    assert_eq!(hybrid["queries"], 25, "{hybrid}");
    assert_eq!(hybrid["index"]["cached"], false);
    assert!(
        hybrid["index"]["chunks"].as_u64().unwrap()
            >= hybrid["index"]["documents"].as_u64().unwrap()
    );
    assert!(
        hybrid["raw_embedding"]["chunks_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for key in ["ndcg_at_10", "recall_at_100", "mrr_at_10"] {
        let v = hybrid[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    // With ~175 documents the relevant abstract is almost always found.
    assert!(hybrid["ndcg_at_10"].as_f64().unwrap() > 0.6, "{hybrid}");
    for mode in ["bm25", "dense"] {
        let r = run(mode);
        assert_eq!(
            r["index"]["cached"], true,
            "second run reuses the index: {r}"
        );
        assert!(r["ndcg_at_10"].as_f64().unwrap() > 0.5, "{mode}: {r}");
    }
}

#[test]
fn the_benchmark_suite_reports_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let c = clinic(tmp.path(), "clinic", "");
    let questions: String = (0..20)
        .map(|i| format!("{{\"text\": \"When does the clinic open on day {i}?\"}}\n"))
        .collect();
    write(&tmp.path().join("q.jsonl"), questions);
    let out = candor_ok(
        tmp.path(),
        &[
            "bench",
            "--corpus",
            c.to_str().unwrap(),
            "--data-dir",
            tmp.path().join("data").to_str().unwrap(),
            "--questions",
            tmp.path().join("q.jsonl").to_str().unwrap(),
            "--requests",
            "5",
            "--json",
        ],
    );
    let figures: Value = serde_json::from_str(out.trim()).unwrap();
    for key in [
        "answer_uncached_c1_p50_ms",
        "answer_uncached_c1_p99_ms",
        "answer_cached_c1_p50_ms",
        "answer_uncached_c8_rps",
        "answer_uncached_c32_rps",
        "index_overhead",
        "incremental_ratio",
        "serve_rss_mb",
        "guardrail_p50_us",
        "parser_mb_per_s",
        "embed_cpu_ms_per_question",
        "embed_bound_rps",
        "answer_uncached_c8_share_of_bound",
    ] {
        let v = figures[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {figures}"));
        assert!(v.is_finite(), "{key}: {v}");
    }
    assert_eq!(figures["incremental_files_changed"], 1, "{figures}");
    // The bound is the cores over the measured cost of one question.
    let cost = figures["embed_cpu_ms_per_question"].as_f64().unwrap();
    let bound = figures["embed_bound_rps"].as_f64().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        cost > 0.0 && (bound - cores * 1000.0 / cost).abs() < 1e-6 * bound,
        "{figures}"
    );
    // Too few questions for the runs asked: a clear refusal, before any work.
    let out = candor(
        tmp.path(),
        &[
            "bench",
            "--corpus",
            c.to_str().unwrap(),
            "--questions",
            tmp.path().join("q.jsonl").to_str().unwrap(),
            "--requests",
            "50",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs 151"), "{err}");
}
