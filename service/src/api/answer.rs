//! `POST /v1/answer`: one JSON answer, or server-sent events as it is made.

use super::*;

/// `POST /v1/answer`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnswerBody {
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
            content((types::AnswerResponse = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "A malformed request; `error.code` says what", body = types::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `content-type: application/json`", body = types::ErrorBody),
        (status = 404, description = "No such corpus", body = types::ErrorBody),
        (status = 401, description = "`unauthorized`: the server needs an API key and got none, or an unknown one", body = types::ErrorBody),
        (status = 403, description = "`forbidden`: the API key may not read this corpus", body = types::ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry-after`): the key is over its rate", body = types::ErrorBody),
        (status = 503, description = "`overloaded` (with `retry-after`): as many uncached questions are under way as the server admits; `timeout`: no response within the request timeout; `not_ready`, `vector_store_unavailable`", body = types::ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub(super) async fn answer(
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
) -> crate::Result<types::AnswerResponse> {
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
    Ok(types::AnswerResponse::new(answer, answer_id))
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
            Progress::Evidence(c) => {
                let citations: Vec<types::Citation> = c.iter().cloned().map(Into::into).collect();
                send("evidence", serde_json::json!({ "citations": citations }))
            }
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
