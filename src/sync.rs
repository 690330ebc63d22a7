//! Locking shared state (sessions, cached orders) without letting a panicked holder poison it:
//! every mutation made under these locks is applied whole or not at all, so the data a panicking
//! holder leaves is still consistent.

use std::sync::{Mutex, MutexGuard};

/// Lock a mutex, recovering the data if a previous holder panicked.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
