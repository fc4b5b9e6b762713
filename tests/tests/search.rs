//! Search: what indexing keeps and skips, evidence with its citations, the
//! errors of `/v1/search`, and versions in a series against `as_of`.

use candor_e2e::cli::{index_corpus, index_report};
use candor_e2e::corpus::make_corpus;
use candor_e2e::files::copy_fixture;
use candor_e2e::http::{get, post};
use candor_e2e::server::serve;
use serde_json::{json, Value};

#[test]
fn index_report_skips_bad_files_and_server_searches_with_citations() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let data = tmp.path().join("data");
    let report = index_report(tmp.path(), &corpus, &data);
    assert_eq!(report["files_seen"], 5, "{report}");
    assert_eq!(report["files_failed"], 2, "{report}");
    let errors = report["errors"].as_array().unwrap();
    let paths: Vec<&str> = errors.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["docs/broken.pdf", "docs/latin1.txt"]);
    assert!(
        errors[1]["reason"].as_str().unwrap().contains("UTF-8"),
        "{report}"
    );

    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    assert_eq!(get(&server.base, "/healthz"), (200, "ok".to_owned()));

    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "how long do drip lines run?"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let top = &body["evidence"][0];
    assert_eq!(top["doc_id"], "docs/watering.md", "{body}");
    assert_eq!(top["title"], "Watering schedules");
    assert_eq!(top["heading_path"], json!(["Watering", "Drip lines"]));
    assert_eq!(top["date"], "2025-04-01");
    assert_eq!(top["series"], "watering");
    assert!(
        top["scores"]["fused"].is_number() && top["span"].is_array(),
        "{body}"
    );
    assert_eq!(body["corpus"], "orchard");

    // The HTML parser dropped script and nav text.
    let (_, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "zebra tracking menu", "mode": "bm25"}).to_string(),
    );
    assert_eq!(
        body["evidence"],
        json!([]),
        "script/nav text must not be indexed: {body}"
    );

    let (_, corpora) = get(&server.base, "/v1/corpora");
    let corpora: Value = serde_json::from_str(&corpora).unwrap();
    assert_eq!(corpora[0]["name"], "orchard");
    assert_eq!(corpora[0]["documents"], 3);

    // Bad requests get the JSON error shape and the right status.
    let (status, body) = post(&server.base, "/v1/search", "{not json");
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");
    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "x", "corpus": "nope"}).to_string(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_corpus"))
    );
    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "   "}).to_string(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("empty_question")),
        "{body}"
    );
    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "x", "top_k": 0}).to_string(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_top_k")),
        "{body}"
    );
    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "x", "colour": "red"}).to_string(),
    );
    assert_eq!(status, 400, "unknown fields are rejected: {body}");
    let (status, body) = post(&server.base, "/v1/search", &"x".repeat(100_000));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, _) = get(&server.base, "/v1/nothing");
    assert_eq!(status, 404);
}

#[test]
fn newer_version_in_a_series_outranks_the_old_one_and_as_of_hides_newer_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("corpora/guides");
    copy_fixture("search/guides", &c);
    let data = tmp.path().join("data");
    index_corpus(tmp.path(), &c, &data);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);

    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "How do I install Orchard with the installer script?"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["evidence"][0]["doc_id"], "docs/install-v2.md",
        "the newer version wins: {body}"
    );
    assert_eq!(body["evidence"][1]["scores"]["superseded"], true, "{body}");

    let (_, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "How do I install Orchard?", "as_of": "2024-12-31"}).to_string(),
    );
    let ids: Vec<&str> = body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["doc_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["docs/install-v1.md"],
        "as_of hides newer documents: {body}"
    );
    assert_eq!(body["evidence"][0]["scores"]["superseded"], false, "{body}");

    // Asking about history keeps older versions in play.
    let (_, body) = post(&server.base, "/v1/search", &json!({"question": "How did installing Orchard work previously, with the installer script?"}).to_string());
    assert_eq!(
        body["evidence"][0]["doc_id"], "docs/install-v1.md",
        "{body}"
    );
    assert_eq!(body["evidence"][0]["scores"]["superseded"], false, "{body}");

    // The question itself can set the bound.
    let (_, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "How did one install Orchard as of 2024?"}).to_string(),
    );
    assert_eq!(
        body["evidence"][0]["doc_id"], "docs/install-v1.md",
        "{body}"
    );

    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "install", "as_of": "last year"}).to_string(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
}
