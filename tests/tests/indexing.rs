//! Indexing: incremental and full runs, generations kept and swapped, a
//! partial generation left by a killed build, configuration and asset errors
//! that write nothing, and a watched corpus reindexed when its files change.

use std::process::Command;
use std::time::Duration;

use candor_e2e::cli::{candor, candor_bin, candor_ok, index_argv, index_corpus, index_report};
use candor_e2e::corpus::{clinic, make_corpus, CLINIC_HOURS};
use candor_e2e::files::{list, write};
use candor_e2e::http::{get, post};
use candor_e2e::server::serve;
use serde_json::{json, Value};

#[test]
fn incremental_reindex_embeds_only_changes_and_keeps_old_generation_until_swap() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    std::fs::remove_file(corpus.join("docs/broken.pdf")).unwrap();
    std::fs::remove_file(corpus.join("docs/latin1.txt")).unwrap();
    let data = tmp.path().join("data");
    let index = |mode: &str| -> Value {
        let out = candor_ok(
            tmp.path(),
            &index_argv(&corpus, &data, &["--mode", mode, "--json"]),
        );
        serde_json::from_str(out.trim()).unwrap()
    };
    let first = index("incremental");
    assert_eq!(
        (
            first["generation"].as_u64(),
            first["files_changed"].as_u64()
        ),
        (Some(1), Some(3))
    );

    // Nothing changed: nothing is parsed or embedded.
    let second = index("incremental");
    assert_eq!(second["files_skipped"], 3, "{second}");
    assert_eq!(second["chunks_embedded"], 0, "{second}");

    // One edit, one deletion, one new file.
    write(
        &corpus.join("docs/alarms.txt"),
        include_str!("../fixtures/indexing/alarms.txt"),
    );
    std::fs::remove_file(corpus.join("docs/sensors.html")).unwrap();
    write(
        &corpus.join("docs/vents.md"),
        include_str!("../fixtures/indexing/vents.md"),
    );
    let third = index("incremental");
    assert_eq!(
        (
            third["files_changed"].as_u64(),
            third["files_skipped"].as_u64(),
            third["files_deleted"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{third}"
    );
    assert_eq!(third["generation"], 3);

    let search = |q: &str| -> Value {
        let out = candor_ok(
            tmp.path(),
            &[
                "search",
                "--corpus",
                corpus.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
                "--mode",
                "bm25",
                "--json",
                q,
            ],
        );
        serde_json::from_str(out.trim()).unwrap()
    };
    assert_eq!(
        search("hail microphone")["evidence"][0]["doc_id"],
        "docs/alarms.txt"
    );
    assert_eq!(
        search("frost forecast")["evidence"],
        json!([]),
        "old text is gone"
    );
    assert_eq!(
        search("salt chamber calibrate")["evidence"],
        json!([]),
        "deleted file is gone"
    );
    assert_eq!(
        search("roof vents temperature")["evidence"][0]["doc_id"],
        "docs/vents.md"
    );

    // Only the newest two generations are kept, and a full rebuild embeds everything.
    let gens: Vec<String> = std::fs::read_dir(data.join("orchard/generations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(gens.len(), 2, "{gens:?}");
    let full = index("full");
    assert_eq!(full["files_changed"], 3, "{full}");
}

#[test]
fn a_leftover_partial_generation_is_removed_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let data = tmp.path().join("data");
    // As if a build had been killed before writing its manifest.
    write(
        &data.join("orchard/generations/000007/chunks.jsonl"),
        "partial",
    );
    let report = index_report(tmp.path(), &corpus, &data);
    assert!(
        report["removed_partial"][0]
            .as_str()
            .unwrap()
            .ends_with("000007"),
        "{report}"
    );
    assert!(!data.join("orchard/generations/000007").exists());
}

#[test]
fn bad_config_is_one_clear_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let toml = std::fs::read_to_string(corpus.join("corpus.toml")).unwrap();
    std::fs::write(
        corpus.join("corpus.toml"),
        format!("{toml}\n[recency]\nhalf_life_days = -5\n"),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let out = candor(tmp.path(), &index_argv(&corpus, &data, &[]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corpus.toml")
            && err.contains("recency.half_life_days")
            && err.contains("positive"),
        "{err}"
    );
    // The deployment file: missing, then with a bad value; each cause is named once.
    let deployment = tmp.path().join("candor.toml");
    let with_deployment = |argv: Vec<&str>| {
        let full = [&["--deployment", deployment.to_str().unwrap()][..], &argv].concat();
        let out = candor(tmp.path(), &full);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::write(corpus.join("corpus.toml"), &toml).unwrap();
    let err = with_deployment(index_argv(&corpus, &data, &[]));
    assert!(err.contains("candor.toml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    std::fs::write(&deployment, "[vector_store]\nkind = \"qdrant\"\n").unwrap();
    let err = with_deployment(index_argv(&corpus, &data, &[]));
    assert!(
        err.contains("candor.toml") && err.contains("vector_store.url"),
        "{err}"
    );
    assert!(
        !data.exists(),
        "nothing may be written: {:?}",
        list(tmp.path())
    );
}

#[test]
fn missing_assets_name_the_file_and_the_fetch_command() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let out = Command::new(candor_bin())
        .args(["index", "--corpus", corpus.to_str().unwrap()])
        .current_dir(tmp.path())
        .env_clear()
        .env("CANDOR_ASSETS_DIR", tmp.path().join("no-assets"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("libonnxruntime.so") && err.contains("make assets"),
        "{err}"
    );
}

#[test]
fn a_watched_corpus_is_reindexed_when_its_files_change_and_only_then() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "[watch]\ninterval_seconds = 1\n");

    index_corpus(tmp.path(), &c, &data);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let generation = || {
        let (_, body) = get(&server.base, "/v1/corpora");
        serde_json::from_str::<Value>(&body).unwrap()[0]["generation"]
            .as_u64()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(generation(), 1, "nothing changed, nothing reindexed");

    write(
        &c.join("docs/hours.md"),
        CLINIC_HOURS.replace("nine", "eight"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while generation() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was never picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, b) = post(
        &server.base,
        "/v1/answer",
        &json!({"question": "When does the clinic open on Saturdays?"}).to_string(),
    );
    assert!(
        b["answer"].as_str().unwrap_or_default().contains("eight"),
        "{b}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(generation(), 2, "no reindex without a change");
}
