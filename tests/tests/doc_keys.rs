//! The "Every key" table of docs/corpus-config.md lists exactly the keys the
//! configuration types accept. The field names come from serde itself, through
//! a deserializer that only records what it is asked for, so a renamed or new
//! field cannot be missed by a hand-kept list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use candor::config::{
    AnswerSettings, Chunking, CorpusConfig, GuardrailSettings, IngestLimits, LlmSettings,
    ParserSettings, Recency, Retrieval, Source, Watch,
};
use candor_e2e::files::workspace;
use candor_e2e::markdown::lines_outside_fences;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

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
    let text = std::fs::read_to_string(workspace().join("docs/corpus-config.md"))
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
