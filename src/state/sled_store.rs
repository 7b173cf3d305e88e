//! Persistent state in an embedded sled database.
//!
//! Trees: `meta` (one JSON [`StateMeta`] under `meta`), `resources` (address → JSON
//! [`ResourceState`]), `outputs` (name → JSON [`OutputState`]) and `history` (big-endian
//! serial → JSON [`HistoryEntry`], so key order is serial order).
//!
//! Each write is one sled transaction over `meta` and the trees it changes, so a serial
//! and its change land together, followed by a flush, so it is on disk when the call
//! returns. Writers are serialized by a mutex: serials stay unique and increasing however
//! many tasks share the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{
    moved_records, redacted, HistoryEntry, OutputState, ResourceState, StateError, StateHistory,
    StateMeta, StateRead, StateResult, StateSnapshot, StateWrite,
};

const META_KEY: &[u8] = b"meta";

/// Persistent store at one directory (one stack and workspace).
pub struct SledState {
    dir: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    resources: sled::Tree,
    outputs: sled::Tree,
    history: sled::Tree,
    /// Held by every write and by whole-state reads.
    write: Mutex<()>,
    /// Highest serial whose transaction has completed.
    committed: AtomicU64,
    /// Highest serial known durable; its mutex makes one writer flush for all waiting.
    flushed: Mutex<u64>,
}

impl std::fmt::Debug for SledState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledState").field("dir", &self.dir).finish()
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StateError>>;

impl SledState {
    /// Opens (creating if needed) the state in `dir`, whose database lives in `dir/db`.
    /// A new state gets a fresh lineage and serial 0. Fails if the state belongs to
    /// another stack or workspace, or if another process has it open.
    pub fn open(dir: &Path, stack: &str, workspace: &str) -> StateResult<SledState> {
        SledState::open_as(dir, Some((stack, workspace)))
    }

    /// Opens an existing state whatever its stack and workspace (`--state DIR` alone).
    pub fn open_existing(dir: &Path) -> StateResult<SledState> {
        if !dir.join("db").exists() {
            return Err(StateError::Invalid(format!(
                "no state at {}: apply a stack there first, or check the --state path",
                dir.display()
            )));
        }
        SledState::open_as(dir, None)
    }

    /// The stack and workspace this state belongs to.
    pub fn identity(&self) -> StateResult<(String, String)> {
        let meta = self.meta()?;
        Ok((meta.stack, meta.workspace))
    }

    fn open_as(dir: &Path, expected: Option<(&str, &str)>) -> StateResult<SledState> {
        std::fs::create_dir_all(dir).map_err(|e| storage(dir, format!("cannot create: {e}")))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .open()
            .map_err(|e| open_error(dir, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| storage(dir, e.to_string()));
        let state = SledState {
            dir: dir.to_path_buf(),
            meta: tree("meta")?,
            resources: tree("resources")?,
            outputs: tree("outputs")?,
            history: tree("history")?,
            db,
            write: Mutex::new(()),
            committed: AtomicU64::new(0),
            flushed: Mutex::new(0),
        };
        match state.meta.get(META_KEY).map_err(|e| state.err(e))? {
            None => {
                let Some((stack, workspace)) = expected else {
                    return Err(StateError::Invalid(format!(
                        "no state at {}",
                        dir.display()
                    )));
                };
                let meta = StateMeta {
                    lineage: uuid::Uuid::new_v4().to_string(),
                    serial: 0,
                    stack: stack.to_string(),
                    workspace: workspace.to_string(),
                };
                state
                    .meta
                    .insert(META_KEY, state.encode(&meta)?)
                    .map_err(|e| state.err(e))?;
                state.flush()?;
            }
            Some(bytes) => {
                let meta: StateMeta = state.decode("meta", &bytes)?;
                let Some((stack, workspace)) = expected else {
                    return Ok(state);
                };
                if meta.stack != stack {
                    return Err(StateError::Invalid(format!(
                        "state at {} belongs to stack {}, not {stack}; use --state or --workspace",
                        dir.display(),
                        meta.stack
                    )));
                }
                if meta.workspace != workspace {
                    return Err(StateError::Invalid(format!(
                        "state at {} belongs to workspace {}, not {workspace}; use --state or --workspace",
                        dir.display(),
                        meta.workspace
                    )));
                }
            }
        }
        Ok(state)
    }

    /// The state directory (the database is in `db` under it, the lock beside it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        storage(&self.dir, e.to_string())
    }

    fn encode<T: Serialize>(&self, v: &T) -> StateResult<Vec<u8>> {
        serde_json::to_vec(v).map_err(|e| self.err(format!("cannot encode: {e}")))
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> StateResult<T> {
        serde_json::from_slice(bytes).map_err(|e| self.err(format!("corrupt record {what}: {e}")))
    }

    fn flush(&self) -> StateResult<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    fn read_tree<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
    ) -> StateResult<BTreeMap<String, T>> {
        let mut out = BTreeMap::new();
        for item in tree.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let value = self.decode(&key, &v)?;
            out.insert(key, value);
        }
        Ok(out)
    }

    /// One atomic, durable write: bumps the serial in `meta` and applies `change` to the
    /// resources and outputs trees in the same transaction. Callers hold `self.write`.
    fn commit(
        &self,
        change: impl Fn(&TransactionalTree, &TransactionalTree) -> TxResult<()>,
    ) -> StateResult<u64> {
        let serial = (&self.meta, &self.resources, &self.outputs)
            .transaction(|(meta, resources, outputs)| {
                let bytes = meta
                    .get(META_KEY)?
                    .ok_or_else(|| abort(self.err("meta record is missing")))?;
                let mut m: StateMeta = self.decode("meta", &bytes).map_err(abort)?;
                m.serial += 1;
                meta.insert(META_KEY, self.encode(&m).map_err(abort)?)?;
                change(resources, outputs)?;
                Ok(m.serial)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => self.err(e),
            })?;
        Ok(serial)
    }

    /// Makes a committed write durable, with group commit: writers that finish their
    /// transaction while another writer flushes wait for that flush's lock, then find
    /// their serial already durable, so N concurrent writes cost about one flush.
    fn durable(&self, serial: StateResult<u64>) -> StateResult<u64> {
        let serial = serial?;
        self.committed.fetch_max(serial, Ordering::SeqCst);
        let mut flushed = self.flushed.lock().unwrap_or_else(|e| e.into_inner());
        if *flushed >= serial {
            return Ok(serial);
        }
        // Every serial up to `target` has completed its transaction: one flush covers all.
        let target = self.committed.load(Ordering::SeqCst);
        self.flush()?;
        *flushed = target;
        Ok(serial)
    }

    fn snapshot_locked(&self, _held: &MutexGuard<'_, ()>) -> StateResult<StateSnapshot> {
        Ok(StateSnapshot {
            meta: self.meta()?,
            resources: self.resources()?,
            outputs: self.outputs()?,
        })
    }
}

fn abort(e: StateError) -> ConflictableTransactionError<StateError> {
    ConflictableTransactionError::Abort(e)
}

fn storage(dir: &Path, message: String) -> StateError {
    StateError::Storage {
        path: dir.to_path_buf(),
        message,
    }
}

/// Sled holds an exclusive OS lock on its files; a second opener gets an I/O error
/// saying so, which users should read as "someone else is running".
fn open_error(dir: &Path, e: sled::Error) -> StateError {
    let text = e.to_string();
    if text.contains("could not acquire lock") {
        storage(
            dir,
            "state database is open in another process (another trustplane run on this state?)"
                .to_string(),
        )
    } else {
        storage(dir, format!("cannot open state database: {text}"))
    }
}

impl StateRead for SledState {
    fn meta(&self) -> StateResult<StateMeta> {
        let bytes = self
            .meta
            .get(META_KEY)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.err("meta record is missing"))?;
        self.decode("meta", &bytes)
    }

    fn resources(&self) -> StateResult<BTreeMap<String, ResourceState>> {
        self.read_tree(&self.resources)
    }

    fn resource(&self, address: &str) -> StateResult<Option<ResourceState>> {
        match self.resources.get(address).map_err(|e| self.err(e))? {
            Some(bytes) => Ok(Some(self.decode(address, &bytes)?)),
            None => Ok(None),
        }
    }

    fn outputs(&self) -> StateResult<BTreeMap<String, OutputState>> {
        self.read_tree(&self.outputs)
    }

    /// Consistent across trees: no write lands between reading meta and resources.
    fn snapshot(&self) -> StateResult<StateSnapshot> {
        let held = self.lock();
        self.snapshot_locked(&held)
    }
}

impl StateWrite for SledState {
    fn put_resource(&self, resource: &ResourceState) -> StateResult<u64> {
        let bytes = self.encode(&redacted(resource))?;
        let serial = {
            let _held = self.lock();
            self.commit(|resources, _| {
                resources.insert(resource.address.as_bytes(), bytes.as_slice())?;
                Ok(())
            })
        };
        self.durable(serial)
    }

    fn remove_resource(&self, address: &str) -> StateResult<u64> {
        let serial = {
            let _held = self.lock();
            if !self
                .resources
                .contains_key(address)
                .map_err(|e| self.err(e))?
            {
                return Err(StateError::NotFound(address.to_string()));
            }
            self.commit(|resources, _| {
                resources.remove(address.as_bytes())?;
                Ok(())
            })
        };
        self.durable(serial)
    }

    fn set_outputs(&self, outputs: &BTreeMap<String, OutputState>) -> StateResult<u64> {
        let encoded = outputs
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.encode(v)?)))
            .collect::<StateResult<Vec<_>>>()?;
        let serial = {
            let _held = self.lock();
            // Transactional trees cannot iterate; the old keys are stable while we hold the lock.
            let old: Vec<sled::IVec> = self
                .outputs
                .iter()
                .keys()
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            self.commit(|_, tree| {
                for k in &old {
                    tree.remove(k)?;
                }
                for (k, v) in &encoded {
                    tree.insert(k.as_bytes(), v.as_slice())?;
                }
                Ok(())
            })
        };
        self.durable(serial)
    }

    fn move_resource(&self, from: &str, to: &str) -> StateResult<u64> {
        let serial = {
            let _held = self.lock();
            let changed = moved_records(&self.resources()?, from, to)?
                .into_iter()
                .map(|r| Ok((r.address.clone(), self.encode(&r)?)))
                .collect::<StateResult<Vec<_>>>()?;
            self.commit(|resources, _| {
                resources.remove(from.as_bytes())?;
                for (k, v) in &changed {
                    resources.insert(k.as_bytes(), v.as_slice())?;
                }
                Ok(())
            })
        };
        self.durable(serial)
    }
}

impl StateHistory for SledState {
    fn record(&self, command: &str, keep: usize) -> StateResult<()> {
        let held = self.lock();
        let snapshot = self.snapshot_locked(&held)?;
        let key = snapshot.meta.serial.to_be_bytes();
        // One entry per serial: the command that produced a state keeps the credit.
        if !self.history.contains_key(key).map_err(|e| self.err(e))? {
            let entry = HistoryEntry {
                serial: snapshot.meta.serial,
                time: chrono::Utc::now(),
                command: command.to_string(),
                snapshot,
            };
            self.history
                .insert(key, self.encode(&entry)?)
                .map_err(|e| self.err(e))?;
        }
        let excess = self.history.len().saturating_sub(keep);
        for k in self.history.iter().keys().take(excess) {
            self.history
                .remove(k.map_err(|e| self.err(e))?)
                .map_err(|e| self.err(e))?;
        }
        self.flush()
    }

    fn history(&self) -> StateResult<Vec<HistoryEntry>> {
        self.history
            .iter()
            .values()
            .rev()
            .map(|v| self.decode("history", &v.map_err(|e| self.err(e))?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::contract_tests::{self, resource};
    use crate::state::Store;
    use std::sync::Arc;

    #[test]
    fn sled_store_meets_the_store_contract() {
        let mut dirs = Vec::new();
        contract_tests::run_all(|| {
            let dir = tempfile::tempdir().unwrap();
            let state = SledState::open(&dir.path().join("s"), "mesh", "default").unwrap();
            dirs.push(dir);
            state
        });
    }

    #[test]
    fn data_lineage_and_history_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (lineage, res) = {
            let s = SledState::open(dir.path(), "mesh", "default").unwrap();
            let r = resource("ca", &[]);
            s.put_resource(&r).unwrap();
            let mut outs = BTreeMap::new();
            outs.insert(
                "arn".to_string(),
                OutputState {
                    value: "arn:x".into(),
                    sensitive: false,
                    description: Some("the CA".into()),
                },
            );
            s.set_outputs(&outs).unwrap();
            s.record("apply", 20).unwrap();
            (s.meta().unwrap().lineage, r)
        };
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        let meta = s.meta().unwrap();
        assert_eq!(meta.lineage, lineage);
        assert_eq!(meta.serial, 2);
        assert_eq!(s.resource("ca").unwrap(), Some(res));
        assert_eq!(s.outputs().unwrap()["arn"].value, "arn:x".into());
        let h = s.history().unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].serial, h[0].command.as_str()), (2, "apply"));
        // Writes continue from the stored serial.
        assert_eq!(s.put_resource(&resource("b", &[])).unwrap(), 3);
    }

    #[test]
    fn a_state_of_another_stack_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledState::open(dir.path(), "mesh", "default").unwrap());
        let err = SledState::open(dir.path(), "other", "default").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StateError::Invalid(_)));
        assert!(text.contains("belongs to stack mesh, not other"), "{text}");
        assert!(text.contains("--state"), "{text}");
        let err = SledState::open(dir.path(), "mesh", "prod").unwrap_err();
        assert!(
            err.to_string().contains("workspace default, not prod"),
            "{err}"
        );
    }

    #[test]
    fn a_second_opener_is_told_the_database_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledState::open(dir.path(), "mesh", "default").unwrap();
        // flock locks belong to the open file, so a second open in this process
        // conflicts exactly like another process would.
        let err = SledState::open(dir.path(), "mesh", "default").unwrap_err();
        assert!(matches!(err, StateError::Storage { .. }));
        assert!(err.to_string().contains("open in another process"), "{err}");
    }

    #[test]
    fn concurrent_tokio_tasks_write_safely() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(SledState::open(dir.path(), "mesh", "default").unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let serials = rt.block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let s = Arc::clone(&s);
                    tokio::task::spawn_blocking(move || {
                        s.put_resource(&resource(&format!("r{i}"), &[])).unwrap()
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let mut sorted = serials.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=20).collect::<Vec<u64>>());
        assert_eq!(s.resources().unwrap().len(), 20);
    }

    const CRASH_DIR_ENV: &str = "TRUSTPLANE_TEST_CRASH_DIR";

    /// Child half of `acknowledged_writes_survive_a_killed_process`: writes until killed,
    /// printing each acknowledged write.
    #[test]
    #[ignore]
    fn crash_child_writes_until_killed() {
        let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
            return;
        };
        let s = SledState::open(Path::new(&dir), "mesh", "default").unwrap();
        for i in 0.. {
            let serial = s.put_resource(&resource(&format!("r{i}"), &[])).unwrap();
            println!("ack {serial} r{i}");
        }
    }

    #[test]
    fn acknowledged_writes_survive_a_killed_process() {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state::sled_store::tests::crash_child_writes_until_killed",
            ])
            .args(["--ignored", "--nocapture", "--test-threads=1"])
            .env(CRASH_DIR_ENV, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut acked = Vec::new();
        for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ack ") {
                let (serial, address) = rest.split_once(' ').unwrap();
                acked.push((serial.parse::<u64>().unwrap(), address.to_string()));
                if acked.len() == 50 {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no final flush
        child.wait().unwrap();
        assert_eq!(acked.len(), 50, "child stopped early");

        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        let (last_serial, _) = acked.last().unwrap();
        assert!(s.meta().unwrap().serial >= *last_serial);
        for (_, address) in &acked {
            assert!(s.resource(address).unwrap().is_some(), "{address} lost");
        }
    }

    /// Measures durable writes per second; run with `--ignored --nocapture`.
    #[test]
    #[ignore]
    fn put_resource_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        let n = 500;
        let start = std::time::Instant::now();
        for i in 0..n {
            s.put_resource(&resource(&format!("r{i}"), &[])).unwrap();
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("put_resource with flush: {rate:.0} writes/s");
        assert!(rate > 0.0);
        fn assert_store<S: Store>(_: &S) {}
        assert_store(&s);
    }
}
