//! Persistent state in an embedded sled database.

/// Persistent store at one directory (one stack and workspace).
pub struct SledState {}
