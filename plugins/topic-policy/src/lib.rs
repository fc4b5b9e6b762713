//! `topic-policy`: blocks questions about topics the corpus owner has denied.
//!
//! Config (`[guardrails.config]` in corpus.toml):
//!
//! ```toml
//! [[guardrails.config.topics]]
//! name = "medical-dosage"                       # becomes the code `topic.medical-dosage`
//! phrases = ["dosage", "how many mg", "overdose"]
//! reason = "We cannot give medical dosage advice; ask a pharmacist."
//! ```
//!
//! A question matches a topic when it contains one of its phrases as whole words,
//! ignoring case. Answers are not checked.

// The bindings generated for `check-answer` take its eight arguments one by one.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({ path: "../../wit", world: "guardrail" });

use candor::plugin::types::Verdict;
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    topics: Vec<Topic>,
}

#[derive(Deserialize)]
struct Topic {
    name: String,
    phrases: Vec<String>,
    reason: String,
}

struct TopicPolicy;

impl Guest for TopicPolicy {
    fn check_question(question: String, config: String) -> Decision {
        let config: Config = match serde_json::from_str(&config) {
            Ok(c) => c,
            // A policy that cannot be read must not silently allow everything.
            Err(e) => {
                return decision(
                    Verdict::Block,
                    "topic.bad-config",
                    format!("topic-policy config is invalid: {e}"),
                )
            }
        };
        let words = normalise(&question);
        for topic in &config.topics {
            if topic
                .phrases
                .iter()
                .any(|p| contains_phrase(&words, &normalise(p)))
            {
                return decision(
                    Verdict::Block,
                    &format!("topic.{}", topic.name),
                    topic.reason.clone(),
                );
            }
        }
        decision(Verdict::Allow, "", String::new())
    }

    fn check_answer(
        _question: String,
        _answer: String,
        _citations: Vec<Citation>,
        _config: String,
    ) -> Decision {
        decision(Verdict::Allow, "", String::new())
    }
}

fn decision(verdict: Verdict, code: &str, reason: String) -> Decision {
    Decision {
        verdict,
        code: code.to_owned(),
        reason,
    }
}

/// Lower-cased words, without punctuation.
fn normalise(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// True when `phrase` occurs in `words` as consecutive whole words.
fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w == phrase)
}

export!(TopicPolicy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_ignoring_case() {
        let q = normalise("What DOSAGE of ibuprofen, in mg?");
        assert!(contains_phrase(&q, &normalise("dosage")));
        assert!(!contains_phrase(&q, &normalise("dos")));
        assert!(contains_phrase(
            &normalise("how many mg should I take"),
            &normalise("How many mg")
        ));
        assert!(!contains_phrase(&q, &[]));
    }
}
