//! The OpenAPI document: every route it lists answers as its schema says, and
//! only those routes exist.

use candor_e2e::cli::index_corpus;
use candor_e2e::corpus::clinic;
use candor_e2e::http::{call, wait_for_job};
use candor_e2e::server::{serve_with, ADMIN_TOKEN};
use serde_json::{json, Value};

#[test]
fn every_route_in_openapi_answers_as_its_schema_says() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = clinic(
        tmp.path(),
        "clinic",
        "[[guardrails]]\nplugin = \"pii-redact\"\nstage = \"output\"\n",
    );
    index_corpus(tmp.path(), &c, &data);
    let server = serve_with(
        tmp.path(),
        &tmp.path().join("corpora"),
        &data,
        &[("CANDOR_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let (status, _, text) = call(&server.base, "get", "/openapi.json", None, None);
    assert_eq!(status, 200, "{text}");
    let spec: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");

    let mut exercised = std::collections::BTreeSet::new();
    let mut check = |method: &str,
                     template: &str,
                     path: &str,
                     token: Option<&str>,
                     body: Option<Value>,
                     want: u16|
     -> Value {
        let body = body.map(|b| b.to_string());
        let (status, kind, text) = call(&server.base, method, path, token, body.as_deref());
        assert_eq!(status, want, "{method} {path}: {text}");
        let described = &spec["paths"][template][method]["responses"][status.to_string()];
        assert!(
            described.is_object(),
            "{method} {template} does not describe {status}"
        );
        exercised.insert(format!("{method} {template}"));
        let content = described["content"].as_object().expect("a described body");
        if let Some(plain) = content.get("text/plain") {
            assert!(
                kind.starts_with("text/plain") && plain["schema"]["type"] == "string",
                "{method} {path}: {kind}"
            );
            return Value::String(text);
        }
        let mut schema = content["application/json"]["schema"].clone();
        schema["components"] = spec["components"].clone();
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{template}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} breaks its schema: {errors:?}\n{value}"
        );
        value
    };
    let t = Some(ADMIN_TOKEN);
    check("get", "/healthz", "/healthz", None, None, 200);
    check("get", "/readyz", "/readyz", None, None, 200);
    check("get", "/openapi.json", "/openapi.json", None, None, 200);
    check("get", "/v1/corpora", "/v1/corpora", None, None, 200);
    check(
        "post",
        "/v1/search",
        "/v1/search",
        None,
        Some(json!({"question": "When does the clinic open?"})),
        200,
    );
    check(
        "post",
        "/v1/search",
        "/v1/search",
        None,
        Some(json!({"question": "x", "mode": "psychic"})),
        400,
    );
    check(
        "post",
        "/v1/search",
        "/v1/search",
        None,
        Some(json!({"question": "x", "corpus": "nope"})),
        404,
    );
    let answered = check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": "When does the clinic open on Saturdays?"})),
        200,
    );
    assert_eq!(answered["status"], "answered", "{answered}");
    let declined = check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": "Which stocks should I buy this year?"})),
        200,
    );
    assert_eq!(declined["status"], "unsupported", "{declined}");
    check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": ""})),
        400,
    );
    check(
        "post",
        "/v1/answer",
        "/v1/answer",
        None,
        Some(json!({"question": "x", "corpus": "nope"})),
        404,
    );
    check(
        "post",
        "/v1/feedback",
        "/v1/feedback",
        None,
        Some(json!({"answer_id": answered["answer_id"], "rating": "up"})),
        200,
    );
    check(
        "post",
        "/v1/feedback",
        "/v1/feedback",
        None,
        Some(json!({"answer_id": "ans_nope", "rating": "up"})),
        404,
    );
    check(
        "post",
        "/v1/feedback",
        "/v1/feedback",
        None,
        Some(json!({"rating": "up"})),
        400,
    );
    let reindex = "/admin/corpora/{name}/reindex";
    check(
        "post",
        reindex,
        "/admin/corpora/clinic/reindex",
        None,
        Some(json!({})),
        401,
    );
    check(
        "post",
        reindex,
        "/admin/corpora/clinic/reindex",
        t,
        Some(json!({"mode": "sideways"})),
        400,
    );
    check(
        "post",
        reindex,
        "/admin/corpora/nope/reindex",
        t,
        Some(json!({})),
        404,
    );
    let started = check(
        "post",
        reindex,
        "/admin/corpora/clinic/reindex",
        t,
        Some(json!({"mode": "full"})),
        202,
    );
    let job = wait_for_job(&server.base, &started["job_id"]);
    assert_eq!(
        (&job["status"], &job["phase"]),
        (&json!("succeeded"), &json!("done")),
        "{job}"
    );
    check(
        "get",
        "/admin/jobs/{id}",
        &format!("/admin/jobs/{}", started["job_id"]),
        t,
        None,
        200,
    );
    check(
        "get",
        "/admin/jobs/{id}",
        "/admin/jobs/999999",
        t,
        None,
        404,
    );
    check("get", "/admin/jobs/{id}", "/admin/jobs/1", None, None, 401);
    let cancel = "/admin/jobs/{id}/cancel";
    let finished = format!("/admin/jobs/{}/cancel", started["job_id"]);
    check("post", cancel, &finished, t, None, 409);
    check("post", cancel, "/admin/jobs/999999/cancel", t, None, 404);
    check("post", cancel, &finished, None, None, 401);
    check("get", "/admin/jobs", "/admin/jobs", t, None, 200);
    check(
        "get",
        "/admin/jobs",
        "/admin/jobs",
        Some("wrong"),
        None,
        401,
    );
    check(
        "post",
        "/admin/plugins/reload",
        "/admin/plugins/reload",
        t,
        None,
        200,
    );
    check(
        "post",
        "/admin/plugins/reload",
        "/admin/plugins/reload",
        None,
        None,
        401,
    );
    // This server runs without API keys: nothing to reload.
    check(
        "post",
        "/admin/keys/reload",
        "/admin/keys/reload",
        t,
        None,
        404,
    );
    // Last, so it has counted the rest.
    check("get", "/metrics", "/metrics", None, None, 200);

    let documented: std::collections::BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{m} {path}"))
        })
        .collect();
    assert_eq!(
        exercised, documented,
        "every documented route is exercised, and only those"
    );
    // The check above can fail: a body the schema does not describe is refused.
    let mut schema = spec["paths"]["/v1/answer"]["post"]["responses"]["200"]["content"]
        ["application/json"]["schema"]
        .clone();
    schema["components"] = spec["components"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut wrong = answered.clone();
    wrong["status"] = json!("maybe");
    assert!(validator.is_valid(&answered) && !validator.is_valid(&wrong));
    wrong = answered.clone();
    wrong["citations"][0]["span"] = json!("12-40");
    assert!(
        !validator.is_valid(&wrong),
        "nested schemas are checked too"
    );
}
