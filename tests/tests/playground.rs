//! The playground page in headless Chromium: it asks, shows citations and
//! reasons, and sends feedback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use candor_e2e::cli::{candor_ok, index_corpus};
use candor_e2e::corpus::clinic;
use candor_e2e::server::serve;
use serde_json::Value;

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
