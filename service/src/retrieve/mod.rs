//! Retrieval: BM25 and dense search run concurrently, then fuse into one ranking
//! of chunks or of documents.
//!
//! Fusion is reciprocal rank fusion or a weighted blend of z-score normalised
//! scores, per corpus. Every score that went into a result is kept, so callers can
//! explain a ranking. Ties are broken by id, so a query always ranks the same way.
//! This module must not compose answers or know about HTTP.

pub mod corpora;
pub mod recency;

use std::collections::HashMap;
use std::hash::Hash;

use serde::Serialize;

use chrono::NaiveDate;

use crate::config::{Fusion, Recency, Retrieval};
use crate::embed::Embedder;
use crate::index::{ChunkId, Generation, VectorFilter};
use crate::ingest::DocId;
use crate::Error;

/// Which signals rank the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Lexical BM25 only.
    Bm25,
    /// Dense vectors only.
    Dense,
    /// Both, fused.
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(format!(
                "`{other}` is not a search mode; use bm25, dense or hybrid"
            )),
        }
    }
}

/// One ranked item with the scores that placed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored<K> {
    /// The chunk or document.
    pub id: K,
    /// BM25 score, if the lexical search found it.
    pub bm25: Option<f32>,
    /// Cosine similarity, if the dense search found it.
    pub dense: Option<f32>,
    /// The score the ranking is sorted by: fused relevance, blended with recency
    /// when recency applies.
    pub score: f32,
    /// The document's recency factor in [0, 1], when recency applies.
    pub recency: Option<f32>,
    /// True when a newer document of the same series outranks this one.
    pub superseded: bool,
}

/// A ranked document and its best chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedDoc {
    /// The document's scores.
    #[serde(flatten)]
    pub scored: Scored<DocId>,
    /// The chunk that scored best for it.
    pub best_chunk: ChunkId,
}

/// Everything one search needs besides the index.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The user's text.
    pub query: &'a str,
    /// Signals to use.
    pub mode: Mode,
    /// How many results to return.
    pub limit: usize,
    /// Restrictions on dates.
    pub filter: VectorFilter,
    /// Rank by recency too (with temporal intent and supersession); `None` ranks by
    /// relevance alone.
    pub recency: Option<Clock>,
}

/// Recency settings and the day that document ages are measured from.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The corpus's recency settings.
    pub settings: Recency,
    /// Today's date.
    pub today: NaiveDate,
}

/// Upper bound on results per request; more is a caller error.
pub const MAX_LIMIT: usize = 1000;

/// Raw per-signal chunk hits of one query.
struct Hits {
    lexical: Vec<(ChunkId, f32)>,
    dense: Vec<(ChunkId, f32)>,
}

fn retrieve(
    gen: &Generation,
    embedder: &Embedder,
    settings: &Retrieval,
    req: &Request<'_>,
) -> crate::Result<Hits> {
    if req.query.trim().is_empty() {
        return Err(Error::InvalidRequest("the query is empty".into()));
    }
    if req.limit == 0 || req.limit > MAX_LIMIT {
        return Err(Error::InvalidRequest(format!(
            "limit must be in 1..={MAX_LIMIT}, got {}",
            req.limit
        )));
    }
    // Several chunks can belong to one document, so fetch generously.
    let n = settings.candidates.max(req.limit * 2);
    let lexical = || -> crate::Result<Vec<(ChunkId, f32)>> {
        if req.mode == Mode::Dense {
            return Ok(Vec::new());
        }
        let hits = gen.lexical.search(req.query, n, settings.title_boost)?;
        Ok(match req.filter.not_after {
            // Tantivy holds no dates; apply the same date rule as the vector store.
            Some(cutoff) => hits
                .into_iter()
                .filter(|(id, _)| {
                    gen.chunks
                        .get(id.0 as usize)
                        .and_then(|c| c.date)
                        .is_some_and(|d| d <= cutoff)
                })
                .collect(),
            None => hits,
        })
    };
    let dense = || -> crate::Result<Vec<(ChunkId, f32)>> {
        if req.mode == Mode::Bm25 {
            return Ok(Vec::new());
        }
        let v = embedder.embed_one(&gen.respell(req.query, embedder))?;
        gen.vectors.search(&v, n, &req.filter)
    };
    let (lexical, dense) = match req.mode {
        Mode::Hybrid => std::thread::scope(|s| {
            let lex = s.spawn(lexical);
            let dense = dense();
            let lex = lex.join().unwrap_or_else(|_| {
                Err(Error::Internal("the lexical search thread panicked".into()))
            });
            (lex, dense)
        }),
        _ => (lexical(), dense()),
    };
    Ok(Hits {
        lexical: lexical?,
        dense: dense?,
    })
}

/// The best chunks for a query, fused as the corpus's settings say.
///
/// # Errors
///
/// [`Error::InvalidRequest`] for an empty query or a bad limit; index or model
/// errors otherwise.
pub fn search_chunks(
    gen: &Generation,
    embedder: &Embedder,
    settings: &Retrieval,
    req: &Request<'_>,
) -> crate::Result<Vec<Scored<ChunkId>>> {
    let Some(clock) = &req.recency else {
        let hits = retrieve(gen, embedder, settings, req)?;
        let mut fused = fuse(&hits.lexical, &hits.dense, req.mode, settings);
        fused.truncate(req.limit);
        return Ok(fused);
    };
    let intent = recency::intent(req.query);
    let not_after = match (req.filter.not_after, intent.resolve(gen)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let req = Request {
        filter: VectorFilter { not_after },
        ..req.clone()
    };
    let hits = retrieve(gen, embedder, settings, &req)?;
    let mut fused = fuse(&hits.lexical, &hits.dense, req.mode, settings);
    // Ages are measured from the as-of day when the question looks back in time.
    let today = not_after.map_or(clock.today, |d| d.min(clock.today));
    // The releases the question names join the candidates at the bottom;
    // the re-ranking decides where they belong.
    let floor = fused.iter().map(|s| s.score).fold(0.0f32, f32::min);
    for id in recency::implied(gen, &intent, today) {
        if !fused.iter().any(|s| s.id == id) {
            fused.push(Scored {
                score: floor,
                ..empty(&id)
            });
        }
    }
    let mut ranked = recency::rerank(gen, fused, &clock.settings, intent, today);
    ranked.truncate(req.limit);
    Ok(ranked)
}

/// The best documents for a query: each signal is aggregated per document (its best
/// chunk), then fused.
///
/// # Errors
///
/// As [`search_chunks`].
pub fn rank_documents(
    gen: &Generation,
    embedder: &Embedder,
    settings: &Retrieval,
    req: &Request<'_>,
) -> crate::Result<Vec<RankedDoc>> {
    let hits = retrieve(gen, embedder, settings, req)?;
    let per_doc = |hits: &[(ChunkId, f32)]| -> crate::Result<Vec<(DocId, f32)>> {
        let mut best: HashMap<&DocId, f32> = HashMap::new();
        for &(id, score) in hits {
            let s = best.entry(&gen.chunk(id)?.doc_id).or_insert(score);
            *s = s.max(score);
        }
        let mut v: Vec<(DocId, f32)> = best.into_iter().map(|(d, s)| (d.clone(), s)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(v)
    };
    let mut fused = fuse(
        &per_doc(&hits.lexical)?,
        &per_doc(&hits.dense)?,
        req.mode,
        settings,
    );
    fused.truncate(req.limit);
    // A document's best chunk is its first in the chunk-level fused ranking.
    let mut best_chunk: HashMap<&DocId, ChunkId> = HashMap::new();
    for c in fuse(&hits.lexical, &hits.dense, req.mode, settings) {
        best_chunk.entry(&gen.chunk(c.id)?.doc_id).or_insert(c.id);
    }
    fused
        .into_iter()
        .map(|s| {
            let best = best_chunk
                .get(&s.id)
                .copied()
                .ok_or_else(|| Error::Corrupt {
                    path: gen.manifest.corpus.clone().into(),
                    reason: format!("document {} ranked without a chunk", s.id),
                })?;
            Ok(RankedDoc {
                scored: s,
                best_chunk: best,
            })
        })
        .collect()
}

/// Fuses two rankings (each sorted best first) into one, sorted by fused score then id.
pub fn fuse<K: Clone + Eq + Hash + Ord>(
    lexical: &[(K, f32)],
    dense: &[(K, f32)],
    mode: Mode,
    settings: &Retrieval,
) -> Vec<Scored<K>> {
    let mut items: HashMap<K, Scored<K>> = HashMap::new();
    for (k, s) in lexical {
        items.entry(k.clone()).or_insert_with(|| empty(k)).bm25 = Some(*s);
    }
    for (k, s) in dense {
        items.entry(k.clone()).or_insert_with(|| empty(k)).dense = Some(*s);
    }
    let w = settings.dense_weight as f32;
    match mode {
        Mode::Bm25 => items
            .values_mut()
            .for_each(|i| i.score = i.bm25.unwrap_or(0.0)),
        Mode::Dense => items
            .values_mut()
            .for_each(|i| i.score = i.dense.unwrap_or(0.0)),
        Mode::Hybrid => match settings.fusion {
            Fusion::Rrf => {
                let k = settings.rrf_k as f32;
                let lex_rank: HashMap<&K, usize> = lexical
                    .iter()
                    .enumerate()
                    .map(|(r, (id, _))| (id, r + 1))
                    .collect();
                let dense_rank: HashMap<&K, usize> = dense
                    .iter()
                    .enumerate()
                    .map(|(r, (id, _))| (id, r + 1))
                    .collect();
                for (id, item) in items.iter_mut() {
                    let part = |rank: Option<&usize>| rank.map_or(0.0, |&r| 1.0 / (k + r as f32));
                    // Weights are scaled so that 0.5 gives classic, equal-weight RRF.
                    item.score =
                        2.0 * ((1.0 - w) * part(lex_rank.get(id)) + w * part(dense_rank.get(id)));
                }
            }
            Fusion::Blend => {
                let zl = ZScore::of(lexical);
                let zd = ZScore::of(dense);
                for item in items.values_mut() {
                    item.score = (1.0 - w) * zl.apply(item.bm25) + w * zd.apply(item.dense);
                }
            }
        },
    }
    let mut out: Vec<Scored<K>> = items.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    out
}

fn empty<K: Clone>(k: &K) -> Scored<K> {
    Scored {
        id: k.clone(),
        bm25: None,
        dense: None,
        score: 0.0,
        recency: None,
        superseded: false,
    }
}

/// Standardises one signal's scores over its candidate list. An item the signal
/// did not return counts as that list's lowest score: it ranked below every hit.
struct ZScore {
    mean: f32,
    std: f32,
    floor: f32,
}

impl ZScore {
    fn of<K>(hits: &[(K, f32)]) -> ZScore {
        if hits.is_empty() {
            return ZScore {
                mean: 0.0,
                std: 1.0,
                floor: 0.0,
            };
        }
        let n = hits.len() as f32;
        let mean = hits.iter().map(|h| h.1).sum::<f32>() / n;
        let var = hits.iter().map(|h| (h.1 - mean).powi(2)).sum::<f32>() / n;
        let floor = hits.iter().map(|h| h.1).fold(f32::INFINITY, f32::min);
        ZScore {
            mean,
            std: var.sqrt().max(1e-6),
            floor,
        }
    }

    fn apply(&self, score: Option<f32>) -> f32 {
        (score.unwrap_or(self.floor) - self.mean) / self.std
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(fusion: Fusion, dense_weight: f64) -> Retrieval {
        Retrieval {
            fusion,
            dense_weight,
            ..Retrieval::default()
        }
    }

    #[test]
    fn rrf_matches_hand_computation() {
        let lex = [("a", 9.0), ("b", 5.0)];
        let dense = [("b", 0.9), ("c", 0.8)];
        let out = fuse(&lex, &dense, Mode::Hybrid, &settings(Fusion::Rrf, 0.5));
        let ids: Vec<&str> = out.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec!["b", "a", "c"]);
        // b: 1/(60+2) + 1/(60+1); a: 1/61; c: 1/62.
        assert!((out[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert!((out[1].score - 1.0 / 61.0).abs() < 1e-6);
        assert_eq!(out[0].bm25, Some(5.0));
        assert_eq!(out[0].dense, Some(0.9));
    }

    #[test]
    fn blend_weights_shift_the_winner() {
        let lex = [("a", 10.0), ("b", 2.0), ("c", 1.0)];
        let dense = [("b", 0.9), ("a", 0.3), ("c", 0.2)];
        let lexical_heavy = fuse(&lex, &dense, Mode::Hybrid, &settings(Fusion::Blend, 0.1));
        let dense_heavy = fuse(&lex, &dense, Mode::Hybrid, &settings(Fusion::Blend, 0.9));
        assert_eq!(lexical_heavy[0].id, "a");
        assert_eq!(dense_heavy[0].id, "b");
    }

    #[test]
    fn single_modes_use_their_own_scores_and_ties_break_by_id() {
        let lex = [("z", 1.0), ("y", 1.0), ("x", 2.0)];
        let out = fuse(&lex, &[], Mode::Bm25, &settings(Fusion::Rrf, 0.5));
        let ids: Vec<&str> = out.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec!["x", "y", "z"]);
    }

    #[test]
    fn missing_signal_counts_as_the_lowest_seen() {
        let lex = [("a", 3.0), ("b", 1.0)];
        let dense = [("a", 0.5)];
        let out = fuse(&lex, &dense, Mode::Hybrid, &settings(Fusion::Blend, 0.5));
        assert_eq!(out[0].id, "a");
        assert!(out[1].dense.is_none());
    }

    #[test]
    fn modes_parse_and_reject_unknown() {
        assert_eq!("hybrid".parse::<Mode>(), Ok(Mode::Hybrid));
        assert!("fuzzy"
            .parse::<Mode>()
            .unwrap_err()
            .contains("bm25, dense or hybrid"));
    }
}
