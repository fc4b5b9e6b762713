//! `rst`: turns a reStructuredText file (a Sphinx manual page, a README) into
//! one document whose sections follow the file's headings, with the markup
//! removed: roles and links become their text, literal blocks keep their lines,
//! comments, link targets and substitution definitions are left out.
//!
//! Config: none. `{}` (or nothing) is accepted and any key is an error, so a
//! misspelt setting is not silently ignored.
//!
//! The reading follows docutils where it matters for the text: titles are
//! ranked by the order in which their adornment styles first appear, and body
//! elements (lists, directives, literal blocks) end where their indentation
//! does.

wit_bindgen::generate!({ path: "../../wit", world: "parser" });

mod blocks;
mod directives;
mod inline;
mod lines;
mod lists;
mod outline;
mod subs;
mod tables;

#[cfg(test)]
mod tests;

use candor::plugin::types::Section;
use serde::Deserialize;

use crate::blocks::body;
use crate::outline::Outline;
use crate::subs::substitutions;

/// No settings; reading it still rejects keys that would otherwise be ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

/// A line with tabs expanded to 8-column stops, as docutils reads them, and
/// no trailing white space.
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut column = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\x0b' | '\x0c' => {
                out.push(' ');
                column += 1;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The file name without its extension, for a file with no title.
fn stem(path: &str) -> String {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    if stem.is_empty() { path } else { stem }.to_owned()
}

fn parse(path: &str, bytes: &[u8], config: &str) -> Result<Vec<Document>, String> {
    if !config.trim().is_empty() {
        let _: Config = serde_json::from_str(config).map_err(|e| format!("config: {e}"))?;
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("{path} is not UTF-8 text: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<String> = text.lines().map(clean_line).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let subs = substitutions(&lines);
    let mut outline = Outline::default();
    body(&subs, &lines, 0, &mut outline);
    if outline.sections.is_empty() {
        return Err(format!("no text found in {path}"));
    }
    let sections = outline
        .sections
        .into_iter()
        .map(|(heading, blocks)| {
            let texts: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
            Section {
                heading,
                text: texts.join("\n\n"),
                page: None,
            }
        })
        .collect();
    Ok(vec![Document {
        key: String::new(),
        title: outline.title.unwrap_or_else(|| stem(path)),
        date: String::new(),
        series: String::new(),
        metadata: Vec::new(),
        sections,
    }])
}

struct Rst;

impl Guest for Rst {
    fn parse(path: String, bytes: Vec<u8>, config: String) -> Result<Vec<Document>, String> {
        parse(&path, &bytes, &config)
    }
}

export!(Rst);
