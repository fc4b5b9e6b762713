//! Asking an eval set's questions and tallying the answers.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Confidences, Generated, Judged, Miss};
use crate::answer::{Answer, Answerer, Outcome, Question};

/// `a / b`, or 0 when `b` is 0.
pub(super) fn share(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Asks questions of one corpus and tallies what every answer shares: latency,
/// unsupported reasons and the language model's work.
pub(super) struct Asker<'a> {
    answerer: &'a Answerer,
    name: &'a str,
    pub(super) latencies: Vec<f64>,
    pub(super) reasons: BTreeMap<String, usize>,
    pub(super) generated: Option<Generated>,
    /// Sentences the model wrote.
    written: usize,
    /// Of those, sentences dropped.
    dropped: usize,
}

impl<'a> Asker<'a> {
    pub(super) fn new(answerer: &'a Answerer, name: &'a str) -> Self {
        Asker {
            answerer,
            name,
            latencies: Vec::new(),
            reasons: BTreeMap::new(),
            generated: None,
            written: 0,
            dropped: 0,
        }
    }

    /// Asks `q` once and notes its latency, reason and model run.
    pub(super) fn ask(&mut self, q: &Judged) -> crate::Result<Answer> {
        let started = Instant::now();
        let a = self.answerer.answer(&self.answerer.ask(&Question {
            text: &q.text,
            corpus: Some(self.name),
            as_of: q.as_of,
            top_k: None,
        })?)?;
        self.latencies
            .push(started.elapsed().as_secs_f64() * 1000.0);
        if let Outcome::Unsupported(r) = a.outcome {
            *self.reasons.entry(r.as_str().to_owned()).or_default() += 1;
        }
        if let Some(run) = &a.llm {
            let g = self.generated.get_or_insert_with(Generated::default);
            g.asked += 1;
            g.failed += usize::from(run.failure.is_some());
            self.written += run.kept.len() + run.dropped.len();
            self.dropped += run.dropped.len();
            for d in &run.dropped {
                *g.dropped_by_why
                    .entry(d.why.label().to_owned())
                    .or_default() += 1;
            }
        }
        Ok(a)
    }

    /// Asks every question of `set`, noting each confidence in `seen`; how many
    /// were declared unsupported.
    pub(super) fn declined(&mut self, set: &[Judged], seen: &mut Vec<f32>) -> crate::Result<usize> {
        let mut n = 0;
        for q in set {
            let a = self.ask(q)?;
            seen.push(a.confidence);
            if matches!(a.outcome, Outcome::Unsupported(_)) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Asks the guardrail cases: how many were blocked by the rule they name,
    /// and how many were declined at all.
    pub(super) fn guarded(&mut self, guarded: &[Judged]) -> crate::Result<(usize, usize)> {
        let (mut blocked, mut declined) = (0, 0);
        for q in guarded {
            let a = self.ask(q)?;
            let by_rule = a
                .guardrails
                .iter()
                .any(|f| f.action == "block" && Some(&f.code) == q.code.as_ref());
            declined += usize::from(matches!(a.outcome, Outcome::Unsupported(_)));
            blocked += usize::from(by_rule && matches!(a.outcome, Outcome::Unsupported(_)));
        }
        Ok((blocked, declined))
    }

    /// Fills in the model's sentence totals.
    pub(super) fn finish(mut self) -> Self {
        if let Some(g) = self.generated.as_mut() {
            g.sentences = self.written;
            g.dropped_share = share(self.dropped, self.written);
        }
        self
    }
}

/// How the in-scope questions fared.
#[derive(Default)]
pub(super) struct InScope {
    pub(super) answered: usize,
    pub(super) judged: usize,
    pub(super) relevant_first: usize,
    pub(super) gold_questions: usize,
    pub(super) correct: usize,
    pub(super) expected_questions: usize,
    pub(super) expected_first: usize,
    pub(super) misses: Vec<Miss>,
}

impl InScope {
    /// Asks every in-scope question, noting each confidence and the threshold.
    pub(super) fn ask(
        asker: &mut Asker<'_>,
        in_scope: &[Judged],
        confidence: &mut Confidences,
    ) -> crate::Result<InScope> {
        let mut scored = InScope::default();
        for q in in_scope {
            let a = asker.ask(q)?;
            if let Some(s) = a.support {
                confidence.threshold = s.threshold;
            }
            confidence.in_scope.push(a.confidence);
            scored.add(q, &a);
        }
        Ok(scored)
    }

    /// Scores one answer: answered, relevant or expected first, gold text.
    fn add(&mut self, q: &Judged, a: &Answer) {
        let composed = match &a.outcome {
            Outcome::Answered(c) => Some(c),
            Outcome::Unsupported(_) => None,
        };
        let first_doc = composed
            .and_then(|c| c.citations.first())
            .map(|c| c.doc_id.0.clone());
        if composed.is_some() {
            self.answered += 1;
            if !q.relevant.is_empty() {
                self.judged += 1;
                self.relevant_first +=
                    usize::from(first_doc.as_ref().is_some_and(|d| q.relevant.contains(d)));
            }
        }
        let is_correct = q
            .gold
            .is_some()
            .then(|| composed.is_some_and(|c| q.gold_in(&c.text)));
        let expected = q.expected_first();
        let is_expected = (!expected.is_empty())
            .then(|| first_doc.as_deref().is_some_and(|d| expected.contains(&d)));
        self.gold_questions += usize::from(is_correct.is_some());
        self.correct += usize::from(is_correct == Some(true));
        self.expected_questions += usize::from(is_expected.is_some());
        self.expected_first += usize::from(is_expected == Some(true));
        if is_correct == Some(false) || is_expected == Some(false) {
            self.misses.push(Miss {
                text: q.text.clone(),
                answer: composed.map(|c| c.text.clone()),
                first_doc,
                correct: is_correct,
                expected_first: is_expected,
            });
        }
    }
}
