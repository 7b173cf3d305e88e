//! In-memory state for unit tests: same contracts as the sled store, nothing on disk.

/// Transient store.
#[derive(Debug, Default)]
pub struct MemoryState {}
