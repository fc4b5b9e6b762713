//! Where body elements go: a block of a section's text, the sink that takes
//! blocks and titles, and the outline that ranks titles into the file's
//! sections.

/// A piece of a section's text: a paragraph, a list, a literal block.
pub(crate) struct Block {
    pub(crate) text: String,
    /// Literal lines, which a label must not be glued to.
    pub(crate) code: bool,
}

impl Block {
    pub(crate) fn text(text: String) -> Block {
        Block { text, code: false }
    }
}

/// Where parsed blocks and section titles go.
pub(crate) trait Sink {
    fn block(&mut self, block: Block);
    /// A title with its adornment style: the character and whether it has an
    /// overline.
    fn title(&mut self, style: (char, bool), title: String);
}

/// Inside a list item or a directive, where docutils allows no sections, a
/// title is kept as a paragraph.
impl Sink for Vec<Block> {
    fn block(&mut self, block: Block) {
        if !block.text.trim().is_empty() {
            self.push(block);
        }
    }

    fn title(&mut self, _style: (char, bool), title: String) {
        self.block(Block::text(title));
    }
}

/// The file's sections in reading order.
#[derive(Default)]
pub(crate) struct Outline {
    /// Adornment styles in order of first use: a style's index is its level.
    styles: Vec<(char, bool)>,
    /// Titles from the top-level section down to the current one.
    path: Vec<String>,
    pub(crate) title: Option<String>,
    pub(crate) sections: Vec<(Vec<String>, Vec<Block>)>,
    /// Whether the last section is the current one. A section is opened by its
    /// first block, so titles with no text under them cost nothing.
    open: bool,
}

impl Sink for Outline {
    fn block(&mut self, block: Block) {
        if block.text.trim().is_empty() {
            return;
        }
        if !self.open {
            self.sections.push((self.path.clone(), Vec::new()));
            self.open = true;
        }
        if let Some((_, blocks)) = self.sections.last_mut() {
            blocks.push(block);
        }
    }

    fn title(&mut self, style: (char, bool), title: String) {
        let level = match self.styles.iter().position(|s| *s == style) {
            Some(level) => level,
            None => {
                self.styles.push(style);
                self.styles.len() - 1
            }
        };
        self.path.truncate(level);
        if self.title.is_none() && !title.is_empty() {
            self.title = Some(title.clone());
        }
        self.path.push(title);
        self.open = false;
    }
}
