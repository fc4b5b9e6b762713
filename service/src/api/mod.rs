//! The HTTP layer: routes, request and response shapes, error mapping.
//!
//! Handlers only translate: extract, call the engine once (on a blocking thread
//! when the work is CPU-bound), serialise. This is the only module that names
//! axum, hyper or tower; the engine never sees HTTP.

mod admin;
mod answer;
mod edge;
mod error;
mod keys;
mod layers;
pub mod openapi;
pub mod types;

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
use layers::{cors, count_request, log_errors, request_id, REQUESTS, REQUESTS_HELP};
use types::{CorpusInfo, ErrorBody, Feedback, Ready, Recorded, Searched};

use crate::answer::{Answerer, Asked, Progress, Question};
use crate::retrieve::corpora::Query;
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
        .route("/v1/answer", post(answer::answer))
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
            axum::Json(Ready {
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
        (status = 200, description = "Every corpus serves a generation", body = Ready),
        (status = 503, description = "Still loading the model and the corpora", body = Ready),
    ))]
async fn readyz(State(state): State<AppState>) -> Json<Ready> {
    let generations = state
        .answerer
        .corpora()
        .list()
        .into_iter()
        .map(|c| (c.name, c.generation.0))
        .collect();
    Json(Ready {
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
    let per_corpus = |f: fn(&crate::retrieve::corpora::CorpusInfo) -> f64| {
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
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = ErrorBody),
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
    Json(list.into_iter().map(CorpusInfo::from).collect())
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
        (status = 200, description = "Ranked evidence, none when an input guardrail blocked the question", body = Searched),
        (status = 400, description = "A malformed request; `error.code` says what", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `content-type: application/json`", body = ErrorBody),
        (status = 404, description = "No such corpus", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: the API key may not read this corpus", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = ErrorBody),
        (status = 503, description = "`overloaded` (with `retry-after`): as many uncached questions are under way as the server admits; `timeout`: no response within the request timeout; `not_ready`, `vector_store_unavailable`", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
async fn search(
    State(state): State<AppState>,
    client: Option<Extension<Client>>,
    Json(body): Json<SearchBody>,
) -> Result<Json<Searched>, ApiError> {
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
    Ok(Json(result.into()))
}

#[utoipa::path(post, path = "/v1/feedback", tag = "questions", request_body = Feedback,
    responses(
        (status = 200, description = "The rating is stored", body = Recorded),
        (status = 400, description = "A malformed request; `error.code` says what", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `content-type: application/json`", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
async fn feedback(
    State(state): State<AppState>,
    Json(body): Json<Feedback>,
) -> Result<Json<Recorded>, ApiError> {
    let store = state.feedback.clone().ok_or_else(ApiError::not_found)?;
    let answerer = state.answerer.clone();
    blocking(move || {
        store.record(&body.into(), |corpus, doc| {
            answerer
                .corpora()
                .pick(Some(corpus))
                .is_ok_and(|(_, s)| s.generation.chunks.iter().any(|c| c.doc_id.0 == doc))
        })
    })
    .await?;
    Ok(Json(Recorded { recorded: true }))
}

#[cfg(test)]
mod route_tests;
