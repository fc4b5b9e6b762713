//! Process-wide counters and histograms, rendered in the Prometheus text format.
//!
//! Any stage records into one registry (a plugin call, a finished job, an HTTP
//! request) without knowing who reads it; `GET /metrics` renders it. Series are
//! kept in sorted maps, so the output is in a stable order.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Upper bounds, in seconds, of the latency histograms' buckets.
const SECONDS_BUCKETS: [f64; 14] = [
    0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Label pairs, in the order given.
type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    buckets: [u64; SECONDS_BUCKETS.len()],
    sum: f64,
    count: u64,
}

struct Family<T> {
    help: &'static str,
    series: BTreeMap<Labels, T>,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<&'static str, Family<u64>>,
    histograms: BTreeMap<&'static str, Family<Histogram>>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    // Every update is a whole assignment, so a poisoned lock still holds whole values.
    crate::sync::lock(REGISTRY.get_or_init(Mutex::default))
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|&(k, v)| (k, v.to_owned())).collect()
}

/// Adds one to counter `name` with these labels.
pub fn inc(name: &'static str, help: &'static str, pairs: &[(&'static str, &str)]) {
    add(name, help, pairs, 1);
}

/// Adds `n` to counter `name` with these labels.
pub fn add(name: &'static str, help: &'static str, pairs: &[(&'static str, &str)], n: u64) {
    let mut r = registry();
    let family = r.counters.entry(name).or_insert_with(|| Family {
        help,
        series: BTreeMap::new(),
    });
    *family.series.entry(labels(pairs)).or_default() += n;
}

/// Records `seconds` in histogram `name` with these labels.
pub fn observe(
    name: &'static str,
    help: &'static str,
    pairs: &[(&'static str, &str)],
    seconds: f64,
) {
    let mut r = registry();
    let family = r.histograms.entry(name).or_insert_with(|| Family {
        help,
        series: BTreeMap::new(),
    });
    let h = family.series.entry(labels(pairs)).or_default();
    for (bucket, bound) in h.buckets.iter_mut().zip(SECONDS_BUCKETS) {
        if seconds <= bound {
            *bucket += 1;
        }
    }
    h.sum += seconds;
    h.count += 1;
}

/// A gauge's current values, computed by the caller at render time.
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// Its HELP text.
    pub help: &'static str,
    /// (labels, value) per series.
    pub series: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// Everything recorded so far, plus `gauges`, in the Prometheus text format.
pub fn render(gauges: &[Gauge]) -> String {
    let r = registry();
    let mut out = String::new();
    for (name, f) in &r.counters {
        header(&mut out, name, f.help, "counter");
        for (l, v) in &f.series {
            let _ = writeln!(out, "{name}{} {v}", label_text(l, None));
        }
    }
    for (name, f) in &r.histograms {
        header(&mut out, name, f.help, "histogram");
        for (l, h) in &f.series {
            for (count, bound) in h.buckets.iter().zip(SECONDS_BUCKETS) {
                let le = bound.to_string();
                let _ = writeln!(out, "{name}_bucket{} {count}", label_text(l, Some(&le)));
            }
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                label_text(l, Some("+Inf")),
                h.count
            );
            let _ = writeln!(out, "{name}_sum{} {}", label_text(l, None), h.sum);
            let _ = writeln!(out, "{name}_count{} {}", label_text(l, None), h.count);
        }
    }
    for g in gauges {
        header(&mut out, g.name, g.help, "gauge");
        for (l, v) in &g.series {
            let _ = writeln!(out, "{}{} {v}", g.name, label_text(l, None));
        }
    }
    out
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// `{k="v",...}` with values escaped as the format requires; empty for no labels.
fn label_text(l: &[(&'static str, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = l
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_histograms_and_gauges_render_in_the_text_format() {
        inc("test_things_total", "Things.", &[("kind", "a\"b")]);
        inc("test_things_total", "Things.", &[("kind", "a\"b")]);
        observe("test_wait_seconds", "Waits.", &[("route", "/x")], 0.003);
        observe("test_wait_seconds", "Waits.", &[("route", "/x")], 2.0);
        let text = render(&[Gauge {
            name: "test_level",
            help: "Level.",
            series: vec![(vec![("corpus", "c".to_owned())], 7.0)],
        }]);
        for line in [
            "# TYPE test_things_total counter",
            "test_things_total{kind=\"a\\\"b\"} 2",
            "# TYPE test_wait_seconds histogram",
            "test_wait_seconds_bucket{route=\"/x\",le=\"0.0025\"} 0",
            "test_wait_seconds_bucket{route=\"/x\",le=\"0.005\"} 1",
            "test_wait_seconds_bucket{route=\"/x\",le=\"5\"} 2",
            "test_wait_seconds_bucket{route=\"/x\",le=\"+Inf\"} 2",
            "test_wait_seconds_sum{route=\"/x\"} 2.003",
            "test_wait_seconds_count{route=\"/x\"} 2",
            "# TYPE test_level gauge",
            "test_level{corpus=\"c\"} 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }
}
