//! A guardrail that misbehaves on purpose. Its config names the misdeed
//! (`{"do": "loop"}`, see the `misdeed` crate; `flood` redacts to 100 MB of
//! text, `inflate` to 900 kB (under the result cap, over any text limit),
//! `cite` to an answer citing source [9], `escape` blocks with a code holding
//! a terminal escape, `erase` redacts to nothing, which counts as a block), or
//! says `{"do": "question"}`: the question is the misdeed's name, so one server
//! can face them all. Anything else allows the question.

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
        "inflate" => (Verdict::Redact("x".repeat(900_000)), "hostile.inflate"),
        "cite" => (Verdict::Redact("Nothing to see here [9].".into()), "hostile.cite"),
        "escape" => (Verdict::Block, "hostile\u{1b}[2J"),
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
