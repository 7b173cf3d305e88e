//! The fleet file: its model and how it is read. A fleet names a shared trust tier (one
//! stack applied once) and a cluster tier (one stack applied per member), and the order in
//! which members are rolled out. Parsed through [`crate::config::yaml`], so every error
//! names file:line; stack and kubeconfig paths are relative to the fleet file's directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::config::yaml::{Node, NodeKind};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::input::InputKind;
use crate::value::Value;

const TOP_KEYS: &[&str] = &["fleet", "trust", "clusters", "rollout"];
const TRUST_KEYS: &[&str] = &["stack", "vars"];
const CLUSTERS_KEYS: &[&str] = &["stack", "vars", "members"];
const MEMBER_KEYS: &[&str] = &["vars", "kubernetes"];
const KUBERNETES_KEYS: &[&str] = crate::provider::kubernetes::connection::KEYS;
const ROLLOUT_KEYS: &[&str] = &["waves", "gates"];
const WAVE_KEYS: &[&str] = &["members", "max_parallel"];
const GATES: &[&str] = &["verify"];

/// A wave names `*` for every member no other wave names.
pub const EVERY_OTHER: &str = "*";

/// A variable value as written, with where.
#[derive(Debug, Clone)]
pub struct Var {
    pub value: Value,
    pub span: Span,
}

/// One tier: a stack file and the variables it gets.
#[derive(Debug, Clone)]
pub struct Tier {
    /// Resolved against the fleet file's directory.
    pub stack: PathBuf,
    /// Where `stack:` is written.
    pub stack_span: Span,
    pub vars: IndexMap<String, Var>,
}

/// One cluster of the fleet.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    /// The member's key under `members:`.
    pub span: Span,
    pub vars: IndexMap<String, Var>,
    /// Replaces `providers.kubernetes` of the cluster stack (helm inherits it); a
    /// relative kubeconfig path is already resolved against the fleet file's directory.
    pub kubernetes: Option<Node>,
}

/// A member named by a wave.
#[derive(Debug, Clone)]
pub enum WaveEntry {
    Member(String, Span),
    /// `*`: every member no other wave names.
    EveryOther(Span),
}

#[derive(Debug, Clone)]
pub struct Wave {
    pub entries: Vec<WaveEntry>,
    /// Members of this wave applied at once.
    pub max_parallel: usize,
    pub span: Span,
}

/// A check run after each member's apply; a failing gate stops the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// The member's Istio CA chain up to the shared root (`trustplane verify`).
    Verify,
}

#[derive(Debug, Clone)]
pub struct Fleet {
    pub name: String,
    pub file: PathBuf,
    pub trust: Tier,
    /// The cluster tier: its stack and the variables common to every member.
    pub clusters: Tier,
    pub members: IndexMap<String, Member>,
    /// As written; [`Fleet::waves`] resolves them. No `rollout:` means one wave of every
    /// member, one at a time.
    pub waves: Vec<Wave>,
    pub gates: Vec<Gate>,
    /// The whole file as loaded, for a digest of what was reviewed.
    pub source: Arc<String>,
}

/// A wave with its members resolved, in rollout order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedWave {
    /// From 1.
    pub number: usize,
    pub members: Vec<String>,
    pub max_parallel: usize,
}

impl Fleet {
    /// The waves in order, `*` expanded to the members no other wave names (in the
    /// order the file lists them). Assumes a valid fleet (see [`super::validate`]).
    pub fn waves(&self) -> Vec<ResolvedWave> {
        if self.waves.is_empty() {
            return vec![ResolvedWave {
                number: 1,
                members: self.members.keys().cloned().collect(),
                max_parallel: 1,
            }];
        }
        let named: Vec<&str> = self
            .waves
            .iter()
            .flat_map(|w| &w.entries)
            .filter_map(|e| match e {
                WaveEntry::Member(m, _) => Some(m.as_str()),
                WaveEntry::EveryOther(_) => None,
            })
            .collect();
        self.waves
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let mut members = Vec::new();
                for e in &w.entries {
                    match e {
                        WaveEntry::Member(m, _) => members.push(m.clone()),
                        WaveEntry::EveryOther(_) => members.extend(
                            self.members
                                .keys()
                                .filter(|m| !named.contains(&m.as_str()))
                                .cloned(),
                        ),
                    }
                }
                ResolvedWave {
                    number: i + 1,
                    members,
                    max_parallel: w.max_parallel,
                }
            })
            .collect()
    }

    /// The wave a member is rolled out in, from 1.
    pub fn wave_of(&self, member: &str) -> Option<usize> {
        self.waves()
            .iter()
            .find(|w| w.members.iter().any(|m| m == member))
            .map(|w| w.number)
    }
}

/// Whether `path` holds a fleet file: a YAML map with a top-level `fleet:` key.
pub fn is_fleet_file(path: &Path) -> bool {
    let Ok(text) = crate::input::read_text(path, InputKind::Stack) else {
        return false;
    };
    // A cheap look before a parse: every fleet file has the key at the start of a line.
    if !text.lines().any(|l| l.starts_with("fleet:")) {
        return false;
    }
    Node::parse(&Arc::new(path.to_path_buf()), &text).is_ok_and(|n| n.get("fleet").is_some())
}

/// Reads and decodes a fleet file. `None` when errors prevent building the model; a model
/// may come with errors too (an unknown key), so that validation reports everything at
/// once. Member and wave cross-checks are [`super::validate`]'s.
pub fn load(path: &Path) -> (Option<Fleet>, Diagnostics) {
    let text = match crate::input::read_text(path, InputKind::Stack) {
        Ok(t) => t,
        Err(e) => {
            let mut d = crate::config::load::input_error(&e);
            d.code = "fleet::read_error";
            d.help = Some("check the path of the fleet file".into());
            return (None, d.into());
        }
    };
    load_str(path, &text)
}

/// Decodes fleet text as if read from `path`.
pub fn load_str(path: &Path, text: &str) -> (Option<Fleet>, Diagnostics) {
    let file = Arc::new(path.to_path_buf());
    let source = Arc::new(text.to_string());
    let root = match Node::parse_source(&file, &source) {
        Ok(root) => root,
        Err(d) => return (None, d.into()),
    };
    let mut r = Reader {
        diags: Diagnostics::new(),
        dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        file_span: Span::file_only(path).with_source(&source),
    };
    let fleet = r.fleet(&root, path, source.clone());
    (fleet, r.diags)
}

struct Reader {
    diags: Diagnostics,
    dir: PathBuf,
    file_span: Span,
}

impl Reader {
    fn fleet(&mut self, root: &Node, path: &Path, source: Arc<String>) -> Option<Fleet> {
        if root.as_map().is_none() {
            self.push(
                Diagnostic::error("fleet::invalid_value", "a fleet file is a map")
                    .with_span(root.span.clone())
                    .with_detail(format!("found a {}", root.type_name()))
                    .with_help("start it with `fleet: NAME`, then `trust:` and `clusters:`"),
            );
            return None;
        }
        self.keys(root, TOP_KEYS, "");
        let name = self.required(root, "fleet", "", self.file_span.clone())?;
        let name = self.name(name, "fleet", "the fleet's name")?;
        let trust = self.required(root, "trust", "", self.file_span.clone())?;
        let trust = self.tier(trust, "trust", TRUST_KEYS);
        let clusters_node = self.required(root, "clusters", "", self.file_span.clone())?;
        let clusters = self.tier(clusters_node, "clusters", CLUSTERS_KEYS);
        let members = self.members(clusters_node);
        let (waves, gates) = match root.get("rollout") {
            Some(r) if !r.is_null() => self.rollout(r),
            _ => (Vec::new(), Vec::new()),
        };
        Some(Fleet {
            name,
            file: path.to_path_buf(),
            trust: trust?,
            clusters: clusters?,
            members,
            waves,
            gates,
            source,
        })
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reports keys of `node` not in `allowed`, with a suggestion.
    fn keys(&mut self, node: &Node, allowed: &[&str], at: &str) {
        for (k, _) in node.as_map().unwrap_or_default() {
            let key = k.key_str();
            if allowed.contains(&key.as_ref()) {
                continue;
            }
            let field = join(at, &key);
            let mut d = Diagnostic::error(
                "fleet::unknown_key",
                format!("unknown key `{key}` in {}", place(at)),
            )
            .with_span(k.span.clone())
            .with_field(field)
            .with_detail(format!("expected one of: {}", allowed.join(", ")));
            if let Some(s) = did_you_mean(&key, allowed.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else {
                d = d.with_help("remove it; see docs/fleet.md for the fleet file's keys");
            }
            self.push(d);
        }
    }

    fn required<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        at: &str,
        span: Span,
    ) -> Option<&'n Node> {
        match node.get(key) {
            Some(v) if !v.is_null() => Some(v),
            _ => {
                let span = if node.as_map().is_some_and(|m| !m.is_empty()) {
                    node.span.clone()
                } else {
                    span
                };
                self.push(
                    Diagnostic::error(
                        "fleet::missing_key",
                        format!("{} has no `{key}`", place(at)),
                    )
                    .with_span(span)
                    .with_field(join(at, key))
                    .with_help(match key {
                        "fleet" => "name the fleet: `fleet: mesh-prod`",
                        "trust" => "add `trust: {stack: stacks/mesh-trust.yaml}`",
                        "clusters" => {
                            "add `clusters:` with `stack:` and `members:` (see docs/fleet.md)"
                        }
                        "stack" => "name the tier's stack file, relative to the fleet file",
                        "members" => "list the clusters under `members:`, one key per member",
                        _ => "see docs/fleet.md",
                    }),
                );
                None
            }
        }
    }

    fn wrong_type(&mut self, node: &Node, field: &str, expected: &str, help: &str) {
        self.push(
            Diagnostic::error(
                "fleet::invalid_value",
                format!("`{field}` must be {expected}"),
            )
            .with_span(node.span.clone())
            .with_field(field.to_string())
            .with_detail(format!("expected {expected}, found a {}", node.type_name()))
            .with_help(help.to_string()),
        );
    }

    /// A name usable as a workspace and a directory.
    fn name(&mut self, node: &Node, field: &str, what: &str) -> Option<String> {
        let Some(s) = node.as_str() else {
            self.wrong_type(
                node,
                field,
                "a string",
                &format!("write {what} as a string"),
            );
            return None;
        };
        if !valid_name(s) {
            self.push(
                Diagnostic::error(
                    "fleet::invalid_name",
                    format!("{what} `{s}` cannot name a state directory"),
                )
                .with_span(node.span.clone())
                .with_field(field.to_string())
                .with_detail(
                    "expected letters, digits, `-`, `_` and `.`, starting with a letter or digit",
                )
                .with_help("rename it, e.g. `prod-eu-1`"),
            );
            return None;
        }
        Some(s.to_string())
    }

    fn tier(&mut self, node: &Node, at: &str, keys: &[&str]) -> Option<Tier> {
        if node.as_map().is_none() {
            self.wrong_type(
                node,
                at,
                "a map",
                "give the tier `stack:` (and `vars:`), see docs/fleet.md",
            );
            return None;
        }
        self.keys(node, keys, at);
        let vars = self.vars(node.get("vars"), &join(at, "vars"));
        let stack_node = self.required(node, "stack", at, node.span.clone())?;
        let Some(stack) = stack_node.as_str() else {
            self.wrong_type(
                stack_node,
                &join(at, "stack"),
                "a path",
                "name the stack file, relative to the fleet file",
            );
            return None;
        };
        Some(Tier {
            stack: self.dir.join(stack),
            stack_span: stack_node.span.clone(),
            vars,
        })
    }

    fn vars(&mut self, node: Option<&Node>, at: &str) -> IndexMap<String, Var> {
        let mut out = IndexMap::new();
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return out;
        };
        let Some(map) = node.as_map() else {
            self.wrong_type(node, at, "a map", "write `vars: {name: value}`");
            return out;
        };
        for (k, v) in map {
            out.insert(
                k.key_text(),
                Var {
                    value: v.to_value(),
                    span: k.span.clone(),
                },
            );
        }
        out
    }

    fn members(&mut self, clusters: &Node) -> IndexMap<String, Member> {
        let mut out = IndexMap::new();
        let Some(node) = clusters.as_map().and(clusters.get("members")) else {
            if clusters.as_map().is_some() {
                self.required(clusters, "members", "clusters", clusters.span.clone());
            }
            return out;
        };
        let Some(map) = node.as_map() else {
            self.wrong_type(
                node,
                "clusters.members",
                "a map",
                "one key per member: `members: {prod-eu-1: {vars: {...}}}`",
            );
            return out;
        };
        if map.is_empty() {
            self.push(
                Diagnostic::error("fleet::no_members", "the fleet has no members")
                    .with_span(node.span.clone())
                    .with_field("clusters.members")
                    .with_help("add one key per cluster under `members:`"),
            );
        }
        for (k, v) in map {
            let at = format!("clusters.members.{}", k.key_str());
            let Some(name) = self.name(k, &at, "member name") else {
                continue;
            };
            let mut member = Member {
                name: name.clone(),
                span: k.span.clone(),
                vars: IndexMap::new(),
                kubernetes: None,
            };
            if !v.is_null() {
                if v.as_map().is_none() {
                    self.wrong_type(v, &at, "a map", "give the member `vars:` and `kubernetes:`");
                    continue;
                }
                self.keys(v, MEMBER_KEYS, &at);
                member.vars = self.vars(v.get("vars"), &join(&at, "vars"));
                member.kubernetes = v
                    .get("kubernetes")
                    .filter(|k| !k.is_null())
                    .and_then(|k| self.kubernetes(k, &join(&at, "kubernetes")));
            }
            out.insert(name, member);
        }
        out
    }

    /// A member's connection: `eks_cluster`, or `kubeconfig` and/or `context`.
    fn kubernetes(&mut self, node: &Node, at: &str) -> Option<Node> {
        if node.as_map().is_none() {
            self.wrong_type(
                node,
                at,
                "a map",
                "write `{eks_cluster: NAME}`, `{kubeconfig: PATH, context: NAME}` or `{context: NAME}`",
            );
            return None;
        }
        self.keys(node, KUBERNETES_KEYS, at);
        let has = |k: &str| node.get(k).is_some_and(|v| !v.is_null());
        if has("eks_cluster") && (has("kubeconfig") || has("context")) {
            self.push(
                Diagnostic::error(
                    "fleet::conflicting_connection",
                    format!("{} names both an EKS cluster and a kubeconfig", place(at)),
                )
                .with_span(node.span.clone())
                .with_field(at.to_string())
                .with_detail("a member reaches its cluster one way")
                .with_help("keep `eks_cluster`, or `kubeconfig`/`context`"),
            );
        }
        if !has("eks_cluster") && !has("kubeconfig") && !has("context") {
            self.push(
                Diagnostic::error(
                    "fleet::missing_key",
                    format!("{} names no cluster", place(at)),
                )
                .with_span(node.span.clone())
                .with_field(at.to_string())
                .with_help("set `eks_cluster: NAME`, or `kubeconfig: PATH` with `context: NAME`"),
            );
        }
        let mut resolved = node.clone();
        if let NodeKind::Map(entries) = &mut resolved.kind {
            for (k, v) in entries.iter_mut() {
                if k.key_str() != "kubeconfig" {
                    continue;
                }
                if let NodeKind::String(p) = &mut v.kind {
                    if !p.starts_with('~') && Path::new(p.as_str()).is_relative() {
                        *p = self.dir.join(&*p).display().to_string();
                    }
                }
            }
        }
        Some(resolved)
    }

    fn rollout(&mut self, node: &Node) -> (Vec<Wave>, Vec<Gate>) {
        if node.as_map().is_none() {
            self.wrong_type(node, "rollout", "a map", "give it `waves:` and `gates:`");
            return (Vec::new(), Vec::new());
        }
        self.keys(node, ROLLOUT_KEYS, "rollout");
        let mut waves = Vec::new();
        if let Some(w) = node.get("waves").filter(|w| !w.is_null()) {
            match w.as_seq() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(wave) = self.wave(item, &format!("rollout.waves[{i}]")) {
                            waves.push(wave);
                        }
                    }
                }
                None => self.wrong_type(
                    w,
                    "rollout.waves",
                    "a list",
                    "list the waves in order: `- members: [staging-eu]`",
                ),
            }
        }
        let mut gates = Vec::new();
        if let Some(g) = node.get("gates").filter(|g| !g.is_null()) {
            match g.as_seq() {
                Some(items) => {
                    for item in items {
                        match item.as_str() {
                            Some("verify") => gates.push(Gate::Verify),
                            other => {
                                let mut d = Diagnostic::error(
                                    "fleet::unknown_gate",
                                    format!(
                                        "unknown gate `{}`",
                                        other.map_or_else(
                                            || item.to_value().render(),
                                            str::to_string
                                        )
                                    ),
                                )
                                .with_span(item.span.clone())
                                .with_field("rollout.gates")
                                .with_detail(format!("the gates are: {}", GATES.join(", ")));
                                d = match other.and_then(|o| did_you_mean(o, GATES.iter().copied()))
                                {
                                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                                    None => d.with_help("use `gates: [verify]`"),
                                };
                                self.push(d);
                            }
                        }
                    }
                }
                None => self.wrong_type(g, "rollout.gates", "a list", "write `gates: [verify]`"),
            }
        }
        (waves, gates)
    }

    fn wave(&mut self, node: &Node, at: &str) -> Option<Wave> {
        if node.as_map().is_none() {
            self.wrong_type(node, at, "a map", "write `- members: [NAME, ...]`");
            return None;
        }
        self.keys(node, WAVE_KEYS, at);
        let members = self.required(node, "members", at, node.span.clone())?;
        let Some(items) = members.as_seq() else {
            self.wrong_type(
                members,
                &join(at, "members"),
                "a list",
                "write `members: [NAME, ...]` (or `[\"*\"]` for every other member)",
            );
            return None;
        };
        let mut entries = Vec::new();
        for item in items {
            match item.as_str() {
                Some(EVERY_OTHER) => entries.push(WaveEntry::EveryOther(item.span.clone())),
                Some(name) => entries.push(WaveEntry::Member(name.to_string(), item.span.clone())),
                None => self.wrong_type(
                    item,
                    &join(at, "members"),
                    "a member name",
                    "name members as strings",
                ),
            }
        }
        let max_parallel = match node.get("max_parallel").filter(|n| !n.is_null()) {
            None => 1,
            Some(n) => match n.kind {
                NodeKind::Int(i) if i >= 1 => i as usize,
                _ => {
                    self.wrong_type(
                        n,
                        &join(at, "max_parallel"),
                        "a whole number of at least 1",
                        "e.g. `max_parallel: 2`",
                    );
                    1
                }
            },
        };
        Some(Wave {
            entries,
            max_parallel,
            span: node.span.clone(),
        })
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn place(at: &str) -> String {
    if at.is_empty() {
        "the fleet file".to_string()
    } else {
        format!("`{at}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = "fleet: mesh-prod
trust:
  stack: stacks/mesh-trust.yaml
  vars: {region: us-east-1}
clusters:
  stack: stacks/mesh-cluster.yaml
  vars: {mesh_id: mesh-prod}
  members:
    staging-eu:
      vars: {cluster_name: staging-eu, network: net-eu}
      kubernetes: {eks_cluster: staging-eu}
    prod-eu-1:
      vars: {cluster_name: prod-eu-1, network: net-eu}
      kubernetes: {kubeconfig: kube/prod.yaml, context: prod-eu-1}
    prod-us-1:
      vars: {cluster_name: prod-us-1, network: net-us}
    prod-us-2:
      vars: {cluster_name: prod-us-2, network: net-us}
rollout:
  waves:
    - members: [staging-eu]
    - members: [prod-eu-1, prod-us-1]
      max_parallel: 2
    - members: [\"*\"]
  gates: [verify]
";

    fn load(text: &str) -> (Option<Fleet>, Diagnostics) {
        load_str(Path::new("fleets/mesh-prod.yaml"), text)
    }

    #[test]
    fn the_example_loads_with_paths_relative_to_the_fleet_file() {
        let (fleet, diags) = load(EXAMPLE);
        let fleet = fleet.unwrap_or_else(|| panic!("{diags}"));
        assert_eq!(fleet.name, "mesh-prod");
        assert_eq!(
            fleet.trust.stack,
            Path::new("fleets/stacks/mesh-trust.yaml")
        );
        assert_eq!(fleet.gates, vec![Gate::Verify]);
        let k = fleet.members["prod-eu-1"].kubernetes.as_ref().unwrap();
        assert_eq!(
            k.get("kubeconfig").unwrap().as_str(),
            Some("fleets/kube/prod.yaml")
        );
        assert_eq!(
            fleet.members["staging-eu"].vars["network"].value,
            Value::from("net-eu")
        );
    }

    #[test]
    fn waves_expand_the_star_to_every_member_named_nowhere_else() {
        let (fleet, _) = load(EXAMPLE);
        let waves = fleet.unwrap().waves();
        let names: Vec<Vec<&str>> = waves
            .iter()
            .map(|w| w.members.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["staging-eu"],
                vec!["prod-eu-1", "prod-us-1"],
                vec!["prod-us-2"]
            ]
        );
        assert_eq!(
            waves.iter().map(|w| w.max_parallel).collect::<Vec<_>>(),
            vec![1, 2, 1]
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line_and_a_suggestion() {
        let text = EXAMPLE.replace("  gates:", "  gatez:");
        let (_, diags) = load(&text);
        assert!(diags.has_errors());
        let d = diags
            .iter()
            .find(|d| d.code == "fleet::unknown_key")
            .unwrap();
        assert_eq!(d.span.as_ref().unwrap().line, 25);
        assert_eq!(d.help.as_deref(), Some("did you mean `gates`?"));
    }

    #[test]
    fn a_member_connection_is_one_of_eks_or_kubeconfig() {
        let text = EXAMPLE.replace(
            "kubernetes: {eks_cluster: staging-eu}",
            "kubernetes: {eks_cluster: staging-eu, context: x}",
        );
        let (_, diags) = load(&text);
        assert!(
            diags
                .iter()
                .any(|d| d.code == "fleet::conflicting_connection"),
            "{diags}"
        );
    }

    #[test]
    fn a_file_is_a_fleet_by_its_top_level_key() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = dir.path().join("f.yaml");
        std::fs::write(&fleet, EXAMPLE).unwrap();
        let stack = dir.path().join("s.yaml");
        std::fs::write(&stack, "stack: s\nresources: {}\n").unwrap();
        assert!(is_fleet_file(&fleet));
        assert!(!is_fleet_file(&stack));
    }
}
