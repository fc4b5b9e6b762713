//! The deployment file (`candor.toml`, named with `--deployment` or `CANDOR_DEPLOYMENT`):
//! settings of a whole installation rather than of one corpus. Today that is
//! where the vectors live: in process (`edge`, the default) or on a Qdrant server
//! that several replicas share.

use std::path::Path;

use serde::Deserialize;

use crate::Error;

/// The environment variable that names the deployment file when `--deployment` is
/// not given.
pub const DEPLOYMENT_ENV: &str = "CANDOR_DEPLOYMENT";

/// The contents of the deployment file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// `[vector_store]`. Default: `edge`.
    #[serde(default)]
    pub vector_store: VectorStoreSettings,
}

/// Which vector store holds the corpora's vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreKind {
    /// `qdrant-edge`, in process, inside each generation's folder.
    #[default]
    Edge,
    /// A Qdrant server or cluster, through its gRPC API.
    Qdrant,
}

/// `[vector_store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStoreSettings {
    /// `edge` or `qdrant`. Default: `edge`.
    #[serde(default)]
    pub kind: VectorStoreKind,
    /// The Qdrant server's gRPC address (`http://qdrant:6334`); only for `qdrant`.
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding Qdrant's API key; absent: no key is sent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// How often a server looks whether another replica moved a corpus to a new
    /// generation, in seconds; 1..=3600. Default: 5.
    #[serde(default = "default_follow_seconds")]
    pub follow_seconds: u64,
}

fn default_follow_seconds() -> u64 {
    5
}

impl Default for VectorStoreSettings {
    fn default() -> Self {
        VectorStoreSettings {
            kind: VectorStoreKind::default(),
            url: None,
            api_key_env: None,
            follow_seconds: default_follow_seconds(),
        }
    }
}

/// A Qdrant server to connect to, read from a valid `[vector_store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdrantAddress {
    /// The gRPC address.
    pub url: String,
    /// The API key, read from the environment at load time.
    pub api_key: Option<String>,
    /// Seconds between looks for a generation moved by another replica.
    pub follow_seconds: u64,
}

impl Deployment {
    /// Loads and validates a deployment file.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file and the key for a syntax error, an
    /// unknown key, a missing or malformed `url`, a setting that does not apply to
    /// the kind, or an API key variable that is not set; [`Error::Io`] when the
    /// file cannot be read.
    pub fn load(file: &Path) -> crate::Result<Deployment> {
        let text = std::fs::read_to_string(file).map_err(Error::io(file))?;
        let deployment: Deployment = super::parse(file, &text)?;
        deployment.qdrant(file)?;
        Ok(deployment)
    }

    /// The Qdrant server the vectors live on, or None for the embedded store.
    ///
    /// # Errors
    ///
    /// As [`Deployment::load`], which has checked this already.
    pub fn qdrant(&self, file: &Path) -> crate::Result<Option<QdrantAddress>> {
        let v = &self.vector_store;
        let bad = |key: &str, message: String| Error::Config {
            file: file.to_path_buf(),
            key: format!("vector_store.{key}"),
            message,
        };
        if !(1..=3600).contains(&v.follow_seconds) {
            return Err(bad(
                "follow_seconds",
                format!("must be in 1..=3600, got {}", v.follow_seconds),
            ));
        }
        match v.kind {
            VectorStoreKind::Edge => {
                if v.url.is_some() {
                    return Err(bad("url", "applies only to kind = \"qdrant\"".into()));
                }
                if v.api_key_env.is_some() {
                    return Err(bad(
                        "api_key_env",
                        "applies only to kind = \"qdrant\"".into(),
                    ));
                }
                Ok(None)
            }
            VectorStoreKind::Qdrant => {
                let url = v.url.as_deref().ok_or_else(|| {
                    bad(
                        "url",
                        "kind = \"qdrant\" needs the server's gRPC address, such as \"http://127.0.0.1:6334\"".into(),
                    )
                })?;
                let rest = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                    return Err(bad(
                        "url",
                        format!("must be an http:// or https:// address, got `{url}`"),
                    ));
                }
                let api_key = match &v.api_key_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| {
                        bad(
                            "api_key_env",
                            format!("environment variable `{var}` is not set"),
                        )
                    })?),
                    None => None,
                };
                Ok(Some(QdrantAddress {
                    url: url.to_owned(),
                    api_key,
                    follow_seconds: v.follow_seconds,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> crate::Result<Deployment> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("candor.toml");
        std::fs::write(&file, text).unwrap();
        Deployment::load(&file)
    }

    fn key_of(r: crate::Result<Deployment>) -> String {
        match r {
            Err(Error::Config { key, .. }) => key,
            Err(e) => panic!("expected a config error, got {e}"),
            Ok(d) => panic!("expected an error, got {d:?}"),
        }
    }

    #[test]
    fn an_empty_file_means_the_embedded_store() {
        let d = load("").unwrap();
        assert_eq!(d.vector_store.kind, VectorStoreKind::Edge);
        assert_eq!(d.qdrant(Path::new("x")).unwrap(), None);
    }

    #[test]
    fn a_qdrant_store_gives_its_address() {
        let d = load(
            "[vector_store]\nkind = \"qdrant\"\nurl = \"http://q:6334\"\nfollow_seconds = 2\n",
        )
        .unwrap();
        let q = d.qdrant(Path::new("x")).unwrap().unwrap();
        assert_eq!(
            (q.url.as_str(), q.api_key, q.follow_seconds),
            ("http://q:6334", None, 2)
        );
    }

    #[test]
    fn each_bad_setting_is_named() {
        assert_eq!(
            key_of(load("[vector_store]\nkind = \"qdrant\"\n")),
            "vector_store.url"
        );
        assert_eq!(
            key_of(load(
                "[vector_store]\nkind = \"qdrant\"\nurl = \"q:6334\"\n"
            )),
            "vector_store.url"
        );
        assert_eq!(
            key_of(load("[vector_store]\nurl = \"http://q:6334\"\n")),
            "vector_store.url"
        );
        assert_eq!(
            key_of(load("[vector_store]\nkind = \"qdrant\"\nurl = \"http://q\"\napi_key_env = \"CANDOR_TEST_SURELY_UNSET\"\n")),
            "vector_store.api_key_env"
        );
        assert_eq!(
            key_of(load("[vector_store]\nkind = \"milvus\"\n")),
            "vector_store.kind"
        );
        assert_eq!(
            key_of(load("[vector_store]\nport = 1\n")),
            "vector_store.port"
        );
        assert_eq!(
            key_of(load("[vector_store]\nfollow_seconds = 0\n")),
            "vector_store.follow_seconds"
        );
    }
}
