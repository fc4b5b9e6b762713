//! A section whose notes are a list of detailed entries, split into one
//! section per entry, so that a citation points at the entry.

/// A bullet line's indent and text: `(1, "Fix #1: x")` for ` * Fix #1: x`.
fn bullet(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start().len();
    let rest = line.trim_start();
    let text = rest
        .strip_prefix("* ")
        .or_else(|| rest.strip_prefix("- "))
        .or_else(|| rest.strip_prefix("+ "))?;
    Some((indent, text.trim()))
}

/// Splits a section whose text is a list of entries, each a bullet followed by
/// indented paragraphs of its own, into one section per entry: headed by
/// `heading` and the entry's title, its text the title with `release` (`restic
/// 0.17.0, 2024-07-26`), then the paragraphs. Text before the first entry keeps
/// the section's heading. A list of one-line bullets (a summary) is one section.
pub(crate) fn entries(heading: &[String], text: &str, release: &str) -> Vec<(Vec<String>, String)> {
    let whole = || vec![(heading.to_vec(), text.to_owned())];
    let lines: Vec<&str> = text.lines().collect();
    let Some(top) = lines.iter().filter_map(|l| bullet(l)).map(|b| b.0).min() else {
        return whole();
    };
    // (title, body lines) per entry, and the lines before the first.
    let mut preamble: Vec<&str> = Vec::new();
    let mut items: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_title = false;
    for line in lines {
        match bullet(line) {
            // The section's text was trimmed, so its first bullet may have
            // lost the space of indent the others have.
            Some((indent, title)) if indent <= top + 1 => {
                items.push((title.to_owned(), Vec::new()));
                in_title = true;
            }
            _ => match items.last_mut() {
                None => preamble.push(line),
                // A title may wrap onto the lines right below it.
                Some((title, body)) if in_title && !line.trim().is_empty() && body.is_empty() => {
                    title.push(' ');
                    title.push_str(line.trim());
                }
                Some((_, body)) => {
                    in_title = false;
                    body.push(line);
                }
            },
        }
    }
    let has_body = |body: &[&str]| {
        body.iter()
            .any(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() > top + 1)
    };
    if items.len() < 2 || !items.iter().all(|(_, body)| has_body(body)) {
        return whole();
    }
    let mut out = Vec::new();
    let preamble = preamble.join("\n").trim().to_owned();
    if !preamble.is_empty() {
        out.push((heading.to_vec(), preamble));
    }
    for (title, body) in items {
        let indent = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let body: Vec<&str> = body
            .iter()
            .map(|l| l.get(indent..).unwrap_or_else(|| l.trim_start()))
            .collect();
        let mut path = heading.to_vec();
        path.push(title.clone());
        let text = format!(
            "{} ({release}).\n\n{}",
            title.trim_end_matches(['.', ':']),
            body.join("\n").trim()
        );
        out.push((path, text.trim().to_owned()));
    }
    out
}
