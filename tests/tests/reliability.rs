//! Reliability at the edge and in the process: slow clients closed, requests
//! timed out, uncached work shed past its bound, answers served while the
//! answer log is locked, and `/readyz` through loading and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use candor_e2e::cli::{candor_bin, index_corpus};
use candor_e2e::corpus::clinic;
use candor_e2e::files::workspace;
use candor_e2e::http::{agent, get, post, sample, scrape};
use candor_e2e::server::{serve, serve_full};
use serde_json::{json, Value};

#[test]
fn the_edge_closes_slow_clients_times_out_requests_and_sheds_uncached_work_past_its_bound() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A guardrail that sleeps its full 5 s deadline: a request slower than the
    // 400 ms request timeout.
    let c = clinic(
        tmp.path(),
        "slow",
        include_str!("../fixtures/reliability/sleeping_guardrail.toml"),
    );
    index_corpus(tmp.path(), &c, &data);
    let server = serve_full(
        tmp.path(),
        &tmp.path().join("corpora"),
        &data,
        &[],
        &[
            "--header-timeout-ms",
            "500",
            "--request-timeout-ms",
            "400",
            "--max-connections",
            "20",
            "--max-pending",
            "1",
        ],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Nineteen clients send half a request's headers and stop.
    let started = std::time::Instant::now();
    let mut halves: Vec<std::net::TcpStream> = (0..19)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // A twentieth, idle, takes the last slot (connections are accepted in the
    // order they arrive); a twenty-first is told to come back, at once.
    let _twentieth = std::net::TcpStream::connect(&addr).unwrap();
    let mut over = std::net::TcpStream::connect(&addr).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = String::new();
    let _ = over.read_to_string(&mut reply);
    assert!(
        reply.starts_with("HTTP/1.1 503")
            && reply.contains("retry-after: 1")
            && reply.contains("\"overloaded\""),
        "{reply}"
    );
    // The half-sent requests are closed by the header timeout, not by us.
    for s in &mut halves {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let closed_after = started.elapsed().as_secs_f64();
    assert!(closed_after < 0.5 + 2.0, "{closed_after:.2}s");
    let (status, body) = get(&server.base, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok"));
    let metrics = scrape(&server.base);
    assert!(
        sample(&metrics, "candor_http_connections_refused_total", &[]).is_some_and(|n| n >= 1.0),
        "refusals are counted"
    );

    // An answered question, so the cache holds it. The first inference of a
    // cold model on a busy machine may outlast the 400 ms timeout; the work
    // goes on and fills the cache, so asking again gets the answer.
    let known = json!({"question": "When does the clinic open on Saturdays?"}).to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (status, b) = loop {
        let (status, b) = post(&server.base, "/v1/answer", &known);
        if status != 503 || std::time::Instant::now() > deadline {
            break (status, b);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("answered")),
        "{b}"
    );

    // A request past its timeout is answered 503 `timeout`.
    let started = std::time::Instant::now();
    let (status, b) = post(
        &server.base,
        "/v1/answer",
        &json!({"question": "sleep"}).to_string(),
    );
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (503, Some("timeout")),
        "{b}"
    );
    assert!(secs < 0.4 + 1.0, "{secs:.2}s");
    // Its work goes on until the guardrail's 5 s deadline and holds the one
    // admission slot: an uncached question is shed at once, with retry-after...
    let started = std::time::Instant::now();
    let mut shed = agent()
        .post(&format!("{}/v1/answer", server.base))
        .header("content-type", "application/json")
        .send(json!({"question": "Where is the pharmacy?"}).to_string())
        .expect("request sent");
    let secs = started.elapsed().as_secs_f64();
    let retry = shed
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let b: Value = shed.body_mut().read_json().unwrap();
    assert_eq!(
        (
            shed.status().as_u16(),
            b["error"]["code"].as_str(),
            retry.as_deref()
        ),
        (503, Some("overloaded"), Some("1")),
        "{b}"
    );
    assert!(secs < 1.0, "shed in {secs:.2}s");
    // ...and a cached answer is served all the same.
    let (status, b) = post(&server.base, "/v1/answer", &known);
    assert_eq!(
        (status, b["status"].as_str(), b["cached"].as_bool()),
        (200, Some("answered"), Some(true)),
        "{b}"
    );
    let metrics = scrape(&server.base);
    assert_eq!(sample(&metrics, "candor_pending", &[]), Some(1.0));
    assert!(sample(&metrics, "candor_shed_total", &[]).is_some_and(|n| n >= 1.0));
}

#[test]
fn answers_are_served_while_the_answer_log_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    index_corpus(tmp.path(), &clinic(tmp.path(), "clinic", ""), &data);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| {
        post(
            &server.base,
            "/v1/answer",
            &json!({ "question": q }).to_string(),
        )
    };
    let (status, first) = ask("When does the clinic open on Saturdays?");
    assert!(status == 200 && first["answer_id"].is_string(), "{first}");

    // Another process holds the store's write lock (a backup, a manual query).
    let mut locker = Command::new("python3")
        .arg("-c")
        .arg(include_str!("../fixtures/reliability/lock_answer_log.py"))
        .arg(data.join("feedback.sqlite3"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut said = String::new();
    BufReader::new(locker.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said.trim(), "locked");
    let (status, b) = ask("When does the clinic close on Saturdays?");
    let _ = locker.kill();
    let _ = locker.wait();
    assert_eq!(
        (status, b["status"].as_str(), b.get("answer_id")),
        (200, Some("answered"), None),
        "{b}"
    );
    assert!(
        b["warnings"]
            .to_string()
            .contains("the answer log could not be written"),
        "{b}"
    );
    let (_, metrics) = get(&server.base, "/metrics");
    assert!(
        metrics.contains("candor_answer_log_failures_total 1"),
        "{metrics}"
    );
    // The lock gone, answers are logged again.
    let (_, again) = ask("Does the clinic open on Saturdays?");
    assert!(again["answer_id"].is_string(), "{again}");
}

#[test]
fn readyz_is_503_while_the_server_loads_and_200_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "");
    index_corpus(tmp.path(), &c, &data);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(candor_bin())
        .args(["serve", "--corpora"])
        .arg(tmp.path().join("corpora"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .current_dir(tmp.path())
        .env_clear()
        .env("CANDOR_ASSETS_DIR", workspace().join(".assets"))
        .env("RUST_LOG", "warn,qdrant_edge=error")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut loading = 0;
    let ready = loop {
        assert!(std::time::Instant::now() < deadline, "never ready");
        // Refused until the port is bound; then 503 until loaded.
        let Ok(mut resp) = agent().get(&format!("{base}/readyz")).call() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap();
        if status == 200 {
            break body;
        }
        assert_eq!((status, &body["ready"]), (503, &json!(false)), "{body}");
        if loading == 0 {
            // Other routes wait too, with a clear code; the process is alive.
            let (s, b) = post(
                &base,
                "/v1/answer",
                &json!({"question": "When?"}).to_string(),
            );
            assert!(
                s == 200 || (s, b["error"]["code"].as_str()) == (503, Some("not_ready")),
                "{b}"
            );
            assert_eq!(get(&base, "/healthz"), (200, "ok".to_owned()));
        }
        loading += 1;
    };
    // SIGTERM ends a serving server cleanly and at once.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(ready, json!({"ready": true, "generations": {"clinic": 1}}));
    assert!(loading > 0, "the loading phase was seen");
}
