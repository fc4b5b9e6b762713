//! Discovery: list the files a corpus's `[[sources]]` select, in a stable order.
//!
//! It only walks folders and matches globs; it must not open or parse the files it
//! finds, so that listing a corpus stays cheap and never fails on file contents.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

use crate::config::{Corpus, CORPUS_FILE};
use crate::Error;

/// A file selected by one of the corpus's sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where the file is on disk.
    pub abs_path: PathBuf,
    /// The file relative to the corpus folder, with `/` separators; it becomes the
    /// document id.
    pub rel_path: PathBuf,
    /// Index into `corpus.config.sources` of the first source that selected it.
    pub source_index: usize,
}

/// Lists every file the corpus's sources select, sorted by `rel_path`.
///
/// Hidden files and folders (names starting with `.`) are skipped, symbolic links
/// are not followed, and a file selected by several sources is listed once, for the
/// first of them.
///
/// # Errors
///
/// [`Error::Io`] naming the path when a folder cannot be read;
/// [`Error::BadDocument`] when two files' names, not being UTF-8, make one id.
pub fn discover(corpus: &Corpus) -> crate::Result<Vec<SourceFile>> {
    // Keyed by rel_path: dedupes overlapping sources and sorts in one go.
    let mut found: BTreeMap<PathBuf, SourceFile> = BTreeMap::new();
    // A source at the corpus folder itself would otherwise offer the config file
    // as a document, and report it as unparseable on every run.
    let config_file = corpus.root.join(CORPUS_FILE);
    for (i, source) in corpus.config.sources.iter().enumerate() {
        let matcher = corpus.source_matcher(i)?;
        let source_root = corpus.root.join(&source.path);
        let walk = WalkDir::new(&source_root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !is_hidden(e));
        for entry in walk {
            let entry = entry.map_err(|e| {
                let path = e
                    .path()
                    .map_or_else(|| source_root.clone(), Path::to_path_buf);
                Error::io(path)(std::io::Error::from(e))
            })?;
            if !entry.file_type().is_file() || entry.path() == config_file {
                continue;
            }
            let Ok(in_source) = entry.path().strip_prefix(&source_root) else {
                continue;
            };
            if !matcher.is_match(in_source) {
                continue;
            }
            let rel_path = PathBuf::from(slash_string(&source.path.join(in_source)));
            match found.get(&rel_path) {
                // The same file through an overlapping source.
                Some(first) if first.abs_path == entry.path() => {}
                // Two files whose names are not UTF-8 can read the same; one
                // must not silently stand in for the other.
                Some(first) => {
                    return Err(Error::BadDocument {
                        path: entry.path().to_path_buf(),
                        reason: format!(
                            "its name is not valid UTF-8 and reads as `{}`, the id of {} too; rename one of them",
                            rel_path.display(),
                            first.abs_path.display()
                        ),
                    })
                }
                None => {
                    found.insert(
                        rel_path.clone(),
                        SourceFile {
                            abs_path: entry.path().to_path_buf(),
                            rel_path,
                            source_index: i,
                        },
                    );
                }
            }
        }
    }
    Ok(found.into_values().collect())
}

fn is_hidden(entry: &DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with('.')
}

/// `path` with `/` separators and without `.` components, so ids are the same on
/// every platform and however a source folder was spelled.
pub(crate) fn slash_string(path: &Path) -> String {
    let parts: Vec<Cow<'_, str>> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            // An empty first part makes the join start with `/`.
            Component::RootDir => Cow::Borrowed(""),
            other => other.as_os_str().to_string_lossy(),
        })
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "text").unwrap();
    }

    fn corpus(root: &Path, sources: &str) -> Corpus {
        let toml_text = format!("name = \"t\"\nscope = \"Tests only.\"\n{sources}");
        std::fs::write(root.join(CORPUS_FILE), toml_text).unwrap();
        Corpus::load(root).unwrap()
    }

    fn rel_paths(files: &[SourceFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.rel_path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn finds_matching_files_sorted_and_skips_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "docs/b.md",
            "docs/a.md",
            "docs/sub/c.md",
            "docs/sub/d.txt",
            "docs/.hidden.md",
            "docs/.git/e.md",
            "other/f.md",
        ] {
            write(root, rel);
        }
        let c = corpus(root, "[[sources]]\npath = \"docs\"\nglob = \"**/*.md\"\n");
        let files = discover(&c).unwrap();
        assert_eq!(
            rel_paths(&files),
            ["docs/a.md", "docs/b.md", "docs/sub/c.md"]
        );
        assert_eq!(files[0].abs_path, root.join("docs").join("a.md"));
        assert!(files.iter().all(|f| f.source_index == 0));
    }

    #[test]
    fn names_that_are_not_utf8_and_read_alike_are_an_error() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        // `r\xe9sum\xe9.md` and `r\xe8sum\xe8.md` both read `r�sum�.md`.
        for name in [b"r\xe9sum\xe9.md", b"r\xe8sum\xe8.md"] {
            std::fs::write(docs.join(std::ffi::OsStr::from_bytes(name)), "text").unwrap();
        }
        let c = corpus(dir.path(), "[[sources]]\npath = \"docs\"\n");
        let e = discover(&c).unwrap_err().to_string();
        assert!(e.contains("not valid UTF-8") && e.contains("rename"), "{e}");
    }

    #[test]
    fn glob_is_relative_to_the_source_folder() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "docs/top.md");
        write(dir.path(), "docs/sub/deep.md");
        let c = corpus(
            dir.path(),
            "[[sources]]\npath = \"docs\"\nglob = \"sub/*.md\"\n",
        );
        assert_eq!(rel_paths(&discover(&c).unwrap()), ["docs/sub/deep.md"]);
    }

    #[test]
    fn overlapping_sources_list_a_file_once_for_the_first_source() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "docs/a.md");
        write(dir.path(), "docs/sub/b.md");
        let c = corpus(
            dir.path(),
            "[[sources]]\npath = \"docs/sub\"\n[[sources]]\npath = \"./docs\"\n",
        );
        let files = discover(&c).unwrap();
        assert_eq!(rel_paths(&files), ["docs/a.md", "docs/sub/b.md"]);
        assert_eq!(files[0].source_index, 1);
        assert_eq!(files[1].source_index, 0);
    }

    #[test]
    fn a_source_at_the_corpus_folder_does_not_list_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.md");
        let c = corpus(dir.path(), "[[sources]]\npath = \".\"\n");
        assert_eq!(rel_paths(&discover(&c).unwrap()), ["a.md"]);
    }

    #[test]
    fn slash_string_drops_dot_components() {
        assert_eq!(slash_string(Path::new("./docs/./a.md")), "docs/a.md");
        assert_eq!(slash_string(Path::new("docs/sub/a.md")), "docs/sub/a.md");
    }
}
