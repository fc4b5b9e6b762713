//! Substitution definitions (`.. |name| replace:: text`), collected before the
//! file is read.

use std::collections::HashMap;

use crate::inline::clean;
use crate::lines::{indent, is_blank};

/// Substitution texts (`.. |name| replace:: text`) by normalised name.
pub(crate) type Subs = HashMap<String, String>;

/// How many continuation lines a substitution text may have; bounds the work
/// of finding them before the file is read.
const MAX_SUBSTITUTION_LINES: usize = 20;

/// A substitution name as docutils matches it: case and spacing ignored.
pub(crate) fn key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The `replace::` substitutions of the file, wherever they are defined (often
/// below their uses).
pub(crate) fn substitutions(lines: &[&str]) -> Subs {
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
