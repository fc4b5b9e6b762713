//! The HTTP layer: routes, request and response shapes, error mapping.
//!
//! Handlers only translate: extract, call the engine once (on a blocking thread
//! when the work is CPU-bound), serialise. This is the only module that names
//! axum, hyper or tower; the engine never sees HTTP.

mod admin;
mod edge;
mod error;
mod keys;
pub mod openapi;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use tower::ServiceExt;
use tracing::Instrument;

pub use admin::Admin;
pub use edge::Edge;
pub use error::ApiError;
use error::InternalDetail;
pub use keys::{Client, Keyring};

use crate::answer::{Answerer, Asked, Progress, Question};
use crate::feedback::Feedback;
use crate::retrieve::corpora::{CorpusInfo, Query};
use crate::retrieve::Mode;

/// Largest accepted request body. Default: 64 KiB; larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest accepted question, in characters, unless configured; longer ones get 400.
pub use crate::answer::DEFAULT_MAX_QUESTION_CHARS;

/// Results returned when the request does not say.
pub const DEFAULT_TOP_K: usize = 10;

/// Shared state: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The engine over the served corpora.
    pub answerer: Arc<Answerer>,
    /// Admin access; `None` leaves the admin routes out.
    pub admin: Option<Arc<Admin>>,
    /// The answer log and feedback store; `None` logs nothing and refuses feedback.
    pub feedback: Option<Arc<crate::feedback::Store>>,
    /// Browser origins allowed to call the API; empty: no CORS headers at all.
    pub cors_origins: Vec<Origin>,
    /// The API keys `/v1/` routes need; `None` leaves them open.
    pub keys: Option<Arc<Keyring>>,
}

/// A browser origin, `scheme://host[:port]`, that CORS may allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(HeaderValue);

impl std::str::FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Origin, String> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
        match HeaderValue::from_str(s) {
            Ok(v) if ok => Ok(Origin(v)),
            _ => Err(format!(
                "`{s}` is not an origin: scheme://host[:port], such as https://app.example.com"
            )),
        }
    }
}

/// A JSON body whose rejections use the API's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct Json<T>(T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The router with every route.
pub fn app(state: AppState) -> Router {
    let mut v1 = Router::new()
        .route("/v1/corpora", get(corpora))
        .route("/v1/search", post(search))
        .route("/v1/answer", post(answer))
        .route("/v1/feedback", post(feedback));
    if let Some(ring) = state.keys.clone() {
        v1 = v1.route_layer(middleware::from_fn_with_state(ring, keys::authorize));
    }
    let mut router = Router::new()
        .route("/", get(playground))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .merge(v1)
        .merge(admin::routes(&state))
        // Inside the routes, where the matched route is known, so series are per
        // route and not per URL.
        .route_layer(middleware::from_fn(count_request))
        .fallback(|| async {
            crate::metrics::inc(
                REQUESTS,
                REQUESTS_HELP,
                &[("route", "unmatched"), ("status", "404")],
            );
            ApiError::not_found()
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_errors));
    if !state.cors_origins.is_empty() {
        router = router.layer(cors(&state.cors_origins));
    }
    router
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Where a server is in its start: loading (perhaps waiting for something, and
/// saying what), then serving. Clones share it.
#[derive(Clone, Default)]
pub struct Startup {
    router: Arc<OnceLock<Router>>,
    waiting: Arc<std::sync::Mutex<Option<String>>>,
}

impl Startup {
    /// From now on, serves every route on `state`.
    pub fn ready(&self, state: AppState) {
        // Only the first call counts: a server is ready once.
        let _ = self.router.set(app(state));
    }

    /// What loading waits for now (`/readyz` says it), or None.
    pub fn waiting(&self, why: Option<String>) {
        *crate::sync::lock(&self.waiting) = why;
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains in-flight requests.
/// Until [`Startup::ready`], `/healthz` answers `ok`, `/readyz` 503 with
/// `"ready": false`, and every other route 503 `not_ready`.
///
/// # Errors
///
/// When the server fails.
pub async fn serve(
    startup: Startup,
    listener: tokio::net::TcpListener,
    edge: Edge,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let front = Router::new().fallback(move |req: Request| {
        let startup = startup.clone();
        async move {
            match startup.router.get() {
                Some(app) => app.clone().oneshot(req).await.into_response(),
                None => loading(
                    req.uri().path(),
                    crate::sync::lock(&startup.waiting).clone(),
                ),
            }
        }
    });
    let limit = edge.request_timeout;
    // Requests answered while loading carry a request id too, and a request that
    // takes too long is told so with its id.
    let front = front
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            within(limit, req, next)
        }))
        .layer(middleware::from_fn(request_id));
    edge::accept(listener, front, edge, shutdown).await
}

/// Runs the request, or answers 503 `timeout` once `limit` passes without a
/// response head. A streamed answer has its head at once; its events are
/// bounded by the edge's stall timeout instead.
async fn within(limit: std::time::Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            crate::metrics::inc(
                "candor_http_timeouts_total",
                "Requests answered 503 timeout: no response within the request timeout.",
                &[],
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request did not complete within {} ms; try again",
                    limit.as_millis()
                ),
            )
            .into_response()
        }
    }
}

/// The answer to a request while the server loads.
fn loading(path: &str, waiting: Option<String>) -> Response {
    match path {
        "/healthz" => "ok".into_response(),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(openapi::Ready {
                ready: false,
                generations: Default::default(),
                waiting,
                failing_plugins: Default::default(),
            }),
        )
            .into_response(),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the server is still loading its corpora; try again shortly",
        )
        .into_response(),
    }
}

/// CORS for the configured origins: GET and POST with JSON bodies, and the
/// request id readable by scripts.
fn cors(origins: &[Origin]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().map(|o| o.0.clone())))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([header::HeaderName::from_static(REQUEST_ID)])
}

const REQUESTS: &str = "candor_http_requests_total";
const REQUESTS_HELP: &str = "HTTP requests by route and status.";

async fn count_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    crate::metrics::inc(
        REQUESTS,
        REQUESTS_HELP,
        &[("route", &route), ("status", &status)],
    );
    crate::metrics::observe(
        "candor_http_request_duration_seconds",
        "Time to answer an HTTP request, by route.",
        &[("route", &route)],
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// Takes the caller's `x-request-id` when it is a sane token, or makes one; logs
/// the request under it and echoes it in the response.
async fn request_id(req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(crate::ids::next_hex);
    // `key` is filled in once an API key admits the request.
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path(), key = tracing::field::Empty);
    let mut req = req;
    // Passed on with the request, so an inner layer keeps this id.
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

const REQUEST_ID: &str = "x-request-id";

async fn log_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    if let Some(InternalDetail(detail)) = resp.extensions().get::<InternalDetail>() {
        tracing::error!(%method, %path, status = resp.status().as_u16(), error = %detail, "request failed");
    }
    resp
}

/// The browser playground: one self-contained page that calls the API.
async fn playground() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("playground.html"))
}

#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process serves", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// 200 with what each corpus serves. Before the corpora are loaded the loading
/// front answers this route with 503 instead (see [`serve`]).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Every corpus serves a generation", body = openapi::Ready),
        (status = 503, description = "Still loading the model and the corpora", body = openapi::Ready),
    ))]
async fn readyz(State(state): State<AppState>) -> Json<openapi::Ready> {
    let generations = state
        .answerer
        .corpora()
        .list()
        .into_iter()
        .map(|c| (c.name, c.generation.0))
        .collect();
    Json(openapi::Ready {
        ready: true,
        generations,
        waiting: None,
        failing_plugins: crate::plugins::health::failing(),
    })
}

#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This description", body = Object)))]
async fn openapi_json() -> Response {
    use utoipa::OpenApi;
    axum::Json(openapi::ApiDoc::openapi()).into_response()
}

/// Counters and histograms recorded so far, and each corpus's size, in the
/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> Response {
    use crate::metrics::Gauge;
    let list = state.answerer.corpora().list();
    let per_corpus = |f: fn(&CorpusInfo) -> f64| {
        list.iter()
            .map(|c| (vec![("corpus", c.name.clone())], f(c)))
            .collect()
    };
    let text = crate::metrics::render(&[
        Gauge {
            name: "candor_corpus_documents",
            help: "Documents in the serving generation.",
            series: per_corpus(|c| c.documents as f64),
        },
        Gauge {
            name: "candor_corpus_chunks",
            help: "Chunks in the serving generation.",
            series: per_corpus(|c| c.chunks as f64),
        },
        Gauge {
            name: "candor_corpus_generation",
            help: "The serving generation's number.",
            series: per_corpus(|c| c.generation.0 as f64),
        },
        Gauge {
            name: "candor_pending",
            help: "Uncached answers and searches under way (admitted, not yet done).",
            series: vec![(Vec::new(), state.answerer.admission().running() as f64)],
        },
        Gauge {
            name: "candor_pending_max",
            help: "The most uncached answers and searches admitted at once (--max-pending).",
            series: vec![(Vec::new(), state.answerer.admission().max() as f64)],
        },
        Gauge {
            name: "candor_plugin_failures_in_a_row",
            help: "Each plugin's failed calls since its last successful one.",
            series: crate::plugins::health::failures_in_a_row()
                .into_iter()
                .map(|(plugin, n)| (vec![("plugin", plugin)], n as f64))
                .collect(),
        },
        Gauge {
            name: "candor_http_connections_open",
            help: "HTTP connections open now.",
            series: vec![(Vec::new(), edge::open_connections() as f64)],
        },
    ]);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/corpora", tag = "questions",
    responses(
        (status = 200, description = "The served corpora (with API keys, those the key may read)", body = Vec<CorpusInfo>),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = openapi::ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = openapi::ErrorBody),
    ),
    security((), ("api_key" = [])))]
async fn corpora(
    State(state): State<AppState>,
    client: Option<Extension<Client>>,
) -> Json<Vec<CorpusInfo>> {
    let mut list = state.answerer.corpora().list();
    if let Some(Extension(client)) = client {
        list.retain(|c| client.may_read(&c.name));
    }
    Json(list)
}

/// 403 when the request's API key may not read the corpus it asks (the one
/// corpus served, when it names none).
fn check_access(
    state: &AppState,
    client: Option<&Client>,
    corpus: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(client) = client {
        let (name, _) = state.answerer.corpora().pick(corpus)?;
        client.check(name)?;
    }
    Ok(())
}

/// `POST /v1/search`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    /// The question; it must hold a word, and be at most the server's
    /// `--max-question-chars` long (2,000 by default).
    #[schema(min_length = 1, pattern = r"\S")]
    question: String,
    corpus: Option<String>,
    /// Results, 1 to 100 (the engine's `MAX_SEARCH_RESULTS`); default 10.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "whole")]
    top_k: Option<usize>,
    /// `hybrid` (the default), `bm25` or `dense`.
    #[schema(pattern = "^(hybrid|bm25|dense)$")]
    mode: Option<String>,
    as_of: Option<chrono::NaiveDate>,
}

/// A count sent as a JSON integer or as a number without a fraction (`16.0`),
/// which JSON Schema counts as an integer too.
fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => usize::try_from(u).ok(),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&f) => {
            Some(f as usize)
        }
        _ => None,
    };
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {n}")))
}

/// Runs CPU-bound engine work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))??)
}

#[utoipa::path(post, path = "/v1/search", tag = "questions", request_body = SearchBody,
    responses(
        (status = 200, description = "Ranked evidence, none when an input guardrail blocked the question", body = crate::answer::Searched),
        (status = 400, description = "A malformed request; `error.code` says what", body = openapi::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `content-type: application/json`", body = openapi::ErrorBody),
        (status = 404, description = "No such corpus", body = openapi::ErrorBody),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = openapi::ErrorBody),
        (status = 403, description = "`forbidden`: the API key may not read this corpus", body = openapi::ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = openapi::ErrorBody),
        (status = 503, description = "`overloaded` (with `retry-after`): as many uncached questions are under way as the server admits; `timeout`: no response within the request timeout; `not_ready`, `vector_store_unavailable`", body = openapi::ErrorBody),
    ),
    security((), ("api_key" = [])))]
async fn search(
    State(state): State<AppState>,
    client: Option<Extension<Client>>,
    Json(body): Json<SearchBody>,
) -> Result<Json<crate::answer::Searched>, ApiError> {
    check_access(&state, client.as_deref(), body.corpus.as_deref())?;
    let mode: Mode = body
        .mode
        .as_deref()
        .unwrap_or("hybrid")
        .parse()
        .map_err(|m| ApiError::invalid("invalid_mode", m))?;
    let result = blocking(move || {
        let top_k = body.top_k.unwrap_or(DEFAULT_TOP_K);
        let query = Query {
            text: &body.question,
            corpus: body.corpus.as_deref(),
            mode,
            limit: top_k,
            as_of: body.as_of,
            recency: true,
        };
        state.answerer.search(&query)
    })
    .await?;
    Ok(Json(result))
}

/// `POST /v1/answer`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    /// The question; it must hold a word, and be at most the server's
    /// `--max-question-chars` long (2,000 by default).
    #[schema(min_length = 1, pattern = r"\S")]
    question: String,
    corpus: Option<String>,
    as_of: Option<chrono::NaiveDate>,
    /// Evidence chunks read, 1 to 20 (the engine's `MAX_TOP_K`).
    #[schema(minimum = 1, maximum = 20)]
    #[serde(default, deserialize_with = "whole")]
    top_k: Option<usize>,
}

#[utoipa::path(post, path = "/v1/answer", tag = "questions", request_body = AnswerBody,
    responses(
        (status = 200, description = "Answered, or declared unsupported with the reason. With `Accept: text/event-stream`, server-sent events instead: `evidence` (`{citations}`), then `delta` (`{text}`, one checked sentence each), `restart` (`{warning}`: discard what came so far) when the language model failed and another composer answers, and last `done` (this same JSON) or `error` (`{error}`)",
            content((openapi::AnswerResponse = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "A malformed request; `error.code` says what", body = openapi::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `content-type: application/json`", body = openapi::ErrorBody),
        (status = 404, description = "No such corpus", body = openapi::ErrorBody),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = openapi::ErrorBody),
        (status = 403, description = "`forbidden`: the API key may not read this corpus", body = openapi::ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = openapi::ErrorBody),
        (status = 503, description = "`overloaded` (with `retry-after`): as many uncached questions are under way as the server admits; `timeout`: no response within the request timeout; `not_ready`, `vector_store_unavailable`", body = openapi::ErrorBody),
    ),
    security((), ("api_key" = [])))]
async fn answer(
    State(state): State<AppState>,
    client: Option<Extension<Client>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<AnswerBody>,
) -> Result<Response, ApiError> {
    let asked = state.answerer.ask(&Question {
        text: &body.question,
        corpus: body.corpus.as_deref(),
        as_of: body.as_of,
        top_k: body.top_k,
    })?;
    check_access(&state, client.as_deref(), body.corpus.as_deref())?;
    let client = client.map(|Extension(c)| c.id);
    let streamed = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if streamed {
        return Ok(answer_events(state, asked, client).into_response());
    }
    let logged =
        blocking(move || answer_logged(&state, &asked, client.as_deref(), &mut |_| true)).await?;
    Ok(Json(logged).into_response())
}

/// Answers and logs one request (with the id of the API key that asked, if
/// any), telling `sink` the answer as it is made.
fn answer_logged(
    state: &AppState,
    asked: &Asked,
    client: Option<&str>,
    sink: crate::answer::Sink<'_>,
) -> crate::Result<openapi::AnswerResponse> {
    let mut answer = state.answerer.answer_with(asked, sink)?;
    // An answer log that cannot be written (locked, read-only, full) costs the
    // answer its id, not the answer: the failure is logged and counted.
    let answer_id = match &state.feedback {
        Some(store) => match store.log(&answer.asked, &answer, client) {
            Ok(id) => Some(id.0),
            Err(e) => {
                tracing::error!(error = %e, "the answer log could not be written; answered without an answer_id");
                crate::metrics::inc(
                    "candor_answer_log_failures_total",
                    "Answers served without an answer_id: the answer log could not be written.",
                    &[],
                );
                answer.warnings.push(
                    "the answer log could not be written: this answer has no answer_id, so it cannot be rated".into(),
                );
                None
            }
        },
        None => None,
    };
    Ok(openapi::AnswerResponse::new(answer, answer_id))
}

/// Events a streamed answer may have waiting before the reader takes them.
const EVENT_BUFFER: usize = 16;

/// `/v1/answer` as server-sent events. The engine runs on a blocking thread and
/// sends each event as it is made; when the client goes, the next send fails,
/// which stops the answer and with it any language model call.
fn answer_events(
    state: AppState,
    asked: Asked,
    client: Option<String>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(EVENT_BUFFER);
    tokio::task::spawn_blocking(move || {
        let send = |name: &str, data: serde_json::Value| -> bool {
            match Event::default().event(name).json_data(data) {
                Ok(e) => tx.blocking_send(e).is_ok(),
                Err(_) => false,
            }
        };
        let mut sink = |p: Progress<'_>| match p {
            Progress::Evidence(c) => send("evidence", serde_json::json!({ "citations": c })),
            Progress::Sentence(t) => send("delta", serde_json::json!({ "text": t })),
            Progress::Restart(w) => send("restart", serde_json::json!({ "warning": w })),
            Progress::Working => !tx.is_closed(),
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            answer_logged(&state, &asked, client.as_deref(), &mut sink)
        }))
        .unwrap_or_else(|_| Err(crate::Error::Internal("the answer panicked".into())));
        match result {
            Ok(logged) => match serde_json::to_value(&logged) {
                Ok(done) => {
                    send("done", done);
                }
                Err(e) => {
                    tracing::error!(error = %e, "streamed answer does not serialise");
                    send("error", ApiError::internal(e.to_string()).body());
                }
            },
            Err(crate::Error::Cancelled) => {}
            Err(e) => {
                let e = ApiError::from(e);
                if e.body()["error"]["code"] == "internal" {
                    tracing::error!(error = %e.detail(), "streamed answer failed");
                }
                send("error", e.body());
            }
        }
    });
    let events = tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok);
    // A comment line each second while the answer is made: a client that went
    // away is noticed when a write to it fails, and only then is the language
    // model stopped. Axum's default (15 s) let a whole answer be written for
    // nobody.
    Sse::new(events).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(1)))
}

#[utoipa::path(post, path = "/v1/feedback", tag = "questions", request_body = Feedback,
    responses(
        (status = 200, description = "The rating is stored", body = openapi::Recorded),
        (status = 400, description = "A malformed request; `error.code` says what", body = openapi::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `content-type: application/json`", body = openapi::ErrorBody),
        (status = 404, description = "No such answer", body = openapi::ErrorBody),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = openapi::ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = openapi::ErrorBody),
    ),
    security((), ("api_key" = [])))]
async fn feedback(
    State(state): State<AppState>,
    Json(body): Json<Feedback>,
) -> Result<Json<openapi::Recorded>, ApiError> {
    let store = state.feedback.clone().ok_or_else(ApiError::not_found)?;
    let answerer = state.answerer.clone();
    blocking(move || {
        store.record(&body, |corpus, doc| {
            answerer
                .corpora()
                .pick(Some(corpus))
                .is_ok_and(|(_, s)| s.generation.chunks.iter().any(|c| c.doc_id.0 == doc))
        })
    })
    .await?;
    Ok(Json(openapi::Recorded { recorded: true }))
}

#[cfg(test)]
mod route_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_a_whole_number_however_it_is_written() {
        let top_k = |json: &str| {
            serde_json::from_str::<AnswerBody>(&format!(r#"{{"question": "q", "top_k": {json}}}"#))
                .map(|b| b.top_k)
                .map_err(|e| e.to_string())
        };
        assert_eq!(top_k("16"), Ok(Some(16)));
        assert_eq!(top_k("16.0"), Ok(Some(16)));
        assert_eq!(top_k("null"), Ok(None));
        for bad in ["16.5", "-1", "1e300", "\"3\""] {
            assert!(top_k(bad).is_err(), "{bad}");
        }
        assert!(top_k("16.5")
            .unwrap_err()
            .contains("expected a whole number, got 16.5"));
        let absent: AnswerBody = serde_json::from_str(r#"{"question": "q"}"#).unwrap();
        assert_eq!(absent.top_k, None);
    }
}
