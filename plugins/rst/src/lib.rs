//! `rst`: turns a reStructuredText file (a Sphinx manual page, a README) into
//! one document whose sections follow the file's headings, with the markup
//! removed: roles and links become their text, literal blocks keep their lines,
//! comments, link targets and substitution definitions are left out.
//!
//! Config: none. `{}` (or nothing) is accepted and any key is an error, so a
//! misspelt setting is not silently ignored.
//!
//! The reading follows docutils where it matters for the text: titles are
//! ranked by the order in which their adornment styles first appear, and body
//! elements (lists, directives, literal blocks) end where their indentation
//! does.

wit_bindgen::generate!({ path: "../../wit", world: "parser" });

use std::collections::HashMap;

use candor::plugin::types::Section;
use serde::Deserialize;

/// No settings; reading it still rejects keys that would otherwise be ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

/// Substitution texts (`.. |name| replace:: text`) by normalised name.
type Subs = HashMap<String, String>;

/// Nesting deeper than this (a list in a quote in a directive ...) is kept as
/// plain lines: every level is a recursive call, and the stack must stay small
/// whatever the input.
const MAX_DEPTH: usize = 16;

/// How many continuation lines a substitution text may have; bounds the work
/// of finding them before the file is read.
const MAX_SUBSTITUTION_LINES: usize = 20;

/// Admonitions whose content is kept behind a label.
const ADMONITIONS: [(&str, &str); 10] = [
    ("note", "Note"),
    ("warning", "Warning"),
    ("important", "Important"),
    ("tip", "Tip"),
    ("caution", "Caution"),
    ("hint", "Hint"),
    ("attention", "Attention"),
    ("danger", "Danger"),
    ("error", "Error"),
    ("seealso", "See also"),
];

/// Directives whose content is not text of this file: navigation, other files,
/// pictures, output-format settings.
const DROPPED_DIRECTIVES: [&str; 22] = [
    "toctree",
    "include",
    "literalinclude",
    "image",
    "contents",
    "raw",
    "index",
    "highlight",
    "meta",
    "sectnum",
    "target-notes",
    "class",
    "role",
    "default-role",
    "title",
    "header",
    "footer",
    "sectionauthor",
    "moduleauthor",
    "codeauthor",
    "currentmodule",
    "tabularcolumns",
];

/// A piece of a section's text: a paragraph, a list, a literal block.
struct Block {
    text: String,
    /// Literal lines, which a label must not be glued to.
    code: bool,
}

impl Block {
    fn text(text: String) -> Block {
        Block { text, code: false }
    }
}

/// Where parsed blocks and section titles go.
trait Sink {
    fn block(&mut self, block: Block);
    /// A title with its adornment style: the character and whether it has an
    /// overline.
    fn title(&mut self, style: (char, bool), title: String);
}

/// Inside a list item or a directive, where docutils allows no sections, a
/// title is kept as a paragraph.
impl Sink for Vec<Block> {
    fn block(&mut self, block: Block) {
        if !block.text.trim().is_empty() {
            self.push(block);
        }
    }

    fn title(&mut self, _style: (char, bool), title: String) {
        self.block(Block::text(title));
    }
}

/// The file's sections in reading order.
#[derive(Default)]
struct Outline {
    /// Adornment styles in order of first use: a style's index is its level.
    styles: Vec<(char, bool)>,
    /// Titles from the top-level section down to the current one.
    path: Vec<String>,
    title: Option<String>,
    sections: Vec<(Vec<String>, Vec<Block>)>,
    /// Whether the last section is the current one. A section is opened by its
    /// first block, so titles with no text under them cost nothing.
    open: bool,
}

impl Sink for Outline {
    fn block(&mut self, block: Block) {
        if block.text.trim().is_empty() {
            return;
        }
        if !self.open {
            self.sections.push((self.path.clone(), Vec::new()));
            self.open = true;
        }
        if let Some((_, blocks)) = self.sections.last_mut() {
            blocks.push(block);
        }
    }

    fn title(&mut self, style: (char, bool), title: String) {
        let level = match self.styles.iter().position(|s| *s == style) {
            Some(level) => level,
            None => {
                self.styles.push(style);
                self.styles.len() - 1
            }
        };
        self.path.truncate(level);
        if self.title.is_none() && !title.is_empty() {
            self.title = Some(title.clone());
        }
        self.path.push(title);
        self.open = false;
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn skip_blank(lines: &[&str], mut i: usize) -> usize {
    while lines.get(i).is_some_and(|l| is_blank(l)) {
        i += 1;
    }
    i
}

/// The character of a line made of one repeated punctuation character.
fn adornment(line: &str) -> Option<char> {
    let mut chars = line.chars();
    let c = chars.next()?;
    (c.is_ascii_punctuation() && chars.all(|x| x == c)).then_some(c)
}

fn is_explicit(line: &str) -> bool {
    line == ".." || line.starts_with(".. ")
}

/// Whether `under` underlines `text`. Docutils also takes an underline shorter
/// than its title when it has at least four characters.
fn underlines(text: &str, under: &str) -> bool {
    let (t, u) = (text.trim().chars().count(), under.chars().count());
    adornment(under).is_some() && (u >= t || u >= 4)
}

/// Whether line `i` is the text of an underlined title.
fn starts_title(lines: &[&str], i: usize) -> bool {
    match (lines.get(i), lines.get(i + 1)) {
        (Some(text), Some(under)) => {
            !is_blank(text)
                && indent(text) == 0
                && adornment(text).is_none()
                && !is_explicit(text)
                && underlines(text, under)
        }
        _ => false,
    }
}

/// The end of the indented block starting at `start`: blank lines belong to it
/// only when indented lines follow.
fn span(lines: &[&str], start: usize) -> usize {
    let mut end = start;
    let mut i = start;
    while let Some(line) = lines.get(i) {
        i += 1;
        if is_blank(line) {
            continue;
        }
        if indent(line) == 0 {
            break;
        }
        end = i;
    }
    end
}

/// `lines` without the indentation they share.
fn dedent<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let strip = min_indent(lines);
    lines.iter().map(|l| l.get(strip..).unwrap_or("")).collect()
}

fn min_indent(lines: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| !is_blank(l))
        .map(|l| indent(l))
        .min()
        .unwrap_or(0)
}

/// The indented block at `start`, dedented, and the index after it.
fn indented<'a>(lines: &[&'a str], start: usize) -> (Vec<&'a str>, usize) {
    let end = span(lines, start);
    (dedent(lines.get(start..end).unwrap_or_default()), end)
}

/// An element whose first line is `first` (the text after its marker on line
/// `i`) and whose body is the indented block below, dedented to `column` (the
/// column of `first`, `usize::MAX` when unknown) or less: docutils' reading of
/// list items and directives.
fn first_indented<'a>(
    lines: &[&'a str],
    i: usize,
    first: &'a str,
    column: usize,
) -> (Vec<&'a str>, usize) {
    let end = span(lines, i + 1);
    let rest = lines.get(i + 1..end).unwrap_or_default();
    let strip = column.min(min_indent(rest));
    // A list item's first lines wrapped deeper than its text are still its
    // first paragraph, where docutils would see a definition list.
    let wrapped = if column < usize::MAX {
        rest.iter().take_while(|l| !is_blank(l)).count()
    } else {
        0
    };
    let mut block = vec![first];
    block.extend(rest.iter().enumerate().map(|(k, l)| {
        if k < wrapped {
            l.trim_start()
        } else {
            l.get(strip..).unwrap_or("")
        }
    }));
    (block, end)
}

/// Reads `lines` (one indentation level, dedented) into `sink`.
fn body<S: Sink>(subs: &Subs, lines: &[&str], depth: usize, sink: &mut S) {
    if depth > MAX_DEPTH {
        let kept: Vec<&str> = lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        sink.block(Block {
            text: kept.join("\n"),
            code: true,
        });
        return;
    }
    let mut tables: Option<TableEnds> = None;
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        i = if is_blank(line) {
            i + 1
        } else if indent(line) > 0 {
            // A block quote.
            let (quote, end) = indented(lines, i);
            for block in nested(subs, &quote, depth) {
                sink.block(block);
            }
            end
        } else if let Some(end) = explicit(subs, lines, i, depth, sink) {
            end
        } else if let Some(end) = title(subs, lines, i, sink) {
            end
        } else if line != "::" && adornment(line).is_some() {
            // A transition, or an underline without a title.
            i + 1
        } else if is_grid_border(line) {
            grid_table(subs, lines, i, sink)
        } else if is_simple_border(line) {
            let ends = tables.get_or_insert_with(|| TableEnds::new(lines));
            simple_table(subs, lines, i, ends, sink)
        } else if let Some(end) = list(subs, lines, i, depth, sink) {
            end
        } else if let Some(end) = line_block(subs, lines, i, sink) {
            end
        } else if line.starts_with(">>>") {
            // A doctest block runs to the next blank line.
            let end = i + lines.iter().skip(i).take_while(|l| !is_blank(l)).count();
            if let Some(code) = code_block(lines.get(i..end).unwrap_or_default()) {
                sink.block(code);
            }
            end
        } else {
            paragraph(subs, lines, i, depth, sink)
        };
    }
}

fn nested(subs: &Subs, lines: &[&str], depth: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    body(subs, lines, depth + 1, &mut blocks);
    blocks
}

/// A section title at line `i`, underlined or over- and underlined.
fn title<S: Sink>(subs: &Subs, lines: &[&str], i: usize, sink: &mut S) -> Option<usize> {
    let line = *lines.get(i)?;
    if let Some(c) = adornment(line) {
        let (text, under) = (*lines.get(i + 1)?, *lines.get(i + 2)?);
        if is_blank(text) || adornment(text).is_some() || adornment(under) != Some(c) {
            return None;
        }
        sink.title((c, true), clean(subs, text));
        return Some(i + 3);
    }
    if !starts_title(lines, i) {
        return None;
    }
    let c = adornment(lines.get(i + 1)?)?;
    sink.title((c, false), clean(subs, line));
    Some(i + 2)
}

/// Explicit markup at line `i` (`.. ` or an anonymous target `__ `): a
/// directive is read, anything else (comments, link targets, footnotes,
/// substitution definitions) is skipped with its indented block.
fn explicit<S: Sink>(
    subs: &Subs,
    lines: &[&str],
    i: usize,
    depth: usize,
    sink: &mut S,
) -> Option<usize> {
    let line = *lines.get(i)?;
    let rest = if line == ".." {
        ""
    } else if let Some(rest) = line.strip_prefix(".. ") {
        rest.trim_start()
    } else if line == "__" || line.starts_with("__ ") {
        return Some(span(lines, i + 1));
    } else {
        return None;
    };
    // An empty comment followed by a blank line is all of the comment, and the
    // indented block after it is a quote.
    if rest.is_empty() && lines.get(i + 1).is_none_or(|l| is_blank(l)) {
        return Some(i + 1);
    }
    if !rest.starts_with(['_', '[', '|']) {
        if let Some((name, args)) = directive_name(rest) {
            let (block, end) = first_indented(lines, i, args, usize::MAX);
            directive(subs, &name, &block, depth, sink);
            return Some(end);
        }
    }
    Some(span(lines, i + 1))
}

/// `name:: arguments` of a directive, the name lowercased.
fn directive_name(rest: &str) -> Option<(String, &str)> {
    let (name, args) = rest.split_once("::")?;
    let valid = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:+".contains(c));
    (valid && (args.is_empty() || args.starts_with(' ')))
        .then(|| (name.to_ascii_lowercase(), args.trim()))
}

/// A directive's argument lines (at most `max_args`) and its content, without
/// the option lines between them.
fn split_directive<'a, 'b>(block: &'b [&'a str], max_args: usize) -> (Vec<&'a str>, &'b [&'a str]) {
    let mut args = Vec::new();
    let mut k = 0;
    if block.first().is_some_and(|l| is_blank(l)) {
        k = 1;
    } else {
        while let Some(&line) = block.get(k) {
            if args.len() >= max_args || is_blank(line) || field(line).is_some() {
                break;
            }
            args.push(line);
            k += 1;
        }
    }
    while block.get(k).is_some_and(|l| field(l).is_some()) {
        k += 1;
        while block.get(k).is_some_and(|l| !is_blank(l) && indent(l) > 0) {
            k += 1;
        }
    }
    (args, block.get(k..).unwrap_or_default())
}

fn directive<S: Sink>(subs: &Subs, name: &str, block: &[&str], depth: usize, sink: &mut S) {
    if let Some((_, label)) = ADMONITIONS.iter().find(|(n, _)| *n == name) {
        let (_, content) = split_directive(block, 0);
        labelled(label, nested(subs, content, depth), sink);
        return;
    }
    if DROPPED_DIRECTIVES.contains(&name) {
        return;
    }
    match name {
        "code-block" | "code" | "sourcecode" => {
            let (_, content) = split_directive(block, 1);
            if let Some(code) = code_block(content) {
                sink.block(code);
            }
        }
        "parsed-literal" | "csv-table" => {
            let (_, content) = split_directive(block, usize::MAX);
            let lines: Vec<String> = content
                .iter()
                .map(|l| inline(l, subs).trim_end().to_owned())
                .collect();
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            if let Some(mut code) = code_block(&lines) {
                code.code = name == "parsed-literal";
                sink.block(code);
            }
        }
        "admonition" => {
            let (args, content) = split_directive(block, usize::MAX);
            labelled(
                &clean(subs, &args.join(" ")),
                nested(subs, content, depth),
                sink,
            );
        }
        "topic" | "sidebar" | "rubric" => {
            let (args, content) = split_directive(block, usize::MAX);
            sink.block(Block::text(clean(subs, &args.join(" "))));
            for b in nested(subs, content, depth) {
                sink.block(b);
            }
        }
        "figure" => {
            // The caption is the first paragraph; the legend after it is
            // usually about the picture's parts.
            let (_, content) = split_directive(block, usize::MAX);
            if let Some(caption) = nested(subs, content, depth).into_iter().find(|b| !b.code) {
                sink.block(caption);
            }
        }
        "versionadded" | "versionchanged" | "deprecated" | "versionremoved" => {
            let (args, content) = split_directive(block, usize::MAX);
            let args = args.join(" ");
            let (version, first) = args.split_once(' ').unwrap_or((&args, ""));
            let label = match name {
                "versionadded" => format!("New in version {version}"),
                "versionchanged" => format!("Changed in version {version}"),
                "deprecated" => format!("Deprecated since version {version}"),
                _ => format!("Removed in version {version}"),
            };
            let mut lines = vec![first, ""];
            lines.extend_from_slice(content);
            labelled(&label, nested(subs, &lines, depth), sink);
        }
        // Unknown directives (and `only`, `container`, ...): their arguments
        // are settings, their content is text.
        _ => {
            let (_, content) = split_directive(block, usize::MAX);
            for b in nested(subs, content, depth) {
                sink.block(b);
            }
        }
    }
}

/// `blocks` with `label: ` before the first, or on a line of its own before
/// literal lines.
fn labelled<S: Sink>(label: &str, blocks: Vec<Block>, sink: &mut S) {
    let mut blocks = blocks.into_iter();
    match blocks.next() {
        Some(first) if label.is_empty() => sink.block(first),
        Some(first) if !first.code => sink.block(Block::text(format!("{label}: {}", first.text))),
        Some(first) => {
            sink.block(Block::text(format!("{label}:")));
            sink.block(first);
        }
        None => return,
    }
    for b in blocks {
        sink.block(b);
    }
}

/// Literal lines without surrounding blank lines, their shared indentation
/// replaced by four spaces.
fn code_block(lines: &[&str]) -> Option<Block> {
    let lines = dedent(lines);
    let first = lines.iter().position(|l| !is_blank(l))?;
    let last = lines.iter().rposition(|l| !is_blank(l))?;
    // Indented as a Markdown code block, so that readers of the text can tell
    // code lines from prose.
    let text: Vec<String> = lines
        .get(first..=last)?
        .iter()
        .map(|l| {
            if is_blank(l) {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect();
    Some(Block {
        text: text.join("\n"),
        code: true,
    })
}

/// A paragraph from line `i`, with the literal block it introduces (`::`) or,
/// for a single line followed by an indented block, a definition list item.
fn paragraph<S: Sink>(subs: &Subs, lines: &[&str], i: usize, depth: usize, sink: &mut S) -> usize {
    let mut j = i + 1;
    while let Some(&line) = lines.get(j) {
        // Docutils runs "goals:\n* one\n* two" into the paragraph; a list
        // introduced by a colon is what such a writer meant.
        let list_after_colon = line.starts_with(['*', '-', '+'])
            && line.get(1..2) == Some(" ")
            && lines.get(j - 1).is_some_and(|l| l.ends_with(':'));
        if is_blank(line) || indent(line) > 0 || starts_title(lines, j) || list_after_colon {
            break;
        }
        j += 1;
    }
    let raw: Vec<&str> = lines
        .get(i..j)
        .unwrap_or_default()
        .iter()
        .map(|l| l.trim())
        .collect();
    let raw = raw.join(" ");
    if let Some(lead) = literal_lead(&raw) {
        if let Some(b) = para(subs, lead) {
            sink.block(b);
        }
        return match literal_block(lines, j) {
            Some((code, end)) => {
                if let Some(code) = code {
                    sink.block(code);
                }
                end
            }
            None => j,
        };
    }
    if j == i + 1 && lines.get(j).is_some_and(|l| !is_blank(l) && indent(l) > 0) {
        let (definition, end) = indented(lines, j);
        let term = clean(subs, &raw);
        sink.block(Block::text(item(
            format!("{term}\n"),
            nested(subs, &definition, depth),
        )));
        return end;
    }
    // "... can be specified as" then `::` alone: the paragraph introduces the
    // literal block as "as::" would, so it reads as "as:" does, and the code
    // after it goes with it.
    let introduces = lines.get(skip_blank(lines, j)).map(|l| l.trim()) == Some("::");
    let raw = if introduces && !raw.ends_with(['.', ':', ';', '!', '?']) {
        raw + ":"
    } else {
        raw
    };
    if let Some(b) = para(subs, &raw) {
        sink.block(b);
    }
    j
}

/// A paragraph's text before its `::`: "Run::" shows as "Run:", "Run ::" as
/// "Run", and "::" alone as nothing, as docutils renders them.
fn literal_lead(raw: &str) -> Option<&str> {
    let lead = raw.strip_suffix("::")?;
    if lead.is_empty() || lead.ends_with(char::is_whitespace) {
        Some(lead.trim_end())
    } else {
        raw.strip_suffix(':')
    }
}

/// The literal block after a `::` paragraph: indented, or quoted (every line
/// starting with the same punctuation character). `None` when there is none.
fn literal_block(lines: &[&str], start: usize) -> Option<(Option<Block>, usize)> {
    let j = skip_blank(lines, start);
    let first = *lines.get(j)?;
    if indent(first) > 0 {
        let (code, end) = indented(lines, j);
        return Some((code_block(&code), end));
    }
    let quote = first.chars().next().filter(|c| c.is_ascii_punctuation())?;
    // A title or a directive right after `::` is more likely meant than a
    // literal block quoted with `=` or `.`.
    if adornment(first).is_some() || starts_title(lines, j) || is_explicit(first) {
        return None;
    }
    let end = j + lines
        .iter()
        .skip(j)
        .take_while(|l| l.starts_with(quote))
        .count();
    Some((code_block(lines.get(j..end).unwrap_or_default()), end))
}

/// A paragraph's plain text, unless nothing or only a run of one punctuation
/// character is left.
fn para(subs: &Subs, raw: &str) -> Option<Block> {
    let text = clean(subs, raw);
    let mut chars = text.chars();
    let first = chars.next()?;
    if first.is_ascii_punctuation() && chars.all(|c| c == first) {
        return None;
    }
    Some(Block::text(text))
}

/// The kind of list an item belongs to; a list ends at an item of another kind.
#[derive(Clone, Copy, PartialEq)]
enum ListKind {
    Bullet(char),
    /// Whether the enumerator is in parentheses, and its closing character.
    Enumerated(bool, char),
    Field,
    Option,
}

/// The first line of a list item.
struct ItemStart<'a> {
    kind: ListKind,
    /// What the item's text is printed after; `None` for an auto-numbered item
    /// (`#.`), whose number is its position.
    label: Option<String>,
    /// The text after the marker.
    first: &'a str,
    /// The column of `first`, which continuation lines are dedented to.
    column: usize,
}

fn item_start<'a>(subs: &Subs, line: &'a str, next: Option<&str>) -> Option<ItemStart<'a>> {
    let column = |first: &str| {
        if first.is_empty() {
            usize::MAX
        } else {
            line.get(..line.len() - first.len())
                .unwrap_or("")
                .chars()
                .count()
        }
    };
    let mut chars = line.chars();
    if let Some(c @ ('*' | '+' | '-' | '•' | '‣' | '⁃')) = chars.next() {
        let after = chars.as_str();
        if after.is_empty() || after.starts_with(' ') {
            let first = after.trim_start();
            return Some(ItemStart {
                kind: ListKind::Bullet(c),
                label: Some("- ".into()),
                first,
                column: column(first),
            });
        }
    }
    if let Some((paren, label, close, after)) = enumerator(line) {
        // As in docutils, "A. Smith wrote" followed by more text is a
        // paragraph, not a list.
        let item = next.is_none_or(|n| is_blank(n) || indent(n) > 0 || enumerator(n).is_some());
        if item {
            let first = after.trim_start();
            let open = if paren { "(" } else { "" };
            return Some(ItemStart {
                kind: ListKind::Enumerated(paren, close),
                label: (label != "#").then(|| format!("{open}{label}{close} ")),
                first,
                column: column(first),
            });
        }
    }
    if let Some((name, first)) = field(line) {
        return Some(ItemStart {
            kind: ListKind::Field,
            label: Some(format!("{}: ", clean(subs, name))),
            first,
            column: usize::MAX,
        });
    }
    let (options, first) = option(line)?;
    Some(ItemStart {
        kind: ListKind::Option,
        label: Some(format!("{options}: ")),
        first,
        column: usize::MAX,
    })
}

/// `1.`, `a)`, `(iv)`, `#.`: whether in parentheses, the label, the closing
/// character, and the rest of the line.
fn enumerator(line: &str) -> Option<(bool, &str, char, &str)> {
    let (paren, body) = match line.strip_prefix('(') {
        Some(body) => (true, body),
        None => (false, line),
    };
    let end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))?;
    let (label, after) = body.split_at(end);
    let close = after.chars().next()?;
    let after = after.get(1..)?;
    let closes = if paren {
        close == ')'
    } else {
        close == '.' || close == ')'
    };
    let roman = |set: &str| label.len() <= 8 && label.chars().all(|c| set.contains(c));
    let valid = label == "#"
        || (label.len() <= 9 && label.bytes().all(|b| b.is_ascii_digit()))
        || (label.len() == 1 && label.bytes().all(|b| b.is_ascii_alphabetic()))
        || roman("ivxlcdm")
        || roman("IVXLCDM");
    (closes && valid && !label.is_empty() && (after.is_empty() || after.starts_with(' ')))
        .then_some((paren, label, close, after))
}

/// A field list marker, `:name: body`: the name and the body's first line. A
/// role at the start of a line (`:ref:`x` ...`) is not one.
fn field(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    if rest.starts_with([':', ' ']) {
        return None;
    }
    let mut prev = ' ';
    let mut escaped = false;
    for (k, c) in rest.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ':' {
            let after = rest.get(k + 1..).unwrap_or("");
            if after.is_empty() || after.starts_with(' ') {
                return (prev != ' ').then(|| (rest.get(..k).unwrap_or(""), after.trim_start()));
            }
            if after.starts_with('`') {
                return None;
            }
        }
        prev = c;
    }
    None
}

/// An option list item, `-a, --all  Description`: the options and the
/// description, which two spaces separate.
fn option(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_prefix("--").or_else(|| line.strip_prefix('-'))?;
    if !body.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let (options, description) = line.split_once("  ")?;
    options
        .split(", ")
        .all(|o| o.starts_with('-'))
        .then(|| (options, description.trim_start()))
}

/// A bullet, enumerated, field or option list from line `i`, one item a line
/// when every item is one block, else items apart like paragraphs.
fn list<S: Sink>(
    subs: &Subs,
    lines: &[&str],
    i: usize,
    depth: usize,
    sink: &mut S,
) -> Option<usize> {
    let kind = item_start(subs, lines.get(i)?, lines.get(i + 1).copied())?.kind;
    let mut items: Vec<(String, Vec<Block>)> = Vec::new();
    let mut j = i;
    let mut end = i;
    while let Some(start) = lines
        .get(j)
        .and_then(|l| item_start(subs, l, lines.get(j + 1).copied()))
    {
        if start.kind != kind {
            break;
        }
        let (block, item_end) = first_indented(lines, j, start.first, start.column);
        let label = start.label.unwrap_or_else(|| match kind {
            ListKind::Enumerated(true, close) => format!("({}{close} ", items.len() + 1),
            ListKind::Enumerated(false, close) => format!("{}{close} ", items.len() + 1),
            _ => String::new(),
        });
        items.push((label, nested(subs, &block, depth)));
        end = item_end;
        j = skip_blank(lines, item_end);
    }
    items.retain(|(_, blocks)| !blocks.is_empty());
    let simple = items.iter().all(|(_, blocks)| blocks.len() == 1);
    let items: Vec<String> = items
        .into_iter()
        .map(|(label, blocks)| item(label, blocks))
        .collect();
    sink.block(Block::text(items.join(if simple { "\n" } else { "\n\n" })));
    Some(end)
}

/// An item's text: `head` (its label, or a term and a line break), then its
/// blocks apart like paragraphs.
fn item(head: String, blocks: Vec<Block>) -> String {
    let texts: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
    format!("{head}{}", texts.join("\n\n"))
        .trim_end()
        .to_owned()
}

/// A line block (`| line`): each line kept as a line.
fn line_block<S: Sink>(subs: &Subs, lines: &[&str], i: usize, sink: &mut S) -> Option<usize> {
    let starts = |l: &str| l == "|" || l.starts_with("| ");
    if !starts(lines.get(i)?) {
        return None;
    }
    let mut kept: Vec<String> = Vec::new();
    let mut j = i;
    while let Some(&line) = lines.get(j) {
        if starts(line) {
            kept.push(line.get(1..).unwrap_or("").trim().to_owned());
        } else if !is_blank(line) && indent(line) > 0 {
            if let Some(last) = kept.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            break;
        }
        j += 1;
    }
    let kept: Vec<String> = kept
        .iter()
        .map(|l| clean(subs, l))
        .filter(|l| !l.is_empty())
        .collect();
    sink.block(Block::text(kept.join("\n")));
    Some(j)
}

/// `+----+----+`, the border of a grid table.
fn is_grid_border(line: &str) -> bool {
    line.len() > 2
        && line.starts_with('+')
        && line.ends_with('+')
        && line.chars().all(|c| matches!(c, '+' | '-' | '='))
}

/// A grid table from line `i`, a line per row, cells apart by " | ".
fn grid_table<S: Sink>(subs: &Subs, lines: &[&str], i: usize, sink: &mut S) -> usize {
    let top: Vec<char> = lines.get(i).map_or_else(Vec::new, |l| l.chars().collect());
    let bounds: Vec<usize> = (0..top.len())
        .filter(|&k| top.get(k) == Some(&'+'))
        .collect();
    let mut cells = vec![String::new(); bounds.len().saturating_sub(1)];
    let mut rows: Vec<String> = Vec::new();
    let mut j = i;
    while let Some(&line) = lines.get(j) {
        if !line.starts_with(['+', '|']) {
            break;
        }
        j += 1;
        if is_grid_border(line) {
            rows.extend(row(subs, &mut cells));
            continue;
        }
        // A cell's text lies between two column boundaries; a boundary with no
        // `|` (or `+`) on this line is inside a spanning cell.
        let chars: Vec<char> = line.chars().collect();
        let mut from = 0;
        for (b, &at) in bounds.iter().enumerate().skip(1) {
            let last = b + 1 == bounds.len();
            if !last && !matches!(chars.get(at), Some('|' | '+')) {
                continue;
            }
            let start = bounds.get(from).map_or(0, |s| s + 1);
            let text: String = chars
                .get(start.min(chars.len())..at.min(chars.len()))
                .unwrap_or_default()
                .iter()
                .collect();
            let text = text.trim();
            if !text.is_empty() && !text.chars().all(|c| matches!(c, '-' | '=' | '+')) {
                if let Some(cell) = cells.get_mut(from) {
                    cell.push(' ');
                    cell.push_str(text);
                }
            }
            from = b;
        }
    }
    rows.extend(row(subs, &mut cells));
    sink.block(Block::text(rows.join("\n")));
    j
}

/// A table row from its cells' texts, which are emptied for the next row.
fn row(subs: &Subs, cells: &mut [String]) -> Option<String> {
    let texts: Vec<String> = cells
        .iter_mut()
        .map(|c| clean(subs, &std::mem::take(c)))
        .filter(|c| !c.is_empty())
        .collect();
    (!texts.is_empty()).then(|| texts.join(" | "))
}

/// `=====  =====`, a border of a simple table (two columns or more).
fn is_simple_border(line: &str) -> bool {
    line.starts_with('=') && line.contains(' ') && line.chars().all(|c| c == '=' || c == ' ')
}

/// Where simple tables can end, for every line of a block: the next closing
/// border (a border followed by a blank line or the end) and the next two
/// blank lines in a row, which no table spans. Found once per block, so tables
/// are read in linear time.
struct TableEnds {
    closing: Vec<usize>,
    gap: Vec<usize>,
}

impl TableEnds {
    fn new(lines: &[&str]) -> TableEnds {
        let n = lines.len();
        let (mut closing, mut gap) = (vec![usize::MAX; n + 1], vec![usize::MAX; n + 1]);
        for k in (0..n).rev() {
            let line = lines.get(k).copied().unwrap_or("");
            let blank_next = lines.get(k + 1).is_none_or(|l| is_blank(l));
            closing[k] = if is_simple_border(line) && blank_next {
                k
            } else {
                closing[k + 1]
            };
            gap[k] = if is_blank(line) && blank_next && k + 1 < n {
                k
            } else {
                gap[k + 1]
            };
        }
        TableEnds { closing, gap }
    }
}

/// A simple table from line `i`, a line per row, cells apart by " | ".
fn simple_table<S: Sink>(
    subs: &Subs,
    lines: &[&str],
    i: usize,
    ends: &TableEnds,
    sink: &mut S,
) -> usize {
    let top: Vec<char> = lines.get(i).map_or_else(Vec::new, |l| l.chars().collect());
    let columns: Vec<usize> = (0..top.len())
        .filter(|&k| top.get(k) == Some(&'=') && (k == 0 || top.get(k - 1) == Some(&' ')))
        .collect();
    let closing = ends.closing.get(i + 1).copied().unwrap_or(usize::MAX);
    let gap = ends.gap.get(i + 1).copied().unwrap_or(usize::MAX);
    // Without a closing border before a gap, the table is what runs to the
    // next blank line.
    let end = if closing < gap {
        closing + 1
    } else {
        i + 1
            + lines
                .iter()
                .skip(i + 1)
                .take_while(|l| !is_blank(l))
                .count()
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for line in lines.get(i + 1..end).unwrap_or_default() {
        if line.chars().all(|c| matches!(c, '=' | '-' | ' ')) {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let cells: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(k, &from)| {
                let to = columns
                    .get(k + 1)
                    .copied()
                    .unwrap_or(chars.len())
                    .min(chars.len());
                let text: String = chars
                    .get(from.min(to)..to)
                    .unwrap_or_default()
                    .iter()
                    .collect();
                text.trim().to_owned()
            })
            .collect();
        // A row whose first cell is empty continues the row above.
        match rows.last_mut() {
            Some(above) if cells.first().is_some_and(String::is_empty) => {
                for (a, c) in above.iter_mut().zip(cells) {
                    if !c.is_empty() {
                        a.push(' ');
                        a.push_str(&c);
                    }
                }
            }
            _ => rows.push(cells),
        }
    }
    let rows: Vec<String> = rows
        .iter_mut()
        .filter_map(|cells| row(subs, cells))
        .collect();
    sink.block(Block::text(rows.join("\n")));
    end
}

/// Inline markup removed and white space collapsed.
fn clean(subs: &Subs, text: &str) -> String {
    inline(text, subs)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Characters after which inline markup may start.
const OPENERS: &str = "-:/'\"<([{‘“«’";
/// Characters before which inline markup may end.
const CLOSERS: &str = "-.,:;!?\\/'\")]}>’”»…";

/// Kinds of end-string, indexing the memo of those known to be absent.
const LITERAL: usize = 0;
const STRONG: usize = 1;
const EMPHASIS: usize = 2;
const INTERPRETED: usize = 3;
const SUBSTITUTION: usize = 4;

/// Text with its inline markup replaced by what it shows: ``literal`` and
/// *emphasis* by their text, roles and links by their title or target,
/// substitutions by their text, footnote references by nothing.
fn inline(text: &str, subs: &Subs) -> String {
    let c: Vec<char> = text.chars().collect();
    // An end-string searched for in vain is absent from there on, so each kind
    // is searched to the end at most once: linear time on any input.
    let mut absent = [false; 5];
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&ch) = c.get(i) {
        if ch == '\\' {
            // An escaped character is itself; escaped white space is nothing.
            if let Some(next) = c.get(i + 1).filter(|n| !n.is_whitespace()) {
                out.push(*next);
            }
            i += 2;
            continue;
        }
        if can_start(&c, i) {
            if let Some((shown, end)) = markup(&c, i, subs, &mut absent) {
                if shown.is_empty() {
                    // A footnote reference, or a substitution that is an
                    // image: the space before it goes with it.
                    out.truncate(out.trim_end().len());
                }
                out.push_str(&shown);
                i = end;
                continue;
            }
        }
        if let Some(end) = reference_underscores(&c, i) {
            i = end;
            continue;
        }
        out.push(ch);
        i += 1;
    }
    out
}

fn can_start(c: &[char], i: usize) -> bool {
    i.checked_sub(1)
        .and_then(|p| c.get(p))
        .is_none_or(|p| p.is_whitespace() || OPENERS.contains(*p))
}

fn can_end(c: &[char], k: usize) -> bool {
    c.get(k)
        .is_none_or(|n| n.is_whitespace() || CLOSERS.contains(*n))
}

/// Whether a start-string of `len` characters at `i` opens markup: text follows
/// it, and it is not quoted, as in `'*'` or `(*)`.
fn opens(c: &[char], i: usize, len: usize) -> bool {
    let Some(&next) = c.get(i + len) else {
        return false;
    };
    let quoted = i
        .checked_sub(1)
        .and_then(|p| c.get(p))
        .is_some_and(|&prev| {
            [
                ('\'', '\''),
                ('"', '"'),
                ('(', ')'),
                ('[', ']'),
                ('{', '}'),
                ('<', '>'),
                ('‘', '’'),
                ('“', '”'),
                ('«', '»'),
            ]
            .contains(&(prev, next))
        });
    !next.is_whitespace() && !quoted
}

/// The index after `pat` at `e` when it can end markup there: text right
/// before it, unescaped unless `literal`.
fn closes(c: &[char], e: usize, pat: &str, literal: bool) -> Option<usize> {
    let prev = *e.checked_sub(1).and_then(|p| c.get(p))?;
    let mut k = e;
    for p in pat.chars() {
        if c.get(k) != Some(&p) {
            return None;
        }
        k += 1;
    }
    (!prev.is_whitespace() && (literal || prev != '\\')).then_some(k)
}

/// The first end-string from `from` that `end` accepts: its index and the index
/// after it.
fn find_end(
    c: &[char],
    absent: &mut [bool; 5],
    kind: usize,
    from: usize,
    end: impl Fn(&[char], usize) -> Option<usize>,
) -> Option<(usize, usize)> {
    if absent.get(kind).copied().unwrap_or(true) {
        return None;
    }
    let found = (from..c.len()).find_map(|e| end(c, e).map(|next| (e, next)));
    if found.is_none() {
        if let Some(a) = absent.get_mut(kind) {
            *a = true;
        }
    }
    found
}

/// Markup starting at `i`: what it shows and the index after it.
fn markup(c: &[char], i: usize, subs: &Subs, absent: &mut [bool; 5]) -> Option<(String, usize)> {
    let text = |a: usize, b: usize| -> String { c.get(a..b).unwrap_or_default().iter().collect() };
    let simple = |pat: &'static str, literal: bool| {
        move |c: &[char], e: usize| closes(c, e, pat, literal).filter(|&k| can_end(c, k))
    };
    match (c.get(i), c.get(i + 1)) {
        (Some('`'), Some('`')) if opens(c, i, 2) => {
            let (e, next) = find_end(c, absent, LITERAL, i + 3, simple("``", true))?;
            Some((text(i + 2, e), next))
        }
        (Some('*'), Some('*')) if opens(c, i, 2) => {
            let (e, next) = find_end(c, absent, STRONG, i + 3, simple("**", false))?;
            Some((unescape(&text(i + 2, e)), next))
        }
        (Some('*'), _) if opens(c, i, 1) => {
            let (e, next) = find_end(c, absent, EMPHASIS, i + 2, simple("*", false))?;
            Some((unescape(&text(i + 1, e)), next))
        }
        (Some('`'), _) if opens(c, i, 1) => interpreted(c, i + 1, false, absent),
        (Some('_'), Some('`')) if opens(c, i, 2) => interpreted(c, i + 2, false, absent),
        (Some(':'), _) => {
            let quote = role(c, i).filter(|&q| opens(c, q, 1))?;
            interpreted(c, quote + 1, true, absent)
        }
        // Footnote numbers mean nothing without the footnotes, which are left
        // out.
        (Some('['), _) => footnote_reference(c, i).map(|end| (String::new(), end)),
        (Some('|'), _) if opens(c, i, 1) => {
            let (e, next) = find_end(c, absent, SUBSTITUTION, i + 2, substitution_end)?;
            Some((
                subs.get(&key(&text(i + 1, e))).cloned().unwrap_or_default(),
                next,
            ))
        }
        _ => None,
    }
}

/// The index after the role-name characters from `from` (at most 64).
fn name_end(c: &[char], from: usize) -> usize {
    let cap = c.len().min(from + 64);
    (from..cap)
        .find(|&k| {
            !c.get(k)
                .is_some_and(|&ch| ch.is_ascii_alphanumeric() || "-_.+:".contains(ch))
        })
        .unwrap_or(cap)
}

/// The index of the backquote after a role name at `i` (`:ref:`, `:py:func:`).
fn role(c: &[char], i: usize) -> Option<usize> {
    let quote = name_end(c, i + 1);
    let valid = c.get(quote) == Some(&'`') && quote > i + 2 && c.get(quote - 1) == Some(&':');
    valid.then_some(quote)
}

/// Interpreted text or a phrase reference whose content starts at `start`:
/// `title <target>` shows its title, a role's bare target the target.
fn interpreted(
    c: &[char],
    start: usize,
    role: bool,
    absent: &mut [bool; 5],
) -> Option<(String, usize)> {
    let (e, next) = find_end(c, absent, INTERPRETED, start + 1, interpreted_end)?;
    let content: String = c.get(start..e).unwrap_or_default().iter().collect();
    let shown = match explicit_title(&content) {
        Some(title) => title,
        None if role => {
            // `!target` is not linked and `~a.b.c` shows `c`; either way the
            // name is the text.
            let target = content.strip_prefix('!').unwrap_or(&content);
            match target.strip_prefix('~') {
                Some(path) => path.rsplit('.').next().unwrap_or(path),
                None => target,
            }
        }
        None => &content,
    };
    Some((unescape(shown), next))
}

/// The end of interpreted text: a backquote, then `_` or `__` for a reference
/// or `:role:` for a role written after.
fn interpreted_end(c: &[char], e: usize) -> Option<usize> {
    let mut k = closes(c, e, "`", false)?;
    if c.get(k) == Some(&'_') {
        k += 1;
        if c.get(k) == Some(&'_') {
            k += 1;
        }
    } else if c.get(k) == Some(&':') {
        let end = name_end(c, k + 1);
        if end > k + 2 && c.get(end - 1) == Some(&':') {
            k = end;
        }
    }
    can_end(c, k).then_some(k)
}

fn substitution_end(c: &[char], e: usize) -> Option<usize> {
    let mut k = closes(c, e, "|", false)?;
    if c.get(k) == Some(&'_') {
        k += 1;
        if c.get(k) == Some(&'_') {
            k += 1;
        }
    }
    can_end(c, k).then_some(k)
}

/// The title of `title <target>`, or the target when the title is empty.
fn explicit_title(content: &str) -> Option<&str> {
    let inner = content.strip_suffix('>')?;
    let (title, target) = inner.rsplit_once('<')?;
    if title.is_empty() {
        return Some(target);
    }
    if !title.ends_with(char::is_whitespace) {
        return None;
    }
    let title = title.trim();
    Some(if title.is_empty() { target } else { title })
}

/// A footnote or citation reference at `i` (`[1]_`, `[#]_`, `[#note]_`,
/// `[*]_`, `[Label]_`): the index after it.
fn footnote_reference(c: &[char], i: usize) -> Option<usize> {
    let close = (i + 1..c.len().min(i + 66)).find(|&k| c.get(k) == Some(&']'))?;
    let label = c.get(i + 1..close)?;
    let valid = !label.is_empty()
        && label
            .iter()
            .all(|ch| ch.is_alphanumeric() || "#*-_.".contains(*ch));
    (valid && c.get(close + 1) == Some(&'_') && can_end(c, close + 2)).then_some(close + 2)
}

/// The underscores ending a reference name (`restic_`, `anonymous__`): the
/// index after them.
fn reference_underscores(c: &[char], i: usize) -> Option<usize> {
    if c.get(i) != Some(&'_')
        || !i
            .checked_sub(1)
            .and_then(|p| c.get(p))
            .is_some_and(|p| p.is_alphanumeric())
    {
        return None;
    }
    let end = if c.get(i + 1) == Some(&'_') {
        i + 2
    } else {
        i + 1
    };
    can_end(c, end).then_some(end)
}

/// Backslash escapes resolved: `\*` is `*`, an escaped space nothing.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
        } else if let Some(next) = chars.next().filter(|n| !n.is_whitespace()) {
            out.push(next);
        }
    }
    out
}

/// A substitution name as docutils matches it: case and spacing ignored.
fn key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The `replace::` substitutions of the file, wherever they are defined (often
/// below their uses).
fn substitutions(lines: &[&str]) -> Subs {
    let none = Subs::new();
    let mut subs = Subs::new();
    for (k, line) in lines.iter().enumerate() {
        let Some(definition) = line.trim_start().strip_prefix(".. |") else {
            continue;
        };
        let Some((name, rest)) = definition.split_once('|') else {
            continue;
        };
        let Some(text) = rest.trim_start().strip_prefix("replace::") else {
            continue;
        };
        let more = lines
            .iter()
            .skip(k + 1)
            .take(MAX_SUBSTITUTION_LINES)
            .take_while(|l| !is_blank(l) && indent(l) > indent(line))
            .map(|l| l.trim());
        let text: Vec<&str> = std::iter::once(text.trim()).chain(more).collect();
        subs.insert(key(name), clean(&none, &text.join(" ")));
    }
    subs
}

/// A line with tabs expanded to 8-column stops, as docutils reads them, and
/// no trailing white space.
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut column = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\x0b' | '\x0c' => {
                out.push(' ');
                column += 1;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The file name without its extension, for a file with no title.
fn stem(path: &str) -> String {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    if stem.is_empty() { path } else { stem }.to_owned()
}

fn parse(path: &str, bytes: &[u8], config: &str) -> Result<Vec<Document>, String> {
    if !config.trim().is_empty() {
        let _: Config = serde_json::from_str(config).map_err(|e| format!("config: {e}"))?;
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("{path} is not UTF-8 text: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<String> = text.lines().map(clean_line).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let subs = substitutions(&lines);
    let mut outline = Outline::default();
    body(&subs, &lines, 0, &mut outline);
    if outline.sections.is_empty() {
        return Err(format!("no text found in {path}"));
    }
    let sections = outline
        .sections
        .into_iter()
        .map(|(heading, blocks)| {
            let texts: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
            Section {
                heading,
                text: texts.join("\n\n"),
                page: None,
            }
        })
        .collect();
    Ok(vec![Document {
        key: String::new(),
        title: outline.title.unwrap_or_else(|| stem(path)),
        date: String::new(),
        series: String::new(),
        metadata: Vec::new(),
        sections,
    }])
}

struct Rst;

impl Guest for Rst {
    fn parse(path: String, bytes: Vec<u8>, config: String) -> Result<Vec<Document>, String> {
        parse(&path, &bytes, &config)
    }
}

export!(Rst);

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        let mut docs = parse("doc/manual.rst", text.as_bytes(), "{}").unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn sections(text: &str) -> Vec<(Vec<String>, String)> {
        doc(text)
            .sections
            .into_iter()
            .map(|s| (s.heading, s.text))
            .collect()
    }

    /// All the text of `text`, sections apart by blank lines.
    fn all_text(text: &str) -> String {
        let texts: Vec<String> = sections(text).into_iter().map(|(_, t)| t).collect();
        texts.join("\n\n")
    }

    fn path(titles: &[&str]) -> Vec<String> {
        titles.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn titles_nest_in_the_order_their_adornments_first_appear() {
        let text = "..
  Heading levels follow the Python convention:
  # with overline for parts, * for chapters, = for sections

##########
Backing up
##########

You can now back up some data.

Excluding files
***************

Patterns match whole path components.

Including ``--files-from``
==========================

One pattern per line.

Comparing snapshots
*******************

.. only a comment here

Short underlines
----

A short underline of four characters still makes a title.
";
        let d = doc(text);
        assert_eq!(d.title, "Backing up");
        assert_eq!(
            (d.key.as_str(), d.date.as_str(), d.series.as_str()),
            ("", "", "")
        );
        assert!(d.metadata.is_empty());
        assert_eq!(
            sections(text),
            vec![
                (
                    path(&["Backing up"]),
                    "You can now back up some data.".into()
                ),
                (
                    path(&["Backing up", "Excluding files"]),
                    "Patterns match whole path components.".into()
                ),
                (
                    path(&["Backing up", "Excluding files", "Including --files-from"]),
                    "One pattern per line.".into()
                ),
                // "Comparing snapshots" holds only a comment, so it is left out.
                (
                    path(&["Backing up", "Comparing snapshots", "Short underlines"]),
                    "A short underline of four characters still makes a title.".into()
                ),
            ]
        );
        // Text before the first title has no heading; without a title the
        // file's stem is the title.
        let untitled = parse("doc/faq.rst", b"Just a paragraph.\n", "").unwrap();
        assert_eq!(untitled[0].title, "faq");
        assert_eq!(untitled[0].sections[0].heading, Vec::<String>::new());
        // Titles nested in a list are kept as text, not sections.
        assert_eq!(
            sections("- Item\n\n  Inner\n  =====\n"),
            vec![(vec![], "- Item\n\nInner".into())]
        );
    }

    #[test]
    fn paragraphs_join_their_lines_and_stay_apart() {
        // With a byte-order mark, CRLF line ends and a tab.
        let text = "\u{feff}Title\r\n=====\r\n\r\n\
                    The place where your backups are saved\r\n\
                    is called a \"repository\".\r\n\r\n\r\n\
                    A key is\r\na password.\r\n\r\n\
                    Run this::\r\n\r\n\t$ restic init\r\n\r\n\
                    repository\r\n    A place where backups are saved.\r\n";
        assert_eq!(
            sections(text),
            vec![(
                path(&["Title"]),
                "The place where your backups are saved is called a \"repository\".\n\n\
                 A key is a password.\n\n\
                 Run this:\n\n    $ restic init\n\n\
                 repository\nA place where backups are saved."
                    .into()
            )]
        );
    }

    #[test]
    fn lists_keep_an_item_a_line() {
        let text = "Several options exist:

* Setting the environment variable ``RESTIC_PASSWORD``

* Specifying the path to a file with the password via the option
  ``--password-file`` or the variable ``RESTIC_PASSWORD_FILE``

-  ``--exclude`` Specify one or more times to exclude
   one or more items
-  ``--iexclude`` Same as ``--exclude`` but ignores the case

* ``--ignore-inode``: require mtime to match, but allow inode number
   and ctime to differ.

1. Finding damaged data
2. Backing up the repository

(a) one
(b) two

#. First
#. Second

A. Smith wrote this sentence,
which is not a list.

The container serves the following goals:
* Have a controlled environment
* Make it easy to build

- Run this::

      $ restic init

- Then this.
";
        assert_eq!(
            all_text(text),
            "Several options exist:

- Setting the environment variable RESTIC_PASSWORD
- Specifying the path to a file with the password via the option --password-file or the variable RESTIC_PASSWORD_FILE

- --exclude Specify one or more times to exclude one or more items
- --iexclude Same as --exclude but ignores the case

- --ignore-inode: require mtime to match, but allow inode number and ctime to differ.

1. Finding damaged data
2. Backing up the repository

(a) one
(b) two

1. First
2. Second

A. Smith wrote this sentence, which is not a list.

The container serves the following goals:

- Have a controlled environment
- Make it easy to build

- Run this:

    $ restic init

- Then this."
        );
    }

    #[test]
    fn literal_blocks_keep_their_lines_whole() {
        let text = "Backing up
==========

Run the following command::

    $ restic -r /srv/restic-repo --verbose backup ~/work
    open repository
        indented more

    snapshot 40dc1520 saved

Add these lines to the config file:

::

    ServerAliveInterval 60
    ServerAliveCountMax 240

Or like this ::

  Host foo

.. code-block:: console

    $ restic -r /srv/restic-repo backup --exclude=\"*.c\" ~/work
    enter password for repository:

.. code::

   {\"version\": 2}

A user wants to run:

::

$ restic backup --exclude \"~/documents\" ~

The repository at port 2222 can be specified as

::

    sftp://user@[::1]:2222//srv/restic-repo

Done.
";
        assert_eq!(
            sections(text),
            vec![(
                path(&["Backing up"]),
                "Run the following command:

    $ restic -r /srv/restic-repo --verbose backup ~/work
    open repository
        indented more

    snapshot 40dc1520 saved

Add these lines to the config file:

    ServerAliveInterval 60
    ServerAliveCountMax 240

Or like this

    Host foo

    $ restic -r /srv/restic-repo backup --exclude=\"*.c\" ~/work
    enter password for repository:

    {\"version\": 2}

A user wants to run:

    $ restic backup --exclude \"~/documents\" ~

The repository at port 2222 can be specified as:

    sftp://user@[::1]:2222//srv/restic-repo

Done."
                    .into()
            )]
        );
    }

    #[test]
    fn roles_links_and_inline_markup_become_their_text() {
        let text = "See :ref:`excluding files <backup-excluding-files>` and :ref:`scripting`,
the :doc:`/manual/backup` page, :option:`--verbose`, :envvar:`RESTIC_PASSWORD`
and issue :issue:`2659`. Use ``restic check`` with *care*, **always**.
Read the `design documentation <https://example.org/design.rst>`__ or the
`REST server <https://example.org/rest-server>`_, see the `blog post`__,
`rclone`_ or rclone_ itself, [#]_ a footnote [1]_ and |version| |logo| here.
Escaped \\*stars\\* stay, and so does 2*3*4 or a lone * here.

__ https://example.org/blog

.. _rclone: https://rclone.org/

.. |version| replace:: version *0.18*
.. |logo| image:: logo.png
";
        assert_eq!(
            all_text(text),
            "See excluding files and scripting, the /manual/backup page, --verbose, \
             RESTIC_PASSWORD and issue 2659. Use restic check with care, always. Read the \
             design documentation or the REST server, see the blog post, rclone or rclone \
             itself, a footnote and version 0.18 here. Escaped *stars* stay, and so does \
             2*3*4 or a lone * here."
        );
    }

    #[test]
    fn directives_keep_their_text_and_comments_are_dropped() {
        let text = "Repositories
============

.. _Amazon S3:

.. note:: Please be aware that SFTP servers do not expand the tilde
          character (``~``).

.. warning::

   Remembering your password is important!

   .. code-block:: console

      $ restic key list

.. admonition:: Good to know

   Keys can be added later.

.. important:: Read this.

..
  A comment spanning
  several lines.

.. this is a comment too
   with a second line

.. toctree::
   :maxdepth: 2

   010_introduction

.. image:: images/bucket.png
   :alt: a bucket

.. include:: design.rst

.. literalinclude:: example.go

.. only:: html

   Shown in the HTML build.

.. tabs::
   :sync: yes

   Content of an unknown directive.

.. figure:: images/user.png
   :width: 50%

   The user list.

.. versionadded:: 0.17 The ``--insecure-no-password`` option.

.. [1] A footnote body.

.. |product| image:: logo.png

.. raw:: html

   <b>raw</b>
";
        assert_eq!(
            all_text(text),
            "Note: Please be aware that SFTP servers do not expand the tilde character (~).

Warning: Remembering your password is important!

    $ restic key list

Good to know: Keys can be added later.

Important: Read this.

Shown in the HTML build.

Content of an unknown directive.

The user list.

New in version 0.17: The --insecure-no-password option."
        );
    }

    #[test]
    fn tables_become_rows_of_cells() {
        let text = "+--------------------+-------------------------+------------------+
| Repository version | Required restic version | Comment          |
+====================+=========================+==================+
| ``1``              | Any                     |                  |
+--------------------+-------------------------+------------------+
| ``2``              | 0.14.0 or newer         | Current default, |
|                    |                         | compressed       |
+--------------------+-------------------------+------------------+

=====  ==========================
Code   Description
=====  ==========================
0      Command was successful
1      Command failed, see command
       help for more details
=====  ==========================

After the tables.
";
        assert_eq!(
            all_text(text),
            "Repository version | Required restic version | Comment
1 | Any
2 | 0.14.0 or newer | Current default, compressed

Code | Description
0 | Command was successful
1 | Command failed, see command help for more details

After the tables."
        );
    }

    #[test]
    fn bad_input_and_config_are_errors() {
        let err = parse("doc/bad.rst", &[b'T', 0xff, 0xfe, b'\n'], "").unwrap_err();
        assert!(
            err.contains("doc/bad.rst") && err.contains("UTF-8"),
            "{err}"
        );
        let empty = "References\n==========\n\n.. toctree::\n\n   design\n\n.. a comment\n";
        assert_eq!(
            parse("doc/index.rst", empty.as_bytes(), "").unwrap_err(),
            "no text found in doc/index.rst"
        );
        assert_eq!(
            parse("doc/blank.rst", b"", "{}").unwrap_err(),
            "no text found in doc/blank.rst"
        );
        let unknown = parse("a.rst", b"Text.\n", r#"{"headings":1}"#).unwrap_err();
        assert!(
            unknown.starts_with("config: unknown field `headings`"),
            "{unknown}"
        );
        assert!(parse("a.rst", b"Text.\n", " ").is_ok());
    }

    /// A page using every construct above.
    const MANUAL: &str = "..
  Heading levels: # with overline, * for chapters, = for sections.

##########################
Preparing a new repository
##########################

For automated backups, restic supports the environment variable
``RESTIC_REPOSITORY``; see :ref:`scripting <env>` and :ref:`caching`. Have a
look at the `design documentation <https://example.org/design.rst>`__.

* Setting ``RESTIC_PASSWORD``
* Specifying ``--password-file``, see `the docs`__

__ https://example.org/docs

+---------+-----------+
| Version | Restic    |
+=========+===========+
| ``2``   | 0.14.0    |
+---------+-----------+

SFTP
****

.. code-block:: console

    $ restic -r sftp:user@host:/srv/restic-repo init
    enter password for new repository:

.. note:: Please be aware that SFTP servers close connections when no data
          is received. See :doc:`/faq`.

::

    Host foo
        User bar

Group accessible repositories
=============================

1. Run ``chgrp``:

   .. code-block:: console

      $ chgrp -R restic-users /srv/restic-repo

#. Then |name|.

=====  ========
Code   Meaning
=====  ========
0      success
=====  ========

.. _rclone: https://rclone.org/
.. |name| replace:: run **restic** again
";

    #[test]
    fn markup_never_leaks_into_the_text() {
        let d = doc(MANUAL);
        assert_eq!(d.title, "Preparing a new repository");
        let headings: Vec<Vec<String>> = d.sections.iter().map(|s| s.heading.clone()).collect();
        assert_eq!(
            headings,
            vec![
                path(&["Preparing a new repository"]),
                path(&["Preparing a new repository", "SFTP"]),
                path(&[
                    "Preparing a new repository",
                    "SFTP",
                    "Group accessible repositories"
                ]),
            ]
        );
        for s in &d.sections {
            for line in s.text.lines() {
                // Code lines, indented by four spaces, keep their literal
                // content; only prose lines start without whitespace.
                if line.starts_with("    ") {
                    continue;
                }
                assert!(
                    !line.starts_with(char::is_whitespace),
                    "indented prose line {line:?} in {:?}",
                    s.text
                );
                for bad in ["``", ":ref:", ":doc:", "<http", "__", ".. "] {
                    assert!(!line.contains(bad), "{bad:?} in {:?}", s.text);
                }
                assert!(
                    adornment(line.trim()).is_none(),
                    "adornment line {line:?} in {:?}",
                    s.text
                );
            }
        }
        let text: Vec<&str> = d.sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            text,
            vec![
                "For automated backups, restic supports the environment variable RESTIC_REPOSITORY; \
                 see scripting and caching. Have a look at the design documentation.\n\n\
                 - Setting RESTIC_PASSWORD\n\
                 - Specifying --password-file, see the docs\n\n\
                 Version | Restic\n\
                 2 | 0.14.0",
                "    $ restic -r sftp:user@host:/srv/restic-repo init\n    \
                 enter password for new repository:\n\n\
                 Note: Please be aware that SFTP servers close connections when no data is \
                 received. See /faq.\n\n    \
                 Host foo\n        User bar",
                "1. Run chgrp:\n\n    \
                 $ chgrp -R restic-users /srv/restic-repo\n\n\
                 2. Then run restic again.\n\n\
                 Code | Meaning\n\
                 0 | success",
            ]
        );
    }

    #[test]
    fn no_input_makes_it_panic_or_take_long() {
        // Every prefix, cut anywhere: unclosed markup, half tables, a
        // directive without its body.
        for (end, _) in MANUAL.char_indices() {
            let _ = parse("p.rst", &MANUAL.as_bytes()[..end], "");
        }
        let mut hostile = vec![
            "*".repeat(20_000),
            "`a ".repeat(10_000),
            ":r:`x ".repeat(5_000),
            "|a ".repeat(10_000),
            "[1 ".repeat(10_000),
            "=== ===\nrow\n".repeat(3_000),
            "+--+\n| a |\n".repeat(3_000),
            "x\n=\n".repeat(3_000),
            "\r\r\n\u{0}\t\u{b}".repeat(1_000),
            "- \n".repeat(3_000),
            ".. |a| replace:: |a|\n".repeat(1_000),
        ];
        // Each line indented one more than the last: nesting without end.
        hostile.push((0..500).map(|n| format!("{}a\n", " ".repeat(n))).collect());
        hostile.push(
            (0..500)
                .map(|n| format!("{}- a\n", " ".repeat(2 * n)))
                .collect(),
        );
        for text in &hostile {
            let started = std::time::Instant::now();
            let _ = parse("h.rst", text.as_bytes(), "");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{:?}...",
                &text[..20]
            );
        }
    }
}
