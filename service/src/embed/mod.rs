//! Text embedding with fastembed on the int8 all-MiniLM-L6-v2 model.
//!
//! Loads ONNX Runtime dynamically from the fetched assets (no network, no system
//! install) and turns texts into unit-length 384-dim vectors with mean pooling. This
//! module knows nothing about chunks or indexes: it maps strings to vectors.
//!
//! The model runs in one session per core. Questions that arrive while every
//! session is busy are embedded together in the next free one's call. Batching does not change a vector: padding is masked and each row is
//! computed on its own, so a text's vector is bit-for-bit the one it gets alone
//! (a test checks this), and answers stay deterministic under any load.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use sha2::{Digest, Sha256};

use crate::cache::Fifo;
use crate::config::{Assets, MODEL_MAX_TOKENS};
use crate::Error;

/// The model's output dimension.
pub const DIM: usize = 384;

/// Texts per ONNX Runtime call while indexing. Texts are sorted by length first,
/// so a batch pads to similar lengths and larger batches waste little.
pub const BATCH_TEXTS: usize = 32;

/// Single-text embeddings kept for reuse. Default: 4,096 (about 6 MiB); the
/// oldest entry is dropped when full.
pub const QUERY_CACHE_ENTRIES: usize = 4096;

/// ONNX Runtime allows one environment per process; every embedder shares it.
static ORT_ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// A loaded embedding model. Cheap to share behind an `Arc`.
pub struct Embedder {
    /// One ONNX Runtime session per core, each with at most two threads that
    /// never spin. A single session spends a core spinning between the short
    /// calls of single questions, and runs one call at a time; sessions of their
    /// own embed concurrent questions at once.
    lanes: Vec<Mutex<TextEmbedding>>,
    /// Recent single-text embeddings: the same question costs the model once.
    cache: Mutex<Fifo<String, Vec<f32>>>,
    /// Single texts waiting for the model, and what became of those embedded.
    waiting: Mutex<Waiting>,
    /// Signalled whenever a batch of waiting texts has been embedded.
    embedded: Condvar,
    model_id: String,
    tokenizer: PathBuf,
    /// The vocabulary's whole words (entries that do not continue a word).
    words: std::collections::HashSet<String>,
}

/// The whole words of a `tokenizer.json`'s WordPiece vocabulary: its entries
/// other than word continuations (`##ing`) and special tokens (`[CLS]`).
fn whole_words(tokenizer_json: &[u8]) -> Option<std::collections::HashSet<String>> {
    let t: serde_json::Value = serde_json::from_slice(tokenizer_json).ok()?;
    let vocab = t.get("model")?.get("vocab")?.as_object()?;
    Some(
        vocab
            .keys()
            .filter(|k| !k.starts_with("##") && !k.starts_with('['))
            .cloned()
            .collect(),
    )
}

impl Embedder {
    /// Loads ONNX Runtime and the model from `assets`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read, [`Error::Embed`] when ONNX Runtime
    /// or the model fails to load.
    pub fn load(assets: &Assets) -> crate::Result<Embedder> {
        let env = ORT_ENV
            .get_or_init(|| {
                ort::init_from(&assets.onnxruntime)
                    .map_err(|e| {
                        format!(
                            "cannot load ONNX Runtime from {}: {e}",
                            assets.onnxruntime.display()
                        )
                    })?
                    .with_name("candor")
                    .build()
                    .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
            })
            .clone()
            .map_err(Error::Embed)?;
        let read = |p: &Path| std::fs::read(p).map_err(Error::io(p));
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(&assets.tokenizer)?,
            config_file: read(&assets.model_config)?,
            special_tokens_map_file: read(&assets.special_tokens_map)?,
            tokenizer_config_file: read(&assets.tokenizer_config)?,
        };
        let words = whole_words(&tokenizer_files.tokenizer_file).ok_or_else(|| {
            Error::Embed(format!(
                "{} holds no WordPiece vocabulary (model.vocab)",
                assets.tokenizer.display()
            ))
        })?;
        let onnx = read(&assets.model)?;
        let model_id = hex::encode(Sha256::digest(&onnx));
        let mut model = UserDefinedEmbeddingModel::new(onnx, tokenizer_files);
        model.pooling = Some(Pooling::Mean);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        // Two threads a lane keep one question's latency low; more would only
        // contend with the other lanes.
        let threads = cores.min(2);
        let options = InitOptionsUserDefined::new()
            .with_environment(env)
            .with_max_length(MODEL_MAX_TOKENS)
            .with_intra_threads(threads)
            .with_session_config("session.intra_op.allow_spinning", "0");
        let lanes = (0..cores)
            .map(|_| {
                TextEmbedding::try_new_from_user_defined(model.clone(), options.clone())
                    .map(Mutex::new)
                    .map_err(|e| {
                        Error::Embed(format!("cannot load {}: {e}", assets.model.display()))
                    })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(Embedder {
            lanes,
            cache: Mutex::new(Fifo::new(QUERY_CACHE_ENTRIES)),
            waiting: Mutex::new(Waiting::default()),
            embedded: Condvar::new(),
            model_id,
            tokenizer: assets.tokenizer.clone(),
            words,
        })
    }

    /// True when the model reads `word` (lowercase) as one token of its
    /// vocabulary rather than as pieces: a word it knows.
    pub fn knows(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    /// sha256 of the model file: vectors from different models never mix.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The model's `tokenizer.json`, for counting tokens the way the model does.
    pub fn tokenizer_path(&self) -> &Path {
        &self.tokenizer
    }

    /// Embeds `texts`, returning vectors in input order.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] when the model fails.
    pub fn embed<S: AsRef<str> + Send + Sync>(&self, texts: &[S]) -> crate::Result<Vec<Vec<f32>>> {
        // Sorting by length keeps each batch's padding short; the int8 model's cost
        // grows with the padded length, so this is most of the indexing speed.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].as_ref().len()));
        // One lane takes every batch: a lane's two threads already keep the
        // cores busy on long batches, and each session that ran them would
        // hold its own buffers for them.
        let mut model = self.free_lane()?;
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH_TEXTS) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i].as_ref()).collect();
            let vectors = model
                .embed(&inputs, Some(BATCH_TEXTS))
                .map_err(|e| Error::Embed(e.to_string()))?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// A lane no other call holds, or the first one when all are busy.
    fn free_lane(&self) -> crate::Result<std::sync::MutexGuard<'_, TextEmbedding>> {
        for lane in &self.lanes {
            match lane.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::WouldBlock) => continue,
                Err(std::sync::TryLockError::Poisoned(_)) => return Err(poisoned()),
            }
        }
        self.lanes[0].lock().map_err(|_| poisoned())
    }

    /// Embeds `texts` as a plain fastembed call does: input order, batches of
    /// [`BATCH_TEXTS`]. This is the baseline that indexing throughput is compared
    /// against; fastembed's own default batch of 256 long texts would make ONNX
    /// Runtime hold gigabytes of attention buffers.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] when the model fails.
    pub fn embed_raw<S: AsRef<str> + Send + Sync>(
        &self,
        texts: &[S],
    ) -> crate::Result<Vec<Vec<f32>>> {
        let mut model = self.lanes[0].lock().map_err(|_| poisoned())?;
        model
            .embed(texts, Some(BATCH_TEXTS))
            .map_err(|e| Error::Embed(e.to_string()))
    }

    /// Embeds one text, from the cache when it was embedded recently.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] when the model fails.
    pub fn embed_one(&self, text: &str) -> crate::Result<Vec<f32>> {
        let cache = || {
            self.cache
                .lock()
                .map_err(|_| Error::Embed("embedding cache poisoned by an earlier panic".into()))
        };
        if let Some(v) = cache()?.get(text) {
            return Ok(v);
        }
        let v = self.embed_batched(text)?;
        cache()?.put(text.to_owned(), v.clone());
        Ok(v)
    }

    /// Embeds `text` together with every other single text waiting at the time.
    ///
    /// No thread of its own: a caller that finds a lane idle takes everything
    /// waiting (its own text included) into one call and hands out the vectors;
    /// the others sleep until theirs is ready or a lane is idle again.
    fn embed_batched(&self, text: &str) -> crate::Result<Vec<f32>> {
        let mut waiting = crate::sync::lock(&self.waiting);
        let ticket = waiting.next_ticket;
        waiting.next_ticket += 1;
        waiting.texts.push((ticket, text.to_owned()));
        loop {
            if let Some(done) = waiting.done.remove(&ticket) {
                return done.map_err(Error::Embed);
            }
            // Every lane busy, or this text already in another caller's batch.
            if waiting.running == self.lanes.len() || waiting.texts.is_empty() {
                waiting = self
                    .embedded
                    .wait(waiting)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            waiting.running += 1;
            let take = waiting.texts.len().min(BATCH_TEXTS);
            let batch: Vec<(u64, String)> = waiting.texts.drain(..take).collect();
            drop(waiting);
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            // A panic inside ONNX Runtime must not leave `running` set for ever.
            let vectors = catch_unwind(AssertUnwindSafe(|| self.embed(&texts)))
                .unwrap_or_else(|_| Err(Error::Embed("the model panicked".into())))
                .and_then(|v| {
                    if v.len() == batch.len() {
                        Ok(v)
                    } else {
                        Err(Error::Embed(format!(
                            "model returned {} vectors for {} texts",
                            v.len(),
                            batch.len()
                        )))
                    }
                });
            waiting = crate::sync::lock(&self.waiting);
            waiting.running -= 1;
            match vectors {
                Ok(vectors) => {
                    for ((t, _), v) in batch.into_iter().zip(vectors) {
                        waiting.done.insert(t, Ok(v));
                    }
                }
                Err(e) => {
                    let message = match e {
                        Error::Embed(message) => message,
                        other => other.to_string(),
                    };
                    for (t, _) in batch {
                        waiting.done.insert(t, Err(message.clone()));
                    }
                }
            }
            self.embedded.notify_all();
        }
    }
}

fn poisoned() -> Error {
    Error::Embed("a model lock was poisoned by an earlier panic".into())
}

/// Single texts queued for the model, by ticket.
#[derive(Default)]
struct Waiting {
    next_ticket: u64,
    texts: Vec<(u64, String)>,
    /// Vectors (or the model's error) not yet collected by their caller.
    done: HashMap<u64, Result<Vec<f32>, String>>,
    /// Callers running the model on a batch of waiting texts, at most one per lane.
    running: usize,
}

#[cfg(test)]
mod tests {
    use crate::test_utils::embedder;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_model_knows_whole_words_not_pieces_or_typos() {
        let e = embedder();
        assert!(e.knows("restore") && e.knows("shipped"));
        assert!(!e.knows("restor") && !e.knows("repositry"));
        // Word continuations and special tokens are not words.
        assert!(!e.knows("##ing") && !e.knows("[CLS]"));
    }

    #[test]
    fn vectors_are_unit_length_384_dims_and_order_preserving() {
        let e = embedder();
        let texts = [
            "The cat sat on the mat.",
            "A kitten rested on a rug.",
            "Quarterly tax filing deadlines for small businesses.",
        ];
        let v = e.embed(&texts).unwrap();
        assert_eq!(v.len(), 3);
        for x in &v {
            assert_eq!(x.len(), super::DIM);
            let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
        }
        assert!(
            cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.2,
            "semantic neighbours should be closer"
        );
        // Batch companions do not change a text's vector by a single bit.
        for (text, batched) in texts.iter().zip(&v) {
            assert_eq!(&e.embed(&[text]).unwrap()[0], batched, "{text}");
        }
    }

    #[test]
    fn concurrent_questions_get_the_vectors_they_get_alone() {
        let e = embedder();
        let questions: Vec<String> = (0..12)
            .map(|i| format!("question {i}: does vitamin {i} lower the risk of fracture?"))
            .collect();
        let alone: Vec<Vec<f32>> = questions
            .iter()
            .map(|q| e.embed(&[q]).unwrap().pop().unwrap())
            .collect();
        let start = std::sync::Barrier::new(questions.len());
        let together: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = questions
                .iter()
                .map(|q| {
                    let (e, start) = (&e, &start);
                    s.spawn(move || {
                        start.wait();
                        e.embed_one(q).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(together, alone);
    }

    #[test]
    fn a_cached_text_gives_the_same_vector_as_a_fresh_one() {
        let e = embedder();
        let first = e.embed_one("cached question").unwrap();
        assert_eq!(
            e.cache.lock().unwrap().get("cached question"),
            Some(first.clone())
        );
        assert_eq!(e.embed_one("cached question").unwrap(), first);
    }

    #[test]
    fn long_inputs_are_not_cut_at_128_tokens() {
        let e = embedder();
        let base = "alpha beta gamma delta ".repeat(40); // about 160 word-pieces
        let a = e
            .embed_one(&(base.clone() + "volcanic eruptions and lava flows"))
            .unwrap();
        let b = e
            .embed_one(&(base + "monetary policy and interest rates"))
            .unwrap();
        assert!(
            cos(&a, &b) < 0.999,
            "text after token 128 must change the vector"
        );
    }
}
