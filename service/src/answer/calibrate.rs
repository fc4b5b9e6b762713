//! `candor calibrate`: fits a corpus's support models on questions it should answer
//! and questions it should not, and stores them in the corpus folder.

use std::path::PathBuf;

use super::support::Labelled;
use super::{Answerer, Calibration};

/// Fits the support models of corpus `name` on questions it should answer
/// (`in_scope`), on-topic questions it cannot answer (`unanswerable`, may be
/// empty) and off-topic ones (`out_of_scope`), and writes them to its folder.
/// Returns the calibration and the file written.
///
/// # Errors
///
/// [`Error::UnknownCorpus`], index, model and I/O errors.
pub fn calibrate(
    answerer: &Answerer,
    name: &str,
    in_scope: &[String],
    unanswerable: &[String],
    out_of_scope: &[String],
) -> crate::Result<(Calibration, PathBuf)> {
    let (_, served) = answerer.corpora().pick(Some(name))?;
    let measure = |qs: &[String]| {
        qs.iter()
            .map(|q| answerer.signals(name, q))
            .collect::<crate::Result<Vec<_>>>()
    };
    let (answerable, unanswerable, out_of_scope) = (
        measure(in_scope)?,
        measure(unanswerable)?,
        measure(out_of_scope)?,
    );
    let calibration = Calibration::fit(&Labelled {
        answerable: &answerable,
        unanswerable: &unanswerable,
        out_of_scope: &out_of_scope,
    })?;
    let path = calibration.save(&served.root)?;
    Ok((calibration, path))
}
