//! The vector store: a trait for dense nearest-neighbour search over chunks, and
//! its embedded implementation on `qdrant-edge`.
//!
//! Each point is one chunk (point id = chunk id) with a payload carrying what
//! retrieval filters on: the document id, its date and its series. The store knows
//! nothing about text, fusion or HTTP.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use chrono::NaiveDate;
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::external::serde_json::json;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeVectorParams,
    FieldCondition, FieldIndexOperations, Filter, HnswIndexConfig, JsonPath, NamedQuery,
    PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStruct, PointStructPersisted, QueryEnum, QueryRequest, Range, ScoringQuery, SearchParams,
    UpdateOperation, WalOptions, WithPayloadInterface, WithVector, DEFAULT_VECTOR_NAME,
};

use crate::embed::DIM;
use crate::index::ChunkId;
use crate::ingest::Chunk;
use crate::Error;

/// Points per update call; each call is one WAL record.
pub(super) const UPSERT_BATCH_POINTS: usize = 512;

/// Size of one WAL segment file, which qdrant-edge preallocates. Default there is
/// 32 MiB; generations are written once, so a small WAL wastes less disk.
const WAL_SEGMENT_BYTES: usize = 4 * 1024 * 1024;

/// Least HNSW beam width at query time.
const HNSW_EF: usize = 256;

/// The HNSW beam width for a search of `fetch` hits: several times the hits
/// asked for. Fusion standardises each ranking over its whole candidate list,
/// so the tail of that list moves the top 10 too; a beam no wider than the
/// list finds its tail only approximately, and two stores (each with its own
/// graph) then disagree on about one query in nine.
pub(super) fn hnsw_ef(fetch: usize) -> usize {
    HNSW_EF.max(4 * fetch)
}

/// Stores of at most this many points are searched exactly, by every backend:
/// the scan is cheap at that size and needs no graph built first (a Qdrant
/// server builds its graph in the background after an upload). Larger stores
/// use HNSW, with the wide beam of [`hnsw_ef`].
pub const EXACT_SEARCH_MAX_POINTS: usize = 20_000;

/// The bound in force: [`EXACT_SEARCH_MAX_POINTS`] unless an evaluation set
/// another with [`set_exact_search_max_points`].
static EXACT_MAX: AtomicUsize = AtomicUsize::new(EXACT_SEARCH_MAX_POINTS);

/// Searches stores of at most `points` points exactly from now on (0: every
/// store approximately), in this process. For evaluations that compare the
/// approximate search of two stores (`candor eval beir --exact-max-points 0`);
/// a store decides at its first search, so set it before any is opened.
pub fn set_exact_search_max_points(points: usize) {
    EXACT_MAX.store(points, Ordering::Relaxed);
}

/// Whether a store of `count()` points is searched exactly; counted once, at the
/// first search (stores are written before they are searched).
pub(super) fn exact_search(
    cell: &OnceLock<bool>,
    count: impl FnOnce() -> crate::Result<usize>,
) -> crate::Result<bool> {
    if let Some(exact) = cell.get() {
        return Ok(*exact);
    }
    let exact = count()? <= EXACT_MAX.load(Ordering::Relaxed);
    Ok(*cell.get_or_init(|| exact))
}

/// One point to store: a chunk and its embedding. A store keeps at least what
/// filters use (document id, date, series).
#[derive(Debug, Clone)]
pub struct VectorPoint<'a> {
    /// The chunk's id.
    pub id: ChunkId,
    /// Unit-length embedding.
    pub vector: &'a [f32],
    /// The chunk.
    pub chunk: &'a Chunk,
    /// Its sentences' vectors (kept by a server store, for replicas).
    pub sentences: &'a super::sentences::ChunkSentences,
}

/// Restricts a search to some points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorFilter {
    /// Only documents dated on or before this day (undated documents are excluded).
    pub not_after: Option<NaiveDate>,
}

/// Dense nearest-neighbour search over chunk vectors.
///
/// Implementations are shared between request threads: every method takes `&self`.
pub trait VectorStore: Send + Sync {
    /// Inserts or replaces points.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when the store rejects the write (wrong dimension, I/O).
    fn upsert(&self, points: &[VectorPoint<'_>]) -> crate::Result<()>;

    /// Makes everything written so far durable and optimised for search.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when optimisation fails.
    fn finish(&self) -> crate::Result<()>;

    /// The `limit` nearest chunks to `vector` by cosine similarity, best first; ties go
    /// to the lower chunk id.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when the search fails.
    fn search(
        &self,
        vector: &[f32],
        limit: usize,
        filter: &VectorFilter,
    ) -> crate::Result<Vec<(ChunkId, f32)>>;

    /// The number of points stored.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when counting fails.
    fn count(&self) -> crate::Result<usize>;
}

/// The embedded store: a `qdrant-edge` shard in a folder of the generation.
pub struct EdgeStore {
    dir: PathBuf,
    // Dropped by hand: see the Drop impl.
    shard: std::mem::ManuallyDrop<EdgeShard>,
    exact: OnceLock<bool>,
}

impl Drop for EdgeStore {
    fn drop(&mut self) {
        // qdrant-edge flushes its segments when dropped, and panics when it cannot.
        // A generation deleted while a reader still held it (a request that
        // outlived two swaps) has nowhere to flush to; its store is left to the
        // process's end instead, which costs its memory, not a crashed thread.
        if self.dir.is_dir() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.shard) };
        } else {
            tracing::warn!(dir = %self.dir.display(), "vector store deleted while in use; not flushing it");
        }
    }
}

fn vector_err(dir: &Path) -> impl Fn(qdrant_edge::OperationError) -> Error + '_ {
    move |e| Error::Vector(format!("{}: {e}", dir.display()))
}

fn key(name: &str) -> JsonPath {
    // The field names are constants below; parsing them cannot fail.
    name.parse()
        .unwrap_or_else(|()| unreachable!("`{name}` is a valid JSON path"))
}

/// Days since 1970-01-01: the payload's date representation, so ranges compare as numbers.
fn epoch_days(d: NaiveDate) -> i64 {
    d.signed_duration_since(NaiveDate::default()).num_days()
}

/// The query vector's size is the model's.
pub(super) fn check_dimension(vector: &[f32]) -> crate::Result<()> {
    if vector.len() != DIM {
        return Err(Error::Vector(format!(
            "query vector has {} dimensions, expected {DIM}",
            vector.len()
        )));
    }
    Ok(())
}

/// Hits to ask an engine for: a few more than `limit`, so that ties cut at the
/// limit can be ordered by id.
pub(super) fn over_fetch(limit: usize) -> usize {
    limit + limit / 4 + 1
}

/// The `limit` best hits, best first; equal scores go to the lower chunk id.
pub(super) fn best_first(mut hits: Vec<(ChunkId, f32)>, limit: usize) -> Vec<(ChunkId, f32)> {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(limit);
    hits
}

impl EdgeStore {
    /// Creates an empty store in `dir` (created if missing).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the folder cannot be made, [`Error::Vector`] when the shard
    /// cannot be created (for example because `dir` already holds one).
    pub fn create(dir: &Path) -> crate::Result<EdgeStore> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let config = EdgeConfig::builder()
            .vector(
                DEFAULT_VECTOR_NAME,
                EdgeVectorParams::builder(DIM, Distance::Cosine).build(),
            )
            // Index building shares the machine with embedding; one thread keeps it polite.
            .hnsw_config(HnswIndexConfig {
                max_indexing_threads: 1,
                ..Default::default()
            })
            .wal_options(WalOptions {
                segment_capacity: WAL_SEGMENT_BYTES,
                ..Default::default()
            })
            .build();
        let shard = EdgeShard::new(dir, config).map_err(vector_err(dir))?;
        let store = EdgeStore {
            dir: dir.to_path_buf(),
            shard: std::mem::ManuallyDrop::new(shard),
            exact: OnceLock::new(),
        };
        for (field, ty) in [
            ("doc_id", PayloadSchemaType::Keyword),
            ("series", PayloadSchemaType::Keyword),
            ("date", PayloadSchemaType::Integer),
        ] {
            store
                .shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: key(field),
                        field_schema: Some(PayloadFieldSchema::FieldType(ty)),
                    }),
                ))
                .map_err(vector_err(dir))?;
        }
        Ok(store)
    }

    /// On tmpfs, fails unless the device holding the store in `dir` has room
    /// for every byte of its files that mapping them may allocate. The files
    /// are sparse and mapped whole; on tmpfs even reading a hole allocates it,
    /// and a mapped access that finds no space left is a SIGBUS, which ends
    /// the process. On a disk, reading a hole allocates nothing, so a nearly
    /// full disk must not keep a store from being served. Checked before a
    /// store is served, and before a new generation is swapped in.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the bytes needed and free, or the file that could
    /// not be looked at.
    pub fn check_room(dir: &Path) -> crate::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let device = statfs(dir).map_err(Error::io(dir))?;
        if device.f_type != libc::TMPFS_MAGIC {
            return Ok(());
        }
        let mut holes = 0u64;
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.map_err(|e| Error::Io {
                path: e.path().unwrap_or(dir).to_path_buf(),
                source: e.into(),
            })?;
            if entry.file_type().is_file() {
                let m = entry.metadata().map_err(|e| Error::Io {
                    path: entry.path().to_path_buf(),
                    source: e.into(),
                })?;
                holes += m.len().saturating_sub(m.blocks() * 512);
            }
        }
        // Bytes free to an unprivileged writer.
        let free = device.f_bavail.saturating_mul(device.f_bsize as u64);
        if holes > free {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other(format!(
                    "no space left on the device to serve this vector store: mapping its files may take up to {holes} more bytes, and {free} are free"
                )),
            });
        }
        Ok(())
    }

    /// Opens the store in `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when `dir` holds no readable shard; as
    /// [`EdgeStore::check_room`].
    pub fn open(dir: &Path) -> crate::Result<EdgeStore> {
        if !dir.join("edge_config.json").is_file() {
            return Err(Error::Corrupt {
                path: dir.to_path_buf(),
                reason: "no vector store here".into(),
            });
        }
        EdgeStore::check_room(dir)?;
        let shard = EdgeShard::load(dir, None).map_err(vector_err(dir))?;
        Ok(EdgeStore {
            dir: dir.to_path_buf(),
            shard: std::mem::ManuallyDrop::new(shard),
            exact: OnceLock::new(),
        })
    }
}

/// What `statfs(2)` says of the file system holding `path`.
fn statfs(path: &Path) -> std::io::Result<libc::statfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: all-zero bytes are a valid `statfs` (integers only).
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid place to write to.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

impl VectorStore for EdgeStore {
    fn upsert(&self, points: &[VectorPoint<'_>]) -> crate::Result<()> {
        for batch in points.chunks(UPSERT_BATCH_POINTS) {
            let list: Vec<PointStructPersisted> = batch
                .iter()
                .map(|p| {
                    let payload = json!({
                        "doc_id": p.chunk.doc_id.0,
                        "date": p.chunk.date.map(epoch_days),
                        "series": p.chunk.series,
                    });
                    PointStructPersisted::from(PointStruct::new(p.id.0, p.vector.to_vec(), payload))
                })
                .collect();
            self.shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(list)),
                ))
                .map_err(vector_err(&self.dir))?;
        }
        Ok(())
    }

    fn finish(&self) -> crate::Result<()> {
        self.shard.optimize().map_err(vector_err(&self.dir))?;
        // flush() panics instead of returning I/O errors; nothing else holds the shard
        // here (the build owns it), so the lock it needs is free.
        self.shard.flush();
        Ok(())
    }

    fn search(
        &self,
        vector: &[f32],
        limit: usize,
        filter: &VectorFilter,
    ) -> crate::Result<Vec<(ChunkId, f32)>> {
        check_dimension(vector)?;
        let exact = exact_search(&self.exact, || self.count())?;
        let filter = filter.not_after.map(|d| {
            Filter::new_must(Condition::Field(FieldCondition::new_range(
                key("date"),
                Range {
                    lte: Some(OrderedFloat(epoch_days(d) as f64)),
                    ..Default::default()
                },
            )))
        });
        let hits = self
            .shard
            .query(QueryRequest {
                prefetches: vec![],
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(
                    NamedQuery::default_dense(vector.to_vec()),
                ))),
                filter,
                score_threshold: None,
                limit: over_fetch(limit),
                offset: 0,
                params: Some(SearchParams {
                    hnsw_ef: Some(hnsw_ef(over_fetch(limit))),
                    exact,
                    ..Default::default()
                }),
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(false),
            })
            .map_err(vector_err(&self.dir))?;
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            match h.id {
                PointId::NumId(n) => out.push((ChunkId(n), h.score)),
                PointId::Uuid(u) => {
                    return Err(Error::Corrupt {
                        path: self.dir.clone(),
                        reason: format!("unexpected point id {u}"),
                    })
                }
            }
        }
        Ok(best_first(out, limit))
    }

    fn count(&self) -> crate::Result<usize> {
        self.shard
            .count(CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(vector_err(&self.dir))
    }
}

/// The behaviour every [`VectorStore`] owes its callers, checked on a fresh,
/// empty store by each implementation's tests.
#[cfg(test)]
pub(crate) mod contract {
    use super::*;

    fn unit(seed: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM)
            .map(|i| (((i * 31 + seed * 17) % 97) as f32) - 48.0)
            .collect();
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    fn day(i: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(i * 10)
    }

    /// The 50 chunks and vectors [`fill`] writes: chunk 49 undated, 40 and 41
    /// the same vector.
    pub fn points() -> (Vec<Chunk>, Vec<Vec<f32>>) {
        let mut vectors: Vec<Vec<f32>> = (0..50).map(unit).collect();
        vectors[41] = vectors[40].clone();
        let chunks = (0..50)
            .map(|i| Chunk {
                doc_id: crate::ingest::DocId(format!("doc{i}")),
                source: format!("doc{i}.md").into(),
                title: format!("Document {i}"),
                heading_path: vec!["Part".into()],
                page: None,
                date: (i < 49).then(|| day(i as u64)),
                series: (i % 2 == 0).then(|| "even".to_owned()),
                file_dated: false,
                metadata: Default::default(),
                span: (0, 9),
                text: format!("chunk {i}."),
            })
            .collect();
        (chunks, vectors)
    }

    /// Writes [`points`] into `store` and finishes it.
    pub fn fill(store: &dyn VectorStore) -> crate::Result<()> {
        let (chunks, vectors) = points();
        let none = Vec::new();
        let points: Vec<VectorPoint> = chunks
            .iter()
            .zip(&vectors)
            .enumerate()
            .map(|(i, (chunk, vector))| VectorPoint {
                id: ChunkId(i as u64),
                vector,
                chunk,
                sentences: &none,
            })
            .collect();
        store.upsert(&points)?;
        store.finish()
    }

    /// Checks a store that [`fill`] filled.
    pub fn check(store: &dyn VectorStore) -> crate::Result<()> {
        assert_eq!(store.count()?, 50);
        let hits = store.search(&unit(7), 5, &VectorFilter::default())?;
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].0, ChunkId(7));
        assert!((hits[0].1 - 1.0).abs() < 1e-4, "{hits:?}");
        assert!(
            hits.windows(2).all(|w| w[0].1 >= w[1].1),
            "best first: {hits:?}"
        );
        // Equal scores: the lower chunk id first.
        let tie = store.search(&unit(40), 2, &VectorFilter::default())?;
        assert_eq!((tie[0].0, tie[1].0), (ChunkId(40), ChunkId(41)), "{tie:?}");
        let cutoff = VectorFilter {
            not_after: Some(day(3)),
        };
        let hits = store.search(&unit(7), 10, &cutoff)?;
        assert_eq!(
            hits.len(),
            4,
            "only points 0..=3 are dated on or before the cutoff: {hits:?}"
        );
        assert!(hits.iter().all(|h| h.0 .0 <= 3));
        let all = store.search(&unit(7), 100, &VectorFilter::default())?;
        assert_eq!(all.len(), 50, "a limit above the count returns everything");
        assert!(matches!(
            store.search(&[0.5; 3], 5, &VectorFilter::default()),
            Err(Error::Vector(_))
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_store_keeps_the_contract_across_reopening() -> crate::Result<()> {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EdgeStore::create(&dir.path().join("v"))?;
            contract::fill(&store)?;
            contract::check(&store)?;
        }
        contract::check(&EdgeStore::open(&dir.path().join("v"))?)
    }
}
