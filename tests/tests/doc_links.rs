//! The user documentation stays true to the repository: every markdown link in
//! README.md, CHANGELOG.md, docs/*.md and plugins/*.md names a file of this
//! repository, and every `#anchor` a heading of its target. A link that leaves
//! the repository (a scheme, an absolute path, `..` past the root) fails: the
//! docs must read the same in any checkout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use candor_e2e::markdown::lines_outside_fences;

/// The workspace root.
fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().expect("workspace root")
}

/// The markdown files whose links are checked, relative to the root.
fn checked_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("CHANGELOG.md")];
    for dir in ["docs", "plugins"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}/: {e}"))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "md"))
            .map(|p| p.strip_prefix(root).expect("under the root").to_path_buf())
            .collect();
        found.sort();
        files.extend(found);
    }
    for file in &files {
        assert!(root.join(file).is_file(), "{} is missing", file.display());
    }
    files
}

/// The line with its inline code spans blanked out (same length), so that
/// `[n]` or `a](b)` inside backquotes is not taken for a link.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '`' {
            let run = chars[i..].iter().take_while(|c| **c == '`').count();
            // The closing run of the same length, if any.
            let mut j = i + run;
            let mut close = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let r = chars[j..].iter().take_while(|c| **c == '`').count();
                    if r == run {
                        close = Some(j);
                        break;
                    }
                    j += r;
                } else {
                    j += 1;
                }
            }
            if let Some(j) = close {
                out.extend(std::iter::repeat_n('x', j + run - i));
                i = j + run;
                continue;
            }
            out.extend(std::iter::repeat_n('`', run));
            i += run;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The targets of inline links and images (`[text](target)`), reference
/// definitions (`[ref]: target`) and autolinks (`<scheme:...>`) on one line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix('[') {
        if let Some(end) = rest.find("]:") {
            if !rest[..end].contains(']') {
                let target = rest[end + 2..].split_whitespace().next().unwrap_or("");
                targets.push(target.trim_matches(['<', '>']).to_owned());
            }
        }
    }
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(pos) = line[from..].find("](") {
        let start = from + pos + 2;
        let mut depth = 1;
        let mut end = start;
        while end < bytes.len() {
            match bytes[end] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        let inner = line[start..end].trim();
        let target = if let Some(rest) = inner.strip_prefix('<') {
            rest.split('>').next().unwrap_or("")
        } else {
            inner.split_whitespace().next().unwrap_or("")
        };
        targets.push(target.to_owned());
        from = end.min(bytes.len());
    }
    let mut from = 0;
    while let Some(pos) = line[from..].find('<') {
        let start = from + pos + 1;
        let end = line[start..].find('>').map_or(line.len(), |e| start + e);
        let inside = &line[start..end];
        if scheme(inside).is_some() && !inside.contains(char::is_whitespace) {
            targets.push(inside.to_owned());
        }
        from = start;
    }
    targets
}

/// The URL scheme of a link target, if it has one (`https`, `mailto`, `file`).
fn scheme(target: &str) -> Option<&str> {
    let colon = target.find(':')?;
    let name = &target[..colon];
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(name)
}

/// GitHub's anchor for a heading: inline markup rendered to its text, then
/// lowercase, punctuation other than `-` and `_` dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    // Links render as their text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown file's ATX headings, with GitHub's `-1`, `-2`
/// suffixes for repeated ones.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line, in_fence) in lines_outside_fences(text) {
        if in_fence {
            continue;
        }
        let trimmed = line.trim_start();
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || line.len() - trimmed.len() > 3 {
            continue;
        }
        let rest = &trimmed[hashes..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue;
        }
        let heading = rest.trim().trim_end_matches('#').trim();
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// `path` with `.` and `..` resolved without touching the file system; None
/// when `..` climbs above the start.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Why a link of `file` (relative to the root) is broken, or None.
fn check_link(root: &Path, file: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("empty target".into());
    }
    if let Some(s) = scheme(target) {
        return Some(format!(
            "a `{s}:` link leaves the repository; name a file of it instead"
        ));
    }
    if target.starts_with('/') || target.starts_with('\\') {
        return Some("an absolute path leaves the repository".into());
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else {
        let joined = file.parent().unwrap_or(Path::new("")).join(path);
        match normalise(&joined) {
            Some(p) => p,
            None => return Some("the path leaves the repository".into()),
        }
    };
    let on_disk = root.join(&resolved);
    if !on_disk.exists() {
        return Some(format!("{} does not exist", resolved.display()));
    }
    // A symbolic link may still point outside.
    match on_disk.canonicalize() {
        Ok(real) if real.starts_with(root) => {}
        _ => return Some(format!("{} leaves the repository", resolved.display())),
    }
    if let Some(anchor) = anchor {
        if on_disk.extension().is_none_or(|e| e != "md") {
            return Some(format!(
                "#{anchor}: {} is not a markdown file",
                resolved.display()
            ));
        }
        let text = std::fs::read_to_string(&on_disk).expect("markdown file");
        if !anchors(&text).contains(anchor) {
            return Some(format!(
                "no heading of {} has the anchor #{anchor}",
                resolved.display()
            ));
        }
    }
    None
}

#[test]
fn every_link_stays_in_the_repository_and_resolves() {
    let root = root();
    let mut broken = Vec::new();
    let mut links = 0;
    for file in checked_files(&root) {
        let text = std::fs::read_to_string(root.join(&file)).expect("markdown file");
        for (number, line, in_fence) in lines_outside_fences(&text) {
            if in_fence {
                continue;
            }
            for target in link_targets(line) {
                links += 1;
                if let Some(why) = check_link(&root, &file, &target) {
                    broken.push(format!("{}:{number}: ({target}): {why}", file.display()));
                }
            }
        }
    }
    assert!(links > 0, "no links found: is the parser broken?");
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn the_link_checker_knows_a_broken_link() {
    let root = root();
    let readme = Path::new("README.md");
    assert_eq!(
        link_targets("see [a](x.md#y) and `[b](z)` and <https://e.org>"),
        ["x.md#y", "https://e.org"]
    );
    assert!(check_link(&root, readme, "https://example.org").is_some());
    assert!(check_link(&root, readme, "file:///etc/passwd").is_some());
    assert!(check_link(&root, readme, "/etc/passwd").is_some());
    assert!(check_link(&root, readme, "../outside.md").is_some());
    assert!(check_link(&root, readme, "docs/no-such-page.md").is_some());
    assert!(check_link(&root, readme, "#no-such-heading").is_some());
    assert!(check_link(&root, readme, "#documentation").is_none());
    assert!(check_link(&root, Path::new("docs/cli.md"), "../README.md#two-commands").is_none());
    assert_eq!(
        slug("The deployment file: `candor.toml`"),
        "the-deployment-file-candortoml"
    );
    assert_eq!(
        slug("2026-12-06: the cost of it"),
        "2026-12-06-the-cost-of-it"
    );
    assert_eq!(
        anchors("# A\n## A\n```\n# not a heading\n```\n"),
        BTreeSet::from(["a".to_owned(), "a-1".to_owned()])
    );
}
