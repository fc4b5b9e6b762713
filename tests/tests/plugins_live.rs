//! Hostile plugins in a live server: each misdeed of a guardrail fails one
//! request, each of a parser one file of a reindex, always naming the plugin
//! and the cause, while the server keeps serving; plugin reloads are all or
//! none.

use candor_e2e::cli::index_corpus;
use candor_e2e::corpus::clinic;
use candor_e2e::files::write;
use candor_e2e::http::{admin, get, post, start_full_reindex, wait_for_job};
use candor_e2e::plugins::{assert_contained, test_plugin, MISDEEDS};
use candor_e2e::server::{serve_with, Server, ADMIN_TOKEN};
use serde_json::{json, Value};

/// What the hostile parser returns past the corpus's limits, with what the
/// file's error must say.
const PARSER_LIMITS: [(&str, &str); 2] = [
    ("huge", "limits.max_document_mib"),
    ("many", "limits.max_documents_per_file"),
];

/// Decisions of the hostile guardrail that break the contract, as a live
/// server reports them.
const GUARDRAIL_FAULTS: [(&str, &str); 2] = [
    (
        "inflate",
        "redacted the text to 900000 characters, more than the 2000 allowed",
    ),
    ("escape", "returned a code holding a control character"),
];

/// What an HTTP caller is told of `misdeed`: its cause, unless the cause is
/// the plugin's own text (a panic message), which only the log holds.
fn http_cause(misdeed: &str, cause: &'static str) -> &'static str {
    match misdeed {
        "panic" | "passwd" | "env" | "socket" => "(it panicked; its stderr is in the log)",
        _ => cause,
    }
}

#[test]
fn hostile_plugins_in_a_live_server_fail_alone_with_their_name_and_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(
        tmp.path(),
        "hostile",
        include_str!("../fixtures/plugins_live/hostile.toml"),
    );
    write(
        &c.join("odd/fine.txt"),
        "The clinic has a pharmacy on the ground floor.",
    );
    // Indexed first with no hostile files: the server starts from a clean generation.
    index_corpus(tmp.path(), &c, &data);
    for (misdeed, _) in MISDEEDS.into_iter().chain(PARSER_LIMITS) {
        write(&c.join(format!("odd/{misdeed}.txt")), misdeed);
    }
    // The server's own plugin folder, so the test can take a component away.
    let plugins = tmp.path().join("plugins");
    for name in ["hostile_guardrail", "hostile_parser"] {
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::copy(test_plugin(name), plugins.join(format!("{name}.wasm"))).unwrap();
    }
    let server = serve_with(
        tmp.path(),
        &tmp.path().join("corpora"),
        &data,
        &[
            ("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN),
            ("CANDOR_PLUGINS_DIR", plugins.to_str().unwrap()),
        ],
    );
    let ask = |q: &str| {
        let started = std::time::Instant::now();
        let (status, b) = post(
            &server.base,
            "/v1/answer",
            &json!({"question": q}).to_string(),
        );
        (status, b, started.elapsed().as_secs_f64())
    };

    // Guardrail: each misdeed is one request; fail_closed declines it, names the
    // plugin and the cause, and ends within the 1 s deadline plus 1 s.
    for (n, (misdeed, cause)) in MISDEEDS.into_iter().enumerate() {
        let (status, b, secs) = ask(misdeed);
        assert_eq!(
            (
                status,
                b["reason"].as_str(),
                b["guardrails"][0]["code"].as_str(),
                b["guardrails"][0]["plugin"].as_str()
            ),
            (
                200,
                Some("blocked"),
                Some("guardrail.unavailable"),
                Some("hostile-guardrail")
            ),
            "{misdeed}: {b}"
        );
        let warning = b["warnings"][0].as_str().unwrap_or_default();
        let told = http_cause(misdeed, cause);
        assert_contained(misdeed, warning, "hostile-guardrail", told, secs, 1.0);
        assert!(told == cause || !warning.contains(cause), "{warning}");
        // `/readyz` names the failing plugin until a call of it succeeds.
        let failing = |server: &Server| -> Value {
            let (_, ready) = get(&server.base, "/readyz");
            serde_json::from_str::<Value>(&ready).unwrap()["failing_plugins"].clone()
        };
        assert_eq!(
            failing(&server),
            json!({"hostile-guardrail": 1}),
            "{misdeed}"
        );
        // A question not asked before: a cached answer calls no guardrail.
        let (status, ok, _) = ask(&format!("When does the clinic open on Saturdays? ({n})"));
        assert_eq!(
            (status, ok["guardrails"].as_array().map(Vec::len)),
            (200, Some(0)),
            "after {misdeed}: {ok}"
        );
        assert_eq!(failing(&server), Value::Null, "after {misdeed}");
    }

    // A failed guardrail's outcome is not kept: asked again, it is judged again.
    let (_, again, _) = ask("panic");
    assert_eq!(
        (
            again["cached"].as_bool(),
            again["guardrails"][0]["code"].as_str()
        ),
        (Some(false), Some("guardrail.unavailable")),
        "{again}"
    );

    // Decisions that break the contract fail the guardrail too: a redaction
    // past the question limit (900 kB under a 1 MiB result cap), a code with a
    // terminal escape.
    for (misdeed, cause) in GUARDRAIL_FAULTS {
        let (status, b, secs) = ask(misdeed);
        assert_eq!(
            (status, b["guardrails"][0]["code"].as_str()),
            (200, Some("guardrail.unavailable")),
            "{misdeed}: {b}"
        );
        let warning = b["warnings"][0].as_str().unwrap_or_default();
        assert_contained(misdeed, warning, "hostile-guardrail", cause, secs, 1.0);
        assert!(
            !warning.contains('\u{1b}') && !warning.contains("wasm backtrace"),
            "{warning}"
        );
    }

    // A question redacted to nothing has nothing left to search: a block.
    let (status, b, _) = ask("erase");
    assert_eq!(
        (
            status,
            b["reason"].as_str(),
            b["guardrails"][0]["action"].as_str(),
            b["guardrails"][0]["code"].as_str()
        ),
        (200, Some("blocked"), Some("block"), Some("hostile.erase")),
        "{b}"
    );

    // Parser: a full reindex through the admin API meets every misdeed, one file
    // each; the job records each file's error and the rest is indexed.
    let started = start_full_reindex(&server.base, "hostile");
    // The 2 s loop keeps this job running: a second request gets the running
    // job's id, and questions are answered from the current generation meanwhile.
    let (status, second) = admin(
        "POST",
        &server.base,
        "/admin/corpora/hostile/reindex",
        Some(ADMIN_TOKEN),
        Some(r#"{"mode":"incremental"}"#),
    );
    assert_eq!(
        (
            status,
            &second["error"]["job_id"],
            second["error"]["code"].as_str()
        ),
        (409, &started["job_id"], Some("job_running")),
        "{second}"
    );
    let (_, during, _) = ask("When does the clinic open on Saturdays?");
    assert_eq!(during["generation"], 1, "{during}");
    let job = wait_for_job(&server.base, &started["job_id"]);
    assert_eq!(job["phase"], "done", "{job}");
    assert_eq!(
        (
            job["counts"]["files_seen"].as_u64(),
            job["counts"]["files_failed"].as_u64()
        ),
        (
            Some(MISDEEDS.len() as u64 + PARSER_LIMITS.len() as u64 + 2),
            Some(MISDEEDS.len() as u64 + PARSER_LIMITS.len() as u64)
        ),
        "{job}"
    );
    for (misdeed, cause) in MISDEEDS.into_iter().chain(PARSER_LIMITS) {
        let error = job["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == format!("odd/{misdeed}.txt"));
        let reason = error.and_then(|e| e["reason"].as_str()).unwrap_or_default();
        // The limits are the corpus's: their errors name the limit, not the plugin.
        let named = PARSER_LIMITS.iter().any(|(m, _)| *m == misdeed)
            || reason.contains("plugin `hostile-parser`");
        assert!(
            named && reason.contains(http_cause(misdeed, cause)),
            "{misdeed}: {job}"
        );
    }
    // Each file ends within its 2 s deadline plus 1 s, so the whole job does
    // within the sum.
    let files = (MISDEEDS.len() + PARSER_LIMITS.len()) as f64;
    assert!(
        job["elapsed_seconds"].as_f64().unwrap() < files * (2.0 + 1.0),
        "{job}"
    );
    let (_, corpora) = get(&server.base, "/v1/corpora");
    let corpora: Value = serde_json::from_str(&corpora).unwrap();
    assert_eq!(
        (
            corpora[0]["generation"].as_u64(),
            corpora[0]["documents"].as_u64()
        ),
        (Some(2), Some(2)),
        "{corpora}"
    );
    let (_, ok, _) = ask("Where is the pharmacy?");
    assert_eq!(ok["citations"][0]["doc_id"], "odd/fine.txt", "{ok}");

    // Reloading plugins is all or none: with the guardrail's component gone, the
    // reload fails naming the entry, and the loaded guardrail keeps judging.
    let reload = || {
        admin(
            "POST",
            &server.base,
            "/admin/plugins/reload",
            Some(ADMIN_TOKEN),
            Some("{}"),
        )
    };
    assert_eq!(reload(), (200, json!({"guardrails": {"hostile": 1}})));
    std::fs::remove_file(plugins.join("hostile_guardrail.wasm")).unwrap();
    let (status, b) = reload();
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        status == 400 && message.contains("guardrails[0].plugin"),
        "{b}"
    );
    let (_, still, _) = ask("panic");
    assert_eq!(
        still["guardrails"][0]["code"], "guardrail.unavailable",
        "{still}"
    );
    assert_eq!(get(&server.base, "/healthz"), (200, "ok".to_owned()));
}
