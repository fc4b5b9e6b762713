//! Qdrant server processes for the scale-out tests: the binary (or a skip,
//! outside CI, when there is none), started on loopback with its storage in the
//! test's folder, and killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::files::workspace;
use crate::http::agent;

/// A Qdrant server process for the scale-out tests, killed when dropped.
pub struct Qdrant {
    pub(crate) child: Child,
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
pub fn qdrant_bin(what: &str) -> Option<PathBuf> {
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

/// Starts Qdrant on loopback with its storage in `storage` and waits until it
/// is ready.
pub fn start_qdrant(bin: &Path, storage: &Path, http: u16, grpc: u16) -> Qdrant {
    let q = spawn_qdrant(bin, storage, (http, grpc), &[], &[]);
    qdrant_ready(storage, http);
    q
}

/// Starts Qdrant without waiting; its log goes to `qdrant.log` in `storage`,
/// appended to across restarts.
pub(crate) fn spawn_qdrant(
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
pub(crate) fn qdrant_ready(storage: &Path, http: u16) {
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
