//! `fleet drift`: the trust tier and every member, concurrently, each as `trustplane drift`
//! sees it; one report. Members read the trust tier's outputs as applied.

use super::member::{self, Unit};
use super::plan::member_hooks;
use super::{each_unit, FleetParams, Loaded};
use crate::ops::drift::{drift as drift_of, DriftReport};
use crate::ops::prepare::prepare_with;
use crate::ops::stack::PkiChecks;
use crate::ops::{Hooks, OpsResult};
use crate::provider::Registry;

pub struct UnitDrift {
    /// A member, or [`member::TRUST`].
    pub name: String,
    pub wave: Option<usize>,
    pub result: OpsResult<DriftReport>,
}

pub struct FleetDrift {
    pub fleet: String,
    pub units: Vec<UnitDrift>,
}

impl FleetDrift {
    pub fn drifted(&self) -> impl Iterator<Item = &UnitDrift> {
        self.units
            .iter()
            .filter(|u| u.result.as_ref().is_ok_and(|r| !r.drifts.is_empty()))
    }

    pub fn errors(&self) -> impl Iterator<Item = &UnitDrift> {
        self.units.iter().filter(|u| u.result.is_err())
    }
}

async fn one(unit: Unit, params: FleetParams, hooks: Hooks) -> OpsResult<DriftReport> {
    let registry = Registry::builtin();
    let prepared = prepare_with(
        &unit.prepare_params("fleet drift", PkiChecks::Warn, &params),
        &unit.overrides,
        &registry,
        &hooks,
    )
    .await?;
    drift_of(&prepared)
}

pub async fn drift(loaded: &Loaded, params: &FleetParams, hooks: &Hooks) -> OpsResult<FleetDrift> {
    params.check_members(&loaded.fleet)?;
    let outputs = super::applied_trust_outputs(loaded, params, "fleet drift", hooks).await?;
    let mut units = vec![member::trust(loaded, params)];
    units.extend(
        params
            .selected(&loaded.fleet)
            .iter()
            .map(|m| member::member(loaded, params, m, &outputs)),
    );
    let results = each_unit(units, |unit| {
        let hooks = member_hooks(hooks, &unit.name);
        one(unit, params.clone(), hooks)
    })
    .await;
    Ok(FleetDrift {
        fleet: loaded.fleet.name.clone(),
        units: results
            .into_iter()
            .map(|(name, result)| UnitDrift {
                wave: loaded.fleet.wave_of(&name),
                name,
                result,
            })
            .collect(),
    })
}
