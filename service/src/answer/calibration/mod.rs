//! The support decision's models: may this corpus answer this question, and if
//! not, why not? Logistic models, fitted by `candor calibrate` on questions the
//! corpus should answer and questions it should not, turn the
//! [`Signals`](super::Signals) into numbers with learnt thresholds: a *support*
//! model (its output is the answer's confidence) that tells the corpus's
//! topics from others, and a *scope* model over the topical signals alone,
//! which tells "out of scope" from "in scope, but not supported by the
//! evidence". When the calibration questions name their relevant documents, an
//! *evidence check* learns when the best-ranked document is likely the wrong one
//! (typically when the lexical and dense rankings each prefer another) and
//! declines those few questions rather than cite a wrong source first. When
//! calibration has on-topic questions the documents cannot answer, an *answer
//! check* learns, from the answers composed for them, when an answer does not
//! fit its question, and declines those as insufficient evidence.
//! The fitted models live in the corpus folder, never in code.

mod checks;
pub mod fit;
mod logistic;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use checks::{AnswerCheck, CitationThreshold, EvidenceCheck, NamesCheck};
use logistic::Group;
pub use logistic::Logistic;

use super::Signals;
use crate::Error;

/// The file, in the corpus folder, that holds the fitted models.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// Which signals a model reads, by name, in the order of its weights.
const SUPPORT_FEATURES: [&str; 7] = [
    "missing",
    "dense_best",
    "dense_mean",
    "coverage",
    "agreement",
    "scope",
    "examples",
];
const SCOPE_FEATURES: [&str; 3] = ["dense_mean", "scope", "examples"];
const EVIDENCE_FEATURES: [&str; 4] = ["lead", "agreement", "dense_best", "coverage"];
const ANSWER_FEATURES: [&str; 7] = [
    "answer",
    "meaning",
    "coverage",
    "missing",
    "dense_best",
    "agreement",
    "lead",
];
/// The answer check is fitted only with at least this many unanswerable
/// questions to learn from.
pub const ANSWER_MIN_UNANSWERABLE: usize = 5;
/// The evidence check is fitted only with at least this many judged questions
/// whose best document is relevant, and as many whose best document is not.
pub const EVIDENCE_MIN_EACH: usize = 10;

/// Signals of labelled questions, for [`Calibration::fit`].
pub struct Labelled<'a> {
    /// Questions the corpus should answer.
    pub answerable: &'a [Signals],
    /// Those of them whose relevant documents are known, with whether the
    /// best-ranked document is one of them; may be empty.
    pub judged: &'a [(Signals, bool)],
    /// The largest share of the judged questions the evidence check may decline.
    pub max_ambiguous: f32,
    /// On-topic questions its documents cannot answer; may be empty.
    pub unanswerable: &'a [Signals],
    /// Questions about something else.
    pub out_of_scope: &'a [Signals],
    /// The largest share of the answerable questions the answer check may
    /// decline.
    pub max_unanswered: f32,
}

/// Why a question may not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The evidence supports an answer.
    Supported,
    /// The question is about something the corpus does not cover.
    OutOfScope,
    /// The question is on topic, but the evidence does not support an answer.
    InsufficientEvidence,
    /// The evidence check expects the best-ranked document to be the wrong one.
    AmbiguousEvidence,
    /// The question is on topic, but names something the corpus never
    /// mentions ([`NamesCheck`]).
    UnknownName,
}

/// The fitted models of one corpus and what they were fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Decides whether to answer; its probability is the answer's confidence.
    pub support: Logistic,
    /// Decides whether an unanswered question is out of scope.
    pub scope: Logistic,
    /// In-scope questions fitted on.
    pub in_scope_questions: usize,
    /// Out-of-scope questions fitted on.
    pub out_of_scope_questions: usize,
    /// In-scope questions the corpus cannot answer, fitted on.
    #[serde(default)]
    pub unanswerable_questions: usize,
    /// Share of the in-scope questions the fitted models answer.
    pub in_scope_answered: f32,
    /// Share of the out-of-scope questions the fitted models decline.
    pub out_of_scope_declined: f32,
    /// Share of the unanswerable questions the fitted models decline.
    #[serde(default)]
    pub unanswerable_declined: f32,
    /// When the fit ran (RFC 3339).
    pub calibrated_at: String,
    /// The support a generated sentence needs from the sources it cites (the
    /// `llm` composer); absent in calibrations made before there was one.
    #[serde(default)]
    pub citation: Option<CitationThreshold>,
    /// Declines questions that name something the corpus never mentions;
    /// absent when such names did not mark the questions to decline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<NamesCheck>,
    /// Declines answerable-looking questions whose best document is likely
    /// wrong; absent when no calibration question named its relevant documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceCheck>,
    /// Declines questions whose composed answer does not fit them; absent when
    /// calibration had too few unanswerable questions to learn from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerCheck>,
}

impl Calibration {
    /// Fits both models on the signals of questions the corpus should answer
    /// and of questions it should decline: off-topic ones, and on-topic ones its
    /// documents cannot answer (optional; they teach `insufficient_evidence`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when there are no answerable or no out-of-scope
    /// questions.
    pub fn fit(set: &Labelled<'_>) -> crate::Result<Calibration> {
        if set.answerable.is_empty() || set.out_of_scope.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "calibration needs questions of both kinds; got {} in scope and {} out of scope",
                set.answerable.len(),
                set.out_of_scope.len()
            )));
        }
        let group = |signals, positive| Group { signals, positive };
        // Whether the documents answer an on-topic question is for the answer
        // check to judge, on the answer composed; the support model tells the
        // corpus's topics from others.
        let support = Logistic::fit(
            &SUPPORT_FEATURES,
            &[group(set.answerable, true), group(set.out_of_scope, false)],
        );
        let scope = Logistic::fit(
            &SCOPE_FEATURES,
            &[
                group(set.answerable, true),
                group(set.unanswerable, true),
                group(set.out_of_scope, false),
            ],
        );
        let mut c = Calibration {
            support,
            scope,
            in_scope_questions: set.answerable.len(),
            out_of_scope_questions: set.out_of_scope.len(),
            unanswerable_questions: set.unanswerable.len(),
            in_scope_answered: 0.0,
            out_of_scope_declined: 0.0,
            unanswerable_declined: 0.0,
            calibrated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            citation: None,
            names: None,
            evidence: None,
            answer: None,
        };
        c.evidence = c.fit_evidence(set);
        c.answer = c.fit_answer(set);
        // Last, so that the checks before it are fitted as they would be
        // without it, and it judges only what they let through.
        c.names = NamesCheck::fit(set.answerable, set.unanswerable, set.out_of_scope, |s| {
            c.answers(s)
        });
        (
            c.in_scope_answered,
            c.out_of_scope_declined,
            c.unanswerable_declined,
        ) = c.rates(set);
        Ok(c)
    }

    /// Fits the evidence check on the judged questions of `set`.
    fn fit_evidence(&self, set: &Labelled<'_>) -> Option<EvidenceCheck> {
        // The check learns only from the questions the support model answers:
        // the others never reach it.
        let judged: Vec<(Signals, bool)> = set
            .judged
            .iter()
            .filter(|(s, _)| self.decide(s).1 == Verdict::Supported)
            .copied()
            .collect();
        EvidenceCheck::fit(&judged, set.max_ambiguous)
    }

    /// Fits the answer check, after the support model and the evidence check.
    fn fit_answer(&self, set: &Labelled<'_>) -> Option<AnswerCheck> {
        // The answer check, too, sees only what the models before it let through.
        // A question no sentence matched (fit 0) has no answer to judge.
        let through = |set: &[Signals]| -> Vec<Signals> {
            set.iter()
                .filter(|s| s.answer > 0.0 && self.decide(s).1 == Verdict::Supported)
                .copied()
                .collect()
        };
        // It learns what an answer that answers looks like from the answerable
        // questions, less those whose best document is known to be wrong: what
        // is composed from the wrong document answers nothing.
        let answered_right: Vec<Signals> = set
            .answerable
            .iter()
            .filter(|s| !set.judged.contains(&(**s, false)))
            .copied()
            .collect();
        AnswerCheck::fit(
            &through(&answered_right),
            &through(set.unanswerable),
            &through(set.out_of_scope),
            set.max_unanswered,
        )
    }

    /// The shares of `set`'s in-scope questions the fitted models answer, and
    /// of its out-of-scope and unanswerable questions they decline.
    fn rates(&self, set: &Labelled<'_>) -> (f32, f32, f32) {
        let answered = |set: &[Signals]| {
            let yes = set.iter().filter(|s| self.answers(s)).count();
            yes as f32 / set.len().max(1) as f32
        };
        (
            answered(set.answerable),
            1.0 - answered(set.out_of_scope),
            1.0 - answered(set.unanswerable),
        )
    }

    /// Whether the fitted models answer a question with signals `s`.
    fn answers(&self, s: &Signals) -> bool {
        self.decide(s).1 == Verdict::Supported && self.answer.as_ref().is_none_or(|a| a.answers(s))
    }

    /// The confidence in [0, 1] and the verdict for a question's signals.
    pub fn decide(&self, s: &Signals) -> (f32, Verdict) {
        let confidence = self.support.probability(s);
        let on_topic = || self.scope.probability(s) >= self.scope.threshold;
        if confidence >= self.support.threshold {
            if self.names.is_some() && s.unknown > 0.0 {
                let verdict = if on_topic() {
                    Verdict::UnknownName
                } else {
                    Verdict::OutOfScope
                };
                return (confidence, verdict);
            }
            let ambiguous = self
                .evidence
                .as_ref()
                .is_some_and(|e| e.model.probability(s) < e.model.threshold);
            let verdict = if ambiguous {
                Verdict::AmbiguousEvidence
            } else {
                Verdict::Supported
            };
            return (confidence, verdict);
        }
        let verdict = if on_topic() {
            Verdict::InsufficientEvidence
        } else {
            Verdict::OutOfScope
        };
        (confidence, verdict)
    }

    /// The calibration stored in the corpus folder `root`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file and what is wrong when it exists but is not
    /// a calibration this build understands.
    pub fn load(root: &Path) -> crate::Result<Option<Calibration>> {
        let path = root.join(CALIBRATION_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let bad = |key: &str, message: String| Error::Config {
            file: path.clone(),
            key: key.into(),
            message,
        };
        let mut de = serde_json::Deserializer::from_str(&text);
        let c: Calibration = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            bad(
                &e.path().to_string(),
                format!("{}; re-run `candor calibrate`", e.inner()),
            )
        })?;
        c.support
            .check(&SUPPORT_FEATURES)
            .map_err(|m| bad("support", m))?;
        c.scope
            .check(&SCOPE_FEATURES)
            .map_err(|m| bad("scope", m))?;
        if let Some(e) = &c.evidence {
            e.model
                .check(&EVIDENCE_FEATURES)
                .map_err(|m| bad("evidence.model", m))?;
        }
        if let Some(a) = &c.answer {
            a.model
                .check(&ANSWER_FEATURES)
                .map_err(|m| bad("answer.model", m))?;
        }
        if let Some(t) = c.citation.map(|c| c.threshold) {
            if !(0.0..=1.0).contains(&t) {
                return Err(bad(
                    "citation.threshold",
                    format!("must be in [0, 1], got {t}; re-run `candor calibrate`"),
                ));
            }
        }
        Ok(Some(c))
    }

    /// Writes the calibration into the corpus folder `root`, replacing any earlier
    /// one atomically. Returns the file's path.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn save(&self, root: &Path) -> crate::Result<PathBuf> {
        let path = root.join(CALIBRATION_FILE);
        let tmp = root.join(format!("{CALIBRATION_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("calibration to JSON: {e}")))?;
        std::fs::write(&tmp, text + "\n").map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
        Ok(path)
    }
}
