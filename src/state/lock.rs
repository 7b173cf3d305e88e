//! The state lock: a file `lock.json` beside the database, created atomically (mode 0600),
//! naming its holder (user, host, pid, command, time, and what tells a live holder from a
//! dead one) and an ID. It lives outside the database so a second process can read who
//! holds it.
//!
//! A lock is broken automatically only when its holder is provably gone: taken on this
//! host, since this boot, in this PID namespace, by a process that no longer exists or
//! whose pid now belongs to a process started at another time. Anything else (another
//! host, another boot, a container's PID namespace, a lock without these facts, an
//! unreadable lock file) waits for its holder or for `trustplane state force-unlock`.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::owner_only;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub created: chrono::DateTime<chrono::Utc>,
    /// The kernel's boot ID when the lock was taken: a pid means nothing across boots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The holder's PID namespace (`pid:[4026531836]`): a pid means nothing outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_namespace: Option<String>,
    /// The holder's start time in clock ticks since boot: tells a reused pid apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// Until when the holder vouches that it runs (locks of shared stores, which no pid
    /// can vouch for): it renews this while it runs, so a lease in the past is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<chrono::DateTime<chrono::Utc>>,
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
    /// The file as written: release removes the lock only if it still holds exactly this.
    content: Vec<u8>,
}

impl Drop for LockGuard {
    /// Removes the file only while it is still ours: after a `force-unlock` another run
    /// may hold it now, and its lock must stay.
    fn drop(&mut self) {
        let _ = take_away(&self.path, &self.content);
    }
}

/// What `acquire` found and broke on its way: a lock left by a dead process.
#[derive(Debug, Clone)]
pub struct BrokenLock(pub LockInfo);

const LOCK_FILE: &str = "lock.json";
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Takes the lock in `dir` (created 0700 if missing), retrying until `timeout`.
/// A zero timeout tries once.
pub fn acquire(
    dir: &Path,
    command: &str,
    timeout: Duration,
) -> Result<(LockGuard, Option<BrokenLock>), LockError> {
    owner_only::create_dir(dir).map_err(|e| io_error(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let here = Host::current();
    let info = LockInfo {
        id: uuid::Uuid::new_v4().to_string(),
        user: current_user(),
        host: here.name.clone(),
        pid: std::process::id(),
        command: command.to_string(),
        created: chrono::Utc::now(),
        boot_id: here.boot_id.clone(),
        pid_namespace: here.pid_namespace.clone(),
        start_time: process_start_time(std::process::id()),
        lease_expires: None,
    };
    let content = serde_json::to_vec_pretty(&info).expect("lock info serializes");
    let deadline = Instant::now() + timeout;
    let mut broken = None;
    loop {
        if create(&path, &info.id, &content)? {
            return Ok((
                LockGuard {
                    info,
                    path,
                    content,
                },
                broken,
            ));
        }
        let waiting_on = match read(&path)? {
            Found::Nothing => continue, // released between our attempt and our read
            Found::Lock(held, bytes) => {
                if judge(&held, &here) == Holder::Gone && take_away(&path, &bytes)? {
                    broken = Some(BrokenLock(*held));
                    continue;
                }
                LockError::Held(*held)
            }
            Found::Unreadable => LockError::Io {
                path: path.clone(),
                message: "lock file is unreadable, so its holder cannot be checked; \
                          if no trustplane run is using this state, remove the file"
                    .to_string(),
            },
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(waiting_on);
        }
        std::thread::sleep(RETRY_EVERY.min(deadline - now));
    }
}

/// Who holds the lock in `dir`, if anyone.
pub fn holder(dir: &Path) -> Result<Option<LockInfo>, LockError> {
    let path = dir.join(LOCK_FILE);
    match read(&path)? {
        Found::Nothing => Ok(None),
        Found::Lock(info, _) => Ok(Some(*info)),
        Found::Unreadable => Err(LockError::Io {
            path,
            message: "lock file is unreadable; remove it if no trustplane run is active"
                .to_string(),
        }),
    }
}

/// Removes the lock with this ID, whoever holds it (`trustplane state force-unlock ID`).
pub fn force_unlock(dir: &Path, id: &str) -> Result<LockInfo, LockError> {
    let path = dir.join(LOCK_FILE);
    match read(&path)? {
        Found::Lock(info, bytes) if info.id == id => {
            if take_away(&path, &bytes)? {
                Ok(*info)
            } else {
                Err(LockError::NotHeld(id.to_string()))
            }
        }
        _ => Err(LockError::NotHeld(id.to_string())),
    }
}

/// Why a held lock was not broken automatically, in words for the error message.
pub fn why_kept(held: &LockInfo) -> String {
    let here = Host::current();
    match judge(held, &here) {
        Holder::Running => format!("its process (pid {}) is still running", held.pid),
        Holder::Gone => "its holder just exited".to_string(),
        Holder::Unknown(why) => {
            format!("{why}, so whether its holder still runs cannot be checked from here")
        }
    }
}

enum Found {
    Nothing,
    Lock(Box<LockInfo>, Vec<u8>),
    Unreadable,
}

fn parse(bytes: &[u8]) -> Option<LockInfo> {
    serde_json::from_slice(bytes).ok()
}

fn read(path: &Path) -> Result<Found, LockError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(io_error(path, e)),
    };
    Ok(match parse(&bytes) {
        Some(info) => Found::Lock(Box::new(info), bytes),
        None => Found::Unreadable,
    })
}

/// Creates the lock file with its full content in one step: written to a private file,
/// then hard-linked into place, which fails if the lock exists. Readers never see a
/// half-written lock. Falls back to `create_new` where hard links are unsupported.
fn create(path: &Path, id: &str, content: &[u8]) -> Result<bool, LockError> {
    let tmp = path.with_extension(format!("{id}.tmp"));
    write_synced(&tmp, content).map_err(|e| io_error(&tmp, e))?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(_) => match write_synced(path, content) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_error(path, e)),
        },
    }
}

/// A new 0600 file holding `content`, flushed.
fn write_synced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = owner_only::create_new(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Removes the lock file if it still holds `expected`. The file is first renamed to a
/// private name, so two runs breaking the same stale lock cannot remove each other's new
/// lock; if what was renamed turns out to be another lock, it is put back.
fn take_away(path: &Path, expected: &[u8]) -> Result<bool, LockError> {
    let aside = path.with_extension(format!("{}.broken", uuid::Uuid::new_v4()));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error(path, e)),
    }
    let same = fs::read(&aside).is_ok_and(|b| b == expected);
    if !same {
        let _ = fs::hard_link(&aside, path);
    }
    let _ = fs::remove_file(&aside);
    Ok(same)
}

/// What can be known here about a lock's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    /// Provably gone: the lock may be broken.
    Gone,
    Running,
    /// Cannot be checked from here, for this reason.
    Unknown(String),
}

/// Facts about this machine that make a pid meaningful.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    name: String,
    boot_id: Option<String>,
    pid_namespace: Option<String>,
}

impl Host {
    fn current() -> Host {
        Host {
            name: hostname(),
            boot_id: fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            pid_namespace: fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
        }
    }
}

fn judge(held: &LockInfo, here: &Host) -> Holder {
    let same = |theirs: &Option<String>, ours: &Option<String>| {
        theirs.is_some() && ours.is_some() && theirs == ours
    };
    if held.host != here.name {
        return Holder::Unknown(format!("it was taken on another host ({})", held.host));
    }
    if !same(&held.boot_id, &here.boot_id) {
        return Holder::Unknown(if held.boot_id.is_none() {
            "it does not record the boot it was taken in".to_string()
        } else {
            "it was taken before this machine last booted".to_string()
        });
    }
    if !same(&held.pid_namespace, &here.pid_namespace) {
        return Holder::Unknown(
            "it was taken in another PID namespace (another container?)".to_string(),
        );
    }
    if !process_exists(held.pid) {
        return Holder::Gone;
    }
    match (held.start_time, process_start_time(held.pid)) {
        // The pid is alive but belongs to a process started at another time: reused.
        (Some(theirs), Some(now)) if theirs != now => Holder::Gone,
        (Some(_), Some(_)) => Holder::Running,
        _ => Holder::Unknown(format!(
            "pid {} runs, and its start time cannot be compared",
            held.pid
        )),
    }
}

fn process_exists(pid: u32) -> bool {
    // 0 and negative pids address process groups; such a lock is not ours to judge.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to someone else.
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks since boot.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces and ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 on; starttime is field 22.
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

pub(crate) fn current_user() -> String {
    if let Ok(user) = std::env::var("USER") {
        if !user.is_empty() {
            return user;
        }
    }
    passwd_name().unwrap_or_else(|| "unknown".to_string())
}

fn passwd_name() -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into `pwd` and `buf`, whose sizes we pass.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn io_error(path: &Path, e: std::io::Error) -> LockError {
    LockError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    const NOW: Duration = Duration::ZERO;

    fn write_lock(dir: &Path, info: &LockInfo) {
        fs::write(dir.join(LOCK_FILE), serde_json::to_vec(info).unwrap()).unwrap();
    }

    /// A lock as another process on this host (same boot, same namespace) would write it.
    fn foreign(pid: u32, host: &str) -> LockInfo {
        let here = Host::current();
        LockInfo {
            id: "other-id".to_string(),
            user: "alice".to_string(),
            host: host.to_string(),
            pid,
            command: "apply".to_string(),
            created: chrono::Utc::now(),
            boot_id: here.boot_id,
            pid_namespace: here.pid_namespace,
            start_time: process_start_time(pid),
            lease_expires: None,
        }
    }

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("30")
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }

    #[test]
    fn acquire_writes_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/mesh/default");
        let (guard, broken) = acquire(&state, "apply", NOW).unwrap();
        assert!(broken.is_none());
        let held = holder(&state).unwrap().unwrap();
        assert_eq!(held, guard.info);
        assert_eq!(held.pid, std::process::id());
        assert_eq!(held.command, "apply");
        assert_eq!(held.host, hostname());
        assert!(!held.user.is_empty());
        drop(guard);
        assert_eq!(holder(&state).unwrap(), None);
        // Only the lock file is left behind, no temporaries.
        assert_eq!(fs::read_dir(&state).unwrap().count(), 0);
    }

    #[test]
    fn a_held_lock_times_out_naming_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let (guard, _) = acquire(dir.path(), "apply", NOW).unwrap();
        let start = Instant::now();
        let err = acquire(dir.path(), "plan", Duration::from_millis(250)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(250));
        let LockError::Held(info) = &err else {
            panic!("expected Held, got {err}")
        };
        assert_eq!(info.id, guard.info.id);
        let text = err.to_string();
        assert!(text.contains(&guard.info.id), "{text}");
        assert!(text.contains("running `apply`"), "{text}");
        // A zero timeout tries once and returns at once.
        let start = Instant::now();
        assert!(matches!(
            acquire(dir.path(), "plan", NOW),
            Err(LockError::Held(_))
        ));
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_waiter_gets_the_lock_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let (guard, _) = acquire(dir.path(), "apply", NOW).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(guard);
        });
        let (second, broken) = acquire(dir.path(), "plan", Duration::from_secs(5)).unwrap();
        assert!(broken.is_none());
        assert_eq!(holder(dir.path()).unwrap().unwrap().id, second.info.id);
        releaser.join().unwrap();
    }

    #[test]
    fn a_dead_local_holder_is_broken_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = foreign(dead, &hostname());
        write_lock(dir.path(), &stale);
        let (guard, broken) = acquire(dir.path(), "apply", NOW).unwrap();
        assert_eq!(broken.map(|b| b.0), Some(stale));
        assert_eq!(holder(dir.path()).unwrap().unwrap().id, guard.info.id);
    }

    #[test]
    fn a_live_holder_or_one_on_another_host_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = sleeper();
        let live = foreign(child.id(), &hostname());
        assert!(live.start_time.is_some());
        write_lock(dir.path(), &live);
        let err = acquire(dir.path(), "apply", Duration::from_millis(200)).unwrap_err();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(matches!(err, LockError::Held(ref i) if *i == live), "{err}");

        // The same dead pid on another host cannot be checked from here: wait for it.
        let remote = foreign(child.id(), "some-other-host");
        write_lock(dir.path(), &remote);
        let err = acquire(dir.path(), "apply", NOW).unwrap_err();
        assert!(
            matches!(err, LockError::Held(ref i) if *i == remote),
            "{err}"
        );
        assert!(
            why_kept(&remote).contains("another host"),
            "{}",
            why_kept(&remote)
        );
    }

    #[test]
    fn a_dead_pid_of_another_boot_or_namespace_is_not_judged() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let cases = [
            (
                LockInfo {
                    boot_id: Some("an-earlier-boot".into()),
                    ..foreign(dead, &hostname())
                },
                "last booted",
            ),
            (
                LockInfo {
                    pid_namespace: Some("pid:[1]".into()),
                    ..foreign(dead, &hostname())
                },
                "PID namespace",
            ),
            // Written by a version that did not record the boot.
            (
                LockInfo {
                    boot_id: None,
                    pid_namespace: None,
                    ..foreign(dead, &hostname())
                },
                "does not record the boot",
            ),
        ];
        for (stale, why) in cases {
            write_lock(dir.path(), &stale);
            let err = acquire(dir.path(), "apply", NOW).unwrap_err();
            assert!(
                matches!(err, LockError::Held(ref i) if *i == stale),
                "{err}"
            );
            assert!(why_kept(&stale).contains(why), "{}", why_kept(&stale));
        }
    }

    #[test]
    fn a_reused_pid_is_seen_by_its_start_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = sleeper();
        // The lock names a live pid, but a process that started at another time.
        let mut stale = foreign(child.id(), &hostname());
        stale.start_time = stale.start_time.map(|t| t.wrapping_sub(1));
        write_lock(dir.path(), &stale);
        let result = acquire(dir.path(), "apply", NOW);
        child.kill().unwrap();
        child.wait().unwrap();
        let (_guard, broken) = result.unwrap();
        assert_eq!(broken.map(|b| b.0), Some(stale));
    }

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat =
            "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
        let mine = process_start_time(std::process::id());
        assert!(mine.is_some_and(|t| t > 0));
        assert_eq!(mine, process_start_time(std::process::id()), "stable");
    }

    #[test]
    fn process_exists_sees_live_dead_and_foreign_processes() {
        assert!(process_exists(std::process::id()));
        // pid 1 belongs to another user when not root: EPERM still means alive.
        assert!(process_exists(1));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_exists(pid));
        assert!(process_exists(0), "pid 0 is never judged dead");
    }

    #[test]
    fn force_unlock_needs_the_right_id() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            force_unlock(dir.path(), "nope"),
            Err(LockError::NotHeld(id)) if id == "nope"
        ));
        let (first, _) = acquire(dir.path(), "apply", NOW).unwrap();
        assert!(matches!(
            force_unlock(dir.path(), "nope"),
            Err(LockError::NotHeld(_))
        ));
        let removed = force_unlock(dir.path(), &first.info.id).unwrap();
        assert_eq!(removed, first.info);
        assert_eq!(holder(dir.path()).unwrap(), None);

        // The old guard must not release a lock someone else took since.
        let (second, _) = acquire(dir.path(), "apply", NOW).unwrap();
        drop(first);
        assert_eq!(holder(dir.path()).unwrap().unwrap().id, second.info.id);
    }

    #[test]
    fn an_unreadable_lock_is_never_broken_automatically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        fs::write(&path, b"").unwrap();
        assert!(matches!(holder(dir.path()), Err(LockError::Io { .. })));
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let err = acquire(dir.path(), "apply", Duration::from_millis(150)).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err}");
        assert!(err.to_string().contains("unreadable"), "{err}");
        assert!(path.exists());
    }

    #[test]
    fn a_guard_leaves_a_lock_it_did_not_create() {
        let dir = tempfile::tempdir().unwrap();
        let (guard, _) = acquire(dir.path(), "apply", NOW).unwrap();
        // Someone force-unlocked and another run wrote its own lock, even one that reuses
        // the ID: the guard's release must leave it.
        let mut other = guard.info.clone();
        other.pid += 1;
        write_lock(dir.path(), &other);
        drop(guard);
        assert_eq!(holder(dir.path()).unwrap(), Some(other));
    }

    #[test]
    fn lock_and_directory_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/mesh/default");
        let (_guard, _) = acquire(&state, "apply", NOW).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(LOCK_FILE)), 0o600);
    }

    #[test]
    fn take_away_leaves_a_lock_that_changed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (guard, _) = acquire(dir.path(), "apply", NOW).unwrap();
        let path = dir.path().join(LOCK_FILE);
        assert!(!take_away(&path, b"what a stale lock looked like").unwrap());
        assert_eq!(holder(dir.path()).unwrap().unwrap().id, guard.info.id);
    }

    #[test]
    fn many_threads_racing_get_the_lock_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let dir = dir.path().to_path_buf();
                let inside = inside.clone();
                std::thread::spawn(move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let (guard, _) = acquire(&dir, "apply", Duration::from_secs(10)).unwrap();
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                    std::thread::sleep(Duration::from_millis(20));
                    inside.fetch_sub(1, SeqCst);
                    drop(guard);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(holder(dir.path()).unwrap(), None);
    }
}
