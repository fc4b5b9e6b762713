//! A guardrail that misbehaves on purpose. Its config names the misdeed
//! (`{"do": "loop"}`); anything else allows the question.

use misdeed::misdeed;

wit_bindgen::generate!({ path: "../../../wit", world: "guardrail" });

use candor::plugin::types::Verdict;

struct Hostile;

impl Guest for Hostile {
    fn check_question(question: String, config: String) -> Decision {
        misbehave(misdeed(&config));
        Decision {
            verdict: Verdict::Allow,
            code: String::new(),
            reason: format!("nothing to do for {question}"),
        }
    }

    fn check_answer(
        _question: String,
        _answer: String,
        _citations: Vec<Citation>,
        config: String,
    ) -> Decision {
        misbehave(misdeed(&config));
        Decision {
            verdict: Verdict::Allow,
            code: String::new(),
            reason: String::new(),
        }
    }
}

/// Does the named misdeed; each one either never returns or ends in a trap.
fn misbehave(what: &str) {
    match what {
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            // Large untouched reservations reach any cap in a few steps, long
            // before the deadline.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(Vec::with_capacity(16 << 20));
                std::hint::black_box(&hoard);
            }
        }
        "panic" => panic!("the hostile guardrail panics on purpose"),
        "passwd" => {
            let text = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
            panic!("read /etc/passwd: {text}");
        }
        "env" => {
            let home = std::env::var("HOME").expect("reading $HOME");
            panic!("read $HOME: {home}");
        }
        "socket" => {
            std::net::TcpStream::connect("127.0.0.1:22").expect("opening a socket");
            panic!("opened a socket");
        }
        "print" => {
            for i in 0..2_000 {
                println!("line {i} of a very chatty plugin");
            }
        }
        _ => {}
    }
}

export!(Hostile);
