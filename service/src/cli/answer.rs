//! The terminal side of answering: `candor answer`, `candor calibrate`,
//! `candor eval answer` and `candor bench answer`.

mod bench;

use std::path::{Path, PathBuf};

use candor::answer::calibration::fit::{calibrate, InScope, Questions};
use candor::answer::{Answer, Calibrations, Outcome, Question};
use candor::config::Corpus;
use candor::eval::answer as eval_answer;

pub use self::bench::bench_answer_cmd;
use super::{load_answerer, Deployed};

/// A corpus and questions it should and should not answer.
#[derive(clap::Args)]
pub struct Labelled {
    /// The corpus folder (holding corpus.toml); it must be indexed.
    #[arg(long)]
    corpus: PathBuf,
    /// JSONL questions the corpus should answer: a `text` field per line, and
    /// optionally `relevant` doc ids (paths relative to the corpus folder, each
    /// an indexed document).
    #[arg(long)]
    in_scope: PathBuf,
    /// JSONL questions the corpus should decline as off topic.
    #[arg(long)]
    out_of_scope: PathBuf,
    /// JSONL questions on the corpus's topic that its documents cannot answer;
    /// they teach it to say `insufficient_evidence`.
    #[arg(long)]
    unanswerable: Option<PathBuf>,
    /// Where generations are stored.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `candor calibrate`: the labelled questions and how far the evidence check may go.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    labelled: Labelled,
    /// The largest share of the in-scope questions with `relevant` doc ids that
    /// the evidence check may decline because their best-ranked document is
    /// likely the wrong one; 0 turns the check off.
    #[arg(long, default_value_t = 0.03, value_parser = share)]
    max_ambiguous: f32,
    /// The largest share of the in-scope questions that the answer check, learnt
    /// from the --unanswerable questions, may decline because their composed
    /// answer does not fit them. Within it, the check takes the cut that
    /// declines the most unanswerable questions net of the in-scope ones it
    /// declines.
    #[arg(long, default_value_t = 0.15, value_parser = share)]
    max_unanswered: f32,
}

fn share(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=0.2).contains(&v) => Ok(v),
        _ => Err(format!("expected a share in 0..=0.2, got `{text}`")),
    }
}

/// The loaded corpus, its engine, and the question sets.
struct Opened {
    corpus: Corpus,
    answerer: std::sync::Arc<candor::answer::Answerer>,
    set: eval_answer::EvalSet,
}

impl Labelled {
    fn open(&self, deployed: &Deployed, calibrations: Calibrations) -> anyhow::Result<Opened> {
        let corpus = Corpus::load(&self.corpus)?;
        let in_scope = eval_answer::read_questions(&self.in_scope)?;
        let out_of_scope = eval_answer::read_questions(&self.out_of_scope)?;
        let unanswerable = match &self.unanswerable {
            Some(p) => eval_answer::read_questions(p)?,
            None => Vec::new(),
        };
        let answerer = answerer_for(&corpus, &self.data_dir, deployed, calibrations)?;
        let (_, served) = answerer.corpora().pick(Some(&corpus.config.name))?;
        eval_answer::check_relevant(&self.in_scope, &in_scope, &served.generation)?;
        Ok(Opened {
            corpus,
            answerer,
            set: eval_answer::EvalSet {
                in_scope,
                unanswerable,
                out_of_scope,
                guarded: Vec::new(),
            },
        })
    }
}

/// The engine over one corpus.
fn answerer_for(
    corpus: &Corpus,
    data_dir: &Path,
    deployed: &Deployed,
    calibrations: Calibrations,
) -> anyhow::Result<std::sync::Arc<candor::answer::Answerer>> {
    load_answerer(
        vec![corpus.clone()],
        data_dir,
        &deployed.vectors()?,
        calibrations,
    )
}

pub fn answer_cmd(
    corpus: &Corpus,
    question: &str,
    data_dir: &Path,
    deployed: &Deployed,
    json: bool,
) -> anyhow::Result<()> {
    let answerer = answerer_for(corpus, data_dir, deployed, Calibrations::Load)?;
    let a = answerer.answer(&answerer.ask(&Question {
        text: question,
        corpus: None,
        as_of: None,
        top_k: None,
    })?)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string(&candor::api::types::AnswerResponse::new(a, None))?
        );
    } else {
        print_answer(&a);
    }
    Ok(())
}

fn print_answer(a: &Answer) {
    match &a.outcome {
        Outcome::Answered(c) => {
            outln!("{}\n", c.text);
            for (i, cit) in c.citations.iter().enumerate() {
                let mut place = cit.source.display().to_string();
                if let Some(p) = cit.page {
                    place.push_str(&format!(" p.{p}"));
                }
                if let Some(d) = cit.date {
                    place.push_str(&format!(", {d}"));
                }
                outln!(
                    "[{}] {} ({place}, chars {}..{})",
                    i + 1,
                    cit.title,
                    cit.span.0,
                    cit.span.1
                );
            }
        }
        Outcome::Unsupported(reason) => {
            outln!("unsupported ({}): {}", reason.as_str(), a.message);
        }
    }
    for w in &a.warnings {
        outln!("warning: {w}");
    }
    let threshold = a
        .support
        .map(|s| format!(" (threshold {:.3})", s.threshold))
        .unwrap_or_default();
    outln!(
        "confidence {:.3}{threshold}, corpus `{}` generation {}, {:.1} ms",
        a.confidence,
        a.corpus,
        a.generation,
        a.took_ms
    );
}

fn texts(questions: Vec<eval_answer::Judged>) -> Vec<String> {
    questions.into_iter().map(|q| q.text).collect()
}

pub fn calibrate_cmd(args: &CalibrateArgs, deployed: &Deployed) -> anyhow::Result<()> {
    let o = args.labelled.open(deployed, Calibrations::Ignore)?;
    let name = &o.corpus.config.name;
    let in_scope: Vec<InScope> = o
        .set
        .in_scope
        .into_iter()
        .map(|q| InScope {
            text: q.text,
            relevant: q.relevant,
        })
        .collect();
    let (c, path) = calibrate(
        &o.answerer,
        name,
        &Questions {
            in_scope: &in_scope,
            unanswerable: &texts(o.set.unanswerable),
            out_of_scope: &texts(o.set.out_of_scope),
            max_ambiguous: args.max_ambiguous,
            max_unanswered: args.max_unanswered,
        },
    )?;
    if args.labelled.json {
        outln!("{}", serde_json::to_string(&c)?);
    } else {
        outln!(
            "calibrated `{name}` on {} in-scope, {} unanswerable and {} out-of-scope questions: answers {:.1}% of in-scope, declines {:.1}% of unanswerable and {:.1}% of out-of-scope (support threshold {:.3}, scope threshold {:.3}); wrote {}",
            c.in_scope_questions,
            c.unanswerable_questions,
            c.out_of_scope_questions,
            100.0 * c.in_scope_answered,
            100.0 * c.unanswerable_declined,
            100.0 * c.out_of_scope_declined,
            c.support.threshold,
            c.scope.threshold,
            path.display()
        );
        match &c.names {
            Some(n) => outln!(
                "names check, on questions naming something the corpus never mentions: declines {:.1}% of in-scope, {:.1}% of unanswerable and {:.1}% of out-of-scope questions",
                100.0 * n.in_scope_declined,
                100.0 * n.unanswerable_declined,
                100.0 * n.out_of_scope_declined
            ),
            None => outln!(
                "no names check: questions naming something the corpus never mentions are no likelier to be ones to decline"
            ),
        }
        match &c.evidence {
            Some(e) => outln!(
                "evidence check, on {} answered in-scope questions with relevant doc ids: declines {:.1}% of them; the best document is relevant for {:.1}% of them and {:.1}% of the rest",
                e.questions,
                100.0 * e.declined,
                100.0 * e.top_relevant,
                100.0 * e.top_relevant_answered
            ),
            None => outln!(
                "no evidence check: it needs {} answered in-scope questions with `relevant` doc ids whose best document is relevant and as many whose is not, and --max-ambiguous above 0",
                candor::answer::EVIDENCE_MIN_EACH
            ),
        }
        match &c.answer {
            Some(a) => outln!(
                "answer check, on the composed answers: declines {:.1}% of in-scope and {:.1}% of unanswerable questions (threshold {:.3})",
                100.0 * a.answerable_declined,
                100.0 * a.unanswerable_declined,
                a.model.threshold
            ),
            None => outln!(
                "no answer check: it needs {} unanswerable questions (--unanswerable) that reach an answer",
                candor::answer::ANSWER_MIN_UNANSWERABLE
            ),
        }
    }
    Ok(())
}

pub fn eval_answer_cmd(args: &Labelled, deployed: &Deployed) -> anyhow::Result<()> {
    let o = args.open(deployed, Calibrations::Load)?;
    let r = eval_answer::run(&o.answerer, &o.corpus.config.name, &o.set)?;
    print_report(&r, args.json)
}

/// `candor eval corpus`: the corpus's own eval set, then `with` (a feedback
/// export) when given.
pub fn eval_corpus_cmd(
    corpus: &Corpus,
    composer: Option<candor::config::Composer>,
    data_dir: &Path,
    deployed: &Deployed,
    with: Option<&Path>,
    report: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let eval_dir = corpus.root.join("eval");
    let mut sets = vec![(
        "eval/".to_owned(),
        eval_dir.clone(),
        eval_answer::EvalSet::from_folder(&eval_dir)?,
    )];
    if let Some(path) = with {
        sets.push((
            path.display().to_string(),
            path.to_path_buf(),
            eval_answer::EvalSet::from_cases(path)?,
        ));
    }
    let mut corpus = corpus.clone();
    if let Some(c) = composer {
        if c == candor::config::Composer::Llm && corpus.config.llm.is_none() {
            anyhow::bail!(
                "--composer llm: {} has no [llm] table (base_url, model)",
                corpus.root.join(candor::config::CORPUS_FILE).display()
            );
        }
        corpus.config.answer.composer = c;
    }
    let corpus = &corpus;
    let answerer = answerer_for(corpus, data_dir, deployed, Calibrations::Load)?;
    let (_, served) = answerer.corpora().pick(Some(&corpus.config.name))?;
    let gen = &served.generation;
    for (i, (_, path, set)) in sets.iter().enumerate() {
        if i == 0 {
            eval_answer::check_relevant(path, &set.in_scope, gen)?;
        } else {
            // Feedback exports record what was cited then; a document since
            // removed is a fact of history, not a typo, so it is told, not fatal.
            for (q, id) in eval_answer::unknown_relevant(&set.in_scope, gen) {
                eprintln!(
                    "warning: {}: \"{}\" names `{id}`, which corpus `{}` no longer holds; that case cannot be cited right",
                    path.display(),
                    q.text,
                    gen.manifest.corpus
                );
            }
        }
    }
    let mut reports = Vec::new();
    for (i, (label, _, set)) in sets.iter().enumerate() {
        let r = eval_answer::run(&answerer, &corpus.config.name, set)?;
        if i > 0 && !json {
            outln!("\n{label}:");
        }
        print_report(&r, json)?;
        reports.push(r);
    }
    if let Some(dir) = report {
        let sections: Vec<candor::eval::report::Section<'_>> = sets
            .iter()
            .zip(&reports)
            .map(|((set, _, _), report)| candor::eval::report::Section {
                set: set.clone(),
                report,
            })
            .collect();
        candor::eval::report::write(dir, &sections)?;
        eprintln!("wrote {}", dir.join("report.html").display());
    }
    Ok(())
}

fn print_report(r: &eval_answer::AnswerReport, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    outln!("corpus `{}`", r.corpus);
    print_rates(r);
    outln!(
        "  unsupported by reason: {}",
        serde_json::to_string(&r.reasons)?
    );
    print_misses(&r.misses);
    print_confusion(&r.confusion);
    if let Some(g) = &r.generated {
        outln!(
            "  language model: {} answers asked ({} failed); {} sentences written, {:.1}% dropped {}",
            g.asked,
            g.failed,
            g.sentences,
            100.0 * g.dropped_share,
            serde_json::to_string(&g.dropped_by_why)?
        );
    }
    if r.guarded > 0 {
        outln!(
            "  guardrail cases: {:>2} asked, {:.1}% blocked by the rule they name",
            r.guarded,
            100.0 * r.guarded_blocked
        );
    }
    for x in &r.retrieval {
        outln!(
            "  {:<15} ({} judged): nDCG@10 {:.3}, Recall@100 {:.3}, MRR@10 {:.3}",
            x.mode,
            x.queries,
            x.ndcg_at_10,
            x.recall_at_100,
            x.mrr_at_10
        );
    }
    outln!(
        "  latency ms: p50 {:.1}, p95 {:.1}, p99 {:.1}",
        r.latency_ms.p50,
        r.latency_ms.p95,
        r.latency_ms.p99
    );
    Ok(())
}

/// How each set fared: asked, answered or declined, and the citation and gold
/// rates of the in-scope answers.
fn print_rates(r: &eval_answer::AnswerReport) {
    outln!(
        "  in scope:      {:>5} asked, {:.1}% answered",
        r.in_scope,
        100.0 * r.in_scope_answered
    );
    if r.judged_answered > 0 {
        outln!(
            "  first citation relevant: {:.1}% of {} judged answers",
            100.0 * r.first_citation_relevant,
            r.judged_answered
        );
    }
    if r.gold_questions > 0 {
        outln!(
            "  answer correct: {:.1}% of {} questions with gold strings",
            100.0 * r.answer_correct,
            r.gold_questions
        );
    }
    if r.expected_questions > 0 {
        outln!(
            "  first citation expected: {:.1}% of {} questions with an expected document",
            100.0 * r.first_citation_expected,
            r.expected_questions
        );
    }
    if r.unanswerable > 0 {
        outln!(
            "  unanswerable:  {:>5} asked, {:.1}% declined",
            r.unanswerable,
            100.0 * r.unanswerable_declined
        );
    }
    outln!(
        "  out of scope:  {:>5} asked, {:.1}% declined",
        r.out_of_scope,
        100.0 * r.out_of_scope_declined
    );
}

/// One line per missed in-scope question: what was wrong, and the answer.
fn print_misses(misses: &[eval_answer::Miss]) {
    for m in misses {
        let mut wrong = Vec::new();
        if m.correct == Some(false) {
            wrong.push("no gold string");
        }
        if m.expected_first == Some(false) {
            wrong.push("unexpected first citation");
        }
        outln!(
            "  miss ({}): {:?} -> {}",
            wrong.join(", "),
            m.text,
            match (&m.answer, &m.first_doc) {
                (Some(a), Some(d)) => format!("[{d}] {a}"),
                _ => "declined".to_owned(),
            }
        );
    }
}

/// Expected against actual outcomes, as a table.
fn print_confusion(c: &eval_answer::Confusion) {
    outln!("  expected \\ got   answered  unsupported");
    outln!(
        "  answer           {:>8}  {:>11}",
        c.expected_answer.answered,
        c.expected_answer.unsupported
    );
    outln!(
        "  decline          {:>8}  {:>11}",
        c.expected_decline.answered,
        c.expected_decline.unsupported
    );
}
