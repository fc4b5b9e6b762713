//! Sentences: how a chunk's text splits into the units an answer quotes, and
//! how a quoted unit reads as plain text.
//!
//! Indexing embeds each of these units and the composer quotes them, so both
//! must split a text the same way; they live here, below both.

/// A sentence of a chunk: character offsets into the chunk text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// The sentence is a list item (its marker stripped).
    pub item: bool,
    /// The span is a line of code, quoted whole and as written.
    pub code: bool,
}

/// Indentation that makes a line code (a Markdown or reStructuredText
/// literal block), in spaces; a tab counts as this many.
const CODE_INDENT: usize = 4;

/// Sentence spans of `text` (character offsets), trimmed, without list markers.
/// A sentence ends after `.`, `!` or `?` followed by white space and a capital,
/// digit or opening mark, at a blank line, or before a line that starts a list
/// item or a heading. A single line break inside a paragraph (hard-wrapped text)
/// is a space. A line indented as code is a span of its own, whole.
pub fn sentences(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut code = is_code(&chars, 0);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            let (_, k) = indent(&chars, i + 1);
            let next_code = is_code(&chars, i + 1);
            if code
                || next_code
                || k >= chars.len()
                || chars[k] == '\n'
                || chars[k] == '#'
                || list_marker(&chars[k..]) > 0
            {
                push_span(&chars, start, i, code, &mut out);
                start = i + 1;
                code = next_code;
            }
        } else if matches!(c, '.' | '!' | '?') && !code {
            if let Some(j) = sentence_end(&chars, start, i) {
                push_span(&chars, start, j, code, &mut out);
                start = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    push_span(&chars, start, chars.len(), code, &mut out);
    out
}

/// Pushes the span `start..end` of `chars` to `out`, trimmed and without its
/// list marker (a code line keeps what looks like one), unless nothing is left.
fn push_span(chars: &[char], start: usize, end: usize, code: bool, out: &mut Vec<Span>) {
    let (mut s, mut e) = (start, end);
    while s < e && chars[s].is_whitespace() {
        s += 1;
    }
    let marker = if code { 0 } else { list_marker(&chars[s..e]) };
    s += marker;
    while e > s && chars[e - 1].is_whitespace() {
        e -= 1;
    }
    if e > s {
        out.push(Span {
            start: s,
            end: e,
            item: marker > 0,
            code,
        });
    }
}

/// The indentation of the line starting at `at`, and where its text starts.
fn indent(chars: &[char], at: usize) -> (usize, usize) {
    let mut k = at;
    let mut width = 0;
    while k < chars.len() && chars[k] != '\n' && chars[k].is_whitespace() {
        width += if chars[k] == '\t' { CODE_INDENT } else { 1 };
        k += 1;
    }
    (width, k)
}

/// True when the line starting at `at` is indented as code and not blank.
fn is_code(chars: &[char], at: usize) -> bool {
    let (width, k) = indent(chars, at);
    width >= CODE_INDENT && k < chars.len() && chars[k] != '\n'
}

/// Where the sentence that began at `start` ends when the `.`, `!` or `?` at
/// `i` ends it: after the closing quotes and brackets that follow it.
fn sentence_end(chars: &[char], start: usize, i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < chars.len() && matches!(chars[j], '"' | '\'' | ')' | ']' | '”' | '’') {
        j += 1;
    }
    let mut k = j;
    while k < chars.len() && chars[k].is_whitespace() {
        k += 1;
    }
    let next_starts = k > j
        && chars.get(k).is_some_and(|n| {
            n.is_uppercase() || n.is_ascii_digit() || matches!(n, '"' | '(' | '[' | '“')
        });
    // `2. Then` is a numbered list item, not a sentence `2.`.
    let number = chars[start..i]
        .iter()
        .filter(|c| !c.is_whitespace())
        .all(char::is_ascii_digit);
    // "e.g. GNU find" goes on, and so does a parenthesis not yet closed:
    // "(for example GNU find. It reads ...)" is one aside.
    let abbreviation = ABBREVIATIONS
        .iter()
        .any(|a| ends_with_word(&chars[start..i], a));
    let open = chars[start..j].iter().fold(0i32, |depth, c| match c {
        '(' => depth + 1,
        ')' => depth - 1,
        _ => depth,
    }) > 0;
    (next_starts && !number && !abbreviation && !open).then_some(j)
}

/// Abbreviations whose final dot never ends a sentence (written without it).
const ABBREVIATIONS: [&str; 5] = ["e.g", "i.e", "cf", "vs", "approx"];

/// True when `text` ends with the word `word` (case-insensitive), not with a
/// longer word that ends the same way.
fn ends_with_word(text: &[char], word: &str) -> bool {
    let word: Vec<char> = word.chars().collect();
    text.len() >= word.len()
        && text[text.len() - word.len()..]
            .iter()
            .zip(&word)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
        && text
            .len()
            .checked_sub(word.len() + 1)
            .is_none_or(|k| !text[k].is_alphanumeric())
}

/// The sentences of `text`, as the composer reads them.
pub fn sentence_texts(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    sentences(text)
        .iter()
        .map(|s| slice(&chars, s.start, s.end))
        .collect()
}

/// What is left of a sentence when its numbers are taken out: lowercase
/// words, with each run of digits (a version, a date, an issue number) as `#`.
/// Sentences with the same key in many documents are a template ("Version 2.3.1
/// of Ferrule was released on 2026-03-24.") and say nothing of any one of them.
pub fn template_key(sentence: &str) -> String {
    let mut key = String::with_capacity(sentence.len());
    let mut in_number = false;
    for c in sentence.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                key.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            if c.is_alphanumeric() {
                key.push(c);
            } else if !key.ends_with(' ') {
                key.push(' ');
            }
        }
    }
    key.trim().to_owned()
}

/// Length of a list marker (`- `, `* `, `+ `, `12. `, `3) `) at the start of `s`.
fn list_marker(s: &[char]) -> usize {
    match s {
        ['-' | '*' | '+', ' ', ..] => 2,
        _ => {
            let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
            match s.get(digits..digits + 2) {
                Some(['.' | ')', ' ']) if (1..=3).contains(&digits) => digits + 2,
                _ => 0,
            }
        }
    }
}

/// A quoted sentence as plain text: hard-wrapped lines joined, and the markup
/// of Markdown and reStructuredText reduced to the words a reader sees (a
/// link's text, not its target; a literal without its quotes; no heading
/// underlines). The citation's span still points at the source as written.
pub fn plain(sentence: &str) -> String {
    let chars: Vec<char> = sentence.chars().collect();
    let mut out = String::with_capacity(sentence.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // Where the markup that starts at `i` ends, when it does and its text
        // is in `out`.
        let next = match c {
            // Markdown `[text](target)` and `![alt](target)`.
            '!' | '[' => link(&chars, i, &mut out),
            // reST roles `:ref:`text <target>``, and interpreted text or
            // hyperlinks `text <url>`_ : the text before any `<target>`.
            ':' => role_end(&chars, i),
            '`' => Some(literal(&chars, i, &mut out)),
            '*' | '_' if chars.get(i + 1) == Some(&c) => Some(i + 2),
            _ => None,
        };
        match next {
            Some(n) => i = n,
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.split_whitespace()
        // A heading's underline (`=====`) is decoration, not words.
        .filter(|w| {
            let mut cs = w.chars();
            let first = cs.next();
            !(w.chars().count() >= 3
                && first.is_some_and(|f| f.is_ascii_punctuation() && w.chars().all(|c| c == f)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The index of the `close` that ends a construct opened at `from`, on the
/// same sentence, if any.
fn find(chars: &[char], from: usize, close: char) -> Option<usize> {
    chars[from..]
        .iter()
        .position(|&c| c == close)
        .map(|p| from + p)
}

/// A Markdown link or image at `i`, when it is one and closed: pushes its
/// text, made plain, to `out` and returns where it ends. Its target is
/// `(url)`, or `[id]` / `[]` for a reference link, whose URL is defined
/// elsewhere (changelogs write `[Stabilize GATs][96709]`).
fn link(chars: &[char], i: usize, out: &mut String) -> Option<usize> {
    let open = if chars[i] == '!' { i + 1 } else { i };
    if chars.get(open) != Some(&'[') {
        return None;
    }
    let end = closing_bracket(chars, open)?;
    let target_end = match chars.get(end + 1) {
        Some('(') => find(chars, end + 2, ')')?,
        Some('[') => find(chars, end + 2, ']')?,
        _ => return None,
    };
    let shown: String = chars[open + 1..end].iter().collect();
    out.push_str(&plain(&shown));
    Some(target_end + 1)
}

/// The `]` that closes the `[` at `open`: brackets nest, and those inside a
/// code span are code (`[Error on `#[repr(u8)]` enums][96862]`).
fn closing_bracket(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut code = false;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '`' => code = !code,
            '[' if !code => depth += 1,
            ']' if !code => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// A literal or interpreted text in backticks at `i`: pushes its text (without
/// a `<target>`, or the backticks alone when unclosed) to `out` and returns
/// where it ends.
fn literal(chars: &[char], i: usize, out: &mut String) -> usize {
    let ticks = chars[i..].iter().take_while(|&&t| t == '`').count();
    let start = i + ticks;
    let close = (start..chars.len()).find(|&k| {
        chars[k..].iter().take_while(|&&t| t == '`').count() >= ticks && chars[k] == '`'
    });
    match close {
        Some(k) if k > start => {
            let inner: String = chars[start..k].iter().collect();
            let shown = match (inner.rfind('<'), inner.ends_with('>')) {
                (Some(lt), true) if ticks == 1 && lt > 0 => inner[..lt].trim_end().to_owned(),
                _ => inner,
            };
            out.push_str(&shown);
            let mut i = k + ticks;
            // The `_` or `__` of a reST hyperlink reference.
            while chars.get(i) == Some(&'_') {
                i += 1;
            }
            i
        }
        _ => {
            out.extend(&chars[i..start]);
            start
        }
    }
}

/// Where a reST role such as `:ref:` or `:option:` that starts at `i` and is
/// followed by interpreted text ends: the role's name is skipped, so that
/// what follows is read as interpreted text.
fn role_end(chars: &[char], i: usize) -> Option<usize> {
    let name = chars[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.'))
        .count();
    let after = i + 1 + name;
    (name > 0 && chars.get(after) == Some(&':') && chars.get(after + 1) == Some(&'`'))
        .then_some(after + 1)
}

pub(crate) fn slice(chars: &[char], s: usize, e: usize) -> String {
    chars[s..e].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_sentence_ends_and_line_breaks_but_not_inside_abbreviations() {
        assert_eq!(
            sentence_texts("Backups run nightly. They keep 30 days, e.g. for audits.\n\nSee retention! (Really.) Done"),
            ["Backups run nightly.", "They keep 30 days, e.g. for audits.", "See retention!", "(Really.)", "Done"]
        );
        assert_eq!(
            sentence_texts("Backing up\n\nPinned snapshots are never pruned\nand do not count.\n- Port 7420 open.\n2. Then start it."),
            ["Backing up", "Pinned snapshots are never pruned\nand do not count.", "Port 7420 open.", "Then start it."]
        );
        assert_eq!(
            sentence_texts("Version 2.5 is out."),
            ["Version 2.5 is out."]
        );
        // An abbreviation before a capital, and a dot inside an aside, end nothing.
        assert_eq!(
            sentence_texts(
                "Use a script (e.g. GNU find with -print0). Then run it. Compare A vs. B now."
            ),
            [
                "Use a script (e.g. GNU find with -print0).",
                "Then run it.",
                "Compare A vs. B now."
            ]
        );
        assert_eq!(
            sentence_texts("Keep it (see the guide. It helps.) Later. Canvas. Done"),
            [
                "Keep it (see the guide. It helps.)",
                "Later.",
                "Canvas.",
                "Done"
            ]
        );
        assert!(sentence_texts("  \n ").is_empty());
    }

    #[test]
    fn markup_becomes_the_text_a_reader_sees() {
        assert_eq!(
            plain("See [Stabilize `async` closures](https://example.invalid/pull/1) and ![logo](x.png)."),
            "See Stabilize async closures and logo."
        );
        assert_eq!(
            plain("Run ``restic init`` or `restic backup`, see :ref:`the guide <backup>` and :option:`--verbose`."),
            "Run restic init or restic backup, see the guide and --verbose."
        );
        assert_eq!(
            plain("Read `the manual <https://example.invalid/doc>`_ or `faq`__ **now**."),
            "Read the manual or faq now."
        );
        assert_eq!(plain("Backing up\n=========="), "Backing up");
        assert_eq!(
            plain("[Error on `as` casts of `#[repr(u8)]` enums][96862] and [Stabilize GATs][]."),
            "Error on as casts of #[repr(u8)] enums and Stabilize GATs."
        );
        // Unclosed markup stays as written, and brackets that are no link too.
        assert_eq!(plain("a [b](c and `d"), "a [b](c and `d");
        assert_eq!(
            plain("Index it as m [i] or [x] [y]."),
            "Index it as m [i] or [x] [y]."
        );
    }

    #[test]
    fn code_lines_and_list_items_are_whole_spans() {
        let text = "Initialise it. Then back up:\n\n    $ restic init. Done\n    $ restic backup ~/work\n\n- Fix unusable mount on macOS\n- Skip it";
        assert_eq!(
            sentence_texts(text),
            [
                "Initialise it.",
                "Then back up:",
                "$ restic init. Done",
                "$ restic backup ~/work",
                "Fix unusable mount on macOS",
                "Skip it"
            ]
        );
        let spans = sentences(text);
        assert_eq!(
            spans.iter().map(|s| (s.code, s.item)).collect::<Vec<_>>(),
            [
                (false, false),
                (false, false),
                (true, false),
                (true, false),
                (false, true),
                (false, true)
            ]
        );
    }

    #[test]
    fn spans_are_character_offsets() {
        let t = "Über alles. Zweiter Satz.";
        let s = sentences(t);
        assert_eq!((s[1].start, s[1].end), (12, 25));
    }

    #[test]
    fn template_keys_ignore_numbers_but_not_words() {
        let key = template_key("Version 2.3.1 of Ferrule was released on 2026-03-24.");
        assert_eq!(key, "version # of ferrule was released on # # #");
        assert_eq!(
            key,
            template_key("Version 10.0 of Ferrule was released on 2023-02-14.")
        );
        assert_ne!(
            key,
            template_key("Version 2.3.1 of Ferrule was withdrawn on 2026-03-24.")
        );
    }
}
