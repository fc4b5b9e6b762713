//! Ids for things the service hands out (request ids, answer ids): unique within
//! the process and unlikely to repeat across restarts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// 16 hex digits from a process-wide counter that starts at the clock's
/// nanoseconds.
pub fn next_hex() -> String {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        AtomicU64::new(nanos)
    });
    format!("{:016x}", next.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_do_not_repeat() {
        let (a, b) = (super::next_hex(), super::next_hex());
        assert_ne!(a, b);
        assert_eq!((a.len(), b.len()), (16, 16));
    }
}
