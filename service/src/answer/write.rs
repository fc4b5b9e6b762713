//! The language model's part of the draft stage: it writes the answer from
//! the evidence, and each sentence goes through the checks and the output
//! guardrails before the reader sees it.

use super::*;

impl Answerer {
    /// Has the corpus's language model write the answer from the top `k`
    /// chunks. Each sentence that passes the checks also passes the output
    /// guardrails before the reader sees it.
    pub(super) fn write(
        &self,
        a: &Assessment<'_>,
        q: &Question<'_>,
        k: usize,
        llm: &llm::Llm,
        sink: Sink<'_>,
    ) -> crate::Result<Written> {
        let gen = &a.served.generation;
        let config = &a.served.config;
        let (evidence, system, threshold) = self.brief(a, k)?;
        if !sink(Progress::Evidence(&evidence.citations)) {
            return Err(Error::Cancelled);
        }
        let guards = self.corpus(a.name)?.guards();
        let cites = plugin_citations(&evidence.citations);
        let mut reader = Release {
            sink,
            guards: &guards,
            question: q.text,
            cites: &cites,
            fired: Vec::new(),
            warnings: Vec::new(),
            failed: false,
            gone: false,
            block: None,
        };
        let mut support = generate::Support::new(gen, self.corpora.embedder());
        let task = generate::Task {
            system: &system,
            question: q.text,
            evidence: &evidence,
            threshold,
            max_sentences: config.answer.max_sentences,
        };
        let result = generate::generate(llm, &task, &mut support, &mut reader);
        if reader.gone {
            return Err(Error::Cancelled);
        }
        match result {
            Ok(g) => Ok(written(a.name, g, reader)),
            Err(generate::Failure::Engine(e)) => Err(e),
            // What the guardrails said of sentences now void is dropped with them.
            Err(generate::Failure::Llm {
                error,
                prompt_hash,
                raw,
            }) => {
                tracing::warn!(corpus = %a.name, error = %error, "language model failed");
                crate::metrics::inc(
                    "candor_llm_failures_total",
                    "Language model calls that failed, by corpus and cause.",
                    &[("corpus", a.name), ("cause", error.label())],
                );
                Ok(Written::Failed(LlmRun {
                    model: llm.model().to_owned(),
                    prompt_hash,
                    raw_output: raw,
                    kept: Vec::new(),
                    dropped: Vec::new(),
                    failure: Some(error.to_string()),
                }))
            }
        }
    }

    /// What the language model is given: the top `k` chunks as numbered
    /// evidence, the system prompt that frames them, and the support a
    /// sentence needs from the sources it cites.
    fn brief<'g>(
        &self,
        a: &'g Assessment<'_>,
        k: usize,
    ) -> crate::Result<(generate::Evidence<'g>, String, f32)> {
        let gen = &a.served.generation;
        let config = &a.served.config;
        let mut chunks = Vec::new();
        for s in compose::evidence(&a.ranked, k) {
            chunks.push((gen.chunk(s.id)?, s.score));
        }
        let evidence = generate::Evidence::new(chunks);
        let template = config
            .llm
            .as_ref()
            .and_then(|l| l.prompt.as_deref())
            .unwrap_or(generate::DEFAULT_PROMPT);
        let system = generate::prompt(template, &config.scope, &evidence);
        let threshold = self
            .corpus(a.name)?
            .calibration
            .as_ref()
            .and_then(|c| c.citation)
            .map_or(DEFAULT_CITATION_THRESHOLD, |c| c.threshold);
        Ok((evidence, system, threshold))
    }
}

/// What a generation the model finished came to, counted by corpus: its
/// kept sentences, or the rule that blocked one, with what the output
/// guardrails said on the way.
fn written(corpus: &str, g: generate::Generated, reader: Release<'_, '_>) -> Written {
    for (result, n) in [("dropped", g.dropped.len()), ("kept", g.kept.len())] {
        crate::metrics::add(
            "candor_llm_sentences_total",
            "Sentences the language model wrote, by whether they were kept.",
            &[("corpus", corpus), ("result", result)],
            n as u64,
        );
    }
    let run = LlmRun {
        model: g.model,
        prompt_hash: g.prompt_hash,
        raw_output: g.raw,
        kept: g.kept,
        dropped: g.dropped,
        failure: None,
    };
    if let Some(b) = reader.block {
        return Written::Blocked(b, run, reader.failed);
    }
    let said = GuardrailsSaid {
        fired: reader.fired,
        warnings: reader.warnings,
        failed: reader.failed,
    };
    Written::Done(g.composed, run, said)
}

/// Receives a generation for [`Answerer::write`]: each sentence that passed
/// the checks goes through the output guardrails, then to the reader.
struct Release<'s, 'a> {
    sink: Sink<'s>,
    guards: &'a Guards,
    question: &'a str,
    cites: &'a [crate::plugins::Citation],
    fired: Vec<Fired>,
    warnings: Vec<String>,
    failed: bool,
    gone: bool,
    block: Option<Fired>,
}

impl generate::Reader for Release<'_, '_> {
    fn release(&mut self, sentence: &str) -> Option<String> {
        let checked = self.guards.answer(self.question, sentence, self.cites);
        self.fired.extend(checked.fired);
        self.warnings.extend(checked.warnings);
        self.failed |= checked.failed;
        if let Some(b) = checked.blocked {
            self.block = Some(b);
            return None;
        }
        if !(self.sink)(Progress::Sentence(&checked.text)) {
            self.gone = true;
            return None;
        }
        Some(checked.text)
    }

    fn wanted(&mut self) -> bool {
        self.gone |= !(self.sink)(Progress::Working);
        !self.gone
    }
}

/// What the language model's attempt at an answer came to.
pub(super) enum Written {
    /// It wrote; the kept sentences (None when none was kept), and what the
    /// output guardrails said of them.
    Done(Option<Composed>, LlmRun, GuardrailsSaid),
    /// A guardrail blocked a sentence; true when it failed and blocked by policy.
    Blocked(Fired, LlmRun, bool),
    /// It failed; the run says why.
    Failed(LlmRun),
}

/// The guardrails that fired on a generated answer's sentences, and their
/// warnings.
pub(super) struct GuardrailsSaid {
    pub(super) fired: Vec<Fired>,
    pub(super) warnings: Vec<String>,
    pub(super) failed: bool,
}

/// Citations as guardrail plugins see them.
pub(super) fn plugin_citations(citations: &[Citation]) -> Vec<crate::plugins::Citation> {
    citations
        .iter()
        .map(|x| crate::plugins::Citation {
            doc_id: x.doc_id.0.clone(),
            title: x.title.clone(),
            snippet: x.snippet.clone(),
        })
        .collect()
}
