//! Writing a generation to disk: its tables, then its vector store (in a
//! process of its own for the embedded store), then the manifest.

use super::*;

/// Writes the generation `manifest` names, the manifest last, and returns the
/// manifest's JSON.
pub(super) fn write_new_generation(
    store: &CorpusStore,
    manifest: &Manifest,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<String> {
    let dir = store.generation_dir(manifest.generation);
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    write_generation(store, manifest.generation, chunks, vectors, sentences)?;
    let manifest_path = dir.join(MANIFEST);
    let json = serde_json::to_string_pretty(manifest).map_err(|e| Error::Io {
        path: manifest_path.clone(),
        source: e.into(),
    })?;
    // Everything the manifest vouches for is on disk before the manifest, and the
    // manifest before `current` names the generation.
    write_durable(&manifest_path, json.as_bytes())?;
    sync_dir(&dir)?;
    Ok(json)
}

pub(super) fn write_generation(
    store: &CorpusStore,
    id: GenerationId,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<()> {
    let dir = store.generation_dir(id);
    write_tables(&dir, chunks, vectors, sentences)?;
    match (&store.vectors, VECTOR_WRITER.get()) {
        (VectorBackend::Edge, Some(program)) => write_vectors_apart(program, &dir)?,
        _ => fill_vectors(store.create_vectors(id)?, chunks, vectors, sentences)?,
    }
    match store.vectors {
        // Swapped in, it is served, and mapped: it must have the room for it.
        VectorBackend::Edge => EdgeStore::check_room(&dir.join(VECTORS)),
        VectorBackend::Qdrant(_) => Ok(()),
    }
}

pub(super) fn fill_vectors(
    store: Box<dyn VectorStore>,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    sentences: &SentenceVectors,
) -> crate::Result<()> {
    let points: Vec<VectorPoint> = chunks
        .iter()
        .zip(vectors)
        .zip(sentences.iter())
        .enumerate()
        .map(|(i, ((chunk, vector), sentences))| VectorPoint {
            id: ChunkId(i as u64),
            vector,
            chunk,
            sentences,
        })
        .collect();
    store.upsert(&points)?;
    store.finish()
}

/// The program that writes embedded vector stores, when it is not to be this
/// process (see [`write_vectors_with`]).
static VECTOR_WRITER: OnceLock<PathBuf> = OnceLock::new();

/// Has each embedded vector store written by `program write-vectors <generation
/// folder>` (which calls [`write_vectors`]) rather than in this process.
/// qdrant-edge writes through memory-mapped files, and a write into a mapped
/// file that finds the disk full is a SIGBUS: in a server, the end of every
/// corpus it serves. In a child process it ends the child, and the build fails
/// with that cause while the server serves on. The first call wins; without
/// one, stores are written in process.
pub fn write_vectors_with(program: PathBuf) {
    // A second call names the same program; the first is kept.
    let _ = VECTOR_WRITER.set(program);
}

/// Writes the embedded vector store of the generation in `dir` from its tables
/// (written before it).
///
/// # Errors
///
/// [`Error::Io`] or [`Error::Corrupt`] when a table cannot be read, and the
/// store's errors.
pub fn write_vectors(dir: &Path) -> crate::Result<()> {
    let chunks = read_chunks(&dir.join(CHUNKS))?;
    let vectors = read_embeddings(&dir.join(EMBEDDINGS), chunks.len())?;
    let sentences = SentenceVectors::read(&dir.join(SENTENCES), chunks.len())?;
    let store = Box::new(EdgeStore::create(&dir.join(VECTORS))?);
    fill_vectors(store, &chunks, &vectors, &sentences)
}

/// Runs `program write-vectors dir` and turns how it ended into a result.
fn write_vectors_apart(program: &Path, dir: &Path) -> crate::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let at = dir.join(VECTORS);
    let out = std::process::Command::new(program)
        .arg("write-vectors")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| Error::Io {
            path: at.clone(),
            source: std::io::Error::other(format!(
                "cannot start `{} write-vectors`: {e}",
                program.display()
            )),
        })?;
    if out.status.success() {
        return Ok(());
    }
    // A store that meets a full device can fail in a way that does not say so
    // (a panic deep in its writer): the device says whether it was full.
    if at.is_dir() {
        EdgeStore::check_room(&at)?;
    }
    let reason = match out.status.signal() {
        Some(libc::SIGBUS) => "the process writing it was stopped by SIGBUS, a write into a \
             memory-mapped file that failed: most likely no space left on the device"
            .to_owned(),
        Some(signal) => format!("the process writing it was killed by signal {signal}"),
        None => format!(
            "the process writing it failed ({}): {}",
            out.status,
            what_it_said(&String::from_utf8_lossy(&out.stderr))
        ),
    };
    Err(Error::Io {
        path: at,
        source: std::io::Error::other(reason),
    })
}

/// Why the writing process says it failed: its own error, as `candor` prints
/// it (the last line that says one), or else the message of a panic (the line
/// after "panicked at"), since a store that meets a full disk can panic.
fn what_it_said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let own = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("candor: "))
        .map(str::to_owned);
    let panic = || {
        let at = lines.iter().position(|l| l.contains(" panicked at "))?;
        lines
            .get(at + 1)
            .map(|m| format!("it panicked: {}", m.trim()))
    };
    own.or_else(panic)
        .unwrap_or_else(|| "it said nothing".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_that_panics_is_reported_with_its_message() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("writer");
        std::fs::write(
            &program,
            "#!/bin/sh\necho \"thread 'main' (7) panicked at src/store.rs:1:1:\" >&2\n\
             echo 'called `Result::unwrap()` on an `Err` value: No space left on device' >&2\n\
             exit 101\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let err = write_vectors_apart(&program, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exit status: 101")
                && err.contains("it panicked: called `Result::unwrap()`")
                && err.contains("No space left on device"),
            "{err}"
        );
        assert_eq!(
            what_it_said("candor: the store is damaged\n"),
            "the store is damaged"
        );
        assert_eq!(what_it_said(""), "it said nothing");
    }
}
