//! Explicit markup: directives, whose text is kept or dropped by kind, and the
//! comments, link targets and definitions skipped with their blocks.

use crate::blocks::{code_block, nested};
use crate::inline::{clean, inline};
use crate::lines::{first_indented, indent, is_blank, span};
use crate::lists::field;
use crate::outline::{Block, Sink};
use crate::subs::Subs;

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

/// Explicit markup at line `i` (`.. ` or an anonymous target `__ `): a
/// directive is read, anything else (comments, link targets, footnotes,
/// substitution definitions) is skipped with its indented block.
pub(crate) fn explicit<S: Sink>(
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
