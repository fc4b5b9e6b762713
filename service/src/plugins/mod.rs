//! The plugin host: runs WebAssembly components that implement the `parser` or
//! `guardrail` world of `wit/candor-plugin.wit`, sandboxed.
//!
//! A component is compiled once (the compiled artefact is cached on disk under a
//! hash of its bytes and of this build) and pre-linked into an `InstancePre`; every
//! call gets a fresh instance from the pooling allocator and a store with:
//!
//! - a WASI context that grants nothing: no preopened folders, environment,
//!   arguments, stdin or sockets (clocks and randomness stay available);
//! - a deadline that holds whatever the guest does: an epoch deadline stops
//!   guest code that loops, and the only WASI calls that can block (waits on
//!   the monotonic clock, which sleeps and polls are made of) end at the
//!   deadline too, after which the epoch stops the guest;
//! - one memory budget summed over all the instance's memories and tables, and
//!   a cap on how many it may have, checked when the component is loaded;
//! - at most [`MAX_CONCURRENT_CALLS`] calls of one plugin at once, so a slow
//!   plugin cannot take the instance slots every other plugin needs;
//! - bounded stdout and stderr, logged with the plugin's name afterwards.
//!
//! Whatever goes wrong inside a call (trap, timeout, memory cap, oversized or
//! malformed result) comes back as [`Error::Plugin`] with the plugin's name and
//! the cause; nothing a plugin does can panic the host.

mod guardrail;
pub mod health;
mod log;
mod parser;
mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, WasiCtx, WasiCtxView, WasiView};

pub use guardrail::{Citation, Decision, Verdict};
pub use parser::{PluginDocument, PluginSection};

use crate::Error;
use sandbox::{cap_clock_waits, Budget, Monotonic, Wait};

/// How often the engine's epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Captured stdout or stderr kept per call; the rest is dropped and counted.
const LOG_CAPACITY: usize = 16 * 1024;

/// Largest linear memory any plugin may have, whatever its configured cap.
const MAX_MEMORY_BYTES: usize = 1 << 30;

/// Most linear memories one component may define; the pooling allocator refuses
/// a component with more when it is loaded. A Rust component has one, and the
/// cap keeps a component of many core modules from taking pool slots by the
/// dozen.
const MAX_MEMORIES: usize = 4;

/// Most tables one component may define (a Rust component has one or two).
const MAX_TABLES: usize = 8;

/// Largest table, in elements.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// Calls of one plugin that may run at once; one more fails at once with the
/// plugin's own error, and the pool below has room for many plugins at this.
pub const MAX_CONCURRENT_CALLS: usize = 8;

/// The folder, under the data dir, where compiled components are cached.
pub const CACHE_DIR: &str = "plugin-cache";

/// Environment variable that overrides the folder plugins are looked up in.
pub const PLUGINS_ENV: &str = "CANDOR_PLUGINS_DIR";

/// Where `make plugins` puts the components, relative to the workspace.
const PLUGINS_DIR: &str = "target/plugins/wasm32-wasip2/release";

/// The component of the plugin called `name`: `<name>.wasm` (dashes as
/// underscores, as cargo names it) in `CANDOR_PLUGINS_DIR` or the folder `make
/// plugins` fills.
///
/// # Errors
///
/// [`Error::Plugin`] naming where it looked.
pub fn locate(name: &str) -> crate::Result<PathBuf> {
    let path = crate::config::find_dir(PLUGINS_ENV, PLUGINS_DIR)
        .join(format!("{}.wasm", name.replace('-', "_")));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Plugin {
            plugin: name.to_owned(),
            cause: format!(
                "no component at {}; run `make plugins` or set {PLUGINS_ENV}",
                path.display()
            ),
        })
    }
}

/// Finds and loads the plugin a corpus configures, checks that it implements
/// `kind`, and turns its config table into the JSON it is called with.
///
/// # Errors
///
/// A message for the config entry: the component is missing, fails to load,
/// implements the other world, or the config does not convert to JSON.
pub fn load_configured(
    name: &str,
    kind: Kind,
    (timeout_ms, memory_mib): (u64, usize),
    config: &toml::Table,
    cache_dir: &Path,
) -> Result<(Plugin, String), String> {
    let limits = Limits {
        timeout: Duration::from_millis(timeout_ms),
        memory_bytes: memory_mib << 20,
        ..kind.default_limits()
    };
    let path = locate(name).map_err(|e| e.to_string())?;
    let plugin = Plugin::load(name, &path, cache_dir, Some(limits)).map_err(|e| e.to_string())?;
    if plugin.kind() != kind {
        return Err(format!(
            "plugin `{name}` is a {}, not a {}",
            plugin.kind().noun(),
            kind.noun()
        ));
    }
    let config = serde_json::to_string(config)
        .map_err(|e| format!("config does not convert to JSON: {e}"))?;
    Ok((plugin, config))
}

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Turns files into documents.
    Parser,
    /// Judges questions and answers.
    Guardrail,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Parser => "parser",
            Kind::Guardrail => "guardrail",
        }
    }

    /// The limits a plugin of this kind runs under unless configured otherwise.
    pub fn default_limits(self) -> Limits {
        match self {
            Kind::Parser => Limits {
                timeout: Duration::from_secs(2),
                memory_bytes: 256 << 20,
                result_bytes: 64 << 20,
            },
            Kind::Guardrail => Limits {
                timeout: Duration::from_millis(50),
                memory_bytes: 64 << 20,
                result_bytes: 1 << 20,
            },
        }
    }
}

/// What one call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// Wall-clock deadline of the call.
    #[serde(serialize_with = "millis")]
    pub timeout: Duration,
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Largest result (the text the call returns, summed), in bytes.
    pub result_bytes: usize,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// The process-wide engine: one epoch ticker serves every plugin.
fn engine() -> crate::Result<&'static Engine> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut pool = PoolingAllocationConfig::new();
            // Plugins run one call per instance, and each plugin at most
            // MAX_CONCURRENT_CALLS at once: 32 plugins can be at their limit
            // together before the pool runs short. Every memory slot reserves
            // address space (not memory), so slots are not free either.
            pool.total_component_instances(256)
                .total_core_instances(2048)
                .total_memories(512)
                .total_tables(1024)
                .total_stacks(256)
                .max_memories_per_component(MAX_MEMORIES as u32)
                .max_tables_per_component(MAX_TABLES as u32)
                .max_memory_size(MAX_MEMORY_BYTES)
                .max_component_instance_size(4 << 20);
            let mut config = Config::new();
            config
                .wasm_component_model(true)
                .epoch_interruption(true)
                .memory_reservation(MAX_MEMORY_BYTES as u64)
                .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            let engine = Engine::new(&config)
                .map_err(|e| format!("cannot start the WebAssembly engine: {e}"))?;
            let ticker = engine.clone();
            std::thread::Builder::new()
                .name("candor-plugin-epoch".into())
                .spawn(move || loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                })
                .map_err(|e| format!("cannot start the plugin deadline thread: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(|e| Error::Internal(e.clone()))
}

/// Per-call state of a store.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: Budget,
    /// When the call's deadline passes.
    deadline: tokio::time::Instant,
    /// Set when the guest asked to wait on the clock past its deadline.
    waited_past: bool,
}

impl CallState {
    /// A wait on the monotonic clock for `duration`, cut at the call's deadline.
    fn wait(&mut self, duration: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let until = tokio::time::Instant::now()
            .checked_add(duration)
            .filter(|u| *u <= self.deadline)
            .unwrap_or_else(|| {
                self.waited_past = true;
                self.deadline
            });
        let wait = self.table.push(Wait(until))?;
        subscribe(&mut self.table, wait)
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A loaded plugin: compiled, checked against its world, ready to call.
pub struct Plugin {
    name: String,
    /// sha256 of the component's bytes, hex.
    digest: String,
    kind: Kind,
    limits: Limits,
    pre: Pre,
    /// Calls in flight, at most MAX_CONCURRENT_CALLS.
    running: std::sync::atomic::AtomicUsize,
}

enum Pre {
    Parser(parser::ParserPre<CallState>),
    Guardrail(guardrail::GuardrailPre<CallState>),
}

impl Plugin {
    /// Loads the component at `path` as plugin `name`, compiling it or reading
    /// the compiled artefact from `cache_dir`. `limits` overrides the kind's
    /// defaults.
    ///
    /// # Errors
    ///
    /// [`Error::Plugin`] when the file is not a component, or implements neither
    /// world; I/O errors.
    pub fn load(
        name: &str,
        path: &Path,
        cache_dir: &Path,
        limits: Option<Limits>,
    ) -> crate::Result<Plugin> {
        let engine = engine()?;
        let fail = |cause: String| Error::Plugin {
            plugin: name.to_owned(),
            cause,
        };
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let component = compile(engine, &bytes, cache_dir)
            .map_err(|e| fail(format!("{}: {e:#}", path.display())))?;
        let mut linker: Linker<CallState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| cap_clock_waits(&mut linker))
            .map_err(|e| Error::Internal(format!("WASI linker: {e}")))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            fail(format!(
                "{} imports something Candor does not provide: {e:#}",
                path.display()
            ))
        })?;
        let parser = parser::ParserPre::new(pre.clone());
        let guardrail = guardrail::GuardrailPre::new(pre);
        let (kind, pre) = match (parser, guardrail) {
            (Ok(p), _) => (Kind::Parser, Pre::Parser(p)),
            (_, Ok(g)) => (Kind::Guardrail, Pre::Guardrail(g)),
            (Err(p), Err(g)) => {
                return Err(fail(format!(
                    "{} implements neither world of candor:plugin@0.1.0: as a parser: {p:#}; as a guardrail: {g:#}",
                    path.display()
                )))
            }
        };
        let limits = limits.unwrap_or_else(|| kind.default_limits());
        Ok(Plugin {
            name: name.to_owned(),
            digest: hex::encode(Sha256::digest(&bytes)),
            kind,
            limits,
            pre,
            running: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256 of the component's bytes, hex: which build of the plugin this is.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The world it implements.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The limits its calls run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn fail(&self, cause: impl Into<String>) -> Error {
        Error::Plugin {
            plugin: self.name.clone(),
            cause: cause.into(),
        }
    }

    /// Runs `call` in a fresh store under the plugin's limits, then logs what it
    /// printed and turns traps into causes a person can act on.
    fn call<R>(
        &self,
        call: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> crate::Result<R> {
        let engine = engine()?;
        let _slot = Slot::take(&self.running).ok_or_else(|| {
            self.count("busy");
            self.fail(format!(
                "already runs {MAX_CONCURRENT_CALLS} calls at once, its limit; this call was refused"
            ))
        })?;
        let (stdout, stderr) = (
            log::Bounded::new(LOG_CAPACITY),
            log::Bounded::new(LOG_CAPACITY),
        );
        let mut store = self.store(engine, &stdout, &stderr);
        // A guest that asked to wait past its deadline got its wait cut short;
        // whatever it made of that, the call did not finish in time.
        let result = call(&mut store).and_then(|r| match store.data().waited_past {
            true => Err(Trap::Interrupt.into()),
            false => Ok(r),
        });
        let interrupted =
            |e: &wasmtime::Error| matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) if interrupted(e) => "timeout",
            Err(_) if store.data().memory.refused => "memory",
            Err(_) => "error",
        };
        self.count(outcome);
        let (out, err) = (stdout.take(), stderr.take());
        for (stream, text) in [("stdout", &out), ("stderr", &err)] {
            if let Some(text) = text {
                let text = crate::printable::escape(text);
                match result.is_ok() {
                    true => tracing::info!(plugin = %self.name, stream, "{text}"),
                    // What a failing plugin printed is why it failed; it shows
                    // at the default log level.
                    false => tracing::warn!(plugin = %self.name, stream, "{text}"),
                }
            }
        }
        result.map_err(|e| self.fail(self.cause(&e, store.data(), err.as_deref())))
    }

    /// A fresh store for one call: a WASI context that grants nothing but
    /// `stdout` and `stderr`, the memory budget and the deadline.
    fn store(
        &self,
        engine: &Engine,
        stdout: &log::Bounded,
        stderr: &log::Bounded,
    ) -> Store<CallState> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .monotonic_clock(Monotonic)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let timeout = self.limits.timeout;
        let state = CallState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: Budget::new(self.limits.memory_bytes.min(MAX_MEMORY_BYTES)),
            deadline: tokio::time::Instant::now() + timeout,
            waited_past: false,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.memory);
        let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Why a call failed with `e`, in words a person can act on; `stderr` is
    /// what the plugin printed there.
    fn cause(&self, e: &wasmtime::Error, state: &CallState, stderr: Option<&str>) -> String {
        let deadline = self.limits.timeout.as_millis();
        let mut cause = match e.downcast_ref::<Trap>() {
            // A wait cut at the deadline hands back to the guest, and the epoch
            // stops it at its next step.
            Some(Trap::Interrupt) if state.waited_past => {
                format!("was blocked in a host call past its {deadline} ms deadline")
            }
            Some(Trap::Interrupt) => format!("did not finish within its {deadline} ms deadline"),
            _ if state.memory.refused => format!(
                "ran out of memory: it tried to grow past its budget of {} MiB",
                self.limits.memory_bytes >> 20
            ),
            Some(trap) => format!("trapped: {trap}"),
            None => format!("failed: {}", first_line(&format!("{e:#}"))),
        };
        // The full report (the wasm backtrace) is for the operator's log; the
        // error that may reach an HTTP caller keeps the cause.
        tracing::debug!(plugin = %self.name, "plugin call failed: {e:?}");
        // What the plugin printed goes to the log only: it is the plugin's
        // text, not the host's, and may be long or hostile. A Rust panic is
        // still named, since it is the cause.
        if stderr.is_some_and(|t| t.contains("panicked at")) {
            cause.push_str(" (it panicked; its stderr is in the log)");
        }
        cause
    }

    fn count(&self, outcome: &str) {
        crate::metrics::inc(
            "candor_plugin_calls_total",
            "Plugin calls by plugin and outcome (ok, timeout, memory, busy, error).",
            &[("plugin", &self.name), ("outcome", outcome)],
        );
    }

    fn check_size(&self, bytes: usize) -> crate::Result<()> {
        if bytes > self.limits.result_bytes {
            return Err(self.fail(format!(
                "returned {} bytes, more than its cap of {} bytes",
                bytes, self.limits.result_bytes
            )));
        }
        Ok(())
    }
}

/// One of a plugin's MAX_CONCURRENT_CALLS call slots, given back on drop.
struct Slot<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Slot<'a> {
    fn take(running: &'a std::sync::atomic::AtomicUsize) -> Option<Slot<'a>> {
        use std::sync::atomic::Ordering;
        running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONCURRENT_CALLS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(running))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The first control character in `text`, as an escape, if there is one: ids,
/// titles and codes may hold none.
fn control(text: &str) -> Option<String> {
    text.chars()
        .find(|c| c.is_control())
        .map(|c| c.escape_default().to_string())
}

/// The first line of an error report: wasmtime appends the wasm backtrace.
fn first_line(report: &str) -> &str {
    report.lines().next().unwrap_or(report)
}

/// Compiles `bytes`, or loads the artefact a previous run cached under a hash of
/// the bytes and of this engine's settings.
fn compile(engine: &Engine, bytes: &[u8], cache_dir: &Path) -> wasmtime::Result<Component> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let key = format!(
        "{}-{:016x}.cwasm",
        hex::encode(Sha256::digest(bytes)),
        h.finish()
    );
    let path: PathBuf = cache_dir.join(key);
    if path.is_file() {
        // SAFETY: the file was written by `Component::serialize` of an engine with
        // the same compatibility hash (it is in the name); wasmtime checks the
        // header again and refuses a mismatch, in which case we recompile.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let component = Component::new(engine, bytes)?;
    // The cache is an optimisation: failing to write it costs a recompile next
    // time, so it is logged, not fatal.
    let tmp = path.with_extension("tmp");
    let written = std::fs::create_dir_all(cache_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| component.serialize().map_err(|e| e.to_string()))
        .and_then(|bytes| std::fs::write(&tmp, bytes).map_err(|e| e.to_string()))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| e.to_string()));
    if let Err(e) = written {
        tracing::warn!(cache = %path.display(), "cannot cache the compiled plugin: {e}");
    }
    Ok(component)
}

#[cfg(test)]
mod tests;
