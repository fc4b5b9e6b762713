//! Markdown: metadata from YAML or TOML front matter, sections from ATX headings.
//!
//! It is a line-based reading, not a CommonMark renderer: it must only strip the
//! markup that would pollute search text, never reflow or interpret the content.

use chrono::NaiveDate;

use super::{parse_date, Outline, Parsed};

/// Parses front matter and body.
///
/// # Errors
///
/// A reason naming the problem when the front matter is unterminated, is not
/// valid YAML/TOML, or has a recognised key of the wrong kind.
pub(super) fn parse(text: &str) -> Result<Parsed, String> {
    let (front_matter, body) = split_front_matter(text)?;
    let meta = match front_matter {
        Some(FrontMatter::Yaml(src)) => yaml_metadata(src)?,
        Some(FrontMatter::Toml(src)) => toml_metadata(src)?,
        None => Metadata::default(),
    };

    let mut outline = Outline::default();
    let mut first_h1: Option<String> = None;
    let mut fence: Option<Fence> = None;
    // MyST directives whose content is prose, open around this line, and one
    // whose content is left out.
    let mut directives: Vec<Fence> = Vec::new();
    let mut dropped: Option<Fence> = None;
    // The label a directive puts before its first line ("Note:"), and
    // whether its `:option: value` lines may still come.
    let mut label: Option<Label> = None;
    let mut options = false;
    for line in body.lines() {
        if let Some(open) = &fence {
            if open.is_closed_by(line) {
                fence = None;
            } else if line.trim().is_empty() {
                outline.line(line);
            } else {
                // Indented as a literal block is: readers (the composer's
                // sentence splitter among them) tell code from prose by it.
                outline.line(&format!("    {line}"));
            }
            continue;
        }
        if let Some(open) = &dropped {
            if open.is_closed_by(line) {
                dropped = None;
            }
            continue;
        }
        if directives
            .last()
            .is_some_and(|open| open.is_closed_by(line))
        {
            directives.pop();
            if let Some(alone) = label.take().and_then(|l| l.alone) {
                outline.line(&alone);
            }
            continue;
        }
        if let Some(opened) = Fence::opened_by(line) {
            match opened.directive.as_ref().map(|d| d.reading()) {
                Some(Reading::Prose(l)) => {
                    directives.push(opened);
                    label = l;
                    options = true;
                }
                Some(Reading::Dropped) => dropped = Some(opened),
                Some(Reading::Code) | None => fence = Some(opened),
            }
            continue;
        }
        if options && is_directive_option(line) {
            continue;
        }
        options = false;
        if is_myst_target_or_comment(line) {
            continue;
        }
        if let Some((level, raw)) = atx_heading(line) {
            let heading = clean_inline(raw);
            if level == 1 && first_h1.is_none() && !heading.trim().is_empty() {
                first_h1 = Some(heading.clone());
            }
            outline.heading(level, &heading);
            continue;
        }
        let text = clean_inline(strip_quote_markers(line));
        match label.take_if(|_| !text.trim().is_empty()) {
            Some(l) => outline.line(&format!("{} {}", l.text, text.trim_start())),
            None => outline.line(&text),
        }
    }
    if let Some(alone) = label.and_then(|l| l.alone) {
        outline.line(&alone);
    }
    Ok(Parsed {
        // `title: ""` is as good as no title: the first heading is more telling.
        title: meta.title.filter(|t| !t.trim().is_empty()).or(first_h1),
        date: meta.date,
        series: meta.series,
        sections: outline.finish(),
    })
}

enum FrontMatter<'a> {
    Yaml(&'a str),
    Toml(&'a str),
}

/// Splits a leading `---`/`+++` block from the body.
fn split_front_matter(text: &str) -> Result<(Option<FrontMatter<'_>>, &str), String> {
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return Ok((None, text));
    };
    let delimiter = first.trim_end();
    if delimiter != "---" && delimiter != "+++" {
        return Ok((None, text));
    }
    let start = first.len();
    let mut end = start;
    for line in lines {
        let t = line.trim_end();
        if t == delimiter || (delimiter == "---" && t == "...") {
            let src = &text[start..end];
            let front_matter = if delimiter == "---" {
                FrontMatter::Yaml(src)
            } else {
                FrontMatter::Toml(src)
            };
            return Ok((Some(front_matter), &text[end + line.len()..]));
        }
        end += line.len();
    }
    Err(format!("front matter: no closing `{delimiter}` line"))
}

/// The front-matter keys Candor uses.
#[derive(Debug, Default)]
struct Metadata {
    title: Option<String>,
    date: Option<NaiveDate>,
    series: Option<String>,
}

/// A front-matter value reduced to what the recognised keys can use.
enum Scalar {
    Text(String),
    /// A list, table or other structure: never valid for a recognised key.
    Structured,
}

impl Metadata {
    fn set(&mut self, key: &str, value: Scalar) -> Result<(), String> {
        match key.to_ascii_lowercase().as_str() {
            "title" => self.title = Some(text_value(key, value)?),
            "series" => self.series = Some(text_value(key, value)?),
            "date" => self.date = Some(date_value(key, value)?),
            _ => {}
        }
        Ok(())
    }
}

fn text_value(key: &str, value: Scalar) -> Result<String, String> {
    match value {
        Scalar::Text(s) => Ok(s),
        Scalar::Structured => Err(format!("front matter: `{key}` is not a string")),
    }
}

fn date_value(key: &str, value: Scalar) -> Result<NaiveDate, String> {
    match value {
        Scalar::Text(s) => {
            parse_date(&s).ok_or_else(|| format!("front matter: `{key}` is not a date: {s:?}"))
        }
        Scalar::Structured => Err(format!("front matter: `{key}` is not a date")),
    }
}

fn yaml_metadata(src: &str) -> Result<Metadata, String> {
    let mut meta = Metadata::default();
    if src.trim().is_empty() {
        return Ok(meta);
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(src).map_err(|e| format!("front matter: invalid YAML: {e}"))?;
    let map = match value {
        serde_yaml::Value::Mapping(map) => map,
        // Only comments: no keys, nothing wrong.
        serde_yaml::Value::Null => return Ok(meta),
        _ => return Err("front matter: YAML is not a list of `key: value` pairs".to_owned()),
    };
    for (key, value) in &map {
        let Some(key) = key.as_str() else { continue };
        let scalar = match value {
            // `title:` with nothing after it means no title, not a bad one.
            serde_yaml::Value::Null => continue,
            serde_yaml::Value::String(s) => Scalar::Text(s.clone()),
            serde_yaml::Value::Number(n) => Scalar::Text(n.to_string()),
            serde_yaml::Value::Bool(b) => Scalar::Text(b.to_string()),
            _ => Scalar::Structured,
        };
        meta.set(key, scalar)?;
    }
    Ok(meta)
}

fn toml_metadata(src: &str) -> Result<Metadata, String> {
    let table: toml::Table = toml::from_str(src).map_err(|e| {
        let message = e.message().trim().to_owned();
        match e.span() {
            Some(span) => {
                let line = src
                    .get(..span.start)
                    .map_or(1, |before| before.matches('\n').count() + 1);
                format!("front matter: invalid TOML at line {line}: {message}")
            }
            None => format!("front matter: invalid TOML: {message}"),
        }
    })?;
    let mut meta = Metadata::default();
    for (key, value) in &table {
        let scalar = match value {
            toml::Value::String(s) => Scalar::Text(s.clone()),
            // Rendered back to its TOML spelling, which starts with the date.
            toml::Value::Datetime(d) => Scalar::Text(d.to_string()),
            toml::Value::Integer(i) => Scalar::Text(i.to_string()),
            toml::Value::Float(f) => Scalar::Text(f.to_string()),
            toml::Value::Boolean(b) => Scalar::Text(b.to_string()),
            toml::Value::Array(_) | toml::Value::Table(_) => Scalar::Structured,
        };
        meta.set(key, scalar)?;
    }
    Ok(meta)
}

/// An open fenced code block: its marker character and length.
struct Fence {
    marker: char,
    len: usize,
    /// The MyST directive it opens (```` ```{note} ````, `:::{tip}`), if any.
    directive: Option<Directive>,
}

/// A MyST directive's name and arguments: `{versionadded} 22.2`.
struct Directive {
    name: String,
    args: String,
}

/// What a directive puts before its content's first line.
struct Label {
    /// Before the first line: "Note:", "New in version 22.2:".
    text: String,
    /// Its line when the directive has no content, if it says something
    /// alone: "New in version 22.2.".
    alone: Option<String>,
}

/// How a directive's content is read.
enum Reading {
    /// As prose, after the label, if any, that the directive puts first.
    Prose(Option<Label>),
    /// Left out: navigation and other files.
    Dropped,
    /// As code, like a fence's.
    Code,
}

/// MyST admonitions and their labels, as Sphinx shows them.
const ADMONITIONS: [(&str, &str); 10] = [
    ("note", "Note:"),
    ("warning", "Warning:"),
    ("important", "Important:"),
    ("tip", "Tip:"),
    ("caution", "Caution:"),
    ("hint", "Hint:"),
    ("attention", "Attention:"),
    ("danger", "Danger:"),
    ("error", "Error:"),
    ("seealso", "See also:"),
];

/// MyST directives whose content is prose without a label: containers,
/// tabs, a titled admonition.
const CONTAINERS: [&str; 10] = [
    "admonition",
    "tab",
    "tab-item",
    "tab-set",
    "dropdown",
    "card",
    "topic",
    "sidebar",
    "container",
    "only",
];

/// MyST directives whose content is not text of this file.
const DROPPED_DIRECTIVES: [&str; 7] = [
    "toctree",
    "include",
    "literalinclude",
    "image",
    "figure",
    "contents",
    "raw",
];

impl Directive {
    fn reading(&self) -> Reading {
        let name = self.name.as_str();
        let version = self.args.split_whitespace().next().unwrap_or("");
        if let Some((_, l)) = ADMONITIONS.iter().find(|(n, _)| *n == name) {
            return Reading::Prose(Some(Label {
                text: (*l).to_owned(),
                alone: None,
            }));
        }
        let versioned = |what: &str| {
            Reading::Prose(Some(Label {
                text: format!("{what} {version}:"),
                alone: Some(format!("{what} {version}.")),
            }))
        };
        match name {
            "versionadded" => versioned("New in version"),
            "versionchanged" => versioned("Changed in version"),
            "deprecated" => versioned("Deprecated since version"),
            "versionremoved" => versioned("Removed in version"),
            _ if CONTAINERS.contains(&name) => Reading::Prose(None),
            _ if DROPPED_DIRECTIVES.contains(&name) => Reading::Dropped,
            _ => Reading::Code,
        }
    }
}

/// A directive's option line, `:caption: Setup` or `:sync: unix`.
fn is_directive_option(line: &str) -> bool {
    let t = line.trim_start();
    t.strip_prefix(':')
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// A MyST target, `(wheel-caching)=`, or comment, `% a note to editors`:
/// neither is text of the page.
fn is_myst_target_or_comment(line: &str) -> bool {
    let target = line
        .strip_prefix('(')
        .and_then(|rest| rest.trim_end().strip_suffix(")="))
        .is_some_and(|label| !label.is_empty() && !label.contains(char::is_whitespace));
    target || line == "%" || line.starts_with("% ")
}

impl Fence {
    fn opened_by(line: &str) -> Option<Fence> {
        let t = line.trim_start();
        let marker = t.chars().next().filter(|c| matches!(c, '`' | '~' | ':'))?;
        let len = t.chars().take_while(|c| *c == marker).count();
        let info = t[len..].trim();
        // A backtick run followed by more backticks is inline code, not a fence.
        let inline_code = marker == '`' && info.contains('`');
        let directive = info.strip_prefix('{').and_then(|rest| {
            let (name, args) = rest.split_once('}')?;
            let named = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c));
            named.then(|| Directive {
                name: name.to_owned(),
                args: args.trim().to_owned(),
            })
        });
        // Colons fence only a MyST directive (`:::{note}`).
        let fences = marker != ':' || directive.is_some();
        (len >= 3 && !inline_code && fences).then_some(Fence {
            marker,
            len,
            directive,
        })
    }

    fn is_closed_by(&self, line: &str) -> bool {
        let t = line.trim();
        t.len() >= self.len && t.chars().all(|c| c == self.marker)
    }
}

/// `## Text ##` gives `(2, "Text")`; the closing `#`s are optional.
fn atx_heading(line: &str) -> Option<(u8, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    // Four spaces make an indented code block, whose `#` lines are code.
    if indent > 3 {
        return None;
    }
    let t = &line[indent..];
    let level = t.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &t[level..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim();
    let unclosed = rest.trim_end_matches('#');
    let text = if unclosed.is_empty() || unclosed.ends_with([' ', '\t']) {
        unclosed.trim_end()
    } else {
        rest
    };
    Some((level as u8, text))
}

/// Drops blockquote markers (`> `, `> > `) from the start of a line.
fn strip_quote_markers(line: &str) -> &str {
    let mut rest = line;
    while let Some(after) = rest.trim_start().strip_prefix('>') {
        rest = after.strip_prefix(' ').unwrap_or(after);
    }
    rest
}

/// Removes inline markup: links and images become their text, `**`/`__` and code
/// span backticks go; code span contents are kept verbatim, save that a MyST
/// role's (``{ref}`Caching <caching>` ``) becomes the text it shows.
fn clean_inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    // Odd pieces are inside backtick code spans.
    let pieces: Vec<&str> = line.split('`').collect();
    let mut role: Option<&str> = None;
    for (i, piece) in pieces.iter().enumerate() {
        if i % 2 == 1 {
            match role.take() {
                Some(name) => out.push_str(&role_text(name, piece)),
                None => out.push_str(piece),
            }
        } else {
            // A role name stands right before a code span that exists.
            let named = (i + 1 < pieces.len()).then(|| role_name(piece)).flatten();
            let text = match named {
                Some((before, name)) => {
                    role = Some(name);
                    before
                }
                None => piece,
            };
            out.push_str(&strip_emphasis(
                &strip_links(text).replace("**", "").replace("__", ""),
            ));
        }
    }
    out
}

/// `*word*` and `_word_` without their markers. A marker opens only after a
/// non-word character and before a non-space, and closes after a non-space
/// and before a non-word character, so `snake_case_name`, `2 * 3` and
/// `*.md` keep theirs.
fn strip_emphasis(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let word = |i: usize| chars.get(i).is_some_and(|c| c.is_alphanumeric());
    let space = |i: usize| chars.get(i).is_none_or(|c| c.is_whitespace());
    let mut drop = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        let m = chars[i];
        let opens = matches!(m, '*' | '_')
            && (i == 0 || !(word(i - 1) || chars[i - 1] == m))
            && !space(i + 1)
            && chars.get(i + 1) != Some(&m);
        let close = opens
            .then(|| {
                (i + 2..chars.len()).find(|&j| {
                    chars[j] == m && !space(j - 1) && !word(j + 1) && chars.get(j + 1) != Some(&m)
                })
            })
            .flatten();
        match close {
            Some(j) => {
                drop[i] = true;
                drop[j] = true;
                i = j + 1;
            }
            None => i += 1,
        }
    }
    chars
        .iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(c, _)| c)
        .collect()
}

/// `text` without the MyST role name it ends with, and the name: `see {ref}`
/// gives `("see ", "ref")`.
fn role_name(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_suffix('}')?;
    let open = rest.rfind('{')?;
    let name = &rest[open + 1..];
    let named = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:.+".contains(c));
    named.then(|| (&text[..open], name))
}

/// The text a role with `content` shows, as Sphinx renders it: an explicit
/// title (`Caching <caching>`), a PEP or RFC by its number, `~a.b.c` as `c`,
/// else the content.
fn role_text(name: &str, content: &str) -> String {
    if let Some(title) = content
        .strip_suffix('>')
        .and_then(|c| c.rsplit_once(" <"))
        .map(|(title, _)| title.trim())
        .filter(|t| !t.is_empty())
    {
        return title.to_owned();
    }
    let target = content.strip_prefix('!').unwrap_or(content);
    match (name, target.strip_prefix('~')) {
        ("pep", _) => format!("PEP {target}"),
        ("rfc", _) => format!("RFC {target}"),
        (_, Some(path)) => path.rsplit('.').next().unwrap_or(path).to_owned(),
        _ => target.to_owned(),
    }
}

/// `[text](target)` gives `text`, `![alt](src)` gives `alt`, nested or not.
///
/// Brackets are matched with a stack rather than recursion, so hostile input
/// cannot exhaust the call stack.
fn strip_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Byte offsets in `out` of the `[`s not yet closed.
    let mut open: Vec<usize> = Vec::new();
    // Byte offsets in `out` of link markers to remove at the end.
    let mut removed: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        i += c.len_utf8();
        match c {
            '[' => {
                open.push(out.len());
                out.push('[');
            }
            ']' => match (open.pop(), link_target_len(&s[i..])) {
                (Some(at), Some(target_len)) => {
                    removed.push(at);
                    if out[..at].ends_with('!') {
                        removed.push(at - 1);
                    }
                    i += target_len;
                }
                _ => out.push(']'),
            },
            _ => out.push(c),
        }
    }
    if removed.is_empty() {
        return out;
    }
    removed.sort_unstable();
    out.char_indices()
        .filter(|(at, _)| removed.binary_search(at).is_err())
        .map(|(_, c)| c)
        .collect()
}

/// The byte length of a `(target)` at the start of `s`, with nested parentheses
/// balanced, or of a reference link's `[id]`; `None` if `s` does not start with
/// one.
fn link_target_len(s: &str) -> Option<usize> {
    if s.starts_with('[') {
        return s.find(']').map(|at| at + 1);
    }
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    for (at, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse as parse_file;
    use super::*;
    use crate::ingest::Document;
    use crate::Error;

    fn doc(text: &str) -> Document {
        parse_file(Path::new("guides/install-guide.md"), text.as_bytes()).unwrap()
    }

    fn reason(text: &str) -> String {
        match parse_file(Path::new("guides/x.md"), text.as_bytes()) {
            Err(Error::BadDocument { reason, .. }) => reason,
            other => panic!("expected BadDocument, got {other:?}"),
        }
    }

    #[test]
    fn yaml_front_matter_gives_title_date_and_series() {
        let d = doc("---\ntitle: Install guide\ndate: 2024-03-05\nseries: install-guide\ntags: [a, b]\n---\n# Heading\n\nBody.\n");
        assert_eq!(d.title, "Install guide");
        assert_eq!(d.date, NaiveDate::from_ymd_opt(2024, 3, 5));
        assert_eq!(d.series.as_deref(), Some("install-guide"));
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].heading_path, ["Heading"]);
        assert_eq!(d.sections[0].text, "Heading\n\nBody.");
    }

    #[test]
    fn yaml_dates_may_be_timestamps() {
        let d = doc("---\ndate: 2023-11-30T22:15:00+01:00\n---\nBody\n");
        assert_eq!(d.date, NaiveDate::from_ymd_opt(2023, 11, 30));
    }

    #[test]
    fn toml_front_matter_accepts_native_dates() {
        let d = doc(
            "+++\ntitle = \"Upgrade\"\ndate = 2022-01-02T10:00:00Z\n[extra]\nx = 1\n+++\nBody\n",
        );
        assert_eq!(d.title, "Upgrade");
        assert_eq!(d.date, NaiveDate::from_ymd_opt(2022, 1, 2));
        let d = doc("+++\ndate = 2021-06-07\n+++\nBody\n");
        assert_eq!(d.date, NaiveDate::from_ymd_opt(2021, 6, 7));
    }

    #[test]
    fn bad_front_matter_is_named() {
        assert_eq!(
            reason("---\ndate: next week\n---\nBody\n"),
            "front matter: `date` is not a date: \"next week\""
        );
        assert!(reason("---\ntitle: [a\n---\nBody\n").starts_with("front matter: invalid YAML"));
        assert!(reason("+++\ntitle = \n+++\nBody\n").starts_with("front matter: invalid TOML"));
        assert_eq!(
            reason("---\ntitle:\n  a: b\n---\nBody\n"),
            "front matter: `title` is not a string"
        );
        assert_eq!(
            reason("---\ntitle: x\nBody\n"),
            "front matter: no closing `---` line"
        );
    }

    #[test]
    fn empty_front_matter_is_fine() {
        let d = doc("---\n---\nBody\n");
        assert_eq!(d.title, "install guide");
        assert_eq!(d.sections[0].text, "Body");
    }

    #[test]
    fn title_falls_back_to_first_h1_then_stem() {
        assert_eq!(
            doc("Intro\n## Sub\ntext\n# Real **title**\nmore\n").title,
            "Real title"
        );
        assert_eq!(doc("## Only a subheading\ntext\n").title, "install guide");
    }

    #[test]
    fn headings_nest_and_pop_by_level() {
        let d = doc("Preface.\n# A\nin a\n## B\nin b\n### C ###\nin c\n## D\nin d\n# E\nin e\n");
        let paths: Vec<Vec<String>> = d.sections.iter().map(|s| s.heading_path.clone()).collect();
        let expected: Vec<Vec<&str>> = vec![
            vec![],
            vec!["A"],
            vec!["A", "B"],
            vec!["A", "B", "C"],
            vec!["A", "D"],
            vec!["E"],
        ];
        assert_eq!(paths, expected);
        assert_eq!(d.sections[0].text, "Preface.");
        assert_eq!(d.sections[3].text, "C\nin c");
    }

    #[test]
    fn fenced_code_keeps_its_lines_indented_but_not_its_fences() {
        let d = doc(
            "# Setup\n```bash\n# not a heading\nrun **this** [x](y)\n```\n~~~~\n```\n~~~~\nafter\n",
        );
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].heading_path, ["Setup"]);
        assert_eq!(
            d.sections[0].text,
            "Setup\n    # not a heading\n    run **this** [x](y)\n    ```\nafter"
        );
    }

    #[test]
    fn inline_markup_is_stripped() {
        assert_eq!(
            clean_inline("See [the docs](https://x.org/a_(b)) now"),
            "See the docs now"
        );
        assert_eq!(
            clean_inline("![diagram](img/d.png) and **bold** and __strong__"),
            "diagram and bold and strong"
        );
        assert_eq!(clean_inline("[![Build](badge.svg)](https://ci)"), "Build");
        assert_eq!(
            clean_inline("run `a **b** [c](d)` here"),
            "run a **b** [c](d) here"
        );
        assert_eq!(
            clean_inline("[Stabilize GATs][96709] and [let-else][]"),
            "Stabilize GATs and let-else"
        );
        assert_eq!(
            clean_inline("- [x] done [not a link] (paren)"),
            "- [x] done [not a link] (paren)"
        );
        assert_eq!(clean_inline("unclosed [text](url"), "unclosed [text](url");
        assert_eq!(
            clean_inline("loads _all_ files, *not* some, of snake_case_name and *.md at 2 * 3"),
            "loads all files, not some, of snake_case_name and *.md at 2 * 3"
        );
        assert_eq!(clean_inline("- *item* one"), "- item one");
    }

    #[test]
    fn myst_roles_show_their_text_and_directives_their_prose() {
        assert_eq!(
            clean_inline(
                "The {ref}`pip cache <pip cache>` command, {pep}`440`, {pypi}`certifi`, \
                 {py:func}`~os.path.join` and {doc}`../topics/caching`; `{not} a role`."
            ),
            "The pip cache command, PEP 440, certifi, join and ../topics/caching; {not} a role."
        );
        // An admonition's text is prose behind its label, with its options
        // left out; a version note says its version even when empty; a
        // toctree is navigation; nested fences and colon fences work; an
        // unknown directive stays code.
        let d = doc("# Caching\n\
            ```{note}\n:class: small\nThe cache is on by default.\n```\n\
            ```{versionadded} 20.1\n```\n\
            ```{toctree}\n:hidden:\ncaching\n```\n\
            ````{tab} Unix\nRun this:\n```bash\npip cache dir\n```\n````\n\
            (wheel-caching)=\n% Keep this short.\n\
            :::{warning}\nDo not share it.\n:::\n\
            ```{pip-cli}\nin $ pip cache purge\n```\n");
        assert_eq!(
            d.sections[0].text,
            "Caching\nNote: The cache is on by default.\nNew in version 20.1.\nRun this:\n    pip cache dir\n\
             Warning: Do not share it.\n    in $ pip cache purge"
        );
    }

    #[test]
    fn quote_markers_are_stripped() {
        assert_eq!(strip_quote_markers("> quoted"), "quoted");
        assert_eq!(strip_quote_markers("> > deeper"), "deeper");
        assert_eq!(strip_quote_markers("  plain > not"), "  plain > not");
    }

    #[test]
    fn atx_heading_rules() {
        assert_eq!(atx_heading("# Title"), Some((1, "Title")));
        assert_eq!(atx_heading("###### Six ######"), Some((6, "Six")));
        assert_eq!(atx_heading("   ## C#"), Some((2, "C#")));
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(atx_heading("####### seven"), None);
        assert_eq!(atx_heading("    # indented code"), None);
    }
}
