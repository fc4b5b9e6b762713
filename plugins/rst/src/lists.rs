//! Bullet, enumerated, field and option lists, and the items they (and
//! definition lists) are made of.

use crate::blocks::nested;
use crate::inline::clean;
use crate::lines::{first_indented, indent, is_blank, skip_blank};
use crate::outline::{Block, Sink};
use crate::subs::Subs;

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
pub(crate) fn field(line: &str) -> Option<(&str, &str)> {
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
pub(crate) fn list<S: Sink>(
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
pub(crate) fn item(head: String, blocks: Vec<Block>) -> String {
    let texts: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
    format!("{head}{}", texts.join("\n\n"))
        .trim_end()
        .to_owned()
}
