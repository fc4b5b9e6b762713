//! `candor calibrate`: fits a corpus's support models on questions it should answer
//! and questions it should not, and stores them in the corpus folder.

use std::path::PathBuf;

use super::super::generate::Support;
use super::super::{Answerer, Signals};
use super::{Calibration, CitationThreshold, Labelled};
use crate::ingest::sentence::sentence_texts;
use crate::ingest::DocId;
use crate::retrieve::corpora::Query;
use crate::retrieve::Mode;
use crate::Error;

/// Corpus sentences the citation threshold is chosen on, at most.
const CITATION_SAMPLE: usize = 200;
/// Share of wrong citations the threshold may let through.
const WRONG_ACCEPTED: f32 = 0.05;
/// Cosine similarity at which another chunk's sentence repeats the sampled one.
const REPEATS: f32 = 0.9;
/// A sampled sentence has at least this many words: a claim, not a label.
const CLAIM_WORDS: usize = 6;

/// A question the corpus should answer.
pub struct InScope {
    /// The question.
    pub text: String,
    /// The documents that answer it, when known; they teach the evidence check.
    pub relevant: Vec<String>,
}

/// The questions a calibration is fitted on.
pub struct Questions<'a> {
    /// Questions the corpus should answer.
    pub in_scope: &'a [InScope],
    /// On-topic questions it cannot answer; may be empty.
    pub unanswerable: &'a [String],
    /// Off-topic questions.
    pub out_of_scope: &'a [String],
    /// The largest share of the judged in-scope questions the evidence check may
    /// decline (0 turns it off).
    pub max_ambiguous: f32,
    /// The largest share of the in-scope questions the answer check may decline.
    pub max_unanswered: f32,
}

/// Fits the support models of corpus `name` on `questions` and writes them to
/// its folder. Returns the calibration and the file written.
///
/// # Errors
///
/// [`Error::UnknownCorpus`], index, model and I/O errors.
pub fn calibrate(
    answerer: &Answerer,
    name: &str,
    questions: &Questions<'_>,
) -> crate::Result<(Calibration, PathBuf)> {
    let (_, served) = answerer.corpora().pick(Some(name))?;
    let measure = |qs: &mut dyn Iterator<Item = &str>| {
        qs.map(|q| answerer.signals(name, q))
            .collect::<crate::Result<Vec<_>>>()
    };
    let in_scope = measure(&mut questions.in_scope.iter().map(|q| q.text.as_str()))?;
    let signals = |measured: Vec<(Signals, Option<DocId>)>| -> Vec<Signals> {
        measured.into_iter().map(|(s, _)| s).collect()
    };
    let judged: Vec<(Signals, bool)> = questions
        .in_scope
        .iter()
        .zip(&in_scope)
        .filter(|(q, _)| !q.relevant.is_empty())
        .map(|(q, (s, best))| (*s, best.as_ref().is_some_and(|d| q.relevant.contains(&d.0))))
        .collect();
    let unanswerable = signals(measure(
        &mut questions.unanswerable.iter().map(String::as_str),
    )?);
    let out_of_scope = signals(measure(
        &mut questions.out_of_scope.iter().map(String::as_str),
    )?);
    let calibration = Calibration::fit(&Labelled {
        answerable: &signals(in_scope),
        judged: &judged,
        max_ambiguous: questions.max_ambiguous,
        max_unanswered: questions.max_unanswered,
        unanswerable: &unanswerable,
        out_of_scope: &out_of_scope,
    })?;
    // A corpus without two documents to tell apart gets no citation threshold:
    // it keeps the built-in one, which the LLM composer then uses.
    let citation = match citation_threshold(answerer, name) {
        Ok(t) => Some(t),
        Err(Error::InvalidRequest(why)) => {
            tracing::warn!(corpus = %name, "{why}; the built-in citation threshold will be used");
            None
        }
        Err(e) => return Err(e),
    };
    let calibration = Calibration {
        citation,
        ..calibration
    };
    let path = calibration.save(&served.root)?;
    Ok((calibration, path))
}

/// Chooses the support score a generated sentence needs: sentences sampled
/// evenly from the corpus are scored against the best-ranked chunk of another
/// document (a plausible wrong citation), and the threshold is the score that
/// at most [`WRONG_ACCEPTED`] of those pairs reach. Another version of the same
/// document (same series), or a chunk that repeats the sentence nearly word for
/// word, would support it, so neither counts as wrong.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when the corpus has no sentence to sample; index
/// and model errors.
pub fn citation_threshold(answerer: &Answerer, name: &str) -> crate::Result<CitationThreshold> {
    let (name, served) = answerer.corpora().pick(Some(name))?;
    let gen = &served.generation;
    let embedder = answerer.corpora().embedder();
    let stride = (gen.chunks.len() / CITATION_SAMPLE).max(1);
    let (mut wrong, mut own) = (Vec::new(), Vec::new());
    for chunk in gen.chunks.iter().step_by(stride).take(CITATION_SAMPLE) {
        let Some(sentence) = sentence_texts(&chunk.text)
            .into_iter()
            .find(|s| s.split_whitespace().count() >= CLAIM_WORDS)
        else {
            continue;
        };
        let query = Query {
            text: &sentence,
            corpus: Some(name),
            mode: Mode::Hybrid,
            limit: 20,
            as_of: None,
            recency: false,
        };
        let ranked = answerer.corpora().rank(&served, &query)?;
        let mut support = Support::new(gen, embedder);
        let mut found = None;
        for s in &ranked {
            let c = gen.chunk(s.id)?;
            let same_series = c.series.is_some() && c.series == chunk.series;
            if c.doc_id == chunk.doc_id || same_series {
                continue;
            }
            let (dense, lexical) = support.parts(&sentence, &[c], &[0])?;
            if dense < REPEATS {
                found = Some((dense + lexical) / 2.0);
                break;
            }
        }
        let Some(score) = found else { continue };
        wrong.push(score);
        own.push(Support::new(gen, embedder).score(&sentence, &[chunk], &[0])?);
    }
    if wrong.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "corpus `{name}` has no sentence of {CLAIM_WORDS}+ words with a chunk of another document to test citations on"
        )));
    }
    wrong.sort_by(f32::total_cmp);
    let k = ((wrong.len() as f32 * (1.0 - WRONG_ACCEPTED)).ceil() as usize).min(wrong.len() - 1);
    let threshold = wrong[k];
    let share = |v: &[f32]| v.iter().filter(|&&x| x >= threshold).count() as f32 / v.len() as f32;
    Ok(CitationThreshold {
        threshold,
        pairs: wrong.len(),
        wrong_accepted: share(&wrong),
        quotes_accepted: share(&own),
    })
}
