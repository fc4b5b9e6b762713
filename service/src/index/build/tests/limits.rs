//! Builds that refuse or fail part of their input: limits, locks, ids.

use super::*;

#[test]
fn changed_chunking_re_embeds_everything_and_says_why() -> crate::Result<()> {
    let e = embedder();
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    let first = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    build(
        &store,
        DOCS.iter().map(|(k, t)| input(k, t)).collect(),
        (Mode::Full, Sentences::Embed),
        &e,
        &first,
        &(),
    )?;
    let other = Chunker::from_file(
        e.tokenizer_path(),
        Chunking {
            max_tokens: 128,
            overlap_tokens: 16,
        },
    )?;
    let r = build(
        &store,
        DOCS.iter().map(|(k, t)| input(k, t)).collect(),
        (Mode::Incremental, Sentences::Embed),
        &e,
        &other,
        &(),
    )?;
    assert_eq!(
        r.reuse_refused.as_deref(),
        Some("the chunking settings changed")
    );
    assert_eq!(
        (r.files_changed, r.chunks_embedded, r.files_deleted),
        (3, 3, 0)
    );
    // A full run still counts inputs that disappeared.
    let r = build(
        &store,
        vec![input("bees", DOCS[0].1)],
        (Mode::Full, Sentences::Embed),
        &e,
        &other,
        &(),
    )?;
    assert_eq!((r.files_deleted, r.reuse_refused), (2, None));
    Ok(())
}

#[test]
fn a_second_concurrent_build_of_one_corpus_is_refused() -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    let held = store.lock_builds()?;
    let r = build(
        &store,
        vec![input("a", "x")],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    );
    assert!(
        matches!(r, Err(Error::IndexBusy(ref name)) if name == "t"),
        "{r:?}"
    );
    drop(held);
    assert_eq!(
        build(
            &store,
            vec![input("a", "x")],
            (Mode::Full, Sentences::Embed),
            &e,
            &chunker,
            &()
        )?
        .generation,
        GenerationId(1)
    );
    Ok(())
}

#[test]
fn a_swap_keeps_as_many_complete_generations_as_asked() -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    for (keep, expected) in [
        (1, vec![GenerationId(3)]),
        (3, vec![GenerationId(3), GenerationId(4), GenerationId(5)]),
    ] {
        let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge).keeping(keep);
        let runs = if keep == 1 { 3 } else { 2 };
        for _ in 0..runs {
            build(
                &store,
                vec![input("a", "x")],
                (Mode::Full, Sentences::Embed),
                &e,
                &chunker,
                &(),
            )?;
        }
        assert_eq!(store.generation_ids()?, expected, "keeping {keep}");
    }
    Ok(())
}

#[test]
fn duplicate_keys_are_refused_before_any_work() -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    let r = build(
        &store,
        vec![input("a", "x"), input("a", "y")],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    );
    assert!(matches!(r, Err(Error::InvalidRequest(m)) if m.contains("`a` appears twice")));
    assert_eq!(store.current()?, None);
    Ok(())
}

#[test]
fn a_reused_file_is_held_to_limits_lowered_since() -> crate::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let limits = |max_chunks: usize| {
        std::fs::write(
            dir.path().join(crate::config::CORPUS_FILE),
            format!("name = \"t\"\nscope = \"Widgets.\"\n[[sources]]\npath = \"docs\"\n[limits]\nmax_chunks_per_file = {max_chunks}\n"),
        )
        .unwrap();
        crate::config::Corpus::load(dir.path())
    };
    std::fs::write(docs.join("long.txt"), "Widgets are small. ".repeat(300)).unwrap();
    std::fs::write(docs.join("ok.txt"), "Widgets are small.").unwrap();
    let data = tempfile::tempdir().unwrap();
    let e = embedder();
    let index = |corpus: &crate::config::Corpus, mode| {
        index_corpus(corpus, data.path(), &VectorBackend::Edge, mode, &e, &())
    };
    let first = index(&limits(100)?, Mode::Full)?;
    assert!(first.errors.is_empty() && first.chunks > 3, "{first:?}");
    // Neither file changed, but `long.txt` now has more chunks than allowed.
    let again = index(&limits(3)?, Mode::Incremental)?;
    assert_eq!(
        (again.files_skipped, again.files_failed),
        (1, 1),
        "{again:?}"
    );
    assert!(
        again.errors[0].path.display().to_string() == "docs/long.txt"
            && again.errors[0]
                .reason
                .contains("limits.max_chunks_per_file"),
        "{again:?}"
    );
    assert_eq!((again.documents, again.chunks), (1, 1));
    Ok(())
}

#[test]
fn document_limits_name_the_count_or_size_over_them() {
    assert!(within_limits((2, 1 << 20), 2, 1 << 20).is_ok());
    let many = within_limits((2, 1 << 20), 3, 10).unwrap_err();
    assert!(
        many.contains("3 documents") && many.contains("(2, limits.max_documents_per_file)"),
        "{many}"
    );
    let big = within_limits((2, 1 << 20), 1, (1 << 20) + (1 << 19)).unwrap_err();
    assert!(
        big.contains("1.5 MiB") && big.contains("(1 MiB, limits.max_document_mib)"),
        "{big}"
    );
}

#[test]
fn a_file_over_the_corpus_limits_fails_alone() -> crate::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        dir.path().join(crate::config::CORPUS_FILE),
        "name = \"t\"\nscope = \"Widgets.\"\n[[sources]]\npath = \"docs\"\n[limits]\nmax_file_mib = 1\nmax_chunks_per_file = 3\n",
    )
    .unwrap();
    std::fs::write(docs.join("big.txt"), "Widgets are small. ".repeat(60_000)).unwrap();
    std::fs::write(docs.join("long.txt"), "Widgets are small. ".repeat(500)).unwrap();
    std::fs::write(docs.join("ok.txt"), "Widgets are small.").unwrap();
    let corpus = crate::config::Corpus::load(dir.path())?;
    let data = tempfile::tempdir().unwrap();
    let e = embedder();
    let report = index_corpus(
        &corpus,
        data.path(),
        &VectorBackend::Edge,
        Mode::Full,
        &e,
        &(),
    )?;
    let reasons: Vec<(String, &str)> = report
        .errors
        .iter()
        .map(|f| (f.path.display().to_string(), f.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].0 == "docs/big.txt"
            && reasons[0].1.contains("1.1 MiB")
            && reasons[0].1.contains("limits.max_file_mib"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "docs/long.txt" && reasons[1].1.contains("limits.max_chunks_per_file"),
        "{reasons:?}"
    );
    assert_eq!((report.documents, report.chunks), (1, 1));
    Ok(())
}

#[test]
fn a_document_id_two_files_claim_stays_with_the_first() -> crate::Result<()> {
    let e = embedder();
    let chunker = Chunker::from_file(e.tokenizer_path(), Chunking::default())?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    // A file `a` whose parser keys a document `b.txt` makes the id `a#b.txt`,
    // the id of the whole file `a#b.txt`.
    let keyed = BuildInput::new(
        "a".into(),
        b"x",
        Box::new(|| {
            Ok(vec![Document::plain(
                "a#b.txt".into(),
                "B".into(),
                "Gears turn.".into(),
            )])
        }),
    );
    let report = build(
        &store,
        vec![input("a#b.txt", "Bees hum."), keyed],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].path, std::path::Path::new("a#b.txt"));
    assert!(report.errors[0]
        .reason
        .contains("already the id of a document of `a`"));
    assert_eq!(report.documents, 1);
    Ok(())
}
