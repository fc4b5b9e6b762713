//! The checks a calibration may add to the support model: the names check,
//! the evidence check, the answer check, and the citation threshold of
//! generated sentences.

use serde::{Deserialize, Serialize};

use super::super::Signals;
use super::{Group, Logistic, ANSWER_FEATURES, ANSWER_MIN_UNANSWERABLE};
use super::{EVIDENCE_FEATURES, EVIDENCE_MIN_EACH};

/// Declines a question the support model would answer when it names
/// something the corpus never mentions ([`Signals::unknown`]): "How do I
/// change a Veeam backup job's schedule?" asked of a backup server's manual.
/// Kept only when, on the calibration questions, it declines a larger share
/// of those to decline (unanswerable plus off-topic) than of those to answer:
/// a corpus whose users name things its documents never do (a claim's rare
/// gene, say) keeps answering them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamesCheck {
    /// Share of the in-scope questions it declines.
    pub in_scope_declined: f32,
    /// Share of the unanswerable questions it declines.
    pub unanswerable_declined: f32,
    /// Share of the out-of-scope questions it declines.
    pub out_of_scope_declined: f32,
}

impl NamesCheck {
    /// The check for questions whose signals the support model answers when
    /// `answers` says so; None when it would not help. Shares are of each
    /// whole group, so that they add up with the support model's.
    pub(super) fn fit(
        answerable: &[Signals],
        unanswerable: &[Signals],
        out_of_scope: &[Signals],
        answers: impl Fn(&Signals) -> bool,
    ) -> Option<NamesCheck> {
        let declined = |set: &[Signals]| {
            let n = set.iter().filter(|s| s.unknown > 0.0 && answers(s)).count();
            n as f32 / set.len().max(1) as f32
        };
        let check = NamesCheck {
            in_scope_declined: declined(answerable),
            unanswerable_declined: declined(unanswerable),
            out_of_scope_declined: declined(out_of_scope),
        };
        // The mean of the groups' accuracies, which the support threshold
        // maximises too, rises by what it declines of each group to decline,
        // less what it declines of the answerable ones.
        (check.unanswerable_declined + check.out_of_scope_declined > check.in_scope_declined)
            .then_some(check)
    }
}

/// A model of whether a composed answer answers its question, learnt from
/// the answers composed for questions the corpus should answer and for
/// on-topic questions its documents cannot answer. Its threshold is the cut
/// that declines the most unanswerable questions while declining at most the
/// allowed share of the answerable ones, and no more of them than that needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerCheck {
    /// Its probability that the answer answers; below the threshold the
    /// question is declined as `insufficient_evidence`.
    pub model: Logistic,
    /// Share of the answerable questions (of those composed) it declines.
    pub answerable_declined: f32,
    /// Share of the unanswerable questions (of those composed) it declines.
    pub unanswerable_declined: f32,
}

impl AnswerCheck {
    /// Fits the check on the answers composed for answerable questions against
    /// those composed for unanswerable ones and for off-topic ones that got as
    /// far (neither should be answered); None with too few unanswerable or
    /// answerable questions.
    pub(super) fn fit(
        answerable: &[Signals],
        unanswerable: &[Signals],
        off_topic: &[Signals],
        max_declined: f32,
    ) -> Option<AnswerCheck> {
        if unanswerable.len() < ANSWER_MIN_UNANSWERABLE
            || answerable.len() < ANSWER_MIN_UNANSWERABLE
        {
            return None;
        }
        let mut model = Logistic::fit(
            &ANSWER_FEATURES,
            &[
                Group {
                    signals: answerable,
                    positive: true,
                },
                Group {
                    signals: unanswerable,
                    positive: false,
                },
                Group {
                    signals: off_topic,
                    positive: false,
                },
            ],
        );
        let mut yes: Vec<f32> = answerable.iter().map(|s| model.probability(s)).collect();
        yes.sort_by(f32::total_cmp);
        let no: Vec<f32> = unanswerable
            .iter()
            .chain(off_topic)
            .map(|s| model.probability(s))
            .collect();
        // Declining the k least likely answerable questions: the cut halfway
        // between the k-th and the next. Within the allowed share, the cut
        // that declines the most unanswerable questions net of the answerable
        // ones it declines (the fewest declines on a tie).
        let limit =
            ((max_declined.clamp(0.0, 1.0) * yes.len() as f32).floor() as usize).min(yes.len() - 1);
        let cut = |k: usize| match k {
            0 => yes[0].next_down().max(0.0),
            k => (yes[k - 1] + yes[k]) / 2.0,
        };
        // Each answerable question declined costs what each unanswerable one
        // declined gains: the cut is worth its catch net of its declines.
        let net = |k: usize| no.iter().filter(|p| **p < cut(k)).count() as i64 - k as i64;
        let best = (0..=limit).fold(0, |best, k| if net(k) > net(best) { k } else { best });
        model.threshold = cut(best);
        let share = |set: &[Signals]| {
            set.iter()
                .filter(|s| model.probability(s) < model.threshold)
                .count() as f32
                / set.len() as f32
        };
        Some(AnswerCheck {
            answerable_declined: share(answerable),
            unanswerable_declined: share(unanswerable),
            model,
        })
    }

    /// Whether the composed answer, whose fit is in `s`, answers the question.
    pub fn answers(&self, s: &Signals) -> bool {
        self.model.probability(s) >= self.model.threshold
    }
}

/// A model of whether the best-ranked document is relevant, and how its
/// threshold was chosen: on the judged in-scope questions the support model
/// answers, the cut that leaves the highest share of answers with a relevant
/// first document while declining at most the allowed share of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceCheck {
    /// Its probability that the best document is relevant; below the
    /// threshold the question is declined as `insufficient_evidence`.
    pub model: Logistic,
    /// Judged questions it was fitted on.
    pub questions: usize,
    /// Share of them it declines.
    pub declined: f32,
    /// Share of them whose best document is relevant.
    pub top_relevant: f32,
    /// The same share among those it does not decline.
    pub top_relevant_answered: f32,
}

impl EvidenceCheck {
    /// Fits the check on judged questions, `(signals, best document relevant)`.
    /// None when there are too few of either kind to learn from.
    pub(super) fn fit(judged: &[(Signals, bool)], max_declined: f32) -> Option<EvidenceCheck> {
        let right: Vec<Signals> = judged.iter().filter(|j| j.1).map(|j| j.0).collect();
        let wrong: Vec<Signals> = judged.iter().filter(|j| !j.1).map(|j| j.0).collect();
        if max_declined <= 0.0 || right.len() < EVIDENCE_MIN_EACH || wrong.len() < EVIDENCE_MIN_EACH
        {
            return None;
        }
        let mut model = Logistic::fit(
            &EVIDENCE_FEATURES,
            &[
                Group {
                    signals: &right,
                    positive: true,
                },
                Group {
                    signals: &wrong,
                    positive: false,
                },
            ],
        );
        let mut scored: Vec<(f32, bool)> = judged
            .iter()
            .map(|(s, relevant)| (model.probability(s), *relevant))
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = scored.len();
        let relevant = right.len();
        let limit = ((max_declined.clamp(0.0, 1.0) * n as f32).floor() as usize).min(n - 1);
        // Declining the k least likely: the share relevant among the rest.
        let (mut best_k, mut best_share) = (0, relevant as f32 / n as f32);
        let mut relevant_declined = 0;
        for k in 1..=limit {
            relevant_declined += usize::from(scored[k - 1].1);
            let share = (relevant - relevant_declined) as f32 / (n - k) as f32;
            if share > best_share {
                (best_k, best_share) = (k, share);
            }
        }
        model.threshold = match best_k {
            0 => 0.0,
            k if scored[k - 1].0 < scored[k].0 => (scored[k - 1].0 + scored[k].0) / 2.0,
            k => scored[k].0,
        };
        let declined = scored.iter().filter(|(p, _)| *p < model.threshold).count();
        let kept_relevant = scored
            .iter()
            .filter(|(p, r)| *p >= model.threshold && *r)
            .count();
        Some(EvidenceCheck {
            model,
            questions: n,
            declined: declined as f32 / n as f32,
            top_relevant: relevant as f32 / n as f32,
            top_relevant_answered: kept_relevant as f32 / (n - declined).max(1) as f32,
        })
    }
}

/// The support score a generated sentence needs from the sources it cites, and
/// how it was chosen: the score that few wrong citations reach. A wrong
/// citation is a sentence of the corpus paired with the best-ranked chunk of
/// another document, the most plausible wrong source there is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitationThreshold {
    /// The score a sentence needs.
    pub threshold: f32,
    /// Sentence–wrong-source pairs it was chosen on.
    pub pairs: usize,
    /// Share of those wrong pairs that reach it.
    pub wrong_accepted: f32,
    /// Share of the same sentences that reach it with their own source.
    pub quotes_accepted: f32,
}
