//! Where the runtime assets (ONNX Runtime, the embedding model, its tokenizer) live.
//!
//! Only locates and checks files; loading them is the embed module's job. Lookup
//! order: `CANDOR_ASSETS_DIR`, then `.assets/` in the working directory, then
//! `.assets/` beside any ancestor of the running executable (so a binary under
//! `target/` finds the workspace's assets).

use std::path::{Path, PathBuf};

use crate::Error;

/// Environment variable that overrides the assets folder.
pub const ASSETS_ENV: &str = "CANDOR_ASSETS_DIR";

/// Paths of every runtime asset, all checked to exist.
#[derive(Debug, Clone)]
pub struct Assets {
    /// ONNX Runtime's shared library.
    pub onnxruntime: PathBuf,
    /// The int8 all-MiniLM-L6-v2 ONNX model.
    pub model: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `tokenizer_config.json`.
    pub tokenizer_config: PathBuf,
    /// `special_tokens_map.json`.
    pub special_tokens_map: PathBuf,
    /// The model's `config.json`.
    pub model_config: PathBuf,
}

impl Assets {
    /// Finds the assets folder and checks that every file is present.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAsset`] naming the first missing file and the command that
    /// fetches it.
    pub fn locate() -> crate::Result<Assets> {
        Assets::in_dir(&find_dir(ASSETS_ENV, ".assets"))
    }

    /// The assets under `dir`, checked to exist.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAsset`] for the first missing file.
    pub fn in_dir(dir: &Path) -> crate::Result<Assets> {
        let file = |rel: &str, what: &'static str| -> crate::Result<PathBuf> {
            let path = dir.join(rel);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::MissingAsset { path, what })
            }
        };
        Ok(Assets {
            onnxruntime: file(
                "onnxruntime/libonnxruntime.so",
                "ONNX Runtime shared library",
            )?,
            model: file("model/model.onnx", "embedding model")?,
            tokenizer: file("model/tokenizer.json", "tokenizer")?,
            tokenizer_config: file("model/tokenizer_config.json", "tokenizer config")?,
            special_tokens_map: file("model/special_tokens_map.json", "tokenizer special tokens")?,
            model_config: file("model/config.json", "model config")?,
        })
    }
}

/// A folder of runtime files: `$env` when set, else `rel` under the working
/// directory, else `rel` under the nearest ancestor of the running executable that
/// has it (so a binary under `target/` finds the workspace's files), else `rel`.
pub fn find_dir(env: &str, rel: &str) -> PathBuf {
    if let Some(d) = std::env::var_os(env).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let local = PathBuf::from(rel);
    if local.is_dir() {
        return local;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .map(|a| a.join(rel))
                .find(|p| p.is_dir())
        })
        .unwrap_or(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_named_with_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = Assets::in_dir(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("libonnxruntime.so"), "{msg}");
        assert!(msg.contains("make assets"), "{msg}");
    }
}
