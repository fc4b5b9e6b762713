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

mod admission;
pub mod calibration;
pub mod compose;
pub mod generate;
pub mod guard;
pub mod llm;
mod stages;
pub mod support;
mod types;
mod write;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::NaiveDate;

use crate::cache::Fifo;
use crate::config::{Composer, OnLlmFailure};
use crate::index::{ChunkId, GenerationId};
use crate::ingest::DocId;
use crate::retrieve::corpora::{Corpora, Query, SearchResult, Served, Slot};
use crate::retrieve::{Mode, Scored};
use crate::Error;

pub use admission::{Admission, Admitted, DEFAULT_PENDING_PER_CORE};
pub use calibration::{Calibration, Verdict, ANSWER_MIN_UNANSWERABLE, EVIDENCE_MIN_EACH};
pub use compose::{Citation, Composed};
pub use generate::Dropped;
use guard::Checked;
pub use guard::{Fired, Guards};
use stages::Assessment;
pub use support::{ScopeProfile, Signals};
use types::{check_top_k, count};
pub use types::{
    Answer, Asked, EvidenceView, LlmRun, Outcome, Progress, Question, Reason, Searched, Sink,
    Support,
};

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

/// One served corpus as the answer path sees it: everything a question to it
/// needs, in one value.
struct ServedCorpus {
    /// Its generation and configuration, swapped by reloads (shared with
    /// retrieval).
    slot: Arc<Slot>,
    /// Its scope statement and examples, embedded.
    profile: ScopeProfile,
    /// Its own calibration; the built-in one decides without.
    calibration: Option<Calibration>,
    /// The language model client, when the corpus has an `[llm]` table.
    llm: Option<llm::Llm>,
    /// Swapped whole by [`Answerer::reload_plugins`]; a request keeps the set it took.
    guards: RwLock<Arc<Guards>>,
}

impl ServedCorpus {
    /// The generation and configuration served now.
    fn current(&self) -> Arc<Served> {
        self.slot.current()
    }

    fn guards(&self) -> Arc<Guards> {
        crate::sync::read(&self.guards).clone()
    }

    /// Prepares corpus `name`: embeds its scope statement and examples, loads
    /// its calibration (unless told not to), its guardrails and its language
    /// model client.
    fn load(
        name: &str,
        slot: Arc<Slot>,
        corpora: &Corpora,
        plugin_cache: &std::path::Path,
        calibrations: Calibrations,
    ) -> crate::Result<ServedCorpus> {
        let served = slot.current();
        let profile = ScopeProfile::build(&served.root, &served.config, corpora.embedder())?;
        let calibration = match calibrations {
            Calibrations::Load => Calibration::load(&served.root)?,
            Calibrations::Ignore => None,
        };
        if calibration.is_none() && calibrations == Calibrations::Load {
            tracing::warn!(corpus = %name, "no calibration; run `candor calibrate` (using the built-in model)");
        }
        let file = served.root.join(crate::config::CORPUS_FILE);
        let guards = Guards::load(&file, &served.config.guardrails, plugin_cache)?;
        let llm = match &served.config.llm {
            Some(settings) => Some(llm::Llm::new(settings, &file)?),
            None => None,
        };
        Ok(ServedCorpus {
            slot,
            profile,
            calibration,
            llm,
            guards: RwLock::new(Arc::new(guards)),
        })
    }
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
    /// Retrieval over every corpus.
    corpora: Arc<Corpora>,
    /// Every corpus, by name.
    served: BTreeMap<String, ServedCorpus>,
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
        let mut served = BTreeMap::new();
        for (name, slot) in corpora.slots() {
            let corpus =
                ServedCorpus::load(name, slot.clone(), &corpora, plugin_cache, calibrations)?;
            served.insert(name.clone(), corpus);
        }
        let default = serde_json::from_str(DEFAULT_CALIBRATION).map_err(|e| {
            Error::Internal(format!("the built-in calibration does not parse: {e}"))
        })?;
        Ok(Answerer {
            corpora,
            served,
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
        for (name, corpus) in &self.served {
            let served = corpus.current();
            let file = served.root.join(crate::config::CORPUS_FILE);
            let guards = Guards::load(&file, &served.config.guardrails, &self.plugin_cache)?;
            fresh.push((name.clone(), guards));
        }
        let mut counts = BTreeMap::new();
        for (name, guards) in fresh {
            counts.insert(name.clone(), guards.count());
            if let Some(corpus) = self.served.get(&name) {
                *crate::sync::write(&corpus.guards) = Arc::new(guards);
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
            self.corpus(name)?;
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
            self.served
                .values()
                .map(|c| c.current().generation.manifest.generation)
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
                let served = self.corpus(name)?.current();
                SearchResult {
                    corpus: name.to_owned(),
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
            Some(name) => vec![self
                .served
                .get_key_value(name)
                .ok_or_else(|| Error::UnknownCorpus(name.to_owned()))?
                .0
                .as_str()],
            None => self.served.keys().map(String::as_str).collect(),
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
                .corpus(name)?
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
        let routed = q.corpus.is_none() && self.served.len() > 1;
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

    fn corpus(&self, name: &str) -> crate::Result<&ServedCorpus> {
        self.served
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
        let served = self.corpus(name)?.current();
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
