//! Text from documents and plugins on its way to a terminal or a log line.
//!
//! A file name, a document title or a plugin's stderr may hold escape sequences
//! that drive a terminal, or newlines that forge log lines; printed through
//! [`escape`], they show as what they are.

/// `text` with every control character (newlines too) written as its Rust
/// escape (`\n`, `\u{1b}`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_show_as_escapes_and_the_rest_is_kept() {
        assert_eq!(
            super::escape("ok é\n\u{1b}[31mred\r\0"),
            "ok é\\n\\u{1b}[31mred\\r\\u{0}"
        );
    }
}
