//! The data flywheel: every answer served is logged with an id, callers rate
//! answers by that id, and rated answers are exported as eval cases.
//!
//! The store is one SQLite file in the data dir, in WAL mode, so logging an
//! answer does not wait for readers and a crash loses at most the last commits.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::answer::{Answer, Outcome};
use crate::Error;

/// The store's file in the data dir.
pub const FILE: &str = "feedback.sqlite3";

/// An answer's id, as returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerId(pub String);

/// A rating of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    /// The outcome was right.
    Up,
    /// The outcome was wrong.
    Down,
}

/// What a caller says about an answer.
#[derive(Debug, Clone)]
pub struct Feedback {
    /// The answer rated.
    pub answer_id: AnswerId,
    /// Up or down.
    pub rating: Rating,
    /// Free text, at most 2,000 characters.
    pub comment: Option<String>,
    /// The documents that do answer the question, when the caller knows them.
    pub correct_doc_ids: Vec<String>,
}

/// One exported eval case: a question and what the service should do with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalCase {
    /// The question.
    pub text: String,
    /// `answered` or `unsupported`.
    pub expect: String,
    /// Documents that answer it, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relevant: Vec<String>,
    /// True for a `down` vote on an answered question: the service answered and
    /// was wrong, the case it most needs to learn from.
    #[serde(default)]
    pub hard: bool,
    /// The answer the case comes from.
    #[serde(default)]
    pub answer_id: String,
    /// The rating given.
    #[serde(default)]
    pub rating: String,
    /// The caller's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// What the language model did, for answers a model composed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<ComposerCase>,
}

/// The language model's part in an exported case: enough to replay the prompt
/// and to see which of its sentences the checks dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComposerCase {
    /// The model, as the endpoint named it.
    pub model: String,
    /// SHA-256 of the system prompt and question.
    pub prompt_hash: String,
    /// Everything the model wrote.
    pub raw_output: String,
    /// The sentences kept, each with `sentence` and its support `score`.
    pub kept: serde_json::Value,
    /// The sentences left out, each with `sentence` and `why`.
    pub dropped: serde_json::Value,
    /// Why the model failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The answer log and the feedback on it.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it if needed) the store in `data_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file when it cannot be opened or is not a store.
    pub fn open(data_dir: &Path) -> crate::Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
        let path = data_dir.join(FILE);
        let err = Error::db(&path);
        let conn = Connection::open(&path).map_err(&err)?;
        // WAL: readers never block the writer; NORMAL: a commit is durable once the
        // WAL is checkpointed, which is what an answer log needs.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&err)?;
        // Writes wait this long for another writer (a backup, a manual
        // query) before failing: the answer log is written on the request path.
        conn.busy_timeout(std::time::Duration::from_secs(1))
            .map_err(&err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS answers (
                 id TEXT PRIMARY KEY,
                 at TEXT NOT NULL,
                 corpus TEXT NOT NULL,
                 question TEXT NOT NULL,
                 status TEXT NOT NULL,
                 reason TEXT,
                 citations TEXT NOT NULL,
                 confidence REAL NOT NULL,
                 generation INTEGER NOT NULL,
                 latency_ms REAL NOT NULL
             );
             CREATE TABLE IF NOT EXISTS feedback (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 answer_id TEXT NOT NULL REFERENCES answers(id),
                 at TEXT NOT NULL,
                 rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
                 comment TEXT,
                 correct_doc_ids TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS generations (
                 answer_id TEXT PRIMARY KEY REFERENCES answers(id),
                 model TEXT NOT NULL,
                 prompt_hash TEXT NOT NULL,
                 raw_output TEXT NOT NULL,
                 kept TEXT NOT NULL,
                 dropped TEXT NOT NULL,
                 failure TEXT
             );
             CREATE INDEX IF NOT EXISTS answers_corpus_at ON answers (corpus, at);",
        )
        .map_err(&err)?;
        // Stores made before API keys have no `client` column yet.
        let has_client: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('answers') WHERE name = 'client'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(&err)?
            > 0;
        if !has_client {
            conn.execute_batch("ALTER TABLE answers ADD COLUMN client TEXT")
                .map_err(&err)?;
        }
        drop(err);
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        crate::sync::lock(&self.conn)
    }

    /// Logs an answer to `question`, asked by the API key `client` when keys
    /// are in use, and returns its new id.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the store cannot be written.
    pub fn log(&self, question: &str, a: &Answer, client: Option<&str>) -> crate::Result<AnswerId> {
        let id = AnswerId(new_id());
        let (status, reason, cited) = match &a.outcome {
            Outcome::Answered(c) => (
                "answered",
                None,
                c.citations.iter().map(|c| c.doc_id.0.clone()).collect(),
            ),
            Outcome::Unsupported(r) => ("unsupported", Some(r.as_str()), Vec::<String>::new()),
        };
        let cited = serde_json::to_string(&cited).map_err(|e| Error::Internal(e.to_string()))?;
        let mut conn = self.conn();
        let err = Error::db(&self.path);
        let tx = conn.transaction().map_err(&err)?;
        tx.execute(
                "INSERT INTO answers (id, at, corpus, question, status, reason, citations, confidence, generation, latency_ms, client)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id.0,
                    now(),
                    a.corpus,
                    question,
                    status,
                    reason,
                    cited,
                    f64::from(a.confidence),
                    a.generation.0 as i64,
                    a.took_ms,
                    client
                ],
            )
            .map_err(&err)?;
        // A cached answer's generation was logged when it was made.
        if let Some(run) = a.llm.as_ref().filter(|_| !a.cached) {
            tx.execute(
                "INSERT INTO generations (answer_id, model, prompt_hash, raw_output, kept, dropped, failure)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id.0,
                    run.model,
                    run.prompt_hash,
                    run.raw_output,
                    to_json(&run.kept)?,
                    to_json(&run.dropped)?,
                    run.failure
                ],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(id)
    }

    /// Records feedback on a logged answer. `holds(corpus, doc_id)` says whether
    /// a corpus has a document, so that `correct_doc_ids` name real ones: they
    /// become the relevant documents of exported eval cases.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAnswer`] for an unknown answer id, [`Error::UnknownDocument`]
    /// for a correct document the answer's corpus does not hold,
    /// [`Error::InvalidRequest`] for an overlong comment; [`Error::Io`] when the
    /// store cannot be written.
    pub fn record(&self, f: &Feedback, holds: impl Fn(&str, &str) -> bool) -> crate::Result<()> {
        if f.comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > 2_000)
        {
            return Err(Error::InvalidRequest(
                "`comment` is over 2,000 characters".into(),
            ));
        }
        let conn = self.conn();
        let corpus: String = conn
            .query_row(
                "SELECT corpus FROM answers WHERE id = ?1",
                [&f.answer_id.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::db(&self.path))?
            .ok_or_else(|| Error::UnknownAnswer(f.answer_id.0.clone()))?;
        if let Some(doc) = f.correct_doc_ids.iter().find(|d| !holds(&corpus, d)) {
            return Err(Error::UnknownDocument {
                corpus,
                doc: doc.clone(),
            });
        }
        let rating = match f.rating {
            Rating::Up => "up",
            Rating::Down => "down",
        };
        let docs = serde_json::to_string(&f.correct_doc_ids)
            .map_err(|e| Error::Internal(e.to_string()))?;
        conn.execute(
            "INSERT INTO feedback (answer_id, at, rating, comment, correct_doc_ids) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![f.answer_id.0, now(), rating, f.comment, docs],
        )
        .map_err(Error::db(&self.path))?;
        Ok(())
    }

    /// The rated answers of `corpus` (logged on or after `since`) as eval cases,
    /// oldest first; the latest rating of an answer counts.
    ///
    /// - `up` on an answer: expect `answered`, relevant = the given correct
    ///   documents, or else the cited ones.
    /// - `up` on a decline: expect `unsupported`.
    /// - `down` on an answer: a hard case; expect `answered` with the given
    ///   correct documents, or `unsupported` when none are given.
    /// - `down` on a decline: expect `answered`, with the correct documents if given.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the store cannot be read.
    pub fn export(&self, corpus: &str, since: Option<NaiveDate>) -> crate::Result<Vec<EvalCase>> {
        let since = since.map_or_else(String::new, |d| d.to_string());
        let conn = self.conn();
        let err = Error::db(&self.path);
        let mut stmt = conn
            .prepare(
                "SELECT a.id, a.question, a.status, a.citations, f.rating, f.comment, f.correct_doc_ids,
                        g.model, g.prompt_hash, g.raw_output, g.kept, g.dropped, g.failure
                 FROM answers a
                 JOIN feedback f ON f.seq = (SELECT MAX(seq) FROM feedback WHERE answer_id = a.id)
                 LEFT JOIN generations g ON g.answer_id = a.id
                 WHERE a.corpus = ?1 AND a.at >= ?2
                 ORDER BY a.at, a.id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![corpus, since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    match r.get::<_, Option<String>>(7)? {
                        Some(model) => Some(ComposerCase {
                            model,
                            prompt_hash: r.get(8)?,
                            raw_output: r.get(9)?,
                            kept: json_column(r, 10)?,
                            dropped: json_column(r, 11)?,
                            failure: r.get(12)?,
                        }),
                        None => None,
                    },
                ))
            })
            .map_err(&err)?;
        let mut cases = Vec::new();
        for row in rows {
            let (id, text, status, cited, rating, comment, correct, composer) =
                row.map_err(&err)?;
            let list = |json: &str, column: &str| -> crate::Result<Vec<String>> {
                serde_json::from_str(json).map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    reason: format!("answer {id}: column {column} is not a list of ids: {e}"),
                })
            };
            let (cited, correct) = (
                list(&cited, "answers.citations")?,
                list(&correct, "feedback.correct_doc_ids")?,
            );
            let answered = status == "answered";
            let (expect, relevant) = match (rating.as_str(), answered) {
                ("up", true) => ("answered", if correct.is_empty() { cited } else { correct }),
                ("up", false) => ("unsupported", Vec::new()),
                (_, true) if correct.is_empty() => ("unsupported", Vec::new()),
                _ => ("answered", correct),
            };
            cases.push(EvalCase {
                text,
                expect: expect.to_owned(),
                relevant,
                hard: rating == "down" && answered,
                answer_id: id,
                rating,
                comment,
                composer,
            });
        }
        Ok(cases)
    }
}

/// Column `i` of `row`, a JSON text; a damaged one is an error, not `null`.
fn json_column(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn to_json(v: &impl Serialize) -> crate::Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn new_id() -> String {
    format!("ans_{}", crate::ids::next_hex())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Answer, Outcome, Reason};
    use crate::config::Composer;
    use crate::index::GenerationId;

    fn declined() -> Answer {
        Answer {
            outcome: Outcome::Unsupported(Reason::OutOfScope),
            message: "Not covered.".into(),
            scope: "Greenhouses.".into(),
            confidence: 0.1,
            support: None,
            warnings: Vec::new(),
            guardrails: Vec::new(),
            corpus: "orchard".into(),
            generation: GenerationId(1),
            cached: false,
            took_ms: 1.0,
            asked: "How tall is Everest?".into(),
            composer: Composer::Extractive,
            llm: None,
            degraded: false,
        }
    }

    #[test]
    fn the_api_key_that_asked_is_logged_and_old_stores_gain_its_column() {
        let dir = tempfile::tempdir().unwrap();
        // A store from before API keys: its answers table has no `client`.
        Connection::open(dir.path().join(FILE))
            .unwrap()
            .execute_batch(
                "CREATE TABLE answers (id TEXT PRIMARY KEY, at TEXT NOT NULL, corpus TEXT NOT NULL,
                 question TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, citations TEXT NOT NULL,
                 confidence REAL NOT NULL, generation INTEGER NOT NULL, latency_ms REAL NOT NULL)",
            )
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store
            .log("How tall is Everest?", &declined(), Some("app"))
            .unwrap();
        let client: Option<String> = store
            .conn()
            .query_row("SELECT client FROM answers WHERE id = ?1", [&id.0], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(client.as_deref(), Some("app"));
    }

    #[test]
    fn correct_documents_must_exist_and_export_names_a_damaged_column() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store
            .log("How tall is Everest?", &declined(), None)
            .unwrap();
        let down = |doc: &str| Feedback {
            answer_id: id.clone(),
            rating: Rating::Down,
            comment: None,
            correct_doc_ids: vec![doc.into()],
        };
        let holds = |corpus: &str, doc: &str| corpus == "orchard" && doc == "docs/everest.md";
        let e = store
            .record(&down("docs/k2.md"), holds)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`docs/k2.md`") && e.contains("`orchard`"), "{e}");
        store.record(&down("docs/everest.md"), holds).unwrap();
        let cases = store.export("orchard", None).unwrap();
        assert_eq!(cases[0].relevant, ["docs/everest.md"]);
        store
            .conn()
            .execute("UPDATE feedback SET correct_doc_ids = '[\"docs/ev'", [])
            .unwrap();
        let e = store.export("orchard", None).unwrap_err().to_string();
        assert!(
            e.contains(&id.0) && e.contains("feedback.correct_doc_ids"),
            "{e}"
        );
    }
}
