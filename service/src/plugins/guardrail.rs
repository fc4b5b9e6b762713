//! Calls to `guardrail` plugins and the checks on their decisions.

use serde::Serialize;

use super::{Plugin, Pre};

mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "guardrail" });
}

use bindings::candor::plugin::types as wit;
pub(super) use bindings::GuardrailPre;

/// What a guardrail decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "text", rename_all = "snake_case")]
pub enum Verdict {
    /// Let the text through.
    Allow,
    /// Replace the text with this.
    Redact(String),
    /// Refuse.
    Block,
}

/// A guardrail's decision, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The rule that fired (`pii.email`); empty for allow.
    pub code: String,
    /// Why, for a person.
    pub reason: String,
}

/// A cited source, as a guardrail sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    /// Document id.
    pub doc_id: String,
    /// Title.
    pub title: String,
    /// Cited text.
    pub snippet: String,
}

impl Plugin {
    /// Asks the guardrail about a question.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Plugin`] when this plugin is not a guardrail, the call fails
    /// or hits a limit, or the decision is malformed.
    pub fn check_question(&self, question: &str, config: &str) -> crate::Result<Decision> {
        let pre = self.guardrail()?;
        let d = self.call(|store| {
            pre.instantiate(&mut *store)?
                .call_check_question(&mut *store, question, config)
        })?;
        self.decision(d)
    }

    /// Asks the guardrail about a composed answer and its citations.
    ///
    /// # Errors
    ///
    /// As [`Plugin::check_question`].
    pub fn check_answer(
        &self,
        question: &str,
        answer: &str,
        citations: &[Citation],
        config: &str,
    ) -> crate::Result<Decision> {
        let pre = self.guardrail()?;
        let cites: Vec<wit::Citation> = citations
            .iter()
            .map(|c| wit::Citation {
                doc_id: c.doc_id.clone(),
                title: c.title.clone(),
                snippet: c.snippet.clone(),
            })
            .collect();
        let d = self.call(|store| {
            pre.instantiate(&mut *store)?.call_check_answer(
                &mut *store,
                question,
                answer,
                &cites,
                config,
            )
        })?;
        self.decision(d)
    }

    fn guardrail(&self) -> crate::Result<&GuardrailPre<super::CallState>> {
        match &self.pre {
            Pre::Guardrail(g) => Ok(g),
            Pre::Parser(_) => Err(self.fail("is a parser, not a guardrail")),
        }
    }

    fn decision(&self, d: wit::Decision) -> crate::Result<Decision> {
        let redacted = match &d.verdict {
            wit::Verdict::Redact(t) => t.len(),
            _ => 0,
        };
        self.check_size(redacted + d.code.len() + d.reason.len())?;
        let verdict = match d.verdict {
            wit::Verdict::Allow => Verdict::Allow,
            // Nothing is left to let through: the plugin has stopped the text.
            // An empty question cannot be searched and an empty answer says nothing.
            wit::Verdict::Redact(t) if t.trim().is_empty() => Verdict::Block,
            wit::Verdict::Redact(t) => Verdict::Redact(t),
            wit::Verdict::Block => Verdict::Block,
        };
        if verdict != Verdict::Allow && d.code.trim().is_empty() {
            return Err(self.fail("returned a redact or block verdict without a code"));
        }
        if let Some(c) = super::control(&d.code) {
            return Err(self.fail(format!("returned a code holding a control character ({c})")));
        }
        Ok(Decision {
            verdict,
            code: d.code,
            reason: d.reason,
        })
    }
}
