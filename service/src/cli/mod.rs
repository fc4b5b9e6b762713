//! Command-line commands: argument definitions and the terminal side of each
//! command (progress bars, tables, JSON output). The work itself is the library's.

/// `println!` that ends the process quietly when stdout is a closed pipe
/// (`candor ... | head`), as command-line tools do, where `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::stdout_failed(e)
        }
    }};
}

mod answer;
mod bench;
mod load;
mod plugin;
mod progress;

/// Ends the process after a failed write to stdout: quietly (0) when the reader
/// went away, with the error (1) otherwise.
pub(crate) fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("candor: cannot write to stdout: {e}");
    std::process::exit(1);
}

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context};
use candor::answer::{Answerer, Calibrations};
use candor::config::{Assets, Corpus, Deployment, Fusion, QdrantAddress, DEPLOYMENT_ENV};
use candor::embed::Embedder;
use candor::eval::beir;
use candor::index::{self, BuildReport, VectorBackend};
use candor::printable::escape;
use candor::retrieve::corpora::{discover_corpora, Corpora, Query, SearchResult};
use candor::retrieve::Mode;
use candor::service::{Service, Settings};
use clap::{Parser, Subcommand};
use progress::CliProgress;

/// Environment variable holding the admin routes' bearer token.
const ADMIN_TOKEN_ENV: &str = "CANDOR_ADMIN_TOKEN";

/// Candor: answers questions only from its corpora, with citations.
#[derive(Parser)]
#[command(name = "candor", version, about)]
pub struct Args {
    /// The deployment file (`candor.toml`): where vectors live. Default: none,
    /// vectors in process.
    #[arg(long, global = true, env = DEPLOYMENT_ENV)]
    deployment: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The deployment's vector store, connected when a command first needs it:
/// commands that never open a generation never reach for a server.
#[derive(Clone)]
pub(crate) struct Deployed {
    file: Option<PathBuf>,
    qdrant: Option<QdrantAddress>,
    vectors: OnceLock<VectorBackend>,
}

impl Deployed {
    fn load(file: Option<&Path>) -> anyhow::Result<Deployed> {
        let qdrant = match file {
            Some(f) => Deployment::load(f)?.qdrant(f)?,
            None => None,
        };
        Ok(Deployed {
            file: file.map(Path::to_path_buf),
            qdrant,
            vectors: OnceLock::new(),
        })
    }

    /// The vector store, connecting on first use.
    pub(crate) fn vectors(&self) -> anyhow::Result<VectorBackend> {
        if let Some(v) = self.vectors.get() {
            return Ok(v.clone());
        }
        let v = VectorBackend::connect(self.qdrant.as_ref())?;
        Ok(self.vectors.get_or_init(|| v).clone())
    }
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
        /// The query.
        query: String,
        /// bm25, dense or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// Results to show.
        #[arg(long, default_value_t = 10)]
        top_k: usize,
        #[command(flatten)]
        target: Target,
    },
    /// Answer a question from a corpus, with citations, or say why not.
    Answer {
        /// The question.
        question: String,
        #[command(flatten)]
        target: Target,
    },
    /// Serve every corpus under a folder over HTTP.
    Serve(ServeArgs),
    /// Learn when a corpus should decline to answer, from questions it should
    /// answer and questions it should not; writes calibration.json into the corpus.
    Calibrate(answer::CalibrateArgs),
    /// Inspect and try out a plugin component.
    Plugin {
        #[command(subcommand)]
        what: plugin::PluginCommand,
    },
    /// Measure speed: with --corpus, the whole suite (indexing, incremental
    /// reindex, /v1/answer over HTTP, server memory, plugins); or one part.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        what: Option<BenchCommand>,
        #[command(flatten)]
        suite: bench::SuiteArgs,
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
    /// The answer log and the ratings callers sent to /v1/feedback.
    Feedback {
        #[command(subcommand)]
        what: FeedbackCommand,
    },
    /// Writes the embedded vector store of a generation from its tables: run
    /// by the build itself in a child process, so that a full disk ends the
    /// child rather than the server.
    #[command(hide = true)]
    WriteVectors {
        /// The generation's folder.
        generation: PathBuf,
    },
}

/// `extractive` or `llm`.
fn parse_composer(s: &str) -> Result<candor::config::Composer, String> {
    match s {
        "extractive" => Ok(candor::config::Composer::Extractive),
        "llm" => Ok(candor::config::Composer::Llm),
        _ => Err(format!("`{s}` is not a composer: extractive or llm")),
    }
}

#[derive(Subcommand)]
enum FeedbackCommand {
    /// Write rated answers of a corpus as eval cases (JSON lines with `text`,
    /// `expect`, `relevant`, `hard`), for `candor eval corpus --with`.
    Export {
        /// The corpus name.
        #[arg(long)]
        corpus: String,
        /// Where the server keeps its data (the store is feedback.sqlite3 there).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Only answers logged on or after this day (YYYY-MM-DD).
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
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

/// The corpus a one-off question goes to, and how to print the result.
#[derive(clap::Args)]
struct Target {
    /// The corpus name (or its folder).
    #[arg(long)]
    corpus: String,
    #[command(flatten)]
    place: Place,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    place: Place,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Longest accepted question, in characters.
    #[arg(long, default_value_t = candor::api::DEFAULT_MAX_QUESTION_CHARS)]
    max_question_chars: usize,
    /// Let browsers on this origin (`https://app.example.com`) call the API; may
    /// be given several times. Default: none (no CORS headers).
    #[arg(long)]
    cors_origin: Vec<candor::api::Origin>,
    /// Milliseconds a connection has to send a request's headers, counted from
    /// when it is ready for one; also how long a kept-alive connection may idle.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    header_timeout_ms: u64,
    /// Milliseconds from a request's headers to its response's head; past them
    /// the answer is 503 `timeout`. A streamed answer's events are bounded by
    /// --stall-timeout-ms instead.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    request_timeout_ms: u64,
    /// Milliseconds a response write may make no progress (a client that stopped
    /// reading) before the connection is closed.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    stall_timeout_ms: u64,
    /// Connections open at once; one more gets 503 `overloaded` and is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Uncached answers and searches under way at once; one more gets 503
    /// `overloaded` with `retry-after` at once. Default: 32 per core.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_pending: Option<u64>,
    /// API keys (a TOML file of key ids, secret hashes, corpora and rates): every
    /// `/v1/` route then needs `Authorization: Bearer <key>`. Default: none, the
    /// API is open. `POST /admin/keys/reload` reads the file again.
    #[arg(long, env = "CANDOR_KEYS_FILE")]
    keys: Option<PathBuf>,
}

impl ServeArgs {
    fn edge(&self) -> candor::api::Edge {
        let ms = std::time::Duration::from_millis;
        candor::api::Edge {
            header_timeout: ms(self.header_timeout_ms),
            request_timeout: ms(self.request_timeout_ms),
            stall_timeout: ms(self.stall_timeout_ms),
            max_connections: self.max_connections as usize,
        }
    }
}

/// Where corpora and their generations are.
#[derive(clap::Args, Clone)]
struct Place {
    /// Folder holding the corpus folders.
    #[arg(long, default_value = "corpora")]
    corpora: PathBuf,
    /// Where generations are stored.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// /v1/answer latency and throughput over HTTP, at concurrency 1 and 8, for
    /// cache misses and hits.
    Answer {
        /// Folder holding the corpus folders.
        #[arg(long, default_value = "corpora")]
        corpora: PathBuf,
        /// Where generations are stored.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The corpus asked.
        #[arg(long)]
        corpus: String,
        /// JSONL questions (a `text` field per line); needs 2 × `--requests` + 1
        /// distinct ones.
        #[arg(long)]
        questions: PathBuf,
        /// Requests per run, 1..=100000.
        #[arg(long, default_value_t = 200, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        requests: usize,
        /// Print one JSON object with flat keys.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Ask judged questions and measure answer rate, abstention and citations.
    Answer(answer::Labelled),
    /// Run a corpus's eval set (whichever of eval/in_scope.jsonl, recency.jsonl,
    /// unanswerable.jsonl, out_of_scope.jsonl and guardrails.jsonl it has):
    /// abstention, citations, guardrails and retrieval metrics.
    Corpus {
        /// The corpus: its name under --corpora, or its folder.
        corpus: String,
        #[command(flatten)]
        place: Place,
        /// A second eval set to run too, such as a `candor feedback export`.
        #[arg(long)]
        with: Option<PathBuf>,
        /// Also write report.html (charts) and report.json into this folder.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Compose with this instead of the corpus's `[answer] composer`
        /// (`llm` needs its `[llm]` table).
        #[arg(long, value_parser = parse_composer)]
        composer: Option<candor::config::Composer>,
        /// Print each report as one JSON object.
        #[arg(long)]
        json: bool,
    },
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
        /// Write each query's top 10 documents to this file (JSON lines).
        #[arg(long)]
        save_run: Option<PathBuf>,
        /// Report how many queries have the same top 10 documents as a run saved
        /// earlier with --save-run (e.g. with another vector store).
        #[arg(long)]
        compare_run: Option<PathBuf>,
        /// Search vector stores of at most this many points exactly, larger ones
        /// approximately (HNSW); 0 compares stores on their approximate search.
        #[arg(long, default_value_t = candor::index::EXACT_SEARCH_MAX_POINTS)]
        exact_max_points: usize,
        /// Index without the sentence vectors the extractive composer reads:
        /// ranking never reads them, and they cost several times the chunks'
        /// own embedding. The indexing figures then leave that work out.
        #[arg(long)]
        no_sentence_vectors: bool,
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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A person reads a terminal; anything else is a log collector, which wants
    // one JSON object per line.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        logs.init();
    } else {
        logs.json().init();
    }
}

/// Runs one command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match std::env::current_exe() {
        Ok(program) => candor::index::write_vectors_with(program),
        Err(e) => tracing::warn!(
            "cannot find this program's own path ({e}): vector stores are written in process, where a full disk ends the process"
        ),
    }
    let deployed = &Deployed::load(args.deployment.as_deref())?;
    match args.command {
        Command::WriteVectors { generation } => Ok(candor::index::write_vectors(&generation)?),
        Command::Index {
            corpus,
            data_dir,
            mode,
            json,
        } => index_cmd(&corpus, &data_dir, deployed, mode, json),
        Command::Search {
            query,
            mode,
            top_k,
            target,
        } => {
            let corpus = find_corpus(&target.corpus, &target.place.corpora)?;
            search_cmd(
                corpus,
                &query,
                mode,
                top_k,
                &target.place.data_dir,
                deployed,
                target.json,
            )
        }
        Command::Answer { question, target } => {
            let corpus = find_corpus(&target.corpus, &target.place.corpora)?;
            answer::answer_cmd(
                &corpus,
                &question,
                &target.place.data_dir,
                deployed,
                target.json,
            )
        }
        Command::Serve(args) => serve_cmd(&args, deployed),
        Command::Calibrate(args) => answer::calibrate_cmd(&args, deployed),
        Command::Plugin { what } => plugin::run(what),
        Command::Eval {
            what: EvalCommand::Answer(args),
        } => answer::eval_answer_cmd(&args, deployed),
        Command::Eval {
            what:
                EvalCommand::Corpus {
                    corpus,
                    place,
                    with,
                    report,
                    composer,
                    json,
                },
        } => {
            let corpus = find_corpus(&corpus, &place.corpora)?;
            answer::eval_corpus_cmd(
                &corpus,
                composer,
                &place.data_dir,
                deployed,
                with.as_deref(),
                report.as_deref(),
                json,
            )
        }
        Command::Feedback {
            what:
                FeedbackCommand::Export {
                    corpus,
                    data_dir,
                    since,
                    out,
                },
        } => feedback_export_cmd(&corpus, &data_dir, since, out.as_deref()),
        Command::Bench { what: None, suite } => bench::run(&suite, deployed),
        Command::Bench {
            what:
                Some(BenchCommand::Answer {
                    corpora,
                    data_dir,
                    corpus,
                    questions,
                    requests,
                    json,
                }),
            ..
        } => answer::bench_answer_cmd(
            &corpora, &data_dir, deployed, &corpus, &questions, requests, json,
        ),
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
            outln!(
                "wrote corpus `{name}` to {}: {} documents, {} judged query files",
                out.display(),
                report.documents,
                report.eval_files.len()
            );
            if report.missing_judged > 0 {
                outln!(
                    "left out {} judgements naming records that corpus.jsonl does not hold",
                    report.missing_judged
                );
            }
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
                    save_run,
                    compare_run,
                    exact_max_points,
                    no_sentence_vectors,
                    json,
                },
        } => {
            candor::index::set_exact_search_max_points(exact_max_points);
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
                vectors: deployed.vectors()?,
                retrieval,
                chunking,
                limit_queries,
                raw_sample,
                save_run,
                compare_run,
                sentences: if no_sentence_vectors {
                    candor::index::Sentences::Skip
                } else {
                    candor::index::Sentences::Embed
                },
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
    deployed: &Deployed,
    mode: index::Mode,
    json: bool,
) -> anyhow::Result<()> {
    let corpus = Corpus::load(corpus_dir)?;
    let vectors = deployed.vectors()?;
    let embedder = embedder()?;
    let progress = CliProgress::new();
    let report = index::index_corpus(&corpus, data_dir, &vectors, mode, &embedder, &progress)?;
    progress.finish();
    if json {
        outln!("{}", serde_json::to_string(&report)?);
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
        eprintln!(
            "skipped {}: {}",
            escape(&e.path.display().to_string()),
            escape(&e.reason)
        );
    }
    if let Some(reason) = &r.reuse_refused {
        eprintln!("re-embedding everything: {reason}");
    }
    outln!(
        "indexed corpus `{name}` as generation {}: {} files ({} changed, {} unchanged, {} failed, {} deleted), {} chunks ({} embedded) in {:.1}s",
        r.generation, r.files_seen, r.files_changed, r.files_skipped, r.files_failed, r.files_deleted, r.chunks,
        r.chunks_embedded, r.total_seconds
    );
}

fn feedback_export_cmd(
    corpus: &str,
    data_dir: &Path,
    since: Option<chrono::NaiveDate>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let store_file = data_dir.join(candor::feedback::FILE);
    if !store_file.is_file() {
        bail!(
            "no feedback store at {}: has a server run with --data-dir {}?",
            store_file.display(),
            data_dir.display()
        );
    }
    let cases = candor::feedback::Store::open(data_dir)?.export(corpus, since)?;
    let mut text = String::new();
    for c in &cases {
        text.push_str(&serde_json::to_string(c)?);
        text.push('\n');
    }
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} eval cases to {}", cases.len(), path.display());
        }
        None if cases.is_empty() => {}
        None => outln!("{}", text.trim_end()),
    }
    Ok(())
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
    corpus: Corpus,
    query: &str,
    mode: Mode,
    top_k: usize,
    data_dir: &Path,
    deployed: &Deployed,
    json: bool,
) -> anyhow::Result<()> {
    let embedder = Arc::new(embedder()?);
    let served = Corpora::open(vec![corpus], data_dir, &deployed.vectors()?, embedder)?;
    let result = served.search(&Query {
        text: query,
        corpus: None,
        mode,
        limit: top_k,
        as_of: None,
        recency: true,
    })?;
    if json {
        outln!("{}", serde_json::to_string(&result)?);
    } else {
        print_search(&result);
    }
    Ok(())
}

fn print_search(r: &SearchResult) {
    if r.evidence.is_empty() {
        outln!("no results in `{}`", r.corpus);
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
        outln!(
            "{:>2}. {:.4}  {}  [{}]\n    {}",
            e.rank,
            e.scores.fused,
            escape(&c.title),
            escape(&place),
            escape(&snippet)
        );
    }
}

/// The engine over the given corpora.
fn load_answerer(
    corpora: Vec<Corpus>,
    data_dir: &Path,
    vectors: &VectorBackend,
    calibrations: Calibrations,
) -> anyhow::Result<Arc<Answerer>> {
    let settings = Settings::new(PathBuf::new(), data_dir.to_path_buf());
    Ok(candor::service::answerer(
        corpora,
        &settings,
        vectors,
        Arc::new(embedder()?),
        calibrations,
    )?)
}

fn serve_cmd(args: &ServeArgs, deployed: &Deployed) -> anyhow::Result<()> {
    if args.max_question_chars == 0 {
        bail!("--max-question-chars must be at least 1");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(async move {
        let addr = args.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        // One signal stops both the server and a load still under way.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // Listening first: a probe sees 503 from /readyz while the model and the
        // corpora load, rather than a refused connection.
        let startup = candor::api::Startup::default();
        let server = tokio::spawn(candor::api::serve(
            startup.clone(),
            listener,
            args.edge(),
            until_stopped(stopped.clone()),
        ));
        tracing::info!(%addr, "listening; loading the model and the corpora");
        let (place, cors) = (args.place.clone(), args.cors_origin.clone());
        let limits = (args.max_question_chars, args.max_pending.map(|n| n as usize));
        let (deployed, waiting, keys) = (deployed.clone(), startup.clone(), args.keys.clone());
        let load = tokio::task::spawn_blocking(move || {
            let waiting = |why| waiting.waiting(why);
            load_state(&place, &deployed, &waiting, (cors, keys), limits)
        });
        let state = tokio::select! {
            state = load => state??,
            () = until_stopped(stopped) => {
                tracing::info!("stopped while loading");
                return server.await?.context("server failed");
            }
        };
        let example = state
            .answerer
            .corpora()
            .list()
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        startup.ready(state);
        outln!(
            "ready on http://{addr}\ntry: curl -s http://{addr}/v1/answer -H 'content-type: application/json' -d '{{\"question\":\"How do I back up the database?\",\"corpus\":\"{example}\"}}'"
        );
        server.await?.context("server failed")
    });
    // A load abandoned by a stop may still hold a blocking thread: do not wait for it.
    runtime.shutdown_background();
    served
}

/// Everything a server serves: corpora, guardrails, jobs and watches, admin
/// access, API keys, the feedback store.
fn load_state(
    place: &Place,
    deployed: &Deployed,
    waiting: &dyn Fn(Option<String>),
    (cors_origins, keys): (Vec<candor::api::Origin>, Option<PathBuf>),
    (max_question_chars, max_pending): (usize, Option<usize>),
) -> anyhow::Result<candor::api::AppState> {
    // Before the model loads: a bad keys file fails the start at once.
    let keys = match keys {
        Some(path) => {
            let corpora = discover_corpora(&place.corpora)?;
            let names = corpora.iter().map(|c| c.config.name.clone());
            let ring = candor::api::Keyring::load(&path, names).map_err(anyhow::Error::msg)?;
            Some(Arc::new(ring))
        }
        None => None,
    };
    let service = Service::open(
        &Settings {
            corpora: place.corpora.clone(),
            data_dir: place.data_dir.clone(),
            qdrant: deployed.qdrant.clone(),
            max_question_chars,
            max_pending,
        },
        waiting,
    )?;
    let admin = match std::env::var(ADMIN_TOKEN_ENV) {
        Ok(token) if !token.is_empty() => {
            Some(Arc::new(candor::api::Admin::new(&token, service.jobs)))
        }
        _ => {
            tracing::warn!("admin routes are disabled: {ADMIN_TOKEN_ENV} is not set");
            None
        }
    };
    Ok(candor::api::AppState {
        answerer: service.answerer,
        admin,
        feedback: Some(service.feedback),
        cors_origins,
        keys,
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
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn the_command_line_definition_is_consistent() {
        <super::Args as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn the_deployment_flag_and_a_plugins_config_flag_coexist() {
        // A global flag with the id of a subcommand's own makes parsing panic.
        let run = [
            "plugin",
            "run",
            "p.wasm",
            "--question",
            "q",
            "--config",
            "{}",
        ];
        assert!(super::Args::try_parse_from([&["candor"][..], &run].concat()).is_ok());
        let deployed = [&["candor", "--deployment", "candor.toml"][..], &run].concat();
        assert!(super::Args::try_parse_from(deployed).is_ok());
    }
}
