//! Files: the workspace root, the fixtures under `tests/fixtures/`, and writing
//! and listing the files of a test's temporary folder.

use std::path::{Path, PathBuf};

/// The workspace root, where `.assets/` lives.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Writes `content` to `path`, creating its folders first.
pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Every file under `dir`, relative to it and sorted: failure messages show
/// what a run left behind.
pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect();
    v.sort();
    v
}

/// Every file under `dir`, at any depth.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Copies the fixture folder `tests/fixtures/<name>` into `dest`, keeping its
/// layout. Read when the test runs: a fixture folder is a whole corpus, more
/// files than `include_str!` calls would be worth.
pub fn copy_fixture(name: &str, dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    assert!(src.is_dir(), "fixture {} is missing", src.display());
    for file in walk(&src) {
        let to = dest.join(file.strip_prefix(&src).unwrap());
        write(&to, std::fs::read(&file).unwrap());
    }
}
