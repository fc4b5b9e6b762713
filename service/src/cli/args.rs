//! The command line: every subcommand and its flags, as clap reads them.

use super::*;

#[derive(Subcommand)]
pub(super) enum Command {
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
pub(super) fn parse_composer(s: &str) -> Result<candor::config::Composer, String> {
    match s {
        "extractive" => Ok(candor::config::Composer::Extractive),
        "llm" => Ok(candor::config::Composer::Llm),
        _ => Err(format!("`{s}` is not a composer: extractive or llm")),
    }
}

#[derive(Subcommand)]
pub(super) enum FeedbackCommand {
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
pub(super) enum ImportCommand {
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
pub(super) struct Target {
    /// The corpus name (or its folder).
    #[arg(long)]
    pub(super) corpus: String,
    #[command(flatten)]
    pub(super) place: Place,
    /// Print JSON.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(clap::Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    pub(super) place: Place,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(super) addr: SocketAddr,
    /// Longest accepted question, in characters.
    #[arg(long, default_value_t = candor::api::DEFAULT_MAX_QUESTION_CHARS)]
    pub(super) max_question_chars: usize,
    /// Let browsers on this origin (`https://app.example.com`) call the API; may
    /// be given several times. Default: none (no CORS headers).
    #[arg(long)]
    pub(super) cors_origin: Vec<candor::api::Origin>,
    /// Milliseconds a connection has to send a request's headers, counted from
    /// when it is ready for one; also how long a kept-alive connection may idle.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(super) header_timeout_ms: u64,
    /// Milliseconds from a request's headers to its response's head; past them
    /// the answer is 503 `timeout`. A streamed answer's events are bounded by
    /// --stall-timeout-ms instead.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(super) request_timeout_ms: u64,
    /// Milliseconds a response write may make no progress (a client that stopped
    /// reading) before the connection is closed.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(super) stall_timeout_ms: u64,
    /// Connections open at once; one more gets 503 `overloaded` and is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(super) max_connections: u64,
    /// Uncached answers and searches under way at once; one more gets 503
    /// `overloaded` with `retry-after` at once. Default: 32 per core.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(super) max_pending: Option<u64>,
    /// API keys (a TOML file of key ids, secret hashes, corpora and rates): every
    /// `/v1/` route then needs `Authorization: Bearer <key>`. Default: none, the
    /// API is open. `POST /admin/keys/reload` reads the file again.
    #[arg(long, env = "CANDOR_KEYS_FILE")]
    pub(super) keys: Option<PathBuf>,
}

impl ServeArgs {
    pub(super) fn edge(&self) -> candor::api::Edge {
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
pub(super) struct Place {
    /// Folder holding the corpus folders.
    #[arg(long, default_value = "corpora")]
    pub(super) corpora: PathBuf,
    /// Where generations are stored.
    #[arg(long, default_value = "data")]
    pub(super) data_dir: PathBuf,
}

#[derive(Subcommand)]
pub(super) enum BenchCommand {
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
pub(super) enum EvalCommand {
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
