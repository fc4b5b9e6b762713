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
mod args;
mod bench;
mod load;
mod plugin;
mod progress;
mod serve;

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
use args::*;
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
use serve::serve_cmd;

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
        let wire = candor::api::types::SearchResult::from(result);
        outln!("{}", serde_json::to_string(&wire)?);
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
