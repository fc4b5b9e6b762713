//! Loading and validating `corpus.toml`: every key, every range, every error.

use super::*;

fn corpus_with(toml_text: &str) -> (tempfile::TempDir, crate::Result<Corpus>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join(CORPUS_FILE), toml_text).unwrap();
    let r = Corpus::load(dir.path());
    (dir, r)
}

const MINIMAL: &str = r#"
name = "notes"
scope = "Maintenance windows of our clusters; nothing else."
[[sources]]
path = "docs"
glob = "**/*.md"
"#;

fn config_error(r: crate::Result<Corpus>) -> (String, String) {
    match r {
        Err(Error::Config { key, message, file }) => {
            assert!(
                file.ends_with(CORPUS_FILE),
                "error names the file: {}",
                file.display()
            );
            (key, message)
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn minimal_config_loads_with_defaults() {
    let (_d, r) = corpus_with(MINIMAL);
    let c = r.unwrap();
    assert_eq!(c.config.name, "notes");
    assert_eq!(c.config.chunking.max_tokens, 240);
    assert_eq!(c.config.recency.half_life_days, 365.0);
    assert_eq!(c.config.retrieval.fusion, Fusion::Blend);
}

#[test]
fn unknown_key_names_the_key() {
    let (_d, r) = corpus_with(&format!("{MINIMAL}\n[recency]\nhalf_life = 3\n"));
    let (key, message) = config_error(r);
    assert_eq!(key, "recency.half_life");
    assert!(message.contains("unknown field `half_life`"), "{message}");
}

#[test]
fn unknown_top_level_key_is_rejected() {
    let (_d, r) = corpus_with(&format!("colour = \"red\"\n{MINIMAL}"));
    let (key, message) = config_error(r);
    assert_eq!(key, "colour");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn missing_source_folder_is_named() {
    let (_d, r) = corpus_with(&MINIMAL.replace("path = \"docs\"", "path = \"nowhere\""));
    let (key, message) = config_error(r);
    assert_eq!(key, "sources[0].path");
    assert!(
        message.contains("nowhere") && message.contains("does not exist"),
        "{message}"
    );
}

#[test]
fn bad_glob_is_named() {
    let (_d, r) = corpus_with(&MINIMAL.replace("**/*.md", "docs/[a-"));
    let (key, message) = config_error(r);
    assert_eq!(key, "sources[0].glob");
    assert!(message.contains("not a valid glob"), "{message}");
}

#[test]
fn bad_half_life_values_are_rejected() {
    for v in ["0", "-3", "nan", "inf"] {
        let (_d, r) = corpus_with(&format!("{MINIMAL}\n[recency]\nhalf_life_days = {v}\n"));
        let (key, message) = config_error(r);
        assert_eq!(key, "recency.half_life_days", "value {v}");
        assert!(message.contains("positive"), "{message}");
    }
}

#[test]
fn wrong_type_names_the_key() {
    let (_d, r) = corpus_with(&format!(
        "{MINIMAL}\n[recency]\nhalf_life_days = \"a year\"\n"
    ));
    let (key, message) = config_error(r);
    assert_eq!(key, "recency.half_life_days");
    assert!(message.contains("invalid type"), "{message}");
}

#[test]
fn syntax_error_names_the_file() {
    let (_d, r) = corpus_with("name = \"x\nscope = ");
    let (key, _message) = config_error(r);
    assert_eq!(key, "-");
}

#[test]
fn ingest_limits_have_defaults_and_ranges() {
    let (_d, r) = corpus_with(MINIMAL);
    assert_eq!(r.unwrap().config.limits, IngestLimits::default());
    let (_d, r) = corpus_with(&format!("{MINIMAL}\n[limits]\nmax_file_mib = 2\n"));
    let limits = r.unwrap().config.limits;
    assert_eq!(
        (limits.max_file_mib, limits.max_chunks_per_file),
        (2, 40_000)
    );
    let (_d, r) = corpus_with(&format!(
        "{MINIMAL}\n[limits]\nmax_documents_per_file = 0\n"
    ));
    let (key, message) = config_error(r);
    assert_eq!(key, "limits.max_documents_per_file");
    assert!(message.contains("1..=1000000"), "{message}");
}

#[test]
fn chunk_size_beyond_model_length_is_rejected() {
    let (_d, r) = corpus_with(&format!("{MINIMAL}\n[chunking]\nmax_tokens = 512\n"));
    let (key, _) = config_error(r);
    assert_eq!(key, "chunking.max_tokens");
}

#[test]
fn bad_name_is_rejected() {
    let (_d, r) = corpus_with(&MINIMAL.replace("\"notes\"", "\"My Notes\""));
    let (key, _) = config_error(r);
    assert_eq!(key, "name");
}

#[test]
fn answer_settings_are_range_checked_and_example_files_must_exist() {
    let (_d, r) = corpus_with(&format!("{MINIMAL}\n[answer]\nmax_sentences = 5\n"));
    assert_eq!(config_error(r).0, "answer.max_sentences");
    let (_d, r) = corpus_with(&format!(
        "{MINIMAL}\n[answer]\nscope_examples = [\"eval/missing.jsonl\"]\n"
    ));
    let (key, message) = config_error(r);
    assert_eq!(key, "answer.scope_examples[0]");
    assert!(message.contains("missing.jsonl"), "{message}");
}

#[test]
fn the_llm_composer_needs_a_valid_llm_table() {
    let (_d, r) = corpus_with(&format!("{MINIMAL}\n[answer]\ncomposer = \"llm\"\n"));
    assert_eq!(config_error(r).0, "answer.composer");
    let llm = "\n[llm]\nbase_url = \"http://127.0.0.1:8091/v1\"\nmodel = \"m\"\n";
    let (_d, r) = corpus_with(&format!("{MINIMAL}\n[answer]\ncomposer = \"llm\"\n{llm}"));
    let c = r.unwrap().config;
    let l = c.llm.unwrap();
    assert_eq!(c.answer.composer, Composer::Llm);
    assert_eq!(
        (l.timeout_ms, l.max_tokens, l.on_failure),
        (30_000, 400, OnLlmFailure::Extractive)
    );
    for (extra, key) in [
        ("timeout_ms = 5\n", "llm.timeout_ms"),
        ("temperature = 3.0\n", "llm.temperature"),
        ("prompt = \"Answer from {sources}.\"\n", "llm.prompt"),
    ] {
        let (_d, r) = corpus_with(&format!("{MINIMAL}{llm}{extra}"));
        assert_eq!(config_error(r).0, key, "{extra}");
    }
    let (_d, r) = corpus_with(&format!(
        "{MINIMAL}\n[llm]\nbase_url = \"ftp://x\"\nmodel = \"m\"\n"
    ));
    assert_eq!(config_error(r).0, "llm.base_url");
}

#[test]
fn guardrails_parse_with_defaults_and_bad_values_are_named() {
    let guard = "\n[[guardrails]]\nplugin = \"topic-policy\"\nstage = \"input\"\n[guardrails.config]\nstrict = true\n";
    let (_d, r) = corpus_with(&format!("{MINIMAL}{guard}"));
    let g = &r.unwrap().config.guardrails[0];
    assert_eq!(
        (g.stage, g.on_error, g.timeout_ms, g.memory_mib),
        (Stage::Input, OnError::FailClosed, 50, 64)
    );
    assert_eq!(g.config.get("strict").and_then(|v| v.as_bool()), Some(true));
    let (_d, r) = corpus_with(&format!(
        "{MINIMAL}{}",
        guard.replace("stage = \"input\"", "stage = \"input\"\ntimeout_ms = 0")
    ));
    assert_eq!(config_error(r).0, "guardrails[0].timeout_ms");
    let (_d, r) = corpus_with(&format!(
        "{MINIMAL}{}",
        guard.replace("\"input\"", "\"sideways\"")
    ));
    let (key, message) = config_error(r);
    assert_eq!(key, "guardrails[0].stage");
    assert!(message.contains("unknown variant"), "{message}");
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Corpus::load(dir.path()), Err(Error::Io { .. })));
}
