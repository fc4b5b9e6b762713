//! The one place where engine errors become HTTP statuses and stable error codes.
//!
//! Bodies are `{"error":{"code","message"}}`. A 5xx hides the details from the
//! client; the details go to the log, once, in the logging middleware.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Error;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// More fields of the error object, such as a running job's id.
    /// Boxed: most errors have none, and a small error is cheap to return.
    extra: Box<serde_json::Map<String, serde_json::Value>>,
    /// Seconds for a `retry-after` header.
    retry_after: Option<u32>,
}

impl ApiError {
    /// A 400 for a request the server could not understand.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::invalid("invalid_request", message)
    }

    /// A 400 with a specific error code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 whose detail is logged, not shown.
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// An error with any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: Default::default(),
            retry_after: None,
        }
    }

    /// The same error telling the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// The same error with one more field in its error object.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// A 404 for a route that does not exist.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }
}

/// The internal detail of a 5xx, kept for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let (status, code) = match &e {
            Error::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Error::EmptyQuestion => (StatusCode::BAD_REQUEST, "empty_question"),
            Error::QuestionTooLong { .. } => (StatusCode::BAD_REQUEST, "question_too_long"),
            Error::InvalidTopK { .. } => (StatusCode::BAD_REQUEST, "invalid_top_k"),
            Error::UnknownCorpus(_) => (StatusCode::NOT_FOUND, "unknown_corpus"),
            Error::UnknownAnswer(_) => (StatusCode::NOT_FOUND, "unknown_answer"),
            Error::UnknownDocument { .. } => (StatusCode::NOT_FOUND, "unknown_document"),
            Error::NotIndexed(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_indexed"),
            // One code for "a build of this corpus is running", whoever runs
            // it: a job of this server (which adds its `job_id`) or another
            // process holding the build lock.
            Error::IndexBusy(_) => (StatusCode::CONFLICT, "job_running"),
            Error::VectorUnavailable(detail) => {
                // The address of the store is the operator's business, not the caller's.
                tracing::warn!(error = %detail, "vector store unavailable");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "vector_store_unavailable",
                    "vector_store unavailable; try again shortly",
                );
            }
            Error::Overloaded(_) => {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
                    .retry_after(1)
            }
            // Nobody reads it: the client closed the connection (nginx's 499).
            Error::Cancelled => (
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "client_closed",
            ),
            Error::Config { .. } | Error::BadDocument { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_input")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let (status, code) = match r {
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            // Reading the body fails only when it exceeds the size limit.
            JsonRejection::BytesRejection(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            _ => (StatusCode::BAD_REQUEST, "invalid_json"),
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl ApiError {
    /// The body a client sees: `{"error":{"code","message",…}}`, without the
    /// detail of a 5xx.
    pub fn body(&self) -> serde_json::Value {
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error".to_owned()
        } else {
            self.message.clone()
        };
        let mut error = (*self.extra).clone();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), message.into());
        json!({ "error": error })
    }

    /// The detail behind the error, 5xx included: for the log.
    pub fn detail(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        if self.status.is_server_error() {
            resp.extensions_mut().insert(InternalDetail(self.message));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_build_has_one_code_whoever_runs_it() {
        let e = ApiError::from(Error::IndexBusy("clinic".into()));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "job_running"));
        assert!(e.message.contains("`clinic`"), "{}", e.message);
    }
}
