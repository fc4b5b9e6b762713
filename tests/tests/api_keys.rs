//! API keys: each admits its own corpora at its own rate, a bad keys file is
//! refused by name, and a reload revokes at once.

use std::process::{Command, Stdio};

use candor_e2e::cli::{candor, index_corpus};
use candor_e2e::corpus::clinic;
use candor_e2e::files::write;
use candor_e2e::http::{admin, agent, get};
use candor_e2e::server::{serve_full, ADMIN_TOKEN};
use serde_json::{json, Value};

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
