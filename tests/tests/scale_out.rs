//! Scale-out on one Qdrant server: replicas share it, follow its alias after a
//! reindex on either, wait unready while it is down, and answer 503 (never a
//! wrong "unsupported") without it.

use std::time::Duration;

use candor_e2e::cli::{candor, candor_ok, index_argv};
use candor_e2e::corpus::make_corpus;
use candor_e2e::files::write;
use candor_e2e::http::{post, served_generation, start_full_reindex, wait_for_job};
use candor_e2e::qdrant::{qdrant_bin, start_qdrant};
use candor_e2e::server::{eventually, free_port, Starting};
use serde_json::json;

#[test]
fn replicas_share_a_qdrant_server_follow_its_alias_and_answer_503_without_it() {
    let Some(bin) = qdrant_bin("the Qdrant replica and fault test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let corpus = make_corpus(root);
    let corpora = root.join("corpora");
    let (http, grpc) = (free_port(), free_port());
    let config = root.join("candor.toml");
    write(
        &config,
        format!(
            "[vector_store]\nkind = \"qdrant\"\nurl = \"http://127.0.0.1:{grpc}\"\nfollow_seconds = 1\n"
        ),
    );
    let config_arg = config.to_str().unwrap();
    let storage = root.join("qdrant");
    let (data_a, data_b) = (root.join("data-a"), root.join("data-b"));

    // With the server down, indexing fails naming where it tried and writes nothing.
    let out = candor(
        root,
        &[
            &["--deployment", config_arg][..],
            &index_argv(&corpus, &data_a, &[]),
        ]
        .concat(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(&format!("127.0.0.1:{grpc}")),
        "{err}"
    );
    assert!(!data_a.join("orchard/current").exists());

    // A replica with an empty data dir waits, unready, for a first generation.
    let qdrant = start_qdrant(&bin, &storage, http, grpc);
    let b = Starting::spawn(root, config_arg, &corpora, &data_b, root.join("b.log"));
    assert!(
        b.logs(&["no generation published yet"]),
        "{}",
        std::fs::read_to_string(&b.log).unwrap_or_default()
    );
    let (status, waiting) = b.readyz();
    assert_eq!(status, 503);
    assert!(waiting.contains("no generation published yet"), "{waiting}");
    candor_ok(
        root,
        &[
            &["--deployment", config_arg][..],
            &index_argv(&corpus, &data_a, &[]),
        ]
        .concat(),
    );
    let b = b.ready();
    assert!(
        !data_a.join("orchard/generations/000001/vectors").exists(),
        "vectors live on the server, not on disk"
    );
    drop(qdrant);

    // A replica started while Qdrant is down listens, is not ready, and says why.
    let a = Starting::spawn(root, config_arg, &corpora, &data_a, root.join("a.log"));
    assert!(
        a.logs(&["does not answer", &format!("127.0.0.1:{grpc}")]),
        "the log never said where it tried: {}",
        std::fs::read_to_string(&a.log).unwrap_or_default()
    );
    let (status, waiting) = a.readyz();
    assert_eq!(status, 503);
    assert!(
        waiting.contains("does not answer") && waiting.contains(&format!("127.0.0.1:{grpc}")),
        "{waiting}"
    );
    let qdrant = start_qdrant(&bin, &storage, http, grpc);
    let a = a.ready();

    // Both replicas serve the published generation alike.
    let search = |base: &str, q: &str| {
        post(
            base,
            "/v1/search",
            &json!({"question": q, "corpus": "orchard"}).to_string(),
        )
    };
    let (sa, ra) = search(&a.base, "how long do the drip lines open");
    let (sb, rb) = search(&b.base, "how long do the drip lines open");
    assert_eq!((sa, sb), (200, 200), "{ra} {rb}");
    assert_eq!(ra["evidence"], rb["evidence"]);
    assert_eq!(served_generation(&b.base), 1);

    // A reindex on one replica: the other follows the alias.
    write(
        &corpus.join("docs/alarms.txt"),
        include_str!("../fixtures/scale_out/alarms.txt"),
    );
    let job = wait_for_job(&a.base, &start_full_reindex(&a.base, "orchard")["job_id"]);
    assert_eq!(job["phase"], "done", "{job}");
    assert_eq!(served_generation(&a.base), 2);
    assert!(
        eventually(Duration::from_secs(20), || served_generation(&b.base) == 2),
        "the replica never followed"
    );
    let (_, rb) = search(&b.base, "when does the alarm relay close for hail");
    assert!(
        rb["evidence"][0]["text"].as_str().unwrap().contains("hail"),
        "{rb}"
    );

    // Qdrant lost: a question that needs it is 503, never a wrong "unsupported".
    drop(qdrant);
    for base in [&a.base, &b.base] {
        let (status, body) = post(
            base,
            "/v1/answer",
            &json!({"question": "How many times does the valve controller retry?", "corpus": "orchard"}).to_string(),
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("vector_store_unavailable")),
            "{body}"
        );
    }
    // A reindex without it fails cleanly; the old generation keeps serving.
    let job = wait_for_job(&a.base, &start_full_reindex(&a.base, "orchard")["job_id"]);
    assert_eq!(job["phase"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("unavailable"),
        "{job}"
    );
    assert_eq!(served_generation(&a.base), 2);

    // Back: both replicas answer again, from the generation the alias kept.
    let _qdrant = start_qdrant(&bin, &storage, http, grpc);
    for base in [&a.base, &b.base] {
        let (status, body) = search(base, "how long do the drip lines open");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["generation"], 2);
    }
    let (status, body) = post(
        &a.base,
        "/v1/answer",
        &json!({"question": "How many times does the valve controller retry?", "corpus": "orchard"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
}
