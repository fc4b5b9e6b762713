//! Answers composed by a language model: only cited, supported sentences kept,
//! streamed in order, stopped when the client leaves, and an extractive
//! fallback (or a decline) whenever the model fails.

use std::time::Duration;

use candor_e2e::cli::candor_ok;
use candor_e2e::corpus::answer_fixture;
use candor_e2e::http::{post, sample, scrape};
use candor_e2e::llm::{answer_stream, compose_with_llm, fake_endpoint, llm_server, read_event};
use candor_e2e::server::serve;
use serde_json::{json, Value};

/// Citation numbers `[n]`, `[n, m]` in a text.
fn cited_numbers(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in text.split('[').skip(1) {
        if let Some((inside, _)) = part.split_once(']') {
            if !inside.trim().is_empty()
                && inside
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
            {
                out.extend(
                    inside
                        .split(',')
                        .filter_map(|n| n.trim().parse::<usize>().ok()),
                );
            }
        }
    }
    out
}

#[test]
fn generated_answers_keep_only_cited_supported_sentences_and_stream_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpora, data) = answer_fixture(tmp.path());
    let llm = llm_server();
    for c in ["orchard", "guides"] {
        compose_with_llm(&corpora, c, &llm.base_url, "");
    }
    let threshold = |c: &str| {
        let cal: Value = serde_json::from_str(
            &std::fs::read_to_string(corpora.join(c).join("calibration.json")).unwrap(),
        )
        .unwrap();
        cal["citation"]["threshold"]
            .as_f64()
            .expect("calibrate chose a citation threshold")
    };
    let server = serve(tmp.path(), &corpora, &data);
    let questions: Vec<(&str, &str)> = [
        ("orchard", "How long do the drip lines run?"),
        ("orchard", "At what temperature do the roof vents open?"),
        ("orchard", "Who receives the greenhouse alarms?"),
        ("orchard", "When does the frost alarm trigger?"),
        ("guides", "Which port does the controller listen on?"),
        ("guides", "What should I back up before upgrading?"),
    ]
    .to_vec();
    let mut ids = Vec::new();
    for (corpus, q) in &questions {
        let (status, a) = post(
            &server.base,
            "/v1/answer",
            &json!({"question": q, "corpus": corpus}).to_string(),
        );
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["composer"], "llm", "the model was up: {a}");
        assert!(
            a["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| !w.as_str().unwrap().contains("extractively")),
            "{a}"
        );
        match a["status"].as_str().unwrap() {
            "answered" => {
                let n = a["citations"].as_array().unwrap().len();
                let cited = cited_numbers(a["answer"].as_str().unwrap());
                assert!(!cited.is_empty(), "{a}");
                assert!(
                    cited.iter().all(|&c| (1..=n).contains(&c)),
                    "every marker names a given source: {a}"
                );
            }
            "unsupported" => assert_eq!(a["reason"], "insufficient_evidence", "{a}"),
            other => panic!("unexpected status {other}: {a}"),
        }
        ids.push((corpus.to_string(), a));
    }
    // Rate every answer, so that the export carries what the model wrote.
    for (_, a) in &ids {
        let (status, body) = post(
            &server.base,
            "/v1/feedback",
            &json!({"answer_id": a["answer_id"], "rating": "up"}).to_string(),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (mut kept_total, mut uncited_dropped) = (0, 0);
    for corpus in ["orchard", "guides"] {
        let out = candor_ok(
            tmp.path(),
            &[
                "feedback",
                "export",
                "--corpus",
                corpus,
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        let threshold = threshold(corpus);
        for line in out.lines() {
            let case: Value = serde_json::from_str(line).unwrap();
            let a = &ids
                .iter()
                .find(|(_, a)| a["answer_id"] == case["answer_id"])
                .unwrap()
                .1;
            let run = &case["composer"];
            assert_eq!(
                run["model"].as_str().map(|m| !m.is_empty()),
                Some(true),
                "{case}"
            );
            assert_eq!(run["prompt_hash"].as_str().unwrap().len(), 64, "{case}");
            let kept = run["kept"].as_array().unwrap();
            let dropped = run["dropped"].as_array().unwrap();
            assert_eq!(
                dropped.len() as u64,
                a["dropped_sentences"].as_u64().unwrap(),
                "{case}"
            );
            for k in kept {
                let s = k["sentence"].as_str().unwrap();
                assert!(
                    !cited_numbers(s).is_empty(),
                    "kept without a citation: {case}"
                );
                assert!(
                    k["score"].as_f64().unwrap() >= threshold - 1e-6,
                    "kept below the support threshold: {case}"
                );
                assert!(a["answer"].as_str().unwrap().contains(s), "{case}");
            }
            let joined: Vec<&str> = kept
                .iter()
                .map(|k| k["sentence"].as_str().unwrap())
                .collect();
            if kept.is_empty() {
                assert_eq!(a["status"], "unsupported", "{case}");
            } else {
                assert_eq!(a["answer"].as_str().unwrap(), joined.join(" "), "{case}");
            }
            for d in dropped {
                let s = d["sentence"].as_str().unwrap();
                if d["why"] != "repeat" {
                    assert!(
                        !a["answer"].as_str().unwrap_or("").contains(s) || s.len() < 12,
                        "a dropped sentence was returned: {case}"
                    );
                }
                if d["why"] == "no_citation" {
                    uncited_dropped += 1;
                }
                if d["why"] == "unsupported" {
                    assert!(d["score"].as_f64().unwrap() < threshold, "{case}");
                }
            }
            kept_total += kept.len();
        }
    }
    // The model is small and often wrong: both things must have happened.
    assert!(
        uncited_dropped > 0,
        "the model wrote no uncited sentence to drop"
    );
    assert!(kept_total > 0, "no generated sentence passed the checks");
    let metrics = scrape(&server.base);
    assert!(
        sample(
            &metrics,
            "candor_llm_sentences_total",
            &[("result", "dropped")]
        )
        .unwrap_or(0.0)
            >= uncited_dropped as f64
    );

    // Streamed: evidence first, then checked sentences, then the same answer as JSON.
    let body = json!({"question": "Which port does the controller listen on?", "corpus": "guides", "top_k": 3});
    let mut lines = answer_stream(&server.base, &body);
    let mut events = Vec::new();
    while let Some(e) = read_event(&mut lines) {
        events.push(e);
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"evidence"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(
        names[1..names.len() - 1].iter().all(|n| *n == "delta"),
        "{names:?}"
    );
    let done = &events.last().unwrap().1;
    assert_eq!(done["composer"], "llm", "{done}");
    let given = events[0].1["citations"].as_array().unwrap().len();
    assert!((1..=3).contains(&given), "top_k 3: {}", events[0].1);
    let deltas: Vec<&str> = events[1..events.len() - 1]
        .iter()
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    if done["status"] == "answered" {
        assert_eq!(events[0].1["citations"], done["citations"]);
        assert_eq!(deltas.join(" "), done["answer"].as_str().unwrap());
    } else {
        assert!(
            deltas.is_empty(),
            "no sentence passed, none was sent: {deltas:?}"
        );
    }

    // A client that goes away mid-answer stops the model, and no answer is made.
    while llm.lines.try_recv().is_ok() {}
    let answers = |m: &prometheus_parse::Scrape| -> f64 {
        m.samples
            .iter()
            .filter(|x| x.metric == "candor_answers_total")
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let before = answers(&scrape(&server.base));
    {
        let mut lines = answer_stream(
            &server.base,
            &json!({"question": "How do I calibrate the humidity probe?", "corpus": "orchard", "top_k": 4}),
        );
        let (first, _) = read_event(&mut lines).expect("an event");
        assert_eq!(first, "evidence");
    }
    let said = llm
        .lines
        .recv_timeout(Duration::from_secs(120))
        .expect("the model server answered");
    assert!(
        said.starts_with("cancelled"),
        "the model finished instead of stopping: {said}"
    );
    assert_eq!(
        answers(&scrape(&server.base)),
        before,
        "a cancelled answer is not an answer"
    );

    // The model server dies mid-answer: the answer is composed extractively instead.
    let mut llm = llm;
    let mut lines = answer_stream(
        &server.base,
        &json!({"question": "When does watering pause?", "corpus": "orchard"}),
    );
    let (first, _) = read_event(&mut lines).expect("an event");
    assert_eq!(first, "evidence");
    llm.child.kill().unwrap();
    llm.child.wait().unwrap();
    let mut rest = Vec::new();
    while let Some(e) = read_event(&mut lines) {
        rest.push(e);
    }
    let names: Vec<&str> = rest.iter().map(|(n, _)| n.as_str()).collect();
    let restart = names
        .iter()
        .position(|n| *n == "restart")
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(names.get(restart + 1), Some(&"evidence"), "{names:?}");
    let done = &rest.last().unwrap().1;
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert_eq!(
        (done["status"].as_str(), done["composer"].as_str()),
        (Some("answered"), Some("extractive")),
        "{done}"
    );
    assert!(
        done["warnings"]
            .to_string()
            .contains("composed extractively"),
        "{done}"
    );
    let metrics = scrape(&server.base);
    assert_eq!(
        sample(
            &metrics,
            "candor_llm_failures_total",
            &[("corpus", "orchard"), ("cause", "unreachable")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_failing_language_model_falls_back_and_never_fails_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpora, data) = answer_fixture(tmp.path());
    let question =
        json!({"question": "How long do the drip lines run?", "corpus": "orchard"}).to_string();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let cases: [(&str, String, &str, &str); 4] = [
        ("timeout", fake_endpoint(None), "timeout_ms = 1000\n", "did not finish within 1000 ms"),
        (
            "malformed",
            fake_endpoint(Some("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {not json\n\n")),
            "",
            "malformed output",
        ),
        (
            "status",
            fake_endpoint(Some("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{\"error\":\"busy\"}\n")),
            "",
            "HTTP 503",
        ),
        ("unreachable", closed.clone(), "", "cannot reach"),
    ];
    for (cause, url, extra, says) in &cases {
        compose_with_llm(&corpora, "orchard", url, extra);
        let server = serve(tmp.path(), &corpora, &data);
        let (status, a) = post(&server.base, "/v1/answer", &question);
        assert_eq!(status, 200, "{cause}: {a}");
        assert_eq!(
            (a["status"].as_str(), a["composer"].as_str()),
            (Some("answered"), Some("extractive")),
            "{cause}: {a}"
        );
        assert_eq!(
            a["citations"][0]["doc_id"], "docs/watering.md",
            "{cause}: {a}"
        );
        let warnings = a["warnings"].to_string();
        assert!(
            warnings.contains(says) && warnings.contains("composed extractively"),
            "{cause}: {a}"
        );
        assert_eq!(
            sample(
                &scrape(&server.base),
                "candor_llm_failures_total",
                &[("corpus", "orchard"), ("cause", cause)]
            ),
            Some(1.0),
            "{cause}"
        );
        // A fallback is not cached: the model may be back for the next asker.
        let (_, again) = post(&server.base, "/v1/answer", &question);
        assert_eq!(again["cached"], false, "{cause}: {again}");
    }
    // Set to decline without the model: unsupported, with the reason.
    compose_with_llm(
        &corpora,
        "orchard",
        &closed,
        "on_failure = \"unsupported\"\n",
    );
    let server = serve(tmp.path(), &corpora, &data);
    let (status, a) = post(&server.base, "/v1/answer", &question);
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        (a["status"].as_str(), a["reason"].as_str()),
        (Some("unsupported"), Some("composer_unavailable")),
        "{a}"
    );
    assert_eq!(a["answer"], Value::Null);
    assert!(a["warnings"].to_string().contains("cannot reach"), "{a}");
    // The same through the stream: one `done`, no text.
    let mut lines = answer_stream(&server.base, &serde_json::from_str(&question).unwrap());
    let mut names = Vec::new();
    while let Some((n, d)) = read_event(&mut lines) {
        if n == "done" {
            assert_eq!(d["reason"], "composer_unavailable", "{d}");
        }
        names.push(n);
    }
    assert_eq!(names, ["evidence", "done"]);
}
