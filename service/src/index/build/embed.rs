//! Embedding a build's new chunks and their sentences, in steps that
//! report progress.

use super::*;

/// Texts per embedding call during a build; progress is reported after each.
const EMBED_STEP_TEXTS: usize = 256;

/// Embeds the chunks of the slots that have no vectors, all at once, and (as
/// `sentences` says) each distinct sentence of them; returns how many chunks
/// and sentences were embedded.
pub(super) fn embed_new(
    slots: &mut [Slot],
    sentences: Sentences,
    embedder: &Embedder,
    progress: &dyn Progress,
) -> crate::Result<(usize, usize)> {
    let mut pending: Vec<(usize, usize)> = Vec::new();
    for (s, slot) in slots.iter().enumerate() {
        if slot.vectors.is_none() {
            pending.extend((0..slot.chunks.len()).map(|c| (s, c)));
        }
    }
    let texts: Vec<String> = pending
        .iter()
        .map(|&(s, c)| slots[s].chunks[c].embedding_text())
        .collect();
    let new_vectors = embed_all(embedder, &texts, progress, |done, total| {
        ProgressEvent::Embedded { done, total }
    })?;
    // Each distinct sentence of the new chunks once: overlapping windows
    // repeat sentences, and identical lines recur across documents.
    let mut sentence_texts: Vec<String> = Vec::new();
    let mut known: HashMap<String, usize> = HashMap::new();
    let wanted = sentences == Sentences::Embed;
    let per_chunk: Vec<Vec<Option<usize>>> = pending
        .iter()
        .map(|&(s, c)| {
            sentences::embedded_texts(&slots[s].chunks[c])
                .into_iter()
                .map(|t| {
                    t.filter(|_| wanted).map(|t| {
                        let next = sentence_texts.len();
                        *known.entry(t.clone()).or_insert_with(|| {
                            sentence_texts.push(t);
                            next
                        })
                    })
                })
                .collect()
        })
        .collect();
    let sentence_vectors: Vec<Quantized> =
        embed_all(embedder, &sentence_texts, progress, |done, total| {
            ProgressEvent::EmbeddedSentences { done, total }
        })?
        .iter()
        .map(|v| Quantized::new(v))
        .collect();
    let mut fresh = new_vectors.into_iter().zip(per_chunk.into_iter().map(|c| {
        c.into_iter()
            .map(|i| i.map(|i| sentence_vectors[i].clone()))
            .collect::<ChunkSentences>()
    }));
    for slot in slots.iter_mut().filter(|s| s.vectors.is_none()) {
        slot.vectors = Some(fresh.by_ref().take(slot.chunks.len()).unzip());
    }
    Ok((texts.len(), sentence_texts.len()))
}

/// Embeds `texts`, longest first so batches pad little, reporting progress
/// with `event`; the vectors come back in `texts`' order.
pub(super) fn embed_all(
    embedder: &Embedder,
    texts: &[String],
    progress: &dyn Progress,
    event: impl Fn(u64, u64) -> ProgressEvent,
) -> crate::Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(texts[i].len()), i));
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
    let mut done = 0;
    for step in order.chunks(EMBED_STEP_TEXTS) {
        if progress.cancelled() {
            return Err(Error::JobCanceled);
        }
        let batch: Vec<&str> = step.iter().map(|&i| texts[i].as_str()).collect();
        let vectors = embedder.embed(&batch)?;
        if vectors.len() != batch.len() || vectors.iter().any(|v| v.len() != crate::embed::DIM) {
            return Err(Error::Embed(format!(
                "the model returned {} vectors for {} texts, or a vector of the wrong size",
                vectors.len(),
                batch.len()
            )));
        }
        for (&i, v) in step.iter().zip(vectors) {
            out[i] = v;
        }
        done += step.len();
        progress.report(event(done as u64, texts.len() as u64));
    }
    Ok(out)
}
