//! The BEIR runner: import a BEIR folder, index it (cached by content), run the
//! judged queries of one split, and report quality, speed and indexing throughput.
//!
//! A BEIR folder holds `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl`
//! (`_id`, `text`) and `qrels/<split>.tsv` (`query-id corpus-id score`, with a
//! header). The index lives in the data directory under a name derived from the
//! corpus file's hash, so a second run with the same model and chunking reuses it.

mod import;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::metrics::{mrr_at, ndcg_at, percentiles, recall_at, Percentiles};
use crate::config::{Chunking, Retrieval};
use crate::embed::Embedder;
use crate::index::{
    self, sha256_hex, BuildInput, BuildReport, CorpusStore, Generation, Progress, VectorBackend,
};
use crate::ingest::{Chunker, Document};
use crate::retrieve::{self, Mode, Request};
use crate::Error;

pub use import::{import, EvalQuery, ImportReport};

/// How one evaluation runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which qrels split to score (`test`, `train`, `dev`).
    pub split: String,
    /// Retrieval signals.
    pub mode: Mode,
    /// Where the cached index lives.
    pub data_dir: PathBuf,
    /// Where its vectors live.
    pub vectors: VectorBackend,
    /// Fusion and candidate settings.
    pub retrieval: Retrieval,
    /// Chunking settings.
    pub chunking: Chunking,
    /// Evaluate only the first N judged queries.
    pub limit_queries: Option<usize>,
    /// Chunks embedded directly by fastembed to measure raw model throughput; 0 skips it.
    pub raw_sample: usize,
    /// Write each query's top 10 documents here (JSON lines).
    pub save_run: Option<PathBuf>,
    /// Compare each query's top 10 documents with a run saved earlier.
    pub compare_run: Option<PathBuf>,
    /// Whether a new index embeds its chunks' sentences (as a served corpus
    /// does, so that indexing figures compare); ranking never reads them.
    pub sentences: index::Sentences,
}

/// One query's top 10 documents, as `save_run` writes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunLine {
    query: String,
    top_10: Vec<String>,
}

/// How far two runs agree.
#[derive(Debug, Clone, Serialize)]
pub struct Parity {
    /// The run compared with.
    pub with: PathBuf,
    /// Queries in both runs.
    pub queries: usize,
    /// Queries whose top 10 documents are the same, in the same order.
    pub identical_top_10: usize,
    /// `identical_top_10 / queries`.
    pub share: f64,
}

/// The JSON printed by `candor eval beir`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The BEIR folder's name.
    pub dataset: String,
    /// The qrels split scored.
    pub split: String,
    /// Retrieval mode.
    pub mode: Mode,
    /// Judged queries evaluated.
    pub queries: usize,
    /// Mean nDCG@10.
    pub ndcg_at_10: f64,
    /// Mean Recall@100.
    pub recall_at_100: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
    /// Share of queries whose best-ranked document is relevant: the first
    /// citation of an extractive answer.
    pub precision_at_1: f64,
    /// Per-query search latency, one query at a time, in milliseconds.
    pub latency_ms: Percentiles,
    /// Seconds to run all queries.
    pub query_seconds: f64,
    /// How the index was built (or when it was cached, how it was built then).
    pub index: IndexFigures,
    /// fastembed on its own, on a sample of the same chunks.
    pub raw_embedding: Option<RawEmbedding>,
    /// Agreement with the run given as `compare_run`.
    pub parity: Option<Parity>,
    /// Settings used.
    pub settings: Settings,
}

/// Indexing figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexFigures {
    /// True when this run reused an index built earlier.
    pub cached: bool,
    /// Documents indexed.
    pub documents: usize,
    /// Chunks indexed.
    pub chunks: usize,
    /// Wall-clock seconds of the build.
    pub total_seconds: f64,
    /// Seconds parsing and chunking.
    pub parse_seconds: f64,
    /// Seconds inside the embedding model.
    pub embed_seconds: f64,
    /// Seconds writing the indexes.
    pub index_seconds: f64,
    /// Chunks per wall-clock second, whole pipeline.
    pub chunks_per_second: f64,
    /// Share of build time spent outside the embedding model, in percent.
    pub non_embedding_pct: f64,
}

/// Raw fastembed throughput on a sample of the corpus's chunks.
#[derive(Debug, Clone, Serialize)]
pub struct RawEmbedding {
    /// Chunks embedded.
    pub sample_chunks: usize,
    /// Seconds taken.
    pub seconds: f64,
    /// Chunks per second.
    pub chunks_per_second: f64,
    /// The pipeline's time per chunk over raw fastembed's, minus one, in percent;
    /// negative when the pipeline is faster (it sorts texts by length before batching).
    pub pipeline_overhead_pct: f64,
}

/// The settings a report was produced with.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Retrieval settings.
    pub retrieval: RetrievalSettings,
    /// Chunking settings.
    pub chunking: Chunking,
}

/// Serializable view of the retrieval settings.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalSettings {
    /// Fusion method.
    pub fusion: crate::config::Fusion,
    /// Dense weight in fusion.
    pub dense_weight: f64,
    /// RRF k.
    pub rrf_k: f64,
    /// Candidates per retriever.
    pub candidates: usize,
    /// BM25 title boost.
    pub title_boost: f32,
}

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

/// Judged queries of one split: `(query id, text, relevant doc ids)`, in file order.
pub type Judged = Vec<(String, String, HashSet<String>)>;

/// Reads `queries.jsonl` and `qrels/<split>.tsv`.
///
/// # Errors
///
/// [`Error::Io`] for unreadable files, [`Error::BadDocument`] naming the file and line
/// for malformed records.
pub fn load_queries(dir: &Path, split: &str) -> crate::Result<Judged> {
    let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    let qrels_text = std::fs::read_to_string(&qrels_path).map_err(Error::io(&qrels_path))?;
    let mut qrels: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (n, line) in qrels_text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let bad = || Error::BadDocument {
            path: qrels_path.clone(),
            reason: format!(
                "line {}: expected `query-id<TAB>corpus-id<TAB>score`",
                n + 1
            ),
        };
        let [q, d, s] = cols[..] else {
            return Err(bad());
        };
        let score: i64 = s.trim().parse().map_err(|_| bad())?;
        if score > 0 {
            qrels.entry(q.to_owned()).or_default().insert(d.to_owned());
        }
    }
    let queries_path = dir.join("queries.jsonl");
    let text = std::fs::read_to_string(&queries_path).map_err(Error::io(&queries_path))?;
    let mut out = Vec::new();
    for record in crate::jsonl::records::<QueryLine>(&queries_path, &text) {
        let (q, _) = record?;
        if let Some(rel) = qrels.remove(&q.id) {
            out.push((q.id, q.text, rel));
        }
    }
    // A judged query without text would silently shrink the averages.
    if let Some(missing) = qrels.keys().next() {
        return Err(Error::BadDocument {
            path: qrels_path,
            reason: format!(
                "judges query `{missing}`, which {} does not contain",
                queries_path.display()
            ),
        });
    }
    Ok(out)
}

/// Turns `corpus.jsonl` into build inputs, one per record, keyed by `_id`.
fn corpus_inputs(path: &Path, text: &str) -> crate::Result<Vec<BuildInput>> {
    let mut inputs = Vec::new();
    for record in crate::jsonl::records::<CorpusLine>(path, text) {
        let (rec, line) = record?;
        let key = rec.id.clone();
        inputs.push(BuildInput::new(
            key,
            line.as_bytes(),
            Box::new(move || Ok(vec![Document::plain(rec.id, rec.title, rec.text)])),
        ));
    }
    Ok(inputs)
}

const BUILD_FIGURES: &str = "beir_build.json";

/// Indexes the BEIR corpus unless an index of the same content, model and chunking
/// exists; returns the store and the build's figures.
///
/// # Errors
///
/// As [`index::build`], plus parse errors in `corpus.jsonl`.
pub fn ensure_index(
    dir: &Path,
    data_dir: &Path,
    vectors: &VectorBackend,
    (chunking, sentences): (Chunking, index::Sentences),
    embedder: &Embedder,
    progress: &dyn Progress,
) -> crate::Result<(CorpusStore, IndexFigures)> {
    let corpus_path = dir.join("corpus.jsonl");
    let text = std::fs::read_to_string(&corpus_path).map_err(Error::io(&corpus_path))?;
    let name = format!("beir-{}", &sha256_hex(text.as_bytes())[..16]);
    let store = CorpusStore::new(data_dir, &name, vectors);
    let figures_path = data_dir.join(&name).join(BUILD_FIGURES);
    let earlier = || {
        std::fs::read(&figures_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<IndexFigures>(&b).ok())
            .map(|f| IndexFigures { cached: true, ..f })
    };
    if let Ok(gen) = store.open_current() {
        let m = &gen.manifest;
        if m.model_id == embedder.model_id() && m.chunking == chunking {
            if let Some(figures) = earlier() {
                return Ok((store, figures));
            }
        }
    }
    let chunker = Chunker::from_file(embedder.tokenizer_path(), chunking)?;
    // Incremental: a generation of the same records built for another vector
    // store lends its embeddings, so switching stores costs no re-embedding.
    let report = index::build(
        &store,
        corpus_inputs(&corpus_path, &text)?,
        (index::Mode::Incremental, sentences),
        embedder,
        &chunker,
        progress,
    )?;
    // A build that reused embeddings (moving to another vector store) says
    // nothing about indexing speed: the figures of the build that embedded stand.
    if report.chunks_embedded < report.chunks {
        if let Some(figures) = earlier() {
            return Ok((store, figures));
        }
    }
    let figures = figures_of(&report);
    let json = serde_json::to_vec_pretty(&figures).map_err(|e| Error::Io {
        path: figures_path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&figures_path, json).map_err(Error::io(&figures_path))?;
    Ok((store, figures))
}

fn figures_of(r: &BuildReport) -> IndexFigures {
    IndexFigures {
        cached: false,
        documents: r.documents,
        chunks: r.chunks,
        total_seconds: r.total_seconds,
        parse_seconds: r.parse_seconds,
        embed_seconds: r.embed_seconds,
        index_seconds: r.index_seconds,
        chunks_per_second: r.chunks as f64 / r.total_seconds.max(1e-9),
        non_embedding_pct: 100.0 * (r.total_seconds - r.embed_seconds) / r.total_seconds.max(1e-9),
    }
}

/// Embeds `sample` chunks of `gen`, spread over it, with plain fastembed calls, and
/// compares that rate with the pipeline's `pipeline_rate` (chunks per second of a
/// whole build); `None` when the sample or the generation is empty.
///
/// # Errors
///
/// [`crate::Error::Embed`] when the model fails.
pub fn raw_embedding(
    gen: &crate::index::Generation,
    embedder: &Embedder,
    sample: usize,
    pipeline_rate: f64,
) -> crate::Result<Option<RawEmbedding>> {
    if sample == 0 || gen.chunks.is_empty() {
        return Ok(None);
    }
    let step = (gen.chunks.len() / sample).max(1);
    let texts: Vec<String> = gen
        .chunks
        .iter()
        .step_by(step)
        .take(sample)
        .map(|c| c.embedding_text())
        .collect();
    let t = Instant::now();
    embedder.embed_raw(&texts)?;
    let seconds = t.elapsed().as_secs_f64();
    let raw_rate = texts.len() as f64 / seconds.max(1e-9);
    Ok(Some(RawEmbedding {
        sample_chunks: texts.len(),
        seconds,
        chunks_per_second: raw_rate,
        pipeline_overhead_pct: 100.0 * (raw_rate / pipeline_rate.max(1e-9) - 1.0),
    }))
}

/// Runs the evaluation.
///
/// # Errors
///
/// Unreadable or malformed BEIR files, or index and model failures.
pub fn run(
    dir: &Path,
    opts: &Options,
    embedder: &Embedder,
    progress: &dyn Progress,
) -> crate::Result<Report> {
    let mut judged = load_queries(dir, &opts.split)?;
    if let Some(n) = opts.limit_queries {
        judged.truncate(n);
    }
    let (store, figures) = ensure_index(
        dir,
        &opts.data_dir,
        &opts.vectors,
        (opts.chunking, opts.sentences),
        embedder,
        progress,
    )?;
    let gen = store.open_current()?;

    let raw_embedding = raw_embedding(&gen, embedder, opts.raw_sample, figures.chunks_per_second)?;

    let mut queried = run_queries(&gen, embedder, opts, &judged)?;
    if let Some(path) = &opts.save_run {
        crate::jsonl::write(path, &queried.run)?;
    }
    let parity = match &opts.compare_run {
        Some(path) => Some(parity(path, &queried.run)?),
        None => None,
    };
    let n = judged.len().max(1) as f64;
    Ok(Report {
        dataset: dir.file_name().map_or_else(
            || dir.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        ),
        split: opts.split.clone(),
        mode: opts.mode,
        queries: judged.len(),
        ndcg_at_10: queried.ndcg / n,
        recall_at_100: queried.recall / n,
        mrr_at_10: queried.mrr / n,
        precision_at_1: queried.p1 / n,
        latency_ms: percentiles(&mut queried.latencies),
        query_seconds: queried.seconds,
        index: figures,
        raw_embedding,
        parity,
        settings: Settings::of(opts),
    })
}

/// The judged queries' ranking metrics, summed, and how long they took.
struct Queried {
    /// Per-query latency, in milliseconds.
    latencies: Vec<f64>,
    ndcg: f64,
    recall: f64,
    mrr: f64,
    /// Precision at 1, as MRR@1.
    p1: f64,
    /// Each query's top 10 documents.
    run: Vec<RunLine>,
    /// Seconds for all queries.
    seconds: f64,
}

/// Ranks the documents of `gen` for each judged query, one at a time.
fn run_queries(
    gen: &Generation,
    embedder: &Embedder,
    opts: &Options,
    judged: &Judged,
) -> crate::Result<Queried> {
    let mut latencies = Vec::with_capacity(judged.len());
    let (mut ndcg, mut recall, mut mrr, mut p1) = (0.0, 0.0, 0.0, 0.0);
    let mut run = Vec::with_capacity(judged.len());
    let started = Instant::now();
    for (query, text, relevant) in judged {
        let t = Instant::now();
        let ranked = retrieve::rank_documents(
            gen,
            embedder,
            &opts.retrieval,
            &Request {
                query: text,
                mode: opts.mode,
                limit: 100,
                filter: Default::default(),
                recency: None,
            },
        )?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let ids: Vec<&str> = ranked.iter().map(|d| d.scored.id.0.as_str()).collect();
        ndcg += ndcg_at(&ids, relevant, 10);
        recall += recall_at(&ids, relevant, 100);
        mrr += mrr_at(&ids, relevant, 10);
        p1 += mrr_at(&ids, relevant, 1);
        run.push(RunLine {
            query: query.clone(),
            top_10: ids.iter().take(10).map(|s| (*s).to_owned()).collect(),
        });
    }
    Ok(Queried {
        latencies,
        ndcg,
        recall,
        mrr,
        p1,
        run,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl Settings {
    /// The settings `opts` evaluate with.
    fn of(opts: &Options) -> Settings {
        let r = &opts.retrieval;
        Settings {
            retrieval: RetrievalSettings {
                fusion: r.fusion,
                dense_weight: r.dense_weight,
                rrf_k: r.rrf_k,
                candidates: r.candidates,
                title_boost: r.title_boost,
            },
            chunking: opts.chunking,
        }
    }
}

/// Compares `run` with the run saved at `path`, query by query.
fn parity(path: &Path, run: &[RunLine]) -> crate::Result<Parity> {
    let saved: HashMap<String, Vec<String>> = crate::jsonl::read::<RunLine>(path)?
        .into_iter()
        .map(|l| (l.query, l.top_10))
        .collect();
    let both: Vec<&RunLine> = run
        .iter()
        .filter(|l| saved.contains_key(&l.query))
        .collect();
    let identical = both
        .iter()
        .filter(|l| saved.get(&l.query) == Some(&l.top_10))
        .count();
    Ok(Parity {
        with: path.to_path_buf(),
        queries: both.len(),
        identical_top_10: identical,
        share: identical as f64 / both.len().max(1) as f64,
    })
}
