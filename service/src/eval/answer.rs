//! Answer-level evaluation: how often a corpus answers the questions it should,
//! declines the ones it should not, and cites a relevant document first.
//!
//! Drives [`Answerer`] like any caller. Each question is asked once, so no answer
//! comes from the cache.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::metrics::{percentiles, Percentiles};
use crate::answer::{Answerer, Outcome, Question, Reason};
use crate::Error;

/// A judged question: its text and, when known, the relevant document ids.
#[derive(Debug, Clone, Deserialize)]
pub struct Judged {
    /// The question.
    pub text: String,
    /// Relevant document ids; empty when not judged.
    #[serde(default)]
    pub relevant: Vec<String>,
}

/// Reads a JSON-lines file of questions (`text`, optional `relevant`).
///
/// # Errors
///
/// I/O errors, [`Error::BadDocument`] for a malformed line, [`Error::InvalidRequest`]
/// for a file without questions.
pub fn read_questions(path: &Path) -> crate::Result<Vec<Judged>> {
    let qs: Vec<Judged> = crate::jsonl::read(path)?;
    let qs: Vec<Judged> = qs
        .into_iter()
        .filter(|q| !q.text.trim().is_empty())
        .collect();
    if qs.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "{} holds no question (JSON lines with a `text` field)",
            path.display()
        )));
    }
    Ok(qs)
}

/// What an answer run measured.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerReport {
    /// The corpus asked.
    pub corpus: String,
    /// In-scope questions asked.
    pub in_scope: usize,
    /// Share of them answered.
    pub in_scope_answered: f64,
    /// Answered in-scope questions whose relevance is judged.
    pub judged_answered: usize,
    /// Share of those whose first citation is a relevant document.
    pub first_citation_relevant: f64,
    /// On-topic questions the corpus cannot answer, asked.
    pub unanswerable: usize,
    /// Share of them declared unsupported.
    pub unanswerable_unsupported: f64,
    /// Out-of-scope questions asked.
    pub out_of_scope: usize,
    /// Share of them declared unsupported.
    pub out_of_scope_unsupported: f64,
    /// Unsupported outcomes by reason, over both sets.
    pub reasons: BTreeMap<String, usize>,
    /// Per-question answer latency, in milliseconds.
    pub latency_ms: Percentiles,
}

/// Asks every question of every set in corpus `name`: questions it should answer,
/// on-topic questions it cannot answer (may be empty), and off-topic ones.
///
/// # Errors
///
/// [`Error::UnknownCorpus`], index and model errors.
pub fn run(
    answerer: &Answerer,
    name: &str,
    in_scope: &[Judged],
    unanswerable: &[Judged],
    out_of_scope: &[Judged],
) -> crate::Result<AnswerReport> {
    let mut latencies = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut ask = |q: &Judged| -> crate::Result<Outcome> {
        let started = Instant::now();
        let a = answerer.answer(&Question {
            text: &q.text,
            corpus: Some(name),
            as_of: None,
            top_k: None,
        })?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if let Outcome::Unsupported(r) = a.outcome {
            let key = match r {
                Reason::OutOfScope => "out_of_scope",
                Reason::InsufficientEvidence => "insufficient_evidence",
                Reason::Blocked => "blocked",
            };
            *reasons.entry(key.to_owned()).or_default() += 1;
        }
        Ok(a.outcome)
    };
    let (mut answered, mut judged, mut relevant_first) = (0, 0, 0);
    for q in in_scope {
        if let Outcome::Answered(c) = ask(q)? {
            answered += 1;
            if !q.relevant.is_empty() {
                judged += 1;
                if c.citations
                    .first()
                    .is_some_and(|c| q.relevant.contains(&c.doc_id.0))
                {
                    relevant_first += 1;
                }
            }
        }
    }
    let mut declined = |set: &[Judged]| -> crate::Result<usize> {
        let mut n = 0;
        for q in set {
            if matches!(ask(q)?, Outcome::Unsupported(_)) {
                n += 1;
            }
        }
        Ok(n)
    };
    let (declined_unanswerable, declined) = (declined(unanswerable)?, declined(out_of_scope)?);
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(AnswerReport {
        corpus: name.to_owned(),
        in_scope: in_scope.len(),
        in_scope_answered: share(answered, in_scope.len()),
        judged_answered: judged,
        first_citation_relevant: share(relevant_first, judged),
        unanswerable: unanswerable.len(),
        unanswerable_unsupported: share(declined_unanswerable, unanswerable.len()),
        out_of_scope: out_of_scope.len(),
        out_of_scope_unsupported: share(declined, out_of_scope.len()),
        reasons,
        latency_ms: percentiles(&mut latencies),
    })
}
