//! The state lock: a file `lock.json` beside the database, created atomically, naming its
//! holder (user, host, pid, command, time) and an ID. It lives outside the database so a
//! second process can read who holds it. A lock whose holder was a process on this host
//! that no longer exists is broken automatically (and reported), so a killed run never
//! blocks the next one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub created: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("state is locked by {}@{} (pid {}, running `{}` since {}), lock ID {}", .0.user, .0.host, .0.pid, .0.command, .0.created.format("%Y-%m-%d %H:%M:%S UTC"), .0.id)]
    Held(LockInfo),
    #[error("no lock with ID {0} is held")]
    NotHeld(String),
    #[error("state lock at {path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// Held lock; released (the file removed) on drop.
#[derive(Debug)]
pub struct LockGuard {
    pub info: LockInfo,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = (&self.info, &self.path);
        todo!("state helper")
    }
}

/// What `acquire` found and broke on its way: a lock left by a dead process.
#[derive(Debug, Clone)]
pub struct BrokenLock(pub LockInfo);

/// Takes the lock in `dir` (created if missing), retrying until `timeout`.
pub fn acquire(_dir: &Path, _command: &str, _timeout: Duration) -> Result<(LockGuard, Option<BrokenLock>), LockError> {
    todo!("state helper")
}

/// Who holds the lock in `dir`, if anyone.
pub fn holder(_dir: &Path) -> Result<Option<LockInfo>, LockError> {
    todo!("state helper")
}

/// Removes the lock with this ID, whoever holds it (`trustplane state force-unlock ID`).
pub fn force_unlock(_dir: &Path, _id: &str) -> Result<LockInfo, LockError> {
    todo!("state helper")
}
