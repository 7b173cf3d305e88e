//! Saved plans (`plan --out FILE`, then `apply FILE`).
//!
//! The file is the plan as JSON plus a `digest` key: `sha256:<hex>` of the plan's compact
//! JSON (keys in file order, without `digest`). A plan whose content no longer matches
//! its digest is refused, so an edited or damaged plan never applies. The digest detects
//! alteration; it is not a signature (anyone who can write the file can recompute it), so
//! apply also trusts the state over the file for what a deletion removes.
//!
//! Saved plans hold variable values, sensitive ones included: the file is written 0600.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Action, Plan, PLAN_FORMAT_VERSION};

const DIGEST_KEY: &str = "digest";

/// Writes `plan` to `path` (0600, replacing any file there).
pub fn write(path: &Path, plan: &Plan) -> std::io::Result<()> {
    let mut doc = match serde_json::to_value(plan).expect("plans serialize") {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a plan serializes as an object"),
    };
    let digest = digest_of(&doc);
    doc.insert(DIGEST_KEY.to_string(), digest.into());
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("plans serialize");
    bytes.push(b'\n');
    crate::owner_only::write_file(path, &bytes)
}

/// True when `bytes` look like a saved plan rather than a stack file: a JSON object with
/// a plan's keys. Whether it is a valid one is for [`from_bytes`] to say.
pub fn looks_like_plan(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
        .is_ok_and(|m| m.contains_key("format_version") && m.contains_key("changes"))
}

/// Reads a saved plan, refusing one that was altered, damaged, or made by another
/// version. Every error says what is wrong and that a new plan is the fix.
pub fn from_bytes(bytes: &[u8]) -> Result<Plan, String> {
    let mut doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| format!("is not a trustplane plan file (invalid JSON: {e})"))?;
    let version = doc.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(PLAN_FORMAT_VERSION)) {
        return Err(match version {
            Some(v) => format!(
                "was saved in plan format {v}, which this trustplane does not read (it reads {PLAN_FORMAT_VERSION})"
            ),
            None => "is not a trustplane plan file (no format_version)".to_string(),
        });
    }
    let recorded = match doc.remove(DIGEST_KEY) {
        Some(serde_json::Value::String(d)) => d,
        Some(_) => return Err("has a digest that is not a string".to_string()),
        None => return Err("carries no digest of its content".to_string()),
    };
    if recorded != digest_of(&doc) {
        return Err(
            "was altered since it was saved: its content does not match its digest".to_string(),
        );
    }
    let plan: Plan = serde_json::from_value(serde_json::Value::Object(doc))
        .map_err(|e| format!("does not decode as a plan: {e}"))?;
    check_shape(&plan)?;
    Ok(plan)
}

/// What apply relies on without checking again: every change that acts on an existing
/// object says which one.
fn check_shape(plan: &Plan) -> Result<(), String> {
    for c in &plan.changes {
        let needs_prior = matches!(
            c.action,
            Action::Update | Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
        );
        if needs_prior && c.prior.is_none() {
            return Err(format!(
                "is damaged: the change to {} ({}) names no existing object",
                c.address,
                c.action.verb()
            ));
        }
    }
    Ok(())
}

fn digest_of(doc: &serde_json::Map<String, serde_json::Value>) -> String {
    let compact = serde_json::to_vec(doc).expect("JSON values serialize");
    format!("sha256:{}", hex::encode(Sha256::digest(compact)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn plan() -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            stack: "s".into(),
            file: "s.yaml".into(),
            source: "stack: s\n".into(),
            workspace: "default".into(),
            lineage: "L".into(),
            serial: 3,
            destroy: false,
            variables: BTreeMap::from([("n".to_string(), crate::value::Value::from("secret"))]),
            changes: vec![],
            outputs: BTreeMap::new(),
            warnings: crate::diag::Diagnostics::new(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_saved_plan_reads_back_and_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan");
        let p = plan();
        write(&path, &p).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(looks_like_plan(&bytes));
        assert_eq!(from_bytes(&bytes).unwrap(), p);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn any_edit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan");
        write(&path, &plan()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replace("\"serial\": 3", "\"serial\": 4");
        assert_ne!(edited, text);
        let err = from_bytes(edited.as_bytes()).unwrap_err();
        assert!(err.contains("altered"), "{err}");
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc.as_object_mut().unwrap().remove("digest");
        let err = from_bytes(doc.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("no digest"), "{err}");
        // Reformatting alone is not an alteration.
        let compact =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap())
                .unwrap();
        assert!(from_bytes(compact.as_bytes()).is_ok());
    }

    #[test]
    fn a_damaged_plan_is_an_error_not_a_panic() {
        for bad in [
            &b"{"[..],
            b"[]",
            b"{\"format_version\": 99, \"changes\": []}",
            b"\xff\xfe",
        ] {
            assert!(from_bytes(bad).is_err());
        }
    }
}
