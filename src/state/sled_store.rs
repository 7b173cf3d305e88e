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
//!
//! The state directory is 0700 and everything in it 0600 (the database is opened under a
//! private umask). A marker file `in-use` exists while the state is open: finding it at
//! open means the last run did not close the state (it was killed or crashed), and the
//! caller should run [`SledState::check`] before trusting it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::check::{consistency, CheckReport, StateExport, EXPORT_FORMAT, EXPORT_VERSION};
use super::{
    holds_secrets, moved_records, redacted, redacted_outputs, HistoryEntry, OutputState,
    ResourceState, StateError, StateHistory, StateMeta, StateRead, StateResult, StateSnapshot,
    StateWrite,
};

const STATE_TREE: &str = "state";
const META_KEY: &[u8] = b"meta";
const RESOURCE_PREFIX: &[u8] = b"r/";
const OUTPUT_PREFIX: &[u8] = b"o/";
const HISTORY_TREE: &str = "history";
/// Present while a process has the state open; left behind by an unclean stop.
const IN_USE_MARKER: &str = "in-use";

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
    /// The in-use marker was already there at open: the last run did not close the state.
    unclean: bool,
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
        crate::owner_only::create_dir(dir)
            .map_err(|e| storage(dir, format!("cannot create: {e}")))?;
        let db = crate::owner_only::with_private_umask(|| {
            sled::Config::new().path(dir.join("db")).open()
        })
        .map_err(|e| open_error(dir, e))?;
        crate::owner_only::narrow_tree(&dir.join("db"))
            .map_err(|e| storage(dir, format!("cannot restrict access to the database: {e}")))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| storage(dir, e.to_string()));
        let state_tree = tree(STATE_TREE)?;
        let history = tree(HISTORY_TREE)?;
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
        // Holding the database's file lock, this process alone may touch the marker.
        let marker = dir.join(IN_USE_MARKER);
        let unclean = marker.exists();
        crate::owner_only::write_file(&marker, std::process::id().to_string().as_bytes())
            .map_err(|e| storage(dir, format!("cannot write {}: {e}", marker.display())))?;
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
            unclean,
        })
    }

    /// The last process that opened this state did not close it: it was killed or
    /// crashed, and [`SledState::check`] should vouch for the state before it is used.
    pub fn opened_after_unclean_stop(&self) -> bool {
        self.unclean
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

impl SledState {
    /// Reads every record and checks that each decodes and that they agree with one
    /// another (see [`consistency`]). Never fails: what cannot be read is a problem.
    pub fn check(&self) -> CheckReport {
        let _quiet = self.quiet();
        let mut report = CheckReport::default();
        let decoded = self.decode_all(&mut report.problems);
        report.resources = decoded.resources.len();
        report.outputs = decoded.outputs.len();
        report.history = decoded.history.len();
        if let Some(meta) = &decoded.meta {
            report.problems.extend(consistency(
                meta,
                &decoded.resources,
                decoded.history.iter().map(|(k, h)| (*k, h)),
            ));
        }
        report.meta = decoded.meta;
        report
    }

    /// The whole state as an export, with what could not be decoded left out and named.
    /// Fails only when the state's identity (the meta record) cannot be read.
    pub fn export(&self) -> StateResult<(StateExport, Vec<String>)> {
        let _quiet = self.quiet();
        let mut skipped = Vec::new();
        let decoded = self.decode_all(&mut skipped);
        let meta = decoded.meta.ok_or_else(|| {
            self.err(format!(
                "the state's identity (meta record) cannot be read: {}",
                skipped.join("; ")
            ))
        })?;
        Ok((
            StateExport {
                format: EXPORT_FORMAT.to_string(),
                version: EXPORT_VERSION,
                meta,
                resources: decoded.resources,
                outputs: decoded.outputs,
                history: decoded.history.into_iter().rev().map(|(_, h)| h).collect(),
            },
            skipped,
        ))
    }

    /// Puts an export into this state, which must be empty (never written: serial 0, no
    /// history). The state takes the export's identity, serial and history, in one
    /// durable batch per tree.
    pub fn import(&self, export: &StateExport) -> StateResult<()> {
        let mut q = self.quiet();
        let current = self.meta()?;
        if current.serial != 0 || !self.history.is_empty() || !q.pending.is_empty() {
            return Err(StateError::Invalid(format!(
                "state at {} is not empty (serial {}); import only into a new state directory",
                self.dir.display(),
                current.serial
            )));
        }
        let mut state = sled::Batch::default();
        state.insert(META_KEY, self.encode(&export.meta)?);
        for r in export.resources.values() {
            state.insert(
                resource_key(&r.address),
                self.encode(&redacted(r, &export.meta.lineage))?,
            );
        }
        for (name, o) in &export.outputs {
            state.insert(output_key(name), self.encode(o)?);
        }
        let mut history = sled::Batch::default();
        for h in &export.history {
            history.insert(h.serial.to_be_bytes().to_vec(), self.encode(h)?);
        }
        // History first: a crash in between leaves history on an empty state, which
        // `state check` reports, rather than a state whose history is silently missing.
        self.history
            .apply_batch(history)
            .and_then(|_| self.state.apply_batch(state))
            .and_then(|_| self.db.flush())
            .map_err(|e| self.err(e))?;
        q.meta = export.meta.clone();
        q.taken = export.meta.serial;
        q.durable = export.meta.serial;
        Ok(())
    }

    /// Every record decoded; what does not decode becomes a problem naming it.
    fn decode_all(&self, problems: &mut Vec<String>) -> Decoded {
        let mut out = Decoded::default();
        for item in self.state.iter() {
            let (k, v) = match item {
                Ok(kv) => kv,
                Err(e) => {
                    problems.push(format!("state records cannot be read: {e}"));
                    break;
                }
            };
            let name = |prefix: &[u8]| String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if k.as_ref() == META_KEY {
                match serde_json::from_slice::<StateMeta>(&v) {
                    Ok(m) => out.meta = Some(m),
                    Err(e) => problems.push(format!("meta record does not decode: {e}")),
                }
            } else if k.starts_with(RESOURCE_PREFIX) {
                let address = name(RESOURCE_PREFIX);
                match serde_json::from_slice::<ResourceState>(&v) {
                    Ok(r) => {
                        out.resources.insert(address, r);
                    }
                    Err(e) => problems.push(format!("resource {address} does not decode: {e}")),
                }
            } else if k.starts_with(OUTPUT_PREFIX) {
                let output = name(OUTPUT_PREFIX);
                match serde_json::from_slice::<OutputState>(&v) {
                    Ok(o) => {
                        out.outputs.insert(output, o);
                    }
                    Err(e) => problems.push(format!("output {output} does not decode: {e}")),
                }
            } else {
                problems.push(format!(
                    "unknown record {:?} in the state tree",
                    String::from_utf8_lossy(&k)
                ));
            }
        }
        if out.meta.is_none() && !problems.iter().any(|p| p.starts_with("meta")) {
            problems.push("meta record is missing".to_string());
        }
        for item in self.history.iter() {
            let (k, v) = match item {
                Ok(kv) => kv,
                Err(e) => {
                    problems.push(format!("history cannot be read: {e}"));
                    break;
                }
            };
            let Ok(serial) = <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes) else {
                problems.push(format!("history key {:?} is not a serial", k.as_ref()));
                continue;
            };
            match serde_json::from_slice::<HistoryEntry>(&v) {
                Ok(h) => out.history.push((serial, h)),
                Err(e) => problems.push(format!("history entry {serial} does not decode: {e}")),
            }
        }
        out
    }
}

impl Drop for SledState {
    /// A clean close: everything flushed, then the in-use marker removed. If the flush
    /// fails the marker stays, and the next open checks the state.
    fn drop(&mut self) {
        if self.db.flush().is_ok() {
            let _ = std::fs::remove_file(self.dir.join(IN_USE_MARKER));
        }
    }
}

/// Every record of a state, decoded; history oldest first, with the serial it is filed
/// under.
#[derive(Default)]
struct Decoded {
    meta: Option<StateMeta>,
    resources: BTreeMap<String, ResourceState>,
    outputs: BTreeMap<String, OutputState>,
    history: Vec<(u64, HistoryEntry)>,
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

    #[test]
    fn directory_and_database_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/mesh/default");
        let s = SledState::open(&state, "mesh", "default").unwrap();
        s.put_resource(&resource("a", &[])).unwrap();
        s.record("apply", 20).unwrap();
        drop(s);
        drop(SledState::open(&state, "mesh", "default").unwrap());
        let mut seen = 0;
        let mut stack = vec![state.clone()];
        while let Some(p) = stack.pop() {
            let meta = std::fs::metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{}", p.display());
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "{}", p.display());
                seen += 1;
            }
        }
        assert!(seen >= 2, "the database files were checked");
    }

    #[test]
    fn an_unclean_stop_is_noticed_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join(IN_USE_MARKER);
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        assert!(!s.opened_after_unclean_stop());
        assert!(marker.exists(), "marked while open");
        drop(s);
        assert!(!marker.exists(), "a clean close removes the marker");
        // What a killed run leaves behind (the real kill is in
        // acknowledged_writes_survive_a_killed_process).
        std::fs::write(&marker, "12345").unwrap();
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        assert!(s.opened_after_unclean_stop());
        drop(s);
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        assert!(!s.opened_after_unclean_stop());
    }

    #[test]
    fn check_passes_a_sound_state_and_names_each_bad_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        s.put_resource(&resource("a", &[])).unwrap();
        s.put_resource(&resource("b", &["a"])).unwrap();
        s.record("apply", 20).unwrap();
        let report = s.check();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.resources, report.history), (2, 1));
        assert!(report.render(dir.path()).contains("No problems found."));

        // Damage: a record that does not decode, one under the wrong address, history
        // that claims the future.
        s.state
            .insert(resource_key("broken"), b"{not json".as_slice())
            .unwrap();
        let mut misplaced = resource("elsewhere", &[]);
        misplaced.address = "elsewhere".into();
        s.state
            .insert(
                resource_key("here"),
                serde_json::to_vec(&misplaced).unwrap(),
            )
            .unwrap();
        let mut future = s.history().unwrap().remove(0);
        future.serial = 99;
        future.snapshot.meta.serial = 99;
        s.history
            .insert(99u64.to_be_bytes(), serde_json::to_vec(&future).unwrap())
            .unwrap();
        let report = s.check();
        let text = report.render(dir.path());
        assert!(!report.is_clean());
        assert!(text.contains("resource broken does not decode"), "{text}");
        assert!(
            text.contains("resource here: the record names another address"),
            "{text}"
        );
        assert!(
            text.contains("history entry 99: is newer than the state"),
            "{text}"
        );
    }

    #[test]
    fn export_and_import_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledState::open(&dir.path().join("a"), "mesh", "default").unwrap();
        s.put_resource(&resource("a", &[])).unwrap();
        s.put_resource(&resource("b", &["a"])).unwrap();
        s.record("apply", 20).unwrap();
        let mut outs = BTreeMap::new();
        outs.insert(
            "x".to_string(),
            OutputState {
                value: "1".into(),
                sensitive: false,
                description: None,
            },
        );
        s.set_outputs(&outs).unwrap();
        s.record("apply", 20).unwrap();
        let (export, skipped) = s.export().unwrap();
        assert!(skipped.is_empty());
        assert_eq!(export.history.len(), 2);
        assert_eq!(export.history[0].serial, 3, "newest first");
        let bytes = serde_json::to_vec_pretty(&export).unwrap();

        let copy = SledState::open(&dir.path().join("b"), "mesh", "default").unwrap();
        copy.import(&StateExport::from_bytes(&bytes).unwrap())
            .unwrap();
        assert_eq!(copy.snapshot().unwrap(), s.snapshot().unwrap());
        assert_eq!(copy.history().unwrap(), s.history().unwrap());
        assert!(copy.check().is_clean());
        assert_eq!(copy.export().unwrap().0, export);
        // Writes continue from the imported serial, and survive a reopen.
        assert_eq!(copy.put_resource(&resource("c", &[])).unwrap(), 4);
        drop(copy);
        let reopened = SledState::open(&dir.path().join("b"), "mesh", "default").unwrap();
        assert_eq!(reopened.meta().unwrap().lineage, export.meta.lineage);
        assert_eq!(reopened.meta().unwrap().serial, 4);
        // Only into an empty state.
        let err = reopened.import(&export).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }

    #[test]
    fn export_leaves_out_what_does_not_decode_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledState::open(dir.path(), "mesh", "default").unwrap();
        s.put_resource(&resource("a", &[])).unwrap();
        s.state
            .insert(resource_key("bad"), b"\xff".as_slice())
            .unwrap();
        let (export, skipped) = s.export().unwrap();
        assert_eq!(export.resources.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("resource bad"), "{skipped:?}");
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
        assert!(s.opened_after_unclean_stop());
        assert!(s.check().is_clean(), "{:?}", s.check());
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
