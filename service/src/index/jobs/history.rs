//! Finished jobs kept in SQLite (`jobs.sqlite3` in the data dir, beside the
//! feedback store), so `GET /admin/jobs` still lists them after a restart.
//!
//! Each job is one row holding its status as JSON: the row is read back whole
//! and never queried by field.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::{Job, JobId, Phase, Status, KEEP_FINISHED};
use crate::sync::lock;
use crate::Error;

/// The history's file in the data dir.
pub const FILE: &str = "jobs.sqlite3";

/// What a job that was queued or running when the server stopped says.
const INTERRUPTED: &str =
    "the server stopped before the job finished; the previous generation serves on";

/// The job history of one data dir.
pub(super) struct History {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl History {
    /// Opens (creating it if needed) the history in `data_dir`, and returns it
    /// with the jobs it holds, oldest first. Jobs that were queued or running
    /// when the server stopped are marked failed, in the file too.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file when it cannot be opened, is not a
    /// history, or holds a row that does not read as a job.
    pub(super) fn open(data_dir: &Path) -> crate::Result<(History, Vec<Job>)> {
        std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
        let path = data_dir.join(FILE);
        let conn = {
            let err = Error::db(&path);
            let conn = Connection::open(&path).map_err(&err)?;
            conn.busy_timeout(std::time::Duration::from_secs(1))
                .map_err(&err)?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, job TEXT NOT NULL);",
            )
            .map_err(&err)?;
            conn
        };
        let history = History {
            conn: Mutex::new(conn),
            path,
        };
        let mut jobs = history.load()?;
        for job in jobs.iter_mut().filter(|j| !j.status.is_finished()) {
            job.status = Status::Failed;
            job.phase = Phase::Failed;
            job.error = Some(INTERRUPTED.into());
            history.save(job)?;
        }
        Ok((history, jobs))
    }

    /// The newest jobs kept, oldest first.
    fn load(&self) -> crate::Result<Vec<Job>> {
        let conn = lock(&self.conn);
        let err = Error::db(&self.path);
        let mut stmt = conn
            .prepare("SELECT id, job FROM jobs ORDER BY id DESC LIMIT ?1")
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![KEEP_FINISHED as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(&err)?;
        let mut jobs = Vec::new();
        for row in rows {
            let (id, text) = row.map_err(&err)?;
            let job: Job = serde_json::from_str(&text).map_err(|e| Error::Io {
                path: self.path.clone(),
                source: std::io::Error::other(format!("job {id} does not read: {e}")),
            })?;
            jobs.push(job);
        }
        jobs.reverse();
        Ok(jobs)
    }

    /// Writes `job`'s status over what the file held of it, and forgets the
    /// oldest jobs past the most kept.
    pub(super) fn save(&self, job: &Job) -> crate::Result<()> {
        let text = serde_json::to_string(job).map_err(|e| Error::Internal(e.to_string()))?;
        let conn = lock(&self.conn);
        let err = Error::db(&self.path);
        conn.execute(
            "INSERT INTO jobs (id, job) VALUES (?1, ?2)
             ON CONFLICT(id) DO UPDATE SET job = excluded.job",
            params![id_of(job.id), text],
        )
        .map_err(&err)?;
        conn.execute(
            "DELETE FROM jobs WHERE id <= ?1 - ?2",
            params![id_of(job.id), KEEP_FINISHED as i64],
        )
        .map_err(&err)?;
        Ok(())
    }
}

/// SQLite integers are signed; job ids count up from 1 and never reach 2^63.
fn id_of(id: JobId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}
