//! The kinds of thing a question asks for and a sentence holds.

/// Kinds of things an answer can hold: a path, a number, an option or a
/// command.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(super) struct Kinds {
    pub(super) path: bool,
    pub(super) number: bool,
    pub(super) option: bool,
}

impl Kinds {
    /// What a question asks for, by how it asks: "where" wants a path, "how
    /// many", "how long", "when" and "what port" a number, "which option" or
    /// "what command" an option or a command.
    pub(super) fn asked(question: &str) -> Kinds {
        let q = question.to_lowercase();
        let words: Vec<&str> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has = |w: &str| words.contains(&w);
        let follows =
            |a: &str, b: &[&str]| words.windows(2).any(|p| p[0] == a && b.contains(&p[1]));
        Kinds {
            path: has("where") || has("path") || has("directory") || has("folder"),
            number: follows("how", &["many", "much", "long", "big", "large", "often", "old"])
                // "When does ..." asks a time; "shows when a job ran" does not.
                || words.first() == Some(&"when")
                || has("port")
                || has("timeout")
                || has("size"),
            option: ["which", "what"].iter().any(|w| {
                follows(
                    w,
                    &["option", "options", "flag", "flags", "switch", "command"],
                )
            }),
        }
    }

    /// What a sentence holds: a path (`/etc/x`, not a URL), a number, an
    /// option (`--dry-run`) or, for a line of code, a command.
    pub(super) fn held(text: &str, code: bool) -> Kinds {
        let tokens = || {
            text.split_whitespace()
                .map(|t| t.trim_matches(|c: char| ",.;:()`'\"".contains(c)))
        };
        Kinds {
            path: tokens().any(|t| {
                t.len() > 1
                    && t.contains('/')
                    && !t.contains("://")
                    && t.chars().any(char::is_alphabetic)
            }),
            number: text.chars().any(|c| c.is_ascii_digit()),
            option: code || tokens().any(|t| t.len() > 2 && t.starts_with("--")),
        }
    }

    /// Whether `held` has any kind this asks for.
    pub(super) fn shared(self, held: Kinds) -> bool {
        (self.path && held.path) || (self.number && held.number) || (self.option && held.option)
    }
}
