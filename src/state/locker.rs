//! The lock of a state, whatever stores it: a file beside a local state ([`super::lock`])
//! or a leased object beside a state in S3 ([`super::s3::lease`]). Waiting, stopping
//! and reporting are written once, over this trait (see `ops::locked`).

use std::path::PathBuf;
use std::time::Duration;

use super::lock::{self, BrokenLock, LockError, LockGuard, LockInfo};

/// A lock held; released when dropped.
pub trait HeldLock: Send + Sync + std::fmt::Debug {
    fn info(&self) -> &LockInfo;
}

impl HeldLock for LockGuard {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

/// What taking a lock gave: the lock, and a lock found dead and broken on the way.
#[derive(Debug)]
pub struct Acquired {
    pub guard: Box<dyn HeldLock>,
    pub broken: Option<BrokenLock>,
}

/// Takes, inspects and removes the lock of one state.
pub trait Locker: Send + Sync {
    /// Tries to take the lock for `command`, retrying for up to `wait` (zero: once).
    fn acquire(&self, command: &str, wait: Duration) -> Result<Acquired, LockError>;
    /// Removes the lock with this ID, whoever holds it.
    fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError>;
    /// Why a held lock was not broken automatically, in words for the error message.
    fn why_kept(&self, held: &LockInfo) -> String;
    /// Where the lock is, for messages (`state directory: ...`).
    fn place(&self) -> String;
}

/// The lock file of a local state directory.
pub struct FileLocker(pub PathBuf);

impl Locker for FileLocker {
    fn acquire(&self, command: &str, wait: Duration) -> Result<Acquired, LockError> {
        let (guard, broken) = lock::acquire(&self.0, command, wait)?;
        Ok(Acquired {
            guard: Box::new(guard),
            broken,
        })
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        lock::force_unlock(&self.0, id)
    }

    fn why_kept(&self, held: &LockInfo) -> String {
        lock::why_kept(held)
    }

    fn place(&self) -> String {
        format!("state directory: {}", self.0.display())
    }
}
