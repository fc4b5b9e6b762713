//! The meaning of every sentence of every chunk, embedded when the chunk is
//! indexed, so that the composer can tell which sentence answers a question
//! without running the model at question time (one sentence costs about as
//! much as the whole question does).
//!
//! Vectors are kept as bytes: each one scaled so its largest component is
//! ±127. A cosine computed from them is within about 0.01 of the exact one,
//! and the table is a quarter of the size of 32-bit floats.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::embed::DIM;
use crate::ingest::sentence::{plain, sentences};
use crate::ingest::Chunk;
use crate::Error;

use super::ChunkId;

/// Shorter sentences are fragments the composer never quotes: not embedded.
pub const MIN_EMBEDDED_CHARS: usize = 12;

/// One vector, scaled to bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    scale: f32,
    values: Vec<i8>,
}

impl Quantized {
    /// `v` scaled so that its largest component becomes ±127.
    pub fn new(v: &[f32]) -> Quantized {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 0.0 };
        let values = v
            .iter()
            .map(|x| {
                if scale > 0.0 {
                    (x / scale).round().clamp(-127.0, 127.0) as i8
                } else {
                    0
                }
            })
            .collect();
        Quantized { scale, values }
    }

    /// The dot product with `query` (a cosine, both being unit vectors).
    pub fn dot(&self, query: &[f32]) -> f32 {
        self.values
            .iter()
            .zip(query)
            .map(|(v, q)| f32::from(*v) * q)
            .sum::<f32>()
            * self.scale
    }
}

/// The sentence vectors of one chunk, in the order of
/// [`sentences`]; `None` for a fragment too short to embed.
pub type ChunkSentences = Vec<Option<Quantized>>;

/// The texts of `chunk`'s sentences as they are embedded: the plain text of each
/// span of [`sentences`], `None` for fragments.
pub fn embedded_texts(chunk: &Chunk) -> Vec<Option<String>> {
    let chars: Vec<char> = chunk.text.chars().collect();
    sentences(&chunk.text)
        .iter()
        .map(|s| {
            let text: String = chars[s.start..s.end].iter().collect();
            let text = if s.code { text } else { plain(&text) };
            (text.chars().count() >= MIN_EMBEDDED_CHARS).then_some(text)
        })
        .collect()
}

/// Every chunk's sentence vectors; `chunks[i]` belongs to `ChunkId(i)`.
#[derive(Debug, Default)]
pub struct SentenceVectors {
    chunks: Vec<ChunkSentences>,
}

const MAGIC: &[u8; 4] = b"CSV1";

impl SentenceVectors {
    /// The table of `chunks`' sentence vectors, in chunk order.
    pub fn new(chunks: Vec<ChunkSentences>) -> SentenceVectors {
        SentenceVectors { chunks }
    }

    /// How close sentence `index` of chunk `chunk` is to `query` in meaning (a
    /// cosine); `None` for a fragment or a sentence the table does not hold.
    pub fn similarity(&self, chunk: ChunkId, index: usize, query: &[f32]) -> Option<f32> {
        let c = self.chunks.get(usize::try_from(chunk.0).ok()?)?;
        c.get(index)?.as_ref().map(|v| v.dot(query))
    }

    /// Each chunk's sentence vectors, in chunk order.
    pub fn iter(&self) -> impl Iterator<Item = &ChunkSentences> {
        self.chunks.iter()
    }

    /// The vectors of chunks `range`, for reuse by the next generation.
    pub fn take(&self, range: std::ops::Range<usize>) -> Vec<ChunkSentences> {
        self.chunks[range].to_vec()
    }

    /// Writes the table: a magic number, the chunk count, then per chunk the
    /// length of its record and the record ([`encode`]).
    pub(super) fn write(&self, path: &Path) -> crate::Result<()> {
        let f = fs::File::create(path).map_err(Error::io(path))?;
        let mut w = BufWriter::new(f);
        let mut put = |b: &[u8]| w.write_all(b).map_err(Error::io(path));
        put(MAGIC)?;
        put(&(self.chunks.len() as u64).to_le_bytes())?;
        for c in &self.chunks {
            let record = encode(c);
            put(&(record.len() as u64).to_le_bytes())?;
            put(&record)?;
        }
        let f = w.into_inner().map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(Error::io(path))
    }

    /// Reads a table written by [`SentenceVectors::write`] for `chunks` chunks.
    pub(super) fn read(path: &Path, chunks: usize) -> crate::Result<SentenceVectors> {
        let bytes = fs::read(path).map_err(Error::io(path))?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let mut at: usize = 0;
        let mut take = |n: u64| -> crate::Result<&[u8]> {
            let end = usize::try_from(n).ok().and_then(|n| at.checked_add(n));
            let piece = end
                .and_then(|end| bytes.get(at..end))
                .ok_or_else(|| corrupt(format!("ends at byte {} inside a record", bytes.len())))?;
            at += piece.len();
            Ok(piece)
        };
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        if take(4)? != MAGIC {
            return Err(corrupt("not a sentence vector table".into()));
        }
        let count = word(take(8)?);
        if count != chunks as u64 {
            return Err(corrupt(format!(
                "holds {count} chunks, the chunk table {chunks}"
            )));
        }
        let mut out = Vec::with_capacity(chunks);
        for i in 0..chunks {
            let len = word(take(8)?);
            let record = decode(take(len)?).map_err(|e| corrupt(format!("chunk {i}: {e}")))?;
            out.push(record);
        }
        if at != bytes.len() {
            return Err(corrupt(format!(
                "{} bytes after the last chunk",
                bytes.len() - at
            )));
        }
        Ok(SentenceVectors { chunks: out })
    }
}

/// One chunk's sentence vectors as bytes, as the table file and a Qdrant
/// payload hold them: the sentence count, then per sentence a flag (0 for a
/// fragment), and for a vector its scale and `DIM` bytes.
pub fn encode(c: &ChunkSentences) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + c.len() * (5 + DIM));
    out.extend((c.len() as u32).to_le_bytes());
    for s in c {
        match s {
            Some(q) => {
                out.push(1);
                out.extend(q.scale.to_le_bytes());
                out.extend(q.values.iter().map(|v| *v as u8));
            }
            None => out.push(0),
        }
    }
    out
}

/// The vectors [`encode`] wrote, or what is wrong with `bytes`.
pub fn decode(bytes: &[u8]) -> Result<ChunkSentences, String> {
    let short = || format!("a record of {} bytes ends early", bytes.len());
    let mut at = 0;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let piece = bytes.get(at..at + n).ok_or_else(short)?;
        at += n;
        Ok(piece)
    };
    let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| short())?);
    let mut out = Vec::with_capacity((n as usize).min(bytes.len()));
    for _ in 0..n {
        match take(1)?[0] {
            0 => out.push(None),
            1 => {
                let scale = f32::from_le_bytes(take(4)?.try_into().map_err(|_| short())?);
                if !scale.is_finite() {
                    return Err(format!("a vector has scale {scale}"));
                }
                let values = take(DIM)?.iter().map(|b| *b as i8).collect();
                out.push(Some(Quantized { scale, values }));
            }
            flag => return Err(format!("unknown record flag {flag}")),
        }
    }
    if at != bytes.len() {
        return Err(format!(
            "{} bytes after the last sentence",
            bytes.len() - at
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u32) -> Vec<f32> {
        let v: Vec<f32> = (0..DIM)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000)
            .map(|x| x as f32 / 1000.0 - 0.5)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn quantized_cosines_stay_close_to_the_exact_ones() {
        let (a, b) = (unit(1), unit(7));
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((Quantized::new(&a).dot(&b) - exact).abs() < 0.01);
        assert!((Quantized::new(&a).dot(&a) - 1.0).abs() < 0.01);
        assert_eq!(Quantized::new(&[0.0; 4]).dot(&[1.0; 4]), 0.0);
    }

    #[test]
    fn the_table_round_trips_and_damage_is_named() -> crate::Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let path = dir.path().join("s");
        let table = SentenceVectors::new(vec![
            vec![Some(Quantized::new(&unit(1))), None],
            vec![],
            vec![Some(Quantized::new(&unit(2)))],
        ]);
        table.write(&path)?;
        let back = SentenceVectors::read(&path, 3)?;
        assert_eq!(back.chunks, table.chunks);
        let q = unit(2);
        assert!(back.similarity(ChunkId(2), 0, &q).is_some_and(|s| s > 0.99));
        assert_eq!(back.similarity(ChunkId(0), 1, &q), None);
        assert_eq!(back.similarity(ChunkId(9), 0, &q), None);

        let err = SentenceVectors::read(&path, 4).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("holds 3 chunks"), "{err}");
        let bytes = fs::read(&path).map_err(Error::io(&path))?;
        fs::write(&path, &bytes[..bytes.len() - 5]).map_err(Error::io(&path))?;
        let err = SentenceVectors::read(&path, 3).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("inside a record"), "{err}");
        Ok(())
    }
}
