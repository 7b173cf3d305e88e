//! Fleets: one shared trust tier (the CA hierarchy, applied once) and one cluster tier
//! applied per member, each member in its own workspace, state and lock, rolled out wave
//! by wave with gates after each member. One process drives every member concurrently on
//! the caller's runtime, through the same [`crate::ops`] functions a single stack uses.
//!
//! - [`file`]: the fleet file and its model; [`validate`] and [`pki`]: its checks.
//! - [`member`]: what a member's stack is run with (variables, state, connection).
//! - [`plan`], [`rollout`] (with [`record`], what reached where), [`drift`], [`verify`],
//!   [`status`]: the operations, each returning a report value.

pub mod drift;
pub mod file;
pub mod member;
pub mod pki;
pub mod plan;
pub mod record;
pub mod rollout;
pub mod status;
pub mod validate;
pub mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diag::Diagnostics;
use crate::ops::locked::Backend;
use crate::ops::OpsResult;
use crate::provider::Registry;
pub use file::Fleet;
use validate::Stacks;

/// A fleet file loaded and checked, with both tiers' stacks.
pub struct Loaded {
    pub fleet: Fleet,
    pub stacks: Stacks,
    /// Warnings to show before the operation's own output.
    pub warnings: Diagnostics,
}

/// Reads, decodes and validates the fleet file at `path`.
pub fn load(path: &Path, registry: &Registry) -> OpsResult<Loaded> {
    let (fleet, mut diags) = file::load(path);
    let Some(fleet) = fleet else {
        return Err(diags.into());
    };
    let (stacks, checks) = validate::validate(&fleet, registry);
    diags.extend(checks);
    match stacks {
        Some(stacks) if !diags.has_errors() => Ok(Loaded {
            fleet,
            stacks,
            warnings: diags,
        }),
        _ => Err(diags.into()),
    }
}

/// How every operation on a fleet reaches its states.
#[derive(Debug, Clone)]
pub struct FleetParams {
    /// Where states live: the trust tier in `<root>/<trust stack>/<fleet>`, each member in
    /// `<root>/<cluster stack>/<member>`, the rollout record in `<root>/fleets/<fleet>`.
    /// A directory, or `s3://BUCKET/PREFIX` for one prefix per state under it.
    pub state_root: PathBuf,
    pub lock_timeout: Duration,
    /// Per member (and for the trust tier): resources handled at once.
    pub parallelism: usize,
    /// Only these members; all when empty.
    pub members: Vec<String>,
}

impl Default for FleetParams {
    fn default() -> Self {
        FleetParams {
            state_root: PathBuf::from("state"),
            lock_timeout: Duration::ZERO,
            parallelism: 10,
            members: Vec::new(),
        }
    }
}

impl FleetParams {
    /// The members selected, in rollout order (wave by wave).
    pub fn selected(&self, fleet: &Fleet) -> Vec<String> {
        fleet
            .waves()
            .into_iter()
            .flat_map(|w| w.members)
            .filter(|m| self.members.is_empty() || self.members.contains(m))
            .collect()
    }

    /// Refuses `--member` names that are not members.
    pub fn check_members(&self, fleet: &Fleet) -> OpsResult<()> {
        for m in &self.members {
            if !fleet.members.contains_key(m) {
                let mut d = crate::diag::Diagnostic::error(
                    "fleet::unknown_member",
                    format!("--member {m}: fleet {} has no member `{m}`", fleet.name),
                )
                .with_detail(format!(
                    "the members are: {}",
                    fleet.members.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                if let Some(s) =
                    crate::diag::did_you_mean(m, fleet.members.keys().map(String::as_str))
                {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                return Err(d.into());
            }
        }
        Ok(())
    }

    /// `<root>/<segments...>`: a directory under a local root, a prefix under an S3 one.
    pub fn location(&self, segments: &[&str]) -> Backend {
        // The CLI refuses a malformed `s3://` root before any work, so whatever does not
        // parse as one is a directory.
        match Backend::parse(&self.state_root.to_string_lossy()) {
            Ok(Backend::S3(at)) => Backend::S3(segments.iter().fold(at, |at, s| at.join(s))),
            _ => Backend::Local(
                segments
                    .iter()
                    .fold(self.state_root.clone(), |dir, s| dir.join(s)),
            ),
        }
    }

    /// Whether the states are in S3.
    pub fn in_s3(&self) -> bool {
        matches!(self.location(&[]), Backend::S3(_))
    }

    /// Where the fleet's own files are (the rollout record).
    pub fn fleet_location(&self, fleet: &Fleet) -> Backend {
        self.location(&["fleets", &fleet.name])
    }
}

/// Runs `f` for every unit concurrently on the caller's runtime; results in the order given.
pub async fn each_unit<T, F, Fut>(units: Vec<member::Unit>, f: F) -> Vec<(String, T)>
where
    F: Fn(member::Unit) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (i, unit) in units.into_iter().enumerate() {
        let name = unit.name.clone();
        let fut = f(unit);
        tasks.spawn(async move { (i, name, fut.await) });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => out.push(done),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, n, t)| (n, t)).collect()
}

/// The trust tier's outputs as its state holds them (`Unknown` for each output its stack
/// declares when it was never applied), for operations that read members.
pub async fn applied_trust_outputs(
    loaded: &Loaded,
    params: &FleetParams,
    command: &str,
    hooks: &crate::ops::Hooks,
) -> OpsResult<std::collections::BTreeMap<String, crate::value::Value>> {
    let unit = member::trust(loaded, params);
    let state = crate::ops::locked::open(&unit.state, &loaded.stacks.trust.name, command, hooks)?;
    let stored = state.store.outputs()?;
    Ok(loaded
        .stacks
        .trust
        .outputs
        .keys()
        .map(|k| {
            let v = stored
                .get(k)
                .map(|o| o.value.clone())
                .unwrap_or(crate::value::Value::Unknown);
            (k.clone(), v)
        })
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    /// A file of this repository, for tests that read the shipped stacks.
    pub fn repo(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
    }
}
