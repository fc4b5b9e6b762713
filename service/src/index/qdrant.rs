//! The vector store on a Qdrant server or cluster, through `qdrant-client` (gRPC),
//! for corpora that outgrow one machine or are served by several replicas.
//!
//! Each generation of a corpus is one collection, `candor_<corpus>_<generation>`,
//! and the alias `candor_<corpus>` names the one being served. Moving the alias
//! publishes a generation: Qdrant changes it atomically, and every replica that
//! looks at it next moves to the generation it names (each searches the
//! collection of the generation it serves). The points and payloads are the embedded store's
//! (point id = chunk id; document id, date and series), with the payload indexes
//! that filters use, plus the whole chunk; the collection's metadata holds the
//! generation's manifest. With those, a replica that did not build a generation
//! can rebuild its own copy of the chunk table and lexical index from the server.
//!
//! The engine is synchronous; this module owns a small Tokio runtime and blocks
//! on it. Every call has a deadline and transient failures are retried a bounded
//! number of times; what still fails is [`Error::VectorUnavailable`], which the
//! API answers with 503, never with a wrong "unsupported".

mod store;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use qdrant_client::qdrant::{
    point_id::PointIdOptions, value::Kind, vector_output::Vector, CollectionParamsDiffBuilder,
    Condition, CountPointsBuilder, CreateAliasBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DatetimeRange, DeleteCollectionBuilder, Distance, FieldType,
    Filter, GetCollectionInfoRequest, HnswConfigDiffBuilder, PointId, PointStruct, Query,
    QueryPointsBuilder, ScrollPointsBuilder, SearchParamsBuilder, Timestamp,
    UpdateCollectionBuilder, UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use super::sentences::{self, ChunkSentences};
use super::vector::{
    best_first, check_dimension, exact_search, hnsw_ef, over_fetch, VectorFilter, VectorPoint,
    VectorStore, UPSERT_BATCH_POINTS,
};
use super::{ChunkId, GenerationId};
use crate::config::{ClusterLayout, QdrantAddress};
use crate::embed::DIM;
use crate::ingest::Chunk;
use crate::Error;

pub use store::QdrantStore;

/// Deadline of connecting to one node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts of a call whose failure may pass (unavailable, timed out), at
/// least: a cluster's call may try each node once and then one more.
const ATTEMPTS: usize = 3;
/// Wait before trying the first node again; doubled each round.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Points read per call when a replica copies a generation.
const SCROLL_PAGE: u32 = 1024;
/// The collection metadata key holding the generation's manifest (JSON text).
const MANIFEST_KEY: &str = "candor_manifest";

/// A connection to one Qdrant deployment (a server, or several nodes of one
/// cluster), shared by the stores of every corpus.
pub struct QdrantServer {
    /// One client per node, in the order the deployment names them.
    nodes: Vec<(String, Qdrant)>,
    /// The node the last call that succeeded went to, tried first.
    preferred: AtomicUsize,
    /// The most one call may take, every attempt included.
    timeout: Duration,
    layout: ClusterLayout,
    runtime: tokio::runtime::Runtime,
}

impl QdrantServer {
    /// Connects to the server or cluster `address` names (the gRPC port of each
    /// node, e.g. `http://127.0.0.1:6334`) and checks that one node answers.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`] naming the addresses and the cause when none
    /// answers; [`Error::Internal`] when no runtime can be started.
    pub fn connect(address: &QdrantAddress) -> crate::Result<Arc<QdrantServer>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("candor-qdrant")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the Qdrant client runtime: {e}")))?;
        let nodes = address
            .urls
            .iter()
            .map(|url| {
                // The client spawns its connection tasks on the runtime it is built in.
                let _guard = runtime.enter();
                let client = Qdrant::from_url(url)
                    .api_key(address.api_key.clone())
                    .timeout(address.timeout)
                    .connect_timeout(CONNECT_TIMEOUT.min(address.timeout))
                    .skip_compatibility_check()
                    .build()
                    .map_err(|e| Error::VectorUnavailable(format!("Qdrant at {url}: {e}")))?;
                Ok((url.clone(), client))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        if nodes.is_empty() {
            return Err(Error::Internal("a Qdrant address names no node".into()));
        }
        let server = QdrantServer {
            nodes,
            preferred: AtomicUsize::new(0),
            timeout: address.timeout,
            layout: address.layout,
            runtime,
        };
        server.call("health check", |c| async move { c.health_check().await })?;
        Ok(Arc::new(server))
    }

    /// The addresses connected to, as messages name them.
    pub fn url(&self) -> String {
        let urls: Vec<&str> = self.nodes.iter().map(|(u, _)| u.as_str()).collect();
        urls.join(", ")
    }

    /// Runs one call, within the deployment's timeout. A failure that may pass
    /// moves the call to the next node (a cluster replicates what it holds, so
    /// any node serves any call); once every node has failed, the next round
    /// waits a little first. Each attempt may take at most half of the time
    /// left, the last one all of it, so a node that hangs (stopped, cut off)
    /// leaves time for the others. What still fails names the addresses and
    /// what was being done.
    fn call<T, F, Fut>(&self, what: &str, f: F) -> crate::Result<T>
    where
        F: Fn(Qdrant) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>> + Send + 'static,
        T: Send + 'static,
    {
        let started = Instant::now();
        let n = self.nodes.len();
        let attempts = ATTEMPTS.max(n + 1);
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut wait = FIRST_BACKOFF;
        let mut last_error = String::new();
        for attempt in 0..attempts {
            let left = self.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            // A lone server gets all the time left: there is nowhere else to go.
            let budget = if attempt + 1 == attempts || n == 1 {
                left
            } else {
                left / 2
            };
            let node = (first + attempt) % n;
            let (url, client) = &self.nodes[node];
            // Spawned and awaited through a channel rather than blocked on, so
            // that a caller on another runtime's thread never nests runtimes.
            let (tx, rx) = std::sync::mpsc::channel();
            let call = f(client.clone());
            self.runtime.spawn(async move {
                let _ = tx.send(tokio::time::timeout(budget, call).await);
            });
            let result = rx
                .recv()
                .map_err(|_| Error::Internal(format!("Qdrant call `{what}` panicked")))?;
            match result {
                Ok(Ok(v)) => {
                    self.preferred.store(node, Ordering::Relaxed);
                    return Ok(v);
                }
                // A node of a cluster that fails otherwise (no active replica
                // it can reach, say) may be the sick one: another may serve.
                Ok(Err(e)) if !(transient(&e) || (n > 1 && internal(&e))) => {
                    return Err(Error::Vector(format!("Qdrant at {url} ({what}): {e}")))
                }
                Ok(Err(e)) => last_error = format!("{url}: {e}"),
                Err(_) => last_error = format!("{url}: no answer within {} ms", budget.as_millis()),
            }
            tracing::warn!(url = %url, what, attempt = attempt + 1, error = %last_error, "Qdrant call failed; trying again");
            if attempt + 1 < attempts && (attempt + 1) % n == 0 {
                std::thread::sleep(wait.min(self.timeout.saturating_sub(started.elapsed())));
                wait *= 2;
            }
        }
        Err(Error::VectorUnavailable(format!(
            "Qdrant at {} ({what}) failed within {} ms: {last_error}",
            self.url(),
            self.timeout.as_millis()
        )))
    }

    /// The alias that names the served generation of `corpus`.
    pub fn alias(corpus: &str) -> String {
        format!("candor_{corpus}")
    }

    /// The collection of one generation of `corpus`.
    pub fn collection(corpus: &str, generation: GenerationId) -> String {
        format!("candor_{corpus}_{generation}")
    }

    /// Creates the empty collection of a new generation, with its payload
    /// indexes. The collection is the build's claim on the generation number:
    /// one that exists already belongs to another build.
    ///
    /// # Errors
    ///
    /// [`Error::IndexBusy`] when the collection exists; [`Error::VectorUnavailable`]
    /// or [`Error::Vector`].
    pub fn create(
        self: &Arc<Self>,
        corpus: &str,
        generation: GenerationId,
    ) -> crate::Result<QdrantStore> {
        let name = Self::collection(corpus, generation);
        if self.exists(&name)? {
            return Err(Error::IndexBusy(corpus.to_owned()));
        }
        let layout = self.layout;
        let n = name.clone();
        // An attempt cut off by the deadline or a node's death may have
        // created the collection all the same: a later attempt that finds it
        // finds this build's own.
        let tried = AtomicBool::new(false);
        self.call("create collection", move |c| {
            let request = CreateCollectionBuilder::new(n.clone())
                .vectors_config(VectorParamsBuilder::new(DIM as u64, Distance::Cosine))
                .hnsw_config(HnswConfigDiffBuilder::default().max_indexing_threads(1))
                .shard_number(layout.shards)
                .replication_factor(layout.replication_factor)
                .write_consistency_factor(layout.write_consistency);
            let retry = tried.swap(true, Ordering::Relaxed);
            async move {
                match c.create_collection(request).await {
                    Err(QdrantError::ResponseError { status })
                        // gRPC code 6: already exists.
                        if retry && status.code() as i32 == 6 =>
                    {
                        Ok(())
                    }
                    other => other.map(|_| ()),
                }
            }
        })?;
        if layout.read_fan_out > 0 {
            // Creation takes no fan-out; the collection's parameters do.
            let n = name.clone();
            self.call("set read fan-out", move |c| {
                let request = UpdateCollectionBuilder::new(n.clone()).params(
                    CollectionParamsDiffBuilder::default()
                        .read_fan_out_factor(layout.read_fan_out)
                        .read_fan_out_delay_ms(layout.read_fan_out_delay_ms),
                );
                async move { c.update_collection(request).await }
            })?;
        }
        for (field, ty) in [
            ("doc_id", FieldType::Keyword),
            ("series", FieldType::Keyword),
            ("date", FieldType::Datetime),
        ] {
            let n = name.clone();
            self.call("create payload index", move |c| {
                let request =
                    CreateFieldIndexCollectionBuilder::new(n.clone(), field, ty).wait(true);
                async move { c.create_field_index(request).await }
            })?;
        }
        Ok(QdrantStore::new(self, name))
    }

    /// The store of one generation's collection.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when the server has no such collection (the generation
    /// was built for another vector store, or its collection was deleted);
    /// [`Error::VectorUnavailable`].
    pub fn open(
        self: &Arc<Self>,
        corpus: &str,
        generation: GenerationId,
    ) -> crate::Result<QdrantStore> {
        let name = Self::collection(corpus, generation);
        if !self.exists(&name)? {
            return Err(Error::Vector(format!(
                "Qdrant at {} has no collection {name} for generation {generation} of `{corpus}`; reindex the corpus",
                self.url()
            )));
        }
        Ok(QdrantStore::new(self, name))
    }

    /// Whether a collection exists.
    fn exists(&self, name: &str) -> crate::Result<bool> {
        let n = name.to_owned();
        self.call("check collection", move |c| {
            let n = n.clone();
            async move { c.collection_exists(n).await }
        })
    }

    /// Stores the manifest of `generation` with its collection, then points the
    /// alias of `corpus` at it: from then on every replica can serve it. The
    /// alias never moves back to an older generation.
    ///
    /// # Errors
    ///
    /// [`Error::IndexBusy`] when another build published a newer generation
    /// meanwhile; as [`QdrantServer::swap`] otherwise.
    pub fn publish(
        &self,
        corpus: &str,
        generation: GenerationId,
        manifest: &str,
    ) -> crate::Result<()> {
        if self.served(corpus)?.is_some_and(|g| g >= generation) {
            return Err(Error::IndexBusy(corpus.to_owned()));
        }
        let name = Self::collection(corpus, generation);
        let metadata: HashMap<String, serde_json::Value> =
            HashMap::from([(MANIFEST_KEY.to_owned(), manifest.into())]);
        self.call("store manifest", move |c| {
            let request = UpdateCollectionBuilder::new(name.clone()).metadata(metadata.clone());
            async move { c.update_collection(request).await }
        })?;
        self.swap(corpus, generation)
    }

    /// The manifest stored with a generation's collection by [`QdrantServer::publish`].
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when the collection has none; [`Error::VectorUnavailable`].
    pub fn manifest(&self, corpus: &str, generation: GenerationId) -> crate::Result<String> {
        let name = Self::collection(corpus, generation);
        let n = name.clone();
        let info = self.call("read collection", move |c| {
            let request = GetCollectionInfoRequest {
                collection_name: n.clone(),
            };
            async move { c.collection_info(request).await }
        })?;
        info.result
            .and_then(|r| r.config)
            .and_then(|mut c| c.metadata.remove(MANIFEST_KEY))
            .and_then(|v| match v.kind {
                Some(Kind::StringValue(s)) => Some(s),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Vector(format!(
                    "Qdrant at {}: collection {name} holds no Candor manifest",
                    self.url()
                ))
            })
    }

    /// Points the alias of `corpus` at `generation`, atomically: a search through
    /// the alias sees the old collection or the new one, never neither.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`] or [`Error::Vector`]; the alias then still
    /// names the generation it named.
    fn swap(&self, corpus: &str, generation: GenerationId) -> crate::Result<()> {
        let (collection, alias) = (Self::collection(corpus, generation), Self::alias(corpus));
        self.call("move alias", move |c| {
            // Creating an alias that exists replaces it in one step.
            let request = CreateAliasBuilder::new(collection.clone(), alias.clone());
            async move { c.create_alias(request).await }
        })?;
        Ok(())
    }

    /// The generation the alias of `corpus` names, if any.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`] or [`Error::Vector`].
    pub fn served(&self, corpus: &str) -> crate::Result<Option<GenerationId>> {
        let alias = Self::alias(corpus);
        let prefix = format!("{alias}_");
        let aliases = self.call("list aliases", |c| async move { c.list_aliases().await })?;
        Ok(aliases
            .aliases
            .iter()
            .find(|a| a.alias_name == alias)
            .and_then(|a| a.collection_name.strip_prefix(&prefix))
            .and_then(|g| g.parse().ok())
            .map(GenerationId))
    }

    /// Deletes the collections of `corpus` other than those of `keep`; returns
    /// the names deleted.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`] or [`Error::Vector`].
    pub fn delete_others(&self, corpus: &str, keep: &[GenerationId]) -> crate::Result<Vec<String>> {
        let mut deleted = Vec::new();
        for generation in self.generations(corpus)? {
            if !keep.contains(&generation) {
                let name = Self::collection(corpus, generation);
                let n = name.clone();
                self.call("delete collection", move |c| {
                    let n = n.clone();
                    async move { c.delete_collection(DeleteCollectionBuilder::new(n)).await }
                })?;
                deleted.push(name);
            }
        }
        Ok(deleted)
    }

    /// The generations of `corpus` that have a collection, ascending.
    ///
    /// # Errors
    ///
    /// [`Error::VectorUnavailable`] or [`Error::Vector`].
    pub fn generations(&self, corpus: &str) -> crate::Result<Vec<GenerationId>> {
        let prefix = format!("{}_", Self::alias(corpus));
        let all = self.call(
            "list collections",
            |c| async move { c.list_collections().await },
        )?;
        let mut ids: Vec<GenerationId> = all
            .collections
            .iter()
            .filter_map(|c| c.name.strip_prefix(&prefix)?.parse().ok())
            .map(GenerationId)
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Whether a failure may pass on its own: the server unreachable, overloaded or
/// too slow this time.
fn transient(e: &QdrantError) -> bool {
    match e {
        // gRPC codes: 2 unknown (a broken connection), 4 deadline exceeded, 14
        // unavailable; the client reports a refused connection as 13, internal.
        QdrantError::ResponseError { status } => {
            matches!(status.code() as i32, 2 | 4 | 14)
                || (status.code() as i32 == 13 && status.message().contains("Failed to connect"))
        }
        QdrantError::ResourceExhaustedError { .. } => true,
        _ => false,
    }
}

/// Whether the server reports an internal error.
fn internal(e: &QdrantError) -> bool {
    matches!(e, QdrantError::ResponseError { status } if status.code() as i32 == 13)
}

/// The server of `CANDOR_TEST_QDRANT_URL` (its gRPC address), or None after
/// saying that the Qdrant half of a test (`what`) is skipped. `make test` starts
/// one whenever a Qdrant binary is at hand, so where one is (the test peer
/// beside the project, or CI) an unset variable fails the test instead.
#[cfg(test)]
pub(crate) fn test_server(what: &str) -> Option<Arc<QdrantServer>> {
    match std::env::var("CANDOR_TEST_QDRANT_URL") {
        Ok(url) => Some(
            QdrantServer::connect(&QdrantAddress::server(&url)).expect("the test Qdrant answers"),
        ),
        Err(_) => {
            let peer =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bin/qdrant");
            assert!(
                std::env::var_os("CI").is_none() && !peer.is_file(),
                "the Qdrant half of {what} needs CANDOR_TEST_QDRANT_URL: a Qdrant binary is at \
                 hand ({}), so run the tests with `make test`, which starts a server from it",
                peer.display()
            );
            // Straight to stderr: the test harness would swallow eprintln!.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped the Qdrant half of {what}: CANDOR_TEST_QDRANT_URL is not set"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
