//! Command-line commands: argument definitions and the terminal side of each
//! command (progress bars, tables, JSON output). The work itself is the library's.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use candor::config::{Assets, Corpus, Fusion};
use candor::embed::Embedder;
use candor::eval::beir;
use candor::index::{self, BuildReport, Progress, ProgressEvent};
use candor::retrieve::corpora::{discover_corpora, Corpora, Query, SearchResult};
use candor::retrieve::Mode;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// Candor: answers questions only from its corpora, with citations.
#[derive(Parser)]
#[command(name = "candor", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index (or reindex) a corpus folder into a new generation.
    Index {
        /// The corpus folder (holding corpus.toml).
        #[arg(long)]
        corpus: PathBuf,
        /// Where generations are stored.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// `incremental` re-embeds only changed files; `full` redoes everything.
        #[arg(long, default_value = "incremental")]
        mode: index::Mode,
        /// Print the build report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search a corpus and print ranked evidence.
    Search {
        /// The corpus name (or its folder).
        #[arg(long)]
        corpus: String,
        /// The query.
        query: String,
        /// bm25, dense or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// Results to show.
        #[arg(long, default_value_t = 10)]
        top_k: usize,
        /// Folder holding the corpus folders.
        #[arg(long, default_value = "corpora")]
        corpora: PathBuf,
        /// Where generations are stored.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve every corpus under a folder over HTTP.
    Serve {
        /// Folder holding the corpus folders.
        #[arg(long, default_value = "corpora")]
        corpora: PathBuf,
        /// Where generations are stored.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
    },
    /// Measure retrieval quality.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// Turn a dataset into a corpus folder.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Write a BEIR dataset as a corpus folder (docs/ and eval/ judged queries).
    Beir {
        /// The BEIR folder (corpus.jsonl, queries.jsonl, qrels/).
        #[arg(long)]
        data: PathBuf,
        /// The corpus name.
        #[arg(long)]
        name: String,
        /// The corpus folder to create; must not exist or be empty.
        #[arg(long)]
        out: PathBuf,
        /// The scope statement. Default: names the dataset and says nothing else is covered.
        #[arg(long)]
        scope: Option<String>,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Run a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).
    Beir {
        /// The BEIR folder.
        #[arg(long)]
        data: PathBuf,
        /// The qrels split to score.
        #[arg(long, default_value = "test")]
        split: String,
        /// bm25, dense or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// Where the cached index is stored.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Evaluate only the first N judged queries.
        #[arg(long)]
        limit_queries: Option<usize>,
        /// Chunks to embed with raw fastembed for the throughput comparison (0: skip).
        #[arg(long, default_value_t = 512)]
        raw_sample: usize,
        /// Override fusion: rrf or blend.
        #[arg(long)]
        fusion: Option<Fusion>,
        /// Override the dense weight in fusion.
        #[arg(long)]
        dense_weight: Option<f64>,
        /// Override RRF's k.
        #[arg(long)]
        rrf_k: Option<f64>,
        /// Override the BM25 title boost.
        #[arg(long)]
        title_boost: Option<f32>,
        /// Override the candidates taken from each retriever.
        #[arg(long)]
        candidates: Option<usize>,
        /// Override the chunk size in word-pieces.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Override the chunk overlap in word-pieces.
        #[arg(long)]
        overlap_tokens: Option<usize>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Logs to stderr; `RUST_LOG` overrides the level.
pub fn init_logging() {
    // Libraries log their internals at info (tantivy's commits, qdrant-edge's WAL and
    // its warnings about start-up checks that only its own server runs); by default
    // only Candor's own info lines and the libraries' warnings show.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,candor=info,qdrant_edge=error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs one command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Index {
            corpus,
            data_dir,
            mode,
            json,
        } => index_cmd(&corpus, &data_dir, mode, json),
        Command::Search {
            corpus,
            query,
            mode,
            top_k,
            corpora,
            data_dir,
            json,
        } => search_cmd(&corpus, &query, mode, top_k, &corpora, &data_dir, json),
        Command::Serve {
            corpora,
            data_dir,
            addr,
        } => serve_cmd(&corpora, &data_dir, addr),
        Command::Import {
            what:
                ImportCommand::Beir {
                    data,
                    name,
                    out,
                    scope,
                },
        } => {
            let scope = scope.unwrap_or_else(|| {
                format!(
                    "The documents of the `{name}` collection, imported from BEIR; nothing else."
                )
            });
            let report = beir::import(&data, &name, &scope, &out)?;
            // Validate what was written the way `index` will read it.
            Corpus::load(&out)?;
            println!(
                "wrote corpus `{name}` to {}: {} documents, {} judged query files",
                out.display(),
                report.documents,
                report.eval_files.len()
            );
            Ok(())
        }
        Command::Eval {
            what:
                EvalCommand::Beir {
                    data,
                    split,
                    mode,
                    data_dir,
                    limit_queries,
                    raw_sample,
                    fusion,
                    dense_weight,
                    rrf_k,
                    title_boost,
                    candidates,
                    max_tokens,
                    overlap_tokens,
                    json,
                },
        } => {
            let mut retrieval = candor::config::Retrieval::default();
            retrieval.fusion = fusion.unwrap_or(retrieval.fusion);
            retrieval.dense_weight = dense_weight.unwrap_or(retrieval.dense_weight);
            retrieval.rrf_k = rrf_k.unwrap_or(retrieval.rrf_k);
            retrieval.title_boost = title_boost.unwrap_or(retrieval.title_boost);
            retrieval.candidates = candidates.unwrap_or(retrieval.candidates);
            let mut chunking = candor::config::Chunking::default();
            chunking.max_tokens = max_tokens.unwrap_or(chunking.max_tokens);
            chunking.overlap_tokens = overlap_tokens.unwrap_or(chunking.overlap_tokens);
            let flag = |(key, message): (&str, String)| {
                anyhow::anyhow!("--{}: {message}", key.replace('_', "-"))
            };
            chunking.check().map_err(flag)?;
            retrieval.check().map_err(flag)?;
            let opts = beir::Options {
                split,
                mode,
                data_dir,
                retrieval,
                chunking,
                limit_queries,
                raw_sample,
            };
            eval_cmd(&data, &opts, json)
        }
    }
}

fn embedder() -> anyhow::Result<Embedder> {
    let assets = Assets::locate()?;
    Ok(Embedder::load(&assets)?)
}

fn index_cmd(
    corpus_dir: &Path,
    data_dir: &Path,
    mode: index::Mode,
    json: bool,
) -> anyhow::Result<()> {
    let corpus = Corpus::load(corpus_dir)?;
    let embedder = embedder()?;
    let progress = CliProgress::new();
    let report = index::index_corpus(&corpus, data_dir, mode, &embedder, &progress)?;
    progress.finish();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_build(&corpus.config.name, &report);
    }
    Ok(())
}

fn print_build(name: &str, r: &BuildReport) {
    for p in &r.removed_partial {
        eprintln!("removed incomplete generation {p}");
    }
    for e in &r.errors {
        eprintln!("skipped {}: {}", e.path.display(), e.reason);
    }
    if let Some(reason) = &r.reuse_refused {
        eprintln!("re-embedding everything: {reason}");
    }
    println!(
        "indexed corpus `{name}` as generation {}: {} files ({} changed, {} unchanged, {} failed, {} deleted), {} chunks ({} embedded) in {:.1}s",
        r.generation, r.files_seen, r.files_changed, r.files_skipped, r.files_failed, r.files_deleted, r.chunks,
        r.chunks_embedded, r.total_seconds
    );
}

fn find_corpus(name_or_dir: &str, corpora: &Path) -> anyhow::Result<Corpus> {
    let as_dir = Path::new(name_or_dir);
    if as_dir.join(candor::config::CORPUS_FILE).is_file() {
        return Ok(Corpus::load(as_dir)?);
    }
    let all = discover_corpora(corpora)?;
    let names: Vec<String> = all.iter().map(|c| c.config.name.clone()).collect();
    all.into_iter()
        .find(|c| c.config.name == name_or_dir)
        .with_context(|| {
            format!(
                "no corpus named `{name_or_dir}` under {} (found: {})",
                corpora.display(),
                names.join(", ")
            )
        })
}

fn search_cmd(
    corpus: &str,
    query: &str,
    mode: Mode,
    top_k: usize,
    corpora: &Path,
    data_dir: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let corpus = find_corpus(corpus, corpora)?;
    let embedder = Arc::new(embedder()?);
    let served = Corpora::open(vec![corpus], data_dir, embedder)?;
    let result = served.search(&Query {
        text: query,
        corpus: None,
        mode,
        limit: top_k,
        as_of: None,
    })?;
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print_search(&result);
    }
    Ok(())
}

fn print_search(r: &SearchResult) {
    if r.evidence.is_empty() {
        println!("no results in `{}`", r.corpus);
    }
    for e in &r.evidence {
        let c = &e.chunk;
        let mut place = c.source.display().to_string();
        if let Some(p) = c.page {
            place.push_str(&format!(" p.{p}"));
        }
        if !c.heading_path.is_empty() {
            place.push_str(&format!(" § {}", c.heading_path.join(" > ")));
        }
        let snippet: String = c
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(160)
            .collect();
        println!(
            "{:>2}. {:.4}  {}  [{}]\n    {}",
            e.rank, e.scores.fused, c.title, place, snippet
        );
    }
}

fn serve_cmd(corpora_dir: &Path, data_dir: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    let embedder = Arc::new(embedder()?);
    let corpora = Corpora::load(corpora_dir, data_dir, embedder)?;
    let example = corpora
        .list()
        .first()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let state = candor::api::AppState {
        corpora: Arc::new(corpora),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        println!(
            "ready on http://{addr}\ntry: curl -s http://{addr}/v1/search -H 'content-type: application/json' -d '{{\"question\":\"How do I back up the database?\",\"corpus\":\"{example}\"}}'"
        );
        candor::api::serve(state, listener, shutdown_signal()).await.context("server failed")
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn eval_cmd(data: &Path, opts: &beir::Options, json: bool) -> anyhow::Result<()> {
    if !data.is_dir() {
        bail!("BEIR folder {} does not exist", data.display());
    }
    let embedder = embedder()?;
    let progress = CliProgress::new();
    let report = beir::run(data, opts, &embedder, &progress)?;
    progress.finish();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// A progress bar on a terminal; a log line every few seconds otherwise.
struct CliProgress {
    bar: Option<ProgressBar>,
    state: Mutex<PhaseClock>,
}

/// Timing of the current phase, for rates and log throttling.
struct PhaseClock {
    phase: Option<&'static str>,
    began: Instant,
    last_log: Instant,
    last_event: Instant,
}

/// Seconds between progress log lines when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

impl CliProgress {
    fn new() -> CliProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        let now = Instant::now();
        CliProgress {
            bar,
            state: Mutex::new(PhaseClock {
                phase: None,
                began: now,
                last_log: now,
                last_event: now,
            }),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn report(&self, event: ProgressEvent) {
        let (phase, done, total) = match event {
            ProgressEvent::Parsed { done, total } => ("parsed", done, total),
            ProgressEvent::Embedded { done, total } => ("embedded", done, total),
            ProgressEvent::Indexing => ("indexing", 0, 0),
        };
        let Ok(mut clock) = self.state.lock() else {
            return;
        };
        let new_phase = clock.phase != Some(phase);
        if new_phase {
            // The phase began when the previous event ended, not at its own first report.
            clock.phase = Some(phase);
            clock.began = clock.last_event;
        }
        match &self.bar {
            Some(b) => {
                if new_phase {
                    b.reset();
                    b.set_length(total);
                    b.set_message(phase);
                }
                b.set_position(done);
            }
            None if new_phase
                || clock.last_log.elapsed() >= LOG_EVERY
                || (total > 0 && done == total) =>
            {
                clock.last_log = Instant::now();
                let rate = done as f64 / clock.began.elapsed().as_secs_f64().max(1e-9);
                if total > 0 {
                    let eta = total.saturating_sub(done) as f64 / rate.max(1e-9);
                    eprintln!("{phase} {done}/{total} ({rate:.1}/s, ETA {eta:.0}s)");
                } else {
                    eprintln!("{phase}");
                }
            }
            None => {}
        }
        clock.last_event = Instant::now();
    }
}
