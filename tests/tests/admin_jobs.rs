//! The admin API and its reindex jobs: the token, CORS and request ids, a full
//! reindex swapping generations under load without a failed request, a job
//! killed mid-way leaving the old generation serving and kept as failed, and a
//! canceled job.

use std::time::Duration;

use candor_e2e::cli::{candor, index_corpus};
use candor_e2e::corpus::{add_services, clinic, make_corpus, CLINIC_HOURS};
use candor_e2e::files::{list, write};
use candor_e2e::http::{admin, agent, get, post, sample, scrape, start_full_reindex, wait_for_job};
use candor_e2e::server::{serve, serve_full, serve_with, ADMIN_TOKEN};
use serde_json::{json, Value};

#[test]
fn admin_routes_need_the_token_and_a_reindex_swaps_in_a_new_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let data = tmp.path().join("data");
    index_corpus(tmp.path(), &corpus, &data);
    let corpora = tmp.path().join("corpora");

    // Without a configured token the admin routes do not exist.
    let closed = serve(tmp.path(), &corpora, &data);
    let (status, b) = admin("GET", &closed.base, "/admin/jobs", Some(ADMIN_TOKEN), None);
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    // CORS is off by default: no browser origin is allowed.
    let preflight = |base: &str, origin: &str| {
        let resp = agent()
            .options(&format!("{base}/v1/answer"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .call()
            .expect("request sent");
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(preflight(&closed.base, "https://app.example.com"), None);
    drop(closed);
    let bad = candor(tmp.path(), &["serve", "--cors-origin", "app.example.com/x"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("is not an origin"),
        "{err}"
    );

    let server = serve_full(
        tmp.path(),
        &corpora,
        &data,
        &[("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)],
        &["--cors-origin", "https://app.example.com"],
    );
    assert_eq!(
        preflight(&server.base, "https://app.example.com").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(preflight(&server.base, "https://evil.example.com"), None);
    let reindex = |token: Option<&str>, body: &str| {
        admin(
            "POST",
            &server.base,
            "/admin/corpora/orchard/reindex",
            token,
            Some(body),
        )
    };
    for token in [None, Some("zz-presented-zz")] {
        let (status, b) = reindex(token, "{}");
        assert_eq!(
            (status, b["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{b}"
        );
        assert!(
            !b.to_string().contains("zz-presented-zz"),
            "the token is echoed: {b}"
        );
    }
    let refused = [
        (
            "POST",
            "/admin/corpora/orchard/reindex",
            Some(r#"{"mode":"sideways"}"#),
            400,
            "invalid_mode",
        ),
        (
            "POST",
            "/admin/corpora/orchard/reindex",
            Some(r#"{"mood":"full"}"#),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/admin/corpora/nope/reindex",
            Some("{}"),
            404,
            "unknown_corpus",
        ),
        ("GET", "/admin/jobs/12345", None, 404, "unknown_job"),
        ("GET", "/admin/jobs/x", None, 404, "unknown_job"),
        ("POST", "/admin/jobs/12345/cancel", None, 404, "unknown_job"),
    ];
    for (method, path, body, status, code) in refused {
        let (got, b) = admin(method, &server.base, path, Some(ADMIN_TOKEN), body);
        assert_eq!(
            (got, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {b}"
        );
    }

    // A full reindex; queries go on meanwhile; the new generation serves when it
    // is done.
    let (status, first) = reindex(Some(ADMIN_TOKEN), r#"{"mode":"full"}"#);
    assert_eq!(status, 202, "{first}");
    let (status, body) = post(
        &server.base,
        "/v1/search",
        &json!({"question": "how long do drip lines run?"}).to_string(),
    );
    assert_eq!(
        (status, body["evidence"][0]["doc_id"].as_str()),
        (200, Some("docs/watering.md")),
        "{body}"
    );
    let job = wait_for_job(&server.base, &first["job_id"]);
    assert_eq!(
        (
            job["phase"].as_str(),
            job["corpus"].as_str(),
            job["mode"].as_str()
        ),
        (Some("done"), Some("orchard"), Some("full")),
        "{job}"
    );
    assert!(
        job["counts"]["chunks_embedded"].as_u64().unwrap() > 0,
        "{job}"
    );
    let (_, list) = admin("GET", &server.base, "/admin/jobs", Some(ADMIN_TOKEN), None);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == first["job_id"]),
        "{list}"
    );
    let (_, corpora) = get(&server.base, "/v1/corpora");
    let corpora: Value = serde_json::from_str(&corpora).unwrap();
    assert_eq!(corpora[0]["generation"], job["generation"], "{corpora}");

    // Every response carries a request id: the caller's, when it is a sane token.
    let id_of = |given: Option<&str>| {
        let mut req = agent().get(&format!("{}/healthz", server.base));
        if let Some(g) = given {
            req = req.header("x-request-id", g);
        }
        let resp = req.call().expect("request sent");
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(id_of(Some("trace-42")).as_deref(), Some("trace-42"));
    let made = id_of(Some("bad id\twith spaces")).expect("an id is made");
    assert!(made.len() == 16 && made != id_of(None).unwrap(), "{made}");
}

#[test]
fn a_full_reindex_under_load_swaps_without_a_failed_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "");
    let hours = |time: &str| CLINIC_HOURS.replace("nine", time);
    write(&c.join("docs/hours.md"), hours("nine"));
    add_services(&c, 40);
    index_corpus(tmp.path(), &c, &data);
    let server = serve_with(
        tmp.path(),
        &tmp.path().join("corpora"),
        &data,
        &[("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let question = json!({"question": "When does the clinic open on Saturdays?"}).to_string();
    let (_, before) = post(&server.base, "/v1/answer", &question);
    assert!(
        before["answer"]
            .as_str()
            .unwrap_or_default()
            .contains("nine"),
        "{before}"
    );

    write(&c.join("docs/hours.md"), hours("eight"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let newer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (base, stop, newer) = (server.base.clone(), stop.clone(), newer.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Distinct questions miss the cache, so every request reads a generation.
                    let q = json!({"question": format!("Which room offers service {}?", seen.len() % 40), "corpus": "clinic"});
                    let (status, b) = post(&base, "/v1/answer", &q.to_string());
                    assert_eq!(status, 200, "client {i}: {b}");
                    let g = b["generation"].as_u64().unwrap_or_else(|| panic!("client {i}: no generation: {b}"));
                    if g == 2 {
                        newer.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    seen.push(g);
                }
                seen
            })
        })
        .collect();
    let started = start_full_reindex(&server.base, "clinic");
    let job = wait_for_job(&server.base, &started["job_id"]);
    // Keep asking after the swap until a client has been answered from the
    // new generation, however slow a busy machine makes each answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !newer.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let per_client: Vec<Vec<u64>> = clients
        .into_iter()
        .map(|c| c.join().expect("no client failed"))
        .collect();
    assert_eq!(job["phase"], "done", "{job}");
    // Once a client saw the new generation it never went back to the old one.
    for g in &per_client {
        assert!(g.windows(2).all(|w| w[0] <= w[1]), "{g:?}");
    }
    let seen: Vec<u64> = per_client.concat();
    assert!(
        seen.contains(&1) && seen.contains(&2),
        "generations seen: {seen:?}"
    );
    let (_, after) = post(&server.base, "/v1/answer", &question);
    assert_eq!(after["generation"], 2, "{after}");
    assert!(
        after["answer"]
            .as_str()
            .unwrap_or_default()
            .contains("eight"),
        "{after}"
    );

    let m = scrape(&server.base);
    let answered = sample(
        &m,
        "candor_http_requests_total",
        &[("route", "/v1/answer"), ("status", "200")],
    )
    .unwrap();
    assert_eq!(answered as usize, seen.len() + 2, "one count per request");
    assert_eq!(
        sample(
            &m,
            "candor_reindex_job_seconds_count",
            &[("corpus", "clinic"), ("outcome", "done")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "candor_corpus_generation", &[("corpus", "clinic")]),
        Some(2.0)
    );
    assert_eq!(
        sample(&m, "candor_corpus_documents", &[("corpus", "clinic")]),
        Some(41.0)
    );
    assert!(
        sample(
            &m,
            "candor_answers_total",
            &[("corpus", "clinic"), ("status", "answered")]
        )
        .unwrap()
            >= 2.0
    );
}

#[test]
fn a_reindex_killed_mid_job_leaves_the_old_generation_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(
        tmp.path(),
        "slow",
        include_str!("../fixtures/admin_jobs/hostile_parser_source.toml"),
    );
    write(
        &c.join("odd/fine.txt"),
        "The clinic has a pharmacy on the ground floor.",
    );
    index_corpus(tmp.path(), &c, &data);
    // A file whose parser loops for its whole 2 s deadline holds the job mid-way.
    write(&c.join("odd/loop.txt"), "loop");
    let corpora = tmp.path().join("corpora");
    let env = [("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)];
    let mut server = serve_with(tmp.path(), &corpora, &data, &env);
    let started = start_full_reindex(&server.base, "slow");
    // The 2 s parse of loop.txt holds the job in its parsing phase: kill it there.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, job) = admin(
            "GET",
            &server.base,
            &format!("/admin/jobs/{}", started["job_id"]),
            Some(ADMIN_TOKEN),
            None,
        );
        if job["phase"] == "parsing" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never parsed: {job}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no chance to clean up.
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let server = serve_with(tmp.path(), &corpora, &data, &env);
    let generations = data.join("slow/generations");
    assert_eq!(
        list(&generations)
            .iter()
            .filter(|p| p.starts_with("000002"))
            .count(),
        0,
        "no trace of the killed job"
    );
    let (status, b) = post(
        &server.base,
        "/v1/answer",
        &json!({"question": "When does the clinic open on Saturdays?"}).to_string(),
    );
    assert_eq!((status, b["generation"].as_u64()), (200, Some(1)), "{b}");
    let (_, ready) = get(&server.base, "/readyz");
    assert!(ready.contains("\"slow\":1"), "{ready}");
    // The killed job is kept, as failed, and the next job's id follows it.
    let (_, killed) = admin(
        "GET",
        &server.base,
        &format!("/admin/jobs/{}", started["job_id"]),
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(
        (killed["status"].as_str(), killed["phase"].as_str()),
        (Some("failed"), Some("failed")),
        "{killed}"
    );
    assert!(
        killed["error"].as_str().unwrap().contains("server stopped"),
        "{killed}"
    );

    // A job canceled while it parses ends canceled, and nothing changes.
    let canceled = start_full_reindex(&server.base, "slow");
    assert!(
        canceled["job_id"].as_u64() > started["job_id"].as_u64(),
        "{canceled}"
    );
    let cancel_path = format!("/admin/jobs/{}/cancel", canceled["job_id"]);
    let (status, b) = admin("POST", &server.base, &cancel_path, Some(ADMIN_TOKEN), None);
    assert_eq!(status, 200, "{b}");
    let job = wait_for_job(&server.base, &canceled["job_id"]);
    assert_eq!(
        (job["status"].as_str(), job.get("generation")),
        (Some("canceled"), None),
        "{job}"
    );
    let (status, b) = admin("POST", &server.base, &cancel_path, Some(ADMIN_TOKEN), None);
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (409, Some("job_finished")),
        "{b}"
    );
    let (_, ready) = get(&server.base, "/readyz");
    assert!(ready.contains("\"slow\":1"), "{ready}");

    let again = start_full_reindex(&server.base, "slow");
    let job = wait_for_job(&server.base, &again["job_id"]);
    assert_eq!(
        (
            job["status"].as_str(),
            job["phase"].as_str(),
            job["counts"]["files_failed"].as_u64()
        ),
        (Some("succeeded"), Some("done"), Some(1)),
        "{job}"
    );
    let (_, b) = post(
        &server.base,
        "/v1/answer",
        &json!({"question": "Where is the pharmacy?"}).to_string(),
    );
    assert!(b["generation"].as_u64().unwrap() > 1, "{b}");
}
