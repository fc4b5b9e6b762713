//! The `candor` command line: the debug binary this build made, one-shot
//! commands run in a test's folder, and indexing a corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::files::{list, workspace};

/// The debug `candor` binary next to this test's own target folder.
pub fn candor_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/<test file>-<hash> -> target/debug/candor
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

/// Runs `candor args` in `dir` with the workspace's assets and nothing else of
/// the caller's environment, so a developer's settings cannot change a result.
pub fn candor(dir: &Path, args: &[&str]) -> Output {
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
pub fn index_corpus(dir: &Path, corpus: &Path, data: &Path) -> String {
    candor_ok(dir, &index_argv(corpus, data, &[]))
}

/// `candor index --corpus <corpus> --data-dir <data>` and `extra` arguments.
pub fn index_argv<'a>(corpus: &'a Path, data: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
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
pub fn index_report(dir: &Path, corpus: &Path, data: &Path) -> Value {
    let out = candor_ok(dir, &index_argv(corpus, data, &["--json"]));
    serde_json::from_str(out.trim()).unwrap()
}

/// Runs candor and expects success, printing everything on failure.
pub fn candor_ok(dir: &Path, args: &[&str]) -> String {
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
