//! The rollout record: which members reached which plan, and where a rollout stopped. A
//! small JSON file in the fleet's state directory (or one object under its S3 prefix),
//! rewritten whole and atomically (a temporary file renamed over it; in S3 a conditional
//! write) after every step, so a rerun of `fleet apply` continues where the last one
//! stopped instead of redoing finished members.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ops::locked::Backend;
use crate::ops::{OpsError, OpsResult};
use crate::state::s3::{Condition, S3Client, S3Failure, S3Location};

pub const FILE: &str = "rollout.json";

/// Where a member (or the trust tier) got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its plan was applied and every gate passed.
    Done,
    /// A step failed; `step` and `cause` say which and why.
    Failed,
}

/// The step of a member's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Plan,
    Apply,
    Verify,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Plan => "plan",
            Step::Apply => "apply",
            Step::Verify => "verify",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub status: Status,
    /// The state's serial once the member finished (or stopped).
    #[serde(default)]
    pub serial: Option<u64>,
    /// Digest of the saved plan applied (`fleet apply DIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// When the member's changes were last applied.
    #[serde(default)]
    pub applied_at: Option<DateTime<Utc>>,
    /// The last verify gate: passed or not, and when.
    #[serde(default)]
    pub verify: Option<VerifyResult>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub passed: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub fleet: String,
    /// Keyed by member name; the trust tier under `(trust)`.
    pub members: BTreeMap<String, Entry>,
    /// In S3: the version read or last written, which the next write must replace.
    #[serde(skip)]
    etag: Option<String>,
}

fn client(at: &S3Location) -> OpsResult<S3Client> {
    S3Client::connect(at).map_err(|e| {
        crate::diag::Diagnostic::error("state::s3", e)
            .with_help(crate::provider::aws::errors::CREDENTIALS_HELP)
            .into()
    })
}

impl Record {
    /// The record at `at`, or an empty one for a fleet never rolled out.
    pub fn load(at: &Backend, fleet: &str) -> OpsResult<Record> {
        match at {
            Backend::Local(dir) => Record::load_file(dir, fleet),
            Backend::S3(at) => Record::load_s3(at, fleet),
        }
    }

    /// Writes the record to `at`, so a reader sees the old record or the new one; returns
    /// where it is, for messages.
    pub fn save(&mut self, at: &Backend) -> OpsResult<PathBuf> {
        match at {
            Backend::Local(dir) => self.save_file(dir),
            Backend::S3(at) => self.save_s3(at),
        }
    }

    fn decode(bytes: &[u8], place: &str) -> OpsResult<Record> {
        serde_json::from_slice(bytes).map_err(|e| {
            OpsError::message(format!(
                "the rollout record {place} is not readable: {e}; move it aside to start the rollout afresh"
            ))
        })
    }

    fn empty(fleet: &str) -> Record {
        Record {
            fleet: fleet.to_string(),
            ..Record::default()
        }
    }

    fn load_file(dir: &Path, fleet: &str) -> OpsResult<Record> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Record::decode(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::empty(fleet)),
            Err(e) => Err(OpsError::message(format!(
                "cannot read the rollout record {}: {e}",
                path.display()
            ))),
        }
    }

    /// A temporary file renamed over the record.
    fn save_file(&self, dir: &Path) -> OpsResult<PathBuf> {
        let path = dir.join(FILE);
        let fail = |e: std::io::Error| {
            OpsError::message(format!(
                "cannot write the rollout record {}: {e}",
                path.display()
            ))
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(self).expect("json");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(fail)?;
            f.write_all(&bytes)
                .and_then(|_| f.sync_all())
                .map_err(fail)?;
        }
        std::fs::rename(&tmp, &path).map_err(fail)?;
        Ok(path)
    }

    fn load_s3(at: &S3Location, fleet: &str) -> OpsResult<Record> {
        let place = PathBuf::from(at.url()).join(FILE).display().to_string();
        let fetched = client(at)?.get(FILE).map_err(|e| {
            OpsError::message(format!("cannot read the rollout record {place}: {e}"))
        })?;
        match fetched {
            None => Ok(Record::empty(fleet)),
            Some(f) => {
                let mut record = Record::decode(&f.bytes, &place)?;
                record.etag = Some(f.etag);
                Ok(record)
            }
        }
    }

    /// One object, replaced by compare-and-swap on the version last read or written: a
    /// second rollout of the same fleet writing at the same time fails instead of
    /// overwriting the other's record.
    fn save_s3(&mut self, at: &S3Location) -> OpsResult<PathBuf> {
        let place = PathBuf::from(at.url()).join(FILE);
        let bytes = serde_json::to_vec_pretty(self).expect("json");
        let condition = match &self.etag {
            Some(etag) => Condition::Matches(etag),
            None => Condition::Absent,
        };
        let etag = client(at)?.put(FILE, bytes, condition).map_err(|e| {
            let why = match e {
                S3Failure::PreconditionFailed | S3Failure::Conflict => {
                    "another run wrote it since this one read it (is a second `fleet apply` running?)".to_string()
                }
                other => other.to_string(),
            };
            OpsError::message(format!(
                "cannot write the rollout record {}: {why}",
                place.display()
            ))
        })?;
        self.etag = Some(etag);
        Ok(place)
    }

    /// Whether `member` finished at `serial` (its state unchanged since).
    pub fn done_at(&self, member: &str, serial: u64) -> bool {
        self.members
            .get(member)
            .is_some_and(|e| e.status == Status::Done && e.serial == Some(serial))
    }

    /// Whether `member` finished with the saved plan of digest `plan`.
    pub fn done_with_plan(&self, member: &str, plan: &str) -> bool {
        self.members
            .get(member)
            .is_some_and(|e| e.status == Status::Done && e.plan.as_deref() == Some(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: Status, serial: u64) -> Entry {
        Entry {
            status,
            serial: Some(serial),
            plan: None,
            step: None,
            cause: None,
            applied_at: None,
            verify: None,
            at: Utc::now(),
        }
    }

    #[test]
    fn a_record_round_trips_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let at = Backend::Local(dir.path().to_path_buf());
        let empty = Record::load(&at, "f").unwrap();
        assert!(empty.members.is_empty());
        let mut r = empty;
        r.members.insert("a".into(), entry(Status::Done, 7));
        r.members.insert("b".into(), entry(Status::Failed, 2));
        r.save(&at).unwrap();
        let back = Record::load(&at, "f").unwrap();
        assert_eq!(back, r);
        assert!(back.done_at("a", 7));
        assert!(!back.done_at("a", 8), "the state moved on since");
        assert!(!back.done_at("b", 2), "failed is not done");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn an_unreadable_record_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        assert!(Record::load(&Backend::Local(dir.path().to_path_buf()), "f").is_err());
    }
}
