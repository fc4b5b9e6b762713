//! Tests of the parser, by topic, on whole files read through `parse`.

mod blocks;
mod directives;
mod inline;
mod lists;
mod manual;
mod tables;

use super::*;

fn doc(text: &str) -> Document {
    let mut docs = parse("doc/manual.rst", text.as_bytes(), "{}").unwrap();
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn sections(text: &str) -> Vec<(Vec<String>, String)> {
    doc(text)
        .sections
        .into_iter()
        .map(|s| (s.heading, s.text))
        .collect()
}

/// All the text of `text`, sections apart by blank lines.
fn all_text(text: &str) -> String {
    let texts: Vec<String> = sections(text).into_iter().map(|(_, t)| t).collect();
    texts.join("\n\n")
}

fn path(titles: &[&str]) -> Vec<String> {
    titles.iter().map(|t| t.to_string()).collect()
}
