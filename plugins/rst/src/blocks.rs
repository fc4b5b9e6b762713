//! Body elements: the reading loop over one indentation level, section
//! titles, paragraphs, literal blocks and line blocks.

use crate::directives::explicit;
use crate::inline::clean;
use crate::lines::{
    adornment, dedent, indent, indented, is_blank, is_explicit, skip_blank, starts_title,
};
use crate::lists::{item, list};
use crate::outline::{Block, Sink};
use crate::subs::Subs;
use crate::tables::{grid_table, is_grid_border, is_simple_border, simple_table, TableEnds};

/// Nesting deeper than this (a list in a quote in a directive ...) is kept as
/// plain lines: every level is a recursive call, and the stack must stay small
/// whatever the input.
const MAX_DEPTH: usize = 16;

/// Reads `lines` (one indentation level, dedented) into `sink`.
pub(crate) fn body<S: Sink>(subs: &Subs, lines: &[&str], depth: usize, sink: &mut S) {
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

pub(crate) fn nested(subs: &Subs, lines: &[&str], depth: usize) -> Vec<Block> {
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

/// Literal lines without surrounding blank lines, their shared indentation
/// replaced by four spaces.
pub(crate) fn code_block(lines: &[&str]) -> Option<Block> {
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
