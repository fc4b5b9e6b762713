//! One generation's collection on the server, as a vector store.

use super::*;

/// Midnight UTC of a day, as the payload and filters carry dates.
fn timestamp(d: NaiveDate) -> Timestamp {
    let seconds = d
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp());
    Timestamp { seconds, nanos: 0 }
}

/// One generation's collection.
pub struct QdrantStore {
    server: Arc<QdrantServer>,
    collection: String,
    exact: OnceLock<bool>,
}

impl QdrantStore {
    pub(super) fn new(server: &Arc<QdrantServer>, collection: String) -> QdrantStore {
        QdrantStore {
            server: server.clone(),
            collection,
            exact: OnceLock::new(),
        }
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Every point's chunk, vector and sentence vectors, in chunk id order: what
    /// a replica needs to rebuild the generation's tables and lexical index.
    ///
    /// # Errors
    ///
    /// [`Error::Vector`] when the ids are not exactly `0..n` or a point lacks its
    /// chunk or vector; [`Error::VectorUnavailable`].
    pub fn records(&self) -> crate::Result<Vec<(Chunk, Vec<f32>, ChunkSentences)>> {
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let name = self.collection.clone();
            let from = offset.clone();
            let page = self.server.call("scroll points", move |c| {
                let mut request = ScrollPointsBuilder::new(name.clone())
                    .limit(SCROLL_PAGE)
                    .with_payload(true)
                    .with_vectors(true);
                if let Some(id) = from.clone() {
                    request = request.offset(id);
                }
                async move { c.scroll(request).await }
            })?;
            for point in page.result {
                let bad = |what: &str| {
                    Error::Vector(format!(
                        "Qdrant at {}: collection {}, point {}: {what}",
                        self.server.url(),
                        self.collection,
                        out.len()
                    ))
                };
                match point.id.and_then(|id| id.point_id_options) {
                    Some(PointIdOptions::Num(n)) if n == out.len() as u64 => {}
                    other => return Err(bad(&format!("unexpected point id {other:?}"))),
                }
                let chunk = match point.payload.get("chunk").and_then(|v| v.kind.as_ref()) {
                    Some(Kind::StringValue(s)) => serde_json::from_str::<Chunk>(s)
                        .map_err(|e| bad(&format!("unreadable chunk: {e}")))?,
                    _ => return Err(bad("no chunk in the payload")),
                };
                let vector = match point.vectors.and_then(|v| v.get_vector()) {
                    Some(Vector::Dense(d)) if d.data.len() == DIM => d.data,
                    _ => return Err(bad("no vector of the model's size")),
                };
                let sentences = match point.payload.get("sentences").and_then(|v| v.kind.as_ref()) {
                    Some(Kind::StringValue(s)) => hex::decode(s)
                        .map_err(|e| e.to_string())
                        .and_then(|b| sentences::decode(&b))
                        .map_err(|e| bad(&format!("unreadable sentence vectors: {e}")))?,
                    _ => return Err(bad("no sentence vectors in the payload")),
                };
                out.push((chunk, vector, sentences));
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }
}

impl VectorStore for QdrantStore {
    fn upsert(&self, points: &[VectorPoint<'_>]) -> crate::Result<()> {
        for batch in points.chunks(UPSERT_BATCH_POINTS) {
            let list: Vec<PointStruct> = batch
                .iter()
                .map(|p| {
                    let c = p.chunk;
                    let mut payload = Payload::new();
                    payload.insert("doc_id", c.doc_id.0.clone());
                    if let Some(s) = &c.series {
                        payload.insert("series", s.clone());
                    }
                    if let Some(d) = c.date {
                        payload.insert("date", format!("{d}T00:00:00Z"));
                    }
                    let chunk = serde_json::to_string(c).map_err(|e| {
                        Error::Internal(format!("chunk {} cannot be written as JSON: {e}", p.id.0))
                    })?;
                    payload.insert("chunk", chunk);
                    payload.insert("sentences", hex::encode(sentences::encode(p.sentences)));
                    Ok(PointStruct::new(p.id.0, p.vector.to_vec(), payload))
                })
                .collect::<crate::Result<_>>()?;
            let name = self.collection.clone();
            self.server.call("upsert points", move |c| {
                let request = UpsertPointsBuilder::new(name.clone(), list.clone()).wait(true);
                async move { c.upsert_points(request).await }
            })?;
        }
        Ok(())
    }

    fn finish(&self) -> crate::Result<()> {
        // Upserts were waited for; the server builds its HNSW index in the
        // background and answers exactly meanwhile.
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
        let mut request = QueryPointsBuilder::new(self.collection.clone())
            .query(Query::new_nearest(vector.to_vec()))
            .limit(over_fetch(limit) as u64)
            .params(
                SearchParamsBuilder::default()
                    .hnsw_ef(hnsw_ef(over_fetch(limit)) as u64)
                    .exact(exact),
            );
        if let Some(d) = filter.not_after {
            request = request.filter(Filter::must([Condition::datetime_range(
                "date",
                DatetimeRange {
                    lte: Some(timestamp(d)),
                    ..Default::default()
                },
            )]));
        }
        let request = request.build();
        let hits = self.server.call("query", move |c| {
            let request = request.clone();
            async move { c.query(request).await }
        })?;
        let mut out = Vec::with_capacity(hits.result.len());
        for h in hits.result {
            match h.id.and_then(|id| id.point_id_options) {
                Some(PointIdOptions::Num(n)) => out.push((ChunkId(n), h.score)),
                other => {
                    return Err(Error::Vector(format!(
                    "Qdrant at {}: collection {} holds a point id Candor did not write: {other:?}",
                    self.server.url(), self.collection
                )))
                }
            }
        }
        Ok(best_first(out, limit))
    }

    fn count(&self) -> crate::Result<usize> {
        let name = self.collection.clone();
        let r = self.server.call("count", move |c| {
            let request = CountPointsBuilder::new(name.clone()).exact(true);
            async move { c.count(request).await }
        })?;
        Ok(r.result.map_or(0, |r| r.count as usize))
    }
}
