//! Every route, in process: requests go through the router (its layers
//! included) with `oneshot`, against a service over a small indexed corpus.
//! The end-to-end tests cover the same routes through a server process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::{app, Admin, AppState};
use crate::service::Service;

const TOKEN: &str = "route-test-token";

struct Served {
    state: AppState,
    // Keeps the corpus and data dir alive as long as the state.
    _dir: tempfile::TempDir,
}

fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::test_utils::indexed_notes(dir.path());
    let service = Service::open(&settings, &|_| {}).unwrap();
    Served {
        state: AppState {
            answerer: service.answerer,
            admin: Some(Arc::new(Admin::new(TOKEN, service.jobs))),
            feedback: Some(service.feedback),
            cors_origins: Vec::new(),
            keys: None,
        },
        _dir: dir,
    }
}

/// Sends one request through a fresh router on `state`; the status and the
/// body, as JSON when it is JSON and as a string otherwise.
async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if uri.starts_with("/admin") {
        request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    let request = match body {
        Some(b) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_routes_answer_in_process() {
    let s = served();
    let st = &s.state;

    let (status, body) = call(st, Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(st, Method::GET, "/readyz", None).await;
    assert_eq!(
        (status, &body["ready"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );

    let (status, body) = call(st, Method::GET, "/v1/corpora", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.to_string().matches("\"notes\"").count(), 1, "{body}");

    let question =
        json!({"question": "When is the cluster patched?", "corpus": "notes", "top_k": 1});
    let (status, body) = call(st, Method::POST, "/v1/search", Some(question.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains("windows.md"), "{body}");

    let (status, body) = call(st, Method::POST, "/v1/answer", Some(question)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["corpus"], "notes", "{body}");
    let answer_id = body["answer_id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        st,
        Method::POST,
        "/v1/feedback",
        Some(json!({"answer_id": answer_id, "rating": "up"})),
    )
    .await;
    assert_eq!(
        (status, &body["recorded"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );

    let (status, body) = call(st, Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.as_str().unwrap().contains("route=\"/v1/answer\""),
        "{body}"
    );

    let (status, body) = call(st, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/answer",
        "/v1/search",
        "/v1/corpora",
        "/v1/feedback",
        "/admin/jobs",
    ] {
        assert!(body["paths"].get(path).is_some(), "{path} missing");
    }

    let (status, body) = call(st, Method::GET, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.as_str().unwrap().contains("<html"),
        "the playground page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_request_gets_its_status_and_code() {
    let s = served();
    let st = &s.state;
    let too_long = "x".repeat(crate::answer::DEFAULT_MAX_QUESTION_CHARS + 1);
    let cases = [
        (
            "/v1/answer",
            json!({"question": "   "}),
            400,
            "empty_question",
        ),
        (
            "/v1/answer",
            json!({"question": too_long}),
            400,
            "question_too_long",
        ),
        (
            "/v1/search",
            json!({"question": "q", "top_k": 0}),
            400,
            "invalid_top_k",
        ),
        (
            "/v1/answer",
            json!({"question": "q", "corpus": "nope"}),
            404,
            "unknown_corpus",
        ),
        (
            "/v1/feedback",
            json!({"answer_id": "a-0", "rating": "sideways"}),
            400,
            "invalid_json",
        ),
    ];
    for (uri, body, want, code) in cases {
        let (status, reply) = call(st, Method::POST, uri, Some(body.clone())).await;
        assert_eq!(
            (status.as_u16(), &reply["error"]["code"]),
            (want, &json!(code)),
            "{uri} {body}: {reply}"
        );
    }
    let (status, body) = call(st, Method::GET, "/nowhere", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_routes_start_report_and_refuse_to_cancel_a_finished_job() {
    let s = served();
    let st = &s.state;
    let unauthorised = app(st.clone())
        .oneshot(Request::get("/admin/jobs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = call(
        st,
        Method::POST,
        "/admin/corpora/notes/reindex",
        Some(json!({"mode": "full"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["job_id"].as_u64().unwrap();
    let mut phase = Value::Null;
    for _ in 0..600 {
        let (status, job) = call(st, Method::GET, &format!("/admin/jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        phase = job["phase"].clone();
        if phase == "done" || phase == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(phase, "done");
    let cancel = format!("/admin/jobs/{id}/cancel");
    let (status, body) = call(st, Method::POST, &cancel, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("job_finished")),
        "{body}"
    );
    let (status, jobs) = call(st, Method::GET, "/admin/jobs", None).await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    assert!(jobs.to_string().contains(&format!("\"id\":{id}")), "{jobs}");
    let (status, body) = call(
        st,
        Method::POST,
        "/admin/corpora/notes/reindex",
        Some(json!({"mode": "sideways"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_mode"))
    );
    let (status, body) = call(st, Method::POST, "/admin/plugins/reload", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
