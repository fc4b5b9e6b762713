//! Guardrails around answering: `input` guardrails judge a question before
//! retrieval, `output` guardrails judge a composed answer before it is returned.
//!
//! A guardrail that blocks ends the question as `unsupported/blocked` with its
//! code and reason. One that redacts rewrites the text, and the rule that fired
//! is reported. One that fails follows its `on_error` policy: `fail_closed`
//! blocks ("guardrail unavailable"), `fail_open` goes on with a warning.

use std::path::Path;

use crate::config::{GuardrailSettings, OnError, Stage};
use crate::plugins::{self, Citation, Decision, Kind, Plugin, Verdict};
use crate::Error;

/// Longest answer an output guardrail may redact to, in characters (unless the
/// answer it was given was longer): a composed answer is a few sentences.
pub const MAX_ANSWER_CHARS: usize = 16_000;

/// A guardrail rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The plugin.
    pub plugin: String,
    /// Where it ran.
    pub stage: Stage,
    /// `block` or `redact`.
    pub action: &'static str,
    /// The plugin's code for the rule (`pii.email`), or `guardrail.unavailable`.
    pub code: String,
    /// Why, for a person.
    pub reason: String,
}

/// One configured guardrail, loaded.
struct Guard {
    plugin: Plugin,
    stage: Stage,
    on_error: OnError,
    config: String,
}

/// What a stage of guardrails made of a text.
#[derive(Debug, Default)]
pub struct Checked {
    /// The text, rewritten by any redactions.
    pub text: String,
    /// Rules that fired, in order.
    pub fired: Vec<Fired>,
    /// Guardrails that failed open.
    pub warnings: Vec<String>,
    /// The rule that blocked, if one did.
    pub blocked: Option<Fired>,
    /// True when a guardrail failed and its `on_error` policy decided instead:
    /// an outcome that must not be cached, since the next call may succeed.
    pub failed: bool,
}

/// The guardrails of one corpus.
pub struct Guards(Vec<Guard>);

impl Guards {
    /// Finds and loads every configured guardrail of the corpus whose config file
    /// is `file`, caching compiled components in `cache_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the entry whose plugin is missing, fails to load,
    /// or is not a guardrail.
    pub fn load(
        file: &Path,
        settings: &[GuardrailSettings],
        cache_dir: &Path,
    ) -> crate::Result<Guards> {
        let mut guards = Vec::new();
        for (i, g) in settings.iter().enumerate() {
            let bad = |message: String| Error::Config {
                file: file.to_path_buf(),
                key: format!("guardrails[{i}].plugin"),
                message,
            };
            let (plugin, config) = plugins::load_configured(
                &g.plugin,
                Kind::Guardrail,
                (g.timeout_ms, g.memory_mib),
                &g.config,
                cache_dir,
            )
            .map_err(bad)?;
            guards.push(Guard {
                plugin,
                stage: g.stage,
                on_error: g.on_error,
                config,
            });
        }
        Ok(Guards(guards))
    }

    /// How many guardrails there are.
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// Runs the input guardrails on a question; a redaction longer than
    /// `max_chars` characters is a malformed decision.
    pub fn question(&self, question: &str, max_chars: usize) -> Checked {
        self.run(Stage::Input, question, |g, text| {
            let d = g.plugin.check_question(text, &g.config)?;
            rewrite_within(&g.plugin, d, max_chars.max(text.chars().count()), None)
        })
    }

    /// Runs the output guardrails on an answer and its citations; a redaction
    /// longer than [`MAX_ANSWER_CHARS`], or one citing a source the answer does
    /// not have, is a malformed decision.
    pub fn answer(&self, question: &str, answer: &str, citations: &[Citation]) -> Checked {
        self.run(Stage::Output, answer, |g, text| {
            let d = g
                .plugin
                .check_answer(question, text, citations, &g.config)?;
            let max = MAX_ANSWER_CHARS.max(text.chars().count());
            rewrite_within(&g.plugin, d, max, Some(citations.len()))
        })
    }

    fn run(
        &self,
        stage: Stage,
        text: &str,
        call: impl Fn(&Guard, &str) -> crate::Result<Decision>,
    ) -> Checked {
        let mut out = Checked {
            text: text.to_owned(),
            ..Checked::default()
        };
        for g in self.0.iter().filter(|g| g.stage == stage) {
            let fired = |action, code: String, reason: String| Fired {
                plugin: g.plugin.name().to_owned(),
                stage,
                action,
                code,
                reason,
            };
            let decision = call(g, &out.text);
            crate::plugins::health::record(g.plugin.name(), decision.is_ok());
            match decision {
                Ok(Decision {
                    verdict: Verdict::Allow,
                    ..
                }) => {}
                Ok(Decision {
                    verdict: Verdict::Redact(new),
                    code,
                    reason,
                }) => {
                    out.text = new;
                    out.fired.push(fired("redact", code, reason));
                }
                Ok(Decision {
                    verdict: Verdict::Block,
                    code,
                    reason,
                }) => {
                    let f = fired("block", code, reason);
                    out.fired.push(f.clone());
                    out.blocked = Some(f);
                    return out;
                }
                Err(e) => {
                    tracing::warn!(plugin = %g.plugin.name(), "guardrail failed: {e}");
                    out.failed = true;
                    match g.on_error {
                        OnError::FailOpen => out
                            .warnings
                            .push(format!("{e}; the guardrail was skipped (fail_open)")),
                        OnError::FailClosed => {
                            // The caller sees why, not only that: the cause
                            // names the limit hit or the plugin's own message.
                            out.warnings
                                .push(format!("{e}; the question was declined (fail_closed)"));
                            let f = fired(
                                "block",
                                "guardrail.unavailable".into(),
                                "guardrail unavailable".into(),
                            );
                            out.fired.push(f.clone());
                            out.blocked = Some(f);
                            return out;
                        }
                    }
                }
            }
        }
        out
    }
}

/// Holds a redaction to the limits the text it replaces was held to: at most
/// `max_chars` characters and, for an answer with `citations` sources, only
/// `[n]` markers that point at one of them.
fn rewrite_within(
    plugin: &Plugin,
    d: Decision,
    max_chars: usize,
    citations: Option<usize>,
) -> crate::Result<Decision> {
    let Verdict::Redact(text) = &d.verdict else {
        return Ok(d);
    };
    let fail = |cause: String| Error::Plugin {
        plugin: plugin.name().to_owned(),
        cause,
    };
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(fail(format!(
            "redacted the text to {chars} characters, more than the {max_chars} allowed"
        )));
    }
    if let Some(n) = citations {
        if let Some(m) = markers(text).find(|&m| m == 0 || m > n) {
            let sources = match n {
                0 => "it cites no sources".to_owned(),
                n => format!("its sources are [1] to [{n}]"),
            };
            return Err(fail(format!(
                "redacted the answer to cite [{m}], but {sources}"
            )));
        }
    }
    Ok(d)
}

/// The numbers of the `[n]` citation markers in `text`.
fn markers(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split('[').skip(1).filter_map(|rest| {
        let (digits, _) = rest.split_once(']')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(digits.parse().unwrap_or(usize::MAX))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn citation_markers_are_bracketed_numbers() {
        let found: Vec<usize> =
            super::markers("A [1]. B [2][10] [x] [] [ 3] [99999999999999999999999]").collect();
        assert_eq!(found, vec![1, 2, 10, usize::MAX]);
    }

    use super::*;

    #[test]
    fn a_missing_plugin_is_a_config_error_naming_the_entry() {
        let settings: crate::config::CorpusConfig = toml::from_str(
            "name = \"x\"\nscope = \"y\"\n[[sources]]\npath = \"docs\"\n[[guardrails]]\nplugin = \"no-such-plugin\"\nstage = \"output\"\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = Guards::load(Path::new("corpus.toml"), &settings.guardrails, dir.path())
            .err()
            .unwrap();
        match err {
            Error::Config { key, message, .. } => {
                assert_eq!(key, "guardrails[0].plugin");
                assert!(
                    message.contains("no_such_plugin.wasm") && message.contains("make plugins"),
                    "{message}"
                );
            }
            other => panic!("expected a config error, got {other}"),
        }
    }
}
