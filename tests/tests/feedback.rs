//! Feedback: answers rated through `/v1/feedback`, exported as eval cases, and
//! run back through `candor eval corpus` with its report.

use candor_e2e::cli::{candor_ok, index_corpus};
use candor_e2e::corpus::clinic;
use candor_e2e::files::copy_fixture;
use candor_e2e::http::post;
use candor_e2e::server::serve;
use serde_json::{json, Value};

#[test]
fn feedback_round_trip_answer_rate_export_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "");
    // A second document, and the corpus's own eval sets (eval/).
    copy_fixture("feedback", &c);
    index_corpus(tmp.path(), &c, &data);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| {
        post(
            &server.base,
            "/v1/answer",
            &json!({"question": q}).to_string(),
        )
        .1
    };
    let rate = |body: Value| post(&server.base, "/v1/feedback", &body.to_string());

    let hours = ask("When does the clinic open on Saturdays?");
    let id = hours["answer_id"]
        .as_str()
        .expect("every answer has an id")
        .to_owned();
    assert!(id.starts_with("ans_"), "{hours}");
    assert_eq!(
        rate(json!({"answer_id": id, "rating": "up", "correct_doc_ids": ["docs/hours.md"]})),
        (200, json!({"recorded": true}))
    );
    let stocks = ask("Which stocks should I buy this year?");
    assert_eq!(stocks["status"], "unsupported", "{stocks}");
    assert_eq!(
        rate(json!({"answer_id": stocks["answer_id"], "rating": "up"})).0,
        200
    );
    let pharmacy = ask("Where is the pharmacy?");
    assert_eq!(pharmacy["status"], "answered", "{pharmacy}");
    assert_eq!(
        rate(
            json!({"answer_id": pharmacy["answer_id"], "rating": "down", "comment": "wrong floor"})
        )
        .0,
        200
    );
    // A cached answer is a new answer to log, with its own id.
    let again = ask("When does the clinic open on Saturdays?");
    assert!(
        again["cached"] == true && again["answer_id"] != hours["answer_id"],
        "{again}"
    );

    // Bad feedback changes nothing and says what was wrong.
    let bad = [
        (
            json!({"answer_id": "ans_nope", "rating": "up"}),
            404,
            "unknown_answer",
        ),
        (
            json!({"answer_id": id, "rating": "meh", "comment": "rejected"}),
            400,
            "invalid_json",
        ),
        (json!({"rating": "up"}), 400, "invalid_json"),
        (
            json!({"answer_id": id, "rating": "down", "extra": 1}),
            400,
            "invalid_json",
        ),
        (
            json!({"answer_id": id, "rating": "down", "comment": "x".repeat(2_001)}),
            400,
            "invalid_request",
        ),
        (
            json!({"answer_id": id, "rating": "down", "correct_doc_ids": ["docs/hour.md"]}),
            404,
            "unknown_document",
        ),
    ];
    for (body, status, code) in bad {
        let (got, b) = rate(body.clone());
        assert_eq!(
            (got, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {b}"
        );
    }

    let cases = tmp.path().join("cases.jsonl");
    let export = |more: &[&str]| {
        let data = data.to_str().unwrap();
        let args = [
            &[
                "feedback",
                "export",
                "--corpus",
                "clinic",
                "--data-dir",
                data,
            ],
            more,
        ]
        .concat();
        candor_ok(tmp.path(), &args)
    };
    export(&["--out", cases.to_str().unwrap()]);
    let lines: Vec<Value> = std::fs::read_to_string(&cases)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str, bool, Value)> = lines
        .iter()
        .map(|l| {
            (
                l["text"].as_str().unwrap(),
                l["expect"].as_str().unwrap(),
                l["hard"].as_bool().unwrap(),
                l["relevant"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "When does the clinic open on Saturdays?",
                "answered",
                false,
                json!(["docs/hours.md"])
            ),
            (
                "Which stocks should I buy this year?",
                "unsupported",
                false,
                Value::Null
            ),
            ("Where is the pharmacy?", "unsupported", true, Value::Null),
        ]
    );
    let future = export(&["--since", "2999-01-01"]);
    assert_eq!(future.trim(), "", "nothing rated after 2999");

    // The embedded vector store admits one process: the server goes first.
    drop(server);
    let out = candor_ok(
        tmp.path(),
        &[
            "eval",
            "corpus",
            "clinic",
            "--corpora",
            tmp.path().join("corpora").to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--with",
            cases.to_str().unwrap(),
            "--report",
            tmp.path().join("report").to_str().unwrap(),
            "--json",
        ],
    );
    let reports: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2, "{out}");
    let own = &reports[0];
    assert_eq!(
        (
            own["in_scope"].as_u64(),
            own["out_of_scope"].as_u64(),
            own["retrieval"][3]["queries"].as_u64()
        ),
        (Some(2), Some(1), Some(2)),
        "{own}"
    );
    assert!(
        own["retrieval"][3]["mode"] == "hybrid+recency"
            && own["retrieval"][3]["ndcg_at_10"].as_f64().unwrap() > 0.9,
        "{own}"
    );
    assert_eq!(
        own["confusion"]["expected_decline"]["unsupported"], 1,
        "{own}"
    );
    let export = &reports[1];
    assert_eq!(
        (export["in_scope"].as_u64(), export["unanswerable"].as_u64()),
        (Some(1), Some(2)),
        "{export}"
    );
    // The report: the same figures as JSON, and one page with its charts inline.
    let page = std::fs::read_to_string(tmp.path().join("report/report.html")).unwrap();
    assert!(
        page.contains("<svg") && page.contains("hybrid+recency") && page.contains("threshold"),
        "{page}"
    );
    let json: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("report/report.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            json[0]["report"]["in_scope"].as_u64(),
            json[1]["set"].as_str()
        ),
        (Some(2), cases.to_str())
    );
}
