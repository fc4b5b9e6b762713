//! The support decision: may this corpus answer this question, and if not, why not?
//!
//! Retrieval always returns something, so "the best hit" is no evidence by itself.
//! Signals describe how well the question fits the corpus, how well the evidence
//! covers it, and how well the answer composed from it fits it. Logistic models,
//! fitted by `candor calibrate` on questions the corpus should answer and
//! questions it should not, turn them into numbers with learnt thresholds: a
//! *support* model (its output is the answer's confidence) that tells the
//! corpus's topics from others, and a *scope* model over the topical signals
//! alone, which tells "out of scope" from "in scope, but not supported by the
//! evidence". When the calibration questions name their relevant documents, an
//! *evidence check* learns when the best-ranked document is likely the wrong one
//! (typically when the lexical and dense rankings each prefer another) and
//! declines those few questions rather than cite a wrong source first. When
//! calibration has on-topic questions the documents cannot answer, an *answer
//! check* learns, from the answers composed for them, when an answer does not
//! fit its question, and declines those as insufficient evidence.
//! The fitted models live in the corpus folder, never in code.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::CorpusConfig;
use crate::embed::Embedder;
use crate::index::{lexical, ChunkId, Generation};
use crate::ingest::DocId;
use crate::retrieve::Scored;
use crate::Error;

/// The file, in the corpus folder, that holds the fitted models.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// Dense hits averaged for [`Signals::dense_mean`].
const DENSE_MEAN_OF: usize = 5;
/// Top documents per retriever compared for [`Signals::agreement`].
const AGREEMENT_OF: usize = 5;
/// Top chunks searched for the question's terms in [`Signals::coverage`].
const COVERAGE_OF: usize = 3;
/// Nearest scope examples averaged for [`Signals::examples`].
const EXAMPLES_OF: usize = 3;

/// What a question and its retrieved evidence look like to the support decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signals {
    /// Cosine similarity of the best dense hit.
    pub dense_best: f32,
    /// Mean cosine similarity of the top dense hits: how much of the corpus is about
    /// the question's topic, not just one lucky passage.
    pub dense_mean: f32,
    /// Share of the question's content terms (weighted by IDF) found in the top
    /// chunks.
    pub coverage: f32,
    /// Overlap of the top documents of BM25 and of dense search, in [0, 1].
    pub agreement: f32,
    /// How high the best-ranked document stands in BM25's or dense search's own
    /// ranking, whichever is higher: 1 when one of them ranks it first, 0 when
    /// neither has it among its top documents. A fused winner that neither
    /// retriever prefers is a compromise, and often the wrong document.
    pub lead: f32,
    /// Cosine similarity to the corpus's scope statement.
    pub scope: f32,
    /// Mean cosine similarity to the nearest scope examples; the scope statement's
    /// similarity when the corpus has none.
    pub examples: f32,
    /// How rare the rarest question term that the top chunks lack is: its IDF
    /// over the IDF of a term no chunk holds, so 1 when the question names
    /// something the corpus never mentions ("kubernetes"), 0 when the top
    /// chunks hold every term.
    #[serde(default)]
    pub missing: f32,
    /// How well the composed answer fits the question: the IDF-weighted share
    /// of the question's content terms its sentences (or the titles of what
    /// they cite) hold. 0 before an answer is composed, and when none could be.
    #[serde(default)]
    pub answer: f32,
    /// How close in meaning the composed answer's closest sentence is to the
    /// question (a cosine of their embeddings). 0 before an answer is
    /// composed, and when none could be.
    #[serde(default)]
    pub meaning: f32,
}

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

impl Signals {
    fn get(&self, name: &str) -> Option<f32> {
        Some(match name {
            "dense_best" => self.dense_best,
            "dense_mean" => self.dense_mean,
            "coverage" => self.coverage,
            "agreement" => self.agreement,
            "lead" => self.lead,
            "scope" => self.scope,
            "examples" => self.examples,
            "answer" => self.answer,
            "meaning" => self.meaning,
            "missing" => self.missing,
            _ => return None,
        })
    }

    /// Signals of a question, from its vector and its ranked chunks.
    ///
    /// `exclude_example` leaves out a scope example with the question's own text,
    /// so that calibrating on the examples does not see each question match itself.
    ///
    /// # Errors
    ///
    /// Index errors.
    pub fn measure(
        gen: &Generation,
        profile: &ScopeProfile,
        question: &str,
        vector: &[f32],
        ranked: &[Scored<ChunkId>],
        exclude_example: bool,
    ) -> crate::Result<Signals> {
        let mut dense: Vec<f32> = ranked.iter().filter_map(|s| s.dense).collect();
        dense.sort_by(|a, b| b.total_cmp(a));
        let top = &dense[..dense.len().min(DENSE_MEAN_OF)];
        let dense_mean = if top.is_empty() {
            0.0
        } else {
            top.iter().sum::<f32>() / top.len() as f32
        };
        let (scope, examples) = profile.similarity(vector, exclude_example.then_some(question));
        let (agreement, mut lead) = standing(ranked, |id| Ok(&gen.chunk(id)?.doc_id))?;
        // A release the question picks by itself (the newest one, or one it
        // names) leads by that choice, not by either retriever's ranking: "What's
        // the newest release?" shares no word with the release's changes.
        if let Some(best) = ranked.first() {
            if picks_release(question, gen.chunk(best.id)?.metadata.get("version")) {
                lead = 1.0;
            }
        }
        let (coverage, missing) = coverage(gen, question, ranked)?;
        Ok(Signals {
            dense_best: dense.first().copied().unwrap_or(0.0),
            dense_mean,
            coverage,
            missing,
            agreement,
            lead,
            scope,
            examples,
            answer: 0.0,
            meaning: 0.0,
        })
    }
}

/// The [`Signals::answer`] of a composed answer to `question`.
///
/// # Errors
///
/// Index errors.
pub fn answer_fit(
    gen: &Generation,
    question: &str,
    composed: &super::Composed,
) -> crate::Result<f32> {
    let terms = weighted_terms(gen, question)?;
    let mut present: HashSet<String> = lexical::terms(&composed.text).into_iter().collect();
    for c in &composed.citations {
        present.extend(lexical::terms(&c.title));
    }
    Ok(covered(&terms, &present))
}

/// Words that shape a question rather than say what it is about. The index's stop
/// list is short (BM25 discounts frequent words itself); these would otherwise
/// count as content in small corpora, where IDF cannot tell. Words that ask for
/// the latest state are read by recency ranking, not matched in the text.
const QUESTION_WORDS: &[&str] = &[
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "do",
    "does",
    "did",
    "done",
    "can",
    "could",
    "should",
    "would",
    "may",
    "might",
    "must",
    "shall",
    "i",
    "me",
    "my",
    "we",
    "our",
    "us",
    "you",
    "your",
    "has",
    "have",
    "had",
    "been",
    "being",
    "were",
    "am",
    "any",
    "some",
    "get",
    "tell",
    "latest",
    "newest",
    "recent",
    "recently",
    "current",
    "currently",
    "nowadays",
    "now",
    "today",
];

/// The analysed content terms of a question: its index terms without question words.
pub fn question_terms(question: &str) -> Vec<String> {
    let content: Vec<&str> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !QUESTION_WORDS.contains(&w.to_lowercase().as_str()))
        .collect();
    lexical::terms(&content.join(" "))
}

/// A question's content terms, each with its IDF weight. A term the corpus
/// never uses but that is one edit from one it does is taken for a typo of
/// that term ("resotring" reads as "restoring").
///
/// # Errors
///
/// Index errors.
pub fn weighted_terms(gen: &Generation, question: &str) -> crate::Result<Vec<(String, f32)>> {
    let mut out: Vec<(String, f32)> = Vec::new();
    for t in question_terms(question) {
        let t = gen.lexical.spelling_neighbour(&t)?.unwrap_or(t);
        if !out.iter().any(|(known, _)| *known == t) {
            let idf = gen.lexical.idf(&t)?;
            out.push((t, idf));
        }
    }
    Ok(out)
}

/// IDF-weighted share of `terms` found in `present`; 0 when there are none.
pub fn covered(terms: &[(String, f32)], present: &HashSet<String>) -> f32 {
    let total: f32 = terms.iter().map(|t| t.1).sum();
    let hit: f32 = terms
        .iter()
        .filter(|t| present.contains(&t.0))
        .map(|t| t.1)
        .sum();
    if total > 0.0 {
        hit / total
    } else {
        0.0
    }
}

/// IDF-weighted share of the question's content terms present in the top chunks.
/// Also the [`Signals::missing`] of those chunks.
fn coverage(
    gen: &Generation,
    question: &str,
    ranked: &[Scored<ChunkId>],
) -> crate::Result<(f32, f32)> {
    let terms = weighted_terms(gen, question)?;
    let mut present: HashSet<String> = HashSet::new();
    for s in ranked.iter().take(COVERAGE_OF) {
        let c = gen.chunk(s.id)?;
        present.extend(lexical::terms(&format!(
            "{}\n{}\n{}",
            c.title,
            c.heading_path.join(" "),
            c.text
        )));
    }
    let rarest = gen.lexical.max_idf().max(f32::EPSILON);
    let missing = terms
        .iter()
        .filter(|t| !present.contains(&t.0))
        .map(|t| t.1 / rarest)
        .fold(0.0, f32::max);
    Ok((covered(&terms, &present), missing))
}

/// Whether `question` picks the release `version` (of the best-ranked chunk)
/// by itself: it asks for the newest release, or names that version.
fn picks_release(question: &str, version: Option<&String>) -> bool {
    let intent = crate::retrieve::recency::intent(question);
    version.is_some_and(|v| (intent.latest && intent.asks_release) || intent.versions.contains(v))
}

/// How the two retrievers' own top documents relate: the share they have in
/// common (over the shorter list), and the [`Signals::lead`] of the best-ranked
/// document.
fn standing<'g>(
    ranked: &[Scored<ChunkId>],
    doc: impl Fn(ChunkId) -> crate::Result<&'g DocId>,
) -> crate::Result<(f32, f32)> {
    let top_docs = |score: fn(&Scored<ChunkId>) -> Option<f32>| -> crate::Result<Vec<&DocId>> {
        let mut hits: Vec<(&Scored<ChunkId>, f32)> = ranked
            .iter()
            .filter_map(|s| score(s).map(|v| (s, v)))
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
        let mut docs = Vec::new();
        for (s, _) in hits {
            let d = doc(s.id)?;
            if !docs.contains(&d) {
                docs.push(d);
                if docs.len() == AGREEMENT_OF {
                    break;
                }
            }
        }
        Ok(docs)
    };
    let lexical = top_docs(|s| s.bm25)?;
    let dense = top_docs(|s| s.dense)?;
    let lead = match ranked.first() {
        Some(best) => {
            let best = doc(best.id)?;
            let place =
                |docs: &[&DocId]| docs.iter().position(|d| *d == best).unwrap_or(AGREEMENT_OF);
            1.0 - place(&lexical).min(place(&dense)) as f32 / AGREEMENT_OF as f32
        }
        None => 0.0,
    };
    let shorter = lexical.len().min(dense.len());
    if shorter == 0 {
        return Ok((0.0, lead));
    }
    let shared = lexical.iter().filter(|d| dense.contains(d)).count() as f32 / shorter as f32;
    Ok((shared, lead))
}

/// The corpus's scope as vectors: its statement and its example questions.
pub struct ScopeProfile {
    statement: Vec<f32>,
    examples: Vec<(String, Vec<f32>)>,
}

#[derive(Deserialize)]
struct ExampleLine {
    text: String,
}

/// Case- and space-insensitive form of a question, for recognising the same one.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl ScopeProfile {
    /// Embeds the scope statement and the example questions of a corpus.
    ///
    /// # Errors
    ///
    /// I/O or [`Error::BadDocument`] for an unreadable examples file, model errors.
    pub fn build(
        root: &Path,
        config: &CorpusConfig,
        embedder: &Embedder,
    ) -> crate::Result<ScopeProfile> {
        let mut texts = Vec::new();
        for rel in &config.answer.scope_examples {
            let path = root.join(rel);
            let lines: Vec<ExampleLine> = crate::jsonl::read(&path)?;
            let before = texts.len();
            texts.extend(
                lines
                    .into_iter()
                    .map(|l| l.text)
                    .filter(|t| !t.trim().is_empty()),
            );
            // A file named as examples that gives none would quietly leave the
            // scope signal to the statement alone.
            if texts.len() == before {
                return Err(Error::BadDocument {
                    path,
                    reason: "holds no question (JSON lines with a `text` field), yet corpus.toml names it in answer.scope_examples".into(),
                });
            }
        }
        let vectors = embedder.embed(&texts)?;
        let statement = embedder.embed_one(&config.scope)?;
        Ok(ScopeProfile {
            statement,
            examples: texts.iter().map(|t| normalise(t)).zip(vectors).collect(),
        })
    }

    /// Similarity to the statement and to the nearest examples (leaving out an
    /// example with the text `exclude`).
    pub fn similarity(&self, vector: &[f32], exclude: Option<&str>) -> (f32, f32) {
        let scope = dot(&self.statement, vector);
        let exclude = exclude.map(normalise);
        let mut sims: Vec<f32> = self
            .examples
            .iter()
            .filter(|(t, _)| exclude.as_ref() != Some(t))
            .map(|(_, v)| dot(v, vector))
            .collect();
        if sims.is_empty() {
            return (scope, scope);
        }
        sims.sort_by(|a, b| b.total_cmp(a));
        let top = &sims[..sims.len().min(EXAMPLES_OF)];
        (scope, top.iter().sum::<f32>() / top.len() as f32)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

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

    fn check(&self, expected: &[&str]) -> Result<(), String> {
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
    fn fit(features: &[&str], groups: &[Group<'_>]) -> Logistic {
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
struct Group<'a> {
    signals: &'a [Signals],
    positive: bool,
}

/// The cut that maximises the mean over groups of the share classified right
/// (positives at or above it, the others below). Among equally good cuts the
/// middle one is taken, which leaves the widest margin on both sides.
fn best_threshold(groups: &[(Vec<f32>, bool)]) -> f32 {
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
    /// Declines answerable-looking questions whose best document is likely
    /// wrong; absent when no calibration question named its relevant documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceCheck>,
    /// Declines questions whose composed answer does not fit them; absent when
    /// calibration had too few unanswerable questions to learn from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerCheck>,
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
    fn fit(
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
        // between the k-th and the next. The fewest answerable declines that
        // decline the most unanswerable questions, within the allowed share.
        let limit =
            ((max_declined.clamp(0.0, 1.0) * yes.len() as f32).floor() as usize).min(yes.len() - 1);
        let cut = |k: usize| match k {
            0 => yes[0].next_down().max(0.0),
            k => (yes[k - 1] + yes[k]) / 2.0,
        };
        let caught = |t: f32| no.iter().filter(|p| **p < t).count();
        let best = (0..=limit).fold(0, |best, k| {
            if caught(cut(k)) > caught(cut(best)) {
                k
            } else {
                best
            }
        });
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
    fn fit(judged: &[(Signals, bool)], max_declined: f32) -> Option<EvidenceCheck> {
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
            evidence: None,
            answer: None,
        };
        // The check learns only from the questions the support model answers:
        // the others never reach it.
        let judged: Vec<(Signals, bool)> = set
            .judged
            .iter()
            .filter(|(s, _)| c.decide(s).1 == Verdict::Supported)
            .copied()
            .collect();
        c.evidence = EvidenceCheck::fit(&judged, set.max_ambiguous);
        // The answer check, too, sees only what the models before it let through.
        // A question no sentence matched (fit 0) has no answer to judge.
        let through = |set: &[Signals]| -> Vec<Signals> {
            set.iter()
                .filter(|s| s.answer > 0.0 && c.decide(s).1 == Verdict::Supported)
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
        c.answer = AnswerCheck::fit(
            &through(&answered_right),
            &through(set.unanswerable),
            &through(set.out_of_scope),
            set.max_unanswered,
        );
        let answered = |set: &[Signals]| {
            let yes = set
                .iter()
                .filter(|s| {
                    c.decide(s).1 == Verdict::Supported
                        && c.answer.as_ref().is_none_or(|a| a.answers(s))
                })
                .count();
            yes as f32 / set.len().max(1) as f32
        };
        let rates = (
            answered(set.answerable),
            1.0 - answered(set.out_of_scope),
            1.0 - answered(set.unanswerable),
        );
        (
            c.in_scope_answered,
            c.out_of_scope_declined,
            c.unanswerable_declined,
        ) = rates;
        Ok(c)
    }

    /// The confidence in [0, 1] and the verdict for a question's signals.
    pub fn decide(&self, s: &Signals) -> (f32, Verdict) {
        let confidence = self.support.probability(s);
        if confidence >= self.support.threshold {
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
        let verdict = if self.scope.probability(s) >= self.scope.threshold {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(v: f32, scope: f32) -> Signals {
        Signals {
            dense_best: v,
            dense_mean: v,
            coverage: v,
            agreement: v,
            lead: v,
            scope,
            examples: scope,
            missing: 1.0 - v,
            answer: v,
            meaning: v,
        }
    }

    fn fit(pos: &[Signals], neg: &[Signals]) -> crate::Result<Calibration> {
        Calibration::fit(&Labelled {
            answerable: pos,
            judged: &[],
            max_ambiguous: 0.0,
            max_unanswered: 0.05,
            unanswerable: &[],
            out_of_scope: neg,
        })
    }

    #[test]
    fn fitted_models_separate_the_classes_and_round_trip_through_the_file() {
        let pos: Vec<Signals> = (0..20)
            .map(|i| signals(0.6 + i as f32 * 0.01, 0.5))
            .collect();
        let neg: Vec<Signals> = (0..20)
            .map(|i| signals(0.1 + i as f32 * 0.01, 0.1))
            .collect();
        let c = fit(&pos, &neg).unwrap();
        assert_eq!((c.in_scope_answered, c.out_of_scope_declined), (1.0, 1.0));
        let (conf_hi, v) = c.decide(&signals(0.7, 0.5));
        assert_eq!(v, Verdict::Supported);
        let (conf_lo, v) = c.decide(&signals(0.05, 0.05));
        assert_eq!(v, Verdict::OutOfScope);
        assert!(
            conf_hi > conf_lo && (0.0..=1.0).contains(&conf_lo) && (0.0..=1.0).contains(&conf_hi)
        );
        // On topic (scope like the positives) but weak evidence.
        let (_, v) = c.decide(&Signals {
            scope: 0.6,
            examples: 0.6,
            dense_mean: 0.7,
            ..signals(0.0, 0.0)
        });
        assert_eq!(v, Verdict::InsufficientEvidence);
        let dir = tempfile::tempdir().unwrap();
        c.save(dir.path()).unwrap();
        assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c));
    }

    /// Answerable questions; the judged ones alternate between a best document
    /// that leads a retriever (mostly relevant) and a compromise (mostly not).
    fn judged_set() -> (Vec<Signals>, Vec<(Signals, bool)>, Vec<Signals>) {
        let answerable: Vec<Signals> = (0..100)
            .map(|i| Signals {
                lead: if i % 10 == 0 { 0.0 } else { 1.0 },
                ..signals(0.6 + (i % 7) as f32 * 0.02, 0.5)
            })
            .collect();
        let judged = answerable
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, if s.lead == 0.0 { i == 50 } else { i % 3 != 0 }))
            .collect();
        let off = (0..40)
            .map(|i| signals(0.1 + (i % 5) as f32 * 0.02, 0.1))
            .collect();
        (answerable, judged, off)
    }

    #[test]
    fn the_evidence_check_declines_compromise_winners_within_its_share() {
        let (answerable, judged, off) = judged_set();
        let fit = |max_ambiguous| {
            Calibration::fit(&Labelled {
                answerable: &answerable,
                judged: &judged,
                max_ambiguous,
                max_unanswered: 0.05,
                unanswerable: &[],
                out_of_scope: &off,
            })
            .unwrap()
        };
        let c = fit(0.1);
        let e = c.evidence.as_ref().expect("an evidence check");
        assert_eq!(e.questions, 100);
        assert!((e.declined - 0.1).abs() < 1e-6, "{e:?}");
        assert!(e.top_relevant_answered > e.top_relevant, "{e:?}");
        let compromise = answerable[0];
        let leader = answerable[1];
        assert_eq!(c.decide(&compromise).1, Verdict::AmbiguousEvidence);
        assert_eq!(c.decide(&leader).1, Verdict::Supported);
        assert_eq!(c.decide(&off[0]).1, Verdict::OutOfScope);
        // A smaller share declines fewer; none at all turns the check off.
        assert!(fit(0.05).evidence.unwrap().declined <= 0.05);
        assert_eq!(fit(0.0).evidence, None);
        // Too few judged questions of a kind to learn from: no check.
        let few = Calibration::fit(&Labelled {
            answerable: &answerable,
            judged: &judged[..12],
            max_ambiguous: 0.1,
            max_unanswered: 0.05,
            unanswerable: &[],
            out_of_scope: &off,
        })
        .unwrap();
        assert_eq!(few.evidence, None);
        // The check travels with the file, and a damaged one is named.
        let dir = tempfile::tempdir().unwrap();
        c.save(dir.path()).unwrap();
        assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c.clone()));
        let mut broken = c;
        broken.evidence.as_mut().unwrap().model.features.pop();
        broken.save(dir.path()).unwrap();
        let e = Calibration::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("evidence.model") && e.contains("expects signals"),
            "{e}"
        );
    }

    #[test]
    fn lead_says_how_high_a_retriever_ranks_the_fused_winner() {
        let hit = |id: u64, bm25: Option<f32>, dense: Option<f32>| Scored {
            id: ChunkId(id),
            bm25,
            dense,
            score: 0.0,
            recency: None,
            superseded: false,
        };
        // Chunk i belongs to document "d{i / 2}": chunks 0 and 1 share one.
        let docs: Vec<DocId> = (0..10).map(|i| DocId(format!("d{}", i / 2))).collect();
        let doc = |id: ChunkId| Ok(&docs[id.0 as usize]);
        // The fused winner (chunk 4, d2) is third for BM25 (after d0 and d1,
        // counted once each) and second for dense search.
        let ranked = [
            hit(4, Some(3.0), Some(0.8)),
            hit(0, Some(5.0), None),
            hit(1, Some(4.5), Some(0.3)),
            hit(2, Some(4.0), Some(0.5)),
            hit(6, None, Some(0.9)),
        ];
        let (agreement, lead) = standing(&ranked, doc).unwrap();
        assert!((lead - 0.8).abs() < 1e-6, "second place: {lead}");
        // BM25: d0 d1 d2; dense: d3 d2 d1 d0; all three BM25 documents are shared.
        assert!((agreement - 1.0).abs() < 1e-6, "{agreement}");
        // A winner that leads one retriever has lead 1; one neither has, 0.
        let (_, lead) = standing(&ranked[1..], doc).unwrap();
        assert_eq!(lead, 1.0);
        let (_, lead) = standing(&[hit(8, None, None), ranked[1].clone()], doc).unwrap();
        assert_eq!(lead, 0.0);
    }

    #[test]
    fn question_words_are_not_content() {
        assert_eq!(
            question_terms("Which port does Ferrule use?"),
            ["port", "ferrul", "use"]
        );
    }

    #[test]
    fn fitting_is_deterministic() {
        let pos: Vec<Signals> = (0..15)
            .map(|i| signals(0.5 + (i % 4) as f32 * 0.1, 0.4))
            .collect();
        let neg: Vec<Signals> = (0..9)
            .map(|i| signals(0.2 + (i % 3) as f32 * 0.1, 0.2))
            .collect();
        let a = fit(&pos, &neg).unwrap();
        let b = fit(&pos, &neg).unwrap();
        assert_eq!((a.support, a.scope), (b.support, b.scope));
    }

    #[test]
    fn an_empty_class_is_refused() {
        let e = fit(&[signals(0.5, 0.5)], &[]).unwrap_err().to_string();
        assert!(e.contains("0 out of scope"), "{e}");
    }

    #[test]
    fn a_damaged_calibration_file_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Calibration::load(dir.path()).unwrap(), None);
        let pos: Vec<Signals> = (0..4).map(|i| signals(0.6 + i as f32 * 0.1, 0.5)).collect();
        let neg: Vec<Signals> = (0..4).map(|i| signals(0.1 + i as f32 * 0.1, 0.1)).collect();
        let mut c = fit(&pos, &neg).unwrap();
        c.support.features.pop();
        c.save(dir.path()).unwrap();
        let e = Calibration::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(CALIBRATION_FILE) && e.contains("support") && e.contains("expects signals"),
            "{e}"
        );
        std::fs::write(dir.path().join(CALIBRATION_FILE), "{\"support\": 3}").unwrap();
        let e = Calibration::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("support") && e.contains("re-run"), "{e}");

        // Numbers that would switch a decision off are refused too.
        let good = fit(&pos, &neg).unwrap();
        let damaged = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = serde_json::to_value(&good).unwrap();
            edit(&mut v);
            std::fs::write(dir.path().join(CALIBRATION_FILE), v.to_string()).unwrap();
            Calibration::load(dir.path()).unwrap_err().to_string()
        };
        let e = damaged(&|v| v["support"]["bias"] = serde_json::json!(1e39));
        assert!(e.contains("support") && e.contains("finite"), "{e}");
        let e = damaged(&|v| v["scope"]["mean"][0] = serde_json::json!(-1e39));
        assert!(e.contains("scope") && e.contains("finite"), "{e}");
        let e = damaged(&|v| {
            v["citation"] = serde_json::json!({"threshold": -1.0, "pairs": 10,
                "wrong_accepted": 0.0, "quotes_accepted": 1.0})
        });
        assert!(
            e.contains("citation.threshold") && e.contains("[0, 1]"),
            "{e}"
        );
    }

    #[test]
    fn a_scope_examples_file_without_questions_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::create_dir_all(dir.path().join("eval")).unwrap();
        std::fs::write(
            dir.path().join(crate::config::CORPUS_FILE),
            "name = \"kb\"\nscope = \"Things.\"\n[[sources]]\npath = \"docs\"\n[answer]\nscope_examples = [\"eval/none.jsonl\"]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("eval/none.jsonl"), "\n{\"text\": \"  \"}\n").unwrap();
        let corpus = crate::config::Corpus::load(dir.path()).unwrap();
        let e = ScopeProfile::build(&corpus.root, &corpus.config, &crate::test_utils::embedder())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("none.jsonl") && e.contains("holds no question"),
            "{e}"
        );
    }

    #[test]
    fn a_release_the_question_picks_leads_by_that_choice() {
        let v = |s: &str| Some(s.to_owned());
        assert!(picks_release(
            "What's the newest restic release?",
            v("0.19.1").as_ref()
        ));
        assert!(picks_release(
            "What changed in 0.17.3?",
            v("0.17.3").as_ref()
        ));
        assert!(!picks_release(
            "What changed in 0.17.3?",
            v("0.18.0").as_ref()
        ));
        // Not a release: a guide's chunk; not a pick: a question about a feature.
        assert!(!picks_release("What's the newest restic release?", None));
        assert!(!picks_release(
            "How do I prune a repository?",
            v("0.19.1").as_ref()
        ));
    }

    #[test]
    fn the_threshold_sits_in_the_middle_of_the_gap() {
        let t = best_threshold(&[(vec![0.8, 0.9], true), (vec![0.1, 0.2], false)]);
        assert!(t > 0.2 && t <= 0.8, "{t}");
        assert_eq!(
            best_threshold(&[(vec![0.8], true), (vec![0.2], false)]),
            0.5
        );
    }

    #[test]
    fn unanswerable_questions_teach_the_answer_check() {
        // Answerable and unanswerable questions both look on topic, with strong
        // evidence; the answers composed for the unanswerable ones hold little
        // of the question. Out of scope: off topic, weak evidence.
        let on = |v: f32| Signals {
            scope: 0.5,
            examples: 0.5,
            dense_mean: 0.6,
            ..signals(v, 0.5)
        };
        let answerable: Vec<Signals> = (0..20).map(|i| on(0.7 + i as f32 * 0.01)).collect();
        let unanswerable: Vec<Signals> = (0..8)
            .map(|i| Signals {
                answer: 0.15 + i as f32 * 0.01,
                coverage: 0.2,
                ..on(0.7 + i as f32 * 0.02)
            })
            .collect();
        let off: Vec<Signals> = (0..12)
            .map(|i| Signals {
                dense_mean: 0.1,
                ..signals(0.2 + i as f32 * 0.01, 0.1)
            })
            .collect();
        let fit = |unanswerable: &[Signals]| {
            Calibration::fit(&Labelled {
                answerable: &answerable,
                judged: &[],
                max_ambiguous: 0.0,
                max_unanswered: 0.05,
                unanswerable,
                out_of_scope: &off,
            })
            .unwrap()
        };
        let c = fit(&unanswerable);
        let check = c.answer.as_ref().expect("an answer check");
        assert!(check.answerable_declined <= 0.05, "{check:?}");
        assert_eq!(
            (
                c.in_scope_answered,
                c.unanswerable_declined,
                c.out_of_scope_declined
            ),
            (1.0, 1.0, 1.0)
        );
        // The support model lets the unanswerable question through; the check
        // on its answer declines it.
        assert_eq!(c.decide(&unanswerable[3]).1, Verdict::Supported);
        assert!(!check.answers(&unanswerable[3]));
        assert!(check.answers(&answerable[3]));
        assert_eq!(c.decide(&off[3]).1, Verdict::OutOfScope);
        // Too few unanswerable questions to learn from: no check.
        assert_eq!(
            fit(&unanswerable[..ANSWER_MIN_UNANSWERABLE - 1]).answer,
            None
        );
        // The check travels with the file, and a damaged one is named.
        let dir = tempfile::tempdir().unwrap();
        c.save(dir.path()).unwrap();
        assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c.clone()));
        let mut broken = c;
        broken.answer.as_mut().unwrap().model.features.pop();
        broken.save(dir.path()).unwrap();
        let e = Calibration::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("answer.model") && e.contains("expects signals"),
            "{e}"
        );
    }
}
