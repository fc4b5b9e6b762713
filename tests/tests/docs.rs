//! The user documentation stays true to the repository and to the code.
//!
//! - Links: every markdown link in README.md, CHANGELOG.md, docs/*.md and
//!   plugins/*.md names a file of this repository, and every `#anchor` a heading
//!   of its target. A link that leaves the repository (a scheme, an absolute
//!   path, `..` past the root) fails: the docs must read the same in any checkout.
//! - corpus.toml keys: the "Every key" table of docs/corpus-config.md lists
//!   exactly the keys the configuration types accept. The field names come from
//!   serde itself, through a deserializer that only records what it is asked
//!   for, so a renamed or new field cannot be missed by a hand-kept list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use candor::config::{
    AnswerSettings, Chunking, CorpusConfig, GuardrailSettings, IngestLimits, LlmSettings,
    ParserSettings, Recency, Retrieval, Source, Watch,
};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// The workspace root.
fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().expect("workspace root")
}

// ---------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------

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

/// Each line of a markdown file with whether it is inside a fenced code block
/// (fence lines count as inside).
fn lines_outside_fences(text: &str) -> Vec<(usize, &str, bool)> {
    let mut fence: Option<(char, usize)> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match (fence, marker) {
            (None, Some(c)) if run >= 3 => {
                fence = Some((c, run));
                out.push((i + 1, line, true));
            }
            (Some((c, n)), Some(m)) if m == c && run >= n && trimmed[run..].trim().is_empty() => {
                fence = None;
                out.push((i + 1, line, true));
            }
            (Some(_), _) => out.push((i + 1, line, true)),
            (None, _) => out.push((i + 1, line, false)),
        }
    }
    out
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

// ---------------------------------------------------------------------------
// corpus.toml keys
// ---------------------------------------------------------------------------

/// What a probe found; carried as the error that ends the deserialization.
#[derive(Debug)]
enum Probe {
    /// `deserialize_struct` was called: the struct's name and its fields.
    Struct(&'static str, &'static [&'static str]),
    /// A value that is not a struct (a string, number, array of them, table).
    Leaf,
    /// An error serde raised itself.
    Other(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Other(message) => f.write_str(message),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for Probe {}

impl de::Error for Probe {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Probe::Other(msg.to_string())
    }
}

/// A deserializer that produces nothing: asked for a struct, it reports the
/// struct's fields; asked for anything else, that it is a leaf. Options and
/// sequences are looked through, so `Option<LlmSettings>` and `Vec<Source>`
/// report their struct.
struct Shape;

impl<'de> de::Deserializer<'de> for Shape {
    type Error = Probe;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Leaf)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probe> {
        Err(Probe::Struct(name, fields))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Probe> {
        visitor.visit_some(Shape)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Probe> {
        visitor.visit_seq(OneElement)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct map
        enum identifier ignored_any
    }
}

/// A sequence of one element, probed with [`Shape`].
struct OneElement;

impl<'de> SeqAccess<'de> for OneElement {
    type Error = Probe;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Probe> {
        seed.deserialize(Shape).map(Some)
    }
}

/// A struct whose map holds one field, `field`, whose value is probed with
/// [`Shape`]: what the field's type asks for is what it is.
struct OneField(&'static str);

impl<'de> de::Deserializer<'de> for OneField {
    type Error = Probe;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Probe> {
        visitor.visit_map(FieldMap { key: Some(self.0) })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct FieldMap {
    key: Option<&'static str>,
}

impl<'de> MapAccess<'de> for FieldMap {
    type Error = Probe;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Probe> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Probe> {
        seed.deserialize(Shape)
    }
}

/// The serde name and field names of a struct type.
fn shape_of<T: DeserializeOwned>() -> (&'static str, &'static [&'static str]) {
    match T::deserialize(Shape) {
        Err(Probe::Struct(name, fields)) => (name, fields),
        Err(other) => panic!(
            "{} does not deserialize as a struct: {other:?}",
            std::any::type_name::<T>()
        ),
        Ok(_) => unreachable!("Shape produces no value"),
    }
}

/// Whether field `field` of struct `T` is itself a struct (by its name).
fn field_struct<T: DeserializeOwned>(field: &'static str) -> Option<&'static str> {
    match T::deserialize(OneField(field)) {
        Err(Probe::Struct(name, _)) => Some(name),
        Err(Probe::Leaf) => None,
        Err(other) => panic!(
            "{}.{field}: unexpected probe result {other:?}",
            std::any::type_name::<T>()
        ),
        Ok(_) => unreachable!("Shape produces no value"),
    }
}

/// A table of `corpus.toml` and the type that reads it.
struct Section {
    /// `table.sub` as the docs write it; empty for the top level.
    name: &'static str,
    shape: fn() -> (&'static str, &'static [&'static str]),
    field_struct: fn(&'static str) -> Option<&'static str>,
}

macro_rules! section {
    ($name:expr, $ty:ty) => {
        Section {
            name: $name,
            shape: shape_of::<$ty>,
            field_struct: field_struct::<$ty>,
        }
    };
}

/// Every table of `corpus.toml`. A field of one of these that is itself a
/// struct must have its own entry here (the test says so), so a new table
/// cannot go unchecked.
fn sections() -> Vec<Section> {
    vec![
        section!("", CorpusConfig),
        section!("sources", Source),
        section!("sources.parser", ParserSettings),
        section!("recency", Recency),
        section!("limits", IngestLimits),
        section!("chunking", Chunking),
        section!("retrieval", Retrieval),
        section!("guardrails", GuardrailSettings),
        section!("watch", Watch),
        section!("answer", AnswerSettings),
        section!("llm", LlmSettings),
    ]
}

/// Every key the configuration types accept, as `table.key`; panics on a
/// struct-valued field without a section of its own, or a stale section.
fn keys_in_code() -> BTreeSet<String> {
    let sections = sections();
    let by_name: BTreeMap<&str, &Section> = sections.iter().map(|s| (s.name, s)).collect();
    let mut keys = BTreeSet::new();
    let mut reached = BTreeSet::from([""]);
    let mut problems = Vec::new();
    for section in &sections {
        let (_, fields) = (section.shape)();
        assert!(!fields.is_empty(), "`{}` has no fields", section.name);
        for &field in fields {
            let path = if section.name.is_empty() {
                field.to_owned()
            } else {
                format!("{}.{field}", section.name)
            };
            match ((section.field_struct)(field), by_name.get(path.as_str())) {
                (Some(ty), Some(sub)) => {
                    let (sub_ty, _) = (sub.shape)();
                    if sub_ty != ty {
                        problems.push(format!(
                            "`{path}` is read by {ty}, but the test's table maps it to {sub_ty}"
                        ));
                    }
                    reached.insert(sub.name);
                }
                (Some(ty), None) => problems.push(format!(
                    "`{path}` is a table ({ty}) missing from sections() in this test: \
                     add it so its keys are checked"
                )),
                (None, Some(_)) => problems.push(format!(
                    "`{path}` is a plain key, but sections() in this test calls it a table"
                )),
                (None, None) => {
                    keys.insert(path);
                }
            }
        }
    }
    for section in &sections {
        if !reached.contains(section.name) {
            problems.push(format!(
                "sections() lists `{}`, which no configuration type has",
                section.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    keys
}

/// The keys listed in the "Every key" section of docs/corpus-config.md: the
/// first code span of each table row there.
fn keys_in_docs(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut found_heading = false;
    let mut keys = Vec::new();
    for (_, line, in_fence) in lines_outside_fences(text) {
        if in_fence {
            continue;
        }
        if line.starts_with('#') {
            let level = line.chars().take_while(|c| *c == '#').count();
            if level <= 2 {
                inside = line[level..].trim() == "Every key";
                found_heading |= inside;
            }
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(row) = line.trim_start().strip_prefix("| `") {
            let key = row.split('`').next().unwrap_or("");
            keys.push(key.to_owned());
        }
    }
    assert!(
        found_heading,
        "docs/corpus-config.md has no \"## Every key\" section"
    );
    keys
}

#[test]
fn every_corpus_toml_key_is_documented_and_every_documented_key_exists() {
    let text = std::fs::read_to_string(root().join("docs/corpus-config.md"))
        .expect("docs/corpus-config.md");
    let listed = keys_in_docs(&text);
    assert!(
        !listed.is_empty(),
        "the \"Every key\" section of docs/corpus-config.md lists no keys \
         (rows must start with | `key` |)"
    );
    let mut documented = BTreeSet::new();
    let mut twice = Vec::new();
    for key in &listed {
        if !documented.insert(key.clone()) {
            twice.push(key.clone());
        }
    }
    let in_code = keys_in_code();
    let undocumented: Vec<_> = in_code.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&in_code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty() && twice.is_empty(),
        "docs/corpus-config.md, section \"Every key\", against the config types:\n\
         not documented: {undocumented:?}\n\
         documented but not a key: {unknown:?}\n\
         listed twice: {twice:?}"
    );
}

#[test]
fn the_key_probe_sees_tables_and_leaves() {
    let (name, fields) = shape_of::<CorpusConfig>();
    assert_eq!(name, "CorpusConfig");
    assert!(fields.contains(&"sources") && fields.contains(&"name"));
    // An array of tables, an optional table, a plain key, a free-form table.
    assert_eq!(field_struct::<CorpusConfig>("sources"), Some("Source"));
    assert_eq!(field_struct::<CorpusConfig>("llm"), Some("LlmSettings"));
    assert_eq!(field_struct::<CorpusConfig>("name"), None);
    assert_eq!(field_struct::<ParserSettings>("config"), None);
    assert_eq!(
        keys_in_docs(
            "## Every key\n\n| key | what |\n|---|---|\n| `a.b` | x |\n\n## Next\n\n| `c` | y |\n"
        ),
        ["a.b"]
    );
}
