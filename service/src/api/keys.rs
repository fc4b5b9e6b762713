//! API keys: who may ask, which corpora they may read, and how fast. Off unless
//! the server is given a keys file; then every `/v1/` route needs
//! `Authorization: Bearer <secret>`, and the operational routes (`/healthz`,
//! `/readyz`, `/metrics`, `/openapi.json`, the playground) stay open.
//!
//! The file holds each key's id and the SHA-256 of its secret, never the secret:
//!
//! ```toml
//! [[keys]]
//! id = "support-widget"
//! secret_sha256 = "…64 hex digits…"
//! corpora = ["ferrule"]      # optional; default: every corpus
//! rate_per_second = 5        # optional; default: no limit
//! burst = 10                 # optional; default: the rate, at least 1
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ApiError;

/// Most keys one file may hold.
const MAX_KEYS: usize = 10_000;

/// Largest keys file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Whether `presented` hashes to `digest`. Every byte is compared, so the time
/// taken says nothing about where a wrong secret differs, nor its length.
pub(super) fn matches(presented: &str, digest: &[u8; 32]) -> bool {
    let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    d.iter().zip(digest).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    secret_sha256: String,
    corpora: Option<Vec<String>>,
    rate_per_second: Option<f64>,
    burst: Option<u32>,
}

/// One client's key, as the server holds it.
struct Key {
    id: String,
    digest: [u8; 32],
    /// The corpora it may read; None: all.
    corpora: Option<BTreeSet<String>>,
    bucket: Option<Mutex<Bucket>>,
}

/// A token bucket: `burst` requests at once, refilled at `rate` a second.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one token, or says in how many whole seconds one will be there.
    fn take(&mut self, now: Instant) -> Result<(), u32> {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / self.rate).ceil().max(1.0) as u32)
        }
    }
}

/// The client a request was made by: its key's id and what it may read.
#[derive(Clone, Debug)]
pub struct Client {
    /// The key's id.
    pub id: String,
    corpora: Option<BTreeSet<String>>,
}

impl Client {
    /// Whether this client may read `corpus`.
    pub fn may_read(&self, corpus: &str) -> bool {
        self.corpora.as_ref().is_none_or(|c| c.contains(corpus))
    }

    /// 403 unless this client may read `corpus`.
    pub(super) fn check(&self, corpus: &str) -> Result<(), ApiError> {
        match self.may_read(corpus) {
            true => Ok(()),
            false => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("key `{}` may not read corpus `{corpus}`", self.id),
            )),
        }
    }
}

/// The keys a server accepts, read from its keys file and read again on
/// [`Keyring::reload`].
pub struct Keyring {
    path: PathBuf,
    corpora: BTreeSet<String>,
    keys: RwLock<Arc<Vec<Key>>>,
}

impl Keyring {
    /// Reads the keys file at `path`; every corpus a key names must be one of
    /// `corpora`.
    ///
    /// # Errors
    ///
    /// A message naming the file and, where there is one, the key and the
    /// field that is wrong.
    pub fn load(path: &Path, corpora: impl IntoIterator<Item = String>) -> Result<Keyring, String> {
        let corpora = corpora.into_iter().collect();
        let keys = read(path, &corpora)?;
        Ok(Keyring {
            path: path.to_path_buf(),
            corpora,
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// Reads the keys file again and from now on accepts what it holds. A file
    /// that does not load changes nothing. Returns how many keys it holds.
    ///
    /// # Errors
    ///
    /// As [`Keyring::load`].
    pub fn reload(&self) -> Result<usize, String> {
        let keys = read(&self.path, &self.corpora)?;
        let n = keys.len();
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        Ok(n)
    }

    /// The client whose secret `presented` is, after taking one request from
    /// its rate.
    fn admit(&self, presented: &str) -> Result<Client, ApiError> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Every key is compared, so the time taken does not say which matched.
        let found = keys
            .iter()
            .fold(None, |found, k| match matches(presented, &k.digest) {
                true => Some(k),
                false => found,
            });
        let Some(key) = found else {
            return Err(unauthorized("the key is not known"));
        };
        if let Some(bucket) = &key.bucket {
            let mut bucket = crate::sync::lock(bucket);
            if let Err(seconds) = bucket.take(Instant::now()) {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "key `{}` is over its rate of {} requests a second",
                        key.id, bucket.rate
                    ),
                )
                .retry_after(seconds));
            }
        }
        Ok(Client {
            id: key.id.clone(),
            corpora: key.corpora.clone(),
        })
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn read(path: &Path, corpora: &BTreeSet<String>) -> Result<Vec<Key>, String> {
    let at = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("keys file {at}: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "keys file {at}: {size} bytes, more than the {MAX_FILE_BYTES} allowed"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("keys file {at}: {e}"))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("keys file {at}: {e}"))?;
    if file.keys.len() > MAX_KEYS {
        return Err(format!(
            "keys file {at}: {} keys, more than the {MAX_KEYS} allowed",
            file.keys.len()
        ));
    }
    let mut seen: BTreeMap<[u8; 32], String> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let mut keys = Vec::with_capacity(file.keys.len());
    for e in file.keys {
        let bad = |what: String| format!("keys file {at}: key `{}`: {what}", e.id);
        let id_ok = (1..=64).contains(&e.id.len())
            && e.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !id_ok {
            return Err(format!(
                "keys file {at}: key id `{}` must be 1 to 64 letters, digits, `.`, `_` or `-`",
                e.id.escape_default()
            ));
        }
        if !ids.insert(e.id.clone()) {
            return Err(bad("the id is used twice".into()));
        }
        let digest: [u8; 32] = hex::decode(&e.secret_sha256)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| bad("`secret_sha256` is not 64 hex digits".into()))?;
        if let Some(other) = seen.insert(digest, e.id.clone()) {
            return Err(bad(format!("has the same secret as key `{other}`")));
        }
        if let Some(unknown) = e.corpora.iter().flatten().find(|c| !corpora.contains(*c)) {
            return Err(bad(format!(
                "corpus `{}` is not served",
                unknown.escape_default()
            )));
        }
        let bucket = match (e.rate_per_second, e.burst) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("`burst` needs `rate_per_second`".into())),
            (Some(r), _) if !(r.is_finite() && r > 0.0 && r <= 1e6) => {
                return Err(bad(format!(
                    "`rate_per_second` must be above 0 and at most 1000000, got {r}"
                )))
            }
            (Some(_), Some(0)) => return Err(bad("`burst` must be at least 1".into())),
            (Some(rate), burst) => {
                let burst = burst.map_or(rate.ceil().max(1.0), f64::from);
                Some(Mutex::new(Bucket {
                    rate,
                    burst,
                    tokens: burst,
                    at: Instant::now(),
                }))
            }
        };
        keys.push(Key {
            id: e.id,
            digest,
            corpora: e.corpora.map(|c| c.into_iter().collect()),
            bucket,
        });
    }
    Ok(keys)
}

/// Admits a request to a `/v1/` route by its key, or answers 401 or 429. The
/// client goes with the request for the handlers (corpus access) and into
/// the request's log span.
pub(super) async fn authorize(
    State(ring): State<Arc<Keyring>>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let client = match presented {
        Some(secret) => ring.admit(secret),
        None => Err(unauthorized(
            "this server needs an API key: `Authorization: Bearer <key>`",
        )),
    };
    let (id, resp) = match client {
        Ok(client) => {
            let id = client.id.clone();
            tracing::Span::current().record("key", id.as_str());
            req.extensions_mut().insert(client);
            (id, next.run(req).await)
        }
        Err(e) => (String::new(), e.into_response()),
    };
    crate::metrics::inc(
        "candor_key_requests_total",
        "Requests to /v1/ routes by API key id (empty: no or an unknown key) and status.",
        &[("key", &id), ("status", resp.status().as_str())],
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(toml: &str) -> Result<Keyring, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, toml).unwrap();
        Keyring::load(&path, ["a".to_owned(), "b".to_owned()])
    }

    fn sha(secret: &str) -> String {
        hex::encode(Sha256::digest(secret.as_bytes()))
    }

    #[test]
    fn a_key_reads_its_corpora_within_its_rate() {
        let ring = ring(&format!(
            "[[keys]]\nid = \"app\"\nsecret_sha256 = \"{}\"\ncorpora = [\"a\"]\nrate_per_second = 0.5\nburst = 2\n",
            sha("s3cret")
        ))
        .unwrap();
        let client = ring.admit("s3cret").unwrap();
        assert_eq!(client.id, "app");
        assert!(client.may_read("a") && !client.may_read("b"));
        assert!(ring.admit("s3cret").is_ok());
        // The burst is spent; at half a request a second the next is 2 s away.
        let e = ring.admit("s3cret").unwrap_err();
        assert_eq!(e.body()["error"]["code"], "rate_limited");
        let resp = e.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        let e = ring.admit("wrong").unwrap_err();
        assert_eq!(e.body()["error"]["code"], "unauthorized");
        assert!(!e.body().to_string().contains("s3cret"));
    }

    #[test]
    fn bad_files_name_the_key_and_the_fault() {
        let s = sha("x");
        for (toml, says) in [
            (format!("[[keys]]\nid = \"a b\"\nsecret_sha256 = \"{s}\"\n"), "key id `a b`"),
            (
                format!("[[keys]]\nid = \"k\"\nsecret_sha256 = \"{s}\"\n[[keys]]\nid = \"k\"\nsecret_sha256 = \"{}\"\n", sha("y")),
                "key `k`: the id is used twice",
            ),
            (
                format!("[[keys]]\nid = \"k\"\nsecret_sha256 = \"{s}\"\n[[keys]]\nid = \"j\"\nsecret_sha256 = \"{s}\"\n"),
                "key `j`: has the same secret as key `k`",
            ),
            ("[[keys]]\nid = \"k\"\nsecret_sha256 = \"abc\"\n".into(), "key `k`: `secret_sha256` is not 64 hex digits"),
            (
                format!("[[keys]]\nid = \"k\"\nsecret_sha256 = \"{s}\"\ncorpora = [\"c\"]\n"),
                "key `k`: corpus `c` is not served",
            ),
            (
                format!("[[keys]]\nid = \"k\"\nsecret_sha256 = \"{s}\"\nrate_per_second = 0\n"),
                "key `k`: `rate_per_second` must be above 0",
            ),
            (
                format!("[[keys]]\nid = \"k\"\nsecret_sha256 = \"{s}\"\nburst = 3\n"),
                "key `k`: `burst` needs `rate_per_second`",
            ),
            (format!("[[keys]]\nid = \"k\"\nsecret = \"{s}\"\n"), "unknown field `secret`"),
        ] {
            let e = ring(&toml).err().unwrap_or_default();
            assert!(e.contains("keys.toml") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn a_reload_that_fails_keeps_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let entry = |id: &str, secret: &str| {
            format!(
                "[[keys]]\nid = \"{id}\"\nsecret_sha256 = \"{}\"\n",
                sha(secret)
            )
        };
        std::fs::write(&path, entry("old", "one")).unwrap();
        let ring = Keyring::load(&path, Vec::new()).unwrap();
        std::fs::write(&path, "[[keys]]\nid = \"\"\n").unwrap();
        assert!(ring.reload().is_err());
        assert!(ring.admit("one").is_ok());
        // Revoked: the new file no longer holds it.
        std::fs::write(&path, entry("new", "two")).unwrap();
        assert_eq!(ring.reload(), Ok(1));
        assert!(ring.admit("one").is_err());
        assert_eq!(ring.admit("two").unwrap().id, "new");
    }
}
