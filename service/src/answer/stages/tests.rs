//! Each stage of the answer path on its own, over a small corpus indexed with
//! the real model and guarded by real components (`topic-policy` on questions,
//! `pii-redact` on answers).

use super::*;
use crate::answer::calibration::{AnswerCheck, Logistic};
use crate::index::VectorBackend;

const PATCHED: &str = "When is the cluster patched?";

/// The `ops` corpus, indexed, and an answerer over it (built-in calibration).
fn ops() -> (tempfile::TempDir, Answerer) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("corpora/ops");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(
        root.join(crate::config::CORPUS_FILE),
        r#"name = "ops"
scope = "Maintenance windows and on-call duties of our clusters."

[[sources]]
path = "docs"
glob = "*.md"

[[guardrails]]
plugin = "topic-policy"
stage = "input"
[[guardrails.config.topics]]
name = "salary"
phrases = ["salary"]
reason = "Pay is not covered here."

[[guardrails]]
plugin = "pii-redact"
stage = "output"
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("docs/windows.md"),
        "# Maintenance windows\n\nThe cluster is patched on the first Sunday of each month, from 02:00 to 04:00.\n",
    )
    .unwrap();
    std::fs::write(
        root.join("docs/oncall.md"),
        "# On-call\n\nThe on-call engineer answers pages within 15 minutes, day and night.\n",
    )
    .unwrap();
    let corpus = crate::config::Corpus::load(&root).unwrap();
    let data = dir.path().join("data");
    let embedder = crate::test_utils::embedder();
    let vectors = VectorBackend::Edge;
    crate::index::index_corpus(
        &corpus,
        &data,
        &vectors,
        crate::index::Mode::Full,
        &embedder,
        &(),
    )
    .unwrap();
    let corpora = Corpora::open(vec![corpus], &data, &vectors, embedder).unwrap();
    let cache = data.join(crate::plugins::CACHE_DIR);
    let answerer = Answerer::new(Arc::new(corpora), &cache, Calibrations::Load).unwrap();
    (dir, answerer)
}

fn question(text: &str) -> Question<'_> {
    Question {
        text,
        corpus: Some("ops"),
        as_of: None,
        top_k: None,
    }
}

/// The draft of a supported question, whatever the built-in model decided.
fn supported<'a>(answerer: &'a Answerer, text: &str) -> (Assessment<'a>, Draft) {
    let mut a = answerer.assess("ops", text, None, false).unwrap();
    a.verdict = Verdict::Supported;
    let Drafted::Ready(d) = answerer.draft(&a, &question(text), &mut |_| true).unwrap() else {
        panic!("no guardrail runs while an extractive answer is drafted");
    };
    (a, d)
}

fn cited(d: &Draft) -> Vec<&str> {
    let c = d.composed.as_ref().expect("an answer was drafted");
    c.citations.iter().map(|c| c.doc_id.0.as_str()).collect()
}

#[test]
fn the_input_stage_blocks_a_denied_topic_and_passes_the_rest_unchanged() {
    let (_dir, answerer) = ops();
    let (checked, blocker) = answerer
        .screen(&["ops"], "What is the salary of the on-call engineer?")
        .unwrap();
    let block = checked.blocked.expect("blocked");
    assert_eq!(
        (block.code.as_str(), blocker),
        ("topic.salary", Some("ops"))
    );

    let (checked, blocker) = answerer.screen(&["ops"], PATCHED).unwrap();
    assert_eq!(
        (checked.blocked, blocker, checked.text.as_str()),
        (None, None, PATCHED)
    );
}

#[test]
fn the_assess_stage_ranks_the_answering_document_first_and_measures_support() {
    let (_dir, answerer) = ops();
    let on = answerer.assess("ops", PATCHED, None, false).unwrap();
    let first = on.served.generation.chunk(on.ranked[0].id).unwrap();
    assert_eq!(first.doc_id.0, "docs/windows.md");
    assert!(!on.support.calibrated, "the corpus has no calibration");
    assert!(
        on.support.signals.coverage > 0.9,
        "{:?}",
        on.support.signals
    );
    let off = answerer
        .assess("ops", "What is the boiling point of mercury?", None, false)
        .unwrap();
    assert!(
        off.confidence < on.confidence,
        "off topic {} >= on topic {}",
        off.confidence,
        on.confidence
    );
    assert!(matches!(
        answerer.assess("nope", PATCHED, None, false),
        Err(Error::UnknownCorpus(_))
    ));
}

#[test]
fn the_compose_stage_drafts_only_for_a_supported_question() {
    let (_dir, answerer) = ops();
    let (_, d) = supported(&answerer, PATCHED);
    assert_eq!(cited(&d), ["docs/windows.md"]);
    assert_eq!(d.composer, Composer::Extractive);
    assert!(
        d.warnings.iter().any(|w| w.contains("not calibrated")),
        "{:?}",
        d.warnings
    );

    let mut a = answerer.assess("ops", PATCHED, None, false).unwrap();
    a.verdict = Verdict::InsufficientEvidence;
    let Drafted::Ready(d) = answerer
        .draft(&a, &question(PATCHED), &mut |_| true)
        .unwrap()
    else {
        panic!("nothing to guard");
    };
    assert!(d.composed.is_none());
}

#[test]
fn the_check_stage_withdraws_an_answer_that_does_not_fit_its_question() {
    let (_dir, mut answerer) = ops();
    // An answer check that wants most of the question's terms in the answer.
    answerer.default.answer = Some(AnswerCheck {
        model: Logistic {
            features: vec!["answer".into()],
            mean: vec![0.5],
            std: vec![0.1],
            weights: vec![10.0],
            bias: 0.0,
            threshold: 0.5,
        },
        answerable_declined: 0.0,
        unanswerable_declined: 0.0,
    });
    let (mut a, mut fitting) = supported(&answerer, PATCHED);
    answerer
        .check(&mut a, &question(PATCHED), &mut fitting)
        .unwrap();
    assert!(fitting.composed.is_some(), "{:?}", a.support.signals);
    assert!(a.support.signals.answer > 0.9 && a.support.signals.meaning > 0.5);

    // The same answer to another question does not fit it.
    let pages = "How fast does the on-call engineer answer pages?";
    let (mut a, _) = supported(&answerer, pages);
    answerer
        .check(&mut a, &question(pages), &mut fitting)
        .unwrap();
    assert!(fitting.composed.is_none(), "{:?}", a.support.signals);
}

#[test]
fn the_output_stage_redacts_what_its_guardrails_redact() {
    let (_dir, answerer) = ops();
    let (a, mut d) = supported(&answerer, PATCHED);
    if let Some(c) = d.composed.as_mut() {
        c.text = "Write to ops@example.com about a window. [1]".into();
    }
    let block = answerer
        .guard_output(&a, &question(PATCHED), &mut d, &mut |_| true)
        .unwrap();
    assert!(block.is_none());
    let text = &d.composed.as_ref().unwrap().text;
    assert!(
        text.contains("[email removed]") && !text.contains('@'),
        "{text}"
    );
    let codes: Vec<&str> = d.fired.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["pii.email"]);
}

#[test]
fn the_finalise_stage_says_why_for_each_outcome() {
    let (_dir, answerer) = ops();
    let q = question(PATCHED);
    let (a, d) = supported(&answerer, PATCHED);
    let answered = answerer.finalise(a, &q, false, d);
    assert!(matches!(answered.outcome, Outcome::Answered(_)));
    assert!(answered.message.contains("Answered from the `ops` corpus"));

    let declined = |verdict, unavailable| {
        let (mut a, mut d) = supported(&answerer, PATCHED);
        a.verdict = verdict;
        d.composed = None;
        d.unavailable = unavailable;
        answerer.finalise(a, &q, false, d)
    };
    let out = declined(Verdict::OutOfScope, false);
    assert_eq!(out.outcome, Outcome::Unsupported(Reason::OutOfScope));
    assert!(
        out.message.contains("maintenance windows") || out.message.contains("Maintenance windows"),
        "{}",
        out.message
    );
    let thin = declined(Verdict::InsufficientEvidence, false);
    assert_eq!(
        thin.outcome,
        Outcome::Unsupported(Reason::InsufficientEvidence)
    );
    assert!(
        thin.message.contains("within the scope of `ops`"),
        "{}",
        thin.message
    );
    // A question naming what the corpus never mentions is told which words.
    let (mut a, mut d) = supported(&answerer, "When is the Veeam cluster patched?");
    assert_eq!(a.unknown, ["Veeam"]);
    assert_eq!(a.support.signals.unknown, 1.0);
    a.verdict = Verdict::UnknownName;
    d.composed = None;
    let named = answerer.finalise(a, &q, false, d);
    assert_eq!(
        named.outcome,
        Outcome::Unsupported(Reason::InsufficientEvidence)
    );
    assert!(
        named
            .message
            .contains("it names “Veeam”, which its documents never mention"),
        "{}",
        named.message
    );
    let gone = declined(Verdict::Supported, true);
    assert_eq!(
        gone.outcome,
        Outcome::Unsupported(Reason::ComposerUnavailable)
    );
    assert!(gone.support.is_some() && gone.corpus == "ops");
}

#[test]
fn a_block_after_assessment_keeps_what_the_stages_before_it_found() {
    let (_dir, answerer) = ops();
    let (a, d) = supported(&answerer, PATCHED);
    let confidence = a.confidence;
    let block = Fired {
        plugin: "pii-redact".into(),
        stage: crate::config::Stage::Output,
        action: "block",
        code: "pii.email".into(),
        reason: "an address".into(),
    };
    let b = answerer.stopped(a, &question(PATCHED), block, d).unwrap();
    assert_eq!(b.outcome, Outcome::Unsupported(Reason::Blocked));
    assert_eq!((b.confidence, b.support.is_some()), (confidence, true));
    assert!(
        b.message.contains("`pii-redact` (pii.email)"),
        "{}",
        b.message
    );
}

#[test]
fn evidence_older_than_the_freshness_window_is_flagged() {
    let citation = |date| Citation {
        doc_id: DocId("notes.md".into()),
        title: "Notes".into(),
        source: "notes.md".into(),
        page: None,
        date,
        span: (0, 1),
        snippet: String::new(),
        score: 1.0,
        metadata: BTreeMap::new(),
    };
    let composed = |date| Composed {
        text: "x [1]".into(),
        citations: vec![citation(date)],
        meaning: None,
    };
    let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let old = NaiveDate::from_ymd_opt(2025, 1, 1);
    let recent = NaiveDate::from_ymd_opt(2026, 5, 1);
    let stale = staleness(&composed(old), today, 365.0).unwrap();
    assert!(
        stale.contains("notes.md") && stale.contains("365"),
        "{stale}"
    );
    assert_eq!(staleness(&composed(recent), today, 365.0), None);
    assert_eq!(staleness(&composed(None), today, 365.0), None);
}

#[test]
fn a_decline_names_a_few_unknown_words_and_counts_the_rest() {
    let words = |n: usize| -> Vec<String> { (0..n).map(|i| format!("w{i}")).collect() };
    assert_eq!(quoted(&words(1)), "“w0”");
    assert_eq!(quoted(&words(2)), "“w0” and “w1”");
    assert_eq!(
        quoted(&words(8)),
        "“w0”, “w1”, “w2”, “w3”, “w4” and 3 more words"
    );
}
