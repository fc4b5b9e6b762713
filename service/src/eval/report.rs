//! The eval report: `report.json` (the figures) and `report.html` (one
//! self-contained page with inline SVG charts: retrieval quality by mode,
//! confidence histograms against the threshold, the abstention confusion matrix,
//! latency percentiles).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::answer::AnswerReport;
use crate::Error;

/// One evaluated set: its name (`eval/`, or the file given with `--with`) and
/// what it measured.
#[derive(Debug, Serialize)]
pub struct Section<'a> {
    /// Where the questions came from.
    pub set: String,
    /// The figures.
    pub report: &'a AnswerReport,
}

/// Writes `report.json` and `report.html` into `dir` (created if missing).
///
/// # Errors
///
/// [`Error::Io`] naming the file that cannot be written.
pub fn write(dir: &Path, sections: &[Section<'_>]) -> crate::Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let json_path = dir.join("report.json");
    let json = serde_json::to_vec_pretty(sections).map_err(|e| Error::Io {
        path: json_path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&json_path, json).map_err(Error::io(&json_path))?;
    let html_path = dir.join("report.html");
    std::fs::write(&html_path, html(sections)).map_err(Error::io(&html_path))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The page.
fn html(sections: &[Section<'_>]) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Candor eval report</title><style>\
body{font:14px/1.5 system-ui,sans-serif;color:#1d2330;max-width:980px;margin:24px auto;padding:0 16px}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d9dde5}h3{font-size:15px}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d9dde5;padding:4px 10px;text-align:right}\
th:first-child,td:first-child{text-align:left}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}\
</style></head><body><h1>Candor eval report</h1>",
    );
    for s in sections {
        let r = s.report;
        let _ = write!(
            out,
            "<h2>Corpus <code>{}</code>: {}</h2>",
            escape(&r.corpus),
            escape(&s.set)
        );
        let _ = write!(
            out,
            "<table><tr><th>questions</th><th>asked</th><th>outcome</th></tr>\
             <tr><td>in scope</td><td>{}</td><td>{} answered; first citation relevant {} of {} judged</td></tr>\
             <tr><td>answer correct</td><td>{}</td><td>{} hold a gold string</td></tr>\
             <tr><td>first citation expected</td><td>{}</td><td>{} cite the expected document first</td></tr>\
             <tr><td>unanswerable</td><td>{}</td><td>{} declined</td></tr>\
             <tr><td>out of scope</td><td>{}</td><td>{} declined</td></tr>\
             <tr><td>guardrail cases</td><td>{}</td><td>{} blocked by their rule</td></tr></table>",
            r.in_scope,
            pct(r.in_scope_answered),
            pct(r.first_citation_relevant),
            r.judged_answered,
            r.gold_questions,
            pct(r.answer_correct),
            r.expected_questions,
            pct(r.first_citation_expected),
            r.unanswerable,
            pct(r.unanswerable_declined),
            r.out_of_scope,
            pct(r.out_of_scope_declined),
            r.guarded,
            pct(r.guarded_blocked),
        );
        out.push_str("<h3>Retrieval quality by mode</h3>");
        out.push_str(&retrieval_chart(r));
        out.push_str("<h3>Confidence against the threshold</h3>");
        out.push_str(&confidence_chart(r));
        let c = &r.confusion;
        let _ = write!(
            out,
            "<h3>Abstention</h3><table><tr><th>expected \\ got</th><th>answered</th><th>unsupported</th></tr>\
             <tr><td>answer</td><td>{}</td><td>{}</td></tr><tr><td>decline</td><td>{}</td><td>{}</td></tr></table>",
            c.expected_answer.answered,
            c.expected_answer.unsupported,
            c.expected_decline.answered,
            c.expected_decline.unsupported
        );
        let l = &r.latency_ms;
        let _ = write!(
            out,
            "<h3>Answer latency (ms)</h3><table><tr><th>p50</th><th>p95</th><th>p99</th><th>mean</th></tr>\
             <tr><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr></table>",
            l.p50, l.p95, l.p99, l.mean
        );
    }
    out.push_str("</body></html>\n");
    out
}

const COLORS: [&str; 3] = ["#2457c5", "#1b7a3d", "#c27c0e"];

/// Grouped bars: for each mode, nDCG@10, Recall@100 and MRR@10.
fn retrieval_chart(r: &AnswerReport) -> String {
    if r.retrieval.is_empty() {
        return "<p>No judged questions: nothing to rank.</p>".into();
    }
    let (w, h, left, bottom, top) = (640.0, 230.0, 40.0, 30.0, 10.0);
    let group = (w - left) / r.retrieval.len() as f64;
    let bar = group / 4.0;
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"retrieval quality by mode\">"
    );
    for tick in [0.0, 0.5, 1.0] {
        let y = top + (h - bottom - top) * (1.0 - tick);
        let _ = write!(svg, "<line x1=\"{left}\" x2=\"{w}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#e3e6ec\"/><text x=\"4\" y=\"{}\" font-size=\"11\">{tick:.1}</text>", y + 4.0);
    }
    for (i, m) in r.retrieval.iter().enumerate() {
        let x0 = left + group * i as f64 + bar / 2.0;
        for (j, v) in [m.ndcg_at_10, m.recall_at_100, m.mrr_at_10]
            .iter()
            .enumerate()
        {
            let bh = (h - bottom - top) * v.clamp(0.0, 1.0);
            let x = x0 + bar * j as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{:.3}</title></rect>",
                h - bottom - bh,
                bar - 2.0,
                COLORS[j],
                v
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            x0 + bar * 1.5,
            h - 10.0,
            escape(&m.mode)
        );
    }
    svg.push_str("</svg>");
    let legend = ["nDCG@10", "Recall@100", "MRR@10"]
        .iter()
        .zip(COLORS)
        .map(|(n, c)| format!("<span style=\"background:{c}\"></span>{n}"))
        .collect::<String>();
    let rows = r
        .retrieval
        .iter()
        .map(|m| {
            format!(
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
                escape(&m.mode),
                m.ndcg_at_10,
                m.recall_at_100,
                m.mrr_at_10,
                m.queries
            )
        })
        .collect::<String>();
    format!("{svg}<div class=\"legend\">{legend}</div><table><tr><th>mode</th><th>nDCG@10</th><th>Recall@100</th><th>MRR@10</th><th>judged</th></tr>{rows}</table>")
}

/// Histograms of confidence in 20 bins, one per set, with the threshold marked.
fn confidence_chart(r: &AnswerReport) -> String {
    const BINS: usize = 20;
    let c = &r.confidence;
    let sets: [(&str, &[f32]); 3] = [
        ("in scope", &c.in_scope),
        ("unanswerable", &c.unanswerable),
        ("out of scope", &c.out_of_scope),
    ];
    let counts: Vec<[usize; BINS]> = sets
        .iter()
        .map(|(_, xs)| {
            let mut bins = [0; BINS];
            for &x in *xs {
                bins[((x.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1)] += 1;
            }
            bins
        })
        .collect();
    let most = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, left, bottom) = (640.0, 200.0, 40.0, 24.0);
    // Room on the right for the last tick's label.
    let right = 16.0;
    let bin_w = (w - left - right) / BINS as f64;
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"confidence histograms\">"
    );
    for (k, bins) in counts.iter().enumerate() {
        let slot = bin_w / 3.0;
        for (b, &n) in bins.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let bh = (h - bottom) * n as f64 / most;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {n}</title></rect>",
                left + bin_w * b as f64 + slot * k as f64,
                h - bottom - bh,
                slot - 1.0,
                COLORS[k],
                sets[k].0
            );
        }
    }
    let tx = left + (w - left - right) * f64::from(c.threshold);
    let _ = write!(
        svg,
        "<line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"0\" y2=\"{}\" stroke=\"#a4262c\" stroke-width=\"2\"/>\
         <text x=\"{:.1}\" y=\"12\" font-size=\"11\" fill=\"#a4262c\">threshold {:.3}</text>",
        h - bottom,
        tx + 4.0,
        c.threshold
    );
    for tick in [0.0, 0.5, 1.0] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{tick:.1}</text>",
            left + (w - left - right) * tick,
            h - 6.0
        );
    }
    svg.push_str("</svg>");
    let legend = sets
        .iter()
        .zip(COLORS)
        .map(|((n, xs), c)| format!("<span style=\"background:{c}\"></span>{n} ({})", xs.len()))
        .collect::<String>();
    format!("{svg}<div class=\"legend\">{legend}</div>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::answer::{Confidences, Confusion, Retrieval};
    use crate::eval::metrics::Percentiles;

    #[test]
    fn the_page_is_self_contained_escaped_and_marks_the_threshold() {
        let report = AnswerReport {
            corpus: "a<b".into(),
            in_scope: 2,
            in_scope_answered: 1.0,
            judged_answered: 2,
            first_citation_relevant: 0.5,
            gold_questions: 2,
            answer_correct: 0.5,
            expected_questions: 2,
            first_citation_expected: 0.5,
            unanswerable: 0,
            unanswerable_declined: 0.0,
            out_of_scope: 1,
            out_of_scope_declined: 1.0,
            misses: Vec::new(),
            reasons: Default::default(),
            guarded: 0,
            guarded_blocked: 0.0,
            confusion: Confusion::default(),
            retrieval: vec![Retrieval {
                mode: "hybrid".into(),
                queries: 2,
                ndcg_at_10: 0.9,
                recall_at_100: 1.0,
                mrr_at_10: 0.75,
            }],
            confidence: Confidences {
                threshold: 0.5,
                in_scope: vec![0.9, 1.0],
                unanswerable: vec![],
                out_of_scope: vec![0.1],
            },
            latency_ms: Percentiles::default(),
            generated: None,
        };
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[Section {
                set: "eval/".into(),
                report: &report,
            }],
        )
        .unwrap();
        let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(page.contains("a&lt;b") && !page.contains("a<b"));
        assert!(page.contains("threshold 0.500") && page.contains("<svg"));
        assert!(page.contains("<td>hybrid</td><td>0.900</td><td>1.000</td><td>0.750</td>"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external assets"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(json[0]["report"]["retrieval"][0]["mode"], "hybrid");
    }
}
