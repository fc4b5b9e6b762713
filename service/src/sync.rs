//! Locks that outlive a panicking holder.
//!
//! Every value Candor guards is updated by whole assignments (an `Arc` swapped
//! in, a counter bumped, a cache cleared, a job's field set) or, for the
//! feedback store, by SQLite, which keeps its own state consistent. So a lock
//! poisoned by a panic still guards a whole value, and one failed request must
//! not take every later one down with it.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, poisoned or not.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, poisoned or not.
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, poisoned or not.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
