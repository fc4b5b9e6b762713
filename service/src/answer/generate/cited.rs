//! How well the sources a generated sentence cites support it.

use super::*;

/// Scores how well cited sources support a sentence: the mean of (a) the best
/// cosine similarity between the sentence and any sentence (or two adjacent
/// sentences) of the sources and
/// (b) the IDF-weighted share of the sentence's terms found in the sources.
pub struct Support<'a> {
    gen: &'a Generation,
    embedder: &'a Embedder,
    /// Per chunk (document and span): its passages' vectors and its terms,
    /// computed when first cited.
    seen: HashMap<(String, (usize, usize)), Passages>,
}

/// A cited chunk's passage vectors and terms.
type Passages = (Vec<Vec<f32>>, HashSet<String>);

impl<'a> Support<'a> {
    /// A scorer over the chunks of `gen`.
    pub fn new(gen: &'a Generation, embedder: &'a Embedder) -> Support<'a> {
        Support {
            gen,
            embedder,
            seen: HashMap::new(),
        }
    }

    /// The support score in [0, 1] of `claim` by `sources` (indexes into `chunks`).
    ///
    /// # Errors
    ///
    /// Model and index errors.
    pub fn score(
        &mut self,
        claim: &str,
        chunks: &[&Chunk],
        sources: &[usize],
    ) -> crate::Result<f32> {
        let (dense, lexical) = self.parts(claim, chunks, sources)?;
        Ok((dense + lexical) / 2.0)
    }

    /// The two parts of [`Support::score`]: the best cosine similarity (at least
    /// 0) and the IDF-weighted share of terms found.
    ///
    /// # Errors
    ///
    /// Model and index errors.
    pub fn parts(
        &mut self,
        claim: &str,
        chunks: &[&Chunk],
        sources: &[usize],
    ) -> crate::Result<(f32, f32)> {
        let keys: Vec<(String, (usize, usize))> = sources
            .iter()
            .map(|&i| (chunks[i].doc_id.0.clone(), chunks[i].span))
            .collect();
        for (&i, key) in sources.iter().zip(&keys) {
            if !self.seen.contains_key(key) {
                let c = chunks[i];
                // Support may span two sentences ("Only one: port 7420. Agents
                // use it."), so adjacent pairs count as passages too.
                let sentences = crate::ingest::sentence::sentence_texts(&c.text);
                let mut passages = sentences.clone();
                passages.extend(sentences.windows(2).map(|w| w.join(" ")));
                let vectors = self.embedder.embed(&passages)?;
                let terms: HashSet<String> = lexical::terms(&format!("{}\n{}", c.title, c.text))
                    .into_iter()
                    .collect();
                self.seen.insert(key.clone(), (vectors, terms));
            }
        }
        let v = self.embedder.embed_one(claim)?;
        let mut dense = 0.0f32;
        for key in &keys {
            for s in &self.seen[key].0 {
                dense = dense.max(cosine(&v, s));
            }
        }
        let terms: HashSet<String> = lexical::terms(claim).into_iter().collect();
        let (mut covered, mut total) = (0.0f32, 0.0f32);
        for t in &terms {
            let idf = self.gen.lexical.idf(t)?;
            total += idf;
            if keys.iter().any(|k| self.seen[k].1.contains(t)) {
                covered += idf;
            }
        }
        let lexical = if total > 0.0 { covered / total } else { 0.0 };
        Ok((dense.max(0.0), lexical))
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
