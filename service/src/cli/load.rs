//! `candor bench`'s HTTP load generator: sends JSON requests to a running
//! server from several threads and measures per-request latency and overall
//! throughput. It lives in the binary: the engine has no use for it.
//!
//! It measures a real server over real sockets, so the figures include HTTP
//! parsing, JSON and the async runtime, as a client would see them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};

use candor::eval::metrics::{percentiles, Percentiles};
use candor::Error;

/// What one load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: usize,
    /// Client threads.
    pub concurrency: usize,
    /// Per-request latency, in milliseconds.
    pub latency_ms: Percentiles,
    /// Completed requests per second over the whole run.
    pub throughput_rps: f64,
    /// Responses that were not 200.
    pub failures: usize,
}

/// What the embedding model costs per question, and the bound on uncached
/// answers that follows: no server answers more uncached questions a second
/// than its cores can embed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EmbedBound {
    /// Mean CPU milliseconds, over all of the process's threads, to embed one
    /// question on its own.
    pub cpu_ms_per_question: f64,
    /// Cores available to the process.
    pub cores: usize,
    /// `cores × 1000 / cpu_ms_per_question`.
    pub rps: f64,
}

impl LoadReport {
    /// Adds the run's latency percentiles and throughput to `out`, as
    /// `{prefix}_p50_ms`, `_p95_ms`, `_p99_ms` and `_rps`.
    pub fn insert_into(&self, out: &mut Map<String, Value>, prefix: &str) {
        out.insert(format!("{prefix}_p50_ms"), json!(self.latency_ms.p50));
        out.insert(format!("{prefix}_p95_ms"), json!(self.latency_ms.p95));
        out.insert(format!("{prefix}_p99_ms"), json!(self.latency_ms.p99));
        out.insert(format!("{prefix}_rps"), json!(self.throughput_rps));
    }
}

impl EmbedBound {
    /// Adds the bound to `out` and, given the uncached throughput at
    /// concurrency 8, the share of the bound it reached.
    pub fn insert_into(&self, out: &mut Map<String, Value>, c8_rps: Option<f64>) {
        out.insert(
            "embed_cpu_ms_per_question".into(),
            json!(self.cpu_ms_per_question),
        );
        out.insert("embed_bound_rps".into(), json!(self.rps));
        if let Some(c8) = c8_rps {
            out.insert(
                "answer_uncached_c8_share_of_bound".into(),
                json!(c8 / self.rps),
            );
        }
    }
}

/// Embeds each of `questions` on its own (no cache) and measures the CPU time
/// it took.
///
/// # Errors
///
/// [`Error::InvalidRequest`] for no questions; model errors; [`Error::Io`]
/// when the process's CPU time cannot be read from `/proc`.
pub fn embed_bound(
    embedder: &candor::embed::Embedder,
    questions: &[String],
) -> candor::Result<EmbedBound> {
    if questions.is_empty() {
        return Err(Error::InvalidRequest(
            "no questions to measure the embedding cost with".into(),
        ));
    }
    let before = process_cpu_seconds()?;
    for q in questions {
        embedder.embed(&[q.as_str()])?;
    }
    let spent = process_cpu_seconds()? - before;
    let cpu_ms_per_question = (spent * 1000.0 / questions.len() as f64).max(1e-6);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Ok(EmbedBound {
        cpu_ms_per_question,
        cores,
        rps: cores as f64 * 1000.0 / cpu_ms_per_question,
    })
}

/// CPU seconds the live threads of this process have run, from each one's
/// `/proc/self/task/<tid>/schedstat` (nanoseconds on a CPU, first field).
fn process_cpu_seconds() -> candor::Result<f64> {
    let tasks = std::path::Path::new("/proc/self/task");
    let mut ns: u128 = 0;
    for entry in std::fs::read_dir(tasks).map_err(Error::io(tasks))? {
        let path = entry.map_err(Error::io(tasks))?.path().join("schedstat");
        // A thread that ended since the listing has nothing left to count.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u128>().ok())
            .unwrap_or(0);
    }
    Ok(ns as f64 / 1e9)
}

/// POSTs every body in `bodies` to `url` once, from `concurrency` threads.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when `bodies` is empty or `concurrency` is 0;
/// [`Error::Internal`] when a request cannot be sent at all (server gone).
pub fn post_all(url: &str, bodies: &[String], concurrency: usize) -> candor::Result<LoadReport> {
    if bodies.is_empty() || concurrency == 0 {
        return Err(Error::InvalidRequest(
            "a load run needs at least one request and one thread".into(),
        ));
    }
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(bodies.len()));
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                s.spawn(|| -> candor::Result<()> {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else { break };
                        let t = Instant::now();
                        let mut resp = agent
                            .post(url)
                            .header("content-type", "application/json")
                            .send(body.as_str())
                            .map_err(|e| Error::Internal(format!("POST {url}: {e}")))?;
                        // The latency includes reading the whole body, as a client would.
                        let _ = resp.body_mut().read_to_string();
                        mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        if resp.status().as_u16() != 200 {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    latencies
                        .lock()
                        .map_err(|_| Error::Internal("latency list poisoned".into()))?
                        .extend(mine);
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a load thread panicked".into())))
            })
            .collect::<candor::Result<Vec<()>>>()
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies
        .into_inner()
        .map_err(|_| Error::Internal("latency list poisoned".into()))?;
    Ok(LoadReport {
        requests: latencies.len(),
        concurrency,
        latency_ms: percentiles(&mut latencies),
        throughput_rps: latencies.len() as f64 / elapsed.max(1e-9),
        failures: failures.load(Ordering::Relaxed),
    })
}
