//! `pii-redact`: keeps personal data out of questions and answers.
//!
//! - A question that asks for someone's phone number, email address, bank account
//!   (IBAN) or card number is blocked (`pii.request`).
//! - Personal data in an answer (emails, phone numbers, IBANs checked with
//!   ISO 7064 mod 97, card numbers checked with Luhn) is replaced by a label such
//!   as `[email removed]`; the code names the first kind found (`pii.email`).
//! - Personal data typed into a question is redacted the same way.
//!
//! No config.

// The bindings generated for `check-answer` take its eight arguments one by one.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({ path: "../../wit", world: "guardrail" });

use candor::plugin::types::Verdict;

struct PiiRedact;

/// Phrases that ask for personal contact or payment data.
const REQUESTS: [&str; 8] = [
    "phone number",
    "telephone number",
    "mobile number",
    "email address",
    "e-mail address",
    "iban",
    "card number",
    "credit card",
];

impl Guest for PiiRedact {
    fn check_question(question: String, _config: String) -> Decision {
        let lower = question.to_lowercase();
        if let Some(p) = REQUESTS.iter().find(|p| lower.contains(*p)) {
            return Decision {
                verdict: Verdict::Block,
                code: "pii.request".into(),
                reason: format!("Questions asking for personal data ({p}) are not answered."),
            };
        }
        redaction(&question)
    }

    fn check_answer(
        _question: String,
        answer: String,
        _citations: Vec<Citation>,
        _config: String,
    ) -> Decision {
        redaction(&answer)
    }
}

fn redaction(text: &str) -> Decision {
    match redact(text) {
        Some((clean, kind)) => Decision {
            verdict: Verdict::Redact(clean),
            code: format!("pii.{kind}"),
            reason: format!("personal data ({kind}) was removed"),
        },
        None => Decision {
            verdict: Verdict::Allow,
            code: String::new(),
            reason: String::new(),
        },
    }
}

/// `text` with personal data replaced, and the first kind found; None when clean.
pub fn redact(text: &str) -> Option<(String, &'static str)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut first: Option<&'static str> = None;
    let mut i = 0;
    while i < chars.len() {
        if let Some((len, kind)) = match_at(&chars, i) {
            out.push_str(&format!("[{kind} removed]"));
            first.get_or_insert(kind);
            i += len;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    first.map(|k| (out, k))
}

/// The length and kind of personal data starting at `i`, if any. Matches start
/// only at a word boundary.
fn match_at(c: &[char], i: usize) -> Option<(usize, &'static str)> {
    if i > 0 && (c[i - 1].is_alphanumeric() || matches!(c[i - 1], '@' | '.' | '+' | '_')) {
        return None;
    }
    // Inside a run of digit groups ("4111 1111 ..."): the run was judged whole.
    if i > 1 && matches!(c[i - 1], ' ' | '-' | '(' | ')') && c[i - 2].is_ascii_digit() {
        return None;
    }
    email(c, i)
        .map(|n| (n, "email"))
        .or_else(|| iban(c, i).map(|n| (n, "iban")))
        .or_else(|| number(c, i))
}

fn email(c: &[char], i: usize) -> Option<usize> {
    let local = c[i..]
        .iter()
        .take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '%' | '+' | '-'))
        .count();
    if local == 0 || c.get(i + local) != Some(&'@') {
        return None;
    }
    let start = i + local + 1;
    let domain = c[start..]
        .iter()
        .take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-'))
        .count();
    let d: String = c[start..start + domain].iter().collect();
    let d = d.trim_end_matches('.');
    (d.contains('.') && !d.starts_with('.')).then(|| local + 1 + d.chars().count())
}

/// An IBAN: two letters, two check digits, then 11 to 30 letters or digits,
/// optionally in groups separated by single spaces; valid under mod 97.
fn iban(c: &[char], i: usize) -> Option<usize> {
    let mut compact = String::new();
    let mut end = i;
    let mut j = i;
    while j < c.len() && compact.len() < 34 {
        if c[j].is_ascii_alphanumeric() {
            compact.push(c[j].to_ascii_uppercase());
            j += 1;
            end = j;
        } else if c[j] == ' '
            && j + 1 < c.len()
            && c[j + 1].is_ascii_alphanumeric()
            && compact.len().is_multiple_of(4)
        {
            j += 1;
        } else {
            break;
        }
    }
    let b = compact.as_bytes();
    let shape = compact.len() >= 15
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit();
    (shape && mod97(&compact) == 1).then_some(end - i)
}

fn mod97(iban: &str) -> u32 {
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut rem = 0u32;
    for ch in rearranged {
        let v = ch.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

/// A card number (13–19 digits passing Luhn) or a phone number (9–15 digits,
/// optionally starting with `+`), with spaces, dashes, dots or parentheses
/// between digit groups.
fn number(c: &[char], i: usize) -> Option<(usize, &'static str)> {
    if !(c[i].is_ascii_digit() || c[i] == '+' || c[i] == '(') {
        return None;
    }
    let mut digits = Vec::new();
    let mut end = i;
    let mut j = i;
    while j < c.len() {
        match c[j] {
            d if d.is_ascii_digit() => {
                digits.push(d as u8 - b'0');
                end = j + 1;
            }
            '+' if j == i => {}
            ' ' | '-' | '(' | ')' | '.'
                if j + 1 < c.len() && (c[j + 1].is_ascii_digit() || c[j + 1] == '(') => {}
            _ => break,
        }
        j += 1;
    }
    if c.get(end).is_some_and(|ch| ch.is_alphanumeric()) {
        return None;
    }
    let n = digits.len();
    if (13..=19).contains(&n) && luhn(&digits) {
        return Some((end - i, "card"));
    }
    // Dates and versions have fewer digits or dots between short groups; a
    // phone number has at least nine digits.
    let dotted = c[i..end].contains(&'.');
    ((9..=15).contains(&n) && !dotted).then_some((end - i, "phone"))
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

export!(PiiRedact);

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn finds_each_kind_and_leaves_ordinary_numbers() {
        assert_eq!(
            redact("Write to jane.doe@example.com today."),
            Some(("Write to [email removed] today.".into(), "email"))
        );
        assert_eq!(
            redact("Call +44 20 7946 0958 now").map(|r| r.1),
            Some("phone")
        );
        assert_eq!(
            redact("Card 4111 1111 1111 1111 expires").map(|r| r.1),
            Some("card")
        );
        assert_eq!(
            redact("Pay to GB82 WEST 1234 5698 7654 32 please").map(|r| r.1),
            Some("iban")
        );
        // Luhn fails: 16 digits but not a card, and too long for a phone.
        assert_eq!(redact("Order 4111 1111 1111 1112"), None);
        for clean in [
            "Version 3.2.0 was released on 2024-05-01.",
            "Port 7420 is open.",
            "It costs 1,500 euros.",
            "a@b",
        ] {
            assert_eq!(redact(clean), None, "{clean}");
        }
    }
}
