//! What an incremental build may take from the current generation.

use super::*;

/// One input of the current generation: its content hash, what it measured
/// against the limits, its chunks, their vectors and their sentences' vectors.
pub(super) struct Reusable {
    pub(super) hash: String,
    pub(super) documents: usize,
    pub(super) largest: usize,
    pub(super) chunks: Vec<Chunk>,
    pub(super) vectors: Vec<Vec<f32>>,
    pub(super) sentences: Vec<ChunkSentences>,
}

/// What an incremental run may reuse from the current generation.
pub(super) struct Previous {
    pub(super) chunks_by_key: HashMap<String, Reusable>,
}

impl Previous {
    /// What the current generation offers for reuse: `None` when there is none, the
    /// reason when it cannot be reused.
    pub(super) fn load(
        store: &CorpusStore,
        embedder: &Embedder,
        chunker: &Chunker,
    ) -> crate::Result<Option<Result<Previous, &'static str>>> {
        let Some(id) = store.current()? else {
            return Ok(None);
        };
        let dir = store.generation_dir(id);
        let manifest = read_manifest(&dir)?;
        if manifest.format != FORMAT_VERSION {
            return Ok(Some(Err("the generation was written in another format")));
        }
        if manifest.model_id != embedder.model_id() {
            return Ok(Some(Err("the embedding model changed")));
        }
        if manifest.chunking != chunker.settings() {
            return Ok(Some(Err("the chunking settings changed")));
        }
        let chunks = read_chunks(&dir.join(CHUNKS))?;
        let vectors = read_embeddings(&dir.join(EMBEDDINGS), chunks.len())?;
        let sentences = SentenceVectors::read(&dir.join(SENTENCES), chunks.len())?;
        let mut chunks_by_key = HashMap::new();
        for f in manifest.files {
            let (a, b) = (f.chunks.0 as usize, f.chunks.1 as usize);
            if a > b || b > chunks.len() {
                return Err(Error::Corrupt {
                    path: dir.join(MANIFEST),
                    reason: format!("bad chunk range for {}", f.key),
                });
            }
            chunks_by_key.insert(
                f.key,
                Reusable {
                    hash: f.hash,
                    documents: f.documents,
                    largest: f.largest_document_bytes,
                    chunks: chunks[a..b].to_vec(),
                    vectors: vectors[a..b].to_vec(),
                    sentences: sentences.take(a..b),
                },
            );
        }
        Ok(Some(Ok(Previous { chunks_by_key })))
    }
}

/// Keys of the inputs the current generation was built from.
pub(super) fn current_keys(
    store: &CorpusStore,
) -> crate::Result<std::collections::HashSet<String>> {
    Ok(match store.current()? {
        Some(id) => read_manifest(&store.generation_dir(id))?
            .files
            .into_iter()
            .map(|f| f.key)
            .collect(),
        None => Default::default(),
    })
}
