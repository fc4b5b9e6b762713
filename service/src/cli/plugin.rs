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
    /// Measure a plugin's per-call cost (instantiation included), and for a
    /// parser its throughput on a file.
    Bench {
        /// The component (.wasm built for wasm32-wasip2).
        component: PathBuf,
        /// The file a parser should parse.
        #[arg(long, conflicts_with = "question")]
        file: Option<PathBuf>,
        /// The question a guardrail should judge.
        #[arg(long)]
        question: Option<String>,
        /// The plugin's config, a JSON object as in corpus.toml.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Calls to time.
        #[arg(long, default_value_t = 1000)]
        calls: usize,
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
        &data_dir.join(candor::plugins::CACHE_DIR),
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
            outln!("{}", serde_json::to_string_pretty(&report)?);
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
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        PluginCommand::Bench {
            component,
            file,
            question,
            config,
            calls,
            data_dir,
        } => {
            check_config(&config)?;
            if calls == 0 {
                bail!("--calls must be at least 1");
            }
            let p = load(&component, &data_dir)?;
            let (call, bytes): (Box<dyn Fn() -> candor::Result<()>>, usize) = match (file, question)
            {
                (Some(file), None) => {
                    let data = std::fs::read(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let (name, len) = (file.to_string_lossy().into_owned(), data.len());
                    (
                        Box::new(move || p.parse(&name, &data, &config).map(drop)),
                        len,
                    )
                }
                (None, Some(q)) => (Box::new(move || p.check_question(&q, &config).map(drop)), 0),
                _ => bail!("give --file for a parser or --question for a guardrail"),
            };
            call()?;
            let (pct, total) = time_calls(calls, call)?;
            let mut report = json!({"calls": calls, "call_p50_us": pct.p50, "call_p99_us": pct.p99, "calls_per_s": calls as f64 / total});
            if bytes > 0 {
                report["mb_per_s"] = json!(bytes as f64 * calls as f64 / total / 1e6);
            }
            outln!("{report}");
        }
    }
    Ok(())
}

/// Times `calls` calls of `call`: per-call percentiles in microseconds, and the
/// total seconds.
pub(super) fn time_calls(
    calls: usize,
    call: impl Fn() -> candor::Result<()>,
) -> anyhow::Result<(candor::eval::metrics::Percentiles, f64)> {
    let mut micros = Vec::with_capacity(calls);
    let started = std::time::Instant::now();
    for _ in 0..calls {
        let t = std::time::Instant::now();
        call()?;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let total = started.elapsed().as_secs_f64();
    Ok((candor::eval::metrics::percentiles(&mut micros), total))
}

fn check_config(config: &str) -> anyhow::Result<()> {
    if !serde_json::from_str::<serde_json::Value>(config).is_ok_and(|v| v.is_object()) {
        bail!("--config must be a JSON object, got `{config}`");
    }
    Ok(())
}
