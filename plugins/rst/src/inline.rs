//! Inline markup: literals, emphasis, roles, references, footnote references
//! and substitutions replaced by the text they show.

use crate::subs::{key, Subs};

/// Inline markup removed and white space collapsed.
pub(crate) fn clean(subs: &Subs, text: &str) -> String {
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
pub(crate) fn inline(text: &str, subs: &Subs) -> String {
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
