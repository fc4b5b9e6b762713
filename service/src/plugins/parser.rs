//! Calls to `parser` plugins and the checks on what they return.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::{control, Plugin, Pre};

mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "parser" });
}

use bindings::candor::plugin::types as wit;
pub(super) use bindings::ParserPre;

/// A document a parser produced, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginDocument {
    /// Unique within the file; empty when the file is one document.
    pub key: String,
    /// Title.
    pub title: String,
    /// Date, when the parser gave one.
    pub date: Option<NaiveDate>,
    /// Series, when the parser gave one.
    pub series: Option<String>,
    /// Extra fields, each key once.
    pub metadata: BTreeMap<String, String>,
    /// Content in reading order; at least one section has text.
    pub sections: Vec<PluginSection>,
}

/// A section of a [`PluginDocument`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginSection {
    /// Enclosing headings, outermost first.
    pub heading: Vec<String>,
    /// The text.
    pub text: String,
    /// 1-based page.
    pub page: Option<u32>,
}

/// Highest page number a section may give.
pub const MAX_PAGE: u32 = 1_000_000;

/// An RFC 3339 date or date-time, as its calendar day, in years 0001 to 9999
/// (as RFC 3339 has them).
fn parse_date(s: &str) -> Option<NaiveDate> {
    use chrono::Datelike;
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.date_naive())
        })
        .filter(|d| (1..=9999).contains(&d.year()))
}

impl Plugin {
    /// Runs the parser on one file: `path` relative to the corpus folder, its
    /// `bytes`, and the plugin's `config` as a JSON object.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Plugin`] when this plugin is not a parser, when the call
    /// fails or hits a limit, when the parser rejects the file, or when a document
    /// is malformed (bad date, duplicate key, no text).
    pub fn parse(
        &self,
        path: &str,
        bytes: &[u8],
        config: &str,
    ) -> crate::Result<Vec<PluginDocument>> {
        let docs = self.parse_checked(path, bytes, config);
        super::health::record(&self.name, docs.is_ok());
        docs
    }

    /// [`Plugin::parse`], before its outcome is recorded.
    fn parse_checked(
        &self,
        path: &str,
        bytes: &[u8],
        config: &str,
    ) -> crate::Result<Vec<PluginDocument>> {
        let Pre::Parser(pre) = &self.pre else {
            return Err(self.fail("is a guardrail, not a parser"));
        };
        let result = self.call(|store| {
            pre.instantiate(&mut *store)?
                .call_parse(&mut *store, path, bytes, config)
        })?;
        let docs = result.map_err(|msg| self.fail(format!("rejected {path}: {msg}")))?;
        self.check_size(docs.iter().map(size).sum())?;
        let mut keys = HashSet::new();
        docs.into_iter()
            .enumerate()
            .map(|(i, d)| self.check_document(path, i, d, &mut keys))
            .collect()
    }

    /// Checks document `i` of file `path`, whose key must not be among `keys`
    /// (it joins them).
    fn check_document(
        &self,
        path: &str,
        i: usize,
        d: wit::Document,
        keys: &mut HashSet<String>,
    ) -> crate::Result<PluginDocument> {
        let which = if d.key.is_empty() {
            format!("document {i}")
        } else {
            format!("document `{}`", crate::printable::escape(&d.key))
        };
        let fail = |cause: String| self.fail(format!("{path}: {which}: {cause}"));
        if !keys.insert(d.key.clone()) {
            return Err(fail("the key is used twice".into()));
        }
        let date = match d.date.trim() {
            "" => None,
            s => Some(parse_date(s).ok_or_else(|| {
                fail(format!("date `{s}` is not an RFC 3339 date (2024-05-01 or 2024-05-01T12:00:00Z) in years 0001 to 9999"))
            })?),
        };
        for (field, text) in [("key", &d.key), ("title", &d.title)] {
            if let Some(c) = control(text) {
                return Err(fail(format!("the {field} holds a control character ({c})")));
            }
        }
        if let Some(p) = d
            .sections
            .iter()
            .filter_map(|s| s.page)
            .find(|p| !(1..=MAX_PAGE).contains(p))
        {
            return Err(fail(format!("page {p} is not in 1..={MAX_PAGE}")));
        }
        let metadata = metadata_map(d.metadata, &fail)?;
        if d.sections.iter().all(|s| s.text.trim().is_empty()) {
            return Err(fail("no section has text".into()));
        }
        Ok(PluginDocument {
            key: d.key,
            title: d.title,
            date,
            series: Some(d.series).filter(|s| !s.trim().is_empty()),
            metadata,
            sections: d
                .sections
                .into_iter()
                .map(|s| PluginSection {
                    heading: s.heading,
                    text: s.text,
                    page: s.page,
                })
                .collect(),
        })
    }
}

/// A document's metadata entries as a map; `fail` words what is wrong with a
/// key (a control character, or given twice).
fn metadata_map(
    entries: Vec<wit::MetadataEntry>,
    fail: &dyn Fn(String) -> crate::Error,
) -> crate::Result<BTreeMap<String, String>> {
    let mut metadata = BTreeMap::new();
    for m in entries {
        if let Some(c) = control(&m.key) {
            return Err(fail(format!(
                "metadata key `{}` holds a control character ({c})",
                crate::printable::escape(&m.key)
            )));
        }
        if metadata.contains_key(&m.key) {
            return Err(fail(format!("metadata key `{}` is given twice", m.key)));
        }
        metadata.insert(m.key, m.value);
    }
    Ok(metadata)
}

/// The bytes of text a parsed document holds, counted against the result cap.
fn size(d: &wit::Document) -> usize {
    d.key.len()
        + d.title.len()
        + d.date.len()
        + d.series.len()
        + d.metadata
            .iter()
            .map(|m| m.key.len() + m.value.len())
            .sum::<usize>()
        + d.sections
            .iter()
            .map(|s| s.text.len() + s.heading.iter().map(String::len).sum::<usize>())
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_rfc_3339_days_or_times() {
        assert_eq!(
            super::parse_date("2024-05-01"),
            chrono::NaiveDate::from_ymd_opt(2024, 5, 1)
        );
        assert_eq!(
            super::parse_date("2024-05-01T23:30:00-02:00"),
            chrono::NaiveDate::from_ymd_opt(2024, 5, 1)
        );
        assert_eq!(super::parse_date("May 1st"), None);
        assert_eq!(super::parse_date("2024-13-01"), None);
        assert_eq!(super::parse_date("-0044-03-15"), None);
        assert_eq!(super::parse_date("0000-01-01"), None);
        assert_eq!(super::parse_date("+10000-01-01"), None);
        assert_eq!(
            super::parse_date("0001-01-01"),
            chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        );
    }
}
