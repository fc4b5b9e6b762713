//! Line-level reading: blank lines, indentation, adornment lines and titles,
//! and the indented blocks that body elements are made of.

pub(crate) fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

pub(crate) fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

pub(crate) fn skip_blank(lines: &[&str], mut i: usize) -> usize {
    while lines.get(i).is_some_and(|l| is_blank(l)) {
        i += 1;
    }
    i
}

/// The character of a line made of one repeated punctuation character.
pub(crate) fn adornment(line: &str) -> Option<char> {
    let mut chars = line.chars();
    let c = chars.next()?;
    (c.is_ascii_punctuation() && chars.all(|x| x == c)).then_some(c)
}

pub(crate) fn is_explicit(line: &str) -> bool {
    line == ".." || line.starts_with(".. ")
}

/// Whether `under` underlines `text`. Docutils also takes an underline shorter
/// than its title when it has at least four characters.
fn underlines(text: &str, under: &str) -> bool {
    let (t, u) = (text.trim().chars().count(), under.chars().count());
    adornment(under).is_some() && (u >= t || u >= 4)
}

/// Whether line `i` is the text of an underlined title.
pub(crate) fn starts_title(lines: &[&str], i: usize) -> bool {
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
pub(crate) fn span(lines: &[&str], start: usize) -> usize {
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
pub(crate) fn dedent<'a>(lines: &[&'a str]) -> Vec<&'a str> {
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
pub(crate) fn indented<'a>(lines: &[&'a str], start: usize) -> (Vec<&'a str>, usize) {
    let end = span(lines, start);
    (dedent(lines.get(start..end).unwrap_or_default()), end)
}

/// An element whose first line is `first` (the text after its marker on line
/// `i`) and whose body is the indented block below, dedented to `column` (the
/// column of `first`, `usize::MAX` when unknown) or less: docutils' reading of
/// list items and directives.
pub(crate) fn first_indented<'a>(
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
