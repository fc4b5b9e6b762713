//! Builds on small inputs with the real model: reuse, sentences, replicas.

use super::*;
use crate::config::Chunking;
use crate::index::{Generation, VectorFilter};

use crate::test_utils::embedder;

fn dense_top(gen: &Generation, e: &Embedder, query: &str) -> crate::Result<String> {
    let hits = gen
        .vectors
        .search(&e.embed_one(query)?, 1, &VectorFilter::default())?;
    Ok(gen.chunk(hits[0].0)?.doc_id.0.clone())
}

fn lexical_docs(gen: &Generation, query: &str) -> crate::Result<Vec<String>> {
    gen.lexical
        .search(query, 5, 1.0)?
        .iter()
        .map(|h| Ok(gen.chunk(h.0)?.doc_id.0.clone()))
        .collect()
}

fn input(key: &str, text: &str) -> BuildInput {
    let (k, t) = (key.to_owned(), text.to_owned());
    BuildInput::new(
        key.to_owned(),
        text.as_bytes(),
        Box::new(move || Ok(vec![Document::plain(k.clone(), k, t)])),
    )
}

fn failing(key: &str) -> BuildInput {
    let k = key.to_owned();
    BuildInput::new(
        key.to_owned(),
        b"x",
        Box::new(move || {
            Err(Error::BadDocument {
                path: k.into(),
                reason: "corrupt on purpose".into(),
            })
        }),
    )
}

const DOCS: [(&str, &str); 3] = [
    (
        "bees",
        "Honey bees pollinate orchards and produce wax in their hives.",
    ),
    (
        "tides",
        "The moon's gravity raises ocean tides twice a day along the coast.",
    ),
    (
        "rust",
        "Iron oxidises into rust when exposed to water and oxygen.",
    ),
];

/// The embedded store, and the test Qdrant server when there is one; `test`
/// names the corpus on the server, which outlives the test's folders.
fn backends(test: &str) -> Vec<(String, VectorBackend)> {
    let mut all = vec![("t".to_owned(), VectorBackend::Edge)];
    if let Some(server) = crate::index::qdrant::test_server(test) {
        all.push((
            format!("{}{}", test.replace(' ', "_"), std::process::id()),
            VectorBackend::Qdrant(server),
        ));
    }
    all
}

/// Deletes what a test left on the Qdrant server.
fn clean_server(name: &str, backend: &VectorBackend) -> crate::Result<()> {
    if let VectorBackend::Qdrant(server) = backend {
        server.delete_others(name, &[])?;
    }
    Ok(())
}

/// The generation of a one-document corpus holding `text`, with the model.
fn one_document(
    text: &str,
) -> crate::Result<(tempfile::TempDir, Generation, std::sync::Arc<Embedder>)> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    build(
        &store,
        vec![input("a", text)],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    let gen = store.open_current()?;
    Ok((dir, gen, e))
}

#[test]
fn a_typo_reads_as_the_corpus_word_but_known_words_and_names_stay() -> crate::Result<()> {
    let (_dir, gen, e) = one_document(
        "To restore a file, open the repository. Encryption keeps it skipped by nobody.",
    )?;
    assert_eq!(
        gen.respell("How do I restor a file from the repositry?", &e),
        "How do I restore a file from the repository?"
    );
    // "shipped" is a word the model knows, though the corpus only has
    // "skipped"; "OpenID" is a name; short words are never taken for typos.
    for kept in [
        "Which release shipped it?",
        "Does it speak OpenId?",
        "a fle",
    ] {
        assert!(
            matches!(gen.respell(kept, &e), std::borrow::Cow::Borrowed(_)),
            "{kept}"
        );
    }
    // A typo keeps the whitespace and punctuation around it.
    assert_eq!(gen.respell("encrytion?!", &e), "encryption?!");
    Ok(())
}

#[test]
fn names_neither_the_corpus_nor_the_model_knows_are_unknown() -> crate::Result<()> {
    let (_dir, gen, e) = one_document(
        "Ferrule schedules jobs with cron expressions. A symlink is stored as a link. Restore into an empty directory. File names stay. PostgreSQL dumps.",
    )?;
    let unknown = |q: &str| -> Vec<String> {
        let words = gen.unknown_words(q, &e).unwrap();
        words.into_iter().map(str::to_owned).collect()
    };
    assert_eq!(
        unknown("How do I change a Veeam job's schedule with crontab?"),
        ["Veeam", "crontab"]
    );
    assert_eq!(unknown("Does Ferrule support MinIO?"), ["MinIO"]);
    // Corpus words and their inflections, everyday words, prefixed and
    // compared known words, typos of corpus words, contractions without an
    // apostrophe, acronyms and words with digits are all known enough.
    for known in [
        "Are symlinks restored?",
        "Why does my colleague see cron jobs?",
        "reattach the subdirectory, it is emptier now",
        "the ferule restor doesnt work",
        "Does it speak NFS over IPv6 on ext4 through the vpn?",
        "postgres dumps",
    ] {
        assert_eq!(unknown(known), Vec::<String>::new(), "{known}");
    }
    Ok(())
}

#[test]
fn each_distinct_sentence_is_embedded_once_and_reused_by_incremental_builds() -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    let r = build(
        &store,
        vec![
            input("a", "Honey bees make wax. Tides rise twice a day."),
            input("b", "Honey bees make wax. Iron rusts in wet air."),
        ],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    // The sentence both files share is embedded once.
    assert_eq!(r.sentences_embedded, 3);
    // Where sentence `text` of `doc`'s chunk is, and how close it is to `query`.
    let closeness = |gen: &Generation, doc: &str, text: &str, query: &str| {
        let id = gen.chunks.iter().position(|c| c.doc_id.0 == doc).unwrap();
        let index = crate::ingest::sentence::sentence_texts(&gen.chunks[id].text)
            .iter()
            .position(|s| s == text)
            .unwrap();
        let q = e.embed_one(query)?;
        crate::Result::Ok(gen.sentences.similarity(ChunkId(id as u64), index, &q))
    };
    let gen = store.open_current()?;
    let wax = closeness(
        &gen,
        "a",
        "Honey bees make wax.",
        "insects that produce wax",
    )?;
    let tides = closeness(
        &gen,
        "a",
        "Tides rise twice a day.",
        "insects that produce wax",
    )?;
    assert!(
        wax.zip(tides).is_some_and(|(w, t)| w > t + 0.2),
        "{wax:?} {tides:?}"
    );
    let own = closeness(
        &gen,
        "a",
        "Tides rise twice a day.",
        "Tides rise twice a day.",
    )?;
    assert!(own.is_some_and(|s| s > 0.98), "{own:?}");
    drop(gen);

    let r = build(
        &store,
        vec![
            input("a", "Honey bees make wax. Tides rise twice a day."),
            input("b", "Honey bees make wax. Salt water corrodes steel."),
        ],
        (Mode::Incremental, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    // Only the changed file's sentences; the unchanged file keeps its vectors.
    assert_eq!((r.files_skipped, r.sentences_embedded), (1, 2));
    let gen = store.open_current()?;
    let own = closeness(
        &gen,
        "a",
        "Tides rise twice a day.",
        "Tides rise twice a day.",
    )?;
    assert!(own.is_some_and(|s| s > 0.98), "{own:?}");
    let steel = closeness(&gen, "b", "Salt water corrodes steel.", "steel corrosion")?;
    assert!(steel.is_some_and(|s| s > 0.5), "{steel:?}");
    drop(gen);

    // A build for ranking alone embeds no sentence, and stores none.
    let r = build(
        &store,
        vec![input("c", "Glaciers carve valleys. Owls hunt at night.")],
        (Mode::Full, Sentences::Skip),
        &e,
        &chunker,
        &(),
    )?;
    assert_eq!((r.chunks, r.sentences_embedded), (1, 0));
    let gen = store.open_current()?;
    let q = e.embed_one("Owls hunt at night.")?;
    assert_eq!(gen.sentences.similarity(ChunkId(0), 1, &q), None);
    Ok(())
}

#[test]
fn full_then_incremental_builds_reuse_unchanged_inputs() -> crate::Result<()> {
    for (name, backend) in backends("the build test") {
        builds_reuse_unchanged_inputs(&name, &backend)?;
        clean_server(&name, &backend)?;
    }
    Ok(())
}

fn builds_reuse_unchanged_inputs(name: &str, backend: &VectorBackend) -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), name, backend);
    let mut inputs: Vec<BuildInput> = DOCS.iter().map(|(k, t)| input(k, t)).collect();
    inputs.push(failing("broken"));
    let r = build(
        &store,
        inputs,
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    assert_eq!(
        (
            r.generation,
            r.files_changed,
            r.files_failed,
            r.chunks_embedded
        ),
        (GenerationId(1), 3, 1, 3)
    );
    assert_eq!(r.errors[0].reason, "corrupt on purpose");

    let gen = store.open_current()?;
    assert_eq!(gen.vectors.count()?, 3);
    // A paraphrase with no shared content word: only the dense signal can find it.
    assert_eq!(dense_top(&gen, &e, "insects that make honey")?, "bees");
    assert_eq!(lexical_docs(&gen, "lunar gravity")?, vec!["tides"]);
    drop(gen);

    // Change one input, drop another: only the changed one is embedded.
    let inputs = vec![
        input("bees", DOCS[0].1),
        input("tides", "Spring tides follow the full moon."),
    ];
    let r = build(
        &store,
        inputs,
        (Mode::Incremental, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    assert_eq!(
        (
            r.files_changed,
            r.files_skipped,
            r.files_deleted,
            r.chunks_embedded
        ),
        (1, 1, 1, 1)
    );
    let gen = store.open_current()?;
    assert_eq!(gen.manifest.generation, GenerationId(2));
    assert_eq!(gen.chunks.len(), 2);
    assert_eq!(lexical_docs(&gen, "spring tides full moon")?, vec!["tides"]);
    assert_eq!(dense_top(&gen, &e, "honey bees")?, "bees");
    Ok(())
}

#[test]
fn a_replica_follows_the_generation_another_published() -> crate::Result<()> {
    for (name, backend) in backends("the replica test") {
        if let VectorBackend::Qdrant(server) = &backend {
            replica_follows(&name, &backend, server)?;
            clean_server(&name, &backend)?;
        }
    }
    Ok(())
}

fn replica_follows(
    name: &str,
    backend: &VectorBackend,
    server: &crate::index::QdrantServer,
) -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let builder = CorpusStore::new(a.path(), name, backend);
    let replica = CorpusStore::new(b.path(), name, backend);
    assert_eq!(replica.follow()?, None, "nothing published yet");
    // The replica once had an embedded generation 1 of other content.
    let embedded = CorpusStore::new(b.path(), name, &VectorBackend::Edge);
    build(
        &embedded,
        vec![input("other", "Unrelated text.")],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    let inputs = DOCS.iter().map(|(k, t)| input(k, t)).collect();
    build(
        &builder,
        inputs,
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    match CorpusStore::new(a.path(), name, &VectorBackend::Edge).open_current() {
        Err(Error::Vector(m)) => assert!(m.contains("deployment"), "{m}"),
        other => panic!("opened a Qdrant generation as embedded: {:?}", other.err()),
    }
    assert_eq!(replica.follow()?, Some(GenerationId(1)));
    assert_eq!(replica.follow()?, None, "already serving it");
    let gen = replica.open_current()?;
    let built = builder.open_current()?;
    assert_eq!(gen.chunks, built.chunks);
    assert_eq!(gen.manifest.files.len(), 3);
    assert_eq!(lexical_docs(&gen, "lunar gravity")?, vec!["tides"]);
    assert_eq!(dense_top(&gen, &e, "insects that make honey")?, "bees");
    drop((gen, built));

    // Two more generations: the replica skips straight to the newest, and
    // the server keeps the two newest collections.
    for text in ["Spring tides follow the full moon.", "Neap tides are weak."] {
        let inputs = vec![input("bees", DOCS[0].1), input("tides", text)];
        build(
            &builder,
            inputs,
            (Mode::Incremental, Sentences::Embed),
            &e,
            &chunker,
            &(),
        )?;
    }
    assert_eq!(replica.follow()?, Some(GenerationId(3)));
    let gen = replica.open_current()?;
    assert_eq!(lexical_docs(&gen, "neap tides")?, vec!["tides"]);
    assert_eq!(
        server.generations(name)?,
        vec![GenerationId(2), GenerationId(3)]
    );
    // A replica with a copy builds the next generation after the server's.
    let inputs = DOCS.iter().map(|(k, t)| input(k, t)).collect();
    let r = build(
        &replica,
        inputs,
        (Mode::Incremental, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    assert_eq!(r.generation, GenerationId(4));
    assert_eq!(builder.follow()?, Some(GenerationId(4)));
    Ok(())
}

mod limits;
