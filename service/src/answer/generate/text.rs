//! The model's text as sentences: the complete ones so far, and the
//! citation markers each carries.

/// The citation numbers of a sentence (`[1]`, `[2, 3]`, `[1][4]`) and its text
/// without them.
pub fn markers(sentence: &str) -> (String, Vec<usize>) {
    let mut claim = String::new();
    let mut cited = Vec::new();
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        claim.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close)
                if !after[..close].trim().is_empty()
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
            {
                for n in after[..close].split(',') {
                    if let Ok(n) = n.trim().parse::<usize>() {
                        if !cited.contains(&n) {
                            cited.push(n);
                        }
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                claim.push('[');
                rest = after;
            }
        }
    }
    claim.push_str(rest);
    (
        claim.split_whitespace().collect::<Vec<_>>().join(" "),
        cited,
    )
}

/// The complete sentences at the start of `text` and the byte length they take.
/// A sentence ends after `.`, `!` or `?` and the citation markers that follow
/// it, when white space follows, or at a line break. Unless `finished`, the last
/// piece stays: more text (or its markers) may still come.
pub fn split(text: &str, finished: bool) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                push(&text[start..i], &mut out);
                start = i + 1;
            }
            b'.' | b'!' | b'?' => {
                let mut j = i + 1;
                while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')') {
                    j += 1;
                }
                // Markers after the stop belong to this sentence.
                let Some(k) = after_markers(text, j) else {
                    break;
                };
                let at_end = k >= bytes.len() || text[k..].trim().is_empty();
                if at_end && !finished {
                    break;
                }
                // As in the corpus's own text: a sentence starts with a capital, a
                // digit or an opening mark, so `e.g. port 7420` goes on.
                let starts = text[k..].trim_start().chars().next().is_some_and(|n| {
                    n.is_uppercase()
                        || n.is_ascii_digit()
                        || matches!(n, '"' | '(' | '[' | '*' | '-' | '`')
                });
                let number = text[start..i].trim().bytes().all(|b| b.is_ascii_digit());
                if at_end || (bytes[k].is_ascii_whitespace() && starts && !number) {
                    push(&text[start..k], &mut out);
                    start = k;
                    i = k;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if finished {
        push(&text[start..], &mut out);
        start = bytes.len();
    }
    (out, start)
}

/// Pushes `piece` to `out` as a sentence, trimmed and without a list item's
/// bullet or number, unless nothing is left.
fn push(piece: &str, out: &mut Vec<String>) {
    let piece = piece.trim();
    // A list item's bullet or number is layout, not part of its sentence.
    let digits = piece.bytes().take_while(u8::is_ascii_digit).count();
    let numbered = (1..=3).contains(&digits)
        && matches!(
            piece.as_bytes().get(digits..digits + 2),
            Some([b'.' | b')', b' '])
        );
    let piece = if numbered {
        &piece[digits + 2..]
    } else {
        ["- ", "* ", "• "]
            .iter()
            .find_map(|b| piece.strip_prefix(b))
            .unwrap_or(piece)
    }
    .trim();
    if !piece.is_empty() {
        out.push(piece.to_owned());
    }
}

/// Where the citation markers (`[1]`, ` [2, 3]`) that start at byte `j` of
/// `text` end; None while a marker is still open.
fn after_markers(text: &str, j: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut k = j;
    loop {
        let mut m = k;
        while m < bytes.len() && bytes[m] == b' ' {
            m += 1;
        }
        if m < bytes.len() && bytes[m] == b'[' {
            match text[m..].find(']') {
                Some(c)
                    if text[m + 1..m + c]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b',' || b == b' ') =>
                {
                    k = m + c + 1;
                    continue;
                }
                Some(_) => {}
                None => return None,
            }
        }
        return Some(k);
    }
}
