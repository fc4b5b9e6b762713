//! PDF: one section per page, with title and date from the document information
//! dictionary.
//!
//! The underlying extractor panics on some malformed files; this module must contain
//! those panics, so that one bad PDF never stops an ingestion run.

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::NaiveDate;
use pdf_extract::{Document as PdfDocument, PlainTextOutput};

use super::Parsed;
use crate::ingest::Section;

/// Extracts the text layer page by page.
///
/// # Errors
///
/// A reason when the file is not a readable PDF, needs a password, has no page
/// that can be read or no text at all, or crashes the extractor.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    // The panic hook still prints the panic; the run goes on without this file.
    catch_unwind(AssertUnwindSafe(|| extract(bytes)))
        .unwrap_or_else(|_| Err("PDF parser crashed on this file".to_owned()))
}

fn extract(bytes: &[u8]) -> Result<Parsed, String> {
    let doc = PdfDocument::load_mem(bytes).map_err(|e| format!("not a readable PDF: {e}"))?;
    // lopdf already decrypts with the empty password while loading, when that
    // password works; decrypting again would scramble the objects.
    if doc.is_encrypted() && doc.encryption_state.is_none() {
        return Err("the PDF is encrypted and needs a password".to_owned());
    }

    let mut sections = Vec::new();
    let mut first_error: Option<String> = None;
    for &page in doc.get_pages().keys() {
        let mut text = String::new();
        let result = pdf_extract::output_doc_page(&doc, &mut PlainTextOutput::new(&mut text), page);
        match result {
            Ok(()) => sections.push(Section {
                heading_path: Vec::new(),
                page: Some(page),
                text,
            }),
            // One broken page should not cost the reader the others.
            Err(e) if first_error.is_none() => first_error = Some(format!("page {page}: {e}")),
            Err(_) => {}
        }
    }
    if sections.is_empty() {
        return Err(match first_error {
            Some(e) => format!("no page of the PDF could be read ({e})"),
            None => "the PDF has no pages".to_owned(),
        });
    }
    if sections.iter().all(|s| s.text.trim().is_empty()) {
        return Err("no text found: the PDF has no text layer (a scan?)".to_owned());
    }

    let title = info_text(&doc, b"Title").filter(|t| !t.trim().is_empty());
    let date = info_text(&doc, b"ModDate")
        .and_then(|d| pdf_date(&d))
        .or_else(|| info_text(&doc, b"CreationDate").and_then(|d| pdf_date(&d)));
    Ok(Parsed {
        title,
        date,
        series: None,
        sections,
    })
}

/// A text string from the document information dictionary, decoded from UTF-16BE
/// (with its byte order mark) or PDFDocEncoding.
fn info_text(doc: &PdfDocument, key: &[u8]) -> Option<String> {
    let info = doc
        .dereference(doc.trailer.get(b"Info").ok()?)
        .ok()?
        .1
        .as_dict()
        .ok()?;
    let value = doc.dereference(info.get(key).ok()?).ok()?.1;
    pdf_extract::decode_text_string(value).ok()
}

/// The date part of a PDF date, `D:YYYYMMDDHHmmSSOHH'mm'`; month and day default
/// to 1 as the PDF specification allows them to be omitted.
fn pdf_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits = s.bytes().take(8).take_while(u8::is_ascii_digit).count();
    let s = &s[..digits];
    let year = s.get(0..4)?.parse().ok()?;
    let month = s.get(4..6).map_or(Some(1), |m| m.parse().ok())?;
    let day = s.get(6..8).map_or(Some(1), |d| d.parse().ok())?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::parse as parse_file;
    use super::*;
    use crate::Error;

    #[test]
    fn corrupt_pdf_is_a_bad_document() {
        match parse_file(Path::new("docs/broken.pdf"), b"%PDF-1.4 garbage") {
            Err(Error::BadDocument { path, reason }) => {
                assert_eq!(path, Path::new("docs/broken.pdf"));
                assert!(!reason.is_empty());
            }
            other => panic!("expected BadDocument, got {other:?}"),
        }
    }

    #[test]
    fn pdf_dates_keep_the_date_part() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        assert_eq!(pdf_date("D:20220403180542+02'00'"), d(2022, 4, 3));
        assert_eq!(pdf_date("20220403"), d(2022, 4, 3));
        assert_eq!(pdf_date("D:2022"), d(2022, 1, 1));
        assert_eq!(pdf_date("D:202207"), d(2022, 7, 1));
        assert_eq!(pdf_date("D:20221301"), None);
        assert_eq!(pdf_date("yesterday"), None);
        assert_eq!(pdf_date(""), None);
    }

    fn sample_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pdfs/py-pdf-sample-files")
    }

    fn squash(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn real_pdf_gives_one_section_per_page_with_its_text() {
        let dir = sample_dir();
        let pdf_path = dir.join("pdflatex-4-pages.pdf");
        if !pdf_path.is_file() {
            eprintln!("skipping: sample PDF {} is not present", pdf_path.display());
            return;
        }
        let bytes = std::fs::read(&pdf_path).unwrap();
        let reference =
            std::fs::read_to_string(dir.join("pdflatex-4-pages.pdftotext.txt")).unwrap();
        // pdftotext ends every page with a form feed.
        let pages = reference.matches('\x0c').count();
        assert_eq!(pages, 4);

        let doc = parse_file(Path::new("samples/pdflatex-4-pages.pdf"), &bytes).unwrap();
        let numbers: Vec<Option<u32>> = doc.sections.iter().map(|s| s.page).collect();
        let expected: Vec<Option<u32>> = (1..=pages as u32).map(Some).collect();
        assert_eq!(numbers, expected);
        assert!(doc.sections.iter().all(|s| s.heading_path.is_empty()));

        // Whitespace is compared loosely: extractors disagree on line and word breaks.
        let phrase = "the selected font, how the letters are written";
        assert!(
            squash(&reference).contains(&squash(phrase)),
            "phrase is in the reference text"
        );
        assert!(
            squash(&doc.text()).contains(&squash(phrase)),
            "extracted text: {}",
            doc.text()
        );

        assert_eq!(doc.title, "pdflatex 4 pages");
        assert_eq!(doc.date, NaiveDate::from_ymd_opt(2022, 4, 3));
    }
}
