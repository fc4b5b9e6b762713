//! The answer path after routing, stage by stage: assess (retrieve and decide),
//! draft (compose), check (does the answer fit), output guardrails, finalise.

use super::write::{plugin_citations, Written};
use super::*;

/// What the compose stage made of a supported question, and what happened on
/// the way.
pub(super) struct Draft {
    /// The answer, if one could be composed.
    pub(super) composed: Option<Composed>,
    /// Who composed it.
    pub(super) composer: Composer,
    /// The language model's run, when it was asked.
    pub(super) run: Option<LlmRun>,
    /// The language model failed and the corpus answers nothing without it.
    pub(super) unavailable: bool,
    /// Guardrail rules that fired on the answer.
    pub(super) fired: Vec<Fired>,
    pub(super) warnings: Vec<String>,
    /// A guardrail failed.
    pub(super) degraded: bool,
    /// The version the question names that is newer than every release of
    /// the corpus, and its newest release, when the check stage declined the
    /// answer for it.
    pub(super) unreleased: Option<(String, String)>,
}

/// The compose stage's result: a draft, or the rule that blocked the answer
/// while it was written, with what was drafted so far.
pub(super) enum Drafted {
    Ready(Draft),
    Blocked(Fired, Draft),
}

/// One corpus's view of a question: its ranking and support decision.
pub(super) struct Assessment<'a> {
    pub(super) name: &'a str,
    pub(super) served: Arc<Served>,
    /// The question's embedding.
    pub(super) vector: Vec<f32>,
    pub(super) ranked: Vec<Scored<ChunkId>>,
    pub(super) confidence: f32,
    pub(super) verdict: Verdict,
    pub(super) support: Support,
    /// The question's words that neither the corpus nor the embedding model
    /// knows ([`Generation::unknown_words`](crate::index::Generation::unknown_words)).
    pub(super) unknown: Vec<String>,
    /// The question picks the best-ranked release by itself, and it is this
    /// corpus's product it asks about ([`picked_release`]).
    pub(super) picked: Option<Picked>,
}

/// How a question picks the release that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Picked {
    /// It asks about the best-ranked release as a whole, naming it ("what's
    /// new in 0.16.0") or asking for the newest ("what's new in restic",
    /// "what is the latest release?"). The corpus holds that release, so the
    /// question is answered from it, whatever the models make of its wording,
    /// whose words the release's notes seldom share.
    Named,
    /// It names an older release of the corpus's and asks whether there is a
    /// newer one: "I'm on 0.18.1, anything newer?". Only this product has
    /// that release, so the question is on topic, whatever the models make of
    /// its wording.
    Beyond,
}

impl Answerer {
    /// Ranks `text` in corpus `name` and decides whether it is supported.
    pub(super) fn assess<'a>(
        &'a self,
        name: &'a str,
        text: &str,
        as_of: Option<NaiveDate>,
        exclude_example: bool,
    ) -> crate::Result<Assessment<'a>> {
        let (name, corpus) = self
            .served
            .get_key_value(name)
            .ok_or_else(|| Error::UnknownCorpus(name.to_owned()))?;
        let served = corpus.current();
        let query = Query {
            text,
            corpus: Some(name),
            mode: Mode::Hybrid,
            limit: served.config.retrieval.candidates,
            as_of,
            recency: true,
        };
        let ranked = self.corpora.rank(&served, &query)?;
        // The vector retrieval embedded: a typo read as the corpus's word.
        let embedder = self.corpora.embedder();
        let vector = embedder.embed_one(&served.generation.respell(text, embedder))?;
        let mut signals = Signals::measure(
            &served.generation,
            &corpus.profile,
            text,
            &vector,
            &ranked,
            exclude_example,
        )?;
        let unknown: Vec<String> = served
            .generation
            .unknown_words(text, embedder)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        signals.unknown = if unknown.is_empty() { 0.0 } else { 1.0 };
        let calibration = corpus.calibration.as_ref().unwrap_or(&self.default);
        let picked = match ranked.first() {
            Some(best) => {
                picked_release(text, &served.generation, served.generation.chunk(best.id)?)
            }
            None => None,
        };
        let (confidence, verdict) = match (ranked.is_empty(), picked) {
            (true, _) => (0.0, Verdict::InsufficientEvidence),
            (false, Some(_)) => (calibration.decide(&signals).0, Verdict::Supported),
            (false, _) => calibration.decide(&signals),
        };
        let support = Support {
            signals,
            threshold: calibration.support.threshold,
            calibrated: corpus.calibration.is_some(),
            evidence: calibration.evidence.as_ref().map(|e| EvidenceView {
                probability: e.model.probability(&signals),
                threshold: e.model.threshold,
            }),
        };
        Ok(Assessment {
            name,
            served,
            vector,
            ranked,
            confidence,
            verdict,
            support,
            unknown,
            picked,
        })
    }

    /// The stages after assessment: compose, check, output guardrails,
    /// finalise. A guardrail that blocks ends the request at its stage.
    pub(super) fn conclude(
        &self,
        mut a: Assessment<'_>,
        q: &Question<'_>,
        routed: bool,
        sink: Sink<'_>,
    ) -> crate::Result<Answer> {
        let mut draft = match self.draft(&a, q, sink)? {
            Drafted::Ready(d) => d,
            Drafted::Blocked(block, d) => return self.stopped(a, q, block, d),
        };
        self.check(&mut a, q, &mut draft)?;
        if let Some(block) = self.guard_output(&a, q, &mut draft, sink)? {
            return self.stopped(a, q, block, draft);
        }
        Ok(self.finalise(a, q, routed, draft))
    }

    /// The compose stage: the answer a supported question gets from the
    /// corpus's composer (the language model, or the extractive composer when
    /// it is not set or failed and the corpus allows it); none otherwise.
    pub(super) fn draft(
        &self,
        a: &Assessment<'_>,
        q: &Question<'_>,
        sink: Sink<'_>,
    ) -> crate::Result<Drafted> {
        let config = &a.served.config;
        let mut d = Draft {
            composed: None,
            composer: Composer::Extractive,
            run: None,
            unavailable: false,
            fired: Vec::new(),
            warnings: Vec::new(),
            degraded: false,
            unreleased: None,
        };
        if !a.support.calibrated {
            d.warnings.push(format!(
                "corpus `{}` is not calibrated, so the built-in support model decided; run `candor calibrate`",
                a.name
            ));
        }
        if a.verdict != Verdict::Supported {
            return Ok(Drafted::Ready(d));
        }
        let k = q.top_k.unwrap_or(config.answer.evidence_chunks);
        let corpus = self.corpus(a.name)?;
        if let (Composer::Llm, Some(llm)) = (config.answer.composer, &corpus.llm) {
            match self.write(a, q, k, llm, sink)? {
                Written::Blocked(block, r, failed) => {
                    d.composer = Composer::Llm;
                    d.run = Some(r);
                    d.degraded = failed;
                    return Ok(Drafted::Blocked(block, d));
                }
                Written::Done(c, r, mut said) => {
                    d.composer = Composer::Llm;
                    d.composed = c;
                    d.fired.append(&mut said.fired);
                    d.warnings.append(&mut said.warnings);
                    d.degraded |= said.failed;
                    d.run = Some(r);
                }
                Written::Failed(r) => {
                    let why = r.failure.clone().unwrap_or_default();
                    d.run = Some(r);
                    match config.llm.as_ref().map(|l| l.on_failure) {
                        Some(OnLlmFailure::Unsupported) => {
                            d.warnings.push(why);
                            d.unavailable = true;
                        }
                        _ => {
                            let w = format!("{why}; this answer was composed extractively");
                            if !sink(Progress::Restart(&w)) {
                                return Err(Error::Cancelled);
                            }
                            d.warnings.push(w);
                        }
                    }
                }
            }
        }
        if d.composer == Composer::Extractive && !d.unavailable {
            d.composed = compose::compose(
                &a.served.generation,
                q.text,
                &a.vector,
                &a.ranked,
                k,
                config.answer.max_sentences,
            )?;
        }
        Ok(Drafted::Ready(d))
    }

    /// The check stage: a composed answer that does not fit its question, by
    /// the corpus's answer check, is withdrawn.
    pub(super) fn check(
        &self,
        a: &mut Assessment<'_>,
        q: &Question<'_>,
        d: &mut Draft,
    ) -> crate::Result<()> {
        if let Some(c) = &d.composed {
            // Whatever its sentences say, they are not about a release that
            // the corpus does not hold yet.
            d.unreleased =
                crate::retrieve::recency::unreleased(q.text, &a.served.generation.chunks);
            let fits = self.fits(a, q.text, c)?;
            // A release the question picked answers it by being that release,
            // not by the words its changes share with the question.
            if d.unreleased.is_some() || !(fits || a.picked.is_some()) {
                d.composed = None;
            }
        }
        Ok(())
    }

    /// The output guardrails on the whole answer: the rule that blocks it, if
    /// one does; otherwise the answer text as they leave it.
    pub(super) fn guard_output(
        &self,
        a: &Assessment<'_>,
        q: &Question<'_>,
        d: &mut Draft,
        sink: Sink<'_>,
    ) -> crate::Result<Option<Fired>> {
        let Some(c) = d.composed.as_mut() else {
            return Ok(None);
        };
        let cites = plugin_citations(&c.citations);
        let checked = self
            .corpus(a.name)?
            .guards()
            .answer(q.text, &c.text, &cites);
        d.warnings.extend(checked.warnings);
        d.fired.extend(checked.fired);
        d.degraded |= checked.failed;
        if let Some(block) = checked.blocked {
            return Ok(Some(block));
        }
        // Sentences already streamed were guarded one by one; a guardrail
        // that changes the whole answer voids them, and the reader is told
        // the answer again.
        if d.composer == Composer::Llm
            && checked.text != c.text
            && !sink(Progress::Restart("an output guardrail changed the answer"))
        {
            return Err(Error::Cancelled);
        }
        c.text = checked.text;
        Ok(None)
    }

    /// The answer to a question a guardrail blocked after assessment: what
    /// the assessment and the stages before the block found is kept.
    pub(super) fn stopped(
        &self,
        a: Assessment<'_>,
        q: &Question<'_>,
        block: Fired,
        d: Draft,
    ) -> crate::Result<Answer> {
        let mut b = self.blocked(a.name, q.text, block, d.fired, d.warnings)?;
        b.degraded = d.degraded;
        b.confidence = a.confidence;
        b.support = Some(a.support);
        b.composer = d.composer;
        b.llm = d.run;
        Ok(b)
    }

    /// The finalise stage: the outcome and the message that explains it.
    pub(super) fn finalise(
        &self,
        a: Assessment<'_>,
        q: &Question<'_>,
        routed: bool,
        d: Draft,
    ) -> Answer {
        let config = &a.served.config;
        let Draft {
            composed,
            composer,
            run,
            unavailable,
            fired,
            mut warnings,
            degraded,
            unreleased,
        } = d;
        // Guardrails run per sentence and on the whole answer say the same things.
        let mut said = std::collections::HashSet::new();
        warnings.retain(|w| said.insert(w.clone()));
        let (outcome, message, scope) = match (composed, unreleased) {
            (Some(c), _) => {
                // A future as_of is today: evidence does not age ahead of time.
                let now = chrono::Utc::now().date_naive();
                let today = q.as_of.map_or(now, |d| d.min(now));
                if let Some(w) = staleness(&c, today, config.recency.freshness_days) {
                    warnings.push(w);
                }
                let message = format!(
                    "Answered from the `{}` corpus; every sentence cites its source.",
                    a.name
                );
                (Outcome::Answered(c), message, config.scope.clone())
            }
            (None, Some((asked, newest))) => (
                Outcome::Unsupported(Reason::InsufficientEvidence),
                format!(
                    "Your question is within the scope of `{}`, but it names version {asked}, newer than the newest release its documents hold ({newest}), so they cannot answer it. It covers: {}",
                    a.name,
                    config.scope.trim()
                ),
                config.scope.clone(),
            ),
            (None, _) if unavailable => (
                Outcome::Unsupported(Reason::ComposerUnavailable),
                format!(
                    "The language model that writes answers for `{}` is unavailable, and this corpus is set not to answer without it.",
                    a.name
                ),
                config.scope.clone(),
            ),
            (None, _) if a.verdict == Verdict::Supported && composer == Composer::Llm => {
                let declined = run.as_ref().is_some_and(|r| {
                    r.dropped.iter().any(|d| d.why == generate::Why::Declined)
                });
                (
                    Outcome::Unsupported(Reason::InsufficientEvidence),
                    unwritten(a.name, declined),
                    config.scope.clone(),
                )
            }
            (None, _) if a.verdict == Verdict::OutOfScope => self.out_of_scope(&a, routed),
            (None, _) if a.verdict == Verdict::UnknownName => (
                Outcome::Unsupported(Reason::InsufficientEvidence),
                format!(
                    "Your question is within the scope of `{}`, but it names {}, which its documents never mention, so they cannot answer it. It covers: {}",
                    a.name,
                    quoted(&a.unknown),
                    config.scope.trim()
                ),
                config.scope.clone(),
            ),
            (None, None) => (
                Outcome::Unsupported(Reason::InsufficientEvidence),
                insufficient(a.name, a.verdict, &config.scope),
                config.scope.clone(),
            ),
        };
        Answer {
            outcome,
            message,
            scope,
            confidence: a.confidence,
            support: Some(a.support),
            warnings,
            guardrails: fired,
            corpus: a.name.to_owned(),
            generation: a.served.generation.manifest.generation,
            cached: false,
            took_ms: 0.0,
            asked: q.text.to_owned(),
            composer,
            llm: run,
            degraded,
        }
    }

    /// The outcome, message and scope of a question about something the
    /// corpus does not cover. A question routed among several corpora is told
    /// what each of them covers.
    fn out_of_scope(&self, a: &Assessment<'_>, routed: bool) -> (Outcome, String, String) {
        let outcome = Outcome::Unsupported(Reason::OutOfScope);
        if !routed {
            let scope = &a.served.config.scope;
            let message = format!(
                "This service answers questions about {}. Your question is about something else.",
                scope.trim_end_matches('.')
            );
            return (outcome, message, scope.clone());
        }
        let all: Vec<String> = self
            .served
            .iter()
            .map(|(n, c)| format!("{n}: {}", c.current().config.scope))
            .collect();
        let message = format!(
            "This service answers questions about the following. {} Your question is about something else.",
            all.join(" ")
        );
        (outcome, message, all.join("\n"))
    }

    /// Records how well a composed answer fits its question in the
    /// assessment's signals: the share of its terms, and the closeness in
    /// meaning of its closest sentence (embedding a written answer, whose
    /// sentences the index has no vectors for).
    pub(super) fn measure_answer(
        &self,
        a: &mut Assessment<'_>,
        question: &str,
        c: &Composed,
    ) -> crate::Result<()> {
        let signals = &mut a.support.signals;
        signals.answer = support::answer_fit(&a.served.generation, question, c)?;
        signals.meaning = match c.meaning {
            Some(m) => m,
            None => {
                let said = self.corpora.embedder().embed_one(&c.text)?;
                said.iter().zip(&a.vector).map(|(x, y)| x * y).sum()
            }
        };
        Ok(())
    }

    /// The check stage: whether a composed answer fits its question, by the
    /// corpus's answer check (when its calibration has one). Records the fit
    /// in the assessment's signals.
    pub(super) fn fits(
        &self,
        a: &mut Assessment<'_>,
        question: &str,
        c: &Composed,
    ) -> crate::Result<bool> {
        self.measure_answer(a, question, c)?;
        let check = self
            .corpus(a.name)?
            .calibration
            .as_ref()
            .unwrap_or(&self.default)
            .answer
            .as_ref();
        Ok(check.is_none_or(|check| check.answers(&a.support.signals)))
    }
}

/// Why a supported question got no answer from the language model: it said
/// the evidence holds none (`declined`), or no sentence it wrote was supported.
fn unwritten(corpus: &str, declined: bool) -> String {
    if declined {
        format!(
            "The language model found no answer to your question in the evidence from `{corpus}`."
        )
    } else {
        format!("No sentence the language model wrote was supported by the evidence from `{corpus}`, so there is no answer.")
    }
}

/// Why an in-scope question was declined, by the support decision's verdict
/// (or, for a supported one, because no composed sentence fit it), with what
/// the corpus covers.
fn insufficient(corpus: &str, verdict: Verdict, scope: &str) -> String {
    let why = match verdict {
        Verdict::AmbiguousEvidence => "no document stands out as the one that answers it: the passages that match its words and those that match its meaning point to different documents",
        Verdict::Supported => "its documents do not hold enough evidence to answer it: the passages closest to it are about something else",
        _ => "its documents do not hold enough evidence to answer it",
    };
    format!(
        "Your question is within the scope of `{corpus}`, but {why}. It covers: {}",
        scope.trim()
    )
}

/// How `question` picks `best`, the best-ranked chunk, when it does: `best` is
/// a release, and the question asks about it as a whole, naming its version
/// or asking for the newest (which the ranking put first), with no word but
/// the release's title (its product) and words that ask about releases
/// ("the latest release", not "the latest Ubuntu release"); or it names an
/// older release that `gen` holds and asks for a newer one.
fn picked_release(
    question: &str,
    gen: &crate::index::Generation,
    best: &crate::ingest::Chunk,
) -> Option<Picked> {
    if !best.metadata.contains_key("version") {
        return None;
    }
    let intent = crate::retrieve::recency::intent(question);
    let newest = intent.latest && intent.asks_release && !intent.names_release_of(best);
    if intent.beyond {
        let older = gen.chunks.iter().any(|c| intent.names_release_of(c));
        return (newest && older).then_some(Picked::Beyond);
    }
    let picks = if intent.versions.is_empty() {
        newest
    } else {
        intent.names_release_of(best)
    };
    let terms = super::support::question_terms(question);
    (picks && super::compose::about_whole(terms.iter().map(String::as_str), best))
        .then_some(Picked::Named)
}

/// Words a message names at most; a long question of unknown words gets a
/// count for the rest.
const QUOTED_AT_MOST: usize = 5;

/// `words` quoted and joined for a message: "“Veeam”", "“Velero” and “PVC”",
/// at most [`QUOTED_AT_MOST`] of them.
fn quoted(words: &[String]) -> String {
    let mut q: Vec<String> = words
        .iter()
        .take(QUOTED_AT_MOST)
        .map(|w| format!("“{w}”"))
        .collect();
    if words.len() > QUOTED_AT_MOST {
        q.push(format!("{} more words", words.len() - QUOTED_AT_MOST));
    }
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => q.concat(),
    }
}

/// A warning when the first citation is older than the freshness window.
fn staleness(c: &Composed, today: NaiveDate, freshness_days: f64) -> Option<String> {
    let first = c.citations.first()?;
    let date = first.date?;
    let age = (today - date).num_days() as f64;
    (age > freshness_days).then(|| {
        format!(
            "the best evidence ({}, dated {date}) is older than this corpus's freshness window of {freshness_days} days; it may be out of date",
            first.doc_id
        )
    })
}

#[cfg(test)]
mod tests;
