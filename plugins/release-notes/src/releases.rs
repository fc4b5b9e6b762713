//! The file split into releases, each with its notes under the subheadings
//! they sit below.

use std::collections::HashMap;

use crate::headings::{Headings, Line};

/// One release found in the file.
#[derive(Debug, PartialEq)]
pub(crate) struct Release {
    pub(crate) version: String,
    pub(crate) date: String,
    /// (heading path, text) in reading order.
    pub(crate) sections: Vec<(Vec<String>, String)>,
}

/// Link reference definitions (`[1.2.0]: https://...`) are footnotes of the file,
/// not notes of the release they happen to follow.
fn is_link_definition(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('[') && t.find("]:").is_some_and(|i| !t[1..i].contains(']'))
}

/// Splits `text` into releases. Text before the first release, and under a
/// heading as high as a release's that is not one (`## [Unreleased]`), belongs to
/// no release and is left out.
pub(crate) fn split(text: &str, headings: &Headings) -> Result<Vec<Release>, String> {
    let text = &atx_headings(text);
    let mut releases: Vec<Release> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    // The open release's heading level, and the subheadings inside it.
    let mut open: Option<usize> = None;
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        // Inside a fenced code block every line is text, `# comments` included.
        let fence = line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~");
        let kind = if in_fence || fence {
            in_fence ^= fence;
            Line::Text(line)
        } else {
            headings.line(n, line)?
        };
        match kind {
            Line::Release {
                version,
                date,
                level,
            } => {
                if let Some(first) = seen.insert(version.clone(), n) {
                    return Err(format!(
                        "line {n}: version {version} appears twice (first at line {first})"
                    ));
                }
                open = Some(level);
                path.clear();
                releases.push(Release {
                    version,
                    date,
                    sections: vec![(Vec::new(), String::new())],
                });
            }
            Line::Heading { level, text } => match open {
                // A release on a plain line owns every heading below it, up to
                // the next release or an `Unreleased` heading.
                Some(0) if headings.unreleased.is_match(text) => open = None,
                Some(release_level) if level > release_level || release_level == 0 => {
                    path.retain(|(l, _)| *l < level);
                    path.push((level, text.to_owned()));
                    let heading = path.iter().map(|(_, t)| t.clone()).collect();
                    if let Some(r) = releases.last_mut() {
                        r.sections.push((heading, String::new()));
                    }
                }
                _ => open = None,
            },
            Line::Text(t) => {
                if open.is_none() || is_link_definition(t) {
                    continue;
                }
                if let Some((_, body)) = releases.last_mut().and_then(|r| r.sections.last_mut()) {
                    body.push_str(t.trim_end());
                    body.push('\n');
                }
            }
        }
    }
    for r in &mut releases {
        r.sections.retain_mut(|(_, body)| {
            *body = body.trim().to_owned();
            !body.is_empty()
        });
    }
    if releases.is_empty() {
        return Err(
            "no release headings found; expected `## [1.2.0] - 2024-05-01` or \
                    `Version 1.2.0 (2024-05-01)`, or set `heading` in the config"
                .into(),
        );
    }
    Ok(releases)
}

/// `text` with its setext headings (a line underlined with `===` or `---`, as
/// Rust's `RELEASES.md` writes `Version 1.65.0 (2022-11-03)` and its `Language`
/// and `Libraries` subsections) written as ATX headings (`#`, `##`), and each
/// underline left as an empty line, so that line numbers hold.
fn atx_headings(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut in_fence = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let fence = line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~");
        in_fence ^= fence;
        let level = match lines.get(i + 1) {
            Some(next) if !in_fence && !fence && is_heading_text(line) => underline(next),
            _ => None,
        };
        match level {
            Some(level) => {
                out.push(format!("{} {}", "#".repeat(level), line.trim()));
                out.push(String::new());
                i += 2;
            }
            None => {
                out.push(line.to_owned());
                i += 1;
            }
        }
    }
    out.join("\n")
}

/// Whether `line` can be the text of a setext heading: a paragraph line, not
/// a list item, an ATX heading, a code line or a link definition.
fn is_heading_text(line: &str) -> bool {
    let t = line.trim();
    let item = t.starts_with(['-', '*', '+', '>'])
        || t.split_once(". ")
            .is_some_and(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()));
    !(t.is_empty()
        || item
        || t.starts_with('#')
        || line.starts_with("    ")
        || line.starts_with('\t')
        || is_link_definition(line))
}

/// The heading level a setext underline gives (`===` 1, `---` 2), if `line` is
/// one: three or more of either, alone on the line.
fn underline(line: &str) -> Option<usize> {
    let t = line.trim_end();
    let level = match t.bytes().next()? {
        b'=' => 1,
        b'-' => 2,
        _ => return None,
    };
    (t.len() >= 3 && t.bytes().all(|b| b == t.as_bytes()[0]) && !line.starts_with("    "))
        .then_some(level)
}
