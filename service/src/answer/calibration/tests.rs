//! The calibration models' tests: fitting, thresholds, the checks, the file.

use super::logistic::best_threshold;
use super::*;

fn signals(v: f32, scope: f32) -> Signals {
    Signals {
        dense_best: v,
        dense_mean: v,
        coverage: v,
        agreement: v,
        lead: v,
        scope,
        examples: scope,
        missing: 1.0 - v,
        unknown: 0.0,
        answer: v,
        meaning: v,
    }
}

fn fit(pos: &[Signals], neg: &[Signals]) -> crate::Result<Calibration> {
    Calibration::fit(&Labelled {
        answerable: pos,
        judged: &[],
        max_ambiguous: 0.0,
        max_unanswered: 0.05,
        unanswerable: &[],
        out_of_scope: neg,
    })
}

#[test]
fn fitted_models_separate_the_classes_and_round_trip_through_the_file() {
    let pos: Vec<Signals> = (0..20)
        .map(|i| signals(0.6 + i as f32 * 0.01, 0.5))
        .collect();
    let neg: Vec<Signals> = (0..20)
        .map(|i| signals(0.1 + i as f32 * 0.01, 0.1))
        .collect();
    let c = fit(&pos, &neg).unwrap();
    assert_eq!((c.in_scope_answered, c.out_of_scope_declined), (1.0, 1.0));
    let (conf_hi, v) = c.decide(&signals(0.7, 0.5));
    assert_eq!(v, Verdict::Supported);
    let (conf_lo, v) = c.decide(&signals(0.05, 0.05));
    assert_eq!(v, Verdict::OutOfScope);
    assert!(conf_hi > conf_lo && (0.0..=1.0).contains(&conf_lo) && (0.0..=1.0).contains(&conf_hi));
    // On topic (scope like the positives) but weak evidence.
    let (_, v) = c.decide(&Signals {
        scope: 0.6,
        examples: 0.6,
        dense_mean: 0.7,
        ..signals(0.0, 0.0)
    });
    assert_eq!(v, Verdict::InsufficientEvidence);
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c));
}

/// Answerable questions; the judged ones alternate between a best document
/// that leads a retriever (mostly relevant) and a compromise (mostly not).
fn judged_set() -> (Vec<Signals>, Vec<(Signals, bool)>, Vec<Signals>) {
    let answerable: Vec<Signals> = (0..100)
        .map(|i| Signals {
            lead: if i % 10 == 0 { 0.0 } else { 1.0 },
            ..signals(0.6 + (i % 7) as f32 * 0.02, 0.5)
        })
        .collect();
    let judged = answerable
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, if s.lead == 0.0 { i == 50 } else { i % 3 != 0 }))
        .collect();
    let off = (0..40)
        .map(|i| signals(0.1 + (i % 5) as f32 * 0.02, 0.1))
        .collect();
    (answerable, judged, off)
}

#[test]
fn the_evidence_check_declines_compromise_winners_within_its_share() {
    let (answerable, judged, off) = judged_set();
    let fit = |max_ambiguous| {
        Calibration::fit(&Labelled {
            answerable: &answerable,
            judged: &judged,
            max_ambiguous,
            max_unanswered: 0.05,
            unanswerable: &[],
            out_of_scope: &off,
        })
        .unwrap()
    };
    let c = fit(0.1);
    let e = c.evidence.as_ref().expect("an evidence check");
    assert_eq!(e.questions, 100);
    assert!((e.declined - 0.1).abs() < 1e-6, "{e:?}");
    assert!(e.top_relevant_answered > e.top_relevant, "{e:?}");
    let compromise = answerable[0];
    let leader = answerable[1];
    assert_eq!(c.decide(&compromise).1, Verdict::AmbiguousEvidence);
    assert_eq!(c.decide(&leader).1, Verdict::Supported);
    assert_eq!(c.decide(&off[0]).1, Verdict::OutOfScope);
    // A smaller share declines fewer; none at all turns the check off.
    assert!(fit(0.05).evidence.unwrap().declined <= 0.05);
    assert_eq!(fit(0.0).evidence, None);
    // Too few judged questions of a kind to learn from: no check.
    let few = Calibration::fit(&Labelled {
        answerable: &answerable,
        judged: &judged[..12],
        max_ambiguous: 0.1,
        max_unanswered: 0.05,
        unanswerable: &[],
        out_of_scope: &off,
    })
    .unwrap();
    assert_eq!(few.evidence, None);
    // The check travels with the file, and a damaged one is named.
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c.clone()));
    let mut broken = c;
    broken.evidence.as_mut().unwrap().model.features.pop();
    broken.save(dir.path()).unwrap();
    let e = Calibration::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("evidence.model") && e.contains("expects signals"),
        "{e}"
    );
}

#[test]
fn fitting_is_deterministic() {
    let pos: Vec<Signals> = (0..15)
        .map(|i| signals(0.5 + (i % 4) as f32 * 0.1, 0.4))
        .collect();
    let neg: Vec<Signals> = (0..9)
        .map(|i| signals(0.2 + (i % 3) as f32 * 0.1, 0.2))
        .collect();
    let a = fit(&pos, &neg).unwrap();
    let b = fit(&pos, &neg).unwrap();
    assert_eq!((a.support, a.scope), (b.support, b.scope));
}

#[test]
fn an_empty_class_is_refused() {
    let e = fit(&[signals(0.5, 0.5)], &[]).unwrap_err().to_string();
    assert!(e.contains("0 out of scope"), "{e}");
}

#[test]
fn a_damaged_calibration_file_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Calibration::load(dir.path()).unwrap(), None);
    let pos: Vec<Signals> = (0..4).map(|i| signals(0.6 + i as f32 * 0.1, 0.5)).collect();
    let neg: Vec<Signals> = (0..4).map(|i| signals(0.1 + i as f32 * 0.1, 0.1)).collect();
    let mut c = fit(&pos, &neg).unwrap();
    c.support.features.pop();
    c.save(dir.path()).unwrap();
    let e = Calibration::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains(CALIBRATION_FILE) && e.contains("support") && e.contains("expects signals"),
        "{e}"
    );
    std::fs::write(dir.path().join(CALIBRATION_FILE), "{\"support\": 3}").unwrap();
    let e = Calibration::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("support") && e.contains("re-run"), "{e}");

    // Numbers that would switch a decision off are refused too.
    let good = fit(&pos, &neg).unwrap();
    let damaged = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(&good).unwrap();
        edit(&mut v);
        std::fs::write(dir.path().join(CALIBRATION_FILE), v.to_string()).unwrap();
        Calibration::load(dir.path()).unwrap_err().to_string()
    };
    let e = damaged(&|v| v["support"]["bias"] = serde_json::json!(1e39));
    assert!(e.contains("support") && e.contains("finite"), "{e}");
    let e = damaged(&|v| v["scope"]["mean"][0] = serde_json::json!(-1e39));
    assert!(e.contains("scope") && e.contains("finite"), "{e}");
    let e = damaged(&|v| {
        v["citation"] = serde_json::json!({"threshold": -1.0, "pairs": 10,
            "wrong_accepted": 0.0, "quotes_accepted": 1.0})
    });
    assert!(
        e.contains("citation.threshold") && e.contains("[0, 1]"),
        "{e}"
    );
}

#[test]
fn the_threshold_sits_in_the_middle_of_the_gap() {
    let t = best_threshold(&[(vec![0.8, 0.9], true), (vec![0.1, 0.2], false)]);
    assert!(t > 0.2 && t <= 0.8, "{t}");
    assert_eq!(
        best_threshold(&[(vec![0.8], true), (vec![0.2], false)]),
        0.5
    );
}

#[test]
fn unanswerable_questions_teach_the_answer_check() {
    // Answerable and unanswerable questions both look on topic, with strong
    // evidence; the answers composed for the unanswerable ones hold little
    // of the question. Out of scope: off topic, weak evidence.
    let on = |v: f32| Signals {
        scope: 0.5,
        examples: 0.5,
        dense_mean: 0.6,
        ..signals(v, 0.5)
    };
    let answerable: Vec<Signals> = (0..20).map(|i| on(0.7 + i as f32 * 0.01)).collect();
    let unanswerable: Vec<Signals> = (0..8)
        .map(|i| Signals {
            answer: 0.15 + i as f32 * 0.01,
            coverage: 0.2,
            ..on(0.7 + i as f32 * 0.02)
        })
        .collect();
    let off: Vec<Signals> = (0..12)
        .map(|i| Signals {
            dense_mean: 0.1,
            ..signals(0.2 + i as f32 * 0.01, 0.1)
        })
        .collect();
    let fit = |unanswerable: &[Signals]| {
        Calibration::fit(&Labelled {
            answerable: &answerable,
            judged: &[],
            max_ambiguous: 0.0,
            max_unanswered: 0.05,
            unanswerable,
            out_of_scope: &off,
        })
        .unwrap()
    };
    let c = fit(&unanswerable);
    let check = c.answer.as_ref().expect("an answer check");
    assert!(check.answerable_declined <= 0.05, "{check:?}");
    assert_eq!(
        (
            c.in_scope_answered,
            c.unanswerable_declined,
            c.out_of_scope_declined
        ),
        (1.0, 1.0, 1.0)
    );
    // The support model lets the unanswerable question through; the check
    // on its answer declines it.
    assert_eq!(c.decide(&unanswerable[3]).1, Verdict::Supported);
    assert!(!check.answers(&unanswerable[3]));
    assert!(check.answers(&answerable[3]));
    assert_eq!(c.decide(&off[3]).1, Verdict::OutOfScope);
    // Too few unanswerable questions to learn from: no check.
    assert_eq!(
        fit(&unanswerable[..ANSWER_MIN_UNANSWERABLE - 1]).answer,
        None
    );
    // The check travels with the file, and a damaged one is named.
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c.clone()));
    let mut broken = c;
    broken.answer.as_mut().unwrap().model.features.pop();
    broken.save(dir.path()).unwrap();
    let e = Calibration::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("answer.model") && e.contains("expects signals"),
        "{e}"
    );
}

#[test]
fn the_answer_check_does_not_decline_many_answerable_questions_to_catch_one() {
    // Six unanswerable questions whose answers hold little of the question,
    // and one whose answer looks like those of the answerable half.
    let answerable: Vec<Signals> = (0..20)
        .map(|i| signals(0.3 + i as f32 * 0.03, 0.5))
        .collect();
    let mut unanswerable: Vec<Signals> = (0..6)
        .map(|i| signals(0.1 + i as f32 * 0.01, 0.5))
        .collect();
    unanswerable.push(signals(0.55, 0.5));
    let check = AnswerCheck::fit(&answerable, &unanswerable, &[], 0.5).expect("a check");
    // Catching the seventh would decline 9 of the 20 answerable ones, within
    // the allowed half: the cut stops below them all the same.
    assert_eq!(check.answerable_declined, 0.0, "{check:?}");
    assert!(
        (check.unanswerable_declined - 6.0 / 7.0).abs() < 1e-6,
        "{check:?}"
    );
}

#[test]
fn the_names_check_is_kept_only_where_unknown_names_mark_questions_to_decline() {
    let named = |s: Signals| Signals { unknown: 1.0, ..s };
    // Off-topic questions that look like the corpus's own, two of them naming
    // a product it never mentions; one answerable question names one too.
    let mut pos: Vec<Signals> = (0..20)
        .map(|i| signals(0.6 + i as f32 * 0.01, 0.5))
        .collect();
    let mut neg: Vec<Signals> = (0..20)
        .map(|i| signals(0.1 + i as f32 * 0.01, 0.1))
        .collect();
    neg.extend([named(signals(0.7, 0.5)), named(signals(0.72, 0.5))]);
    pos[0] = named(pos[0]);
    let c = fit(&pos, &neg).unwrap();
    let n = c
        .names
        .expect("two of 22 off-topic against one of 20 answerable");
    assert_eq!(n.in_scope_declined, 0.05);
    assert!(n.out_of_scope_declined > 0.05, "{n:?}");
    assert_eq!(c.decide(&named(signals(0.7, 0.5))).1, Verdict::UnknownName);
    assert_eq!(c.decide(&signals(0.7, 0.5)).1, Verdict::Supported);
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Calibration::load(dir.path()).unwrap(), Some(c));

    // Where as many answerable questions name unknown things, it goes.
    pos[1] = named(pos[1]);
    pos[2] = named(pos[2]);
    let c = fit(&pos, &neg).unwrap();
    assert_eq!(c.names, None);
    assert_eq!(c.decide(&named(signals(0.7, 0.5))).1, Verdict::Supported);
}
