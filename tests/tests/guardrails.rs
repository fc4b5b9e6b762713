//! Guardrails in a live server: blocks with their reason, broken ones under
//! their failure policy, personal data redacted, and a slow guardrail that
//! cannot take the call slots of another corpus.

use std::time::Duration;

use candor_e2e::cli::index_corpus;
use candor_e2e::corpus::clinic;
use candor_e2e::files::{copy_fixture, write};
use candor_e2e::http::{get, post, sample, scrape};
use candor_e2e::plugins::assert_contained;
use candor_e2e::server::serve;
use serde_json::json;

#[test]
fn a_slow_guardrail_cannot_take_the_slots_of_another_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let guard = |what: &str| {
        include_str!("../fixtures/guardrails/timed_guardrail.toml").replace("{what}", what)
    };
    let slow = clinic(tmp.path(), "slow", &guard("sleep"));
    let calm = clinic(tmp.path(), "calm", &guard("allow"));
    // An output guardrail that rewrites the answer to cite a source it lacks.
    let cites = clinic(
        tmp.path(),
        "cites",
        &guard("cite").replace("\"input\"", "\"output\""),
    );
    for c in [&slow, &calm, &cites] {
        index_corpus(tmp.path(), c, &data);
    }
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |corpus: &str| {
        let started = std::time::Instant::now();
        let (status, b) = post(
            &server.base,
            "/v1/answer",
            &json!({"question": "When does the clinic open on Saturdays?", "corpus": corpus})
                .to_string(),
        );
        (status, b, started.elapsed().as_secs_f64())
    };
    // Twenty questions at once to the corpus whose guardrail sleeps: each holds
    // one of its slots for its 1 s deadline, the rest are refused at once.
    let sleepers: Vec<_> = (0..20)
        .map(|_| {
            let base = server.base.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                let (status, b) = post(
                    &base,
                    "/v1/answer",
                    &json!({"question": "When does the clinic open on Saturdays?", "corpus": "slow"}).to_string(),
                );
                (status, b, started.elapsed().as_secs_f64())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile the other corpus answers as usual, its guardrail unaffected.
    for _ in 0..5 {
        let (status, b, _) = ask("calm");
        assert_eq!(
            (
                status,
                b["status"].as_str(),
                b["guardrails"].as_array().map(Vec::len)
            ),
            (200, Some("answered"), Some(0)),
            "{b}"
        );
        assert!(!b["warnings"].to_string().contains("plugin"), "{b}");
    }
    let (mut timed_out, mut refused) = (0, 0);
    for t in sleepers {
        let (status, b, secs) = t.join().unwrap();
        assert_eq!(
            (
                status,
                b["guardrails"][0]["code"].as_str(),
                b["cached"].as_bool()
            ),
            (200, Some("guardrail.unavailable"), Some(false)),
            "{b}"
        );
        let warning = b["warnings"][0].as_str().unwrap_or_default();
        if warning.contains("was blocked in a host call past its 1000 ms deadline") {
            timed_out += 1;
        } else {
            assert_contained(
                "busy",
                warning,
                "hostile-guardrail",
                "already runs 8 calls at once",
                secs,
                1.0,
            );
            refused += 1;
        }
        assert!(secs < 2.0 + 1.0, "{secs:.2}s: {b}");
    }
    assert!(
        timed_out >= 8 && refused >= 1,
        "{timed_out} timed out, {refused} refused"
    );
    let metrics = scrape(&server.base);
    let busy = sample(
        &metrics,
        "candor_plugin_calls_total",
        &[("plugin", "hostile-guardrail"), ("outcome", "busy")],
    );
    assert!(busy.is_some_and(|n| n >= 1.0), "{busy:?}");
    let (status, b, _) = ask("calm");
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("answered")),
        "{b}"
    );

    let (status, b, secs) = ask("cites");
    assert_eq!(
        (
            status,
            b["reason"].as_str(),
            b["guardrails"][0]["code"].as_str()
        ),
        (200, Some("blocked"), Some("guardrail.unavailable")),
        "{b}"
    );
    let warning = b["warnings"].to_string();
    assert_contained(
        "cite",
        &warning,
        "hostile-guardrail",
        "redacted the answer to cite [9], but its sources are [1] to [1]",
        secs,
        1.0,
    );
}

#[test]
fn guardrails_block_with_their_reason_and_broken_ones_follow_their_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Four corpora, each with its guardrails in its corpus.toml, and one
    // document holding an address to redact.
    for name in ["clinic", "flaky", "lenient", "private"] {
        let c = tmp.path().join("corpora").join(name);
        copy_fixture(&format!("guardrails/{name}"), &c);
        write(
            &c.join("docs/hours.md"),
            include_str!("../fixtures/guardrails/hours.md"),
        );
        index_corpus(tmp.path(), &c, &data);
    }
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |corpus: &str, q: &str| {
        post(
            &server.base,
            "/v1/answer",
            &json!({"question": q, "corpus": corpus}).to_string(),
        )
    };

    let (status, b) = ask("clinic", "What dosage of ibuprofen should I take?");
    assert_eq!(
        (status, b["status"].as_str(), b["reason"].as_str()),
        (200, Some("unsupported"), Some("blocked")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("ask a pharmacist"),
        "{b}"
    );
    assert_eq!(
        (
            b["guardrails"][0]["plugin"].as_str(),
            b["guardrails"][0]["code"].as_str()
        ),
        (Some("topic-policy"), Some("topic.medical-dosage")),
        "{b}"
    );
    let (_, ok) = ask("clinic", "When does the clinic open on Saturdays?");
    assert_ne!(ok["reason"], "blocked", "{ok}");
    assert_eq!(ok["guardrails"], json!([]), "{ok}");
    // Search obeys the same input guardrails: a blocked question reads nothing.
    let search = |q: &str| {
        post(
            &server.base,
            "/v1/search",
            &json!({"question": q, "corpus": "clinic"}).to_string(),
        )
    };
    let (status, s) = search("What dosage of ibuprofen should I take?");
    assert_eq!(
        (status, &s["evidence"], s["guardrails"][0]["code"].as_str()),
        (200, &json!([]), Some("topic.medical-dosage")),
        "{s}"
    );
    let (_, s) = search("When does the clinic open on Saturdays?");
    assert!(
        s["guardrails"] == json!([]) && !s["evidence"].as_array().unwrap().is_empty(),
        "{s}"
    );

    // A guardrail that hangs is stopped at its deadline; fail_closed blocks.
    let started = std::time::Instant::now();
    let (status, f) = ask("flaky", "When does the clinic open?");
    assert!(
        started.elapsed().as_secs_f64() < 0.05 + 1.0,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        (
            status,
            f["reason"].as_str(),
            f["guardrails"][0]["code"].as_str()
        ),
        (200, Some("blocked"), Some("guardrail.unavailable")),
        "{f}"
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("guardrail unavailable"),
        "{f}"
    );
    // A guardrail that panics under fail_open is skipped with a warning.
    let (_, l) = ask("lenient", "When does the clinic open on Saturdays?");
    assert_ne!(l["reason"], "blocked", "{l}");
    if l["status"] == "answered" {
        let warned = l["warnings"].as_array().unwrap().iter().any(|w| {
            w.as_str().unwrap().contains("hostile-guardrail")
                && w.as_str().unwrap().contains("fail_open")
        });
        assert!(warned, "{l}");
    }
    // Personal data: a question asking for it is blocked; evidence holding it is redacted.
    let (_, p) = ask("private", "What is John's phone number?");
    assert_eq!(
        (p["reason"].as_str(), p["guardrails"][0]["code"].as_str()),
        (Some("blocked"), Some("pii.request")),
        "{p}"
    );
    let (_, r) = ask("private", "How do I book at the clinic desk on Saturdays?");
    assert_eq!(r["status"], "answered", "{r}");
    let text = r["answer"].as_str().unwrap();
    assert!(
        text.contains("[email removed]") && !text.contains("desk@clinic.example"),
        "{r}"
    );
    assert_eq!(
        (
            r["guardrails"][0]["code"].as_str(),
            r["guardrails"][0]["action"].as_str()
        ),
        (Some("pii.email"), Some("redact")),
        "{r}"
    );
    // Personal data redacted from a question never reaches the answer log.
    let (_, logged) = ask(
        "private",
        "Can jane.doe@example.com book the desk on Saturdays?",
    );
    assert!(logged["answer_id"].is_string(), "{logged}");
    let store: Vec<u8> = ["feedback.sqlite3", "feedback.sqlite3-wal"]
        .iter()
        .flat_map(|f| std::fs::read(data.join(f)).unwrap_or_default())
        .collect();
    let store = String::from_utf8_lossy(&store);
    assert!(
        store.contains("[email removed]") && !store.contains("jane.doe@example.com"),
        "the log keeps the question as the guardrails left it"
    );
    // The server kept serving throughout.
    assert_eq!(get(&server.base, "/healthz"), (200, "ok".to_owned()));
}
