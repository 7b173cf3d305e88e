//! Checks of a fleet that need no provider: waves name members that exist, once each; both
//! stacks exist and are valid; every variable the fleet sets is one its stack declares;
//! every required variable of the cluster tier has a value for each member; and the PKI
//! across tiers ([`super::pki`]). Each error names file:line and what to do.

use std::collections::{BTreeMap, BTreeSet};

use super::file::{Fleet, Tier, WaveEntry};
use crate::config::{load_file, Stack};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::graph::DependencyGraph;
use crate::provider::Registry;
use crate::value::Value;

/// Both tiers' stacks, loaded.
pub struct Stacks {
    pub trust: Stack,
    pub cluster: Stack,
}

/// Every check of a fleet; the stacks when both loaded without errors.
pub fn validate(fleet: &Fleet, registry: &Registry) -> (Option<Stacks>, Diagnostics) {
    let mut diags = Diagnostics::new();
    check_waves(fleet, &mut diags);
    let trust = load_tier(&fleet.trust, "trust", registry, &mut diags);
    let cluster = load_tier(&fleet.clusters, "clusters", registry, &mut diags);
    if let Some(trust) = &trust {
        check_declared(&fleet.trust, "trust.vars", trust, &mut diags);
    }
    if let Some(cluster) = &cluster {
        check_declared(&fleet.clusters, "clusters.vars", cluster, &mut diags);
        for m in fleet.members.values() {
            let tier = Tier {
                vars: m.vars.clone(),
                ..fleet.clusters.clone()
            };
            check_declared(
                &tier,
                &format!("clusters.members.{}.vars", m.name),
                cluster,
                &mut diags,
            );
        }
    }
    if let (Some(trust), Some(cluster)) = (&trust, &cluster) {
        check_required(fleet, trust, cluster, &mut diags);
        check_outputs_used(fleet, trust, cluster, &mut diags);
        let trust_vars = tier_variables(&fleet.trust, trust);
        diags.extend(super::pki::check(trust, &trust_vars, cluster));
    }
    let stacks = match (trust, cluster) {
        (Some(trust), Some(cluster)) if !diags.has_errors() => Some(Stacks { trust, cluster }),
        _ => None,
    };
    (stacks, diags)
}

/// The trust tier's variables as the fleet gives them, over the stack's defaults.
pub fn tier_variables(tier: &Tier, stack: &Stack) -> BTreeMap<String, Value> {
    let mut vars = crate::checks::default_variables(stack);
    for (k, v) in &tier.vars {
        vars.insert(k.clone(), v.value.clone());
    }
    vars
}

fn check_waves(fleet: &Fleet, diags: &mut Diagnostics) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut every_other: Option<usize> = None;
    let names = || fleet.members.keys().map(String::as_str);
    for (i, wave) in fleet.waves.iter().enumerate() {
        let number = i + 1;
        for entry in &wave.entries {
            match entry {
                WaveEntry::EveryOther(span) => {
                    if let Some(first) = every_other {
                        diags.push(
                            Diagnostic::error(
                                "fleet::every_other_twice",
                                format!(
                                    "wave {number} names `*` again (wave {first} already takes every member not named elsewhere)"
                                ),
                            )
                            .with_span(span.clone())
                            .with_field(format!("rollout.waves[{i}].members"))
                            .with_help("keep `*` in one wave, usually the last"),
                        );
                    }
                    every_other.get_or_insert(number);
                }
                WaveEntry::Member(name, span) => {
                    if !fleet.members.contains_key(name) {
                        let mut d = Diagnostic::error(
                            "fleet::unknown_member",
                            format!("wave {number} names `{name}`, which is not a member"),
                        )
                        .with_span(span.clone())
                        .with_field(format!("rollout.waves[{i}].members"))
                        .with_detail(format!(
                            "the members are: {}",
                            names().collect::<Vec<_>>().join(", ")
                        ));
                        d = match did_you_mean(name, names()) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(
                                "add it under `clusters.members`, or remove it from the wave",
                            ),
                        };
                        diags.push(d);
                    } else if let Some(first) = seen.insert(name, number) {
                        diags.push(
                            Diagnostic::error(
                                "fleet::member_in_two_waves",
                                format!(
                                    "member `{name}` is in wave {first} and again in wave {number}"
                                ),
                            )
                            .with_span(span.clone())
                            .with_field(format!("rollout.waves[{i}].members"))
                            .with_detail("a member is rolled out once, in one wave")
                            .with_help(format!("remove `{name}` from one of the two waves")),
                        );
                    }
                }
            }
        }
    }
    if fleet.waves.is_empty() || every_other.is_some() {
        return;
    }
    for m in fleet.members.values() {
        if !seen.contains_key(m.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    "fleet::member_in_no_wave",
                    format!(
                        "member `{}` is in no wave, so it would never be rolled out",
                        m.name
                    ),
                )
                .with_span(m.span.clone())
                .with_field(format!("clusters.members.{}", m.name))
                .with_help(format!(
                    "add `{}` to a wave, or end the waves with `- members: [\"*\"]`",
                    m.name
                )),
            );
        }
    }
}

fn load_tier(tier: &Tier, at: &str, registry: &Registry, diags: &mut Diagnostics) -> Option<Stack> {
    if !tier.stack.is_file() {
        diags.push(
            Diagnostic::error(
                "fleet::missing_stack",
                format!(
                    "the {at} tier's stack {} does not exist",
                    tier.stack.display()
                ),
            )
            .with_span(tier.stack_span.clone())
            .with_field(format!("{at}.stack"))
            .with_detail("stack paths are relative to the fleet file's directory")
            .with_help("fix the path, or create the stack file"),
        );
        return None;
    }
    let (stack, stack_diags) = load_file(&tier.stack, registry);
    diags.extend(stack_diags);
    let stack = stack?;
    if let Some(state) = &stack.state {
        // Member states sit under the fleet's state root, one per member; a stack's own
        // S3 block would put the trust tier and every member in places the fleet's
        // record and status do not look.
        diags.push(
            Diagnostic::error(
                "fleet::stack_state_block",
                format!(
                    "the {at} tier's stack {} names its own state (`state: s3`), which a fleet does not use",
                    tier.stack.display()
                ),
            )
            .with_span(state.span.clone())
            .with_field("state")
            .with_detail("a fleet keeps the trust tier's and each member's state under its state root (`--state DIR`, default `state`)")
            .with_help("remove the `state:` block from the stack used by the fleet; to keep the fleet's states in S3, give the fleet commands `--state s3://BUCKET/PREFIX`"),
        );
        return None;
    }
    let (_, cycles) = DependencyGraph::from_stack(&stack);
    let failed = cycles.has_errors();
    diags.extend(cycles);
    (!failed).then_some(stack)
}

fn check_declared(tier: &Tier, at: &str, stack: &Stack, diags: &mut Diagnostics) {
    let declared = || stack.variables.keys().map(String::as_str);
    for (name, var) in &tier.vars {
        if stack.variables.contains_key(name) {
            continue;
        }
        let mut d = Diagnostic::error(
            "fleet::undeclared_variable",
            format!(
                "`{at}` sets `{name}`, which stack {} does not declare",
                stack.name
            ),
        )
        .with_span(var.span.clone())
        .with_field(format!("{at}.{name}"))
        .with_detail(format!(
            "{} declares: {}",
            stack.file.display(),
            declared().collect::<Vec<_>>().join(", ")
        ));
        d = match did_you_mean(name, declared()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "remove it, or declare it under `variables:` in {}",
                stack.file.display()
            )),
        };
        diags.push(d);
    }
}

/// A required variable of the cluster stack (no default) must come from the trust tier's
/// outputs, the common vars or the member's own.
fn check_required(fleet: &Fleet, trust: &Stack, cluster: &Stack, diags: &mut Diagnostics) {
    for (name, decl) in &cluster.variables {
        if decl.default.is_some()
            || trust.outputs.contains_key(name)
            || fleet.clusters.vars.contains_key(name)
        {
            continue;
        }
        for m in fleet.members.values() {
            if m.vars.contains_key(name) {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    "fleet::missing_variable",
                    format!(
                        "member `{}` gives no value for `{name}`, which stack {} requires",
                        m.name, cluster.name
                    ),
                )
                .with_span(m.span.clone())
                .with_field(format!("clusters.members.{}.vars", m.name))
                .with_detail(format!(
                    "`{name}` has no default in {} and is not an output of the trust tier",
                    cluster.file.display()
                ))
                .with_help(format!(
                    "set it in the member's `vars:` (or in `clusters.vars` for every member): `{name}: ...`"
                )),
            );
        }
    }
}

/// A trust output the cluster stack does not declare reaches no member: worth a word.
fn check_outputs_used(fleet: &Fleet, trust: &Stack, cluster: &Stack, diags: &mut Diagnostics) {
    let unused: BTreeSet<&str> = trust
        .outputs
        .keys()
        .filter(|o| !cluster.variables.contains_key(*o))
        .map(String::as_str)
        .collect();
    for name in unused {
        diags.push(
            Diagnostic::warning(
                "fleet::output_not_used",
                format!(
                    "the trust tier's output `{name}` reaches no member: stack {} declares no variable `{name}`",
                    cluster.name
                ),
            )
            .with_span(trust.outputs[name].span.clone())
            .with_help(format!(
                "declare `{name}` in {} to use it, or ignore this",
                fleet.clusters.stack.display()
            )),
        );
    }
}
