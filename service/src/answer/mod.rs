//! Answers: a cited extractive answer, or an open declaration that the question is
//! not supported, with the reason.
//!
//! The path of a question, one stage after another: input guardrails →
//! assess (retrieve with recency, measure the support signals, decide with the
//! corpus's calibrated models) → compose (from the corpus's own sentences, or
//! by a language model whose every sentence is checked) → check (does the
//! answer fit the question?) → output guardrails → finalise (outcome, message,
//! stale-evidence warning) → cache. Each stage hands a typed result to the
//! next; a guardrail that blocks ends the path where it fires. Unsupported is
//! a normal outcome, not an error.
//! A reader may follow an answer as it is made ([`Progress`]). Knows nothing of
//! HTTP.

pub mod calibration;
pub mod compose;
pub mod generate;
pub mod guard;
pub mod llm;
pub mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use crate::cache::Fifo;
use crate::config::{Composer, OnLlmFailure};
use crate::index::{ChunkId, GenerationId};
use crate::ingest::DocId;
use crate::retrieve::corpora::{Corpora, Query, SearchResult, Served};
use crate::retrieve::{Mode, Scored};
use crate::Error;

pub use calibration::{Calibration, Verdict, ANSWER_MIN_UNANSWERABLE, EVIDENCE_MIN_EACH};
pub use compose::{Citation, Composed};
pub use generate::Dropped;
use guard::Checked;
pub use guard::{Fired, Guards};
pub use support::{ScopeProfile, Signals};

/// The support a generated sentence needs from its sources when the corpus's
/// calibration has no citation threshold: the one `candor calibrate` chose on
/// the Ferrule demo corpus (5% of wrong citations pass it).
pub const DEFAULT_CITATION_THRESHOLD: f32 = 0.846;

/// Composed answers kept for reuse. Default: 4,096.
pub const ANSWER_CACHE_ENTRIES: usize = 4096;

/// Largest `top_k` (evidence chunks read by the composer) a question may ask for.
pub const MAX_TOP_K: usize = 20;

/// Largest number of results a search may ask for.
pub const MAX_SEARCH_RESULTS: usize = 100;

/// The built-in calibration used for a corpus without its own: fitted with
/// `candor calibrate` on BEIR SciFact train questions against half of the FiQA
/// probes. Every answer it decides carries a warning.
const DEFAULT_CALIBRATION: &str = include_str!("default_calibration.json");

/// A question for [`Answerer::answer`].
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// The question text.
    pub text: &'a str,
    /// The corpus; when None, the best-matching served corpus.
    pub corpus: Option<&'a str>,
    /// Documents dated after this day are left out.
    pub as_of: Option<NaiveDate>,
    /// Evidence chunks the composer reads; None uses the corpus setting.
    pub top_k: Option<usize>,
}

/// A question the engine accepted. Only [`Answerer::ask`] makes one, and it
/// checks the question once: answering it needs no second look.
#[derive(Debug, Clone)]
pub struct Asked {
    text: String,
    corpus: Option<String>,
    as_of: Option<NaiveDate>,
    top_k: Option<usize>,
}

fn check_top_k(k: usize, max: usize) -> crate::Result<()> {
    if (1..=max).contains(&k) {
        Ok(())
    } else {
        Err(Error::InvalidTopK { got: k, max })
    }
}

impl Asked {
    fn question(&self) -> Question<'_> {
        Question {
            text: &self.text,
            corpus: self.corpus.as_deref(),
            as_of: self.as_of,
            top_k: self.top_k,
        }
    }
}

/// Why a question was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The question is about something the corpus does not cover.
    OutOfScope,
    /// In scope, but nothing retrieved supports an answer.
    InsufficientEvidence,
    /// A guardrail refused the question or the answer.
    Blocked,
    /// The corpus composes with a language model, the model failed, and the
    /// corpus is set to decline rather than answer extractively.
    ComposerUnavailable,
}

impl Reason {
    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfScope => "out_of_scope",
            Reason::InsufficientEvidence => "insufficient_evidence",
            Reason::Blocked => "blocked",
            Reason::ComposerUnavailable => "composer_unavailable",
        }
    }
}

/// What happened to a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A cited answer.
    Answered(Composed),
    /// No answer, and why.
    Unsupported(Reason),
}

/// A piece of an answer in the making, for a reader that follows it.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The evidence the answer cites, numbered from 1: first, before any text.
    Evidence(&'a [Citation]),
    /// The next sentence, released only after it passed every check.
    Sentence(&'a str),
    /// Everything sent so far is void (the language model failed); the answer
    /// starts again, from new evidence. The text says why.
    Restart(&'a str),
    /// Still working, nothing to show: lets a reader that has gone stop a
    /// language model mid-sentence.
    Working,
}

/// Receives [`Progress`]; returns false when the reader has gone, which stops
/// the answer ([`Error::Cancelled`]).
pub type Sink<'a> = &'a mut dyn FnMut(Progress<'_>) -> bool;

/// What the language model did for an answer: for the answer log, so that rated
/// answers become eval cases for the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRun {
    /// The model, as the endpoint named it.
    pub model: String,
    /// SHA-256 of the system prompt and question.
    pub prompt_hash: String,
    /// Everything the model wrote.
    pub raw_output: String,
    /// The sentences kept, with their support scores.
    pub kept: Vec<generate::Kept>,
    /// The sentences left out, and why.
    pub dropped: Vec<Dropped>,
    /// Why the model failed, when it did (the answer then fell back).
    pub failure: Option<String>,
}

/// How the support decision saw the question (for explaining an outcome).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Support {
    /// The measured signals.
    pub signals: Signals,
    /// The confidence an answer needs.
    pub threshold: f32,
    /// False when the corpus has no calibration of its own.
    pub calibrated: bool,
    /// The evidence check's view, when the calibration has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceView>,
}

/// How the evidence check saw the best-ranked document.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EvidenceView {
    /// The check's probability that the best-ranked document is relevant.
    pub probability: f32,
    /// Below this, the question is declined as `insufficient_evidence`.
    pub threshold: f32,
}

/// The result of a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Answered or unsupported.
    pub outcome: Outcome,
    /// A sentence for a person saying what happened.
    pub message: String,
    /// The scope statement of the corpus (or of every corpus, when none fits).
    pub scope: String,
    /// The support model's confidence in [0, 1].
    pub confidence: f32,
    /// Signals and threshold behind the decision; None when no corpus was assessed.
    pub support: Option<Support>,
    /// Things the reader should know (stale evidence, no calibration, a guardrail
    /// that failed open).
    pub warnings: Vec<String>,
    /// Guardrail rules that fired (blocked or redacted).
    pub guardrails: Vec<Fired>,
    /// The corpus that answered or declined.
    pub corpus: String,
    /// Its generation.
    pub generation: GenerationId,
    /// True when served from the answer cache.
    pub cached: bool,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
    /// The question as the input guardrails left it, redactions applied: what
    /// an answer log may keep. Not part of the JSON answer.
    pub asked: String,
    /// Who wrote the answer (after any fallback).
    pub composer: Composer,
    /// The language model's part, when the corpus composes with one. Not part of
    /// the JSON answer beyond `dropped_sentences`.
    pub llm: Option<LlmRun>,
    /// True when a guardrail failed and its `on_error` policy shaped this
    /// answer (a fail_closed block, a fail_open skip): never cached, so the
    /// next asker meets the guardrail again. Not part of the JSON answer.
    pub degraded: bool,
}

/// Counts an answer by corpus, outcome and reason, and whether the cache served it.
fn count(a: &Answer) {
    let (status, reason) = match &a.outcome {
        Outcome::Answered(_) => ("answered", ""),
        Outcome::Unsupported(r) => ("unsupported", r.as_str()),
    };
    crate::metrics::inc(
        "candor_answers_total",
        "Answers by corpus, status and reason.",
        &[
            ("corpus", &a.corpus),
            ("status", status),
            ("reason", reason),
        ],
    );
    crate::metrics::inc(
        "candor_answer_cache_total",
        "Answer cache lookups by result (hit, miss).",
        &[("result", if a.cached { "hit" } else { "miss" })],
    );
}

/// The support models, scope and guardrails of one corpus.
struct Judge {
    profile: ScopeProfile,
    calibration: Option<Calibration>,
    /// The language model client, when the corpus has an `[llm]` table.
    llm: Option<llm::Llm>,
    /// Swapped whole by [`Answerer::reload_plugins`]; a request keeps the set it took.
    guards: RwLock<Arc<Guards>>,
}

impl Judge {
    fn guards(&self) -> Arc<Guards> {
        crate::sync::read(&self.guards).clone()
    }
}

/// Search results after the input guardrails.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Searched {
    /// The ranking; no evidence when a guardrail blocked the question.
    #[serde(flatten)]
    pub result: SearchResult,
    /// Guardrail rules that fired on the question.
    pub guardrails: Vec<Fired>,
    /// Guardrails that failed and were skipped or declined the question.
    pub warnings: Vec<String>,
}

/// What the compose stage made of a supported question, and what happened on
/// the way.
struct Draft {
    /// The answer, if one could be composed.
    composed: Option<Composed>,
    /// Who composed it.
    composer: Composer,
    /// The language model's run, when it was asked.
    run: Option<LlmRun>,
    /// The language model failed and the corpus answers nothing without it.
    unavailable: bool,
    /// Guardrail rules that fired on the answer.
    fired: Vec<Fired>,
    warnings: Vec<String>,
    /// A guardrail failed.
    degraded: bool,
}

/// The compose stage's result: a draft, or the rule that blocked the answer
/// while it was written, with what was drafted so far.
enum Drafted {
    Ready(Draft),
    Blocked(Fired, Draft),
}

/// One corpus's view of a question: its ranking and support decision.
struct Assessment<'a> {
    name: &'a str,
    served: Arc<Served>,
    /// The question's embedding.
    vector: Vec<f32>,
    ranked: Vec<Scored<ChunkId>>,
    confidence: f32,
    verdict: Verdict,
    support: Support,
}

type CacheKey = (
    u64,
    Vec<GenerationId>,
    Option<String>,
    String,
    Option<NaiveDate>,
    Option<usize>,
);

/// Answers questions over the served corpora.
pub struct Answerer {
    corpora: Arc<Corpora>,
    judges: BTreeMap<String, Judge>,
    default: Calibration,
    cache: Mutex<Fifo<CacheKey, Answer>>,
    plugin_cache: std::path::PathBuf,
    /// Bumped by every guardrail reload; part of the cache key.
    guards_epoch: std::sync::atomic::AtomicU64,
    /// Longest question, in characters; an input guardrail may not redact a
    /// question to anything longer.
    max_question_chars: usize,
    /// Uncached answers and searches under way, bounded.
    admission: Admission,
}

/// Longest question accepted, in characters, unless configured.
pub const DEFAULT_MAX_QUESTION_CHARS: usize = 2_000;

/// Uncached questions admitted at once per core, unless configured: at the
/// measured 8 ms of embedding per question, about a quarter second of work
/// queued per core. More are refused at once rather than queued without bound.
pub const DEFAULT_PENDING_PER_CORE: usize = 32;

/// Counts uncached work under way and refuses work past a bound.
#[derive(Debug)]
pub struct Admission {
    max: usize,
    running: std::sync::atomic::AtomicUsize,
}

/// One admitted piece of work; leaving it lets another in.
pub struct Admitted<'a>(&'a Admission);

impl Admission {
    /// Admits at most `max` pieces of work at once.
    pub fn new(max: usize) -> Admission {
        Admission {
            max: max.max(1),
            running: Default::default(),
        }
    }

    /// The default bound: [`DEFAULT_PENDING_PER_CORE`] per core.
    pub fn for_cores() -> Admission {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Admission::new(cores * DEFAULT_PENDING_PER_CORE)
    }

    /// Work under way now.
    pub fn running(&self) -> usize {
        self.running.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Admits one more piece of work, or says the server is full.
    ///
    /// # Errors
    ///
    /// [`Error::Overloaded`] when `max` are under way.
    pub fn enter(&self) -> crate::Result<Admitted<'_>> {
        use std::sync::atomic::Ordering;
        match self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            }) {
            Ok(_) => Ok(Admitted(self)),
            Err(_) => {
                crate::metrics::inc(
                    "candor_shed_total",
                    "Uncached answers and searches refused with 503 overloaded.",
                    &[],
                );
                Err(Error::Overloaded(self.max))
            }
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Whether [`Answerer::new`] reads the corpora's calibration files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calibrations {
    /// Read them; a damaged one is an error.
    Load,
    /// Leave them unread: `candor calibrate` replaces them, and a stale or
    /// damaged one must not stop it.
    Ignore,
}

impl Answerer {
    /// Prepares every served corpus: embeds its scope statement and examples,
    /// loads its calibration, and loads its guardrail plugins (compiled
    /// components are cached in `plugin_cache`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a damaged calibration file or a guardrail that cannot
    /// be loaded, I/O and model errors.
    pub fn new(
        corpora: Arc<Corpora>,
        plugin_cache: &std::path::Path,
        calibrations: Calibrations,
    ) -> crate::Result<Answerer> {
        let mut judges = BTreeMap::new();
        for (name, served) in corpora.iter() {
            let profile = ScopeProfile::build(&served.root, &served.config, corpora.embedder())?;
            let calibration = match calibrations {
                Calibrations::Load => Calibration::load(&served.root)?,
                Calibrations::Ignore => None,
            };
            if calibration.is_none() && calibrations == Calibrations::Load {
                tracing::warn!(corpus = %name, "no calibration; run `candor calibrate` (using the built-in model)");
            }
            let file = served.root.join(crate::config::CORPUS_FILE);
            let guards = RwLock::new(Arc::new(Guards::load(
                &file,
                &served.config.guardrails,
                plugin_cache,
            )?));
            let llm = match &served.config.llm {
                Some(settings) => Some(llm::Llm::new(settings, &file)?),
                None => None,
            };
            judges.insert(
                name.clone(),
                Judge {
                    profile,
                    calibration,
                    llm,
                    guards,
                },
            );
        }
        let default = serde_json::from_str(DEFAULT_CALIBRATION).map_err(|e| {
            Error::Internal(format!("the built-in calibration does not parse: {e}"))
        })?;
        Ok(Answerer {
            corpora,
            judges,
            default,
            cache: Mutex::new(Fifo::new(ANSWER_CACHE_ENTRIES)),
            plugin_cache: plugin_cache.to_path_buf(),
            guards_epoch: Default::default(),
            max_question_chars: DEFAULT_MAX_QUESTION_CHARS,
            admission: Admission::for_cores(),
        })
    }

    /// Admits at most `max` uncached answers and searches at once; more get
    /// [`Error::Overloaded`] at once. Cached answers are always served.
    pub fn with_max_pending(mut self, max: usize) -> Answerer {
        self.admission = Admission::new(max);
        self
    }

    /// The bound on uncached work, and how much is under way.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Holds questions, and what input guardrails redact them to, to `chars`
    /// characters.
    pub fn with_max_question_chars(mut self, chars: usize) -> Answerer {
        self.max_question_chars = chars;
        self
    }

    /// The served corpora.
    pub fn corpora(&self) -> &Arc<Corpora> {
        &self.corpora
    }

    /// Loads every corpus's guardrail components again (a rebuilt `.wasm` is
    /// compiled anew) and swaps them in, all or none; returns the number of
    /// guardrails per corpus.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the entry whose plugin cannot be loaded; then
    /// the guardrails loaded before keep running.
    pub fn reload_plugins(&self) -> crate::Result<BTreeMap<String, usize>> {
        let mut fresh = Vec::new();
        for (name, served) in self.corpora.iter() {
            let file = served.root.join(crate::config::CORPUS_FILE);
            let guards = Guards::load(&file, &served.config.guardrails, &self.plugin_cache)?;
            fresh.push((name.clone(), guards));
        }
        let mut counts = BTreeMap::new();
        for (name, guards) in fresh {
            counts.insert(name.clone(), guards.count());
            if let Some(j) = self.judges.get(&name) {
                *crate::sync::write(&j.guards) = Arc::new(guards);
            }
        }
        // Cached answers were judged by the guardrails just replaced; answers in
        // flight carry the old epoch in their keys.
        self.guards_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        crate::sync::lock(&self.cache).clear();
        Ok(counts)
    }

    /// Checks `q` against the engine's limits: a question with a word in it,
    /// at most the longest accepted, a `top_k` in range and a served corpus.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyQuestion`], [`Error::QuestionTooLong`],
    /// [`Error::InvalidTopK`], [`Error::UnknownCorpus`].
    pub fn ask(&self, q: &Question<'_>) -> crate::Result<Asked> {
        self.check_question(q.text)?;
        if let Some(k) = q.top_k {
            check_top_k(k, MAX_TOP_K)?;
        }
        if let Some(name) = q.corpus {
            self.corpora.pick(Some(name))?;
        }
        Ok(Asked {
            text: q.text.to_owned(),
            corpus: q.corpus.map(str::to_owned),
            as_of: q.as_of,
            top_k: q.top_k,
        })
    }

    fn check_question(&self, text: &str) -> crate::Result<()> {
        if text.trim().is_empty() {
            return Err(Error::EmptyQuestion);
        }
        let chars = text.chars().count();
        if chars > self.max_question_chars {
            return Err(Error::QuestionTooLong {
                chars,
                max: self.max_question_chars,
            });
        }
        Ok(())
    }

    /// Answers `q`, from the cache when the same question was answered on the same
    /// generations.
    ///
    /// # Errors
    ///
    /// Index and model errors.
    pub fn answer(&self, q: &Asked) -> crate::Result<Answer> {
        self.answer_with(q, &mut |_| true)
    }

    /// Answers `q` as [`Answerer::answer`] does, and tells `sink` about the
    /// answer as it is made: its evidence, then each sentence once it passed
    /// every check. An answer that is not written sentence by sentence (cached,
    /// extractive, unsupported) is told whole at the end, in the same events.
    ///
    /// # Errors
    ///
    /// As [`Answerer::answer`]; [`Error::Cancelled`] when `sink` returns false.
    pub fn answer_with(&self, asked: &Asked, sink: Sink<'_>) -> crate::Result<Answer> {
        let started = Instant::now();
        let q = &asked.question();
        // Read before answering: an answer judged by guardrails that a reload
        // replaces meanwhile lands under the old epoch and is never served.
        let key: CacheKey = (
            self.guards_epoch.load(std::sync::atomic::Ordering::SeqCst),
            self.corpora
                .iter()
                .map(|(_, s)| s.generation.manifest.generation)
                .collect(),
            q.corpus.map(str::to_owned),
            q.text.trim().to_owned(),
            q.as_of,
            q.top_k,
        );
        let cache = || {
            self.cache
                .lock()
                .map_err(|_| Error::Internal("answer cache poisoned by an earlier panic".into()))
        };
        let hit = cache()?.get(&key);
        if let Some(mut hit) = hit {
            hit.cached = true;
            tell(&hit, sink)?;
            hit.took_ms = started.elapsed().as_secs_f64() * 1000.0;
            count(&hit);
            return Ok(hit);
        }
        // Whether the reader still needs the answer told whole: until evidence
        // was streamed, and again after a restart.
        let mut untold = true;
        let mut following = |p: Progress<'_>| {
            match p {
                Progress::Evidence(_) => untold = false,
                Progress::Restart(_) => untold = true,
                Progress::Sentence(_) | Progress::Working => {}
            }
            sink(p)
        };
        let admitted = self.admission.enter()?;
        let mut answer = self.answer_uncached(q, &mut following)?;
        drop(admitted);
        if untold {
            tell(&answer, sink)?;
        }
        answer.took_ms = started.elapsed().as_secs_f64() * 1000.0;
        // An answer the model failed to write is not kept: the model may be
        // back for the next asker.
        // Nor is one a failed guardrail shaped.
        if answer.llm.as_ref().is_none_or(|r| r.failure.is_none()) && !answer.degraded {
            cache()?.put(key, answer.clone());
        }
        count(&answer);
        Ok(answer)
    }

    /// Ranked evidence for a question that has passed its corpus's input
    /// guardrails, so that a question answers may not take up cannot be put to
    /// search instead. A question they block gets no evidence; a redacted one is
    /// searched as redacted. Output guardrails judge answers, not evidence, and
    /// do not run here.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyQuestion`], [`Error::QuestionTooLong`],
    /// [`Error::InvalidTopK`] (a `limit` outside 1..=[`MAX_SEARCH_RESULTS`]);
    /// as [`Corpora::search`].
    pub fn search(&self, query: &Query<'_>) -> crate::Result<Searched> {
        self.check_question(query.text)?;
        check_top_k(query.limit, MAX_SEARCH_RESULTS)?;
        let names = self.reachable(query.corpus)?;
        let _admitted = self.admission.enter()?;
        let (screened, blocker) = self.screen(&names, query.text)?;
        let name = match (blocker, names.as_slice()) {
            (Some(name), _) => name,
            (None, [name]) => *name,
            // A search that names no corpus goes where its answer would.
            (None, _) => self.route(&names, &screened.text, query.as_of)?.name,
        };
        let result = match screened.blocked {
            Some(_) => {
                let (name, served) = self.corpora.pick(Some(name))?;
                SearchResult {
                    corpus: name.clone(),
                    generation: served.generation.manifest.generation,
                    mode: query.mode,
                    evidence: Vec::new(),
                }
            }
            None => self.corpora.search(&Query {
                text: &screened.text,
                corpus: Some(name),
                ..query.clone()
            })?,
        };
        Ok(Searched {
            result,
            guardrails: screened.fired,
            warnings: screened.warnings,
        })
    }

    /// The corpora a question may reach: the one it names, or every one.
    fn reachable<'a>(&'a self, corpus: Option<&'a str>) -> crate::Result<Vec<&'a str>> {
        Ok(match corpus {
            Some(name) => vec![self.corpora.pick(Some(name))?.0.as_str()],
            None => self.corpora.iter().map(|(n, _)| n.as_str()).collect(),
        })
    }

    /// Runs the input guardrails of every corpus in `names` on a question, in
    /// order; a redaction by one is what the next one sees. Stops at the first
    /// block, and says whose it was.
    fn screen<'a>(
        &self,
        names: &[&'a str],
        question: &str,
    ) -> crate::Result<(Checked, Option<&'a str>)> {
        let mut out = Checked {
            text: question.to_owned(),
            ..Checked::default()
        };
        for &name in names {
            let checked = self
                .judge(name)?
                .guards()
                .question(&out.text, self.max_question_chars);
            out.fired.extend(checked.fired);
            out.warnings.extend(checked.warnings);
            out.failed |= checked.failed;
            if checked.blocked.is_some() {
                out.blocked = checked.blocked;
                return Ok((out, Some(name)));
            }
            out.text = checked.text;
        }
        Ok((out, None))
    }

    /// The assessment of the corpus most confident it can answer; ties go to
    /// the first name.
    fn route<'a>(
        &'a self,
        names: &[&'a str],
        text: &str,
        as_of: Option<NaiveDate>,
    ) -> crate::Result<Assessment<'a>> {
        let mut best: Option<Assessment<'a>> = None;
        for name in names {
            let a = self.assess(name, text, as_of, false)?;
            if best.as_ref().is_none_or(|b| a.confidence > b.confidence) {
                best = Some(a);
            }
        }
        best.ok_or_else(|| Error::UnknownCorpus(String::new()))
    }

    fn answer_uncached(&self, q: &Question<'_>, sink: Sink<'_>) -> crate::Result<Answer> {
        let names = self.reachable(q.corpus)?;
        let (screened, blocker) = self.screen(&names, q.text)?;
        let Checked {
            text,
            fired,
            warnings,
            blocked,
            failed: degraded,
        } = screened;
        if let (Some(block), Some(name)) = (blocked, blocker) {
            let mut b = self.blocked(name, &text, block, fired, warnings)?;
            b.degraded = degraded;
            return Ok(b);
        }
        let a = self.route(&names, &text, q.as_of)?;
        let routed = q.corpus.is_none() && self.judges.len() > 1;
        let mut answer = self.conclude(
            a,
            &Question {
                text: &text,
                ..q.clone()
            },
            routed,
            sink,
        )?;
        answer.warnings.splice(0..0, warnings);
        answer.guardrails.splice(0..0, fired);
        answer.degraded |= degraded;
        Ok(answer)
    }

    fn judge(&self, name: &str) -> crate::Result<&Judge> {
        self.judges
            .get(name)
            .ok_or_else(|| Error::UnknownCorpus(name.to_owned()))
    }

    /// The answer to a question a guardrail blocked.
    fn blocked(
        &self,
        name: &str,
        asked: &str,
        block: Fired,
        fired: Vec<Fired>,
        warnings: Vec<String>,
    ) -> crate::Result<Answer> {
        let (_, served) = self.corpora.pick(Some(name))?;
        Ok(Answer {
            outcome: Outcome::Unsupported(Reason::Blocked),
            message: format!(
                "Blocked by guardrail `{}` ({}): {}",
                block.plugin, block.code, block.reason
            ),
            scope: served.config.scope.clone(),
            confidence: 0.0,
            support: None,
            warnings,
            guardrails: fired,
            corpus: name.to_owned(),
            generation: served.generation.manifest.generation,
            cached: false,
            took_ms: 0.0,
            asked: asked.to_owned(),
            composer: Composer::Extractive,
            llm: None,
            degraded: false,
        })
    }

    /// Ranks `text` in corpus `name` and decides whether it is supported.
    fn assess<'a>(
        &'a self,
        name: &'a str,
        text: &str,
        as_of: Option<NaiveDate>,
        exclude_example: bool,
    ) -> crate::Result<Assessment<'a>> {
        let (name, served) = self.corpora.pick(Some(name))?;
        let judge = self
            .judges
            .get(name)
            .ok_or_else(|| Error::UnknownCorpus(name.clone()))?;
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
        let signals = Signals::measure(
            &served.generation,
            &judge.profile,
            text,
            &vector,
            &ranked,
            exclude_example,
        )?;
        let calibration = judge.calibration.as_ref().unwrap_or(&self.default);
        let (confidence, verdict) = if ranked.is_empty() {
            (0.0, Verdict::InsufficientEvidence)
        } else {
            calibration.decide(&signals)
        };
        let support = Support {
            signals,
            threshold: calibration.support.threshold,
            calibrated: judge.calibration.is_some(),
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
        })
    }

    /// The stages after assessment: compose, check, output guardrails,
    /// finalise. A guardrail that blocks ends the request at its stage.
    fn conclude(
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
    fn draft(
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
        let judge = self.judge(a.name)?;
        if let (Composer::Llm, Some(llm)) = (config.answer.composer, &judge.llm) {
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
    fn check(&self, a: &mut Assessment<'_>, q: &Question<'_>, d: &mut Draft) -> crate::Result<()> {
        if let Some(c) = &d.composed {
            if !self.fits(a, q.text, c)? {
                d.composed = None;
            }
        }
        Ok(())
    }

    /// The output guardrails on the whole answer: the rule that blocks it, if
    /// one does; otherwise the answer text as they leave it.
    fn guard_output(
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
        let checked = self.judge(a.name)?.guards().answer(q.text, &c.text, &cites);
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
    fn stopped(
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
    fn finalise(&self, a: Assessment<'_>, q: &Question<'_>, routed: bool, d: Draft) -> Answer {
        let config = &a.served.config;
        let Draft {
            composed,
            composer,
            run,
            unavailable,
            fired,
            mut warnings,
            degraded,
        } = d;
        // Guardrails run per sentence and on the whole answer say the same things.
        let mut said = std::collections::HashSet::new();
        warnings.retain(|w| said.insert(w.clone()));
        let declined = run
            .as_ref()
            .is_some_and(|r| r.dropped.iter().any(|d| d.why == generate::Why::Declined));
        let (outcome, message, scope) = match (composed, a.verdict) {
            (None, _) if unavailable => (
                Outcome::Unsupported(Reason::ComposerUnavailable),
                format!(
                    "The language model that writes answers for `{}` is unavailable, and this corpus is set not to answer without it.",
                    a.name
                ),
                config.scope.clone(),
            ),
            (None, Verdict::Supported) if composer == Composer::Llm => (
                Outcome::Unsupported(Reason::InsufficientEvidence),
                if declined {
                    format!("The language model found no answer to your question in the evidence from `{}`.", a.name)
                } else {
                    format!("No sentence the language model wrote was supported by the evidence from `{}`, so there is no answer.", a.name)
                },
                config.scope.clone(),
            ),
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
            (None, Verdict::OutOfScope) if routed => {
                let all: Vec<String> = self
                    .corpora
                    .iter()
                    .map(|(n, s)| format!("{n}: {}", s.config.scope))
                    .collect();
                let message = format!(
                    "This service answers questions about the following. {} Your question is about something else.",
                    all.join(" ")
                );
                (
                    Outcome::Unsupported(Reason::OutOfScope),
                    message,
                    all.join("\n"),
                )
            }
            (None, Verdict::OutOfScope) => {
                let message = format!(
                    "This service answers questions about {}. Your question is about something else.",
                    config.scope.trim_end_matches('.')
                );
                (
                    Outcome::Unsupported(Reason::OutOfScope),
                    message,
                    config.scope.clone(),
                )
            }
            (None, verdict) => {
                let why = if verdict == Verdict::AmbiguousEvidence {
                    "no document stands out as the one that answers it: the passages that match its words and those that match its meaning point to different documents"
                } else if verdict == Verdict::Supported {
                    "its documents do not hold enough evidence to answer it: the passages closest to it are about something else"
                } else {
                    "its documents do not hold enough evidence to answer it"
                };
                let message = format!(
                    "Your question is within the scope of `{}`, but {why}. It covers: {}",
                    a.name,
                    config.scope.trim()
                );
                (
                    Outcome::Unsupported(Reason::InsufficientEvidence),
                    message,
                    config.scope.clone(),
                )
            }
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

    /// Records how well a composed answer fits its question in the
    /// assessment's signals: the share of its terms, and the closeness in
    /// meaning of its closest sentence (embedding a written answer, whose
    /// sentences the index has no vectors for).
    fn measure_answer(
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
    fn fits(&self, a: &mut Assessment<'_>, question: &str, c: &Composed) -> crate::Result<bool> {
        self.measure_answer(a, question, c)?;
        let judge = self.judge(a.name)?;
        let check = judge
            .calibration
            .as_ref()
            .unwrap_or(&self.default)
            .answer
            .as_ref();
        Ok(check.is_none_or(|check| check.answers(&a.support.signals)))
    }

    /// Has the corpus's language model write the answer from the top `k`
    /// chunks. Each sentence that passes the checks also passes the output
    /// guardrails before the reader sees it.
    fn write(
        &self,
        a: &Assessment<'_>,
        q: &Question<'_>,
        k: usize,
        llm: &llm::Llm,
        sink: Sink<'_>,
    ) -> crate::Result<Written> {
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
            .judge(a.name)?
            .calibration
            .as_ref()
            .and_then(|c| c.citation)
            .map_or(DEFAULT_CITATION_THRESHOLD, |c| c.threshold);
        if !sink(Progress::Evidence(&evidence.citations)) {
            return Err(Error::Cancelled);
        }
        let guards = self.judge(a.name)?.guards();
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
            Ok(g) => {
                for (result, n) in [("dropped", g.dropped.len()), ("kept", g.kept.len())] {
                    crate::metrics::add(
                        "candor_llm_sentences_total",
                        "Sentences the language model wrote, by whether they were kept.",
                        &[("corpus", a.name), ("result", result)],
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
                    return Ok(Written::Blocked(b, run, reader.failed));
                }
                let said = GuardrailsSaid {
                    fired: reader.fired,
                    warnings: reader.warnings,
                    failed: reader.failed,
                };
                Ok(Written::Done(g.composed, run, said))
            }
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

    /// The support signals of `text` in corpus `name`, as calibration sees them (a
    /// scope example with the same text is left out), and the best-ranked
    /// document, the one an answer cites first.
    ///
    /// # Errors
    ///
    /// As [`Answerer::answer`].
    pub fn signals(&self, name: &str, text: &str) -> crate::Result<(Signals, Option<DocId>)> {
        let mut a = self.assess(name, text, None, true)?;
        let gen = &a.served.generation;
        let best = match a.ranked.first() {
            Some(s) => Some(gen.chunk(s.id)?.doc_id.clone()),
            None => None,
        };
        let answer = &a.served.config.answer;
        if let Some(c) = compose::compose(
            gen,
            text,
            &a.vector,
            &a.ranked,
            answer.evidence_chunks,
            answer.max_sentences,
        )? {
            self.measure_answer(&mut a, text, &c)?;
        }
        Ok((a.support.signals, best))
    }
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
enum Written {
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
struct GuardrailsSaid {
    fired: Vec<Fired>,
    warnings: Vec<String>,
    failed: bool,
}

/// Citations as guardrail plugins see them.
fn plugin_citations(citations: &[Citation]) -> Vec<crate::plugins::Citation> {
    citations
        .iter()
        .map(|x| crate::plugins::Citation {
            doc_id: x.doc_id.0.clone(),
            title: x.title.clone(),
            snippet: x.snippet.clone(),
        })
        .collect()
}

/// Tells `sink` a finished answer whole: its citations, then its sentences.
fn tell(a: &Answer, sink: Sink<'_>) -> crate::Result<()> {
    let told = match &a.outcome {
        Outcome::Answered(c) => {
            sink(Progress::Evidence(&c.citations))
                && generate::split(&c.text, true)
                    .0
                    .iter()
                    .all(|s| sink(Progress::Sentence(s)))
        }
        Outcome::Unsupported(_) => sink(Progress::Evidence(&[])),
    };
    if told {
        Ok(())
    } else {
        Err(Error::Cancelled)
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
