//! `candor bench answer`: /v1/answer served in-process, timed uncached and
//! cached at concurrency 1 and 8.

use std::path::Path;

use anyhow::Context;
use candor::answer::{Answerer, Calibrations};
use candor::eval::answer as eval_answer;
use candor::retrieve::corpora::discover_corpora;
use serde_json::json;

use super::texts;
use crate::cli::load::{self, EmbedBound, LoadReport};
use crate::cli::{load_answerer, Deployed};

/// The timed runs: cache state, concurrency, and what the run measured.
type Runs = [(&'static str, usize, LoadReport); 4];

pub fn bench_answer_cmd(
    corpora_dir: &Path,
    data_dir: &Path,
    deployed: &Deployed,
    corpus: &str,
    questions: &Path,
    requests: usize,
    json: bool,
) -> anyhow::Result<()> {
    let qs = distinct_questions(questions, requests)?;
    let answerer = load_answerer(
        discover_corpora(corpora_dir)?,
        data_dir,
        &deployed.vectors()?,
        Calibrations::Load,
    )?;
    answerer.corpora().pick(Some(corpus))?;
    let embedder = answerer.corpora().embedder().clone();
    let runs = serve_and_post(answerer, corpus, &qs, requests)?;
    let bound = load::embed_bound(&embedder, &qs[..requests])?;
    if json {
        print_json(&runs, &bound);
    } else {
        print_table(corpus, requests, &runs, &bound);
    }
    Ok(())
}

/// The distinct questions of `path`, sorted; at least `2 × requests + 1` of them.
fn distinct_questions(path: &Path, requests: usize) -> anyhow::Result<Vec<String>> {
    let mut qs = texts(eval_answer::read_questions(path)?);
    qs.sort();
    qs.dedup();
    // Each uncached run needs questions no earlier request embedded or answered.
    if qs.len() < 2 * requests + 1 {
        anyhow::bail!(
            "{} holds {} distinct questions; --requests {requests} needs {}",
            path.display(),
            qs.len(),
            2 * requests + 1
        );
    }
    Ok(qs)
}

/// Serves `answerer` on a local port and posts the questions: a warm-up, two
/// uncached runs (concurrency 1 and 8) on distinct questions, then both again
/// from the cache.
fn serve_and_post(
    answerer: std::sync::Arc<Answerer>,
    corpus: &str,
    qs: &[String],
    requests: usize,
) -> anyhow::Result<Runs> {
    let body = |q: &String| json!({"question": q, "corpus": corpus}).to_string();
    let warmup = vec![body(&qs[2 * requests])];
    let (c1, c8) = (
        qs[..requests].iter().map(body).collect::<Vec<_>>(),
        qs[requests..2 * requests]
            .iter()
            .map(body)
            .collect::<Vec<_>>(),
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .context("cannot bind a local port")?;
    let url = format!("http://{}/v1/answer", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = candor::api::AppState {
        answerer,
        admin: None,
        feedback: None,
        cors_origins: Vec::new(),
        keys: None,
    };
    let startup = candor::api::Startup::default();
    startup.ready(state);
    let server = runtime.spawn(candor::api::serve(
        startup,
        listener,
        candor::api::Edge::default(),
        async {
            let _ = stopped.await;
        },
    ));

    load::post_all(&url, &warmup, 1)?;
    let runs = [
        ("uncached", 1, load::post_all(&url, &c1, 1)?),
        ("uncached", 8, load::post_all(&url, &c8, 8)?),
        ("cached", 1, load::post_all(&url, &c1, 1)?),
        (
            "cached",
            8,
            load::post_all(&url, &[c1.clone(), c8.clone()].concat(), 8)?,
        ),
    ];
    let _ = stop.send(());
    runtime.block_on(server)?.context("server failed")?;
    Ok(runs)
}

/// One JSON object with flat keys.
fn print_json(runs: &Runs, bound: &EmbedBound) {
    let mut out = serde_json::Map::new();
    for (cache, c, r) in runs {
        let p = format!("answer_{cache}_c{c}");
        r.insert_into(&mut out, &p);
        out.insert(format!("{p}_failures"), json!(r.failures));
    }
    bound.insert_into(&mut out, Some(runs[1].2.throughput_rps));
    outln!("{}", serde_json::Value::Object(out));
}

/// A table of the runs, then the embedding bound.
fn print_table(corpus: &str, requests: usize, runs: &Runs, bound: &EmbedBound) {
    outln!("/v1/answer on `{corpus}`, {requests} requests per uncached run");
    outln!(
        "{:<9} {:>4} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "cache",
        "conc",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s",
        "failed"
    );
    for (cache, c, r) in runs {
        outln!(
            "{cache:<9} {c:>4} {:>9.2} {:>9.2} {:>9.2} {:>9.1} {:>8}",
            r.latency_ms.p50,
            r.latency_ms.p95,
            r.latency_ms.p99,
            r.throughput_rps,
            r.failures
        );
    }
    outln!(
        "embedding one question costs {:.2} ms of CPU, so {} cores bound uncached answers at {:.0}/s (embed_bound_rps); 8 uncached clients reached {:.0}% of it",
        bound.cpu_ms_per_question,
        bound.cores,
        bound.rps,
        100.0 * runs[1].2.throughput_rps / bound.rps
    );
}
