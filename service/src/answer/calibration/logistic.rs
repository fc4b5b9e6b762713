//! A logistic model over named signals, and how it is fitted and cut.

use serde::{Deserialize, Serialize};

use super::super::Signals;

/// A logistic model over named signals, with its decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logistic {
    /// Signal names, in weight order.
    pub features: Vec<String>,
    /// Per-signal mean over the calibration questions (for standardising).
    pub mean: Vec<f32>,
    /// Per-signal standard deviation over the calibration questions.
    pub std: Vec<f32>,
    /// Weights of the standardised signals.
    pub weights: Vec<f32>,
    /// Intercept.
    pub bias: f32,
    /// Probabilities at or above this are positive.
    pub threshold: f32,
}

impl Logistic {
    /// The model's probability that `s` is positive.
    pub fn probability(&self, s: &Signals) -> f32 {
        let z: f32 = self
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| self.weights[i] * (s.get(f).unwrap_or(0.0) - self.mean[i]) / self.std[i])
            .sum::<f32>()
            + self.bias;
        1.0 / (1.0 + (-z).exp())
    }

    pub(super) fn check(&self, expected: &[&str]) -> Result<(), String> {
        if self.features != expected {
            return Err(format!(
                "expects signals {expected:?}, found {:?}",
                self.features
            ));
        }
        let n = expected.len();
        if self.mean.len() != n || self.std.len() != n || self.weights.len() != n {
            return Err(format!("mean, std and weights must each hold {n} numbers"));
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("every std must be a positive number".into());
        }
        // JSON numbers beyond f32's range arrive as infinities, which would
        // pin every probability to 0 or 1, or make it NaN.
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !(finite(&self.mean) && finite(&self.weights) && self.bias.is_finite()) {
            return Err("mean, weights and bias must be finite numbers".into());
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(format!(
                "threshold must be in [0, 1], got {}",
                self.threshold
            ));
        }
        Ok(())
    }

    /// Fits a lightly regularised logistic regression by gradient descent from zero
    /// (deterministic). Each group of questions (positive or not) weighs the same
    /// in total, however many questions it holds, and the threshold maximises the
    /// mean of the groups' accuracies.
    pub(super) fn fit(features: &[&str], groups: &[Group<'_>]) -> Logistic {
        let row = |s: &Signals| {
            features
                .iter()
                .map(|f| s.get(f).unwrap_or(0.0))
                .collect::<Vec<f32>>()
        };
        let groups: Vec<&Group<'_>> = groups.iter().filter(|g| !g.signals.is_empty()).collect();
        // (features, label, weight); the weights sum to the number of rows.
        let total = groups.iter().map(|g| g.signals.len()).sum::<usize>().max(1) as f32;
        let rows: Vec<(Vec<f32>, f32, f32)> = groups
            .iter()
            .flat_map(|g| {
                let w = total / (groups.len() as f32 * g.signals.len() as f32);
                let y = if g.positive { 1.0 } else { 0.0 };
                g.signals.iter().map(move |s| (row(s), y, w))
            })
            .collect();
        let n = features.len();
        let count = rows.len().max(1) as f32;
        let mean: Vec<f32> = (0..n)
            .map(|i| rows.iter().map(|r| r.0[i]).sum::<f32>() / count)
            .collect();
        let std: Vec<f32> = (0..n)
            .map(|i| {
                (rows.iter().map(|r| (r.0[i] - mean[i]).powi(2)).sum::<f32>() / count)
                    .sqrt()
                    .max(1e-4)
            })
            .collect();
        let x: Vec<Vec<f32>> = rows
            .iter()
            .map(|r| (0..n).map(|i| (r.0[i] - mean[i]) / std[i]).collect())
            .collect();
        let (mut weights, mut bias) = (vec![0.0f32; n], 0.0f32);
        const STEPS: usize = 3000;
        const RATE: f32 = 0.5;
        const L2: f32 = 1e-3;
        for _ in 0..STEPS {
            let mut grad = vec![0.0f32; n];
            let mut grad_b = 0.0f32;
            for (xi, (_, y, w)) in x.iter().zip(&rows) {
                let z: f32 = xi.iter().zip(&weights).map(|(a, w)| a * w).sum::<f32>() + bias;
                let p = 1.0 / (1.0 + (-z).exp());
                let err = w * (p - y);
                for i in 0..n {
                    grad[i] += err * xi[i];
                }
                grad_b += err;
            }
            for i in 0..n {
                weights[i] -= RATE * (grad[i] / count + L2 * weights[i]);
            }
            bias -= RATE * grad_b / count;
        }
        let mut model = Logistic {
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            mean,
            std,
            weights,
            bias,
            threshold: 0.5,
        };
        let scored: Vec<(Vec<f32>, bool)> = groups
            .iter()
            .map(|g| {
                (
                    g.signals.iter().map(|s| model.probability(s)).collect(),
                    g.positive,
                )
            })
            .collect();
        model.threshold = best_threshold(&scored);
        model
    }
}

/// Questions of one kind, and whether the model should say yes to them.
pub(super) struct Group<'a> {
    pub(super) signals: &'a [Signals],
    pub(super) positive: bool,
}

/// The cut that maximises the mean over groups of the share classified right
/// (positives at or above it, the others below). Among equally good cuts the
/// middle one is taken, which leaves the widest margin on both sides.
pub(super) fn best_threshold(groups: &[(Vec<f32>, bool)]) -> f32 {
    let mut values: Vec<f32> = groups.iter().flat_map(|g| g.0.iter().copied()).collect();
    values.sort_by(f32::total_cmp);
    values.dedup();
    if values.is_empty() {
        return 0.5;
    }
    let mut cuts = vec![0.0f32];
    cuts.extend(values.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    cuts.push(1.0);
    let score = |t: f32| {
        groups
            .iter()
            .map(|(p, positive)| {
                p.iter().filter(|v| (**v >= t) == *positive).count() as f32 / p.len().max(1) as f32
            })
            .sum::<f32>()
    };
    let scores: Vec<f32> = cuts.iter().map(|t| score(*t)).collect();
    let best = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let winners: Vec<f32> = cuts
        .iter()
        .zip(&scores)
        .filter(|(_, s)| **s >= best - 1e-6)
        .map(|(t, _)| *t)
        .collect();
    winners[winners.len() / 2]
}
