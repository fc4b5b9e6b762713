//! HTTP against a server: JSON requests, the admin API and its reindex jobs,
//! and the Prometheus metrics.

use std::time::Duration;

use serde_json::Value;

use crate::server::ADMIN_TOKEN;

/// A client that hands back error statuses as responses, each call bounded by
/// 60 s so a hung server fails the test instead of stalling it.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs the JSON `body` to `path`: the status and the JSON reply.
pub fn post(base: &str, path: &str, body: &str) -> (u16, Value) {
    let mut resp = agent()
        .post(&format!("{base}{path}"))
        .header("content-type", "application/json")
        .send(body)
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().expect("json body"))
}

/// GETs `path`: the status and the body.
pub fn get(base: &str, path: &str) -> (u16, String) {
    let mut resp = agent()
        .get(&format!("{base}{path}"))
        .call()
        .expect("request sent");
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().expect("body"),
    )
}

/// A GET, or a POST with a JSON body (or none), with an optional bearer token:
/// (status, content type, body).
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let url = format!("{base}{path}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let with_auth = |r| match &auth {
        Some(a) => ureq::RequestBuilder::header(r, "authorization", a),
        None => r,
    };
    let mut resp = match (method, body) {
        ("post", Some(b)) => with_auth(
            agent()
                .post(&url)
                .header("content-type", "application/json"),
        )
        .send(b),
        ("post", None) => with_auth(agent().post(&url)).send_empty(),
        _ => match &auth {
            Some(a) => agent().get(&url).header("authorization", a).call(),
            None => agent().get(&url).call(),
        },
    }
    .expect("request sent");
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        resp.status().as_u16(),
        kind,
        resp.body_mut().read_to_string().expect("body"),
    )
}

/// A request with the admin token (`token` None sends none).
pub fn admin(
    method: &str,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let (status, _, text) = call(base, &method.to_lowercase(), path, token, body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Starts a full reindex of `corpus` through the admin API: the 202 body.
pub fn start_full_reindex(base: &str, corpus: &str) -> Value {
    let path = format!("/admin/corpora/{corpus}/reindex");
    let (status, body) = admin(
        "POST",
        base,
        &path,
        Some(ADMIN_TOKEN),
        Some(r#"{"mode":"full"}"#),
    );
    assert_eq!(status, 202, "{body}");
    body
}

/// Polls a job until it ends; returns its final status.
pub fn wait_for_job(base: &str, id: &Value) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, job) = admin(
            "GET",
            base,
            &format!("/admin/jobs/{id}"),
            Some(ADMIN_TOKEN),
            None,
        );
        assert_eq!(status, 200, "{job}");
        if ["succeeded", "failed", "canceled"].contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job never ended: {job}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /metrics`, parsed as Prometheus text (the parse fails on a malformed line).
pub fn scrape(base: &str) -> prometheus_parse::Scrape {
    let (status, text) = get(base, "/metrics");
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The value of the sample `name` whose labels include `labels`.
pub fn sample(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// The generation `/v1/corpora` reports for the only corpus.
pub fn served_generation(base: &str) -> u64 {
    let (status, body) = get(base, "/v1/corpora");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v[0]["generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("no generation in {v}"))
}
