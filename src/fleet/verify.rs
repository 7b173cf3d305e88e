//! `fleet verify`: each member's chain as `trustplane verify` checks it, then the checks
//! only a fleet can make across members ([`crate::verify::fleet`]): every member's Istio
//! CA chains to the same root, no two members share an `istio-ca` certificate, and the
//! members agree on mesh ID and trust domain (with distinct cluster names). The mesh
//! values are read from each member's state, as its istiod release was applied.

use super::member::{self, Unit};
use super::plan::member_hooks;
use super::rollout::verify_member;
use super::{each_unit, FleetParams, Loaded};
use crate::ops::{locked, Hooks, OpsResult};
use crate::verify::fleet::{self as checks, MeshValues};
use crate::verify::Verified;

pub struct MemberVerify {
    pub member: String,
    /// `Err`: the chain could not be read at all.
    pub result: Result<Verified, String>,
}

pub struct FleetVerify {
    pub fleet: String,
    pub members: Vec<MemberVerify>,
    pub checks: checks::FleetReport,
}

impl FleetVerify {
    pub fn valid(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.result.as_ref().is_ok_and(|v| v.report.valid))
            && self.checks.valid
    }
}

pub async fn verify(
    loaded: &Loaded,
    params: &FleetParams,
    now: i64,
    hooks: &Hooks,
) -> OpsResult<FleetVerify> {
    params.check_members(&loaded.fleet)?;
    let outputs = super::applied_trust_outputs(loaded, params, "fleet verify", hooks).await?;
    let units: Vec<Unit> = params
        .selected(&loaded.fleet)
        .iter()
        .map(|m| member::member(loaded, params, m, &outputs))
        .collect();
    let stack = loaded.stacks.cluster.name.clone();
    let results = each_unit(units, |unit| {
        let hooks = member_hooks(hooks, &unit.name);
        let stack = stack.clone();
        async move {
            let verified = verify_member(&unit, now, &hooks).await?;
            let mesh = applied_mesh(&unit, &stack, &hooks)?;
            Ok::<_, String>((verified, mesh))
        }
    })
    .await;
    let mut members = Vec::new();
    let mut chains = Vec::new();
    for (name, result) in results {
        match result {
            Ok((verified, mesh)) => chains.push((name, verified, mesh)),
            Err(e) => members.push(MemberVerify {
                member: name,
                result: Err(e),
            }),
        }
    }
    let report = checks::verify(
        &chains
            .iter()
            .map(|(name, verified, mesh)| checks::Member {
                name,
                verified,
                mesh: mesh.as_ref(),
            })
            .collect::<Vec<_>>(),
    );
    members.extend(
        chains
            .into_iter()
            .map(|(member, verified, _)| MemberVerify {
                member,
                result: Ok(verified),
            }),
    );
    let order = params.selected(&loaded.fleet);
    members.sort_by_key(|m| order.iter().position(|o| *o == m.member));
    Ok(FleetVerify {
        fleet: loaded.fleet.name.clone(),
        members,
        checks: report,
    })
}

/// The mesh values the member's istiod release was applied with, from its state.
fn applied_mesh(unit: &Unit, stack: &str, hooks: &Hooks) -> Result<Option<MeshValues>, String> {
    let state =
        locked::open(&unit.state, stack, "fleet verify", hooks).map_err(|e| e.to_string())?;
    let resources = state.store.resources().map_err(|e| e.to_string())?;
    Ok(checks::mesh_values(&resources))
}
