//! The limits a component runs under beyond fuel and epochs: one memory
//! budget over all of its memories and tables, and clock waits that end at
//! the call's deadline.

use super::*;

/// The one WASI pollable that can block: a monotonic-clock wait, here never
/// past the call's deadline.
pub(super) struct Wait(pub(super) tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl Pollable for Wait {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

/// The monotonic clock plugins see: nanoseconds since the process began using
/// it, the base `subscribe-instant` is read against.
pub(super) struct Monotonic;

pub(super) fn clock_origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        clock_origin().elapsed().as_nanos() as u64
    }
}

/// The WASI interface whose waits are replaced.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces WASI's clock subscriptions with waits that end at the call's
/// deadline: the host thread is back by then whatever the guest asked for.
pub(super) fn cap_clock_waits(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, CallState>, (nanos,): (u64,)| {
            Ok((store.data_mut().wait(Duration::from_nanos(nanos))?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, CallState>, (when,): (u64,)| {
            let now = Monotonic.now();
            Ok((store
                .data_mut()
                .wait(Duration::from_nanos(when.saturating_sub(now)))?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// One memory budget for a whole instance: the bytes of all its linear memories
/// and tables together (a table element counted as a pointer), so a component
/// of several core modules gets no more than one of a single module.
pub(super) struct Budget {
    max: usize,
    used: usize,
    pub(super) refused: bool,
}

impl Budget {
    pub(super) fn new(max: usize) -> Budget {
        Budget {
            max,
            used: 0,
            refused: false,
        }
    }

    /// Takes `desired - current` more bytes if the budget has them.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let used = self.used - current.min(self.used) + desired;
        if used > self.max {
            self.refused = true;
            return false;
        }
        self.used = used;
        true
    }
}

impl ResourceLimiter for Budget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let slot = std::mem::size_of::<usize>();
        Ok(desired <= MAX_TABLE_ELEMENTS && self.grow(current * slot, desired * slot))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_counts_every_memory_and_table_together() {
        let mut b = super::Budget::new(100);
        assert!(b.grow(0, 60), "a first memory of 60");
        assert!(!b.grow(0, 60), "a second memory of 60 would make 120");
        assert!(b.refused);
        assert!(b.grow(0, 40), "a second memory of 40 fits");
        assert!(b.grow(60, 50), "a memory is counted at its latest size");
        assert_eq!(b.used, 90);
        assert!(!b.grow(40, 51));
    }
}
