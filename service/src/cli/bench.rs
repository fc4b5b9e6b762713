//! `candor bench`: the benchmark suite on one corpus. It indexes the corpus from
//! scratch, compares that with raw embedding, reindexes after changing 1% of its
//! files, serves it from a separate `candor serve` process to measure /v1/answer
//! over HTTP and the server's memory, and times the plugins.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use candor::config::Corpus;
use candor::embed::Embedder;
use candor::eval::answer as eval_answer;
use candor::index::{self, CorpusStore, Mode, VectorBackend};
use candor::plugins::{self, Plugin};
use serde_json::{json, Map, Value};

use super::{embedder, load};

/// Chunks embedded with plain fastembed calls for the overhead comparison.
const RAW_SAMPLE: usize = 256;

#[derive(clap::Args)]
pub struct SuiteArgs {
    /// The corpus folder.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where the benchmark's generations are stored (indexed from scratch).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// JSONL questions (`text` per line) for the HTTP runs; default: the corpus's
    /// eval/*.jsonl files. Needs 3 × --requests + 1 distinct questions.
    #[arg(long)]
    questions: Option<PathBuf>,
    /// Requests per HTTP run, 1..=100000.
    #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    requests: usize,
    /// Print one JSON object with flat keys.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SuiteArgs, deployed: &super::Deployed) -> anyhow::Result<()> {
    let Some(dir) = &args.corpus else {
        bail!("give --corpus <dir> (or a subcommand such as `bench answer`)");
    };
    let corpus = Corpus::load(dir)?;
    let questions = questions(&corpus, args.questions.as_deref())?;
    if questions.len() < 3 * args.requests + 1 {
        bail!(
            "{} distinct questions; --requests {} needs {}",
            questions.len(),
            args.requests,
            3 * args.requests + 1
        );
    }
    let mut out = Map::new();
    let embedder = embedder()?;
    let vectors = deployed.vectors()?;
    let data = &args.data_dir;
    let full_seconds = index_from_scratch(&corpus, data, &vectors, &embedder, &mut out)?;
    let copy = reindex_changed(&corpus, data, &vectors, &embedder, full_seconds, &mut out)?;
    let bound = load::embed_bound(&embedder, &questions[..args.requests])?;
    drop(embedder);

    serve_and_load(
        &copy,
        data,
        deployed.file.as_deref(),
        &corpus.config.name,
        &questions,
        args.requests,
        &mut out,
    )?;
    let c8 = out.get("answer_uncached_c8_rps").and_then(Value::as_f64);
    bound.insert_into(&mut out, c8);
    plugin_figures(data, &mut out)?;

    if args.json {
        outln!("{}", Value::Object(out));
    } else {
        outln!("benchmark of corpus `{}`", corpus.config.name);
        for (k, v) in &out {
            match v.as_f64() {
                Some(x) if x.fract() != 0.0 => outln!("  {k:<32} {x:>12.3}"),
                _ => outln!("  {k:<32} {v:>12}"),
            }
        }
    }
    Ok(())
}

/// Indexes the corpus from scratch, and the same chunks through plain
/// fastembed; returns how many seconds indexing took.
fn index_from_scratch(
    corpus: &Corpus,
    data: &Path,
    vectors: &VectorBackend,
    embedder: &Embedder,
    out: &mut Map<String, Value>,
) -> anyhow::Result<f64> {
    let _ = std::fs::remove_dir_all(data.join(&corpus.config.name));
    let full = index::index_corpus(corpus, data, vectors, Mode::Full, embedder, &())?;
    let rate = full.chunks_embedded as f64 / full.total_seconds.max(1e-9);
    let gen = CorpusStore::new(data, &corpus.config.name, vectors).open_current()?;
    let raw = candor::eval::beir::raw_embedding(&gen, embedder, RAW_SAMPLE, rate)?;
    drop(gen);
    out.insert("index_seconds".into(), json!(full.total_seconds));
    out.insert("index_chunks".into(), json!(full.chunks));
    out.insert("index_chunks_per_s".into(), json!(rate));
    if let Some(r) = &raw {
        out.insert("raw_chunks_per_s".into(), json!(r.chunks_per_second));
        out.insert(
            "index_overhead".into(),
            json!(r.pipeline_overhead_pct / 100.0),
        );
    }
    Ok(full.total_seconds)
}

/// Reindexes after changing 1% of the files, in a copy of the corpus with the
/// same name, and compares with `full_seconds` from scratch; returns the copy's
/// folder.
fn reindex_changed(
    corpus: &Corpus,
    data: &Path,
    vectors: &VectorBackend,
    embedder: &Embedder,
    full_seconds: f64,
    out: &mut Map<String, Value>,
) -> anyhow::Result<PathBuf> {
    let scratch = data.join("bench-copy");
    let _ = std::fs::remove_dir_all(&scratch);
    let copy = scratch.join("corpora").join(&corpus.config.name);
    copy_dir(&corpus.root, &copy)?;
    let changed = touch_one_percent(&Corpus::load(&copy)?)?;
    let inc = index::index_corpus(
        &Corpus::load(&copy)?,
        data,
        vectors,
        Mode::Incremental,
        embedder,
        &(),
    )?;
    out.insert("incremental_files_changed".into(), json!(changed));
    out.insert("incremental_seconds".into(), json!(inc.total_seconds));
    out.insert(
        "incremental_ratio".into(),
        json!(inc.total_seconds / full_seconds.max(1e-9)),
    );
    Ok(copy)
}

/// Distinct question texts from `path`, or from the corpus's eval files.
fn questions(corpus: &Corpus, path: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut qs: Vec<String> = match path {
        Some(p) => eval_answer::read_questions(p)?
            .into_iter()
            .map(|q| q.text)
            .collect(),
        None => {
            let mut all = Vec::new();
            let eval = corpus.root.join("eval");
            let entries = std::fs::read_dir(&eval)
                .with_context(|| format!("no --questions and no {}", eval.display()))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            files.sort();
            for f in files {
                all.extend(eval_answer::read_questions(&f)?.into_iter().map(|q| q.text));
            }
            all
        }
    };
    qs.sort();
    qs.dedup();
    Ok(qs)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let target = to.join(entry.path().strip_prefix(from)?);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Appends a sentence to every hundredth file the corpus indexes (at least one),
/// in a stable order; returns how many it changed.
fn touch_one_percent(corpus: &Corpus) -> anyhow::Result<usize> {
    let files = candor::ingest::discover(corpus)?;
    let step = 100.min(files.len().max(1));
    let mut n = 0;
    for f in files.iter().step_by(step) {
        let mut text = std::fs::read(&f.abs_path)?;
        if f.abs_path.extension().is_some_and(|x| x == "pdf") {
            continue;
        }
        text.extend_from_slice(b"\n\nThis paragraph was added by the benchmark.\n");
        std::fs::write(&f.abs_path, text)?;
        n += 1;
    }
    Ok(n)
}

/// Starts `candor serve` on the copy, runs /v1/answer at concurrency 1, 8 and
/// 32 (cache misses, then hits), and reads the server's peak memory.
fn serve_and_load(
    copy: &Path,
    data: &Path,
    deployment: Option<&Path>,
    name: &str,
    questions: &[String],
    requests: usize,
    out: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let corpora = copy.parent().context("the copy has a parent folder")?;
    let mut command = Command::new(std::env::current_exe()?);
    if let Some(file) = deployment {
        command.arg("--deployment").arg(file);
    }
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0", "--corpora"])
        .arg(corpora)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start `candor serve`")?;
    let result = (|| -> anyhow::Result<()> {
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().context("the server printed nothing")??;
        let base = first
            .strip_prefix("ready on ")
            .with_context(|| format!("unexpected first line from the server: {first}"))?
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        let url = format!("{base}/v1/answer");
        let body = |q: &String| json!({"question": q, "corpus": name}).to_string();
        let runs: Vec<Vec<String>> = (0..3)
            .map(|i| {
                questions[i * requests..(i + 1) * requests]
                    .iter()
                    .map(body)
                    .collect()
            })
            .collect();
        load::post_all(&url, &[body(&questions[3 * requests])], 1)?;
        for (cache, rounds) in [("uncached", &runs), ("cached", &runs)] {
            for (c, bodies) in [1usize, 8, 32].into_iter().zip(rounds) {
                let r = load::post_all(&url, bodies, c)?;
                let p = format!("answer_{cache}_c{c}");
                r.insert_into(out, &p);
                if r.failures > 0 {
                    bail!("{p}: {} requests failed", r.failures);
                }
            }
        }
        out.insert("serve_rss_mb".into(), json!(peak_rss_mb(child.id())?));
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The peak resident memory of process `pid`, from /proc.
fn peak_rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc status")?;
    Ok(kb / 1024.0)
}

/// A guardrail's cost per call (fresh instance each) and the release-notes
/// parser's throughput on a generated 10 MB changelog.
fn plugin_figures(data: &Path, out: &mut Map<String, Value>) -> anyhow::Result<()> {
    let cache = data.join(plugins::CACHE_DIR);
    let load = |name: &str| -> anyhow::Result<Plugin> {
        Ok(Plugin::load(name, &plugins::locate(name)?, &cache, None)?)
    };
    let guard = load("pii-redact")?;
    let (micros, _) = super::plugin::time_calls(2_000, || {
        guard
            .check_question("What is John's phone number?", "{}")
            .map(drop)
    })?;
    out.insert("guardrail_p50_us".into(), json!(micros.p50));
    out.insert("guardrail_p99_us".into(), json!(micros.p99));

    let parser = load("release-notes")?;
    let mut log = String::from("# Changelog\n\n");
    for i in (1..=36_000u32).rev() {
        log.push_str(&format!(
            "## [{}.{}.{}] - {:04}-{:02}-{:02}\n### Added\n- Incremental backups of databases through WAL archiving (change {i}).\n- A retention rule that keeps one monthly snapshot for a year.\n### Fixed\n- Restores no longer fail when a folder name contains a colon.\n\n",
            i / 1000,
            (i / 10) % 100,
            i % 10,
            2000 + (i / 336) % 100,
            1 + (i / 28) % 12,
            1 + i % 28
        ));
    }
    let (_, total) = super::plugin::time_calls(3, || {
        parser.parse("CHANGELOG.md", log.as_bytes(), "{}").map(drop)
    })?;
    out.insert("parser_input_mb".into(), json!(log.len() as f64 / 1e6));
    out.insert(
        "parser_mb_per_s".into(),
        json!(3.0 * log.len() as f64 / 1e6 / total.max(1e-9)),
    );
    Ok(())
}
