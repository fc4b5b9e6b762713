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
