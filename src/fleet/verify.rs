//! `fleet verify`: each member's chain as `trustplane verify` checks it, then the checks
//! only a fleet can make across members: every member's Istio CA chains to the same root,
//! no two members share an `istio-ca` certificate, and mesh ID and trust domain agree.
//!
//! The per-member results are collected as [`MemberChain`]s and handed to one function,
//! [`cross_member`]; the checks it runs are kept minimal here (same root, distinct Istio
//! CAs, agreeing mesh values).

use std::collections::BTreeMap;

use serde::Serialize;

use super::member::{self, Unit};
use super::plan::member_hooks;
use super::rollout::verify_member;
use super::{each_unit, FleetParams, Loaded};
use crate::ops::{Hooks, OpsResult};
use crate::value::Value;
use crate::verify::Verified;

/// Istio's trust domain when the mesh sets none.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// The mesh values a member is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeshValues {
    pub mesh_id: Option<String>,
    pub trust_domain: String,
}

/// One member's verified chain and its mesh values.
pub struct MemberChain {
    pub member: String,
    pub verified: Verified,
    pub mesh: MeshValues,
}

/// A check across members.
#[derive(Debug, Clone, Serialize)]
pub struct FleetCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

pub struct MemberVerify {
    pub member: String,
    /// `Err`: the chain could not be read at all.
    pub result: Result<Verified, String>,
}

pub struct FleetVerify {
    pub fleet: String,
    pub members: Vec<MemberVerify>,
    pub checks: Vec<FleetCheck>,
}

impl FleetVerify {
    pub fn valid(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.result.as_ref().is_ok_and(|v| v.report.valid))
            && self.checks.iter().all(|c| c.ok)
    }
}

/// The mesh values of a member, from its variables: `mesh_id`, and `trust_domain` when
/// its stack declares one.
pub fn mesh_values(unit: &Unit) -> MeshValues {
    let get = |k: &str| {
        unit.vars
            .given
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
    };
    MeshValues {
        mesh_id: get("mesh_id"),
        trust_domain: get("trust_domain").unwrap_or_else(|| DEFAULT_TRUST_DOMAIN.to_string()),
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
    let mesh: BTreeMap<String, MeshValues> = units
        .iter()
        .map(|u| (u.name.clone(), mesh_values(u)))
        .collect();
    let results = each_unit(units, |unit| {
        let hooks = member_hooks(hooks, &unit.name);
        async move { verify_member(&unit, now, &hooks).await }
    })
    .await;
    let mut members = Vec::new();
    let mut chains = Vec::new();
    for (name, result) in results {
        match result {
            Ok(verified) => chains.push(MemberChain {
                mesh: mesh[&name].clone(),
                member: name,
                verified,
            }),
            Err(e) => members.push(MemberVerify {
                member: name,
                result: Err(e),
            }),
        }
    }
    let checks = cross_member(&chains);
    members.extend(chains.into_iter().map(|c| MemberVerify {
        member: c.member,
        result: Ok(c.verified),
    }));
    let order = params.selected(&loaded.fleet);
    members.sort_by_key(|m| order.iter().position(|o| *o == m.member));
    Ok(FleetVerify {
        fleet: loaded.fleet.name.clone(),
        members,
        checks,
    })
}

/// The root (last link) and Istio CA (first link) of a chain, as subject and serial.
fn ends(v: &Verified) -> Option<((String, String), (String, String))> {
    let first = v.report.links.first()?;
    let last = v.report.links.last()?;
    Some((
        (last.subject.clone(), last.serial_hex.clone()),
        (first.subject.clone(), first.serial_hex.clone()),
    ))
}

/// The checks across members.
pub fn cross_member(chains: &[MemberChain]) -> Vec<FleetCheck> {
    let mut checks = Vec::new();
    let mut roots: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    let mut istio: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in chains {
        if let Some((root, ca)) = ends(&c.verified) {
            roots.entry(root).or_default().push(&c.member);
            istio.entry(ca.1).or_default().push(&c.member);
        }
    }
    checks.push(FleetCheck {
        name: "same root".into(),
        ok: roots.len() <= 1,
        detail: if roots.len() <= 1 {
            match roots.keys().next() {
                Some((subject, serial)) => {
                    format!("every member chains to {subject} (serial {serial})")
                }
                None => "no member's chain could be read".into(),
            }
        } else {
            roots
                .iter()
                .map(|((subject, serial), ms)| {
                    format!("{} chain to {subject} (serial {serial})", ms.join(", "))
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    });
    let shared: Vec<String> = istio
        .iter()
        .filter(|(_, ms)| ms.len() > 1)
        .map(|(serial, ms)| {
            format!(
                "{} share the Istio CA certificate of serial {serial}",
                ms.join(", ")
            )
        })
        .collect();
    checks.push(FleetCheck {
        name: "distinct Istio CAs".into(),
        ok: shared.is_empty(),
        detail: if shared.is_empty() {
            "each member has its own istio-ca certificate".into()
        } else {
            shared.join("; ")
        },
    });
    for (name, value) in [
        (
            "mesh ID",
            (|m: &MeshValues| m.mesh_id.clone().unwrap_or_else(|| "(none)".into()))
                as fn(&MeshValues) -> String,
        ),
        ("trust domain", |m: &MeshValues| m.trust_domain.clone()),
    ] {
        let mut by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for c in chains {
            by.entry(value(&c.mesh)).or_default().push(&c.member);
        }
        checks.push(FleetCheck {
            name: format!("{name} agrees"),
            ok: by.len() <= 1,
            detail: by
                .iter()
                .map(|(v, ms)| format!("{v}: {}", ms.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::chain::{Link, Report};

    fn link(role: &str, subject: &str, serial: &str) -> Link {
        Link {
            role: role.into(),
            subject: subject.into(),
            subject_cn: subject.trim_start_matches("CN=").into(),
            issuer: String::new(),
            serial_hex: serial.into(),
            serial_decimal: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            expires_in_days: 90,
            is_ca: true,
            path_len: None,
            pca: None,
            checks: Vec::new(),
        }
    }

    fn chain(member: &str, istio: &str, root: &str, mesh: &str) -> MemberChain {
        MemberChain {
            member: member.into(),
            verified: Verified {
                source: Default::default(),
                report: Report {
                    valid: true,
                    links: vec![
                        link("istio CA", "CN=istio-ca", istio),
                        link("root", root, "01"),
                    ],
                    pca_matches: Vec::new(),
                    workload: None,
                    errors: Vec::new(),
                    warnings: Vec::new(),
                },
            },
            mesh: MeshValues {
                mesh_id: Some(mesh.into()),
                trust_domain: DEFAULT_TRUST_DOMAIN.into(),
            },
        }
    }

    fn failing(checks: &[FleetCheck]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn members_with_one_root_own_istio_cas_and_one_mesh_pass() {
        let checks = cross_member(&[
            chain("a", "aa", "CN=Root", "mesh"),
            chain("b", "bb", "CN=Root", "mesh"),
        ]);
        assert_eq!(failing(&checks), Vec::<&str>::new(), "{checks:?}");
    }

    #[test]
    fn another_root_a_shared_istio_ca_and_another_mesh_id_each_fail() {
        let checks = cross_member(&[
            chain("a", "aa", "CN=Root", "mesh"),
            chain("b", "aa", "CN=Root", "mesh"),
            chain("c", "cc", "CN=Other Root", "other"),
        ]);
        assert_eq!(
            failing(&checks),
            vec!["same root", "distinct Istio CAs", "mesh ID agrees"]
        );
        let shared = checks
            .iter()
            .find(|c| c.name == "distinct Istio CAs")
            .unwrap();
        assert!(shared.detail.starts_with("a, b share"), "{}", shared.detail);
    }
}
