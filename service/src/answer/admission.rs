//! Admission control: a bound on uncached work under way, past which work is
//! refused (503 `overloaded`) rather than queued without end.

use super::*;

/// Uncached questions admitted at once per core, unless configured: at the
/// measured 8 ms of embedding per question, about a quarter second of work
/// queued per core. More are refused at once rather than queued without bound.
pub const DEFAULT_PENDING_PER_CORE: usize = 32;

/// Counts uncached work under way and refuses work past a bound.
#[derive(Debug)]
pub struct Admission {
    max: usize,
    running: std::sync::atomic::AtomicUsize,
}

/// One admitted piece of work; leaving it lets another in.
pub struct Admitted<'a>(&'a Admission);

impl Admission {
    /// Admits at most `max` pieces of work at once.
    pub fn new(max: usize) -> Admission {
        Admission {
            max: max.max(1),
            running: Default::default(),
        }
    }

    /// The default bound: [`DEFAULT_PENDING_PER_CORE`] per core.
    pub fn for_cores() -> Admission {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Admission::new(cores * DEFAULT_PENDING_PER_CORE)
    }

    /// Work under way now.
    pub fn running(&self) -> usize {
        self.running.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Admits one more piece of work, or says the server is full.
    ///
    /// # Errors
    ///
    /// [`Error::Overloaded`] when `max` are under way.
    pub fn enter(&self) -> crate::Result<Admitted<'_>> {
        use std::sync::atomic::Ordering;
        match self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            }) {
            Ok(_) => Ok(Admitted(self)),
            Err(_) => {
                crate::metrics::inc(
                    "candor_shed_total",
                    "Uncached answers and searches refused with 503 overloaded.",
                    &[],
                );
                Err(Error::Overloaded(self.max))
            }
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
