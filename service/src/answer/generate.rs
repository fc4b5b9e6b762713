//! The LLM composer: a language model writes the answer from numbered evidence,
//! and every sentence it writes must earn its place.
//!
//! The model is a replaceable part; the checks around it are the product. A
//! sentence is kept only when it cites at least one of the sources it was given
//! and those sources support it: embedding similarity to their best sentence and
//! the share of its terms they contain, against a threshold calibrated on the
//! corpus. Sentences are judged as soon as they are complete, so a streaming
//! reader only ever sees sentences that passed.

mod cited;
mod text;

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::compose::{self, Citation};
use super::llm::{Llm, LlmError, Message};
use crate::embed::Embedder;
use crate::index::{lexical, Generation};
use crate::ingest::Chunk;

pub use cited::Support;
pub use text::{markers, split};

/// The built-in system prompt. `{scope}` and `{sources}` are filled in.
pub const DEFAULT_PROMPT: &str = "You answer questions about {scope}

Rules:
- Use only the numbered sources below. Do not use anything else you know.
- After every sentence, cite the sources it comes from as [1], [2], ...
- Keep the answer short: at most four sentences.
- If the sources do not answer the question, reply only: The sources do not answer this question.

Sources:
{sources}";

/// Characters of a source's text given to the model.
const SOURCE_CHARS: usize = 1_000;
/// A model is stopped after judging this many times `max_sentences`
/// sentences: one that keeps writing what fails the checks (a loop, a lecture)
/// has nothing more to give.
const JUDGED_PER_KEPT: usize = 3;
/// Characters of a source's text in its citation snippet.
const SNIPPET_CHARS: usize = 300;
/// A sentence with fewer characters (markers left out) says nothing.
const MIN_CLAIM_CHARS: usize = 8;
/// Phrases of a model saying that its sources do not answer.
const DECLINES: &[&str] = &[
    "do not answer",
    "does not answer",
    "don't answer",
    "doesn't answer",
    "cannot answer",
    "can't answer",
    "not in the sources",
    "no information",
    "do not contain",
    "does not contain",
    "do not mention",
    "does not mention",
    "not mentioned",
    "not provided",
];

/// Why a generated sentence was left out of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Why {
    /// It cites no source.
    NoCitation,
    /// It repeats a sentence already kept.
    Repeat,
    /// It cites a source number that was not given.
    UnknownSource {
        /// The number cited.
        cited: usize,
    },
    /// The sources it cites do not support it.
    Unsupported {
        /// Its support score.
        score: f32,
        /// The score a sentence needs.
        threshold: f32,
    },
    /// The model said that its sources do not answer.
    Declined,
    /// Too short to say anything.
    Fragment,
}

impl Why {
    /// The name the JSON gives this reason (its `why` tag).
    pub fn label(&self) -> &'static str {
        match self {
            Why::NoCitation => "no_citation",
            Why::Repeat => "repeat",
            Why::UnknownSource { .. } => "unknown_source",
            Why::Unsupported { .. } => "unsupported",
            Why::Declined => "declined",
            Why::Fragment => "fragment",
        }
    }
}

/// A sentence left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dropped {
    /// The sentence as the model wrote it.
    pub sentence: String,
    /// Why it was left out.
    #[serde(flatten)]
    pub why: Why,
}

/// A sentence kept, with the support score it passed with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    /// The sentence as released (after any guardrail redaction).
    pub sentence: String,
    /// Its support score.
    pub score: f32,
}

/// What one generation produced, for the answer and for the answer log.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The answer (kept sentences with their markers) and the evidence, numbered
    /// as the model saw it; None when no sentence was kept.
    pub composed: Option<compose::Composed>,
    /// The sentences kept, in order.
    pub kept: Vec<Kept>,
    /// The sentences left out.
    pub dropped: Vec<Dropped>,
    /// Everything the model wrote.
    pub raw: String,
    /// The model that wrote it, as the endpoint named it (as configured when
    /// the model was stopped before its first event named it).
    pub model: String,
    /// SHA-256 of the messages sent (system prompt, example turn, question),
    /// hex: equal hashes, equal prompts.
    pub prompt_hash: String,
}

/// Who receives a generation as it is written.
pub trait Reader {
    /// A sentence passed the checks: the text to keep (a guardrail may have
    /// redacted it), or None to stop generating.
    fn release(&mut self, sentence: &str) -> Option<String>;
    /// Asked as text arrives: false stops generating (the reader has gone).
    fn wanted(&mut self) -> bool;
}

/// The evidence of one answer: the top chunks, numbered from 1.
pub struct Evidence<'a> {
    chunks: Vec<&'a Chunk>,
    /// One citation per chunk, in the same order.
    pub citations: Vec<Citation>,
}

impl<'a> Evidence<'a> {
    /// The evidence made of `chunks` with their ranking scores.
    pub fn new(chunks: Vec<(&'a Chunk, f32)>) -> Evidence<'a> {
        let citations = chunks
            .iter()
            .map(|(c, score)| Citation {
                doc_id: c.doc_id.clone(),
                title: c.title.clone(),
                source: c.source.clone(),
                page: c.page,
                date: c.date,
                span: c.span,
                snippet: clip(&c.text, SNIPPET_CHARS),
                score: *score,
                metadata: c.metadata.clone(),
            })
            .collect();
        Evidence {
            chunks: chunks.into_iter().map(|(c, _)| c).collect(),
            citations,
        }
    }

    /// The numbered sources as the prompt shows them.
    fn numbered(&self) -> String {
        let mut out = String::new();
        for (n, c) in self.chunks.iter().enumerate() {
            let date = c.date.map(|d| format!(", {d}")).unwrap_or_default();
            out.push_str(&format!(
                "[{}] {}{date}\n{}\n\n",
                n + 1,
                c.title,
                clip(&c.text, SOURCE_CHARS)
            ));
        }
        out.trim_end().to_owned()
    }
}

/// The first `max` characters of `text` on one line, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// The system prompt: `template` with the scope statement and the sources.
pub fn prompt(template: &str, scope: &str, evidence: &Evidence<'_>) -> String {
    template
        .replace("{scope}", scope.trim())
        .replace("{sources}", &evidence.numbered())
}

/// The chat sent to the model: the system prompt, one worked example turn, and
/// the question. The example quotes a sentence of the last source with its
/// marker; models, small ones above all, copy the form of an earlier answer far
/// more reliably than they follow a rule.
pub fn chat(system: &str, question: &str, evidence: &Evidence<'_>) -> Vec<Message> {
    let mut messages = vec![Message {
        role: "system",
        content: system.to_owned(),
    }];
    let n = evidence.chunks.len();
    let example = evidence.chunks.last().and_then(|c| {
        crate::ingest::sentence::sentence_texts(&c.text)
            .into_iter()
            .find(|s| s.split_whitespace().count() >= 5 && s.ends_with('.'))
    });
    if let Some(sentence) = example {
        let flat = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
        messages.push(Message {
            role: "user",
            content: format!("What does source [{n}] say?"),
        });
        messages.push(Message {
            role: "assistant",
            content: format!("{flat} [{n}]"),
        });
    }
    messages.push(Message {
        role: "user",
        content: question.to_owned(),
    });
    messages
}

/// What [`generate`] works with.
pub struct Task<'a> {
    /// The system prompt ([`prompt`]).
    pub system: &'a str,
    /// The question.
    pub question: &'a str,
    /// The numbered sources.
    pub evidence: &'a Evidence<'a>,
    /// The support score a sentence needs.
    pub threshold: f32,
    /// Sentences kept before the model is stopped.
    pub max_sentences: usize,
}

/// Asks `llm` to answer the task's question from its evidence, checks each
/// sentence as it completes and hands those that pass to `reader`. The model
/// is stopped once `max_sentences` were kept, or when it keeps writing
/// sentences that fail.
///
/// # Errors
///
/// [`Failure::Llm`] when the model fails; model and index errors of the support
/// check as [`Failure::Engine`].
pub fn generate(
    llm: &Llm,
    task: &Task<'_>,
    support: &mut Support<'_>,
    reader: &mut dyn Reader,
) -> Result<Generated, Failure> {
    let messages = chat(task.system, task.question, task.evidence);
    let prompt_hash = hex::encode(Sha256::digest(
        serde_json::to_string(&messages).unwrap_or_default(),
    ));
    let mut judge = Judge {
        evidence: task.evidence,
        support,
        threshold: task.threshold,
        max_sentences: task.max_sentences,
        reader,
        kept: Vec::new(),
        dropped: Vec::new(),
        engine: None,
        stopped: false,
    };
    let (mut buffer, mut raw) = (String::new(), String::new());
    let completion = llm.chat(&messages, &mut |piece| {
        raw.push_str(piece);
        buffer.push_str(piece);
        let (done, rest) = split(&buffer, false);
        for s in done {
            judge.judge(&s);
        }
        buffer.drain(..rest);
        judge.stopped |= !judge.reader.wanted();
        !(judge.stopped || judge.engine.is_some())
    });
    if let Some(e) = judge.engine.take() {
        return Err(Failure::Engine(e));
    }
    let model = match completion {
        Ok(c) => c.model,
        Err(LlmError::Cancelled) if judge.stopped => llm.model().to_owned(),
        Err(error) => {
            return Err(Failure::Llm {
                error,
                prompt_hash,
                raw,
            })
        }
    };
    if !judge.stopped {
        for s in split(&buffer, true).0 {
            judge.judge(&s);
        }
        if let Some(e) = judge.engine.take() {
            return Err(Failure::Engine(e));
        }
    }
    let composed = (!judge.kept.is_empty()).then(|| compose::Composed {
        text: judge
            .kept
            .iter()
            .map(|k| k.sentence.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        citations: task.evidence.citations.clone(),
        meaning: None,
    });
    Ok(Generated {
        composed,
        kept: judge.kept,
        dropped: judge.dropped,
        raw,
        model,
        prompt_hash,
    })
}

/// Why a generation failed.
#[derive(Debug)]
pub enum Failure {
    /// The model failed.
    Llm {
        /// What went wrong.
        error: LlmError,
        /// SHA-256 of the messages sent.
        prompt_hash: String,
        /// What the model wrote before it failed.
        raw: String,
    },
    /// Checking a sentence failed (the embedding model or the index).
    Engine(crate::Error),
}

/// The state of checking one generation's sentences.
struct Judge<'e, 's, 'g, 'r> {
    evidence: &'e Evidence<'e>,
    support: &'s mut Support<'g>,
    threshold: f32,
    max_sentences: usize,
    reader: &'r mut dyn Reader,
    kept: Vec<Kept>,
    dropped: Vec<Dropped>,
    engine: Option<crate::Error>,
    stopped: bool,
}

impl Judge<'_, '_, '_, '_> {
    fn judge(&mut self, sentence: &str) {
        if self.stopped || self.engine.is_some() {
            return;
        }
        let sentence = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
        let (claim, cited) = markers(&sentence);
        let lower = claim.to_lowercase();
        let fragment = claim.chars().filter(|c| c.is_alphanumeric()).count() < MIN_CLAIM_CHARS;
        let why = if self.kept.iter().any(|k| k.sentence == sentence) {
            Why::Repeat
        } else if cited.is_empty() && DECLINES.iter().any(|d| lower.contains(d)) {
            Why::Declined
        } else if fragment {
            Why::Fragment
        } else if cited.is_empty() {
            Why::NoCitation
        } else if let Some(&n) = cited
            .iter()
            .find(|&&n| n == 0 || n > self.evidence.chunks.len())
        {
            Why::UnknownSource { cited: n }
        } else {
            let sources: Vec<usize> = cited.iter().map(|n| n - 1).collect();
            match self.support.score(&claim, &self.evidence.chunks, &sources) {
                Ok(score) if score >= self.threshold => {
                    match self.reader.release(&sentence) {
                        Some(sentence) => self.kept.push(Kept { sentence, score }),
                        None => self.stopped = true,
                    }
                    self.stopped |= self.kept.len() >= self.max_sentences;
                    return;
                }
                Ok(score) => Why::Unsupported {
                    score,
                    threshold: self.threshold,
                },
                Err(e) => {
                    self.engine = Some(e);
                    return;
                }
            }
        };
        self.dropped.push(Dropped { sentence, why });
        let judged = self.kept.len() + self.dropped.len();
        self.stopped |= judged >= JUDGED_PER_KEPT * self.max_sentences;
    }
}

#[cfg(test)]
mod tests;
