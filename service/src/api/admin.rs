//! Admin routes: reindex jobs. Every route needs `Authorization: Bearer <token>`
//! with the token the server was started with; without one configured, the
//! routes do not exist (404).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::types::{Job, JobId};
use super::{ApiError, AppState, Json};
use crate::index::jobs::{CancelRefused, Jobs};
use crate::index::Mode;

/// What the admin routes need: the token's digest and the job queue.
pub struct Admin {
    token_digest: [u8; 32],
    jobs: Jobs,
}

impl Admin {
    /// Admin access with `token`, running jobs on `jobs`.
    pub fn new(token: &str, jobs: Jobs) -> Admin {
        Admin {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            jobs,
        }
    }

    fn allows(&self, presented: &str) -> bool {
        super::keys::matches(presented, &self.token_digest)
    }
}

/// The admin routes, when admin access is configured.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    let Some(admin) = state.admin.clone() else {
        return Router::new();
    };
    Router::new()
        .route("/admin/corpora/{name}/reindex", post(reindex))
        .route("/admin/jobs", get(jobs))
        .route("/admin/jobs/{id}", get(job))
        .route("/admin/jobs/{id}/cancel", post(cancel))
        .route("/admin/plugins/reload", post(reload_plugins))
        .route("/admin/keys/reload", post(reload_keys))
        .layer(middleware::from_fn_with_state(admin, authorize))
}

async fn authorize(State(admin): State<Arc<Admin>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if admin.allows(token) => next.run(req).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the token is wrong",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin routes need `Authorization: Bearer <token>`",
        )
        .into_response(),
    }
}

/// `POST /admin/corpora/{name}/reindex`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReindexBody {
    /// `incremental` (the default) or `full`.
    #[schema(pattern = "^(incremental|full)$")]
    mode: Option<String>,
}

#[utoipa::path(post, path = "/admin/corpora/{name}/reindex", tag = "admin", request_body = ReindexBody,
    params(("name" = String, Path, description = "The corpus")),
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "The job is queued; it starts when the jobs before it have ended", body = super::types::Started),
        (status = 400, description = "A malformed request", body = super::types::ErrorBody),
        (status = 401, description = "No token or a wrong one", body = super::types::ErrorBody),
        (status = 404, description = "No such corpus", body = super::types::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a body not sent as `content-type: application/json`", body = super::types::ErrorBody),
        (status = 409, description = "`job_running`: a job for this corpus is already queued or running; `error.job_id` names it", body = super::types::ErrorBody),
    ))]
pub(super) async fn reindex(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<ReindexBody>,
) -> Result<(StatusCode, Json<super::types::Started>), ApiError> {
    let admin = admin(&state)?;
    let mode: Mode = body
        .mode
        .as_deref()
        .unwrap_or("incremental")
        .parse()
        .map_err(|m| ApiError::invalid("invalid_mode", m))?;
    let corpora = state.answerer.corpora();
    let (_, served) = corpora.pick(Some(&name))?;
    let queued = admin
        .jobs
        .enqueue(served.corpus(), mode, Box::new(corpora.reloader(&name)));
    match queued {
        Ok(job_id) => Ok((
            StatusCode::ACCEPTED,
            Json(super::types::Started {
                job_id: JobId(job_id.0),
            }),
        )),
        Err(running) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_running",
            format!("job {running} is already queued or reindexing this corpus"),
        )
        .with("job_id", running.0)),
    }
}

#[utoipa::path(get, path = "/admin/jobs", tag = "admin", security(("admin_token" = [])),
    responses(
        (status = 200, description = "Running jobs and the last finished ones, newest first", body = Vec<Job>),
        (status = 401, description = "No token or a wrong one", body = super::types::ErrorBody),
    ))]
pub(super) async fn jobs(State(state): State<AppState>) -> Result<Json<Vec<Job>>, ApiError> {
    Ok(Json(
        admin(&state)?
            .jobs
            .list()
            .into_iter()
            .map(Job::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/admin/jobs/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = u64, Path, description = "The job")),
    responses(
        (status = 200, description = "The job's status", body = Job),
        (status = 401, description = "No token or a wrong one", body = super::types::ErrorBody),
        (status = 404, description = "No such job", body = super::types::ErrorBody),
    ))]
pub(super) async fn job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let n = job_id(&id)?;
    admin(&state)?
        .jobs
        .get(n)
        .map(|j| Json(j.into()))
        .ok_or_else(|| unknown_job(&id))
}

#[utoipa::path(post, path = "/admin/jobs/{id}/cancel", tag = "admin", security(("admin_token" = [])),
    params(("id" = u64, Path, description = "The job")),
    responses(
        (status = 200, description = "A queued job is now `canceled`; a running one stays `processing` until its next step, then ends `canceled` (or `succeeded`, when it was already writing its generation)", body = Job),
        (status = 401, description = "No token or a wrong one", body = super::types::ErrorBody),
        (status = 404, description = "No such job", body = super::types::ErrorBody),
        (status = 409, description = "`job_finished`: the job has ended already", body = super::types::ErrorBody),
    ))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let n = job_id(&id)?;
    match admin(&state)?.jobs.cancel(n) {
        Ok(job) => Ok(Json(job.into())),
        Err(CancelRefused::Unknown) => Err(unknown_job(&id)),
        Err(CancelRefused::Finished(status)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_finished",
            format!("job {id} has ended already ({status:?})").to_lowercase(),
        )),
    }
}

/// A job id from the path; what is not a number names no job.
fn job_id(id: &str) -> Result<crate::index::jobs::JobId, ApiError> {
    id.parse()
        .map(crate::index::jobs::JobId)
        .map_err(|_| unknown_job(id))
}

fn unknown_job(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_job",
        format!("no job `{id}`"),
    )
}

/// Reloads every corpus's guardrails, all or none.
#[utoipa::path(post, path = "/admin/plugins/reload", tag = "admin", security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every corpus's guardrails were reloaded", body = super::types::Reloaded),
        (status = 400, description = "A guardrail could not be loaded; the old ones keep running", body = super::types::ErrorBody),
        (status = 401, description = "No token or a wrong one", body = super::types::ErrorBody),
    ))]
pub(super) async fn reload_plugins(
    State(state): State<AppState>,
) -> Result<Json<super::types::Reloaded>, ApiError> {
    admin(&state)?;
    let answerer = state.answerer.clone();
    let guardrails = super::blocking(move || answerer.reload_plugins()).await?;
    Ok(Json(super::types::Reloaded { guardrails }))
}

/// Reads the API keys file again: added keys work, removed ones are revoked.
#[utoipa::path(post, path = "/admin/keys/reload", tag = "admin", security(("admin_token" = [])),
    responses(
        (status = 200, description = "The keys file was read again", body = super::types::KeysReloaded),
        (status = 400, description = "`invalid_keys`: the file does not load; the old keys stay in force", body = super::types::ErrorBody),
        (status = 401, description = "No token or a wrong one", body = super::types::ErrorBody),
        (status = 404, description = "`not_found`: the server runs without API keys", body = super::types::ErrorBody),
    ))]
pub(super) async fn reload_keys(
    State(state): State<AppState>,
) -> Result<Json<super::types::KeysReloaded>, ApiError> {
    admin(&state)?;
    let ring = state.keys.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the server runs without API keys (no --keys)",
        )
    })?;
    let keys = super::blocking(move || Ok(ring.reload()))
        .await?
        .map_err(|e| ApiError::invalid("invalid_keys", e))?;
    tracing::info!(keys, "API keys reloaded");
    Ok(Json(super::types::KeysReloaded { keys }))
}

fn admin(state: &AppState) -> Result<&Admin, ApiError> {
    state.admin.as_deref().ok_or_else(ApiError::not_found)
}
