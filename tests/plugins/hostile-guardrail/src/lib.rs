//! A guardrail that misbehaves on purpose. Its config names the misdeed
//! (`{"do": "loop"}`, see the `misdeed` crate; `flood` redacts to 100 MB of
//! text, `erase` to nothing, which counts as a block), or says `{"do": "question"}`: the question is the misdeed's name, so
//! one server can face them all. Anything else allows the question.

use misdeed::{flood, misbehave, misdeed};

wit_bindgen::generate!({ path: "../../../wit", world: "guardrail" });

use candor::plugin::types::Verdict;

struct Hostile;

impl Guest for Hostile {
    fn check_question(question: String, config: String) -> Decision {
        match misdeed(&config) {
            "question" => decide(question.trim()),
            what => decide(what),
        }
    }

    fn check_answer(
        _question: String,
        _answer: String,
        _citations: Vec<Citation>,
        config: String,
    ) -> Decision {
        decide(misdeed(&config))
    }
}

fn decide(what: &str) -> Decision {
    misbehave(what);
    let (verdict, code) = match what {
        "flood" => (Verdict::Redact(flood()), ""),
        "erase" => (Verdict::Redact(String::new()), "hostile.erase"),
        _ => (Verdict::Allow, ""),
    };
    Decision {
        verdict,
        code: code.into(),
        reason: String::new(),
    }
}

export!(Hostile);
