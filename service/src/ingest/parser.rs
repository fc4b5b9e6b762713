//! Which parser reads a source's files: the built-in one chosen by file type, or
//! the parser plugin the source names in `corpus.toml`.
//!
//! A plugin may turn one file into several documents (a changelog into one per
//! version); their ids are `<path>#<key>`. Whatever a plugin gets wrong is an
//! error for that file, naming the plugin and the cause.

use std::path::Path;
use std::sync::Arc;

use super::{parse, DocId, Document, Section};
use crate::config::{Corpus, CORPUS_FILE};
use crate::plugins::{self, Kind, Plugin, PluginDocument};
use crate::Error;

/// The built-in parsers' revision: raise the number when one of them reads
/// some file differently, so that incremental builds parse files again.
const BUILT_IN_PARSERS: &str = concat!(env!("CARGO_PKG_VERSION"), " revision 4");

/// How one source's files are parsed. Cheap to clone.
#[derive(Clone)]
pub enum Parser {
    /// The built-in parser for the file's extension.
    BuiltIn,
    /// A parser plugin and its config as JSON.
    Plugin(Arc<(Plugin, String)>),
}

impl Parser {
    /// The parsers of each of `corpus`'s sources, in source order, loading the
    /// plugins they name (compiled components are cached in `cache_dir`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `sources[i].parser.plugin` when the plugin is
    /// missing, fails to load, or is not a parser.
    pub fn for_sources(corpus: &Corpus, cache_dir: &Path) -> crate::Result<Vec<Parser>> {
        corpus
            .config
            .sources
            .iter()
            .enumerate()
            .map(|(i, source)| {
                let Some(p) = &source.parser else {
                    return Ok(Parser::BuiltIn);
                };
                let loaded = plugins::load_configured(
                    &p.plugin,
                    Kind::Parser,
                    (p.timeout_ms, p.memory_mib),
                    &p.config,
                    cache_dir,
                )
                .map_err(|message| Error::Config {
                    file: corpus.root.join(CORPUS_FILE),
                    key: format!("sources[{i}].parser.plugin"),
                    message,
                })?;
                Ok(Parser::Plugin(Arc::new(loaded)))
            })
            .collect()
    }

    /// What reading a file depends on besides its bytes: the built-in parsers of
    /// this build, or the plugin's component and its config. An incremental
    /// build parses a file again when its parser's fingerprint changed.
    pub fn fingerprint(&self) -> String {
        match self {
            Parser::BuiltIn => format!("built-in {BUILT_IN_PARSERS}"),
            Parser::Plugin(loaded) => {
                let (plugin, config) = loaded.as_ref();
                format!("plugin {} {} {config}", plugin.name(), plugin.digest())
            }
        }
    }

    /// Parses one file, `rel_path` relative to the corpus folder.
    ///
    /// # Errors
    ///
    /// [`Error::BadDocument`] from a built-in parser; [`Error::Plugin`] when the
    /// plugin fails, hits a limit, returns something malformed, or returns no
    /// document.
    pub fn parse(&self, rel_path: &Path, bytes: &[u8]) -> crate::Result<Vec<Document>> {
        let Parser::Plugin(loaded) = self else {
            return Ok(vec![parse::parse(rel_path, bytes)?]);
        };
        let (plugin, config) = &**loaded;
        let path = rel_path.to_string_lossy();
        let docs = plugin.parse(&path, bytes, config)?;
        if docs.is_empty() {
            return Err(Error::Plugin {
                plugin: plugin.name().to_owned(),
                cause: format!("{path}: returned no documents"),
            });
        }
        Ok(docs
            .into_iter()
            .map(|d| document(rel_path, &path, d))
            .collect())
    }
}

fn document(rel_path: &Path, path: &str, d: PluginDocument) -> Document {
    let id = if d.key.is_empty() {
        path.to_owned()
    } else {
        format!("{path}#{}", d.key)
    };
    Document {
        title: match d.title.trim() {
            "" => id.clone(),
            t => t.to_owned(),
        },
        id: DocId(id),
        source: rel_path.to_path_buf(),
        date: d.date,
        series: d.series,
        file_dated: false,
        metadata: d.metadata,
        sections: d
            .sections
            .into_iter()
            .filter(|s| !s.text.trim().is_empty())
            .map(|s| Section {
                heading_path: s.heading,
                page: s.page,
                text: s.text,
            })
            .collect(),
    }
}
