//! The layers around every route: request ids, counts by route and status,
//! error logging, CORS.

use super::*;

/// CORS for the configured origins: GET and POST with JSON bodies, and the
/// request id readable by scripts.
pub(super) fn cors(origins: &[Origin]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().map(|o| o.0.clone())))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([header::HeaderName::from_static(REQUEST_ID)])
}

pub(super) const REQUESTS: &str = "candor_http_requests_total";
pub(super) const REQUESTS_HELP: &str = "HTTP requests by route and status.";

pub(super) async fn count_request(req: Request, next: Next) -> Response {
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
pub(super) async fn request_id(req: Request, next: Next) -> Response {
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

pub(super) const REQUEST_ID: &str = "x-request-id";

pub(super) async fn log_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    if let Some(InternalDetail(detail)) = resp.extensions().get::<InternalDetail>() {
        tracing::error!(%method, %path, status = resp.status().as_u16(), error = %detail, "request failed");
    }
    resp
}
