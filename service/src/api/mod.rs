//! The HTTP layer: routes, request and response shapes, error mapping.
//!
//! Handlers only translate: extract, call the engine once (on a blocking thread
//! when the work is CPU-bound), serialise. This is the only module that names
//! axum, hyper or tower; the engine never sees HTTP.

mod admin;
mod error;

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

pub use admin::Admin;
pub use error::ApiError;
use error::InternalDetail;

use crate::answer::{Answer, Answerer, Question};
use crate::retrieve::corpora::{CorpusInfo, Query, SearchResult};
use crate::retrieve::Mode;

/// Largest accepted request body. Default: 64 KiB; larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest accepted question, in characters, unless configured; longer ones get 400.
pub const DEFAULT_MAX_QUESTION_CHARS: usize = 2_000;

/// Results returned when the request does not say.
pub const DEFAULT_TOP_K: usize = 10;

/// Largest `top_k` a request may ask for.
pub const MAX_TOP_K: usize = 100;

/// Shared state: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The engine over the served corpora.
    pub answerer: Arc<Answerer>,
    /// Longest accepted question, in characters.
    pub max_question_chars: usize,
    /// Admin access; `None` leaves the admin routes out.
    pub admin: Option<Arc<Admin>>,
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
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/corpora", get(corpora))
        .route("/v1/search", post(search))
        .route("/v1/answer", post(answer))
        .merge(admin::routes(&state))
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_errors))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
///
/// # Errors
///
/// When the server fails.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn log_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    if let Some(InternalDetail(detail)) = resp.extensions().get::<InternalDetail>() {
        tracing::error!(%method, %path, status = resp.status().as_u16(), error = %detail, "request failed");
    }
    resp
}

async fn healthz() -> &'static str {
    "ok"
}

async fn corpora(State(state): State<AppState>) -> Json<Vec<CorpusInfo>> {
    Json(state.answerer.corpora().list())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    question: String,
    corpus: Option<String>,
    top_k: Option<usize>,
    mode: Option<String>,
    as_of: Option<chrono::NaiveDate>,
}

/// The question checks both endpoints share, with their own error codes.
fn check_question(state: &AppState, question: &str) -> Result<(), ApiError> {
    if question.trim().is_empty() {
        return Err(ApiError::invalid("empty_question", "`question` is empty"));
    }
    let chars = question.chars().count();
    if chars > state.max_question_chars {
        return Err(ApiError::invalid(
            "question_too_long",
            format!(
                "`question` has {chars} characters; the limit is {}",
                state.max_question_chars
            ),
        ));
    }
    Ok(())
}

fn check_top_k(top_k: Option<usize>, max: usize) -> Result<(), ApiError> {
    match top_k {
        Some(k) if !(1..=max).contains(&k) => Err(ApiError::invalid(
            "invalid_top_k",
            format!("`top_k` must be in 1..={max}, got {k}"),
        )),
        _ => Ok(()),
    }
}

/// Runs CPU-bound engine work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))??)
}

async fn search(
    State(state): State<AppState>,
    Json(body): Json<SearchBody>,
) -> Result<Json<SearchResult>, ApiError> {
    check_question(&state, &body.question)?;
    check_top_k(body.top_k, MAX_TOP_K)?;
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
        };
        state.answerer.corpora().search(&query)
    })
    .await?;
    Ok(Json(result))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    question: String,
    corpus: Option<String>,
    as_of: Option<chrono::NaiveDate>,
    top_k: Option<usize>,
}

async fn answer(
    State(state): State<AppState>,
    Json(body): Json<AnswerBody>,
) -> Result<Json<Answer>, ApiError> {
    check_question(&state, &body.question)?;
    check_top_k(body.top_k, crate::answer::MAX_TOP_K)?;
    let answer = blocking(move || {
        let q = Question {
            text: &body.question,
            corpus: body.corpus.as_deref(),
            as_of: body.as_of,
            top_k: body.top_k,
        };
        state.answerer.answer(&q)
    })
    .await?;
    Ok(Json(answer))
}
