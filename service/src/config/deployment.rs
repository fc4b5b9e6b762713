//! The deployment file (`candor.toml`, named with `--deployment` or `CANDOR_DEPLOYMENT`):
//! settings of a whole installation rather than of one corpus. Today that is
//! where the vectors live: in process (`edge`, the default) or on a Qdrant server
//! or cluster that several replicas share, and how a cluster spreads them.

use std::path::Path;
use std::time::Duration;

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
    /// The gRPC addresses of several nodes of one Qdrant cluster, instead of
    /// `url`: a call that finds one node gone goes to the next.
    #[serde(default)]
    pub urls: Option<Vec<String>>,
    /// Shards of each generation's collection. Default: 1.
    #[serde(default = "one")]
    pub shards: u32,
    /// Copies of each shard the cluster keeps, on different nodes. Default: 1.
    #[serde(default = "one")]
    pub replication_factor: u32,
    /// Copies of a shard that must take a write before it counts as done;
    /// 1..=`replication_factor`. Default: 1.
    #[serde(default = "one")]
    pub write_consistency: u32,
    /// Further replicas a search is also sent to when the first has not
    /// answered after `read_fan_out_delay_ms`; the first answer wins. Default: 0.
    #[serde(default)]
    pub read_fan_out: u32,
    /// How long a search waits for its first replica before it also asks
    /// another (`read_fan_out` > 0). Default: 100.
    #[serde(default = "default_fan_out_delay_ms")]
    pub read_fan_out_delay_ms: u64,
    /// The most one call to the vector store may take, retries and moving to
    /// another node included, in milliseconds; 100..=600000. Default: 10000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
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

fn one() -> u32 {
    1
}

fn default_fan_out_delay_ms() -> u64 {
    100
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl Default for VectorStoreSettings {
    fn default() -> Self {
        VectorStoreSettings {
            kind: VectorStoreKind::default(),
            url: None,
            urls: None,
            shards: one(),
            replication_factor: one(),
            write_consistency: one(),
            read_fan_out: 0,
            read_fan_out_delay_ms: default_fan_out_delay_ms(),
            timeout_ms: default_timeout_ms(),
            api_key_env: None,
            follow_seconds: default_follow_seconds(),
        }
    }
}

/// A Qdrant server or cluster to connect to, read from a valid `[vector_store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdrantAddress {
    /// The gRPC addresses, one per node tried, in order.
    pub urls: Vec<String>,
    /// The API key, read from the environment at load time.
    pub api_key: Option<String>,
    /// Seconds between looks for a generation moved by another replica.
    pub follow_seconds: u64,
    /// The most one call may take, retries and failover included.
    pub timeout: Duration,
    /// How each generation's collection is spread over the cluster.
    pub layout: ClusterLayout,
}

impl QdrantAddress {
    /// A single server at `url`, with every other setting at its default.
    pub fn server(url: &str) -> QdrantAddress {
        QdrantAddress {
            urls: vec![url.to_owned()],
            api_key: None,
            follow_seconds: default_follow_seconds(),
            timeout: Duration::from_millis(default_timeout_ms()),
            layout: ClusterLayout::default(),
        }
    }
}

/// How a collection is spread over a Qdrant cluster; all ones and no fan-out
/// for a single server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLayout {
    /// Shards of each collection.
    pub shards: u32,
    /// Copies of each shard.
    pub replication_factor: u32,
    /// Copies that must take a write.
    pub write_consistency: u32,
    /// Further replicas a slow search is also sent to.
    pub read_fan_out: u32,
    /// How long before a search also asks another replica, in milliseconds.
    pub read_fan_out_delay_ms: u64,
}

impl Default for ClusterLayout {
    fn default() -> Self {
        ClusterLayout {
            shards: 1,
            replication_factor: 1,
            write_consistency: 1,
            read_fan_out: 0,
            read_fan_out_delay_ms: default_fan_out_delay_ms(),
        }
    }
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
        let bad = |(key, message): (&str, String)| Error::Config {
            file: file.to_path_buf(),
            key: format!("vector_store.{key}"),
            message,
        };
        if !(1..=3600).contains(&v.follow_seconds) {
            return Err(bad((
                "follow_seconds",
                format!("must be in 1..=3600, got {}", v.follow_seconds),
            )));
        }
        match v.kind {
            VectorStoreKind::Edge => v.check_edge().map(|()| None).map_err(bad),
            VectorStoreKind::Qdrant => v.qdrant_address().map(Some).map_err(bad),
        }
    }
}

/// A key below `vector_store.` and what is wrong with it.
type Bad = (&'static str, String);

impl VectorStoreSettings {
    /// Checks that no Qdrant-only setting is set for the embedded store.
    fn check_edge(&self) -> Result<(), Bad> {
        let defaults = VectorStoreSettings::default();
        let set = [
            ("url", self.url.is_some()),
            ("urls", self.urls.is_some()),
            ("api_key_env", self.api_key_env.is_some()),
            ("shards", self.shards != defaults.shards),
            (
                "replication_factor",
                self.replication_factor != defaults.replication_factor,
            ),
            (
                "write_consistency",
                self.write_consistency != defaults.write_consistency,
            ),
            ("read_fan_out", self.read_fan_out != defaults.read_fan_out),
            (
                "read_fan_out_delay_ms",
                self.read_fan_out_delay_ms != defaults.read_fan_out_delay_ms,
            ),
            ("timeout_ms", self.timeout_ms != defaults.timeout_ms),
        ];
        match set.iter().find(|(_, s)| *s) {
            Some(&(key, _)) => Err((key, "applies only to kind = \"qdrant\"".into())),
            None => Ok(()),
        }
    }

    /// The checked Qdrant settings: addresses, layout, API key.
    fn qdrant_address(&self) -> Result<QdrantAddress, Bad> {
        let urls = self.checked_urls()?;
        self.check_layout()?;
        let api_key = match &self.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                (
                    "api_key_env",
                    format!("environment variable `{var}` is not set"),
                )
            })?),
            None => None,
        };
        Ok(QdrantAddress {
            urls,
            api_key,
            follow_seconds: self.follow_seconds,
            timeout: Duration::from_millis(self.timeout_ms),
            layout: ClusterLayout {
                shards: self.shards,
                replication_factor: self.replication_factor,
                write_consistency: self.write_consistency,
                read_fan_out: self.read_fan_out,
                read_fan_out_delay_ms: self.read_fan_out_delay_ms,
            },
        })
    }

    /// The node addresses from `url` or `urls` (exactly one given), each a
    /// distinct http(s) address.
    fn checked_urls(&self) -> Result<Vec<String>, Bad> {
        let (key, urls) = match (&self.url, &self.urls) {
            (Some(_), Some(_)) => {
                return Err(("urls", "give either `url` or `urls`, not both".into()))
            }
            (Some(url), None) => ("url", vec![url.clone()]),
            (None, Some(urls)) if !urls.is_empty() => ("urls", urls.clone()),
            (None, Some(_)) => return Err(("urls", "names no address".into())),
            (None, None) => {
                return Err((
                    "url",
                    "kind = \"qdrant\" needs the server's gRPC address, such as \"http://127.0.0.1:6334\" (or `urls`, one per node of a cluster)".into(),
                ))
            }
        };
        for (i, url) in urls.iter().enumerate() {
            if urls[..i].contains(url) {
                return Err((key, format!("names `{url}` twice")));
            }
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return Err((
                    key,
                    format!("must be an http:// or https:// address, got `{url}`"),
                ));
            }
        }
        Ok(urls)
    }

    /// Checks how collections are spread over the cluster, and the call timeout.
    fn check_layout(&self) -> Result<(), Bad> {
        in_range("shards", self.shards.into(), 1..=64)?;
        in_range("replication_factor", self.replication_factor.into(), 1..=16)?;
        in_range(
            "write_consistency",
            self.write_consistency.into(),
            1..=self.replication_factor.into(),
        )?;
        // Fan-out goes to other copies of a shard, so there must be that many.
        in_range(
            "read_fan_out",
            self.read_fan_out.into(),
            0..=u64::from(self.replication_factor) - 1,
        )?;
        in_range(
            "read_fan_out_delay_ms",
            self.read_fan_out_delay_ms,
            0..=60_000,
        )?;
        in_range("timeout_ms", self.timeout_ms, 100..=600_000)
    }
}

/// Checks that `value` of `key` is in `range`.
fn in_range(
    key: &'static str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), Bad> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err((
            key,
            format!(
                "must be in {}..={}, got {value}",
                range.start(),
                range.end()
            ),
        ))
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
            (q.urls, q.api_key, q.follow_seconds),
            (vec!["http://q:6334".to_owned()], None, 2)
        );
        assert_eq!(q.layout, ClusterLayout::default());
        assert_eq!(q.timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_cluster_gives_its_nodes_and_layout() {
        let d = load(
            "[vector_store]\nkind = \"qdrant\"\nurls = [\"http://a:6334\", \"http://b:6334\"]\n\
             shards = 2\nreplication_factor = 2\nwrite_consistency = 2\nread_fan_out = 1\n\
             read_fan_out_delay_ms = 50\ntimeout_ms = 3000\n",
        )
        .unwrap();
        let q = d.qdrant(Path::new("x")).unwrap().unwrap();
        assert_eq!(q.urls, ["http://a:6334", "http://b:6334"]);
        assert_eq!(q.timeout, Duration::from_secs(3));
        assert_eq!(
            q.layout,
            ClusterLayout {
                shards: 2,
                replication_factor: 2,
                write_consistency: 2,
                read_fan_out: 1,
                read_fan_out_delay_ms: 50,
            }
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
        let qdrant = "[vector_store]\nkind = \"qdrant\"\nurl = \"http://q:6334\"\n";
        for (extra, key) in [
            ("urls = [\"http://r:6334\"]\n", "urls"),
            ("shards = 0\n", "shards"),
            (
                "replication_factor = 2\nwrite_consistency = 3\n",
                "write_consistency",
            ),
            ("timeout_ms = 5\n", "timeout_ms"),
            ("read_fan_out = 1\n", "read_fan_out"),
        ] {
            assert_eq!(
                key_of(load(&format!("{qdrant}{extra}"))),
                format!("vector_store.{key}")
            );
        }
        assert_eq!(
            key_of(load("[vector_store]\nkind = \"qdrant\"\nurls = []\n")),
            "vector_store.urls"
        );
        assert_eq!(
            key_of(load(
                "[vector_store]\nkind = \"qdrant\"\nurls = [\"http://a\", \"b\"]\n"
            )),
            "vector_store.urls"
        );
        assert_eq!(
            key_of(load(
                "[vector_store]\nkind = \"qdrant\"\nurls = [\"http://a\", \"http://a\"]\n"
            )),
            "vector_store.urls"
        );
        assert_eq!(
            key_of(load("[vector_store]\nshards = 2\n")),
            "vector_store.shards"
        );
    }
}
