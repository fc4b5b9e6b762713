//! `candor import beir`: a BEIR folder as a corpus folder, with its judged
//! queries as eval sets.

use super::*;

/// What `candor import beir` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The corpus folder written.
    pub corpus: PathBuf,
    /// Documents written under `docs/`.
    pub documents: usize,
    /// Judged query files written under `eval/`, one per qrels split.
    pub eval_files: Vec<PathBuf>,
    /// Judgements left out because they name a record `corpus.jsonl` lacks
    /// (some BEIR sets have them); a relevant id must be a document.
    pub missing_judged: usize,
}

/// One judged query in an imported corpus's `eval/queries-<split>.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalQuery {
    /// The BEIR query id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The question.
    pub text: String,
    /// Ids of the relevant documents in the imported corpus (`docs/<id>.md`).
    pub relevant: Vec<String>,
}

/// Writes a BEIR dataset as a corpus folder that `candor index` accepts:
/// `corpus.toml`, one Markdown file per record under `docs/` (title in the front
/// matter), and the judged queries of every qrels split under `eval/`.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when `out` exists and is not empty (nothing is
/// written), or when two record ids map to one file name; parse and I/O errors
/// otherwise.
pub fn import(dir: &Path, name: &str, scope: &str, out: &Path) -> crate::Result<ImportReport> {
    // Checked before anything is written, so a bad flag leaves no folder behind.
    check_target(name, scope, out)?;
    let records = read_records(dir)?;
    let files = by_file(&records)?;
    let judged = read_splits(dir)?;

    // Everything was read and checked; only now is anything written.
    let docs = out.join("docs");
    std::fs::create_dir_all(&docs).map_err(Error::io(&docs))?;
    write_config(out, name, scope, &judged)?;
    for (file, rec) in &files {
        let path = docs.join(file);
        let body = format!(
            "+++\ntitle = {}\n+++\n\n{}\n",
            toml_string(&rec.title),
            rec.text
        );
        std::fs::write(&path, body).map_err(Error::io(&path))?;
    }
    let (eval_files, missing_judged) = write_eval(out, judged, &files)?;
    Ok(ImportReport {
        corpus: out.to_path_buf(),
        documents: files.len(),
        eval_files,
        missing_judged,
    })
}

/// Checks the corpus name, the scope statement, and that `out` is new or empty.
fn check_target(name: &str, scope: &str, out: &Path) -> crate::Result<()> {
    crate::config::check_name(name)
        .map_err(|m| Error::InvalidRequest(format!("corpus name {m}")))?;
    crate::config::check_scope(scope)
        .map_err(|m| Error::InvalidRequest(format!("the scope statement {m}")))?;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(Error::io(out))?
            .next()
            .is_some()
    {
        return Err(Error::InvalidRequest(format!(
            "{} exists and is not empty; choose a new folder",
            out.display()
        )));
    }
    Ok(())
}

/// The records of `corpus.jsonl`.
fn read_records(dir: &Path) -> crate::Result<Vec<CorpusLine>> {
    let corpus_path = dir.join("corpus.jsonl");
    let text = std::fs::read_to_string(&corpus_path).map_err(Error::io(&corpus_path))?;
    crate::jsonl::records::<CorpusLine>(&corpus_path, &text)
        .map(|r| r.map(|(rec, _)| rec))
        .collect()
}

/// The records by their file name, which must be one per record.
fn by_file(records: &[CorpusLine]) -> crate::Result<BTreeMap<String, &CorpusLine>> {
    let mut files: BTreeMap<String, &CorpusLine> = BTreeMap::new();
    for rec in records {
        if let Some(other) = files.insert(doc_file(&rec.id), rec) {
            return Err(Error::InvalidRequest(format!(
                "records `{}` and `{}` map to one file name",
                other.id, rec.id
            )));
        }
    }
    Ok(files)
}

/// The judged queries of every qrels split (`qrels/<split>.tsv`), by split name.
fn read_splits(dir: &Path) -> crate::Result<Vec<(String, Judged)>> {
    let mut splits = Vec::new();
    let qrels_dir = dir.join("qrels");
    if let Ok(entries) = std::fs::read_dir(&qrels_dir) {
        for e in entries.flatten() {
            let p = e.path();
            if let (Some(stem), Some("tsv")) = (
                p.file_stem().and_then(|s| s.to_str()),
                p.extension().and_then(|s| s.to_str()),
            ) {
                splits.push(stem.to_owned());
            }
        }
    }
    splits.sort();
    splits
        .into_iter()
        .map(|split| Ok((split.clone(), load_queries(dir, &split)?)))
        .collect()
}

/// Writes the corpus's `corpus.toml`.
fn write_config(
    out: &Path,
    name: &str,
    scope: &str,
    judged: &[(String, Judged)],
) -> crate::Result<()> {
    let mut config = format!(
        "name = {}\nscope = {}\n\n[[sources]]\npath = \"docs\"\nglob = \"**/*.md\"\n",
        toml_string(name),
        toml_string(scope)
    );
    // Training questions describe the scope better than one sentence can; test
    // questions stay out so that they can measure it.
    if judged
        .iter()
        .any(|(split, queries)| split == "train" && !queries.is_empty())
    {
        config.push_str("\n[answer]\nscope_examples = [\"eval/queries-train.jsonl\"]\n");
    }
    let config_path = out.join(crate::config::CORPUS_FILE);
    std::fs::write(&config_path, config).map_err(Error::io(&config_path))
}

/// Writes each split's queries as `eval/queries-<split>.jsonl`, their relevant
/// ids as document paths; returns the files written and how many judgements
/// named no record of `files`.
fn write_eval(
    out: &Path,
    judged: Vec<(String, Judged)>,
    files: &BTreeMap<String, &CorpusLine>,
) -> crate::Result<(Vec<PathBuf>, usize)> {
    let eval_dir = out.join("eval");
    let mut eval_files = Vec::new();
    let mut missing_judged = 0;
    for (split, queries) in judged {
        std::fs::create_dir_all(&eval_dir).map_err(Error::io(&eval_dir))?;
        let path = eval_dir.join(format!("queries-{split}.jsonl"));
        let lines: Vec<EvalQuery> = queries
            .into_iter()
            .map(|(id, text, relevant)| {
                let mut relevant: Vec<String> = relevant
                    .iter()
                    .map(|d| doc_file(d))
                    .filter(|f| {
                        let known = files.contains_key(f);
                        missing_judged += usize::from(!known);
                        known
                    })
                    .map(|f| format!("docs/{f}"))
                    .collect();
                relevant.sort();
                EvalQuery { id, text, relevant }
            })
            .collect();
        crate::jsonl::write(&path, &lines)?;
        eval_files.push(path);
    }
    Ok((eval_files, missing_judged))
}

/// The file name of a record: its id with anything but `[A-Za-z0-9._-]` replaced.
fn doc_file(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.md")
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
