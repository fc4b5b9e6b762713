//! Progress of long commands: a bar on a terminal, a log line every few seconds
//! otherwise (CI logs, pipes).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use candor::index::{Progress, ProgressEvent};
use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on a terminal; a log line every few seconds otherwise.
pub struct CliProgress {
    bar: Option<ProgressBar>,
    state: Mutex<PhaseClock>,
}

/// Timing of the current phase, for rates and log throttling.
struct PhaseClock {
    phase: Option<&'static str>,
    began: Instant,
    last_log: Instant,
    last_event: Instant,
}

/// Seconds between progress log lines when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

impl CliProgress {
    pub fn new() -> CliProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        let now = Instant::now();
        CliProgress {
            bar,
            state: Mutex::new(PhaseClock {
                phase: None,
                began: now,
                last_log: now,
                last_event: now,
            }),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn report(&self, event: ProgressEvent) {
        let (phase, done, total) = match event {
            ProgressEvent::Parsed { done, total } => ("parsed", done, total),
            ProgressEvent::Embedded { done, total } => ("embedded", done, total),
            ProgressEvent::EmbeddedSentences { done, total } => ("embedded sentences", done, total),
            ProgressEvent::Indexing => ("indexing", 0, 0),
        };
        let Ok(mut clock) = self.state.lock() else {
            return;
        };
        let new_phase = clock.phase != Some(phase);
        if new_phase {
            // The phase began when the previous event ended, not at its own first report.
            clock.phase = Some(phase);
            clock.began = clock.last_event;
        }
        match &self.bar {
            Some(b) => {
                if new_phase {
                    b.reset();
                    b.set_length(total);
                    b.set_message(phase);
                }
                b.set_position(done);
            }
            None if new_phase
                || clock.last_log.elapsed() >= LOG_EVERY
                || (total > 0 && done == total) =>
            {
                clock.last_log = Instant::now();
                let rate = done as f64 / clock.began.elapsed().as_secs_f64().max(1e-9);
                if total > 0 {
                    let eta = total.saturating_sub(done) as f64 / rate.max(1e-9);
                    eprintln!("{phase} {done}/{total} ({rate:.1}/s, ETA {eta:.0}s)");
                } else {
                    eprintln!("{phase}");
                }
            }
            None => {}
        }
        clock.last_event = Instant::now();
    }
}
