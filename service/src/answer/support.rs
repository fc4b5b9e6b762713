//! What a question and its evidence look like to the support decision: the
//! signals of how well the question fits the corpus, how well the evidence
//! covers it, and how well the answer composed from it fits it, and the scope
//! profile they are measured against. Retrieval always returns something, so
//! "the best hit" is no evidence by itself; the models of
//! [`super::calibration`] turn these signals into decisions.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::CorpusConfig;
use crate::embed::Embedder;
use crate::index::{lexical, ChunkId, Generation};
use crate::ingest::DocId;
use crate::retrieve::Scored;
use crate::Error;

/// Dense hits averaged for [`Signals::dense_mean`].
const DENSE_MEAN_OF: usize = 5;
/// Top documents per retriever compared for [`Signals::agreement`].
const AGREEMENT_OF: usize = 5;
/// Top chunks searched for the question's terms in [`Signals::coverage`].
const COVERAGE_OF: usize = 3;
/// Nearest scope examples averaged for [`Signals::examples`].
const EXAMPLES_OF: usize = 3;

/// What a question and its retrieved evidence look like to the support decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
    /// 1 when the question names something that neither the corpus nor the
    /// embedding model's vocabulary knows ("Veeam", "crontab"; see
    /// [`Generation::unknown_words`]), else 0; set by the assess stage.
    /// [`Signals::missing`] sees any word the top chunks lack, everyday words
    /// ("colleague") among them; this one sees only names the corpus never
    /// uses.
    #[serde(default)]
    pub unknown: f32,
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

impl Signals {
    /// The signal called `name`, as the models name their features.
    pub(super) fn get(&self, name: &str) -> Option<f32> {
        Some(match name {
            "dense_best" => self.dense_best,
            "dense_mean" => self.dense_mean,
            "coverage" => self.coverage,
            "agreement" => self.agreement,
            "lead" => self.lead,
            "scope" => self.scope,
            "examples" => self.examples,
            "unknown" => self.unknown,
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
            unknown: 0.0,
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
    // "as of 2024" bounds the documents by their dates; their text need not
    // say "2024", and a year the corpus rarely writes would read as a topic it
    // does not cover.
    let dated = crate::retrieve::recency::intent(question).date_words;
    let content: Vec<&str> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| {
            let lower = w.to_lowercase();
            !w.is_empty() && !QUESTION_WORDS.contains(&lower.as_str()) && !dated.contains(&lower)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_date_a_question_is_bounded_by_is_not_content() {
        assert_eq!(
            question_terms("Which port did Ferrule use in 2019?"),
            ["port", "ferrul", "use"]
        );
        assert_eq!(
            question_terms("What was the timeout as of March 2024?"),
            ["timeout"]
        );
        // A number that bounds nothing is a term like any other.
        assert_eq!(
            question_terms("Does it keep 2024 snapshots?"),
            ["keep", "2024", "snapshot"]
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
}
