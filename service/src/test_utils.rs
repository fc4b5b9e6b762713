//! Shared helpers for unit tests: the real assets and one embedder per test binary.

use std::sync::{Arc, OnceLock};

use crate::config::Assets;
use crate::embed::Embedder;

/// The fetched assets; tests need `make assets` to have run.
pub fn assets() -> Assets {
    Assets::locate().expect("run `make assets` before the tests")
}

/// One shared embedder: loading the model costs about a second.
pub fn embedder() -> Arc<Embedder> {
    static E: OnceLock<Arc<Embedder>> = OnceLock::new();
    E.get_or_init(|| Arc::new(Embedder::load(&assets()).expect("embedder loads")))
        .clone()
}

/// A corpus folder `corpora/notes` under `dir` with one Markdown page, indexed
/// in process into `dir/data`; the settings a service serves it with.
pub fn indexed_notes(dir: &std::path::Path) -> crate::service::Settings {
    let corpora = dir.join("corpora");
    let notes = corpora.join("notes");
    std::fs::create_dir_all(notes.join("docs")).unwrap();
    std::fs::write(
        notes.join("corpus.toml"),
        "name = \"notes\"\nscope = \"Maintenance windows of our clusters.\"\n\n[[sources]]\npath = \"docs\"\nglob = \"*.md\"\n",
    )
    .unwrap();
    std::fs::write(
        notes.join("docs/windows.md"),
        "# Maintenance windows\n\nThe cluster is patched on the first Sunday of each month, from 02:00 to 04:00.\n",
    )
    .unwrap();
    let settings = crate::service::Settings::new(corpora, dir.join("data"));
    let corpus = crate::config::Corpus::load(&notes).unwrap();
    crate::index::index_corpus(
        &corpus,
        &settings.data_dir,
        &crate::index::VectorBackend::Edge,
        crate::index::Mode::Full,
        &embedder(),
        &(),
    )
    .unwrap();
    settings
}
