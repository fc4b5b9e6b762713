//! JSON-lines reading and writing shared by every stage that takes or leaves
//! record files (BEIR data, scope examples, calibration and eval question sets,
//! saved runs).
//!
//! A malformed line is an error naming the file and the line number; blank lines
//! are skipped.

use std::path::Path;

use crate::Error;

/// The records of a JSON-lines text, each with its raw line.
pub fn records<'a, T: serde::de::DeserializeOwned>(
    path: &'a Path,
    text: &'a str,
) -> impl Iterator<Item = crate::Result<(T, &'a str)>> + 'a {
    // Editors on some systems start a UTF-8 file with a byte order mark.
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(move |(n, line)| {
            serde_json::from_str(line)
                .map(|rec| (rec, line))
                .map_err(|e| Error::BadDocument {
                    path: path.to_path_buf(),
                    reason: located(&e, n + 1),
                })
        })
}

/// `line L, column C: what` for an error in line `line` of a file. serde_json
/// saw that line alone, so its own position always says line 1.
fn located(e: &serde_json::Error, line: usize) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("line {line}, column {}: {what}", e.column())
}

/// Every record of the JSON-lines file at `path`.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::BadDocument`] naming the
/// first malformed line.
pub fn read<T: serde::de::DeserializeOwned>(path: &Path) -> crate::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    records(path, &text)
        .map(|r| r.map(|(rec, _)| rec))
        .collect()
}

/// Writes `records` to `path`, one JSON object per line.
///
/// # Errors
///
/// [`Error::Io`] when a record cannot be serialized or the file written.
pub fn write<T: serde::Serialize>(path: &Path, records: &[T]) -> crate::Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
    }

    #[test]
    fn reads_records_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.jsonl");
        std::fs::write(&p, "{\"text\":\"a\"}\n\n{\"text\":\"b\"}\n").unwrap();
        let v: Vec<Line> = super::read(&p).unwrap();
        assert_eq!(
            v.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        std::fs::write(&p, "{\"text\":\"a\"}\n{\"txt\":1}\n").unwrap();
        let e = super::read::<Line>(&p).err().unwrap().to_string();
        assert!(
            e.contains("q.jsonl")
                && e.contains("line 2, column 9: missing field `text`")
                && !e.contains("line 1"),
            "{e}"
        );
        // A byte order mark is not part of the first record.
        std::fs::write(&p, "\u{feff}{\"text\":\"a\"}\n").unwrap();
        let v: Vec<Line> = super::read(&p).unwrap();
        assert_eq!(v[0].text, "a");
    }
}
