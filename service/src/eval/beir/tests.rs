//! The BEIR runner's reading of qrels and queries, and the import.

use super::*;

#[test]
fn import_writes_an_indexable_corpus_and_refuses_a_non_empty_target() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("qrels")).unwrap();
    std::fs::write(
        dir.path().join("corpus.jsonl"),
        "{\"_id\":\"7\",\"title\":\"A \\\"quoted\\\" title: yes\",\"text\":\"Body text.\"}\n{\"_id\":\"a/b\",\"title\":\"\",\"text\":\"Other.\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("queries.jsonl"),
        "{\"_id\":\"q\",\"text\":\"which?\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("qrels/test.tsv"),
        "q\tc\ts\nq\t7\t1\nq\tnot-in-corpus\t1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("qrels/train.tsv"), "q\tc\ts\nq\ta/b\t1\n").unwrap();
    let out = dir.path().join("out");
    // A bad name or scope is refused before anything is written.
    for (name, scope, says) in [
        ("Mini", "Two abstracts.", "corpus name `Mini`"),
        ("mini", "  ", "scope statement must state"),
    ] {
        let e = import(dir.path(), name, scope, &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
        assert!(!out.exists());
    }
    let r = import(dir.path(), "mini", "Two abstracts; nothing else.", &out).unwrap();
    assert_eq!((r.documents, r.missing_judged), (2, 1));
    let corpus = crate::config::Corpus::load(&out).unwrap();
    assert_eq!(corpus.config.name, "mini");
    assert_eq!(
        corpus.config.answer.scope_examples,
        vec![std::path::PathBuf::from("eval/queries-train.jsonl")]
    );
    let doc = crate::ingest::parse::parse(
        Path::new("docs/7.md"),
        &std::fs::read(out.join("docs/7.md")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc.title, "A \"quoted\" title: yes");
    assert!(out.join("docs/a_b.md").is_file());
    let eval = std::fs::read_to_string(out.join("eval/queries-test.jsonl")).unwrap();
    let q: EvalQuery = serde_json::from_str(eval.trim()).unwrap();
    assert_eq!(q.relevant, vec!["docs/7.md"]);
    let again = import(dir.path(), "mini", "x", &out)
        .unwrap_err()
        .to_string();
    assert!(again.contains("not empty"), "{again}");
}

#[test]
fn qrels_and_queries_join_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("qrels")).unwrap();
    std::fs::write(
        dir.path().join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n2\td3\t2\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("queries.jsonl"), "{\"_id\":\"1\",\"text\":\"one\"}\n{\"_id\":\"3\",\"text\":\"three\"}\n{\"_id\":\"2\",\"text\":\"two\"}\n").unwrap();
    let j = load_queries(dir.path(), "test").unwrap();
    assert_eq!(j.len(), 2);
    assert_eq!(j[0].0, "1");
    assert_eq!(
        j[0].2,
        HashSet::from(["d1".to_string()]),
        "score 0 is not relevant"
    );
    std::fs::write(dir.path().join("qrels/test.tsv"), "h\n1 d1\n").unwrap();
    let err = load_queries(dir.path(), "test").unwrap_err().to_string();
    assert!(err.contains("test.tsv") && err.contains("line 2"), "{err}");
}
