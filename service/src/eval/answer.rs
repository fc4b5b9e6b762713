//! Answer-level evaluation: how often a corpus answers the questions it should,
//! declines the ones it should not, and cites a relevant document first.
//!
//! Drives [`Answerer`] like any caller. Each question is asked once, so no answer
//! comes from the cache.

mod ask;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use self::ask::{share, Asker, InScope};
use super::metrics::{mrr_at, ndcg_at, percentiles, recall_at, Percentiles};
use crate::answer::Answerer;
use crate::index::Generation;
use crate::retrieve::corpora::Query;
use crate::retrieve::Mode;
use crate::Error;

/// A judged question: its text and, when known, the relevant document ids.
#[derive(Debug, Clone, Deserialize)]
pub struct Judged {
    /// The question.
    pub text: String,
    /// Relevant document ids; empty when not judged.
    #[serde(default)]
    pub relevant: Vec<String>,
    /// In a mixed set (a feedback export): `answered` or `unsupported`; in a
    /// guardrail set, `blocked`.
    #[serde(default)]
    pub expect: Option<String>,
    /// Ask as of this day (documents dated after it are out of bounds).
    #[serde(default)]
    pub as_of: Option<chrono::NaiveDate>,
    /// For a guardrail case: the rule that must fire (`pii.request`).
    #[serde(default)]
    pub code: Option<String>,
    /// Short strings, one of which a correct answer's text contains
    /// (case-insensitive); absent when the answer is not judged by its text.
    #[serde(default)]
    pub gold: Option<Vec<String>>,
    /// The document the first citation should be; without it, any `relevant`
    /// document is expected first.
    #[serde(default)]
    pub doc: Option<String>,
}

impl Judged {
    /// The documents a first citation may be: `doc` when given, else `relevant`.
    fn expected_first(&self) -> Vec<&str> {
        match &self.doc {
            Some(d) => vec![d.as_str()],
            None => self.relevant.iter().map(String::as_str).collect(),
        }
    }

    /// True when `text` holds one of the gold strings, case-insensitively.
    pub fn gold_in(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        self.gold
            .iter()
            .flatten()
            .any(|g| !g.trim().is_empty() && text.contains(&g.trim().to_lowercase()))
    }
}

/// The questions of one evaluation, by what the corpus should do with them.
#[derive(Debug, Clone, Default)]
pub struct EvalSet {
    /// Questions it should answer.
    pub in_scope: Vec<Judged>,
    /// On-topic questions it cannot answer.
    pub unanswerable: Vec<Judged>,
    /// Off-topic questions.
    pub out_of_scope: Vec<Judged>,
    /// Questions a guardrail must block, each with the rule's code.
    pub guarded: Vec<Judged>,
}

/// The files of a corpus's eval folder. `recency.jsonl` holds in-scope questions
/// whose answer depends on time, and joins the in-scope set.
pub const EVAL_FILES: [&str; 5] = [
    "in_scope.jsonl",
    "recency.jsonl",
    "unanswerable.jsonl",
    "out_of_scope.jsonl",
    "guardrails.jsonl",
];

impl EvalSet {
    /// A corpus's own eval set: whichever of [`EVAL_FILES`] its `eval/` folder holds.
    ///
    /// # Errors
    ///
    /// As [`read_questions`]; [`Error::InvalidRequest`] when none of the files exists.
    pub fn from_folder(dir: &Path) -> crate::Result<EvalSet> {
        let read = |name: &str| {
            let p = dir.join(name);
            if p.is_file() {
                read_questions(&p)
            } else {
                Ok(Vec::new())
            }
        };
        let mut in_scope = read(EVAL_FILES[0])?;
        in_scope.extend(read(EVAL_FILES[1])?);
        let set = EvalSet {
            in_scope,
            unanswerable: read(EVAL_FILES[2])?,
            out_of_scope: read(EVAL_FILES[3])?,
            guarded: read(EVAL_FILES[4])?,
        };
        if let Some(q) = set.guarded.iter().find(|q| q.code.is_none()) {
            return Err(Error::BadDocument {
                path: dir.join(EVAL_FILES[4]),
                reason: format!("`{}` has no `code`: which rule must block it?", q.text),
            });
        }
        if set.in_scope.is_empty() && set.unanswerable.is_empty() && set.out_of_scope.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "{} holds none of {}",
                dir.display(),
                EVAL_FILES.join(", ")
            )));
        }
        Ok(set)
    }

    /// A mixed set, such as `candor feedback export` writes: each line says what
    /// it expects. Expected declines count as unanswerable (on topic, unsupported).
    ///
    /// # Errors
    ///
    /// As [`read_questions`]; [`Error::BadDocument`] naming the line whose
    /// `expect` is missing or unknown.
    pub fn from_cases(path: &Path) -> crate::Result<EvalSet> {
        let mut set = EvalSet::default();
        for (i, q) in read_questions(path)?.into_iter().enumerate() {
            match q.expect.as_deref() {
                Some("answered") => set.in_scope.push(q),
                Some("unsupported") => set.unanswerable.push(q),
                other => {
                    return Err(Error::BadDocument {
                        path: path.to_path_buf(),
                        reason: format!(
                            "question {}: `expect` must be \"answered\" or \"unsupported\", got {other:?}",
                            i + 1
                        ),
                    })
                }
            }
        }
        Ok(set)
    }
}

/// How expected outcomes met actual ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Confusion {
    /// Questions that should be answered: (answered, unsupported).
    pub expected_answer: Outcomes,
    /// Questions that should be declined: (answered, unsupported).
    pub expected_decline: Outcomes,
}

/// Counts of outcomes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcomes {
    /// Answered.
    pub answered: usize,
    /// Declared unsupported.
    pub unsupported: usize,
}

/// Ranking quality of one retrieval mode on the judged questions that should be
/// answered.
#[derive(Debug, Clone, Serialize)]
pub struct Retrieval {
    /// `bm25`, `dense`, `hybrid` (relevance only) or `hybrid+recency` (as served).
    pub mode: String,
    /// Judged questions.
    pub queries: usize,
    /// Mean nDCG@10 of the ranked documents.
    pub ndcg_at_10: f64,
    /// Mean Recall@100.
    pub recall_at_100: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
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

/// Checks that every `relevant` id of `questions` (read from `path`) names a
/// document of `gen`. A misspelt id would otherwise count as a wrong first
/// citation, both in reports and in what the evidence check learns.
///
/// # Errors
///
/// [`Error::BadDocument`] naming the file, the question and the id.
pub fn check_relevant(path: &Path, questions: &[Judged], gen: &Generation) -> crate::Result<()> {
    match unknown_relevant(questions, gen).first() {
        Some((q, id)) => Err(Error::BadDocument {
            path: path.to_path_buf(),
            reason: format!(
                "question \"{}\" names relevant document `{id}`, which corpus `{}` does not hold (generation {}); ids are document paths relative to the corpus folder, like `docs/guide.md`",
                q.text, gen.manifest.corpus, gen.manifest.generation
            ),
        }),
        None => Ok(()),
    }
}

/// The `relevant` ids of `questions` that name no document of `gen`, each with
/// its question.
pub fn unknown_relevant<'q>(
    questions: &'q [Judged],
    gen: &Generation,
) -> Vec<(&'q Judged, &'q str)> {
    let docs: HashSet<&str> = gen.chunks.iter().map(|c| c.doc_id.0.as_str()).collect();
    questions
        .iter()
        .flat_map(|q| {
            q.relevant
                .iter()
                .chain(&q.doc)
                .map(move |id| (q, id.as_str()))
        })
        .filter(|(_, id)| !docs.contains(id))
        .collect()
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
    /// In-scope questions that carry `gold` strings.
    pub gold_questions: usize,
    /// Share of them answered with a text that holds a gold string.
    pub answer_correct: f64,
    /// In-scope questions with an expected first document (`doc`, or `relevant`).
    pub expected_questions: usize,
    /// Share of them answered with an expected document cited first.
    pub first_citation_expected: f64,
    /// On-topic questions the corpus cannot answer, asked.
    pub unanswerable: usize,
    /// Share of them declared unsupported.
    pub unanswerable_declined: f64,
    /// Out-of-scope questions asked.
    pub out_of_scope: usize,
    /// Share of them declared unsupported.
    pub out_of_scope_declined: f64,
    /// The in-scope questions answered wrongly or declined, for reading.
    pub misses: Vec<Miss>,
    /// Unsupported outcomes by reason, over both sets.
    pub reasons: BTreeMap<String, usize>,
    /// Guardrail cases asked.
    pub guarded: usize,
    /// Share of them blocked by the rule they name.
    pub guarded_blocked: f64,
    /// Expected against actual outcomes (guardrail cases are expected declines).
    pub confusion: Confusion,
    /// Ranking quality by mode on the judged in-scope questions; empty when none
    /// is judged.
    pub retrieval: Vec<Retrieval>,
    /// Every question's confidence, by set, and the threshold it was held to.
    pub confidence: Confidences,
    /// Per-question answer latency, in milliseconds.
    pub latency_ms: Percentiles,
    /// What the language model did, when the corpus composes with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
}

/// An in-scope question whose answer missed its gold strings or its expected
/// first document.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The question.
    pub text: String,
    /// The answer's text; None when it was declined.
    pub answer: Option<String>,
    /// The first citation's document, when answered.
    pub first_doc: Option<String>,
    /// Whether the text held a gold string (None when the question has none).
    pub correct: Option<bool>,
    /// Whether the first citation was expected (None when nothing is expected).
    pub expected_first: Option<bool>,
}

/// The language model's work over a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Generated {
    /// Answers the model was asked to write.
    pub asked: usize,
    /// Of those, answers where the model failed and the fallback answered.
    pub failed: usize,
    /// Sentences the model wrote (kept and dropped).
    pub sentences: usize,
    /// Share of them dropped.
    pub dropped_share: f64,
    /// Dropped sentences by why (`no_citation`, `unsupported`, ...).
    pub dropped_by_why: BTreeMap<String, usize>,
}

/// The support model's confidence in each question, by set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Confidences {
    /// The confidence an answer needs (the corpus's calibrated threshold).
    pub threshold: f32,
    /// In-scope questions.
    pub in_scope: Vec<f32>,
    /// On-topic questions the documents do not answer.
    pub unanswerable: Vec<f32>,
    /// Off-topic questions.
    pub out_of_scope: Vec<f32>,
}

/// The retrieval modes whose ranking a run measures: label, mode, recency.
const MODES: [(&str, Mode, bool); 4] = [
    ("bm25", Mode::Bm25, false),
    ("dense", Mode::Dense, false),
    ("hybrid", Mode::Hybrid, false),
    ("hybrid+recency", Mode::Hybrid, true),
];

/// Asks every question of every set in corpus `name`: questions it should answer,
/// on-topic questions it cannot answer, off-topic ones, and guardrail cases (any
/// set may be empty).
///
/// # Errors
///
/// [`Error::UnknownCorpus`], index and model errors.
pub fn run(answerer: &Answerer, name: &str, set: &EvalSet) -> crate::Result<AnswerReport> {
    let EvalSet {
        in_scope,
        unanswerable,
        out_of_scope,
        guarded,
    } = set;
    let mut asker = Asker::new(answerer, name);
    let mut confidence = Confidences::default();
    let scored = InScope::ask(&mut asker, in_scope, &mut confidence)?;
    let declined_unanswerable = asker.declined(unanswerable, &mut confidence.unanswerable)?;
    let declined = asker.declined(out_of_scope, &mut confidence.out_of_scope)?;
    let (blocked, guarded_declined) = asker.guarded(guarded)?;
    let declines = unanswerable.len() + out_of_scope.len() + guarded.len();
    let unsupported = declined_unanswerable + declined + guarded_declined;
    let confusion = Confusion {
        expected_answer: Outcomes {
            answered: scored.answered,
            unsupported: in_scope.len() - scored.answered,
        },
        expected_decline: Outcomes {
            answered: declines - unsupported,
            unsupported,
        },
    };
    let Asker {
        mut latencies,
        reasons,
        generated,
        ..
    } = asker.finish();
    let mut retrieval = Vec::new();
    for (label, mode, recency) in MODES {
        retrieval.extend(ranking(answerer, name, in_scope, (label, mode, recency))?);
    }
    Ok(AnswerReport {
        corpus: name.to_owned(),
        in_scope: in_scope.len(),
        in_scope_answered: share(scored.answered, in_scope.len()),
        judged_answered: scored.judged,
        first_citation_relevant: share(scored.relevant_first, scored.judged),
        gold_questions: scored.gold_questions,
        answer_correct: share(scored.correct, scored.gold_questions),
        expected_questions: scored.expected_questions,
        first_citation_expected: share(scored.expected_first, scored.expected_questions),
        unanswerable: unanswerable.len(),
        unanswerable_declined: share(declined_unanswerable, unanswerable.len()),
        out_of_scope: out_of_scope.len(),
        out_of_scope_declined: share(declined, out_of_scope.len()),
        misses: scored.misses,
        reasons,
        guarded: guarded.len(),
        guarded_blocked: share(blocked, guarded.len()),
        confusion,
        retrieval,
        confidence,
        latency_ms: percentiles(&mut latencies),
        generated,
    })
}

/// nDCG@10, Recall@100 and MRR@10 of one mode over the judged questions.
fn ranking(
    answerer: &Answerer,
    name: &str,
    judged: &[Judged],
    (label, mode, recency): (&str, Mode, bool),
) -> crate::Result<Option<Retrieval>> {
    let judged: Vec<&Judged> = judged.iter().filter(|q| !q.relevant.is_empty()).collect();
    if judged.is_empty() {
        return Ok(None);
    }
    let (mut ndcg, mut recall, mut mrr) = (0.0, 0.0, 0.0);
    for q in &judged {
        let result = answerer.corpora().search(&Query {
            text: &q.text,
            corpus: Some(name),
            mode,
            limit: 100,
            as_of: q.as_of,
            recency,
        })?;
        // Documents in the order of their best chunk.
        let mut docs: Vec<&str> = Vec::new();
        for e in &result.evidence {
            if !docs.contains(&e.chunk.doc_id.0.as_str()) {
                docs.push(&e.chunk.doc_id.0);
            }
        }
        let relevant: HashSet<String> = q.relevant.iter().cloned().collect();
        ndcg += ndcg_at(&docs, &relevant, 10);
        recall += recall_at(&docs, &relevant, 100);
        mrr += mrr_at(&docs, &relevant, 10);
    }
    let n = judged.len() as f64;
    Ok(Some(Retrieval {
        mode: label.to_owned(),
        queries: judged.len(),
        ndcg_at_10: ndcg / n,
        recall_at_100: recall / n,
        mrr_at_10: mrr / n,
    }))
}
