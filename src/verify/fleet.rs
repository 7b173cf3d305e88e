//! The checks only a fleet can make, across the verified chains of its members: every
//! member's Istio CA chains to one root, no two members hold the same Istio CA, and the
//! members agree on the mesh ID and the trust domain (and have distinct cluster names).
//!
//! Pure: each member's [`Verified`] (what the single-cluster verify produced from its
//! `cacerts` secret) and its mesh values in, a [`FleetReport`] out. Members whose own
//! verification could not run are the caller's to report; they are not passed here.

use std::collections::BTreeMap;

use serde::Serialize;

use super::chain::{Check, Link};
use super::Verified;
use crate::plan::render::Style;
use crate::provider::helm::RELEASE;
use crate::state::ResourceState;

/// The trust domain Istio uses when `meshConfig.trustDomain` is not set.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// Where a member sits in the mesh: the multi-cluster values its istiod release was
/// installed with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MeshValues {
    /// `global.meshID`.
    pub mesh_id: Option<String>,
    /// `meshConfig.trustDomain`, else [`DEFAULT_TRUST_DOMAIN`].
    pub trust_domain: String,
    /// `global.multiCluster.clusterName`.
    pub cluster_name: Option<String>,
    /// `global.network`.
    pub network: Option<String>,
}

/// The mesh values of the istiod release in a cluster tier's state: the `helm.release`
/// named `istiod` or installing a chart named `istiod` (first by address when several).
/// `None` when the state has no such release.
pub fn mesh_values(resources: &BTreeMap<String, ResourceState>) -> Option<MeshValues> {
    let istiod = resources
        .values()
        .filter(|r| r.type_name == RELEASE)
        .find(|r| {
            let p = &r.properties;
            p.get_str("name") == Some("istiod") || p.get_str("chart").is_some_and(is_istiod_chart)
        })?;
    let values = istiod.properties.get("values");
    let at = |path: &[&str]| -> Option<String> {
        let mut v = values?;
        for step in path {
            v = v.get(step)?;
        }
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(MeshValues {
        mesh_id: at(&["global", "meshID"]),
        trust_domain: at(&["meshConfig", "trustDomain"])
            .unwrap_or_else(|| DEFAULT_TRUST_DOMAIN.to_string()),
        cluster_name: at(&["global", "multiCluster", "clusterName"]),
        network: at(&["global", "network"]),
    })
}

/// `istiod`, `repo/istiod`, `oci://…/istiod`, `charts/istiod`, `istiod-1.30.4.tgz`.
fn is_istiod_chart(chart: &str) -> bool {
    let last = chart
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(chart);
    let last = last.strip_suffix(".tgz").unwrap_or(last);
    last == "istiod"
        || last
            .strip_prefix("istiod-")
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
}

/// One member of the fleet, as verified.
#[derive(Clone, Copy)]
pub struct Member<'a> {
    pub name: &'a str,
    pub verified: &'a Verified,
    /// `None`: no istiod release in the member's state.
    pub mesh: Option<&'a MeshValues>,
}

/// A root certificate and the members whose Istio CA chains up to it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RootGroup {
    pub subject: String,
    pub serial_hex: String,
    pub public_key_sha256: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// No check failed.
    pub valid: bool,
    /// `same_root`, `distinct_istio_ca`, `same_mesh_id`, `same_trust_domain`,
    /// `distinct_cluster_name`.
    pub checks: Vec<Check>,
    /// The roots the members chain to, most members first.
    pub roots: Vec<RootGroup>,
}

impl FleetReport {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
        severity: "error",
    }
}

/// Runs every fleet check over `members`.
pub fn verify(members: &[Member<'_>]) -> FleetReport {
    let (root_check, roots) = same_root(members);
    let checks = vec![
        root_check,
        distinct_istio_ca(members),
        agreement(members, "same_mesh_id", "mesh ID", |m| m.mesh_id.clone()),
        agreement(members, "same_trust_domain", "trust domain", |m| {
            Some(m.trust_domain.clone())
        }),
        distinct_cluster_name(members),
    ];
    FleetReport {
        valid: !checks.iter().any(Check::fails),
        checks,
        roots,
    }
}

/// The chain's root: its last certificate when that one is self-issued.
fn root_of(v: &Verified) -> Option<&Link> {
    v.report
        .links
        .last()
        .filter(|l| l.role == "root" && l.subject == l.issuer)
}

fn same_root(members: &[Member<'_>]) -> (Check, Vec<RootGroup>) {
    let mut groups: Vec<RootGroup> = Vec::new();
    let mut rootless = Vec::new();
    for m in members {
        let Some(root) = root_of(m.verified) else {
            rootless.push(m.name.to_string());
            continue;
        };
        // One key under one name is one root, whatever certificate carries it.
        match groups
            .iter_mut()
            .find(|g| g.public_key_sha256 == root.public_key_sha256 && g.subject == root.subject)
        {
            Some(g) => g.members.push(m.name.to_string()),
            None => groups.push(RootGroup {
                subject: root.subject.clone(),
                serial_hex: root.serial_hex.clone(),
                public_key_sha256: root.public_key_sha256.clone(),
                members: vec![m.name.to_string()],
            }),
        }
    }
    // Stable: most members first, then in member order.
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
    let ok = groups.len() <= 1 && rootless.is_empty();
    let mut detail = match groups.as_slice() {
        [] => "no member's chain reaches a root".to_string(),
        [one] => format!(
            "{} member(s) chain to {} (serial {})",
            one.members.len(),
            one.subject,
            one.serial_hex
        ),
        many => format!(
            "the members chain to {} different roots, so they cannot form one mesh: {}; \
             issue every member's Istio CA from the trust tier's subordinate CA and apply again",
            many.len(),
            many.iter()
                .map(|g| format!(
                    "{} (serial {}, key {}…): {}",
                    g.subject,
                    g.serial_hex,
                    &g.public_key_sha256[..16.min(g.public_key_sha256.len())],
                    g.members.join(", ")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    if !rootless.is_empty() {
        detail.push_str(&format!(
            "; no root in the chain of: {}",
            rootless.join(", ")
        ));
    }
    (check("same_root", ok, detail), groups)
}

fn distinct_istio_ca(members: &[Member<'_>]) -> Check {
    let istio_cas: Vec<(&str, &Link)> = members
        .iter()
        .filter_map(|m| {
            m.verified
                .report
                .links
                .first()
                .filter(|l| l.role == "istio CA")
                .map(|l| (m.name, l))
        })
        .collect();
    let mut shared = Vec::new();
    for (i, (a, la)) in istio_cas.iter().enumerate() {
        for (b, lb) in &istio_cas[i + 1..] {
            if la.serial_hex == lb.serial_hex && la.issuer == lb.issuer {
                shared.push(format!(
                    "{a} and {b} hold the same istio-ca certificate (serial {} from {})",
                    la.serial_hex, la.issuer
                ));
            } else if la.public_key_sha256 == lb.public_key_sha256 {
                shared.push(format!("{a} and {b} hold istio-ca certificates of one key"));
            }
        }
    }
    if shared.is_empty() {
        check(
            "distinct_istio_ca",
            true,
            format!(
                "{} member(s), each with an istio-ca certificate and key of its own",
                istio_cas.len()
            ),
        )
    } else {
        check(
            "distinct_istio_ca",
            false,
            format!(
                "{}: a copied Istio CA lets one cluster sign for another; give each member \
                 its own certmanager.certificate (delete the copied cacerts secret and apply \
                 that member again)",
                shared.join("; ")
            ),
        )
    }
}

/// Whether every member has the same value; when not, the value most members share is
/// taken as the fleet's and the others are named.
fn agreement(
    members: &[Member<'_>],
    name: &str,
    what: &str,
    value: fn(&MeshValues) -> Option<String>,
) -> Check {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for m in members {
        let v = match m.mesh {
            None => "(no istiod release in state)".to_string(),
            Some(mesh) => value(mesh).unwrap_or_else(|| "(not set)".to_string()),
        };
        match groups.iter_mut().find(|(g, _)| *g == v) {
            Some((_, names)) => names.push(m.name),
            None => groups.push((v, vec![m.name])),
        }
    }
    groups.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
    match groups.as_slice() {
        [] => check(name, true, "no member"),
        [(v, names)] => check(
            name,
            true,
            format!("{what} {v} on all {} member(s)", names.len()),
        ),
        [(fleet, names), odd @ ..] => check(
            name,
            false,
            format!(
                "{what} {fleet} on {} member(s); odd ones out: {}",
                names.len(),
                odd.iter()
                    .flat_map(|(v, names)| names.iter().map(move |n| format!("{n} ({v})")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

fn distinct_cluster_name(members: &[Member<'_>]) -> Check {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in members {
        if let Some(c) = m.mesh.and_then(|v| v.cluster_name.as_deref()) {
            by_name.entry(c).or_default().push(m.name);
        }
    }
    let clashes: Vec<String> = by_name
        .iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|(c, names)| format!("{} all say {c}", names.join(", ")))
        .collect();
    if clashes.is_empty() {
        check(
            "distinct_cluster_name",
            true,
            format!("{} distinct cluster name(s)", by_name.len()),
        )
    } else {
        check(
            "distinct_cluster_name",
            false,
            format!(
                "Istio tells clusters apart by name: {}; give each member its own cluster_name",
                clashes.join("; ")
            ),
        )
    }
}

/// The report as text: one ✓/✗ line per check, then the roots with their members.
pub fn text(report: &FleetReport, style: Style) -> String {
    let mut out = String::new();
    for c in &report.checks {
        let mark = if c.ok {
            style.green("✓")
        } else {
            style.red("✗")
        };
        out.push_str(&format!("{mark} {}: {}\n", c.name, c.detail));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::value::Value;
    use crate::verify::chain::{self, Input};
    use crate::verify::report::Source;
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, SerialNumber,
    };

    struct Ca {
        cert: Certificate,
        key: KeyPair,
    }

    fn params(cn: &str, path_len: u8, serial: u64) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
        p.serial_number = Some(SerialNumber::from(serial));
        p
    }

    fn root(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        Ca {
            cert: params(cn, 2, 1).self_signed(&key).unwrap(),
            key,
        }
    }

    fn issue_with(cn: &str, serial: u64, key: KeyPair, by: &Ca) -> Ca {
        Ca {
            cert: params(cn, if cn == "istio-ca" { 0 } else { 1 }, serial)
                .signed_by(&key, &by.cert, &by.key)
                .unwrap(),
            key,
        }
    }

    fn issue(cn: &str, serial: u64, by: &Ca) -> Ca {
        issue_with(cn, serial, KeyPair::generate().unwrap(), by)
    }

    /// What verify reads from a member's cacerts: its Istio CA, then the chain up.
    fn verified(istio_ca: &Ca, chain: &[&Ca]) -> Verified {
        let mut pem = istio_ca.cert.pem();
        for c in chain {
            pem.push_str(&c.cert.pem());
        }
        let report = chain::verify(&Input {
            chain_pem: &pem,
            now: chrono::Utc::now().timestamp(),
            ..Input::default()
        });
        Verified {
            source: Source::default(),
            report,
        }
    }

    fn mesh(mesh_id: &str, trust_domain: &str, cluster: &str) -> MeshValues {
        MeshValues {
            mesh_id: Some(mesh_id.into()),
            trust_domain: trust_domain.into(),
            cluster_name: Some(cluster.into()),
            network: Some("net".into()),
        }
    }

    fn members<'a>(v: &'a [(&'a str, Verified, MeshValues)]) -> Vec<Member<'a>> {
        v.iter()
            .map(|(name, verified, mesh)| Member {
                name,
                verified,
                mesh: Some(mesh),
            })
            .collect()
    }

    /// A root, its subordinate, and one Istio CA per member from the subordinate.
    fn fleet(names: &[&'static str]) -> (Ca, Ca, Vec<(&'static str, Verified, MeshValues)>) {
        let root = root("Mesh Root");
        let sub = issue("Mesh Subordinate", 2, &root);
        let members = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let ca = issue("istio-ca", 100 + i as u64, &sub);
                (
                    *n,
                    verified(&ca, &[&sub, &root]),
                    mesh("mesh-prod", "cluster.local", n),
                )
            })
            .collect();
        (root, sub, members)
    }

    #[test]
    fn members_of_one_root_with_their_own_istio_cas_and_one_mesh_pass() {
        let (_, _, m) = fleet(&["staging-eu", "prod-eu-1", "prod-us-1"]);
        let r = verify(&members(&m));
        assert!(r.valid, "{:#?}", r.checks);
        assert_eq!(r.checks.len(), 5);
        assert_eq!(r.roots.len(), 1);
        assert_eq!(
            r.roots[0].members,
            vec!["staging-eu", "prod-eu-1", "prod-us-1"]
        );
        assert_eq!(r.roots[0].subject, "CN=Mesh Root");
    }

    #[test]
    fn a_member_under_another_root_is_named_with_its_root() {
        let (_, _, mut m) = fleet(&["staging-eu", "prod-eu-1", "prod-us-1"]);
        let other = root("Mesh Root");
        let other_sub = issue("Mesh Subordinate", 2, &other);
        let stray = issue("istio-ca", 200, &other_sub);
        m[2].1 = verified(&stray, &[&other_sub, &other]);
        let r = verify(&members(&m));
        assert!(!r.valid);
        let c = r.check("same_root").unwrap();
        assert!(!c.ok);
        // Same name, another key: two roots, the odd member under the second.
        assert_eq!(r.roots.len(), 2);
        assert_eq!(r.roots[0].members, vec!["staging-eu", "prod-eu-1"]);
        assert_eq!(r.roots[1].members, vec!["prod-us-1"]);
        let key = |i: usize| r.roots[i].public_key_sha256[..16].to_string();
        assert_ne!(key(0), key(1));
        assert_eq!(
            c.detail,
            format!(
                "the members chain to 2 different roots, so they cannot form one mesh: \
                 CN=Mesh Root (serial 01, key {}…): staging-eu, prod-eu-1; \
                 CN=Mesh Root (serial 01, key {}…): prod-us-1; \
                 issue every member's Istio CA from the trust tier's subordinate CA and apply again",
                key(0),
                key(1)
            )
        );
        assert!(r.check("distinct_istio_ca").unwrap().ok);
    }

    #[test]
    fn a_chain_without_its_root_is_named() {
        let (_, sub, mut m) = fleet(&["a", "b"]);
        let ca = issue("istio-ca", 300, &sub);
        m[1].1 = verified(&ca, &[]);
        let r = verify(&members(&m));
        let c = r.check("same_root").unwrap();
        assert!(!c.ok);
        assert!(
            c.detail.ends_with("no root in the chain of: b"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn two_members_with_one_istio_ca_certificate_are_named() {
        let (root, sub, mut m) = fleet(&["a", "b", "c"]);
        let copied = issue("istio-ca", 100, &sub);
        m[0].1 = verified(&copied, &[&sub, &root]);
        m[2].1 = verified(&copied, &[&sub, &root]);
        let r = verify(&members(&m));
        let c = r.check("distinct_istio_ca").unwrap();
        assert!(!c.ok);
        assert!(
            c.detail.starts_with(
                "a and c hold the same istio-ca certificate (serial 64 from CN=Mesh Subordinate)"
            ),
            "{}",
            c.detail
        );
        // b's own certificate has serial 101; and a's first one (100) was replaced.
        assert!(!c.detail.contains(" b "), "{}", c.detail);
        assert!(r.check("same_root").unwrap().ok);
    }

    #[test]
    fn two_istio_cas_of_one_key_are_named_though_their_certificates_differ() {
        let (root, sub, mut m) = fleet(&["a", "b"]);
        let pem = KeyPair::generate().unwrap().serialize_pem();
        let first = issue_with("istio-ca", 500, KeyPair::from_pem(&pem).unwrap(), &sub);
        let second = issue_with("istio-ca", 501, KeyPair::from_pem(&pem).unwrap(), &sub);
        m[0].1 = verified(&first, &[&sub, &root]);
        m[1].1 = verified(&second, &[&sub, &root]);
        let c = verify(&members(&m))
            .check("distinct_istio_ca")
            .unwrap()
            .clone();
        assert!(!c.ok);
        assert!(
            c.detail
                .starts_with("a and b hold istio-ca certificates of one key"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn the_odd_ones_out_of_mesh_id_and_trust_domain_are_named() {
        let (_, _, mut m) = fleet(&["a", "b", "c", "d"]);
        m[1].2.mesh_id = Some("mesh-staging".into());
        m[3].2.mesh_id = None;
        m[2].2.trust_domain = "prod.example".into();
        let r = verify(&members(&m));
        assert!(!r.valid);
        assert_eq!(
            r.check("same_mesh_id").unwrap().detail,
            "mesh ID mesh-prod on 2 member(s); odd ones out: b (mesh-staging), d ((not set))"
        );
        assert_eq!(
            r.check("same_trust_domain").unwrap().detail,
            "trust domain cluster.local on 3 member(s); odd ones out: c (prod.example)"
        );
        assert!(r.check("same_root").unwrap().ok);
    }

    #[test]
    fn a_member_without_mesh_values_is_an_odd_one_out() {
        let (_, _, m) = fleet(&["a", "b", "c"]);
        let mut list = members(&m);
        list[1].mesh = None;
        let r = verify(&list);
        assert_eq!(
            r.check("same_mesh_id").unwrap().detail,
            "mesh ID mesh-prod on 2 member(s); odd ones out: b ((no istiod release in state))"
        );
    }

    #[test]
    fn two_members_with_one_cluster_name_are_named() {
        let (_, _, mut m) = fleet(&["a", "b", "c"]);
        m[2].2.cluster_name = Some("a".into());
        let c = verify(&members(&m))
            .check("distinct_cluster_name")
            .unwrap()
            .clone();
        assert!(!c.ok);
        assert!(c.detail.contains("a, c all say a"), "{}", c.detail);
    }

    fn release(address: &str, properties: serde_json::Value) -> (String, ResourceState) {
        (
            address.into(),
            ResourceState {
                address: address.into(),
                type_name: RELEASE.into(),
                mode: Mode::Managed,
                provider: "helm".into(),
                id: address.into(),
                properties: Value::from_json(properties),
                attributes: Value::map(),
                dependencies: vec![],
                sensitive_paths: vec![],
                retain_on_destroy: false,
                updated_at: chrono::Utc::now(),
            },
        )
    }

    #[test]
    fn mesh_values_come_from_the_istiod_release_in_state() {
        let state: BTreeMap<String, ResourceState> = [
            release(
                "istio_base",
                serde_json::json!({"name": "istio-base", "chart": "base", "values": {"global": {"meshID": "wrong"}}}),
            ),
            release(
                "istiod",
                serde_json::json!({"name": "istiod", "chart": "istiod", "values": {
                    "global": {"meshID": "mesh-prod", "multiCluster": {"clusterName": "prod-eu-1"}, "network": "net-eu"}
                }}),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            mesh_values(&state),
            Some(MeshValues {
                mesh_id: Some("mesh-prod".into()),
                trust_domain: "cluster.local".into(),
                cluster_name: Some("prod-eu-1".into()),
                network: Some("net-eu".into()),
            })
        );
    }

    #[test]
    fn a_release_of_the_istiod_chart_under_another_name_is_found_with_its_trust_domain() {
        let state: BTreeMap<String, ResourceState> = [release(
            "control_plane",
            serde_json::json!({"name": "istiod-1-30", "chart": "examples/sandbox/charts/istiod",
                "values": {"meshConfig": {"trustDomain": "prod.example"}}}),
        )]
        .into_iter()
        .collect();
        let v = mesh_values(&state).unwrap();
        assert_eq!(v.trust_domain, "prod.example");
        assert_eq!(v.mesh_id, None);
        assert!(is_istiod_chart("istiod-1.30.4.tgz"));
        assert!(is_istiod_chart("oci://registry/istio/istiod"));
        assert!(!is_istiod_chart("istiod-remote"));
        assert_eq!(mesh_values(&BTreeMap::new()), None);
    }
}
