//! `candor plugin check` and `candor plugin run`: a plugin author's view of a
//! component, without a server or a corpus.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candor::plugins::{Kind, Plugin};
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Load a component and report its world, its exports and its limits.
    Check {
        /// The component (.wasm built for wasm32-wasip2).
        component: PathBuf,
        /// Where compiled components are cached (under plugin-cache/).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Run a parser on a file, or a guardrail on a question (and an answer).
    Run {
        /// The component (.wasm built for wasm32-wasip2).
        component: PathBuf,
        /// The file a parser should parse.
        #[arg(long, conflicts_with = "question")]
        file: Option<PathBuf>,
        /// The question a guardrail should judge.
        #[arg(long)]
        question: Option<String>,
        /// With --question: an answer the guardrail should judge instead.
        #[arg(long, requires = "question")]
        answer: Option<String>,
        /// The plugin's config, a JSON object as in corpus.toml.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Where compiled components are cached (under plugin-cache/).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

fn load(component: &Path, data_dir: &Path) -> anyhow::Result<Plugin> {
    let name = component
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{} has no file name", component.display()))?;
    Ok(Plugin::load(
        name,
        component,
        &data_dir.join("plugin-cache"),
        None,
    )?)
}

pub fn run(cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Check {
            component,
            data_dir,
        } => {
            let p = load(&component, &data_dir)?;
            let exports = match p.kind() {
                Kind::Parser => vec!["parse"],
                Kind::Guardrail => vec!["check-question", "check-answer"],
            };
            let report = json!({"plugin": p.name(), "world": p.kind(), "exports": exports, "limits": p.limits()});
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        PluginCommand::Run {
            component,
            file,
            question,
            answer,
            config,
            data_dir,
        } => {
            if !serde_json::from_str::<serde_json::Value>(&config).is_ok_and(|v| v.is_object()) {
                bail!("--config must be a JSON object, got `{config}`");
            }
            let p = load(&component, &data_dir)?;
            let out = match (file, question) {
                (Some(file), None) => {
                    let bytes = std::fs::read(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    serde_json::to_value(p.parse(&file.to_string_lossy(), &bytes, &config)?)?
                }
                (None, Some(q)) => match answer {
                    Some(a) => serde_json::to_value(p.check_answer(&q, &a, &[], &config)?)?,
                    None => serde_json::to_value(p.check_question(&q, &config)?)?,
                },
                _ => bail!("give --file for a parser or --question for a guardrail"),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}
