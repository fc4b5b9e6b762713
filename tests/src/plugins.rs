//! The hostile test plugins of `tests/plugins/` and what their failures must
//! say, shared by the command-line plugin tests, the guardrail tests and the
//! live-server plugin test.

use std::path::{Path, PathBuf};

use crate::cli::candor;
use crate::files::workspace;

/// A test plugin built by `make plugins` (from `tests/plugins/`).
pub fn test_plugin(name: &str) -> PathBuf {
    let p = workspace().join(format!("target/plugins/wasm32-wasip2/release/{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run `make plugins` (make test does)",
        p.display()
    );
    p
}

/// The misdeeds every hostile plugin can commit, with what the error must say.
pub const MISDEEDS: [(&str, &str); 8] = [
    ("loop", "did not finish within its"),
    ("sleep", "was blocked in a host call past its"),
    ("alloc", "ran out of memory"),
    ("flood", "more than its cap"),
    ("panic", "panics on purpose"),
    ("passwd", "reading /etc/passwd"),
    ("env", "reading $HOME"),
    ("socket", "opening a socket"),
];

/// A hostile plugin's failure report names the plugin and the cause, leaks
/// nothing, and came within the call's deadline plus 1 s.
pub fn assert_contained(
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
pub fn plugin_run(dir: &Path, args: &[&str]) -> (bool, String, String, f64) {
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
