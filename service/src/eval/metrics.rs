//! Ranking metrics with binary relevance (nDCG@k, Recall@k, MRR@k) and latency
//! percentiles.
//!
//! Definitions follow trec_eval: a judged document with a grade above zero is
//! relevant; the ideal DCG places every relevant document first. Pure functions,
//! no I/O.

use std::collections::HashSet;

use serde::Serialize;

/// nDCG@k: discounted gain of relevant documents in the top `k`, divided by the best
/// achievable. 0 when nothing is relevant.
pub fn ndcg_at<S: AsRef<str>>(ranked: &[S], relevant: &HashSet<String>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, d)| relevant.contains(d.as_ref()))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    if ideal == 0.0 {
        0.0
    } else {
        dcg / ideal
    }
}

/// Recall@k: the share of relevant documents found in the top `k`.
pub fn recall_at<S: AsRef<str>>(ranked: &[S], relevant: &HashSet<String>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| relevant.contains(d.as_ref()))
        .count();
    found as f64 / relevant.len() as f64
}

/// MRR@k: the reciprocal rank of the first relevant document within the top `k`.
pub fn mrr_at<S: AsRef<str>>(ranked: &[S], relevant: &HashSet<String>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| relevant.contains(d.as_ref()))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean.
    pub mean: f64,
}

/// Percentiles by nearest rank.
pub fn percentiles(values: &mut [f64]) -> Percentiles {
    if values.is_empty() {
        return Percentiles {
            p50: 0.0,
            p95: 0.0,
            p99: 0.0,
            mean: 0.0,
        };
    }
    values.sort_by(f64::total_cmp);
    let at =
        |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        mean: values.iter().sum::<f64>() / values.len() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ndcg_hand_computed() {
        // Relevant at ranks 1 and 3 of 2 relevant: DCG = 1 + 1/log2(4) = 1.5;
        // IDCG = 1 + 1/log2(3) = 1.6309...
        let v = ndcg_at(&["a", "x", "b", "y"], &rel(&["a", "b"]), 10);
        assert!((v - 1.5 / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12, "{v}");
        assert_eq!(ndcg_at(&["a", "b"], &rel(&["a", "b"]), 10), 1.0);
        assert_eq!(ndcg_at(&["x", "y"], &rel(&["a"]), 10), 0.0);
        // Only the top k count, and the ideal is capped at k.
        let v = ndcg_at(&["x", "a"], &rel(&["a", "b", "c"]), 1);
        assert_eq!(v, 0.0);
        let v = ndcg_at(&["x", "a"], &rel(&["a"]), 2);
        assert!((v - 1.0 / 3f64.log2()).abs() < 1e-12);
    }

    #[test]
    fn recall_hand_computed() {
        assert_eq!(
            recall_at(&["a", "x", "b"], &rel(&["a", "b", "c", "d"]), 100),
            0.5
        );
        assert_eq!(recall_at(&["a", "x", "b"], &rel(&["a", "b"]), 2), 0.5);
        assert_eq!(recall_at(&["a"], &rel(&[]), 2), 0.0);
    }

    #[test]
    fn mrr_hand_computed() {
        assert_eq!(mrr_at(&["x", "y", "a"], &rel(&["a", "y"]), 10), 0.5);
        assert_eq!(mrr_at(&["x", "y", "a"], &rel(&["a"]), 2), 0.0);
        assert_eq!(mrr_at(&["a"], &rel(&["a"]), 10), 1.0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50, p.p95, p.p99), (50.0, 95.0, 99.0));
        assert_eq!(p.mean, 50.5);
    }
}
