//! The language-model client: one streamed chat completion from an
//! OpenAI-compatible `/v1/chat/completions` endpoint (a hosted API, vLLM,
//! llama.cpp's server, Ollama).
//!
//! Blocking, like the rest of the engine. The caller reads the text as it arrives
//! and may stop early; that closes the connection, which is how every such
//! server learns to stop generating. The deadline covers the whole call, from
//! connecting to the last byte, so a model that stalls mid-answer cannot hold a
//! request.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::LlmSettings;

/// Longest line of a streamed response; a server that sends more is broken.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Why a completion failed. None of these is the caller's fault; the answer path
/// falls back as the corpus says.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No connection, or it broke before the answer was complete.
    #[error("cannot reach the language model at {url}: {cause}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What the network said.
        cause: String,
    },
    /// The answer was not complete within the deadline.
    #[error("the language model at {url} did not finish within {ms} ms")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The deadline.
        ms: u64,
    },
    /// The endpoint answered with an HTTP error. (Its body, which may quote a
    /// key, goes to the log, not into answers.)
    #[error("the language model at {url} answered HTTP {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The response was not an OpenAI-style completion.
    #[error("the language model at {url} sent malformed output: {cause}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// What was wrong.
        cause: String,
    },
    /// The reader stopped the completion (the client went away).
    #[error("the completion was cancelled")]
    Cancelled,
}

impl LlmError {
    /// A short label for metrics: `unreachable`, `timeout`, `status`, `malformed`
    /// or `cancelled`.
    pub fn label(&self) -> &'static str {
        match self {
            LlmError::Unreachable { .. } => "unreachable",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Status { .. } => "status",
            LlmError::Malformed { .. } => "malformed",
            LlmError::Cancelled => "cancelled",
        }
    }
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Everything the model wrote.
    pub text: String,
    /// The model that wrote it, as the server names it (else as configured).
    pub model: String,
}

/// A client for one configured endpoint and model.
pub struct Llm {
    agent: ureq::Agent,
    url: String,
    settings: LlmSettings,
    key: Option<String>,
}

impl Llm {
    /// A client for `settings`, from the corpus file `file`. The API key, when
    /// one is configured, is read from its environment variable now.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] naming `llm.api_key_env` when that variable is
    /// not set.
    pub fn new(settings: &LlmSettings, file: &std::path::Path) -> crate::Result<Llm> {
        let key = match &settings.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| crate::Error::Config {
                file: file.to_path_buf(),
                key: "llm.api_key_env".into(),
                message: format!("environment variable `{var}` is not set"),
            })?),
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(settings.timeout_ms)))
            .build()
            .into();
        Ok(Llm {
            agent,
            url: format!(
                "{}/chat/completions",
                settings.base_url.trim_end_matches('/')
            ),
            settings: settings.clone(),
            key,
        })
    }

    /// The model name as configured.
    pub fn model(&self) -> &str {
        &self.settings.model
    }

    /// Asks for a streamed completion of the chat `messages` and hands each
    /// piece of text to `on_text` as it arrives; `on_text` returning false stops
    /// the completion ([`LlmError::Cancelled`]).
    ///
    /// # Errors
    ///
    /// [`LlmError`] for an unreachable, slow or failing endpoint, malformed output,
    /// or a cancelled completion.
    pub fn chat(
        &self,
        messages: &[Message],
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let resp = self.send(messages)?;
        let status = resp.status().as_u16();
        let streamed = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut reader = BufReader::new(resp.into_body().into_reader());
        if status != 200 {
            let mut start = Vec::new();
            let _ = (&mut reader).take(500).read_to_end(&mut start);
            let body = String::from_utf8_lossy(&start);
            tracing::warn!(url = %self.url, status, body = %body.trim(), "language model answered an HTTP error");
            return Err(LlmError::Status {
                url: self.url.clone(),
                status,
            });
        }
        if !streamed {
            // A server that ignores `stream` answers with one JSON object.
            return self.read_whole(reader, on_text);
        }
        self.read_stream(reader, on_text)
    }

    /// Posts the streamed completion request for `messages`.
    fn send(&self, messages: &[Message]) -> Result<ureq::http::Response<ureq::Body>, LlmError> {
        let body = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": true,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "seed": 0,
        });
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream");
        if let Some(k) = &self.key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        req.send(body.to_string().as_str())
            .map_err(|e| self.network(e))
    }

    /// Reads a completion sent as one JSON object.
    fn read_whole(
        &self,
        mut reader: impl Read,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let mut all = String::new();
        reader.read_to_string(&mut all).map_err(|e| self.io(e))?;
        let v: Value = serde_json::from_str(&all)
            .map_err(|e| self.malformed(format!("the response is not JSON: {e}")))?;
        let text = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| self.malformed("no choices[0].message.content".into()))?;
        if !on_text(text) {
            return Err(LlmError::Cancelled);
        }
        Ok(Completion {
            text: text.to_owned(),
            model: self.reported_model(&v),
        })
    }

    /// Reads a completion streamed as server-sent events, line by line.
    fn read_stream(
        &self,
        mut reader: impl BufRead,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let mut text = String::new();
        let mut model = self.settings.model.clone();
        let mut finished = false;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut reader)
                .take(MAX_LINE_BYTES as u64)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.io(e))?;
            if n == 0 && finished {
                // Some servers close after the last choice without `[DONE]`.
                return Ok(Completion { text, model });
            }
            if n == 0 {
                return Err(LlmError::Unreachable {
                    url: self.url.clone(),
                    cause: "the connection closed before the answer was complete".into(),
                });
            }
            if n == MAX_LINE_BYTES && !line.ends_with(b"\n") {
                return Err(self.malformed(format!("a line longer than {MAX_LINE_BYTES} bytes")));
            }
            let line = std::str::from_utf8(&line)
                .map_err(|_| self.malformed("the stream is not UTF-8".into()))?
                .trim();
            let Some(data) = line.strip_prefix("data:") else {
                // Comments, `event:` and `id:` lines, and blank separators.
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(Completion { text, model });
            }
            let v: Value = serde_json::from_str(data)
                .map_err(|e| self.malformed(format!("an event is not JSON: {e}")))?;
            if let Some(err) = v.get("error") {
                return Err(self.malformed(format!("the stream reported an error: {err}")));
            }
            if v.get("choices").and_then(Value::as_array).is_none() {
                return Err(self.malformed("an event has no `choices`".into()));
            }
            model = self.reported_model(&v);
            // Content filter results and usage come as events without a choice.
            let Some(choice) = v.pointer("/choices/0") else {
                continue;
            };
            finished |= choice.get("finish_reason").is_some_and(|f| !f.is_null());
            if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
                text.push_str(piece);
                if !on_text(piece) {
                    return Err(LlmError::Cancelled);
                }
            }
        }
    }

    fn reported_model(&self, v: &Value) -> String {
        v.get("model")
            .and_then(Value::as_str)
            .unwrap_or(&self.settings.model)
            .to_owned()
    }

    fn malformed(&self, cause: String) -> LlmError {
        LlmError::Malformed {
            url: self.url.clone(),
            cause,
        }
    }

    fn network(&self, e: ureq::Error) -> LlmError {
        match e {
            ureq::Error::Timeout(_) => LlmError::Timeout {
                url: self.url.clone(),
                ms: self.settings.timeout_ms,
            },
            e => LlmError::Unreachable {
                url: self.url.clone(),
                cause: e.to_string(),
            },
        }
    }

    fn io(&self, e: std::io::Error) -> LlmError {
        if e.kind() == std::io::ErrorKind::TimedOut {
            return LlmError::Timeout {
                url: self.url.clone(),
                ms: self.settings.timeout_ms,
            };
        }
        self.network(ureq::Error::from(e))
    }
}

#[cfg(test)]
mod tests;
