//! Persistent state in an embedded sled database.
//!
//! Layout: tree `state` holds the meta record (`meta` → JSON [`StateMeta`]), every
//! resource (`r/<address>` → JSON [`ResourceState`]) and every output (`o/<name>` → JSON
//! [`OutputState`]), so a write and the serial bump that goes with it land in one atomic
//! sled batch. Tree `history` maps a big-endian serial to a JSON [`HistoryEntry`], so key
//! order is serial order.
//!
//! Writes use group commit. sled's flush holds its concurrency-control lock for the whole
//! fsync, and every batch needs that lock exclusively, so writers that each commit and then
//! flush take turns with one another's fsyncs. Instead a writer queues its change and its
//! serial; one leader at a time writes everything queued as one batch and flushes once,
//! while the next changes queue up behind it. A write returns only once the batch holding
//! it is flushed, so it survives a crash. Serials stay unique and increasing, one per write.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    holds_secrets, moved_records, redacted, redacted_outputs, HistoryEntry, OutputState,
    ResourceState, StateError, StateHistory, StateMeta, StateRead, StateResult, StateSnapshot,
    StateWrite,
};

const STATE_TREE: &str = "state";
const META_KEY: &[u8] = b"meta";
const RESOURCE_PREFIX: &[u8] = b"r/";
const OUTPUT_PREFIX: &[u8] = b"o/";

/// A change to the state tree: key → new value, `None` removing the key.
type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The write queue, behind [`SledState::queue`].
struct Queue {
    /// Identity of the state and the last serial handed out (stored plus queued writes).
    meta: StateMeta,
    /// Queued changes that no leader has taken yet.
    pending: Changes,
    /// Changes the current leader is writing: visible to writers' checks until they land.
    in_flight: Changes,
    /// A leader is writing and flushing.
    leading: bool,
    /// Highest serial handed to a leader.
    taken: u64,
    /// Highest serial known durable.
    durable: u64,
    /// Serial ranges whose batch failed, with the error.
    failed: Vec<(u64, u64, String)>,
}

/// Persistent store at one directory (one stack and workspace).
pub struct SledState {
    dir: PathBuf,
    db: sled::Db,
    state: sled::Tree,
    history: sled::Tree,
    queue: Mutex<Queue>,
    /// Signalled when a leader finishes.
    led: Condvar,
}

impl std::fmt::Debug for SledState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledState").field("dir", &self.dir).finish()
    }
}

fn resource_key(address: &str) -> Vec<u8> {
    [RESOURCE_PREFIX, address.as_bytes()].concat()
}

fn output_key(name: &str) -> Vec<u8> {
    [OUTPUT_PREFIX, name.as_bytes()].concat()
}

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
        let state_tree = tree(STATE_TREE)?;
        let history = tree("history")?;
        let decode_meta = |bytes: &[u8]| {
            serde_json::from_slice::<StateMeta>(bytes)
                .map_err(|e| storage(dir, format!("corrupt record meta: {e}")))
        };
        let meta = match state_tree
            .get(META_KEY)
            .map_err(|e| storage(dir, e.to_string()))?
        {
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
                let bytes = serde_json::to_vec(&meta).expect("meta serializes");
                state_tree
                    .insert(META_KEY, bytes)
                    .and_then(|_| db.flush())
                    .map_err(|e| storage(dir, e.to_string()))?;
                meta
            }
            Some(bytes) => {
                let meta = decode_meta(&bytes)?;
                if let Some((stack, workspace)) = expected {
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
                meta
            }
        };
        // The process holds sled's exclusive file lock, so the stored serial cannot move
        // under us: the queue keeps it in memory from here on.
        let serial = meta.serial;
        Ok(SledState {
            dir: dir.to_path_buf(),
            db,
            state: state_tree,
            history,
            queue: Mutex::new(Queue {
                meta,
                pending: Changes::new(),
                in_flight: Changes::new(),
                leading: false,
                taken: serial,
                durable: serial,
                failed: Vec::new(),
            }),
            led: Condvar::new(),
        })
    }

    /// The state directory (the database is in `db` under it, the lock beside it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queue, once no leader is writing: what the tree holds is then a whole number
    /// of writes, and stays so while the guard is held.
    fn quiet(&self) -> MutexGuard<'_, Queue> {
        let mut q = self.lock();
        while q.leading {
            q = self.led.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q
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

    fn read_prefix<T: DeserializeOwned>(&self, prefix: &[u8]) -> StateResult<BTreeMap<String, T>> {
        let mut out = BTreeMap::new();
        for item in self.state.scan_prefix(prefix) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let value = self.decode(&key, &v)?;
            out.insert(key, value);
        }
        Ok(out)
    }

    /// A key's value as the queued writes leave it.
    fn current(&self, q: &Queue, key: &[u8]) -> StateResult<Option<Vec<u8>>> {
        if let Some(v) = q.pending.get(key).or_else(|| q.in_flight.get(key)) {
            return Ok(v.clone());
        }
        Ok(self
            .state
            .get(key)
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    /// Every key under `prefix` as the queued writes leave it.
    fn current_prefix(&self, q: &Queue, prefix: &[u8]) -> StateResult<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut out = BTreeMap::new();
        for item in self.state.scan_prefix(prefix) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.insert(k.to_vec(), v.to_vec());
        }
        for overlay in [&q.in_flight, &q.pending] {
            for (k, v) in overlay.range(prefix.to_vec()..) {
                if !k.starts_with(prefix) {
                    break;
                }
                match v {
                    Some(v) => out.insert(k.clone(), v.clone()),
                    None => out.remove(k),
                };
            }
        }
        Ok(out)
    }

    /// One durable write: `change` checks the state as queued writes leave it and returns
    /// the keys to set or remove; they get the next serial and are queued. Returns the
    /// serial once the batch holding the write is flushed.
    fn write(&self, change: impl FnOnce(&Queue) -> StateResult<Changes>) -> StateResult<u64> {
        let mut q = self.lock();
        let changes = change(&q)?;
        q.meta.serial += 1;
        let mine = q.meta.serial;
        q.pending.extend(changes);
        loop {
            if let Some((_, _, e)) = q.failed.iter().find(|(a, b, _)| (*a..=*b).contains(&mine)) {
                return Err(self.err(e));
            }
            if q.durable >= mine {
                return Ok(mine);
            }
            if q.leading {
                q = self.led.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead: write everything queued so far as one batch, then flush once.
            q.leading = true;
            let (from, to) = (q.taken + 1, q.meta.serial);
            q.taken = to;
            q.in_flight = std::mem::take(&mut q.pending);
            let mut batch = sled::Batch::default();
            for (k, v) in &q.in_flight {
                match v {
                    Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                    None => batch.remove(k.as_slice()),
                }
            }
            let meta = self.encode(&q.meta);
            drop(q);
            let result = meta.and_then(|meta| {
                batch.insert(META_KEY, meta);
                self.state
                    .apply_batch(batch)
                    .and_then(|_| self.db.flush())
                    .map_err(|e| self.err(e))
            });
            q = self.lock();
            q.in_flight.clear();
            q.leading = false;
            match result {
                Ok(_) => q.durable = to,
                Err(e) => q.failed.push((from, to, e.to_string())),
            }
            self.led.notify_all();
        }
    }

    /// The whole state as stored, each record still encoded; `q` keeps writers out.
    fn raw_snapshot(&self, _quiet: &MutexGuard<'_, Queue>) -> StateResult<RawSnapshot> {
        let meta = self
            .state
            .get(META_KEY)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.err("meta record is missing"))?;
        let prefixed = |prefix: &[u8]| -> StateResult<Vec<(sled::IVec, sled::IVec)>> {
            self.state
                .scan_prefix(prefix)
                .map(|item| item.map_err(|e| self.err(e)))
                .collect()
        };
        Ok(RawSnapshot {
            meta,
            resources: prefixed(RESOURCE_PREFIX)?,
            outputs: prefixed(OUTPUT_PREFIX)?,
        })
    }
}

struct RawSnapshot {
    meta: sled::IVec,
    resources: Vec<(sled::IVec, sled::IVec)>,
    outputs: Vec<(sled::IVec, sled::IVec)>,
}

impl RawSnapshot {
    /// The JSON of a [`HistoryEntry`], built from the stored records as they are: they
    /// are already JSON, so a snapshot of a big state costs no decoding.
    fn history_entry(&self, serial: u64, command: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            256 + self
                .resources
                .iter()
                .chain(&self.outputs)
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>(),
        );
        let _ = write!(
            out,
            "{{\"serial\":{serial},\"time\":{},\"command\":{},\"snapshot\":{{\"meta\":",
            json(&chrono::Utc::now()),
            json(command),
        );
        out.extend_from_slice(&self.meta);
        for (name, records, prefix) in [
            ("resources", &self.resources, RESOURCE_PREFIX),
            ("outputs", &self.outputs, OUTPUT_PREFIX),
        ] {
            let _ = write!(out, ",\"{name}\":{{");
            for (i, (k, v)) in records.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let key = String::from_utf8_lossy(&k[prefix.len()..]);
                out.extend_from_slice(json(key.as_ref()).as_bytes());
                out.push(b':');
                out.extend_from_slice(v);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// JSON text of a small value, for assembling a history entry by hand.
fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("serializes")
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
            .state
            .get(META_KEY)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.err("meta record is missing"))?;
        self.decode("meta", &bytes)
    }

    fn resources(&self) -> StateResult<BTreeMap<String, ResourceState>> {
        self.read_prefix(RESOURCE_PREFIX)
    }

    fn resource(&self, address: &str) -> StateResult<Option<ResourceState>> {
        match self
            .state
            .get(resource_key(address))
            .map_err(|e| self.err(e))?
        {
            Some(bytes) => Ok(Some(self.decode(address, &bytes)?)),
            None => Ok(None),
        }
    }

    fn outputs(&self) -> StateResult<BTreeMap<String, OutputState>> {
        self.read_prefix(OUTPUT_PREFIX)
    }

    /// Consistent: no batch lands between reading meta and the records.
    fn snapshot(&self) -> StateResult<StateSnapshot> {
        let _quiet = self.quiet();
        Ok(StateSnapshot {
            meta: self.meta()?,
            resources: self.resources()?,
            outputs: self.outputs()?,
        })
    }
}

impl StateWrite for SledState {
    fn put_resource(&self, resource: &ResourceState) -> StateResult<u64> {
        // Secrets are stored as digests, whether or not the caller already did it.
        let bytes = if holds_secrets(resource) {
            self.encode(&redacted(resource, &self.meta()?.lineage))?
        } else {
            self.encode(resource)?
        };
        self.write(|_| {
            Ok(Changes::from([(
                resource_key(&resource.address),
                Some(bytes),
            )]))
        })
    }

    fn remove_resource(&self, address: &str) -> StateResult<u64> {
        let key = resource_key(address);
        self.write(|q| {
            if self.current(q, &key)?.is_none() {
                return Err(StateError::NotFound(address.to_string()));
            }
            Ok(Changes::from([(key, None)]))
        })
    }

    fn set_outputs(&self, outputs: &BTreeMap<String, OutputState>) -> StateResult<u64> {
        let outputs = redacted_outputs(outputs, &self.meta()?.lineage);
        let encoded = outputs
            .iter()
            .map(|(k, v)| Ok((output_key(k), Some(self.encode(v)?))))
            .collect::<StateResult<Vec<_>>>()?;
        self.write(|q| {
            let mut changes: Changes = self
                .current_prefix(q, OUTPUT_PREFIX)?
                .into_keys()
                .map(|k| (k, None))
                .collect();
            changes.extend(encoded);
            Ok(changes)
        })
    }

    fn move_resource(&self, from: &str, to: &str) -> StateResult<u64> {
        self.write(|q| {
            let mut resources = BTreeMap::new();
            for (k, v) in self.current_prefix(q, RESOURCE_PREFIX)? {
                let address = String::from_utf8_lossy(&k[RESOURCE_PREFIX.len()..]).into_owned();
                let record: ResourceState = self.decode(&address, &v)?;
                resources.insert(address, record);
            }
            let mut changes = Changes::from([(resource_key(from), None)]);
            for r in moved_records(&resources, from, to)? {
                changes.insert(resource_key(&r.address), Some(self.encode(&r)?));
            }
            Ok(changes)
        })
    }
}

impl StateHistory for SledState {
    fn record(&self, command: &str, keep: usize) -> StateResult<()> {
        let quiet = self.quiet();
        let raw = self.raw_snapshot(&quiet)?;
        let serial = self.decode::<StateMeta>("meta", &raw.meta)?.serial;
        let key = serial.to_be_bytes();
        // One entry per serial: the command that produced a state keeps the credit.
        if !self.history.contains_key(key).map_err(|e| self.err(e))? {
            self.history
                .insert(key, raw.history_entry(serial, command))
                .map_err(|e| self.err(e))?;
        }
        let excess = self.history.len().saturating_sub(keep);
        for k in self.history.iter().keys().take(excess) {
            self.history
                .remove(k.map_err(|e| self.err(e))?)
                .map_err(|e| self.err(e))?;
        }
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
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
