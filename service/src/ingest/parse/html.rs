//! HTML: title and date from the page's metadata, sections from the body's headings.
//!
//! It keeps only what a reader sees as the page's content: scripts, styles,
//! navigation and other page furniture must not reach the index.

use chrono::NaiveDate;
use scraper::node::Element;
use scraper::{ElementRef, Html, Node};

use super::{collapse_whitespace, parse_date, Outline, Parsed};
use crate::ingest::Section;

/// Elements whose whole subtree is furniture or machinery, not content.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "template", "svg", "form",
    "button", "iframe", "head",
];

/// `<meta>` names that carry a date, most telling first.
const DATE_META: &[&str] = &[
    "date",
    "dc.date",
    "dcterms.date",
    "article:published_time",
    "article:modified_time",
    "pubdate",
    "last-modified",
];

/// Extracts title, date and sections; HTML parsing itself never fails.
pub(super) fn parse(text: &str) -> Parsed {
    let html = Html::parse_document(text);
    let root = html.root_element();
    let title = first_text(root, "title").or_else(|| first_text(root, "h1"));
    let date = meta_date(root).or_else(|| time_date(root));
    let body = root
        .descendent_elements()
        .find(|e| e.value().name() == "body")
        .unwrap_or(root);
    Parsed {
        title,
        date,
        series: None,
        sections: body_sections(body),
    }
}

fn named<'a>(root: ElementRef<'a>, name: &'a str) -> impl Iterator<Item = ElementRef<'a>> {
    root.descendent_elements()
        .filter(move |e| e.value().name() == name)
}

fn text_of(element: ElementRef<'_>) -> String {
    collapse_whitespace(&element.text().collect::<String>())
}

fn first_text(root: ElementRef<'_>, name: &str) -> Option<String> {
    named(root, name).map(text_of).find(|t| !t.is_empty())
}

fn meta_date(root: ElementRef<'_>) -> Option<NaiveDate> {
    let metas: Vec<&Element> = named(root, "meta").map(|e| e.value()).collect();
    DATE_META.iter().find_map(|wanted| {
        metas.iter().find_map(|meta| {
            let names = ["name", "property", "http-equiv"];
            let is_wanted = names.iter().any(|a| {
                meta.attr(a)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
            });
            if is_wanted {
                parse_date(meta.attr("content")?)
            } else {
                None
            }
        })
    })
}

fn time_date(root: ElementRef<'_>) -> Option<NaiveDate> {
    named(root, "time").find_map(|time| {
        time.value()
            .attr("datetime")
            .and_then(parse_date)
            .or_else(|| parse_date(&text_of(time)))
    })
}

/// How an element affects line layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Flows within the line: `<b>he</b>llo` is one word.
    Inline,
    /// A table cell: separated from its neighbours by a space.
    Cell,
    /// Starts and ends a line.
    Line,
    /// Starts and ends a paragraph (a blank line).
    Paragraph,
    /// Preformatted: a paragraph whose whitespace is kept.
    Pre,
}

fn layout(name: &str) -> Layout {
    match name {
        "pre" | "listing" | "plaintext" => Layout::Pre,
        "p" | "blockquote" | "table" | "ul" | "ol" | "dl" | "section" | "article" | "main"
        | "figure" => Layout::Paragraph,
        "div" | "li" | "tr" | "dd" | "dt" | "caption" | "figcaption" | "address" | "details"
        | "summary" | "hr" => Layout::Line,
        "td" | "th" => Layout::Cell,
        _ => Layout::Inline,
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name.as_bytes() {
        [b'h', digit @ b'1'..=b'6'] => Some(digit - b'0'),
        _ => None,
    }
}

/// Classes of the permalink anchors that documentation generators put after
/// each heading (Sphinx's and MkDocs' `headerlink`, Docusaurus' `hash-link`):
/// a "¶" or "#" that would otherwise end every heading path and title.
const PERMALINK_CLASSES: &[&str] = &["headerlink", "hash-link"];

fn is_skipped(element: &Element) -> bool {
    SKIPPED.contains(&element.name())
        || element.classes().any(|c| PERMALINK_CLASSES.contains(&c))
        || element.attr("hidden").is_some()
        || element
            .attr("role")
            .is_some_and(|r| r.trim().eq_ignore_ascii_case("navigation"))
}

/// One step of the document-order walk.
enum Step<N> {
    Enter(N),
    Leave(Layout),
}

/// Walks `body` in document order into sections.
///
/// The walk keeps its own stack instead of recursing, so a deeply nested page
/// cannot overflow the thread's stack.
fn body_sections(body: ElementRef<'_>) -> Vec<Section> {
    let mut w = LineWriter::default();
    let mut stack = vec![Step::Enter(*body)];
    while let Some(step) = stack.pop() {
        let node = match step {
            Step::Leave(kind) => {
                w.leave(kind);
                continue;
            }
            Step::Enter(node) => node,
        };
        match node.value() {
            Node::Text(text) => w.text(text),
            Node::Element(element) => {
                if is_skipped(element) {
                    continue;
                }
                if let Some(level) = heading_level(element.name()) {
                    let text = ElementRef::wrap(node).map(visible_text).unwrap_or_default();
                    w.heading(level, &text);
                    continue;
                }
                if element.name() == "br" {
                    w.end_line();
                    continue;
                }
                let kind = layout(element.name());
                w.enter(kind);
                stack.push(Step::Leave(kind));
                stack.extend(node.children().rev().map(Step::Enter));
            }
            _ => {}
        }
    }
    w.finish()
}

/// The text of `node` without what [`is_skipped`] leaves out (a heading's
/// permalink anchor), whitespace collapsed.
fn visible_text(element: ElementRef<'_>) -> String {
    let mut text = String::new();
    let mut stack: Vec<_> = element.children().rev().collect();
    while let Some(n) = stack.pop() {
        match n.value() {
            Node::Text(t) => text.push_str(t),
            Node::Element(e) if is_skipped(e) => {}
            _ => stack.extend(n.children().rev()),
        }
    }
    collapse_whitespace(&text)
}

/// Turns a stream of text and layout events into lines of an [`Outline`].
#[derive(Debug, Default)]
struct LineWriter {
    outline: Outline,
    line: String,
    /// Whitespace was seen since the last word: the next word needs a space.
    space: bool,
    /// How many `<pre>`-like elements enclose the current position.
    pre: usize,
}

impl LineWriter {
    fn text(&mut self, text: &str) {
        if self.pre > 0 {
            let mut lines = text.split('\n');
            if let Some(first) = lines.next() {
                self.line.push_str(first);
            }
            for line in lines {
                self.flush_line();
                self.line.push_str(line);
            }
            return;
        }
        for c in text.chars() {
            if c.is_whitespace() {
                self.space = true;
            } else {
                if self.space && !self.line.is_empty() {
                    self.line.push(' ');
                }
                self.space = false;
                self.line.push(c);
            }
        }
    }

    fn flush_line(&mut self) {
        self.outline.line(&self.line);
        self.line.clear();
        self.space = false;
    }

    fn end_line(&mut self) {
        if !self.line.is_empty() {
            self.flush_line();
        }
        self.space = false;
    }

    fn end_paragraph(&mut self) {
        self.end_line();
        self.outline.line("");
    }

    fn heading(&mut self, level: u8, text: &str) {
        self.end_line();
        self.outline.heading(level, text);
    }

    fn enter(&mut self, layout: Layout) {
        match layout {
            Layout::Inline => {}
            Layout::Cell => self.space = true,
            Layout::Line => self.end_line(),
            Layout::Paragraph => self.end_paragraph(),
            Layout::Pre => {
                self.end_paragraph();
                self.pre += 1;
            }
        }
    }

    fn leave(&mut self, layout: Layout) {
        match layout {
            Layout::Inline => {}
            Layout::Cell => self.space = true,
            Layout::Line => self.end_line(),
            Layout::Paragraph => self.end_paragraph(),
            Layout::Pre => {
                self.end_line();
                self.pre = self.pre.saturating_sub(1);
                self.end_paragraph();
            }
        }
    }

    fn finish(mut self) -> Vec<Section> {
        self.end_line();
        self.outline.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse as parse_file;
    use super::*;
    use crate::ingest::Document;

    fn doc(html: &str) -> Document {
        parse_file(Path::new("site/release_notes.html"), html.as_bytes()).unwrap()
    }

    #[test]
    fn title_prefers_the_title_element_then_h1_then_stem() {
        assert_eq!(
            doc("<title> Release\n notes </title><h1>Other</h1><p>x</p>").title,
            "Release notes"
        );
        assert_eq!(
            doc("<title> </title><body><h1>The <em>H1</em></h1><p>x</p>").title,
            "The H1"
        );
        assert_eq!(doc("<p>x</p>").title, "release notes");
    }

    #[test]
    fn date_comes_from_meta_then_time() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        let meta = r#"<head><meta property="article:modified_time" content="2020-02-02T00:00:00Z">
            <meta name="DC.date" content="2021-03-04"></head><p>x <time datetime="2019-01-01">then</time></p>"#;
        assert_eq!(doc(meta).date, d(2021, 3, 4));
        assert_eq!(
            doc(r#"<p>x <time datetime="soon">2018-07-08</time></p>"#).date,
            d(2018, 7, 8)
        );
        assert_eq!(
            doc(r#"<meta name="date" content="unknown"><p>x</p>"#).date,
            None
        );
    }

    #[test]
    fn furniture_is_skipped() {
        let html = r#"<html><head><style>p{}</style></head><body>
            <nav>Home | About</nav><header>Site</header>
            <p>Kept <script>var x = 1;</script>text.</p>
            <div hidden>secret</div><div role="navigation">menu</div>
            <aside>ad</aside><footer>(c)</footer><noscript>enable js</noscript>
            </body></html>"#;
        let d = doc(html);
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].text, "Kept text.");
    }

    #[test]
    fn permalink_anchors_of_headings_are_skipped() {
        // As Sphinx writes them (Python's docs) and as Docusaurus does.
        let html = r##"<body><h1>What's New In Python 3.11<a class="headerlink"
            href="#whats-new" title="Permalink to this heading">¶</a></h1>
            <h2 id="tomllib">tomllib<a class="hash-link" href="#tomllib">#</a></h2>
            <p>A new module.</p></body>"##;
        let d = doc(html);
        assert_eq!(
            d.sections.last().map(|s| s.heading_path.clone()),
            Some(vec![
                "What's New In Python 3.11".to_owned(),
                "tomllib".to_owned()
            ])
        );
        assert_eq!(
            d.sections.last().map(|s| s.text.as_str()),
            Some("tomllib\n\nA new module.")
        );
    }

    #[test]
    fn headings_make_sections_and_blocks_make_lines() {
        let html = "<body><p>Intro &amp; more</p><h1>Guide</h1><h2>Install</h2>\
            <p>Run   the\n  installer.</p><ul><li>one</li><li>t<b>wo</b></li></ul>\
            <table><tr><td>a</td><td>b</td></tr></table>line<br>break\
            <h2>Upgrade</h2><pre>  keep\n    indent</pre></body>";
        let d = doc(html);
        let paths: Vec<Vec<String>> = d.sections.iter().map(|s| s.heading_path.clone()).collect();
        let expected: Vec<Vec<&str>> =
            vec![vec![], vec!["Guide", "Install"], vec!["Guide", "Upgrade"]];
        assert_eq!(paths, expected);
        assert_eq!(d.sections[0].text, "Intro & more");
        assert_eq!(
            d.sections[1].text,
            "Install\n\nRun the installer.\n\none\ntwo\n\na b\n\nline\nbreak"
        );
        assert_eq!(d.sections[2].text, "Upgrade\n\n  keep\n    indent");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 100_000;
        let html = format!("{}deep{}", "<span>".repeat(depth), "</span>".repeat(depth));
        let d = doc(&html);
        assert_eq!(d.sections[0].text, "deep");
    }
}
