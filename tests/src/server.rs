//! `candor serve` processes. [`serve`] and its variants start one on a free
//! loopback port and wait for its `ready on` line; [`Starting`] starts one on a
//! fixed port and lets the test watch it come up (or not). Each is killed when
//! dropped, so a failing test leaves no server behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::cli::candor_bin;
use crate::files::workspace;
use crate::http::get;

/// A serving `candor` process and its base URL (`http://127.0.0.1:<port>`).
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `candor serve` of the corpora under `corpora` with `data`, once ready.
pub fn serve(dir: &Path, corpora: &Path, data: &Path) -> Server {
    serve_with(dir, corpora, data, &[])
}

/// `serve` with more environment variables.
pub fn serve_with(dir: &Path, corpora: &Path, data: &Path, env: &[(&str, &str)]) -> Server {
    serve_full(dir, corpora, data, env, &[])
}

/// Token of the admin routes in tests that use them.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// `serve` with more environment variables and arguments.
pub fn serve_full(
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

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls `check` every 200 ms until it holds; false after `limit`.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
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
pub struct Starting {
    child: Child,
    base: String,
    pub log: PathBuf,
}

impl Starting {
    /// Starts `candor --deployment <config> serve` on a free port, its stderr
    /// going to `log`.
    pub fn spawn(root: &Path, config: &str, corpora: &Path, data: &Path, log: PathBuf) -> Starting {
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
    pub fn readyz(&self) -> (u16, String) {
        let (status, body) = get(&self.base, "/readyz");
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        (status, v["waiting"].as_str().unwrap_or_default().to_owned())
    }

    /// Whether the log came to hold all of `needles` within 30 s.
    pub fn logs(&self, needles: &[&str]) -> bool {
        eventually(Duration::from_secs(30), || {
            std::fs::read_to_string(&self.log).is_ok_and(|l| needles.iter().all(|n| l.contains(n)))
        })
    }

    /// Waits until it says it is ready.
    pub fn ready(mut self) -> Server {
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
