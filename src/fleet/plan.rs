//! `fleet plan`: the trust tier first (its planned outputs are the members' inputs), then
//! every selected member concurrently, each a plan as `trustplane plan` makes it, with the
//! drift found since its last apply; the cost of the shared CAs once for the fleet; and a
//! saved form (one plan per member and a manifest) that `fleet apply DIR` applies exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::member::{self, Unit};
use super::{FleetParams, Loaded};
use crate::cost::{plan_cost, running_total, CostChange};
use crate::ops::apply::{pending, Pending};
use crate::ops::plan::PlanOptions;
use crate::ops::prepare::{prepare_with, Prepared};
use crate::ops::stack::PkiChecks;
use crate::ops::{Hooks, OpsError, OpsResult};
use crate::plan::{Plan, Summary};
use crate::provider::Registry;
use crate::value::Value;

/// One tier or member planned, its state still locked for the apply that may follow.
pub struct Planned {
    pub unit: Unit,
    pub registry: Arc<Registry>,
    pub prepared: Prepared,
    pub plan: Plan,
    /// Resources changed or deleted outside trustplane since the last apply.
    pub drift: usize,
    pub pending: Pending,
}

pub struct MemberPlan {
    pub name: String,
    pub wave: usize,
    pub outcome: OpsResult<Planned>,
}

/// What the fleet's CAs cost: made once, in the trust tier.
#[derive(Debug, Clone, Default)]
pub struct FleetCost {
    /// The trust tier's CAs once its plan is applied, per month.
    pub after: CostChange,
    /// What the trust tier's plan changes.
    pub change: CostChange,
    /// Members of the fleet, each of which would need its own hierarchy without it.
    pub members: usize,
}

impl FleetCost {
    /// `CAs: $800/month for the fleet (2 general-purpose CAs, shared by 3 members); a
    /// hierarchy per cluster would cost $2400/month`, or `None` without CAs.
    pub fn line(&self) -> Option<String> {
        let cas = self.after.line()?;
        let (usd, what) = cas.trim_start_matches('+').split_once(": ")?;
        let mut line = format!(
            "CAs: {usd} for the fleet ({what}, shared by {} member{})",
            self.members,
            if self.members == 1 { "" } else { "s" }
        );
        if self.members > 1 && self.after.usd_per_month > 0 {
            line.push_str(&format!(
                "; a hierarchy per cluster would cost ${}/month",
                self.after.usd_per_month * self.members as i64
            ));
        }
        if let Some(change) = self.change.line() {
            line.push_str(&format!("\n  this plan: {change}"));
        }
        Some(line)
    }
}

pub struct FleetPlan {
    pub fleet: String,
    pub trust: Planned,
    /// In rollout order.
    pub members: Vec<MemberPlan>,
    pub cost: FleetCost,
}

impl FleetPlan {
    /// Whether applying would change anything anywhere.
    pub fn has_changes(&self) -> bool {
        self.trust.plan.has_changes()
            || self
                .members
                .iter()
                .any(|m| m.outcome.as_ref().is_ok_and(|p| p.plan.has_changes()))
    }

    pub fn failed(&self) -> impl Iterator<Item = (&str, &OpsError)> {
        self.members
            .iter()
            .filter_map(|m| m.outcome.as_ref().err().map(|e| (m.name.as_str(), e)))
    }

    /// Summed counts over the trust tier and every planned member.
    pub fn totals(&self) -> Summary {
        let mut t = self.trust.plan.summary();
        for m in self.members.iter().filter_map(|m| m.outcome.as_ref().ok()) {
            t += m.plan.summary();
        }
        t
    }
}

/// Notes of one member, prefixed with its name.
pub fn member_hooks(hooks: &Hooks, name: &str) -> Hooks {
    let notify = hooks.notify.clone();
    let name = name.to_string();
    Hooks {
        notify: Arc::new(move |m: &str| notify(&format!("{name}: {m}"))),
        stopping: hooks.stopping.clone(),
    }
}

/// Prepares (locks, refreshes) and plans one unit with a registry of its own: providers
/// are configured per stack, and a member's connection is its own.
pub async fn plan_unit(
    unit: Unit,
    params: &FleetParams,
    command: &str,
    hooks: &Hooks,
) -> OpsResult<Planned> {
    let registry = Arc::new(Registry::builtin());
    let prepared = prepare_with(
        &unit.prepare_params(command, PkiChecks::Enforce, params),
        &unit.overrides,
        &registry,
        hooks,
    )
    .await?;
    let plan = crate::ops::plan::plan(&prepared, &registry, &PlanOptions::default(), hooks).await?;
    let drift = crate::ops::drift::drift(&prepared)?.drifts.len();
    let pending = pending(&plan, &prepared.state);
    Ok(Planned {
        unit,
        registry,
        prepared,
        plan,
        drift,
        pending,
    })
}

/// The trust tier's outputs as its plan will leave them (`Unknown` until applied).
pub fn planned_outputs(plan: &Plan) -> BTreeMap<String, Value> {
    plan.outputs
        .iter()
        .map(|(k, o)| (k.clone(), o.value.clone()))
        .collect()
}

/// Plans members concurrently on the caller's runtime; results in the order given.
pub async fn plan_members(
    units: Vec<(Unit, usize)>,
    params: &FleetParams,
    command: &str,
    hooks: &Hooks,
) -> Vec<MemberPlan> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (unit, wave)) in units.into_iter().enumerate() {
        let params = params.clone();
        let command = command.to_string();
        let hooks = member_hooks(hooks, &unit.name);
        tasks.spawn(async move {
            let name = unit.name.clone();
            let outcome = plan_unit(unit, &params, &command, &hooks).await;
            (
                i,
                MemberPlan {
                    name,
                    wave,
                    outcome,
                },
            )
        });
    }
    let mut out: Vec<(usize, MemberPlan)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => out.push(done),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, m)| m).collect()
}

/// Plans the trust tier, then every selected member with its planned outputs.
pub async fn plan(
    loaded: &Loaded,
    params: &FleetParams,
    command: &str,
    hooks: &Hooks,
) -> OpsResult<FleetPlan> {
    params.check_members(&loaded.fleet)?;
    let trust = plan_unit(member::trust(loaded, params), params, command, hooks)
        .await
        .map_err(|e| in_trust_tier(loaded, e))?;
    let outputs = planned_outputs(&trust.plan);
    let units = params
        .selected(&loaded.fleet)
        .into_iter()
        .map(|name| {
            let wave = loaded.fleet.wave_of(&name).unwrap_or(0);
            (member::member(loaded, params, &name, &outputs), wave)
        })
        .collect();
    let members = plan_members(units, params, command, hooks).await;
    let mut after = running_total(&trust.prepared.refreshed.resources);
    let change = plan_cost(&trust.plan);
    for (label, n) in &change.counts {
        *after.counts.entry(label).or_default() += n;
    }
    after.usd_per_month += change.usd_per_month;
    Ok(FleetPlan {
        fleet: loaded.fleet.name.clone(),
        trust,
        members,
        cost: FleetCost {
            after,
            change,
            members: loaded.fleet.members.len(),
        },
    })
}

/// A trust tier failure stops every member: say so with the failure.
fn in_trust_tier(loaded: &Loaded, e: OpsError) -> OpsError {
    match e {
        OpsError::Message(m) => OpsError::message(format!(
            "trust tier ({}): {m}",
            loaded.fleet.trust.stack.display()
        )),
        other => other,
    }
}

/// The saved form of a fleet plan: `trust.plan`, `members/<name>.plan`, `fleet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub fleet: String,
    /// The fleet file (absolute), read again at apply for each member's connection.
    pub fleet_file: PathBuf,
    /// Digest of the fleet file as planned: apply refuses it changed.
    pub fleet_digest: String,
    pub state_root: PathBuf,
    pub trust: String,
    pub members: BTreeMap<String, ManifestMember>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestMember {
    pub plan: String,
    pub wave: usize,
    /// Planned before the trust tier's outputs were known: cannot be applied as saved.
    pub unknown_inputs: bool,
}

pub const MANIFEST: &str = "fleet.json";
pub const MANIFEST_FORMAT: u32 = 1;

pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `dir` holds a saved fleet plan.
pub fn is_saved(dir: &Path) -> bool {
    dir.is_dir() && dir.join(MANIFEST).is_file()
}

/// Saves every plan and the manifest in `dir` (created; plans mode 0600).
pub fn save(dir: &Path, loaded: &Loaded, params: &FleetParams, plan: &FleetPlan) -> OpsResult<()> {
    if let Some((name, _)) = plan.failed().next() {
        return Err(OpsError::message(format!(
            "the plan of member {name} failed, so the fleet plan is not saved; fix it and plan again"
        )));
    }
    let fail =
        |e: std::io::Error| OpsError::message(format!("cannot write to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("members")).map_err(fail)?;
    crate::ops::plan::save(&dir.join("trust.plan"), &plan.trust.plan)?;
    let mut members = BTreeMap::new();
    for m in &plan.members {
        let planned = m.outcome.as_ref().expect("checked above");
        let file = format!("members/{}.plan", m.name);
        crate::ops::plan::save(&dir.join(&file), &planned.plan)?;
        members.insert(
            m.name.clone(),
            ManifestMember {
                plan: file,
                wave: m.wave,
                unknown_inputs: planned.unit.unknown_inputs,
            },
        );
    }
    let fleet_file = std::path::absolute(&loaded.fleet.file).map_err(fail)?;
    // A directory by absolute path, so the plan applies from anywhere; an S3 root as is.
    let state_root = if params.in_s3() {
        params.state_root.clone()
    } else {
        std::path::absolute(&params.state_root).map_err(fail)?
    };
    let manifest = Manifest {
        format_version: MANIFEST_FORMAT,
        fleet: loaded.fleet.name.clone(),
        fleet_file,
        fleet_digest: digest(loaded.fleet.source.as_bytes()),
        state_root,
        trust: "trust.plan".into(),
        members,
    };
    std::fs::write(
        dir.join(MANIFEST),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .map_err(fail)
}

/// Reads the manifest of a saved fleet plan.
pub fn read_manifest(dir: &Path) -> OpsResult<Manifest> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path)
        .map_err(|e| OpsError::message(format!("cannot read {}: {e}", path.display())))?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        OpsError::message(format!(
            "{} is not a fleet plan manifest ({e}); make it again with `trustplane fleet plan FLEET --out DIR`",
            path.display()
        ))
    })?;
    if m.format_version != MANIFEST_FORMAT {
        return Err(OpsError::message(format!(
            "{} has format {}, this trustplane reads {MANIFEST_FORMAT}; plan again",
            path.display(),
            m.format_version
        )));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_line_counts_the_cas_once_and_what_hierarchies_per_cluster_would_cost() {
        let mut after = CostChange::default();
        after.counts.insert("general-purpose", 2);
        after.usd_per_month = 800;
        let cost = FleetCost {
            after: after.clone(),
            change: after,
            members: 3,
        };
        let line = cost.line().unwrap();
        assert!(
            line.starts_with("CAs: $800/month for the fleet (2 general-purpose CAs, shared by 3 members); a hierarchy per cluster would cost $2400/month"),
            "{line}"
        );
        assert!(line.contains("this plan: +$800/month"), "{line}");
        assert_eq!(FleetCost::default().line(), None);
    }
}
