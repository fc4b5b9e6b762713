//! Grid and simple tables, read as a line per row with cells apart by " | ".

use crate::inline::clean;
use crate::lines::is_blank;
use crate::outline::{Block, Sink};
use crate::subs::Subs;

/// `+----+----+`, the border of a grid table.
pub(crate) fn is_grid_border(line: &str) -> bool {
    line.len() > 2
        && line.starts_with('+')
        && line.ends_with('+')
        && line.chars().all(|c| matches!(c, '+' | '-' | '='))
}

/// A grid table from line `i`, a line per row, cells apart by " | ".
pub(crate) fn grid_table<S: Sink>(subs: &Subs, lines: &[&str], i: usize, sink: &mut S) -> usize {
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
pub(crate) fn is_simple_border(line: &str) -> bool {
    line.starts_with('=') && line.contains(' ') && line.chars().all(|c| c == '=' || c == ' ')
}

/// Where simple tables can end, for every line of a block: the next closing
/// border (a border followed by a blank line or the end) and the next two
/// blank lines in a row, which no table spans. Found once per block, so tables
/// are read in linear time.
pub(crate) struct TableEnds {
    closing: Vec<usize>,
    gap: Vec<usize>,
}

impl TableEnds {
    pub(crate) fn new(lines: &[&str]) -> TableEnds {
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
pub(crate) fn simple_table<S: Sink>(
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
