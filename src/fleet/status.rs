//! `fleet status`: per member, its wave, when it was last applied (time and state serial),
//! its last verify result and who holds its lock; from the rollout record and the locks
//! only (files, or objects in S3), so it works while a rollout runs.

use chrono::{DateTime, Utc};

use super::member::{self, TRUST};
use super::record::{Record, Status, Step};
use super::{FleetParams, Loaded};
use crate::ops::locked::Backend;
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
    let record = Record::load(&params.fleet_location(&loaded.fleet), &loaded.fleet.name)?;
    let trust_at = member::trust(loaded, params)
        .state
        .backend_of(&loaded.stacks.trust.name);
    let mut rows = vec![(TRUST.to_string(), None, trust_at)];
    for m in params.selected(&loaded.fleet) {
        let at = member::member_location(loaded, params, &m);
        rows.push((m.clone(), loaded.fleet.wave_of(&m), at));
    }
    Ok(rows
        .into_iter()
        .map(|(name, wave, at)| {
            let entry = record.members.get(&name);
            UnitStatus {
                wave,
                applied_at: entry.and_then(|e| e.applied_at),
                serial: entry.and_then(|e| e.serial),
                verified: entry.and_then(|e| e.verify.as_ref()).map(|v| v.passed),
                failed: entry
                    .filter(|e| e.status == Status::Failed)
                    .and_then(|e| Some((e.step?, e.cause.clone().unwrap_or_default()))),
                lock: holder(&at),
                name,
            }
        })
        .collect())
}

/// Who holds the lock of the state at `at`, read without taking it.
fn holder(at: &Backend) -> Result<Option<LockInfo>, String> {
    match at {
        Backend::Local(dir) => lock::holder(dir).map_err(|e| e.to_string()),
        Backend::S3(at) => crate::state::s3::lease::holder(at),
    }
}
