//! Which plugins keep failing: each plugin's count of failed calls since its
//! last successful one, process-wide, for `/readyz` and `/metrics`.
//!
//! A guardrail that fails every call degrades its corpus silently (blocked
//! questions under `fail_closed`, unguarded answers under `fail_open`); this is
//! how an operator sees it without reading the log.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

fn streaks() -> std::sync::MutexGuard<'static, BTreeMap<String, u64>> {
    static STREAKS: OnceLock<Mutex<BTreeMap<String, u64>>> = OnceLock::new();
    STREAKS
        .get_or_init(Default::default)
        .lock()
        // A panic elsewhere while holding the lock leaves counts that are
        // still counts.
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records one use of `plugin`, a call and the checks of what it returned: a
/// success ends its streak of failures.
pub(crate) fn record(plugin: &str, ok: bool) {
    let mut streaks = streaks();
    match (ok, streaks.get_mut(plugin)) {
        (true, Some(n)) => *n = 0,
        (true, None) => {}
        (false, Some(n)) => *n += 1,
        (false, None) => {
            streaks.insert(plugin.to_owned(), 1);
        }
    }
}

/// Every plugin called so far with its failed calls since its last success,
/// by name.
pub fn failures_in_a_row() -> BTreeMap<String, u64> {
    streaks().clone()
}

/// The plugins whose latest call failed, with how many calls in a row have.
pub fn failing() -> BTreeMap<String, u64> {
    let mut all = failures_in_a_row();
    all.retain(|_, n| *n > 0);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_ends_a_streak_of_failures() {
        let name = "health-test-plugin";
        record(name, false);
        record(name, false);
        assert_eq!(failing().get(name), Some(&2));
        record(name, true);
        assert_eq!(failing().get(name), None);
        assert_eq!(failures_in_a_row().get(name), Some(&0));
        record(name, false);
        assert_eq!(failing().get(name), Some(&1));
    }
}
