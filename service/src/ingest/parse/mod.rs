//! Built-in parsers: turn one file's bytes into a [`Document`], choosing the format
//! by file extension.
//!
//! Format modules only extract a title, a date and sections; the rules every format
//! shares (UTF-8 decoding, title fallback, text cleanup, the "no text" check) live
//! here. Nothing in this module reads files or knows about chunks or indexes.

mod html;
mod markdown;
mod pdf;
mod text;

use std::path::Path;

use chrono::NaiveDate;

use super::discover::slash_string;
use super::{DocId, Document, Section};
use crate::Error;

/// A file format with a built-in parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text (`.txt`, `.text`).
    Text,
    /// Markdown with optional YAML or TOML front matter (`.md`, `.markdown`).
    Markdown,
    /// HTML (`.html`, `.htm`).
    Html,
    /// PDF with a text layer (`.pdf`).
    Pdf,
}

impl Format {
    /// The format for a file name's extension, ignoring case; `None` when no
    /// built-in parser handles it.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "txt" | "text" => Some(Format::Text),
            "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }
}

/// Parses a file with the built-in parser for its extension.
///
/// `rel_path` is the file's path relative to the corpus folder; it becomes the
/// document's id and source. The date is only what the file itself states.
///
/// # Errors
///
/// [`Error::BadDocument`] naming `rel_path` when no parser handles the extension,
/// when a text format is not valid UTF-8, when the content or its metadata cannot
/// be parsed, or when the file holds no text at all.
pub fn parse(rel_path: &Path, bytes: &[u8]) -> crate::Result<Document> {
    let bad = |reason: String| Error::BadDocument {
        path: rel_path.to_path_buf(),
        reason,
    };
    let format = Format::from_path(rel_path).ok_or_else(|| bad(unsupported(rel_path)))?;
    let parsed = match format {
        Format::Text => utf8(bytes).map(text::parse),
        Format::Markdown => utf8(bytes).and_then(markdown::parse),
        Format::Html => utf8(bytes).map(html::parse),
        Format::Pdf => pdf::parse(bytes),
    }
    .map_err(bad)?;

    let sections: Vec<Section> = parsed
        .sections
        .into_iter()
        .filter_map(|s| {
            let text = normalize_text(&s.text);
            (!text.is_empty()).then_some(Section { text, ..s })
        })
        .collect();
    if sections.is_empty() {
        return Err(bad("no text found".to_owned()));
    }
    let title = parsed
        .title
        .map(|t| collapse_whitespace(&t))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| stem_title(rel_path));
    let series = parsed
        .series
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    Ok(Document {
        id: DocId(slash_string(rel_path)),
        source: rel_path.to_path_buf(),
        title,
        date: parsed.date,
        series,
        file_dated: false,
        metadata: Default::default(),
        sections,
    })
}

/// What a format module extracts; [`parse`] applies the shared rules to it.
#[derive(Debug, Default)]
struct Parsed {
    title: Option<String>,
    date: Option<NaiveDate>,
    series: Option<String>,
    /// Raw section texts: [`parse`] normalises them and drops empty ones.
    sections: Vec<Section>,
}

fn unsupported(rel_path: &Path) -> String {
    match rel_path.extension() {
        Some(ext) => format!(
            "no built-in parser for extension `.{}`",
            ext.to_string_lossy()
        ),
        None => "no built-in parser for files without an extension".to_owned(),
    }
}

/// Decodes a text format, dropping a UTF-8 byte order mark.
fn utf8(bytes: &[u8]) -> Result<&str, String> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let (skipped, body) = match bytes.strip_prefix(BOM) {
        Some(body) => (BOM.len(), body),
        None => (0, bytes),
    };
    // The offset counts the BOM so that it points into the file as stored.
    std::str::from_utf8(body)
        .map_err(|e| format!("invalid UTF-8 at byte {}", skipped + e.valid_up_to()))
}

/// The file stem as a title: `release-notes_v2.md` gives `release notes v2`.
fn stem_title(rel_path: &Path) -> String {
    let stem = rel_path
        .file_stem()
        .map(|s| s.to_string_lossy().replace(['-', '_'], " "));
    match stem.map(|s| collapse_whitespace(&s)) {
        Some(title) if !title.is_empty() => title,
        _ => slash_string(rel_path),
    }
}

/// Parses a date written as `YYYY-MM-DD`, alone or at the start of a longer
/// timestamp (RFC 3339, `2024-05-01 10:00`); only the written date is kept, without
/// shifting it across time zones.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let (date, rest) = NaiveDate::parse_and_remainder(s.trim(), "%Y-%m-%d").ok()?;
    // A digit right after the day means the match was a prefix of something else.
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(date)
}

/// Cleans extracted text for indexing: trims it, drops trailing spaces on each line
/// and collapses runs of blank lines to one blank line; single newlines stay.
pub(crate) fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_before = false;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_before = !out.is_empty();
            continue;
        }
        if out.is_empty() {
            out.push_str(line.trim_start());
        } else {
            out.push_str(if blank_before { "\n\n" } else { "\n" });
            out.push_str(line);
        }
        blank_before = false;
    }
    out
}

/// Joins the words of `s` with single spaces, for one-line strings such as titles.
fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds sections from a stream of leveled headings and lines of text, for the
/// formats whose headings nest (Markdown `#`, HTML `h1`..`h6`).
#[derive(Debug, Default)]
struct Outline {
    /// The enclosing headings with their levels, outermost first.
    open: Vec<(u8, String)>,
    sections: Vec<Section>,
    text: String,
    has_body: bool,
}

impl Outline {
    /// Starts a section under `text`, closing the headings at `level` or deeper.
    fn heading(&mut self, level: u8, text: &str) {
        let text = collapse_whitespace(text);
        // An empty heading names nothing, so it must not reshape the path.
        if text.is_empty() {
            return;
        }
        self.close_section();
        while self
            .open
            .last()
            .is_some_and(|(open_level, _)| *open_level >= level)
        {
            self.open.pop();
        }
        self.text.push_str(&text);
        self.text.push('\n');
        self.open.push((level, text));
    }

    /// Appends one line of body text to the current section.
    fn line(&mut self, line: &str) {
        self.has_body |= !line.trim().is_empty();
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn close_section(&mut self) {
        let text = std::mem::take(&mut self.text);
        // A heading with no body of its own lives on in its subsections' paths.
        if std::mem::take(&mut self.has_body) {
            let heading_path = self.open.iter().map(|(_, h)| h.clone()).collect();
            self.sections.push(Section {
                heading_path,
                page: None,
                text,
            });
        }
    }

    fn finish(mut self) -> Vec<Section> {
        self.close_section();
        self.sections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_reason(rel: &str, bytes: &[u8]) -> String {
        match parse(Path::new(rel), bytes) {
            Err(Error::BadDocument { path, reason }) => {
                assert_eq!(path, Path::new(rel));
                reason
            }
            other => panic!("expected BadDocument, got {other:?}"),
        }
    }

    #[test]
    fn format_follows_the_extension_ignoring_case() {
        assert_eq!(
            Format::from_path(Path::new("a/b.MD")),
            Some(Format::Markdown)
        );
        assert_eq!(
            Format::from_path(Path::new("b.markdown")),
            Some(Format::Markdown)
        );
        assert_eq!(Format::from_path(Path::new("b.Htm")), Some(Format::Html));
        assert_eq!(Format::from_path(Path::new("b.text")), Some(Format::Text));
        assert_eq!(Format::from_path(Path::new("b.PDF")), Some(Format::Pdf));
        assert_eq!(Format::from_path(Path::new("b.docx")), None);
        assert_eq!(Format::from_path(Path::new("README")), None);
    }

    #[test]
    fn invalid_utf8_names_the_file_and_the_byte() {
        let reason = bad_reason("notes/a.md", b"abc\xffdef");
        assert_eq!(reason, "invalid UTF-8 at byte 3");
        let err = parse(Path::new("notes/a.md"), b"abc\xffdef").unwrap_err();
        assert!(err.to_string().contains("notes/a.md"), "{err}");
    }

    #[test]
    fn invalid_utf8_offset_counts_the_bom() {
        assert_eq!(
            bad_reason("a.txt", b"\xEF\xBB\xBFab\xc3"),
            "invalid UTF-8 at byte 5"
        );
    }

    #[test]
    fn unknown_extension_is_named() {
        assert_eq!(
            bad_reason("a/b.xyz", b"hello"),
            "no built-in parser for extension `.xyz`"
        );
        assert!(bad_reason("Makefile", b"all:").contains("without an extension"));
    }

    #[test]
    fn empty_or_blank_files_have_no_text() {
        assert_eq!(bad_reason("empty.txt", b""), "no text found");
        assert_eq!(bad_reason("blank.md", b"  \n\n\t\n"), "no text found");
        assert_eq!(
            bad_reason("blank.html", b"<html><body> </body></html>"),
            "no text found"
        );
    }

    #[test]
    fn document_gets_id_source_and_stem_title() {
        let doc = parse(
            Path::new("notes/release-notes_v2.txt"),
            b"\xEF\xBB\xBFHello\n\n\n\nworld  \n",
        )
        .unwrap();
        assert_eq!(doc.id, DocId("notes/release-notes_v2.txt".into()));
        assert_eq!(doc.source, Path::new("notes/release-notes_v2.txt"));
        assert_eq!(doc.title, "release notes v2");
        assert_eq!(doc.date, None);
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].text, "Hello\n\nworld");
    }

    #[test]
    fn parse_date_accepts_dates_and_timestamps() {
        let d = NaiveDate::from_ymd_opt(2024, 5, 1);
        assert_eq!(parse_date("2024-05-01"), d);
        assert_eq!(parse_date(" 2024-05-01 "), d);
        assert_eq!(parse_date("2024-05-01T23:30:00-05:00"), d);
        assert_eq!(parse_date("2024-05-01 10:00"), d);
        assert_eq!(parse_date("next week"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-05-011"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn normalize_text_collapses_blank_runs_and_keeps_single_newlines() {
        assert_eq!(normalize_text("\n\n  a  \nb\n \n\t\n\nc\n\n"), "a\nb\n\nc");
        assert_eq!(normalize_text("x\r\n\r\n\r\ny"), "x\n\ny");
        assert_eq!(normalize_text("  \n "), "");
    }

    #[test]
    fn outline_nests_headings_by_level_and_drops_bodiless_ones() {
        let mut o = Outline::default();
        o.line("intro");
        o.heading(1, "A");
        o.heading(2, "B");
        o.line("under b");
        o.heading(3, "C");
        o.line("under c");
        o.heading(2, " D ");
        o.line("under d");
        o.heading(1, "");
        o.line("still d");
        let sections = o.finish();
        let paths: Vec<Vec<String>> = sections.iter().map(|s| s.heading_path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                vec![],
                vec!["A".to_owned(), "B".to_owned()],
                vec!["A".to_owned(), "B".to_owned(), "C".to_owned()],
                vec!["A".to_owned(), "D".to_owned()],
            ]
        );
        assert_eq!(sections[1].text, "B\nunder b\n");
        assert_eq!(sections[3].text, "D\nunder d\nstill d\n");
    }
}
