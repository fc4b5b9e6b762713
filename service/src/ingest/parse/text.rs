//! Plain text: the whole file is one section without headings.
//!
//! It must not guess structure from the text: a line that looks like a heading in
//! one file is an ordinary sentence in another.

use super::Parsed;
use crate::ingest::Section;

/// Wraps the text as a single section; the caller supplies the title.
pub(super) fn parse(text: &str) -> Parsed {
    Parsed {
        sections: vec![Section {
            heading_path: Vec::new(),
            page: None,
            text: text.to_owned(),
        }],
        ..Parsed::default()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse as parse_file;

    #[test]
    fn whole_text_is_one_section_without_headings() {
        let text = "# Not a heading\n\nFirst paragraph.\nSame paragraph.\n\n\n\nSecond.\n";
        let doc = parse_file(Path::new("ops/disk_check-notes.txt"), text.as_bytes()).unwrap();
        assert_eq!(doc.title, "disk check notes");
        assert_eq!(doc.sections.len(), 1);
        let s = &doc.sections[0];
        assert!(s.heading_path.is_empty());
        assert_eq!(s.page, None);
        assert_eq!(
            s.text,
            "# Not a heading\n\nFirst paragraph.\nSame paragraph.\n\nSecond."
        );
    }
}
