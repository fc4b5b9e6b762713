//! A guardrail that misbehaves on purpose. Its config names the misdeed
//! (`{"do": "loop"}`, see the `misdeed` crate; `flood` redacts to 100 MB of
//! text); anything else allows the question.

use misdeed::{flood, misbehave, misdeed};

wit_bindgen::generate!({ path: "../../../wit", world: "guardrail" });

use candor::plugin::types::Verdict;

struct Hostile;

impl Guest for Hostile {
    fn check_question(_question: String, config: String) -> Decision {
        decide(&config)
    }

    fn check_answer(
        _question: String,
        _answer: String,
        _citations: Vec<Citation>,
        config: String,
    ) -> Decision {
        decide(&config)
    }
}

fn decide(config: &str) -> Decision {
    let what = misdeed(config);
    misbehave(what);
    let verdict = match what {
        "flood" => Verdict::Redact(flood()),
        _ => Verdict::Allow,
    };
    Decision {
        verdict,
        code: String::new(),
        reason: String::new(),
    }
}

export!(Hostile);
