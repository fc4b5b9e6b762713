//! A three-node Qdrant cluster on loopback, and a steady answer load to run
//! while its nodes are killed, stopped and restarted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{get, post};
use crate::qdrant::{qdrant_ready, spawn_qdrant, Qdrant};
use crate::server::{eventually, free_port};

/// One node of a Qdrant cluster on loopback: its ports, its storage, and its
/// process while it runs.
pub struct Node {
    http: u16,
    pub grpc: u16,
    p2p: u16,
    storage: PathBuf,
    process: Option<Qdrant>,
}

/// Three Qdrant nodes in distributed mode on loopback; the first bootstraps
/// the others.
pub struct Cluster {
    bin: PathBuf,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts the three nodes and waits until they form one cluster.
    pub fn start(bin: &Path, root: &Path) -> Cluster {
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
    pub fn up(&mut self, i: usize) {
        self.spawn(i);
        let n = &self.nodes[i];
        qdrant_ready(&n.storage, n.http);
    }

    /// Starts every node that is down, then waits for them: a restarted node
    /// finds the cluster in its storage, and is ready only once it hears from
    /// another.
    pub fn up_all(&mut self) {
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

    /// Starts node `i` without waiting: the first founds the cluster, the
    /// others join it through the first.
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
    pub fn kill(&mut self, i: usize) {
        drop(self.nodes[i].process.take());
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to node `i`.
    pub fn signal(&self, i: usize, signal: &str) {
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

    /// The nodes whose process runs.
    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.process.is_some())
    }

    /// Whether every replica of `collection` is active, as each node sees it.
    pub fn all_active(&self, collection: &str) -> bool {
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
    pub fn collection(&self, name: &str) -> (Value, u64) {
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
pub struct Outcomes {
    pub sent: usize,
    pub answered: usize,
    pub unavailable: usize,
    pub other: Vec<String>,
    pub slowest_unavailable: Duration,
    /// Per client, the generation of each answer in order.
    pub generations: Vec<Vec<u64>>,
}

/// Numbers the questions of [`under_load`] across calls, so none repeats. One
/// count per process is enough: the answer cache it dodges belongs to the one
/// server of the one test (in its own binary) that asks.
static ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A question no one asked before in this process: it misses the answer cache,
/// so answering it searches the vector store.
pub fn fresh_question() -> String {
    let n = ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"question": format!("Which room offers service {}, ask {n}?", n % 40), "corpus": "clinic"}).to_string()
}

/// Runs `during` while four clients ask `base` fresh questions, and counts
/// what they got.
pub fn under_load(base: &str, during: impl FnOnce()) -> Outcomes {
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
