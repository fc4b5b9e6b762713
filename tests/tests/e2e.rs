//! End-to-end tests: the real `candor` binary, a corpus written by the test, the
//! real model, and real HTTP. Run through `make test`, which builds the binary and
//! fetches the assets first.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The debug `candor` binary next to this test's own target folder.
fn candor_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/e2e-<hash> -> target/debug/candor
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target folder")
        .join("candor");
    assert!(
        bin.is_file(),
        "{} is missing: run `make test` (it builds the binary first)",
        bin.display()
    );
    bin
}

/// The workspace root, where `.assets/` lives.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn candor(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(candor_bin())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("CANDOR_ASSETS_DIR", workspace().join(".assets"))
        .env("RUST_LOG", "warn,qdrant_edge=error")
        .output()
        .expect("candor runs");
    if std::env::var_os("CANDOR_TEST_VERBOSE").is_some() {
        eprintln!(
            "candor {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Indexes the corpus folder `corpus` into `data`.
fn index_corpus(dir: &Path, corpus: &Path, data: &Path) -> String {
    candor_ok(dir, &index_argv(corpus, data, &[]))
}

/// `candor index --corpus <corpus> --data-dir <data>` and `extra` arguments.
fn index_argv<'a>(corpus: &'a Path, data: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        "index",
        "--corpus",
        corpus.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    argv.extend(extra);
    argv
}

/// `candor index --json` of a corpus, expected to succeed: its report.
fn index_report(dir: &Path, corpus: &Path, data: &Path) -> Value {
    let out = candor_ok(dir, &index_argv(corpus, data, &["--json"]));
    serde_json::from_str(out.trim()).unwrap()
}

/// Runs candor and expects success, printing everything on failure.
fn candor_ok(dir: &Path, args: &[&str]) -> String {
    let out = candor(dir, args);
    assert!(
        out.status.success(),
        "candor {args:?} failed in {}\nstdout:\n{}\nstderr:\n{}\nfiles: {:?}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        list(dir)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A small corpus about a fictional product, plus two broken files.
/// A clinic corpus folder `corpora/<name>` under `root`: corpus.toml with the
/// docs/ source and `more` (further sources, guardrails), and docs/hours.md.
fn clinic(root: &Path, name: &str, more: &str) -> PathBuf {
    let c = root.join("corpora").join(name);
    write(
        &c.join("corpus.toml"),
        format!("name = \"{name}\"\nscope = \"Opening hours and services of the clinic.\"\n[[sources]]\npath = \"docs\"\n{more}"),
    );
    write(
        &c.join("docs/hours.md"),
        "---\ntitle: Opening hours\ndate: 2025-01-05\n---\nThe clinic opens at nine on Saturdays and closes at noon.\n",
    );
    c
}

fn make_corpus(root: &Path) -> PathBuf {
    let c = root.join("corpora/orchard");
    write(
        &c.join("corpus.toml"),
        "name = \"orchard\"\nscope = \"Orchard, a fictional greenhouse controller: watering, sensors, alarms.\"\n[[sources]]\npath = \"docs\"\nglob = \"**/*\"\n",
    );
    write(
        &c.join("docs/watering.md"),
        "---\ntitle: Watering schedules\ndate: 2025-04-01\nseries: watering\n---\n# Watering\n\n## Drip lines\n\nDrip lines open for twelve minutes at dawn. The valve controller retries a stuck valve three times before raising an alarm.\n",
    );
    write(
        &c.join("docs/sensors.html"),
        "<html><head><title>Sensor calibration</title><meta name=\"date\" content=\"2025-02-11\"></head><body><nav>menu menu</nav><h1>Calibrating humidity sensors</h1><p>Place the probe in the salt chamber for forty minutes, then press calibrate.</p><script>var tracking = 'zebra';</script></body></html>",
    );
    write(
        &c.join("docs/alarms.txt"),
        "Alarm relay\n\nThe alarm relay closes when frost is forecast below minus two degrees.\n",
    );
    write(
        &c.join("docs/broken.pdf"),
        b"%PDF-1.4 this is not really a pdf",
    );
    write(&c.join("docs/latin1.txt"), b"caf\xe9 cr\xe8me \xff\xfe");
    c
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, corpora: &Path, data: &Path) -> Server {
    serve_with(dir, corpora, data, &[])
}

/// `serve` with more environment variables.
fn serve_with(dir: &Path, corpora: &Path, data: &Path, env: &[(&str, &str)]) -> Server {
    serve_full(dir, corpora, data, env, &[])
}

/// Token of the admin routes in tests that use them.
const ADMIN_TOKEN: &str = "test-admin-token";

/// `serve` with more environment variables and arguments.
fn serve_full(
    dir: &Path,
    corpora: &Path,
    data: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> Server {
    let mut child = Command::new(candor_bin())
        .args(["serve", "--corpora"])
        .arg(corpora)
        .arg("--data-dir")
        .arg(data)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("CANDOR_ASSETS_DIR", workspace().join(".assets"))
        .env("RUST_LOG", "warn,qdrant_edge=error")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .expect("server printed a line")
        .expect("readable");
    let base = first
        .strip_prefix("ready on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn post(base: &str, path: &str, body: &str) -> (u16, Value) {
    let mut resp = agent()
        .post(&format!("{base}{path}"))
        .header("content-type", "application/json")
        .send(body)
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().expect("json body"))
}

/// A request with the admin token (`token` None sends none).
fn admin(
    method: &str,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let (status, _, text) = call(base, &method.to_lowercase(), path, token, body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Starts a full reindex of `corpus` through the admin API: the 202 body.
fn start_full_reindex(base: &str, corpus: &str) -> Value {
    let path = format!("/admin/corpora/{corpus}/reindex");
    let (status, body) = admin(
        "POST",
        base,
        &path,
        Some(ADMIN_TOKEN),
        Some(r#"{"mode":"full"}"#),
    );
    assert_eq!(status, 202, "{body}");
    body
}

/// Polls a job until it ends; returns its final status.
fn wait_for_job(base: &str, id: &Value) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, job) = admin(
            "GET",
            base,
            &format!("/admin/jobs/{id}"),
            Some(ADMIN_TOKEN),
            None,
        );
        assert_eq!(status, 200, "{job}");
        if job["phase"] == "done" || job["phase"] == "failed" {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job never ended: {job}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(base: &str, path: &str) -> (u16, String) {
    let mut resp = agent()
        .get(&format!("{base}{path}"))
        .call()
        .expect("request sent");
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().expect("body"),
    )
}

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
    write(
        &c.join("corpus.toml"),
        "name = \"guides\"\nscope = \"Installing Orchard.\"\n[[sources]]\npath = \"docs\"\n",
    );
    write(
        &c.join("docs/install-v1.md"),
        "---\ntitle: Installing Orchard\ndate: 2024-01-10\nseries: install\n---\nInstall Orchard by running the installer script setup.sh, which opens port 7000 for the controller.\n",
    );
    write(
        &c.join("docs/install-v2.md"),
        "---\ntitle: Installing Orchard\ndate: 2025-06-01\nseries: install\n---\nInstall Orchard with the system package manager; the controller listens on port 7420.\n",
    );
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

fn jsonl(texts: &[&str]) -> String {
    texts
        .iter()
        .map(|t| json!({"text": t}).to_string() + "\n")
        .collect()
}

/// Questions no greenhouse or install guide answers, for calibration.
const OFF_TOPIC: [&str; 10] = [
    "What is a good recipe for lasagna?",
    "Who won the football world cup in 1998?",
    "How do I lower my income tax?",
    "What is the capital of Australia?",
    "Should I buy index funds or bonds for retirement?",
    "How many moons does Jupiter have?",
    "Which programming language should I learn first?",
    "How do I train my puppy to sit?",
    "What are the symptoms of the flu?",
    "Where can I rent a cheap car in Lisbon?",
];

/// A calibrated greenhouse corpus and a calibrated install-guide corpus, served together.
fn answer_fixture(root: &Path) -> (PathBuf, PathBuf) {
    let orchard = root.join("corpora/orchard");
    write(
        &orchard.join("corpus.toml"),
        "name = \"orchard\"\nscope = \"Orchard, a fictional greenhouse controller: watering, sensors, vents and alarms.\"\n[[sources]]\npath = \"docs\"\n[answer]\nscope_examples = [\"eval/in_scope.jsonl\"]\n",
    );
    write(
        &orchard.join("docs/watering.md"),
        "---\ntitle: Watering schedules\ndate: 2025-04-01\n---\n# Watering\n\nDrip lines open for twelve minutes at dawn. The valve controller retries a stuck valve three times before raising an alarm. Watering pauses while the soil moisture sensor reads above sixty percent.\n",
    );
    write(
        &orchard.join("docs/sensors.md"),
        "---\ntitle: Sensor calibration\ndate: 2025-02-11\n---\n# Calibrating humidity sensors\n\nPlace the humidity probe in the salt chamber for forty minutes, then press calibrate. Recalibrate every sensor once per season.\n",
    );
    write(
        &orchard.join("docs/vents.md"),
        "---\ntitle: Roof vents\ndate: 2025-03-05\n---\n# Vents\n\nRoof vents open when the greenhouse temperature passes twenty-eight degrees. They close again below twenty-four degrees or when the wind sensor reports gusts above fifty kilometres per hour.\n",
    );
    write(
        &orchard.join("docs/alarms.md"),
        "---\ntitle: Alarms\ndate: 2025-01-20\n---\n# Alarm relay\n\nThe alarm relay closes when frost is forecast below minus two degrees. Alarms are sent by text message to the greenhouse keeper.\n",
    );
    let orchard_in = [
        "How long do the drip lines run?",
        "When does the valve controller raise an alarm?",
        "When does watering pause?",
        "How do I calibrate the humidity probe?",
        "How often should sensors be recalibrated?",
        "At what temperature do the roof vents open?",
        "When do the vents close?",
        "What does the wind sensor do to the vents?",
        "When does the frost alarm trigger?",
        "Who receives the greenhouse alarms?",
    ];
    write(&orchard.join("eval/in_scope.jsonl"), jsonl(&orchard_in));
    let orchard_unanswerable = [
        "How do I connect Orchard to a weather station API?",
        "What is the warranty period of the Orchard controller?",
        "Can Orchard control LED grow lights?",
        "How do I reset the Orchard admin password?",
        "Which mobile app works with Orchard?",
        "How much power does the Orchard controller draw?",
    ];
    write(
        &orchard.join("eval/unanswerable.jsonl"),
        jsonl(&orchard_unanswerable),
    );

    let guides = root.join("corpora/guides");
    write(&guides.join("corpus.toml"), "name = \"guides\"\nscope = \"Installing and upgrading the Orchard controller software.\"\n[[sources]]\npath = \"docs\"\n");
    write(
        &guides.join("docs/install-v1.md"),
        "---\ntitle: Installing Orchard\ndate: 2024-01-10\nseries: install\n---\nInstall the Orchard controller software by running the installer script setup.sh. The installer opens port 7000 for the controller.\n",
    );
    write(
        &guides.join("docs/install-v2.md"),
        "---\ntitle: Installing Orchard\ndate: 2025-06-01\nseries: install\n---\nInstall the Orchard controller software with the system package manager. The controller listens on port 7420.\n",
    );
    write(
        &guides.join("docs/upgrade.md"),
        "---\ntitle: Upgrading Orchard\ndate: 2025-06-02\n---\nBefore upgrading the Orchard controller software, stop the controller service. Back up the settings folder, then install the new package.\n",
    );
    let guides_in = [
        "How do I install the Orchard controller software?",
        "Which port does the controller listen on?",
        "How do I upgrade Orchard?",
        "What should I back up before upgrading?",
        "Which package manager installs Orchard?",
        "What do I stop before an upgrade?",
    ];
    write(&guides.join("eval/in_scope.jsonl"), jsonl(&guides_in));
    write(&root.join("off_topic.jsonl"), jsonl(&OFF_TOPIC));
    let data = root.join("data");
    for c in [&orchard, &guides] {
        index_corpus(root, c, &data);
        // A damaged calibration from an earlier build is replaced, not read.
        write(&c.join("calibration.json"), "{\"support\": 3}");
        let (in_scope, unanswerable, off) = (
            c.join("eval/in_scope.jsonl"),
            c.join("eval/unanswerable.jsonl"),
            root.join("off_topic.jsonl"),
        );
        let mut args = vec![
            "calibrate",
            "--corpus",
            c.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ];
        args.extend([
            "--in-scope",
            in_scope.to_str().unwrap(),
            "--out-of-scope",
            off.to_str().unwrap(),
            "--json",
        ]);
        if unanswerable.is_file() {
            args.extend(["--unanswerable", unanswerable.to_str().unwrap()]);
        }
        let out = candor_ok(root, &args);
        let cal: Value = serde_json::from_str(out.trim()).unwrap();
        assert!(
            c.join("calibration.json").is_file(),
            "calibration is stored with the corpus"
        );
        assert!(cal["in_scope_answered"].as_f64().unwrap() >= 0.8, "{cal}");
        assert!(
            cal["out_of_scope_declined"].as_f64().unwrap() >= 0.8,
            "{cal}"
        );
    }
    (root.join("corpora"), data)
}

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
        "Alarm relay\n\nThe alarm relay closes when hail is detected by the roof microphone.\n",
    );
    std::fs::remove_file(corpus.join("docs/sensors.html")).unwrap();
    write(
        &corpus.join("docs/vents.md"),
        "# Vents\n\nRoof vents open when the temperature passes twenty-eight degrees.\n",
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
fn out_of_range_eval_overrides_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--max-tokens", "0"),
        ("--dense-weight", "3"),
        ("--rrf-k", "-60"),
    ] {
        let arg = format!("{flag}={value}");
        let out = candor(
            tmp.path(),
            &["eval", "beir", "--data", tmp.path().to_str().unwrap(), &arg],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
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

/// SciFact, shrunk: the first judged test queries, their relevant abstracts, and
/// other abstracts as distractors, in BEIR layout.
fn scifact_slice(dir: &Path, queries: usize, distractors: usize) -> Option<PathBuf> {
    let src = workspace().join("../shared/data/beir/scifact");
    if !src.join("corpus.jsonl").is_file() {
        // A user's machine may lack the reference data; CI never does.
        assert!(
            std::env::var_os("CI").is_none(),
            "reference data missing at {} in CI",
            src.display()
        );
        eprintln!("skipping: reference data not found at {}", src.display());
        return None;
    }
    let qrels = std::fs::read_to_string(src.join("qrels/test.tsv")).unwrap();
    let mut picked: Vec<String> = Vec::new();
    let mut relevant = std::collections::HashSet::new();
    let mut kept_qrels = String::from("query-id\tcorpus-id\tscore\n");
    for line in qrels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if !picked.contains(&cols[0].to_owned()) {
            if picked.len() == queries {
                continue;
            }
            picked.push(cols[0].to_owned());
        }
        relevant.insert(cols[1].to_owned());
        kept_qrels.push_str(line);
        kept_qrels.push('\n');
    }
    let corpus = std::fs::read_to_string(src.join("corpus.jsonl")).unwrap();
    let mut out = String::new();
    let mut others = 0;
    for line in corpus.lines() {
        let id = serde_json::from_str::<Value>(line).unwrap()["_id"]
            .as_str()
            .unwrap()
            .to_owned();
        if relevant.contains(&id)
            || (others < distractors && {
                others += 1;
                true
            })
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    let slice = dir.join("scifact-slice");
    write(&slice.join("corpus.jsonl"), out);
    write(&slice.join("qrels/test.tsv"), kept_qrels);
    std::fs::copy(src.join("queries.jsonl"), slice.join("queries.jsonl")).unwrap();
    Some(slice)
}

#[test]
fn beir_eval_on_a_scifact_slice_reports_metrics_and_caches_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(slice) = scifact_slice(tmp.path(), 25, 150) else {
        return;
    };
    let data = tmp.path().join("data");
    let run = |mode: &str| -> Value {
        let out = candor_ok(
            tmp.path(),
            &[
                "eval",
                "beir",
                "--data",
                slice.to_str().unwrap(),
                "--split",
                "test",
                "--mode",
                mode,
                "--json",
                "--raw-sample",
                "24",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        serde_json::from_str(out.trim()).unwrap()
    };
    let hybrid = run("hybrid");
    assert_eq!(hybrid["queries"], 25, "{hybrid}");
    assert_eq!(hybrid["index"]["cached"], false);
    assert!(
        hybrid["index"]["chunks"].as_u64().unwrap()
            >= hybrid["index"]["documents"].as_u64().unwrap()
    );
    assert!(
        hybrid["raw_embedding"]["chunks_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for key in ["ndcg_at_10", "recall_at_100", "mrr_at_10"] {
        let v = hybrid[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    // With ~175 documents the relevant abstract is almost always found.
    assert!(hybrid["ndcg_at_10"].as_f64().unwrap() > 0.6, "{hybrid}");
    for mode in ["bm25", "dense"] {
        let r = run(mode);
        assert_eq!(
            r["index"]["cached"], true,
            "second run reuses the index: {r}"
        );
        assert!(r["ndcg_at_10"].as_f64().unwrap() > 0.5, "{mode}: {r}");
    }
}

/// A test plugin built by `make plugins` (from `tests/plugins/`).
fn test_plugin(name: &str) -> PathBuf {
    let p = workspace().join(format!("target/plugins/wasm32-wasip2/release/{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run `make plugins` (make test does)",
        p.display()
    );
    p
}

/// A hostile plugin's failure report names the plugin and the cause, leaks
/// nothing, and came within the call's deadline plus 1 s.
fn assert_contained(
    misdeed: &str,
    report: &str,
    plugin: &str,
    cause: &str,
    secs: f64,
    deadline: f64,
) {
    assert!(
        report.contains(&format!("plugin `{plugin}`")) && report.contains(cause),
        "{misdeed}: {report}"
    );
    assert!(
        !report.contains("root:"),
        "{misdeed}: the sandbox leaked /etc/passwd: {report}"
    );
    assert!(secs < deadline + 1.0, "{misdeed}: took {secs:.2}s");
}

/// Runs `candor plugin run` and returns (success, stdout, stderr, seconds).
fn plugin_run(dir: &Path, args: &[&str]) -> (bool, String, String, f64) {
    let started = std::time::Instant::now();
    let out = candor(dir, &[&["plugin", "run"], args].concat());
    let secs = started.elapsed().as_secs_f64();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        secs,
    )
}

#[test]
fn hostile_plugins_are_stopped_with_their_name_and_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let guard = test_plugin("hostile_guardrail");
    let guard = guard.to_str().unwrap();
    // Compile once, so the timings below are the calls, not the compiler.
    let check = candor_ok(tmp.path(), &["plugin", "check", guard]);
    let check: Value = serde_json::from_str(&check).unwrap();
    assert_eq!(
        (check["world"].as_str(), check["limits"]["timeout"].as_u64()),
        (Some("guardrail"), Some(50)),
        "{check}"
    );

    // `flood` needs more than the default 64 MiB to build its 100 MB result; the
    // live-server test raises the cap to meet the result cap instead.
    for (misdeed, cause) in MISDEEDS.into_iter().filter(|(m, _)| *m != "flood") {
        let config = format!("{{\"do\":\"{misdeed}\"}}");
        let (ok, stdout, stderr, secs) = plugin_run(
            tmp.path(),
            &[guard, "--question", "hello", "--config", &config],
        );
        assert!(!ok, "{misdeed}: must fail\n{stdout}");
        assert_contained(misdeed, &stderr, "hostile_guardrail", cause, secs, 0.05);
    }
    // Printing a lot is fine: the output is bounded, and the call still answers.
    let (ok, stdout, stderr, _) = plugin_run(
        tmp.path(),
        &[guard, "--question", "hi", "--config", "{\"do\":\"print\"}"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"verdict\": \"allow\""), "{stdout}");

    let parser = test_plugin("hostile_parser");
    let parser = parser.to_str().unwrap();
    candor_ok(tmp.path(), &["plugin", "check", parser]);
    write(&tmp.path().join("notes.txt"), "Release 1.0 is out.");
    // Besides the shared misdeeds, breaks of the contract's own rules: dates
    // RFC 3339 in years 0001 to 9999, 1-based pages, no control characters in
    // titles (the error shows the character escaped).
    let parser_cases = [
        ("bad-date", "date `last tuesday` is not an RFC 3339 date"),
        ("reject", "rejects every file"),
        ("bc-date", "date `-0044-03-15` is not an RFC 3339 date"),
        ("page-zero", "page 0 is not in 1..="),
        (
            "escape-title",
            "the title holds a control character (\\u{1b})",
        ),
    ];
    for (misdeed, cause) in MISDEEDS.into_iter().chain(parser_cases) {
        let config = format!("{{\"do\":\"{misdeed}\"}}");
        let (ok, _, stderr, secs) = plugin_run(
            tmp.path(),
            &[parser, "--file", "notes.txt", "--config", &config],
        );
        assert!(!ok, "{misdeed}: must fail");
        assert_contained(misdeed, &stderr, "hostile_parser", cause, secs, 2.0);
        assert!(!stderr.contains('\u{1b}'), "{misdeed}: {stderr}");
    }
    let (ok, stdout, stderr, _) = plugin_run(tmp.path(), &[parser, "--file", "notes.txt"]);
    assert!(ok, "{stderr}");
    let docs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (
            docs[0]["date"].as_str(),
            docs[0]["sections"][0]["text"].as_str()
        ),
        (Some("2024-05-01"), Some("Release 1.0 is out."))
    );

    // Not a component at all, and a guardrail asked to parse: refused by name.
    write(&tmp.path().join("fake.wasm"), "not wasm");
    let out = candor(tmp.path(), &["plugin", "check", "fake.wasm"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("plugin `fake`"),
        "{err}"
    );
    let (ok, _, stderr, _) = plugin_run(tmp.path(), &[guard, "--file", "notes.txt"]);
    assert!(
        !ok && stderr.contains("is a guardrail, not a parser"),
        "{stderr}"
    );
}

/// A guardrail component of `hogs` core modules besides its main one, each with
/// its own linear memory that it grows by `pages` (64 KiB each) and touches,
/// written in the component text format: no toolchain builds such a thing, but
/// an author can.
fn memory_hog_guardrail(hogs: usize, pages: u32) -> Vec<u8> {
    let imports: String = (0..hogs)
        .map(|i| format!("(import \"hog{i}\" \"fill\" (func $f{i} (result i32)))\n"))
        .collect();
    let calls: String = (0..hogs).map(|i| format!("(drop (call $f{i}))")).collect();
    let instances: String = (0..hogs)
        .map(|i| format!("(core instance $h{i} (instantiate $hog))\n"))
        .collect();
    let with: String = (0..hogs)
        .map(|i| format!("(with \"hog{i}\" (instance $h{i}))"))
        .collect();
    let wat = format!(
        r#"(component
  (core module $hog
    (memory 0)
    (func (export "fill") (result i32)
      (local $i i32)
      (if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)) (then unreachable))
      (loop $l
        (i32.store8 (i32.mul (local.get $i) (i32.const 65536)) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const {pages}))))
      (i32.const 0)))
  (core module $main
    {imports}
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "check-question") (param i32 i32 i32 i32) (result i32)
      {calls}
      (i32.const 64))
    (func (export "check-answer") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      {calls}
      (i32.const 64)))
  {instances}
  (core instance $m (instantiate $main {with}))
  (alias core export $m "memory" (core memory $mem))
  (alias core export $m "realloc" (core func $realloc))
  (type $verdict (variant (case "allow") (case "redact" string) (case "block")))
  (export $v "verdict" (type $verdict))
  (type $decision (record (field "verdict" $v) (field "code" string) (field "reason" string)))
  (export $d "decision" (type $decision))
  (type $citation (record (field "doc-id" string) (field "title" string) (field "snippet" string)))
  (export $c "citation" (type $citation))
  (func $cq (param "question" string) (param "config" string) (result $d)
    (canon lift (core func $m "check-question") (memory $mem) (realloc $realloc)))
  (export "check-question" (func $cq))
  (func $ca (param "question" string) (param "answer" string) (param "citations" (list $c)) (param "config" string) (result $d)
    (canon lift (core func $m "check-answer") (memory $mem) (realloc $realloc)))
  (export "check-answer" (func $ca))
)"#
    );
    wat::parse_str(&wat).expect("the hog component is valid")
}

#[test]
fn a_plugin_has_one_memory_budget_however_many_memories_it_has() {
    let tmp = tempfile::tempdir().unwrap();
    // Two small memories besides the main one: within budget, the call answers,
    // so the component itself is sound.
    write(
        &tmp.path().join("small_hogs.wasm"),
        memory_hog_guardrail(2, 16),
    );
    let (ok, stdout, stderr, _) = plugin_run(tmp.path(), &["small_hogs.wasm", "--question", "hi"]);
    assert!(
        ok && stdout.contains("\"verdict\": \"allow\""),
        "{stdout}{stderr}"
    );
    // Three memories of 63 MiB each under the 64 MiB budget: the second growth
    // is refused, whichever memory asks.
    write(&tmp.path().join("hogs.wasm"), memory_hog_guardrail(3, 1008));
    let (ok, _, stderr, secs) = plugin_run(tmp.path(), &["hogs.wasm", "--question", "hi"]);
    assert!(!ok);
    assert_contained(
        "hogs",
        &stderr,
        "hogs",
        "ran out of memory: it tried to grow past its budget of 64 MiB",
        secs,
        0.05,
    );
    // Forty memories are refused when the component is loaded.
    write(
        &tmp.path().join("herd.wasm"),
        memory_hog_guardrail(40, 1008),
    );
    let out = candor(tmp.path(), &["plugin", "check", "herd.wasm"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("plugin `herd`")
            && err.contains("41 Wasm linear memories, which exceeds the configured maximum of 4"),
        "{err}"
    );
}

#[test]
fn a_slow_guardrail_cannot_take_the_slots_of_another_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let guard = |what: &str| {
        format!("[[guardrails]]\nplugin = \"hostile-guardrail\"\nstage = \"input\"\ntimeout_ms = 1000\n[guardrails.config]\ndo = \"{what}\"\n")
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
fn the_edge_closes_slow_clients_times_out_requests_and_sheds_uncached_work_past_its_bound() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A guardrail that sleeps its full 5 s deadline: a request slower than the
    // 400 ms request timeout.
    let c = clinic(
        tmp.path(),
        "slow",
        "[[guardrails]]\nplugin = \"hostile-guardrail\"\nstage = \"input\"\ntimeout_ms = 5000\n[guardrails.config]\ndo = \"question\"\n",
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

    // An answered question, so the cache holds it.
    let known = json!({"question": "When does the clinic open on Saturdays?"}).to_string();
    let (status, b) = post(&server.base, "/v1/answer", &known);
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
fn guardrails_block_with_their_reason_and_broken_ones_follow_their_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let docs = "---\ntitle: Opening hours\ndate: 2025-01-05\n---\nThe clinic opens at eight on weekdays and at nine on Saturdays. It is closed on Sundays.\n";
    let corpora = [
        ("clinic", "plugin = \"topic-policy\"\nstage = \"input\"\n[[guardrails.config.topics]]\nname = \"medical-dosage\"\nphrases = [\"dosage\", \"how many mg\"]\nreason = \"We cannot give dosage advice; ask a pharmacist.\"\n"),
        ("flaky", "plugin = \"hostile-guardrail\"\nstage = \"input\"\n[guardrails.config]\ndo = \"loop\"\n"),
        ("lenient", "plugin = \"hostile-guardrail\"\nstage = \"output\"\non_error = \"fail_open\"\n[guardrails.config]\ndo = \"panic\"\n"),
        ("private", "plugin = \"pii-redact\"\nstage = \"input\"\n[[guardrails]]\nplugin = \"pii-redact\"\nstage = \"output\"\n"),
    ];
    for (name, guard) in corpora {
        let c = tmp.path().join("corpora").join(name);
        write(&c.join("corpus.toml"), format!("name = \"{name}\"\nscope = \"Opening hours of the clinic.\"\n[[sources]]\npath = \"docs\"\n[[guardrails]]\n{guard}"));
        write(
            &c.join("docs/hours.md"),
            docs.replace(
                "It is closed on Sundays.",
                "Book at desk@clinic.example or call the desk.",
            ),
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

const CHANGELOG: &str = "# Changelog\n\nAll notable changes to Ferrule are documented here.\n\n## [Unreleased]\n- Work on a web console.\n\n## [2.4.0] - 2026-09-14\n### Added\n- Incremental backups of PostgreSQL databases through WAL archiving.\n### Fixed\n- Restores no longer fail when a folder name contains a colon.\n\n## [2.3.0] - 2026-03-20\n### Added\n- Encryption of backup archives with age keys.\n\n## [2.2.0] - 2025-11-03\n### Added\n- S3-compatible object storage as a backup target.\n\n[2.4.0]: https://example.invalid/compare/2.3.0...2.4.0\n";

#[test]
fn release_notes_parsed_by_the_plugin_answer_the_latest_version() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = tmp.path().join("corpora/releases");
    write(&c.join("corpus.toml"), "name = \"releases\"\nscope = \"Release notes of Ferrule, a self-hosted backup server: what each version added and fixed, and when it was released.\"\n[[sources]]\npath = \"notes\"\n[sources.parser]\nplugin = \"release-notes\"\n[sources.parser.config]\nproduct = \"Ferrule\"\n");
    write(&c.join("notes/CHANGELOG.md"), CHANGELOG);
    let report = index_report(tmp.path(), &c, &data);
    assert_eq!(
        (
            report["documents"].as_u64(),
            report["files_failed"].as_u64()
        ),
        (Some(3), Some(0)),
        "{report}"
    );

    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| {
        post(
            &server.base,
            "/v1/answer",
            &json!({"question": q}).to_string(),
        )
        .1
    };
    let latest = ask("What is the latest version?");
    assert_eq!(latest["status"], "answered", "{latest}");
    let first = &latest["citations"][0];
    assert_eq!(
        (
            first["doc_id"].as_str(),
            first["title"].as_str(),
            first["date"].as_str(),
            first["metadata"]["version"].as_str()
        ),
        (
            Some("notes/CHANGELOG.md#2.4.0"),
            Some("Ferrule 2.4.0"),
            Some("2026-09-14"),
            Some("2.4.0")
        ),
        "{latest}"
    );
    assert!(
        latest["answer"].as_str().unwrap().contains("2.4.0"),
        "{latest}"
    );
    // An older entry still answers for what it introduced.
    let s3 = ask("Which version added S3-compatible object storage?");
    assert_eq!(
        s3["citations"][0]["doc_id"], "notes/CHANGELOG.md#2.2.0",
        "{s3}"
    );

    // A guardrail named as a parser is refused, naming the entry.
    write(&c.join("corpus.toml"), "name = \"releases\"\nscope = \"x\"\n[[sources]]\npath = \"notes\"\n[sources.parser]\nplugin = \"pii-redact\"\n");
    let out = candor(tmp.path(), &index_argv(&c, &data, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("sources[0].parser.plugin")
            && err.contains("is a guardrail, not a parser"),
        "{err}"
    );
}

/// A changelog in restic's form: one `Changelog for` heading per release, a
/// summary, and details with one indented entry each, some with Markdown links.
fn series_changelog() -> String {
    let releases = [
        ("0.6.0", "2021-02-01", "Feature #101: Add the [`mount` command](https://example.invalid/pull/101)", "Snapshots can be browsed as a FUSE file system with `kiln mount /mnt`."),
        ("0.7.0", "2022-03-05", "Feature #202: Add the rewrite command", "The new rewrite command removes files from existing snapshots, for example credentials that were backed up by mistake."),
        ("0.8.0", "2023-04-07", "Enhancement #303: Compress repository data", "Repository format version 2 compresses data with zstd, which saves a third of the space on typical backups."),
        ("0.9.0", "2024-05-09", "Bugfix #404: Retry failed uploads to [S3](https://example.invalid/s3)", "Uploads that fail with a network error are retried up to ten times before the backup stops."),
        ("0.10.0", "2025-06-11", "Feature #505: Add the copy command", "Snapshots can be copied between two repositories with the new copy command, keeping their deduplication when both use the same chunker parameters."),
        ("0.11.0", "2026-07-13", "Bugfix #606: Keep file ownership on restore", "Restoring as root now sets the owner and group of every file by their names rather than numeric ids."),
    ];
    let mut text = String::from("# Table of Contents\n\n");
    for (v, d, title, body) in releases.iter().rev() {
        text.push_str(&format!(
            "# Changelog for kiln {v} ({d})\nThe following sections list the changes in kiln {v}.\n\n## Summary\n\n * {title}\n * Fix #9{v}: Tidy the help text\n\n## Details\n\n * {title}\n\n   {body}\n\n   https://example.invalid/issues/1\n\n * Bugfix #9{v}: Tidy the help text\n\n   The help text of every command was shortened.\n\n"
        ));
    }
    text
}

#[test]
fn a_release_series_answers_from_the_release_that_holds_the_fact_and_the_newest_for_latest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = tmp.path().join("corpora/kiln");
    write(&c.join("corpus.toml"), "name = \"kiln\"\nscope = \"Release notes of kiln, a backup program: which version added, changed or fixed what, and when each version was released.\"\n[[sources]]\npath = \"notes\"\n[sources.parser]\nplugin = \"release-notes\"\n[sources.parser.config]\nproduct = \"kiln\"\nseries = \"kiln\"\n");
    write(&c.join("notes/CHANGELOG.md"), series_changelog());
    let report = index_report(tmp.path(), &c, &data);
    assert_eq!(
        (
            report["documents"].as_u64(),
            report["files_failed"].as_u64()
        ),
        (Some(6), Some(0)),
        "{report}"
    );
    write(
        &tmp.path().join("in.jsonl"),
        jsonl(&[
            "when was the mount command added",
            "which kiln version compresses the repository",
            "what release retries failed uploads",
            "since when can snapshots be copied between repositories",
            "which version keeps file owners on restore",
            "what did kiln 0.6.0 change",
            "which release shortened the help text",
            "when did kiln learn to rewrite snapshots",
        ]),
    );
    write(
        &tmp.path().join("unanswerable.jsonl"),
        jsonl(&[
            "which kiln version added a web interface",
            "when did kiln get support for tape libraries",
            "which release added windows service support",
            "what version of kiln supports azure blob storage",
            "when will kiln 1.0 be released",
            "which kiln release added email notifications",
        ]),
    );
    write(&tmp.path().join("off.jsonl"), jsonl(&OFF_TOPIC));
    let arg = |p: &str| tmp.path().join(p).to_str().unwrap().to_owned();
    candor_ok(
        tmp.path(),
        &[
            "calibrate",
            "--corpus",
            c.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--in-scope",
            &arg("in.jsonl"),
            "--unanswerable",
            &arg("unanswerable.jsonl"),
            "--out-of-scope",
            &arg("off.jsonl"),
        ],
    );

    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let ask = |q: &str| {
        post(
            &server.base,
            "/v1/answer",
            &json!({"question": q, "corpus": "kiln"}).to_string(),
        )
        .1
    };
    // A fact of an old release is cited from that release, whose version the
    // answer names, however many newer releases there are.
    let rewrite = ask("Which version introduced the rewrite command?");
    assert_eq!(rewrite["status"], "answered", "{rewrite}");
    assert_eq!(
        rewrite["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.7.0",
        "{rewrite}"
    );
    assert!(
        rewrite["answer"].as_str().unwrap().contains("0.7.0"),
        "{rewrite}"
    );
    // "Most recent", "newest" and "latest" all mean the newest release.
    for q in [
        "What is the most recent release?",
        "newest kiln version?",
        "what's new in the latest release",
    ] {
        let a = ask(q);
        assert_eq!(
            a["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.11.0",
            "{q}: {a}"
        );
    }
    // "The latest release" is answered by naming it.
    let latest = ask("What is the latest kiln release?");
    assert!(
        latest["answer"].as_str().unwrap().contains("0.11.0"),
        "{latest}"
    );
    // A question about a whole release is answered by its summary, after the
    // sentence that names it, not by the template every release repeats.
    let whole = ask("What's in kiln 0.9.0?");
    let text = whole["answer"].as_str().unwrap_or_default();
    assert!(
        text.contains("0.9.0")
            && text.contains("Retry failed uploads")
            && !text.contains("The following sections"),
        "{whole}"
    );
    // An entry whose title is a Markdown link is quoted as its text.
    let mount = ask("which release added the mount command?");
    assert_eq!(
        mount["citations"][0]["doc_id"], "notes/CHANGELOG.md#0.6.0",
        "{mount}"
    );
    let text = mount["answer"].as_str().unwrap();
    assert!(
        text.contains("mount command")
            && !text.contains("](")
            && !text.contains("http")
            && !text.contains('`'),
        "{mount}"
    );
    // On topic, but no release holds it: declined, saying what is covered.
    let tape = ask("Which kiln release added support for LTO tape drives?");
    assert_eq!(
        (tape["status"].as_str(), tape["reason"].as_str()),
        (Some("unsupported"), Some("insufficient_evidence")),
        "{tape}"
    );
    assert!(
        tape["message"]
            .as_str()
            .unwrap()
            .contains("Release notes of kiln"),
        "{tape}"
    );
}

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

/// The misdeeds every hostile plugin can commit, with what the error must say.
const MISDEEDS: [(&str, &str); 8] = [
    ("loop", "did not finish within its"),
    ("sleep", "was blocked in a host call past its"),
    ("alloc", "ran out of memory"),
    ("flood", "more than its cap"),
    ("panic", "panics on purpose"),
    ("passwd", "reading /etc/passwd"),
    ("env", "reading $HOME"),
    ("socket", "opening a socket"),
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
    let c = clinic(tmp.path(), "hostile", "[[sources]]\npath = \"odd\"\n[sources.parser]\nplugin = \"hostile-parser\"\n[sources.parser.config]\ndo = \"content\"\n[[guardrails]]\nplugin = \"hostile-guardrail\"\nstage = \"input\"\n# Room and time to build a 100 MB result, so `flood` meets the result cap.\nmemory_mib = 512\ntimeout_ms = 1000\n[guardrails.config]\ndo = \"question\"\n");
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
        .arg("import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(120)")
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

/// The hex SHA-256 of `secret`, as a keys file holds it.
fn sha256_hex(secret: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(secret.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

#[test]
fn api_keys_admit_their_corpora_at_their_rate_and_can_be_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for name in ["north", "south"] {
        index_corpus(tmp.path(), &clinic(tmp.path(), name, ""), &data);
    }
    let keys = tmp.path().join("keys.toml");
    let entry = |id: &str, secret: &str, more: &str| {
        format!(
            "[[keys]]\nid = \"{id}\"\nsecret_sha256 = \"{}\"\n{more}",
            sha256_hex(secret)
        )
    };
    write(
        &keys,
        entry(
            "app",
            "app-secret",
            "corpora = [\"north\"]\nrate_per_second = 0.01\nburst = 3\n",
        ) + &entry("ops", "ops-secret", ""),
    );
    // A keys file that names a corpus not served stops the start, naming both.
    write(
        &tmp.path().join("bad.toml"),
        entry("app", "app-secret", "corpora = [\"west\"]\n"),
    );
    let corpora = tmp.path().join("corpora");
    let out = candor(
        tmp.path(),
        &[
            "serve",
            "--corpora",
            corpora.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--keys",
            "bad.toml",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("bad.toml")
            && err.contains("key `app`: corpus `west` is not served"),
        "{err}"
    );

    let server = serve_full(
        tmp.path(),
        &corpora,
        &data,
        &[("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)],
        &["--keys", keys.to_str().unwrap()],
    );
    let ask = |key: Option<&str>, corpus: &str| {
        let body = json!({"question": "When does the clinic open on Saturdays?", "corpus": corpus});
        admin(
            "POST",
            &server.base,
            "/v1/answer",
            key,
            Some(&body.to_string()),
        )
    };
    let code = |(status, b): (u16, Value)| (status, b["error"]["code"].as_str().map(str::to_owned));
    // The operational routes stay open; /v1/ needs a known key.
    assert_eq!(get(&server.base, "/healthz").0, 200);
    assert_eq!(get(&server.base, "/readyz").0, 200);
    assert_eq!(code(ask(None, "north")), (401, Some("unauthorized".into())));
    assert_eq!(
        code(ask(Some("guess"), "north")),
        (401, Some("unauthorized".into()))
    );
    // A key reads its own corpora only, and lists only those.
    let (status, b) = ask(Some("ops-secret"), "south");
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("answered")),
        "{b}"
    );
    let (status, b) = ask(Some("app-secret"), "north");
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("answered")),
        "{b}"
    );
    let (status, b) = ask(Some("app-secret"), "south");
    assert_eq!(
        (
            status,
            b["error"]["code"].as_str(),
            b["error"]["message"].as_str()
        ),
        (
            403,
            Some("forbidden"),
            Some("key `app` may not read corpus `south`")
        ),
        "{b}"
    );
    let (status, list) = admin("GET", &server.base, "/v1/corpora", Some("app-secret"), None);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!((status, names), (200, vec!["north"]));
    // A burst of 3 at one request per 100 s: the 3 above (the refused one
    // too) took it all, and the next is 100 s away.
    let resp = agent()
        .post(&format!("{}/v1/search", server.base))
        .header("content-type", "application/json")
        .header("authorization", "Bearer app-secret")
        .send(r#"{"question": "opening hours", "corpus": "north"}"#)
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        (resp.status().as_u16(), retry.as_deref()),
        (429, Some("100"))
    );
    // The other key has no rate and is not held up.
    assert_eq!(ask(Some("ops-secret"), "north").0, 200);

    // Revoked: the file no longer holds `ops`; a reload applies it at once.
    write(&keys, entry("app", "app-secret", "corpora = [\"north\"]\n"));
    let (status, b) = admin(
        "POST",
        &server.base,
        "/admin/keys/reload",
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!((status, b["keys"].as_u64()), (200, Some(1)), "{b}");
    assert_eq!(
        code(ask(Some("ops-secret"), "north")),
        (401, Some("unauthorized".into()))
    );
    // A file that does not load changes nothing.
    write(&keys, "[[keys]]\nid = \"app\"\n");
    let (status, b) = admin(
        "POST",
        &server.base,
        "/admin/keys/reload",
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (400, Some("invalid_keys")),
        "{b}"
    );
    assert_eq!(ask(Some("app-secret"), "north").0, 200);

    // Requests are counted by key id; no secret is ever echoed.
    let (_, metrics) = get(&server.base, "/metrics");
    assert!(
        metrics.contains(r#"candor_key_requests_total{key="app",status="403"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("secret"), "{metrics}");
}

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

/// `GET /metrics`, parsed as Prometheus text (the parse fails on a malformed line).
fn scrape(base: &str) -> prometheus_parse::Scrape {
    let (status, text) = get(base, "/metrics");
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn a_full_reindex_under_load_swaps_without_a_failed_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "");
    let hours = |time: &str| {
        format!("---\ntitle: Opening hours\ndate: 2025-01-05\n---\nThe clinic opens at {time} on Saturdays and closes at noon.\n")
    };
    write(&c.join("docs/hours.md"), hours("nine"));
    for i in 0..40 {
        write(
            &c.join(format!("docs/service-{i}.md")),
            format!("---\ntitle: Service {i}\n---\nService number {i} of the clinic is offered on weekdays in room {i}; bring your card and arrive ten minutes early.\n"),
        );
    }
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
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (base, stop) = (server.base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Distinct questions miss the cache, so every request reads a generation.
                    let q = json!({"question": format!("Which room offers service {}?", seen.len() % 40), "corpus": "clinic"});
                    let (status, b) = post(&base, "/v1/answer", &q.to_string());
                    assert_eq!(status, 200, "client {i}: {b}");
                    seen.push(b["generation"].as_u64().unwrap_or_else(|| panic!("client {i}: no generation: {b}")));
                }
                seen
            })
        })
        .collect();
    let started = start_full_reindex(&server.base, "clinic");
    let job = wait_for_job(&server.base, &started["job_id"]);
    // Keep asking a little after the swap, so both generations are seen.
    std::thread::sleep(Duration::from_millis(500));
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
    let c = clinic(tmp.path(), "slow", "[[sources]]\npath = \"odd\"\n[sources.parser]\nplugin = \"hostile-parser\"\n[sources.parser.config]\ndo = \"content\"\n");
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
    let again = start_full_reindex(&server.base, "slow");
    let job = wait_for_job(&server.base, &again["job_id"]);
    assert_eq!(
        (
            job["phase"].as_str(),
            job["counts"]["files_failed"].as_u64()
        ),
        (Some("done"), Some(1)),
        "{job}"
    );
    let (_, b) = post(
        &server.base,
        "/v1/answer",
        &json!({"question": "Where is the pharmacy?"}).to_string(),
    );
    assert!(b["generation"].as_u64().unwrap() > 1, "{b}");
}

#[test]
fn feedback_round_trip_answer_rate_export_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "");
    write(&c.join("docs/pharmacy.md"), "---\ntitle: Pharmacy\ndate: 2025-01-05\n---\nThe pharmacy is on the ground floor, next to the main entrance.\n");
    write(
        &c.join("eval/in_scope.jsonl"),
        "{\"text\": \"When does the clinic open on Saturdays?\", \"relevant\": [\"docs/hours.md\"]}\n{\"text\": \"Where is the pharmacy?\", \"relevant\": [\"docs/pharmacy.md\"]}\n",
    );
    write(
        &c.join("eval/out_of_scope.jsonl"),
        "{\"text\": \"Which stocks should I buy this year?\"}\n",
    );
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

/// A GET, or a POST with a JSON body (or none), with an optional bearer token:
/// (status, content type, body).
fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let url = format!("{base}{path}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let with_auth = |r| match &auth {
        Some(a) => ureq::RequestBuilder::header(r, "authorization", a),
        None => r,
    };
    let mut resp = match (method, body) {
        ("post", Some(b)) => with_auth(
            agent()
                .post(&url)
                .header("content-type", "application/json"),
        )
        .send(b),
        ("post", None) => with_auth(agent().post(&url)).send_empty(),
        _ => match &auth {
            Some(a) => agent().get(&url).header("authorization", a).call(),
            None => agent().get(&url).call(),
        },
    }
    .expect("request sent");
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        resp.status().as_u16(),
        kind,
        resp.body_mut().read_to_string().expect("body"),
    )
}

#[test]
fn every_route_in_openapi_answers_as_its_schema_says() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(
        tmp.path(),
        "clinic",
        "[[guardrails]]\nplugin = \"pii-redact\"\nstage = \"output\"\n",
    );
    index_corpus(tmp.path(), &c, &data);
    let server = serve_with(
        tmp.path(),
        &tmp.path().join("corpora"),
        &data,
        &[("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let (status, _, text) = call(&server.base, "get", "/openapi.json", None, None);
    assert_eq!(status, 200, "{text}");
    let spec: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");

    let mut exercised = std::collections::BTreeSet::new();
    let mut check = |method: &str,
                     template: &str,
                     path: &str,
                     token: Option<&str>,
                     body: Option<Value>,
                     want: u16|
     -> Value {
        let body = body.map(|b| b.to_string());
        let (status, kind, text) = call(&server.base, method, path, token, body.as_deref());
        assert_eq!(status, want, "{method} {path}: {text}");
        let described = &spec["paths"][template][method]["responses"][status.to_string()];
        assert!(
            described.is_object(),
            "{method} {template} does not describe {status}"
        );
        exercised.insert(format!("{method} {template}"));
        let content = described["content"].as_object().expect("a described body");
        if let Some(plain) = content.get("text/plain") {
            assert!(
                kind.starts_with("text/plain") && plain["schema"]["type"] == "string",
                "{method} {path}: {kind}"
            );
            return Value::String(text);
        }
        let mut schema = content["application/json"]["schema"].clone();
        schema["components"] = spec["components"].clone();
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{template}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} breaks its schema: {errors:?}\n{value}"
        );
        value
    };
    let t = Some(ADMIN_TOKEN);
    check("get", "/healthz", "/healthz", None, None, 200);
    check("get", "/readyz", "/readyz", None, None, 200);
    check("get", "/openapi.json", "/openapi.json", None, None, 200);
    check("get", "/v1/corpora", "/v1/corpora", None, None, 200);
    check(
        "post",
        "/v1/search",
        "/v1/search",
        None,
        Some(json!({"question": "When does the clinic open?"})),
        200,
    );
    check(
        "post",
        "/v1/search",
        "/v1/search",
        None,
        Some(json!({"question": "x", "mode": "psychic"})),
        400,
    );
    check(
        "post",
        "/v1/search",
        "/v1/search",
        None,
        Some(json!({"question": "x", "corpus": "nope"})),
        404,
    );
    let answered = check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": "When does the clinic open on Saturdays?"})),
        200,
    );
    assert_eq!(answered["status"], "answered", "{answered}");
    let declined = check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": "Which stocks should I buy this year?"})),
        200,
    );
    assert_eq!(declined["status"], "unsupported", "{declined}");
    check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": ""})),
        400,
    );
    check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": "x", "corpus": "nope"})),
        404,
    );
    check(
        "post",
        "/v1/feedback",
        "/v1/feedback",
        None,
        Some(json!({"answer_id": answered["answer_id"], "rating": "up"})),
        200,
    );
    check(
        "post",
        "/v1/feedback",
        "/v1/feedback",
        None,
        Some(json!({"answer_id": "ans_nope", "rating": "up"})),
        404,
    );
    check(
        "post",
        "/v1/feedback",
        "/v1/feedback",
        None,
        Some(json!({"rating": "up"})),
        400,
    );
    let reindex = "/admin/corpora/{name}/reindex";
    check(
        "post",
        reindex,
        "/admin/corpora/clinic/reindex",
        None,
        Some(json!({})),
        401,
    );
    check(
        "post",
        reindex,
        "/admin/corpora/clinic/reindex",
        t,
        Some(json!({"mode": "sideways"})),
        400,
    );
    check(
        "post",
        reindex,
        "/admin/corpora/nope/reindex",
        t,
        Some(json!({})),
        404,
    );
    let started = check(
        "post",
        reindex,
        "/admin/corpora/clinic/reindex",
        t,
        Some(json!({"mode": "full"})),
        202,
    );
    let job = wait_for_job(&server.base, &started["job_id"]);
    assert_eq!(job["phase"], "done", "{job}");
    check(
        "get",
        "/admin/jobs/{id}",
        &format!("/admin/jobs/{}", started["job_id"]),
        t,
        None,
        200,
    );
    check(
        "get",
        "/admin/jobs/{id}",
        "/admin/jobs/999999",
        t,
        None,
        404,
    );
    check("get", "/admin/jobs/{id}", "/admin/jobs/1", None, None, 401);
    check("get", "/admin/jobs", "/admin/jobs", t, None, 200);
    check(
        "get",
        "/admin/jobs",
        "/admin/jobs",
        Some("wrong"),
        None,
        401,
    );
    check(
        "post",
        "/admin/plugins/reload",
        "/admin/plugins/reload",
        t,
        None,
        200,
    );
    check(
        "post",
        "/admin/plugins/reload",
        "/admin/plugins/reload",
        None,
        None,
        401,
    );
    // This server runs without API keys: nothing to reload.
    check(
        "post",
        "/admin/keys/reload",
        "/admin/keys/reload",
        t,
        None,
        404,
    );
    // Last, so it has counted the rest.
    check("get", "/metrics", "/metrics", None, None, 200);

    let documented: std::collections::BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{m} {path}"))
        })
        .collect();
    assert_eq!(
        exercised, documented,
        "every documented route is exercised, and only those"
    );
    // The check above can fail: a body the schema does not describe is refused.
    let mut schema = spec["paths"]["/v1/answer"]["post"]["responses"]["200"]["content"]
        ["application/json"]["schema"]
        .clone();
    schema["components"] = spec["components"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut wrong = answered.clone();
    wrong["status"] = json!("maybe");
    assert!(validator.is_valid(&answered) && !validator.is_valid(&wrong));
    wrong = answered.clone();
    wrong["citations"][0]["span"] = json!("12-40");
    assert!(
        !validator.is_valid(&wrong),
        "nested schemas are checked too"
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

    write(&c.join("docs/hours.md"), "---\ntitle: Opening hours\ndate: 2025-01-05\n---\nThe clinic opens at eight on Saturdays and closes at noon.\n");
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

/// Headless Chromium (Debian's `chromium`, installed by `make test`).
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file());
    found.expect("chromium is missing: `make test` installs it (Debian: apt-get install chromium)")
}

/// Loads `url` in headless Chromium, lets its scripts and requests run, and
/// returns the resulting DOM (and writes a screenshot when asked).
fn browse(url: &str, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("--virtual-time-budget=15000")
    .arg("--window-size=1280,900");
    match screenshot {
        Some(p) => cmd.arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed on {url}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_playground_asks_shows_citations_and_reasons_and_sends_feedback() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(tmp.path(), "clinic", "");
    index_corpus(tmp.path(), &c, &data);
    let server = serve(tmp.path(), &tmp.path().join("corpora"), &data);
    let page = |q: &str, more: &str| {
        format!(
            "{}/?q={}{more}",
            server.base,
            q.replace(' ', "%20").replace('?', "%3F")
        )
    };

    let answered = browse(
        &page("When does the clinic open on Saturdays?", "&feedback=up"),
        None,
    );
    for expected in [
        "data-status=\"answered\"",
        "class=\"citation\"",
        "Opening hours",
        "data-sent=\"up\"",
        "href=\"#cite-1\"",
        "data-done=\"true\"",
    ] {
        assert!(
            answered.contains(expected),
            "missing {expected} in\n{answered}"
        );
    }
    // The explain panel shows the evidence's scores and the threshold.
    assert!(
        answered.contains("against threshold") && answered.contains("docs/hours.md"),
        "{answered}"
    );

    let declined = browse(&page("Which stocks should I buy this year?", ""), None);
    for expected in [
        "data-status=\"unsupported\"",
        "data-reason=\"out_of_scope\"",
        "This service covers: Opening hours and services of the clinic.",
    ] {
        assert!(
            declined.contains(expected),
            "missing {expected} in\n{declined}"
        );
    }

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("playground.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &page("When does the clinic open on Saturdays?", ""),
        Some(&shot),
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    // The thumbs-up reached the feedback store.
    let export = candor_ok(
        tmp.path(),
        &[
            "feedback",
            "export",
            "--corpus",
            "clinic",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let cases: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 1, "{export}");
    assert_eq!(
        (cases[0]["rating"].as_str(), cases[0]["expect"].as_str()),
        (Some("up"), Some("answered"))
    );
}

#[test]
fn the_benchmark_suite_reports_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let c = clinic(tmp.path(), "clinic", "");
    let questions: String = (0..20)
        .map(|i| format!("{{\"text\": \"When does the clinic open on day {i}?\"}}\n"))
        .collect();
    write(&tmp.path().join("q.jsonl"), questions);
    let out = candor_ok(
        tmp.path(),
        &[
            "bench",
            "--corpus",
            c.to_str().unwrap(),
            "--data-dir",
            tmp.path().join("data").to_str().unwrap(),
            "--questions",
            tmp.path().join("q.jsonl").to_str().unwrap(),
            "--requests",
            "5",
            "--json",
        ],
    );
    let figures: Value = serde_json::from_str(out.trim()).unwrap();
    for key in [
        "answer_uncached_c1_p50_ms",
        "answer_uncached_c1_p99_ms",
        "answer_cached_c1_p50_ms",
        "answer_uncached_c8_rps",
        "answer_uncached_c32_rps",
        "index_overhead",
        "incremental_ratio",
        "serve_rss_mb",
        "guardrail_p50_us",
        "parser_mb_per_s",
        "embed_cpu_ms_per_question",
        "embed_bound_rps",
        "answer_uncached_c8_share_of_bound",
    ] {
        let v = figures[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {figures}"));
        assert!(v.is_finite(), "{key}: {v}");
    }
    assert_eq!(figures["incremental_files_changed"], 1, "{figures}");
    // The bound is the cores over the measured cost of one question.
    let cost = figures["embed_cpu_ms_per_question"].as_f64().unwrap();
    let bound = figures["embed_bound_rps"].as_f64().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        cost > 0.0 && (bound - cores * 1000.0 / cost).abs() < 1e-6 * bound,
        "{figures}"
    );
    // Too few questions for the runs asked: a clear refusal, before any work.
    let out = candor(
        tmp.path(),
        &[
            "bench",
            "--corpus",
            c.to_str().unwrap(),
            "--questions",
            tmp.path().join("q.jsonl").to_str().unwrap(),
            "--requests",
            "50",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs 151"), "{err}");
}

/// The local language model server of tests/llm-server (node-llama-cpp with
/// SmolLM2-135M-Instruct), on a free loopback port, one thread.
struct LlmServer {
    child: Child,
    /// `http://127.0.0.1:<port>/v1`.
    base_url: String,
    /// The lines it printed after starting (`completed <id>`, `cancelled <id>`).
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn llm_server() -> LlmServer {
    let gguf = workspace().join(".assets/llm/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        gguf.is_file(),
        "{} is missing: run `make test` (`make llm` fetches it)",
        gguf.display()
    );
    let mut child = Command::new("node")
        .arg(workspace().join("tests/llm-server/server.mjs"))
        .arg(&gguf)
        .arg("0")
        .env("LLM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs the local model server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("readable");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    LlmServer {
        child,
        base_url: format!("http://{addr}/v1"),
        lines: rx,
    }
}

/// Rewrites a corpus.toml under `corpora` to compose with the model at `base_url`.
fn compose_with_llm(corpora: &Path, corpus: &str, base_url: &str, extra: &str) {
    let file = corpora.join(corpus).join("corpus.toml");
    let toml = std::fs::read_to_string(&file).unwrap();
    let toml = toml.split("\n[llm]\n").next().unwrap().to_owned();
    let toml = if toml.contains("[answer]\n") {
        toml.replacen("[answer]\n", "[answer]\ncomposer = \"llm\"\n", 1)
    } else {
        format!("{toml}\n[answer]\ncomposer = \"llm\"\n")
    };
    let toml = toml.replace(
        "composer = \"llm\"\ncomposer = \"llm\"\n",
        "composer = \"llm\"\n",
    );
    // `extra` may override these.
    let defaults: String = [("max_tokens", "120"), ("timeout_ms", "120000")]
        .iter()
        .filter(|(k, _)| !extra.contains(&format!("{k} =")))
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect();
    write(
        &file,
        format!("{toml}\n[llm]\nbase_url = \"{base_url}\"\nmodel = \"smollm2\"\n{defaults}{extra}"),
    );
}

/// One server-sent event: its name and data.
fn read_event(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Option<(String, Value)> {
    let (mut name, mut data) = (String::new(), String::new());
    for line in lines {
        let line = line.ok()?;
        if line.is_empty() {
            if !data.is_empty() {
                return Some((
                    name,
                    serde_json::from_str(&data).expect("event data is JSON"),
                ));
            }
            continue;
        }
        if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    None
}

/// Opens a streamed `/v1/answer`: the event lines.
fn answer_stream(base: &str, body: &Value) -> impl Iterator<Item = std::io::Result<String>> {
    let resp = agent()
        .post(&format!("{base}/v1/answer"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .send(body.to_string().as_str())
        .expect("request sent");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    BufReader::new(resp.into_body().into_reader()).lines()
}

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

/// A loopback endpoint that accepts connections and answers each with `reply`
/// (None: reads the request and never answers).
fn fake_endpoint(reply: Option<&'static str>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                // The whole request first: replying early could reset the
                // connection and turn the case into another one.
                let mut got = Vec::new();
                let mut buf = [0u8; 65536];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                match reply {
                    Some(r) => {
                        let _ = conn.write_all(r.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(600)),
                }
            });
        }
    });
    format!("http://{addr}/v1")
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

/// A Qdrant server process for the scale-out tests, killed when dropped.
struct Qdrant {
    child: Child,
}

impl Drop for Qdrant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Qdrant server binary named by `CANDOR_TEST_QDRANT_BIN`, else the test
/// peer beside the project (`../shared/bin/qdrant`), or None after saying that
/// `what` is skipped. CI always has the peer, so there a missing binary fails.
fn qdrant_bin(what: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CANDOR_TEST_QDRANT_BIN") {
        return Some(PathBuf::from(p));
    }
    let peer = workspace().join("../shared/bin/qdrant");
    if peer.is_file() {
        return Some(peer);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} needs a Qdrant binary in CI: set CANDOR_TEST_QDRANT_BIN or provide {}",
        peer.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {what}: no Qdrant binary (CANDOR_TEST_QDRANT_BIN is not set and {} is absent)",
        peer.display()
    );
    None
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts Qdrant on loopback with its storage in `storage` and waits until it
/// is ready.
fn start_qdrant(bin: &Path, storage: &Path, http: u16, grpc: u16) -> Qdrant {
    let q = spawn_qdrant(bin, storage, (http, grpc), &[], &[]);
    qdrant_ready(storage, http);
    q
}

/// Starts Qdrant without waiting; its log goes to `qdrant.log` in `storage`,
/// appended to across restarts.
fn spawn_qdrant(
    bin: &Path,
    storage: &Path,
    (http, grpc): (u16, u16),
    env: &[(&str, String)],
    args: &[String],
) -> Qdrant {
    std::fs::create_dir_all(storage).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(storage.join("qdrant.log"))
        .unwrap();
    let child = Command::new(bin)
        .current_dir(storage)
        .args(args)
        .env("QDRANT__STORAGE__STORAGE_PATH", storage.join("storage"))
        .env("QDRANT__STORAGE__SNAPSHOTS_PATH", storage.join("snapshots"))
        .env("QDRANT__SERVICE__HOST", "127.0.0.1")
        .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
        .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
        .env("QDRANT__TELEMETRY_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("qdrant starts");
    Qdrant { child }
}

/// Waits until the Qdrant on `http` says it is ready.
fn qdrant_ready(storage: &Path, http: u16) {
    let started = std::time::Instant::now();
    while agent()
        .get(&format!("http://127.0.0.1:{http}/readyz"))
        .call()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "qdrant never became ready: {}",
            std::fs::read_to_string(storage.join("qdrant.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` every 200 ms until it holds; false after `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A server starting on a fixed port with the deployment file `config`, its
/// log in `log`, not waited for: it may not become ready yet.
struct Starting {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Starting {
    fn spawn(root: &Path, config: &str, corpora: &Path, data: &Path, log: PathBuf) -> Starting {
        let port = free_port();
        let child = Command::new(candor_bin())
            .args(["--deployment", config, "serve", "--corpora"])
            .arg(corpora)
            .arg("--data-dir")
            .arg(data)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .current_dir(root)
            .env_clear()
            .env("CANDOR_ASSETS_DIR", workspace().join(".assets"))
            .env("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn,candor=info,qdrant_edge=error")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("server starts");
        Starting {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// `/readyz`: its status, and what it says loading waits for.
    fn readyz(&self) -> (u16, String) {
        let (status, body) = get(&self.base, "/readyz");
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        (status, v["waiting"].as_str().unwrap_or_default().to_owned())
    }

    /// Whether the log came to hold all of `needles` within 30 s.
    fn logs(&self, needles: &[&str]) -> bool {
        eventually(Duration::from_secs(30), || {
            std::fs::read_to_string(&self.log).is_ok_and(|l| needles.iter().all(|n| l.contains(n)))
        })
    }

    /// Waits until it says it is ready.
    fn ready(mut self) -> Server {
        let stdout = self.child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("a line").expect("readable");
        assert!(first.starts_with("ready on "), "{first}");
        std::thread::spawn(move || for _ in lines {});
        assert_eq!(self.readyz(), (200, String::new()));
        Server {
            child: self.child,
            base: self.base,
        }
    }
}

/// The generation `/v1/corpora` reports for the only corpus.
fn served_generation(base: &str) -> u64 {
    let (status, body) = get(base, "/v1/corpora");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v[0]["generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("no generation in {v}"))
}

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
        "Alarm relay\n\nThe alarm relay closes when hail is forecast by the weather service.\n",
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

/// One node of a Qdrant cluster on loopback: its ports, its storage, and its
/// process while it runs.
struct Node {
    http: u16,
    grpc: u16,
    p2p: u16,
    storage: PathBuf,
    process: Option<Qdrant>,
}

/// Three Qdrant nodes in distributed mode on loopback; the first bootstraps
/// the others.
struct Cluster {
    bin: PathBuf,
    nodes: Vec<Node>,
}

impl Cluster {
    fn start(bin: &Path, root: &Path) -> Cluster {
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            nodes: (0..3)
                .map(|i| Node {
                    http: free_port(),
                    grpc: free_port(),
                    p2p: free_port(),
                    storage: root.join(format!("node{i}")),
                    process: None,
                })
                .collect(),
        };
        for i in 0..3 {
            cluster.up(i);
        }
        assert!(
            eventually(Duration::from_secs(60), || cluster.peers() == 3),
            "the three nodes never formed one cluster"
        );
        cluster
    }

    /// Starts node `i` and waits until it is ready.
    fn up(&mut self, i: usize) {
        self.spawn(i);
        let n = &self.nodes[i];
        qdrant_ready(&n.storage, n.http);
    }

    /// Starts every node that is down, then waits for them: a restarted node
    /// finds the cluster in its storage, and is ready only once it hears from
    /// another.
    fn up_all(&mut self) {
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].process.is_none())
            .collect();
        for &i in &down {
            self.spawn(i);
        }
        for &i in &down {
            let n = &self.nodes[i];
            qdrant_ready(&n.storage, n.http);
        }
    }

    fn spawn(&mut self, i: usize) {
        let first = self.nodes[0].p2p;
        let n = &self.nodes[i];
        let mut args = vec!["--uri".to_owned(), format!("http://127.0.0.1:{}", n.p2p)];
        if i > 0 {
            args.extend([
                "--bootstrap".to_owned(),
                format!("http://127.0.0.1:{first}"),
            ]);
        }
        let env = [
            ("QDRANT__CLUSTER__ENABLED", "true".to_owned()),
            ("QDRANT__CLUSTER__P2P__PORT", n.p2p.to_string()),
        ];
        let q = spawn_qdrant(&self.bin, &n.storage, (n.http, n.grpc), &env, &args);
        self.nodes[i].process = Some(q);
    }

    /// SIGKILL to node `i`.
    fn kill(&mut self, i: usize) {
        drop(self.nodes[i].process.take());
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.nodes[i].process.as_ref().unwrap().child.id();
        let ok = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {signal} {pid}");
    }

    /// The peers the first running node knows.
    fn peers(&self) -> usize {
        self.running()
            .next()
            .and_then(|n| {
                let (status, body) = get(&format!("http://127.0.0.1:{}", n.http), "/cluster");
                let v: Value = serde_json::from_str(&body).ok()?;
                (status == 200).then(|| v["result"]["peers"].as_object().map_or(0, |p| p.len()))
            })
            .unwrap_or(0)
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.process.is_some())
    }

    /// Whether every replica of `collection` is active, as each node sees it.
    fn all_active(&self, collection: &str) -> bool {
        self.running().all(|n| {
            let (status, body) = get(
                &format!("http://127.0.0.1:{}", n.http),
                &format!("/collections/{collection}/cluster"),
            );
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let shards = |k: &str| v["result"][k].as_array().cloned().unwrap_or_default();
            let all = [shards("local_shards"), shards("remote_shards")].concat();
            status == 200 && !all.is_empty() && all.iter().all(|s| s["state"] == "Active")
        })
    }

    /// The collection's settings and its exact point count, from a running node.
    fn collection(&self, name: &str) -> (Value, u64) {
        let n = self.running().next().expect("a running node");
        let base = format!("http://127.0.0.1:{}", n.http);
        let (status, body) = get(&base, &format!("/collections/{name}"));
        assert_eq!(status, 200, "{body}");
        let info: Value = serde_json::from_str(&body).unwrap();
        let (status, count) = post(
            &base,
            &format!("/collections/{name}/points/count"),
            r#"{"exact":true}"#,
        );
        assert_eq!(status, 200, "{count}");
        (
            info["result"]["config"]["params"].clone(),
            count["result"]["count"].as_u64().unwrap(),
        )
    }
}

/// What a steady answer load met while something happened to the cluster.
#[derive(Debug, Default)]
struct Outcomes {
    sent: usize,
    answered: usize,
    unavailable: usize,
    other: Vec<String>,
    slowest_unavailable: Duration,
    /// Per client, the generation of each answer in order.
    generations: Vec<Vec<u64>>,
}

/// Numbers the questions of [`under_load`] across calls, so none repeats.
static ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A question no one asked before in this process: it misses the answer cache,
/// so answering it searches the vector store.
fn fresh_question() -> String {
    let n = ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"question": format!("Which room offers service {}, ask {n}?", n % 40), "corpus": "clinic"}).to_string()
}

/// Runs `during` while four clients ask `base` fresh questions, and counts
/// what they got.
fn under_load(base: &str, during: impl FnOnce()) -> Outcomes {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (base, stop) = (base.to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut out = Outcomes::default();
                let mut generations = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = std::time::Instant::now();
                    let (status, b) = post(&base, "/v1/answer", &fresh_question());
                    out.sent += 1;
                    match (status, b["error"]["code"].as_str()) {
                        (200, _) => {
                            out.answered += 1;
                            generations.push(b["generation"].as_u64().unwrap());
                        }
                        (503, Some("vector_store_unavailable")) => {
                            out.unavailable += 1;
                            out.slowest_unavailable =
                                out.slowest_unavailable.max(started.elapsed());
                        }
                        _ => out.other.push(format!("{status} {b}")),
                    }
                }
                out.generations.push(generations);
                out
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    during();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    clients
        .into_iter()
        .map(|c| c.join().expect("a client ran"))
        .fold(Outcomes::default(), |mut all, o| {
            all.sent += o.sent;
            all.answered += o.answered;
            all.unavailable += o.unavailable;
            all.other.extend(o.other);
            all.slowest_unavailable = all.slowest_unavailable.max(o.slowest_unavailable);
            all.generations.extend(o.generations);
            all
        })
}

#[test]
fn a_three_node_cluster_serves_through_node_faults_restarts_and_reindexes() {
    let Some(bin) = qdrant_bin("the Qdrant cluster test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut cluster = Cluster::start(&bin, root);
    let c = clinic(root, "clinic", "");
    // Enough documents that a reindex takes a few seconds under load.
    for i in 0..400 {
        write(
            &c.join(format!("docs/service-{i}.md")),
            format!("---\ntitle: Service {i}\n---\nService number {i} of the clinic is offered on weekdays in room {i}; bring your card and arrive ten minutes early.\n"),
        );
    }
    let timeout_ms = 3000;
    let urls: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("\"http://127.0.0.1:{}\"", n.grpc))
        .collect();
    let config = root.join("candor.toml");
    write(
        &config,
        format!(
            "[vector_store]\nkind = \"qdrant\"\nurls = [{}]\nshards = 2\nreplication_factor = 2\n\
             write_consistency = 1\nread_fan_out = 1\nread_fan_out_delay_ms = 100\n\
             timeout_ms = {timeout_ms}\nfollow_seconds = 1\n",
            urls.join(", ")
        ),
    );
    let config_arg = config.to_str().unwrap();
    let data = root.join("data");
    candor_ok(
        root,
        &[
            &["--deployment", config_arg][..],
            &index_argv(&c, &data, &[]),
        ]
        .concat(),
    );
    let (params, points) = cluster.collection("candor_clinic_000001");
    assert_eq!(
        (
            &params["shard_number"],
            &params["replication_factor"],
            &params["read_fan_out_factor"]
        ),
        (&json!(2), &json!(2), &json!(1)),
        "{params}"
    );
    let server = Starting::spawn(
        root,
        config_arg,
        &root.join("corpora"),
        &data,
        root.join("candor.log"),
    )
    .ready();
    let chunks = || {
        sample(
            &scrape(&server.base),
            "candor_corpus_chunks",
            &[("corpus", "clinic")],
        )
        .unwrap() as u64
    };
    assert_eq!(points, chunks());

    let mut table = Vec::new();
    let mut report = |fault: &str, o: &Outcomes| {
        table.push(format!(
            "| {fault} | {} | {} | {} | {} |",
            o.sent,
            o.answered,
            o.unavailable,
            o.other.len()
        ));
    };
    let settle = |cluster: &Cluster, generation: u64| {
        assert!(
            eventually(Duration::from_secs(60), || cluster
                .all_active(&format!("candor_clinic_{generation:06}"))),
            "the replicas never became active again"
        );
    };

    // One node killed while requests are in flight, then restarted: the node
    // the server talks to first, so calls in flight on it break.
    let o = under_load(&server.base, || {
        cluster.kill(0);
        std::thread::sleep(Duration::from_secs(3));
        cluster.up(0);
        settle(&cluster, 1);
    });
    report(
        "one node of three killed (SIGKILL) mid-traffic, restarted",
        &o,
    );
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}"
    );

    // One node cut off: stopped for 10 s, so its connections hang.
    let o = under_load(&server.base, || {
        cluster.signal(1, "-STOP");
        std::thread::sleep(Duration::from_secs(10));
        cluster.signal(1, "-CONT");
        settle(&cluster, 1);
    });
    report("one node of three stopped (SIGSTOP) for 10 s", &o);
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}"
    );

    // The whole cluster cut off (every node stopped): every request is 503
    // within the timeout, and serving resumes by itself once they run again.
    let o = under_load(&server.base, || {
        for i in 0..3 {
            cluster.signal(i, "-STOP");
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    for i in 0..3 {
        cluster.signal(i, "-CONT");
    }
    report("all three nodes stopped (SIGSTOP) for 5 s", &o);
    assert!(o.sent > 0 && o.unavailable + o.answered == o.sent, "{o:?}");
    assert!(o.unavailable > 0, "{o:?}");
    let slowest_stopped = o.slowest_unavailable;
    assert!(
        slowest_stopped < Duration::from_millis(timeout_ms + 2000),
        "{o:?}"
    );
    settle(&cluster, 1);

    // The whole cluster killed: 503 at once; restarted on the same storage,
    // answers come back without restarting Candor.
    for i in 0..3 {
        cluster.kill(i);
    }
    let o = under_load(&server.base, || std::thread::sleep(Duration::from_secs(2)));
    report("all three nodes killed (SIGKILL)", &o);
    assert!(o.sent > 0 && o.unavailable == o.sent, "{o:?}");
    let restarted = std::time::Instant::now();
    cluster.up_all();
    assert!(
        eventually(Duration::from_secs(60), || post(
            &server.base,
            "/v1/answer",
            &fresh_question()
        )
        .0 == 200),
        "serving never resumed"
    );
    let recovered = restarted.elapsed();
    settle(&cluster, 1);
    let o = under_load(&server.base, || std::thread::sleep(Duration::from_secs(2)));
    report(
        "after all three restarted (same storage), Candor not restarted",
        &o,
    );
    assert!(o.answered > 0 && o.answered == o.sent, "{o:?}");

    // A full reindex under load: no failure, and each client's answers move
    // from one generation to the next once.
    let o = under_load(&server.base, || {
        let job = wait_for_job(
            &server.base,
            &start_full_reindex(&server.base, "clinic")["job_id"],
        );
        assert_eq!(job["phase"], "done", "{job}");
    });
    report("full reindex", &o);
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}"
    );
    for g in &o.generations {
        assert!(g.windows(2).all(|w| w[0] <= w[1]), "{g:?}");
        assert!(g.iter().all(|g| [1, 2].contains(g)), "{g:?}");
    }
    assert_eq!(served_generation(&server.base), 2);
    settle(&cluster, 2);

    // A node killed mid-reindex: the job completes or fails cleanly, and the
    // alias names a whole generation.
    let mut killed_in = Value::Null;
    let mut outcome = String::new();
    let o = under_load(&server.base, || {
        let id = start_full_reindex(&server.base, "clinic")["job_id"].clone();
        assert!(eventually(Duration::from_secs(60), || {
            let (_, job) = admin(
                "GET",
                &server.base,
                &format!("/admin/jobs/{id}"),
                Some(ADMIN_TOKEN),
                None,
            );
            killed_in = job["phase"].clone();
            killed_in != "discovering" && killed_in != "parsing"
        }));
        cluster.kill(2);
        let job = wait_for_job(&server.base, &id);
        assert!(job["phase"] == "done" || job["phase"] == "failed", "{job}");
        outcome = match job["error"].as_str() {
            Some(e) => format!("failed: {e}"),
            None => job["phase"].as_str().unwrap_or_default().to_owned(),
        };
    });
    report(
        &format!("one node killed mid-reindex ({killed_in}; the job: {outcome})"),
        &o,
    );
    assert!(
        killed_in == "embedding" || killed_in == "indexing",
        "the node was killed when the job was {killed_in}"
    );
    assert!(
        o.answered > 0 && o.unavailable == 0 && o.other.is_empty(),
        "{o:?}"
    );
    let served = served_generation(&server.base);
    assert!([2, 3].contains(&served), "{served}");
    let (_, points) = cluster.collection(&format!("candor_clinic_{served:06}"));
    assert_eq!(points, chunks(), "generation {served} is whole");

    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "cluster faults (3 nodes, 2 shards, replication 2, timeout {timeout_ms} ms; slowest 503 with all stopped {} ms; answering again {:.1} s after all were restarted):\n| fault | sent | answered | 503 vector_store_unavailable | other |\n|---|---|---|---|---|\n{}",
        slowest_stopped.as_millis(),
        recovered.as_secs_f64(),
        table.join("\n")
    );
}
