//! `fleet status`: per member, its wave, when it was last applied (time and state serial),
//! its last verify result and who holds its lock; from the rollout record and the lock
//! files only, so it works while a rollout runs.

use chrono::{DateTime, Utc};

use super::member::{self, TRUST};
use super::record::{Record, Status, Step};
use super::{FleetParams, Loaded};
use crate::ops::OpsResult;
use crate::state::lock::{self, LockInfo};

pub struct UnitStatus {
    pub name: String,
    pub wave: Option<usize>,
    pub applied_at: Option<DateTime<Utc>>,
    pub serial: Option<u64>,
    /// `None`: never verified.
    pub verified: Option<bool>,
    /// Where its last rollout stopped: step and cause.
    pub failed: Option<(Step, String)>,
    pub lock: Result<Option<LockInfo>, String>,
}

pub fn status(loaded: &Loaded, params: &FleetParams) -> OpsResult<Vec<UnitStatus>> {
    params.check_members(&loaded.fleet)?;
    let record = Record::load(&params.fleet_dir(&loaded.fleet), &loaded.fleet.name)?;
    let trust_dir = member::trust(loaded, params)
        .state
        .dir
        .expect("a fleet names every state directory");
    let mut rows = vec![(TRUST.to_string(), None, trust_dir)];
    for m in params.selected(&loaded.fleet) {
        let dir = member::member_dir(loaded, params, &m);
        rows.push((m.clone(), loaded.fleet.wave_of(&m), dir));
    }
    Ok(rows
        .into_iter()
        .map(|(name, wave, dir)| {
            let entry = record.members.get(&name);
            UnitStatus {
                wave,
                applied_at: entry.and_then(|e| e.applied_at),
                serial: entry.and_then(|e| e.serial),
                verified: entry.and_then(|e| e.verify.as_ref()).map(|v| v.passed),
                failed: entry
                    .filter(|e| e.status == Status::Failed)
                    .and_then(|e| Some((e.step?, e.cause.clone().unwrap_or_default()))),
                lock: lock::holder(&dir).map_err(|e| e.to_string()),
                name,
            }
        })
        .collect())
}
