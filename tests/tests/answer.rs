//! Answers: cited to their sources, declined with the reason, the evidence
//! check's probability, and bad requests that change nothing.

use candor_e2e::cli::candor;
use candor_e2e::corpus::answer_fixture;
use candor_e2e::files::write;
use candor_e2e::http::{get, post};
use candor_e2e::server::{serve, Server};
use serde_json::{json, Value};

#[test]
fn answers_cite_their_sources_and_unsupported_questions_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpora, data) = answer_fixture(tmp.path());
    let server = serve(tmp.path(), &corpora, &data);
    let ask = |body: Value| post(&server.base, "/v1/answer", &body.to_string());

    // Answered, cited to the right document and place.
    let (status, a) =
        ask(json!({"question": "How long are the drip lines open?", "corpus": "orchard"}));
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["status"], "answered", "{a}");
    let cite = &a["citations"][0];
    assert_eq!(cite["doc_id"], "docs/watering.md", "{a}");
    assert_eq!(
        (cite["title"].as_str(), cite["date"].as_str()),
        (Some("Watering schedules"), Some("2025-04-01"))
    );
    let text = a["answer"].as_str().unwrap();
    assert!(
        text.starts_with("Drip lines open for twelve minutes") && text.contains("[1]"),
        "{a}"
    );
    assert!(
        cite["snippet"].as_str().unwrap().contains("twelve minutes"),
        "{a}"
    );
    let span = cite["span"].as_array().unwrap();
    assert!(span[0].as_u64().unwrap() < span[1].as_u64().unwrap(), "{a}");
    assert!(
        a["confidence"].as_f64().unwrap() >= a["support"]["threshold"].as_f64().unwrap(),
        "{a}"
    );
    assert_eq!(
        (a["corpus"].as_str(), a["cached"].as_bool()),
        (Some("orchard"), Some(false))
    );
    for key in ["generation", "took_ms", "warnings", "scope", "message"] {
        assert!(!a[key].is_null(), "{key} missing: {a}");
    }
    // Every sentence carries a marker that points at a citation.
    let markers = a["answer"].as_str().unwrap().matches(" [").count();
    assert_eq!(markers, a["citations"].as_array().unwrap().len(), "{a}");

    // The same question again comes from the cache, unchanged.
    let (_, again) =
        ask(json!({"question": "How long are the drip lines open?", "corpus": "orchard"}));
    assert_eq!(
        (again["cached"].as_bool(), &again["answer"]),
        (Some(true), &a["answer"]),
        "{again}"
    );

    // Off topic: declined openly, with the scope.
    let (status, u) =
        ask(json!({"question": "What is the best way to cook risotto?", "corpus": "orchard"}));
    assert_eq!(status, 200, "{u}");
    assert_eq!(
        (u["status"].as_str(), u["reason"].as_str()),
        (Some("unsupported"), Some("out_of_scope")),
        "{u}"
    );
    assert_eq!(
        (
            u["answer"].is_null(),
            u["citations"].as_array().map(Vec::len)
        ),
        (true, Some(0)),
        "{u}"
    );
    assert!(
        u["scope"]
            .as_str()
            .unwrap()
            .contains("greenhouse controller"),
        "{u}"
    );
    assert!(
        u["message"].as_str().unwrap().contains("something else"),
        "{u}"
    );

    // On topic, but the documents do not say: declined as insufficient evidence.
    let (_, i) =
        ask(json!({"question": "Can Orchard send alerts to a smartwatch?", "corpus": "orchard"}));
    assert_eq!(
        (i["status"].as_str(), i["reason"].as_str()),
        (Some("unsupported"), Some("insufficient_evidence")),
        "{i}"
    );
    assert!(
        i["message"]
            .as_str()
            .unwrap()
            .contains("not hold enough evidence"),
        "{i}"
    );

    // Without a corpus, a question goes to the corpus that covers it...
    let (_, r) = ask(json!({"question": "Which port does the Orchard controller listen on?"}));
    assert_eq!(
        (r["status"].as_str(), r["corpus"].as_str()),
        (Some("answered"), Some("guides")),
        "{r}"
    );
    // ...where the newer version in a series outranks the old one...
    assert_eq!(r["citations"][0]["doc_id"], "docs/install-v2.md", "{r}");
    // ...unless as_of hides it.
    let (_, old) = ask(
        json!({"question": "Which port does the Orchard controller listen on?", "corpus": "guides", "as_of": "2024-12-31"}),
    );
    assert_eq!(old["citations"][0]["doc_id"], "docs/install-v1.md", "{old}");
    // A search that names no corpus goes where its answer went, and says so.
    for (question, corpus, doc) in [
        (
            "Which port does the Orchard controller listen on?",
            "guides",
            "docs/install-v2.md",
        ),
        (
            "How long are the drip lines open?",
            "orchard",
            "docs/watering.md",
        ),
    ] {
        let (status, s) = post(
            &server.base,
            "/v1/search",
            &json!({ "question": question }).to_string(),
        );
        assert_eq!(status, 200, "{s}");
        assert_eq!(
            (s["corpus"].as_str(), s["evidence"][0]["doc_id"].as_str()),
            (Some(corpus), Some(doc)),
            "{s}"
        );
    }
    // An off-topic question names everything that is covered.
    let (_, none) = ask(json!({"question": "What is a good stock to buy for my pension?"}));
    assert_eq!(none["reason"], "out_of_scope", "{none}");
    let scope = none["scope"].as_str().unwrap();
    assert!(
        scope.contains("orchard:") && scope.contains("guides:"),
        "{none}"
    );
}

#[test]
fn the_evidence_check_declines_what_it_doubts_and_shows_its_probability() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpora, data) = answer_fixture(tmp.path());
    let questions = [
        "How long do the drip lines run?",
        "At what temperature do the roof vents open?",
    ];
    let ask = |server: &Server, q: &str| {
        let (status, a) = post(
            &server.base,
            "/v1/answer",
            &json!({"question": q, "corpus": "orchard"}).to_string(),
        );
        assert_eq!(status, 200, "{a}");
        a
    };
    // The fixture's calibration questions name no relevant documents: no check.
    let server = serve(tmp.path(), &corpora, &data);
    let dense_best: Vec<f64> = questions
        .iter()
        .map(|q| {
            let a = ask(&server, q);
            assert_eq!(a["status"], "answered", "{a}");
            assert!(a["support"].get("evidence").is_none(), "{a}");
            a["support"]["signals"]["dense_best"].as_f64().unwrap()
        })
        .collect();
    drop(server);
    assert_ne!(dense_best[0], dense_best[1]);

    // A check that reads dense_best alone, with its cut between the two questions.
    let path = corpora.join("orchard/calibration.json");
    let mut calibration: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cut = (dense_best[0] + dense_best[1]) / 2.0;
    calibration["evidence"] = json!({
        "model": {"features": ["lead", "agreement", "dense_best", "coverage"],
                  "mean": [0.0, 0.0, cut, 0.0], "std": [1.0, 1.0, 0.01, 1.0],
                  "weights": [0.0, 0.0, 1.0, 0.0], "bias": 0.0, "threshold": 0.5},
        "questions": 2, "declined": 0.5, "top_relevant": 0.5, "top_relevant_answered": 1.0
    });
    write(&path, calibration.to_string());
    let server = serve(tmp.path(), &corpora, &data);
    for (q, best) in questions.iter().zip(&dense_best) {
        let a = ask(&server, q);
        let evidence = &a["support"]["evidence"];
        let (p, threshold) = (
            evidence["probability"].as_f64().unwrap(),
            evidence["threshold"].as_f64().unwrap(),
        );
        assert_eq!(threshold, 0.5, "{a}");
        if *best < cut {
            assert!(p < threshold, "{a}");
            assert_eq!(
                (&a["status"], &a["reason"]),
                (&json!("unsupported"), &json!("insufficient_evidence")),
                "{a}"
            );
            assert!(
                a["message"]
                    .as_str()
                    .unwrap()
                    .contains("no document stands out"),
                "{a}"
            );
            assert_eq!(a["citations"], json!([]), "{a}");
        } else {
            assert!(p >= threshold, "{a}");
            assert_eq!(a["status"], "answered", "{a}");
        }
    }
}

#[test]
fn bad_answer_requests_get_their_status_and_code_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpora, data) = answer_fixture(tmp.path());
    // A misspelt relevant document in calibration questions is named, and the
    // corpus keeps its calibration.
    let orchard = corpora.join("orchard");
    let calibration = std::fs::read(orchard.join("calibration.json")).unwrap();
    let typo = tmp.path().join("typo.jsonl");
    write(
        &typo,
        [
            json!({"text": "When does watering pause?", "relevant": ["docs/watering.md"]}),
            json!({"text": "How long do the drip lines run?", "relevant": ["docs/waterin.md"]}),
        ]
        .map(|q| q.to_string())
        .join("\n"),
    );
    let out = candor(
        tmp.path(),
        &[
            "calibrate",
            "--corpus",
            orchard.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--in-scope",
            typo.to_str().unwrap(),
            "--out-of-scope",
            tmp.path().join("off_topic.jsonl").to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("typo.jsonl")
            && err.contains("`docs/waterin.md`")
            && err.contains("How long do the drip lines run?")
            && !err.contains("`docs/watering.md`"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(orchard.join("calibration.json")).unwrap(),
        calibration
    );

    let server = serve(tmp.path(), &corpora, &data);
    let good =
        json!({"question": "At what temperature do the roof vents open?", "corpus": "orchard"})
            .to_string();
    let (_, before) = post(&server.base, "/v1/answer", &good);
    assert_eq!(before["status"], "answered", "{before}");
    let cases: Vec<(String, u16, &str)> = vec![
        ("{\"question\": ".to_owned(), 400, "invalid_json"),
        (
            json!({"corpus": "orchard"}).to_string(),
            400,
            "invalid_json",
        ),
        (json!({"question": 7}).to_string(), 400, "invalid_json"),
        (
            json!({"question": "vents", "colour": "red"}).to_string(),
            400,
            "invalid_json",
        ),
        (
            json!({"question": " \n "}).to_string(),
            400,
            "empty_question",
        ),
        (
            json!({"question": "v".repeat(2001)}).to_string(),
            400,
            "question_too_long",
        ),
        (
            json!({"question": "vents", "corpus": "nope"}).to_string(),
            404,
            "unknown_corpus",
        ),
        (
            json!({"question": "vents", "top_k": 0}).to_string(),
            400,
            "invalid_top_k",
        ),
        (
            json!({"question": "vents", "top_k": 21}).to_string(),
            400,
            "invalid_top_k",
        ),
        (
            json!({"question": "vents", "as_of": "soon"}).to_string(),
            400,
            "invalid_json",
        ),
        (
            json!({"question": "x".repeat(70_000)}).to_string(),
            413,
            "body_too_large",
        ),
    ];
    for (body, status, code) in &cases {
        let (got, resp) = post(&server.base, "/v1/answer", body);
        assert_eq!(
            (got, resp["error"]["code"].as_str()),
            (*status, Some(*code)),
            "body {:.80}: {resp}",
            body
        );
        assert!(
            !resp["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{resp}"
        );
    }
    // Nothing changed: the same question gives the same answer, and the server still answers.
    let (_, after) = post(&server.base, "/v1/answer", &good);
    assert_eq!(
        (&after["answer"], &after["citations"]),
        (&before["answer"], &before["citations"]),
        "{after}"
    );
    assert_eq!(get(&server.base, "/healthz"), (200, "ok".to_owned()));
}
