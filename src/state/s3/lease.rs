//! The lock of a state in S3: `lock.json`, created with `If-None-Match: *` so only one
//! run can create it, naming its holder (user, host, pid, command, time, lock ID) and a
//! lease. No pid can be checked across hosts, so the holder renews the lease (a
//! background thread, every third of its length) while it runs; a lock whose lease has
//! passed is reported as stale. It is never broken automatically: `trustplane state
//! force-unlock ID` removes it, and only with its ID. Renewal and release are
//! conditional on the ETag the holder wrote, so a holder never touches a lock that is no
//! longer its own.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Condition, S3Client, S3Failure, S3Location};
use crate::state::lock::{self, LockError, LockInfo};
use crate::state::locker::{Acquired, HeldLock, Locker};

const LOCK_OBJECT: &str = "lock.json";

/// How long a lease lasts unless renewed.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Overrides the lease length (e.g. `10s`), for pipelines that want a killed run's lock
/// reported as stale sooner.
pub const LEASE_ENV: &str = "TRUSTPLANE_STATE_LEASE";

const RETRY_EVERY: Duration = Duration::from_millis(250);

/// The lease lock of one state in S3.
pub struct S3Locker {
    client: S3Client,
    lease: Duration,
}

impl S3Locker {
    pub fn new(client: S3Client) -> S3Locker {
        let lease = std::env::var(LEASE_ENV)
            .ok()
            .and_then(|s| crate::duration::parse(&s).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_LEASE);
        S3Locker { client, lease }
    }

    pub fn with_lease(client: S3Client, lease: Duration) -> S3Locker {
        S3Locker { client, lease }
    }

    fn io(&self, message: impl std::fmt::Display) -> LockError {
        LockError::Io {
            path: PathBuf::from(self.url()),
            message: message.to_string(),
        }
    }

    fn url(&self) -> String {
        format!(
            "s3://{}/{}",
            self.client.location.bucket,
            self.client.location.key(LOCK_OBJECT)
        )
    }

    /// The lock as stored, and its ETag.
    fn read(&self) -> Result<Option<(LockInfo, String)>, LockError> {
        match self.client.get(LOCK_OBJECT).map_err(|e| self.io(e))? {
            None => Ok(None),
            Some(f) => match serde_json::from_slice::<LockInfo>(&f.bytes) {
                Ok(info) => Ok(Some((info, f.etag))),
                Err(e) => Err(self.io(format!(
                    "the lock object does not decode ({e}), so its holder cannot be named; \
                     remove it by hand once no trustplane run uses this state"
                ))),
            },
        }
    }
}

/// Who holds the lock of the state at `at`, read without taking it (`fleet status`).
pub fn holder(at: &S3Location) -> Result<Option<LockInfo>, String> {
    let client = S3Client::connect(at)?;
    S3Locker::new(client)
        .read()
        .map(|held| held.map(|(info, _)| info))
        .map_err(|e| e.to_string())
}

fn lease_end(lease: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::from_std(lease).expect("leases are short")
}

impl Locker for S3Locker {
    fn acquire(&self, command: &str, wait: Duration) -> Result<Acquired, LockError> {
        let mut info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            user: lock::current_user(),
            host: lock::hostname(),
            pid: std::process::id(),
            command: command.to_string(),
            created: chrono::Utc::now(),
            boot_id: None,
            pid_namespace: None,
            start_time: None,
            lease_expires: None,
        };
        let deadline = Instant::now() + wait;
        loop {
            info.lease_expires = Some(lease_end(self.lease));
            let content = serde_json::to_vec_pretty(&info).expect("lock info serializes");
            match self.client.put(LOCK_OBJECT, content, Condition::Absent) {
                Ok(etag) => {
                    return Ok(Acquired {
                        guard: Box::new(LeaseGuard::start(
                            self.client.clone(),
                            info,
                            etag,
                            self.lease,
                        )),
                        broken: None,
                    })
                }
                Err(S3Failure::PreconditionFailed | S3Failure::Conflict) => {}
                Err(e) => return Err(self.io(format!("cannot create the lock: {e}"))),
            }
            // Released between our attempt and our read: try again at once.
            let Some((held, _)) = self.read()? else {
                continue;
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(LockError::Held(held));
            }
            std::thread::sleep(RETRY_EVERY.min(deadline - now));
        }
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        match self.read()? {
            Some((info, etag)) if info.id == id => {
                match self.client.delete(LOCK_OBJECT, Some(&etag)) {
                    Ok(()) => Ok(info),
                    // Renewed or replaced since we read it: not the lock that was named.
                    Err(S3Failure::PreconditionFailed | S3Failure::NotFound) => {
                        Err(LockError::NotHeld(id.to_string()))
                    }
                    Err(e) => Err(self.io(format!("cannot remove the lock: {e}"))),
                }
            }
            _ => Err(LockError::NotHeld(id.to_string())),
        }
    }

    fn why_kept(&self, held: &LockInfo) -> String {
        stale_or_live(held, chrono::Utc::now())
    }

    fn place(&self) -> String {
        format!("lock object: {}", self.url())
    }
}

/// Whether `held`'s lease has passed at `now`, in words.
fn stale_or_live(held: &LockInfo, now: chrono::DateTime<chrono::Utc>) -> String {
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    match held.lease_expires {
        Some(end) if end < now => format!(
            "the lock is stale: its lease expired at {} ({}s ago), so its holder stopped \
             renewing it (killed, or cut off from S3); a lease lock is never broken \
             automatically",
            stamp(end),
            (now - end).num_seconds()
        ),
        Some(end) => format!(
            "its holder renews its lease while it runs (the lease runs until {})",
            stamp(end)
        ),
        None => "it carries no lease, so whether its holder still runs cannot be known".to_string(),
    }
}

/// A held lease lock: a thread renews it until the guard is dropped, which then removes
/// the lock if it is still the one this run wrote.
#[derive(Debug)]
pub struct LeaseGuard {
    info: LockInfo,
    client: S3Client,
    etag: Arc<Mutex<Option<String>>>,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl LeaseGuard {
    fn start(client: S3Client, info: LockInfo, etag: String, lease: Duration) -> LeaseGuard {
        let etag = Arc::new(Mutex::new(Some(etag)));
        let (stop, stopped) = mpsc::channel::<()>();
        let renewer = {
            let client = client.clone();
            let etag = Arc::clone(&etag);
            let mut info = info.clone();
            std::thread::Builder::new()
                .name("state-lease".into())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3)
                    {
                        if !renew(&client, &mut info, &etag, lease) {
                            break;
                        }
                    }
                })
                .expect("the lease thread starts")
        };
        LeaseGuard {
            info,
            client,
            etag,
            stop: Some(stop),
            renewer: Some(renewer),
        }
    }
}

/// Extends the lease; false once the lock is no longer ours (force-unlocked), after
/// saying so. A failed request is tried again at the next tick: the lease has two more.
fn renew(
    client: &S3Client,
    info: &mut LockInfo,
    etag: &Mutex<Option<String>>,
    lease: Duration,
) -> bool {
    let mut etag = etag.lock().unwrap_or_else(|e| e.into_inner());
    let Some(current) = etag.clone() else {
        return false;
    };
    info.lease_expires = Some(lease_end(lease));
    let content = serde_json::to_vec_pretty(&info).expect("lock info serializes");
    match client.put(LOCK_OBJECT, content, Condition::Matches(&current)) {
        Ok(new) => {
            *etag = Some(new);
            true
        }
        Err(S3Failure::PreconditionFailed | S3Failure::NotFound) => {
            eprintln!(
                "warning: the state lock {} was removed by someone else (force-unlock?); \
                 this run no longer holds it. Its writes still fail rather than overwrite \
                 another run's",
                info.id
            );
            *etag = None;
            false
        }
        Err(e) => {
            eprintln!("warning: could not renew the state lock lease: {e}");
            true
        }
    }
}

impl HeldLock for LeaseGuard {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        let etag = self.etag.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(etag) = etag {
            let _ = self.client.delete(LOCK_OBJECT, Some(&etag));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn one_holder_at_a_time_named_to_the_next_and_released_on_drop() {
        let at = testing::bucket("lease-one-holder");
        let a = S3Locker::new(testing::client(&at));
        let b = S3Locker::new(testing::client(&at));
        let held = a.acquire("apply", NOW).unwrap();
        assert_eq!(held.guard.info().command, "apply");
        let err = b.acquire("apply", Duration::from_millis(300)).unwrap_err();
        let LockError::Held(info) = &err else {
            panic!("expected Held, got {err}")
        };
        assert_eq!(info.id, held.guard.info().id);
        assert!(err.to_string().contains("running `apply`"), "{err}");
        assert!(
            b.why_kept(info).contains("renews its lease"),
            "{}",
            b.why_kept(info)
        );
        drop(held);
        let second = b.acquire("plan", NOW).unwrap();
        assert_eq!(second.guard.info().command, "plan");
    }

    #[test]
    fn the_holder_renews_its_lease_while_it_runs() {
        let at = testing::bucket("lease-renewal");
        let a = S3Locker::with_lease(testing::client(&at), Duration::from_millis(900));
        let held = a.acquire("apply", NOW).unwrap();
        let first = a.read().unwrap().unwrap().0.lease_expires.unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let later = a.read().unwrap().unwrap().0;
        assert_eq!(later.id, held.guard.info().id);
        assert!(later.lease_expires.unwrap() > first, "renewed");
        assert!(
            !a.why_kept(&later).contains("stale"),
            "{}",
            a.why_kept(&later)
        );
    }

    #[test]
    fn a_stale_lease_is_reported_and_only_its_id_removes_it() {
        let at = testing::bucket("lease-stale");
        let a = S3Locker::new(testing::client(&at));
        // A holder that died: its lock stays, its lease is not renewed.
        let dead = LockInfo {
            id: "dead-run".to_string(),
            user: "ci".to_string(),
            host: "runner-3".to_string(),
            pid: 4242,
            command: "apply".to_string(),
            created: chrono::Utc::now() - chrono::Duration::minutes(5),
            boot_id: None,
            pid_namespace: None,
            start_time: None,
            lease_expires: Some(chrono::Utc::now() - chrono::Duration::minutes(4)),
        };
        let client = testing::client(&at);
        client
            .put(
                LOCK_OBJECT,
                serde_json::to_vec(&dead).unwrap(),
                Condition::Absent,
            )
            .unwrap();
        let id = dead.id.clone();
        let err = a.acquire("apply", NOW).unwrap_err();
        assert!(matches!(&err, LockError::Held(i) if *i == dead), "{err}");
        assert!(a.why_kept(&dead).contains("stale"), "{}", a.why_kept(&dead));
        assert!(matches!(
            a.force_unlock("not-the-id"),
            Err(LockError::NotHeld(_))
        ));
        assert!(a.read().unwrap().is_some(), "a wrong ID removes nothing");
        assert_eq!(a.force_unlock(&id).unwrap().id, id);
        assert!(a.read().unwrap().is_none());
        a.acquire("apply", NOW).unwrap();
    }

    #[test]
    fn a_guard_leaves_a_lock_it_no_longer_holds() {
        let at = testing::bucket("lease-taken-over");
        let a = S3Locker::new(testing::client(&at));
        let held = a.acquire("apply", NOW).unwrap();
        a.force_unlock(&held.guard.info().id.clone()).unwrap();
        let other = a.acquire("apply", NOW).unwrap();
        drop(held);
        assert_eq!(a.read().unwrap().unwrap().0.id, other.guard.info().id);
    }
}
