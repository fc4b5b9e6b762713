//! The LLM composer: a language model writes the answer from numbered evidence,
//! and every sentence it writes must earn its place.
//!
//! The model is a replaceable part; the checks around it are the product. A
//! sentence is kept only when it cites at least one of the sources it was given
//! and those sources support it: embedding similarity to their best sentence and
//! the share of its terms they contain, against a threshold calibrated on the
//! corpus. Sentences are judged as soon as they are complete, so a streaming
//! reader only ever sees sentences that passed.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::compose::{self, Citation};
use super::llm::{Llm, LlmError, Message};
use crate::embed::Embedder;
use crate::index::{lexical, Generation};
use crate::ingest::Chunk;

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

/// Scores how well cited sources support a sentence: the mean of (a) the best
/// cosine similarity between the sentence and any sentence (or two adjacent
/// sentences) of the sources and
/// (b) the IDF-weighted share of the sentence's terms found in the sources.
pub struct Support<'a> {
    gen: &'a Generation,
    embedder: &'a Embedder,
    /// Per chunk (document and span): its passages' vectors and its terms,
    /// computed when first cited.
    seen: HashMap<(String, (usize, usize)), Passages>,
}

/// A cited chunk's passage vectors and terms.
type Passages = (Vec<Vec<f32>>, HashSet<String>);

impl<'a> Support<'a> {
    /// A scorer over the chunks of `gen`.
    pub fn new(gen: &'a Generation, embedder: &'a Embedder) -> Support<'a> {
        Support {
            gen,
            embedder,
            seen: HashMap::new(),
        }
    }

    /// The support score in [0, 1] of `claim` by `sources` (indexes into `chunks`).
    ///
    /// # Errors
    ///
    /// Model and index errors.
    pub fn score(
        &mut self,
        claim: &str,
        chunks: &[&Chunk],
        sources: &[usize],
    ) -> crate::Result<f32> {
        let (dense, lexical) = self.parts(claim, chunks, sources)?;
        Ok((dense + lexical) / 2.0)
    }

    /// The two parts of [`Support::score`]: the best cosine similarity (at least
    /// 0) and the IDF-weighted share of terms found.
    ///
    /// # Errors
    ///
    /// Model and index errors.
    pub fn parts(
        &mut self,
        claim: &str,
        chunks: &[&Chunk],
        sources: &[usize],
    ) -> crate::Result<(f32, f32)> {
        let keys: Vec<(String, (usize, usize))> = sources
            .iter()
            .map(|&i| (chunks[i].doc_id.0.clone(), chunks[i].span))
            .collect();
        for (&i, key) in sources.iter().zip(&keys) {
            if !self.seen.contains_key(key) {
                let c = chunks[i];
                // Support may span two sentences ("Only one: port 7420. Agents
                // use it."), so adjacent pairs count as passages too.
                let sentences = crate::ingest::sentence::sentence_texts(&c.text);
                let mut passages = sentences.clone();
                passages.extend(sentences.windows(2).map(|w| w.join(" ")));
                let vectors = self.embedder.embed(&passages)?;
                let terms: HashSet<String> = lexical::terms(&format!("{}\n{}", c.title, c.text))
                    .into_iter()
                    .collect();
                self.seen.insert(key.clone(), (vectors, terms));
            }
        }
        let v = self.embedder.embed_one(claim)?;
        let mut dense = 0.0f32;
        for key in &keys {
            for s in &self.seen[key].0 {
                dense = dense.max(cosine(&v, s));
            }
        }
        let terms: HashSet<String> = lexical::terms(claim).into_iter().collect();
        let (mut covered, mut total) = (0.0f32, 0.0f32);
        for t in &terms {
            let idf = self.gen.lexical.idf(t)?;
            total += idf;
            if keys.iter().any(|k| self.seen[k].1.contains(t)) {
                covered += idf;
            }
        }
        let lexical = if total > 0.0 { covered / total } else { 0.0 };
        Ok((dense.max(0.0), lexical))
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
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

/// The citation numbers of a sentence (`[1]`, `[2, 3]`, `[1][4]`) and its text
/// without them.
pub fn markers(sentence: &str) -> (String, Vec<usize>) {
    let mut claim = String::new();
    let mut cited = Vec::new();
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        claim.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close)
                if !after[..close].trim().is_empty()
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
            {
                for n in after[..close].split(',') {
                    if let Ok(n) = n.trim().parse::<usize>() {
                        if !cited.contains(&n) {
                            cited.push(n);
                        }
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                claim.push('[');
                rest = after;
            }
        }
    }
    claim.push_str(rest);
    (
        claim.split_whitespace().collect::<Vec<_>>().join(" "),
        cited,
    )
}

/// The complete sentences at the start of `text` and the byte length they take.
/// A sentence ends after `.`, `!` or `?` and the citation markers that follow
/// it, when white space follows, or at a line break. Unless `finished`, the last
/// piece stays: more text (or its markers) may still come.
pub fn split(text: &str, finished: bool) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    let push = |s: usize, e: usize, out: &mut Vec<String>| {
        let piece = text[s..e].trim();
        // A list item's bullet or number is layout, not part of its sentence.
        let digits = piece.bytes().take_while(u8::is_ascii_digit).count();
        let numbered = (1..=3).contains(&digits)
            && matches!(
                piece.as_bytes().get(digits..digits + 2),
                Some([b'.' | b')', b' '])
            );
        let piece = if numbered {
            &piece[digits + 2..]
        } else {
            ["- ", "* ", "• "]
                .iter()
                .find_map(|b| piece.strip_prefix(b))
                .unwrap_or(piece)
        }
        .trim();
        if !piece.is_empty() {
            out.push(piece.to_owned());
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                push(start, i, &mut out);
                start = i + 1;
            }
            b'.' | b'!' | b'?' => {
                let mut j = i + 1;
                while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')') {
                    j += 1;
                }
                // Markers after the stop belong to this sentence.
                let mut k = j;
                let mut open = false;
                loop {
                    let mut m = k;
                    while m < bytes.len() && bytes[m] == b' ' {
                        m += 1;
                    }
                    if m < bytes.len() && bytes[m] == b'[' {
                        match text[m..].find(']') {
                            Some(c)
                                if text[m + 1..m + c]
                                    .bytes()
                                    .all(|b| b.is_ascii_digit() || b == b',' || b == b' ') =>
                            {
                                k = m + c + 1;
                                continue;
                            }
                            Some(_) => {}
                            None => open = true,
                        }
                    }
                    break;
                }
                let at_end = k >= bytes.len() || text[k..].trim().is_empty();
                if open || (at_end && !finished) {
                    break;
                }
                // As in the corpus's own text: a sentence starts with a capital, a
                // digit or an opening mark, so `e.g. port 7420` goes on.
                let starts = text[k..].trim_start().chars().next().is_some_and(|n| {
                    n.is_uppercase()
                        || n.is_ascii_digit()
                        || matches!(n, '"' | '(' | '[' | '*' | '-' | '`')
                });
                let number = text[start..i].trim().bytes().all(|b| b.is_ascii_digit());
                if at_end || (bytes[k].is_ascii_whitespace() && starts && !number) {
                    push(start, k, &mut out);
                    start = k;
                    i = k;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if finished {
        push(start, bytes.len(), &mut out);
        start = bytes.len();
    }
    (out, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_json_tags() {
        for why in [
            Why::NoCitation,
            Why::Repeat,
            Why::UnknownSource { cited: 4 },
            Why::Unsupported {
                score: 0.2,
                threshold: 0.5,
            },
            Why::Declined,
            Why::Fragment,
        ] {
            let json = serde_json::to_value(&why).unwrap();
            assert_eq!(json["why"], why.label(), "{why:?}");
        }
    }

    #[test]
    fn markers_are_read_and_removed() {
        assert_eq!(
            markers("Backups run nightly [1]. They keep 30 days [2, 3][3]."),
            (
                "Backups run nightly . They keep 30 days .".into(),
                vec![1, 2, 3]
            )
        );
        assert_eq!(
            markers("See [the guide] now"),
            ("See [the guide] now".into(), vec![])
        );
        assert_eq!(markers("Nothing cited."), ("Nothing cited.".into(), vec![]));
    }

    #[test]
    fn sentences_complete_only_when_their_markers_have_arrived() {
        let (done, used) = split("Backups run nightly. [1", false);
        assert!(done.is_empty());
        assert_eq!(used, 0);
        let (done, used) = split("Backups run nightly. [1] They keep", false);
        assert_eq!(done, ["Backups run nightly. [1]"]);
        assert_eq!(&"Backups run nightly. [1] They keep"[used..], " They keep");
        let (done, _) = split("Version 2.5 is out [2]. Next one", false);
        assert_eq!(done, ["Version 2.5 is out [2]."]);
        let (done, _) = split("It runs at 02:00 UTC.", false);
        assert!(done.is_empty(), "a stop at the end may still get markers");
        let (done, used) = split("It runs at 02:00 UTC.", true);
        assert_eq!((done, used), (vec!["It runs at 02:00 UTC.".to_owned()], 21));
        let (done, _) = split("- first [1]\n- second [2]\n", false);
        assert_eq!(done, ["first [1]", "second [2]"]);
        let (done, _) = split(
            "1. Open port 7420 [1]. 2. Enrol, e.g. with a token [2]. Done",
            false,
        );
        assert_eq!(
            done,
            ["Open port 7420 [1].", "Enrol, e.g. with a token [2]."]
        );
    }

    #[test]
    fn the_prompt_numbers_the_sources_and_fills_the_template() {
        let chunk = |title: &str, text: &str| Chunk {
            doc_id: crate::ingest::DocId(format!("{title}.md")),
            source: format!("{title}.md").into(),
            title: title.into(),
            heading_path: vec![],
            page: None,
            date: chrono::NaiveDate::from_ymd_opt(2026, 5, 1),
            series: None,
            file_dated: false,
            metadata: Default::default(),
            span: (0, text.chars().count()),
            text: text.into(),
        };
        let (a, b) = (
            chunk("Backups", "Backups run nightly."),
            chunk("Ports", "Port 7420."),
        );
        let ev = Evidence::new(vec![(&a, 0.9), (&b, 0.5)]);
        let p = prompt(DEFAULT_PROMPT, "Ferrule.", &ev);
        assert!(p.starts_with("You answer questions about Ferrule."), "{p}");
        assert!(p.contains("[1] Backups, 2026-05-01\nBackups run nightly.\n\n[2] Ports, 2026-05-01\nPort 7420."), "{p}");
        assert_eq!(ev.citations.len(), 2);
        assert_eq!(ev.citations[1].doc_id.0, "Ports.md");
    }
}
