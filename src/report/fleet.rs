//! A fleet's reports where a fleet needs a shape of its own: Markdown whose summary line
//! carries the fleet's totals, followed by the fleet table and then one section per unit
//! (the trust tier first, then each member in rollout order); JUnit with one test suite
//! per unit. A unit whose run failed is named in both, never silently left out.
//!
//! Text and JSON keep the fleet commands' own forms (the fleet table in text, the fleet
//! document of docs/cli.md in JSON); the renderers here build on [`super::markdown`] and
//! [`super::junit`], so resource sections, masking and the byte limit are the same as for
//! one stack.

use std::fmt::Write;

use super::markdown::{add_cost, code, document, html, resources};
use super::{junit, Failed, RenderParams, Section};
use crate::cost::{CostChange, PRICES_CHECKED};
use crate::fleet::drift::FleetDrift;
use crate::fleet::plan::FleetPlan;
use crate::ops::drift::DriftReport;
use crate::ops::OpsError;
use crate::plan::{Plan, Summary};

/// A unit of a fleet (a member, or the trust tier) as a report shows it.
#[derive(Debug, Clone)]
pub struct Unit<'a, R> {
    pub name: &'a str,
    /// `None` for the trust tier, which is applied before any wave.
    pub wave: Option<usize>,
    /// The unit's report, or why there is none (plain text).
    pub outcome: Result<R, String>,
}

/// A unit's plan and what the fleet table says beside it.
#[derive(Debug, Clone, Copy)]
pub struct PlannedUnit<'a> {
    pub plan: &'a Plan,
    /// Resources changed or deleted outside trustplane since the last apply.
    pub drift: usize,
    /// Some input is known only after the trust tier's apply.
    pub unknown_inputs: bool,
}

/// The units of a fleet plan, the trust tier first.
pub fn plan_units(plan: &FleetPlan) -> Vec<Unit<'_, PlannedUnit<'_>>> {
    let trust = Unit {
        name: crate::fleet::member::TRUST,
        wave: None,
        outcome: Ok(PlannedUnit {
            plan: &plan.trust.plan,
            drift: plan.trust.drift,
            unknown_inputs: false,
        }),
    };
    std::iter::once(trust)
        .chain(plan.members.iter().map(|m| {
            Unit {
                name: &m.name,
                wave: Some(m.wave),
                outcome: m
                    .outcome
                    .as_ref()
                    .map(|p| PlannedUnit {
                        plan: &p.plan,
                        drift: p.drift,
                        unknown_inputs: p.unit.unknown_inputs,
                    })
                    .map_err(error_text),
            }
        }))
        .collect()
}

/// The units of a fleet drift report, in its order (the trust tier first).
pub fn drift_units(report: &FleetDrift) -> Vec<Unit<'_, &DriftReport>> {
    report
        .units
        .iter()
        .map(|u| Unit {
            name: &u.name,
            wave: u.wave,
            outcome: u.result.as_ref().map_err(error_text),
        })
        .collect()
}

/// An operation's error as plain text (diagnostics rendered without colour).
fn error_text(e: &OpsError) -> String {
    match e {
        OpsError::Diagnostics(d) => crate::diag::render(d, false).trim_end().to_string(),
        other => format!("error: {other}"),
    }
}

/// A fleet plan for a pull-request comment: the totals and the fleet's CA cost, the fleet
/// table (with a total row), the members whose plan failed, then each unit's changes.
pub fn plan_markdown(
    fleet: &str,
    units: &[Unit<'_, PlannedUnit<'_>>],
    cost: Option<&str>,
    params: &RenderParams,
) -> String {
    let planned = || units.iter().filter_map(|u| u.outcome.as_ref().ok());
    let mut total = Summary::default();
    for p in planned() {
        total += p.plan.summary();
    }
    let failed = units.iter().filter(|u| u.outcome.is_err()).count();
    let mut head = if planned().any(|p| p.plan.has_changes()) {
        format!("**{}**", total.line())
    } else {
        "**No changes.** The live infrastructure matches the fleet's stacks.".to_string()
    };
    if failed > 0 {
        let _ = write!(head, " **{} failed to plan.**", members(failed));
    }
    if let Some(cost) = cost {
        let cost: Vec<&str> = cost.lines().map(str::trim).collect();
        let _ = write!(
            head,
            " {} (AWS Private CA list prices of {PRICES_CHECKED}).",
            cost.join("; ")
        );
    }
    let _ = write!(head, "\n\nFleet {}.\n\n", code(fleet));
    let mut rows = Vec::new();
    for u in units {
        let mut row = vec![code(u.name), wave(u.wave)];
        match &u.outcome {
            Ok(p) => {
                let s = p.plan.summary();
                row.extend([s.add, s.change, s.replace, s.destroy, p.drift].map(|n| n.to_string()));
            }
            Err(_) => row.extend([
                "plan failed".to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]),
        }
        rows.push(row);
    }
    let drift: usize = planned().map(|p| p.drift).sum();
    rows.push(vec![
        "**total**".into(),
        String::new(),
        total.add.to_string(),
        total.change.to_string(),
        total.replace.to_string(),
        total.destroy.to_string(),
        drift.to_string(),
    ]);
    head.push_str(&table(
        &[
            "Member", "Wave", "Add", "Change", "Replace", "Destroy", "Drift",
        ],
        &rows,
    ));
    if planned().any(|p| p.unknown_inputs) {
        head.push_str(
            "\nThe trust tier is not applied yet: member values taken from its outputs show as (known after apply).\n",
        );
    }
    failures(&mut head, units);
    let sections: Vec<(Option<&str>, Vec<super::entries::Entry>)> = units
        .iter()
        .filter_map(|u| {
            let p = u.outcome.as_ref().ok()?;
            Some((Some(u.name), super::entries::plan_entries(p.plan)))
        })
        .collect();
    document(head, &sections, params)
}

/// A fleet drift report for a job summary: how many resources drifted and where, the fleet
/// table, the units that could not be checked, then each drifted resource.
pub fn drift_markdown(
    fleet: &str,
    units: &[Unit<'_, &DriftReport>],
    params: &RenderParams,
) -> String {
    let checked_reports = || units.iter().filter_map(|u| u.outcome.as_ref().ok());
    let drifted: usize = checked_reports().map(|r| r.drifts.len()).sum();
    let checked: usize = checked_reports().map(|r| r.checked.len()).sum();
    let failed = units.iter().filter(|u| u.outcome.is_err()).count();
    let mut head = if drifted == 0 {
        format!(
            "**No drift:** {} in state {} what is live.",
            resources(checked),
            if checked == 1 { "matches" } else { "match" }
        )
    } else {
        let names: Vec<String> = units
            .iter()
            .filter(|u| u.outcome.as_ref().is_ok_and(|r| !r.drifts.is_empty()))
            .map(|u| code(u.name))
            .collect();
        format!(
            "**Drift: {drifted} of {} changed or deleted outside trustplane,** in {}.",
            resources(checked),
            names.join(", ")
        )
    };
    if failed > 0 {
        let _ = write!(head, " **{} could not be checked.**", members(failed));
    }
    let mut cost = CostChange::default();
    for r in checked_reports() {
        add_cost(&mut cost, &r.cost);
    }
    if let Some(line) = cost.line() {
        let _ = write!(
            head,
            " Running cost of the CAs in state: {}.",
            line.trim_start_matches('+')
        );
    }
    let _ = write!(head, "\n\nFleet {}.\n\n", code(fleet));
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| {
            let (drift, held) = match &u.outcome {
                Ok(r) => (r.drifts.len().to_string(), r.checked.len().to_string()),
                Err(_) => ("error".to_string(), String::new()),
            };
            vec![code(u.name), wave(u.wave), drift, held]
        })
        .collect();
    head.push_str(&table(&["Member", "Wave", "Drifted", "In state"], &rows));
    failures(&mut head, units);
    let sections: Vec<(Option<&str>, Vec<super::entries::Entry>)> = units
        .iter()
        .filter_map(|u| {
            let r = u.outcome.as_ref().ok()?;
            Some((Some(u.name), super::entries::drift_entries(r)))
        })
        .collect();
    document(head, &sections, params)
}

/// A fleet drift report as JUnit XML: one test suite per unit.
pub fn drift_junit(units: &[Unit<'_, &DriftReport>]) -> String {
    let units: Vec<Result<Section<'_, DriftReport>, Failed<'_>>> = units
        .iter()
        .map(|u| match &u.outcome {
            Ok(r) => Ok(Section::named(u.name, *r)),
            Err(e) => Err(Failed {
                name: u.name,
                error: e.clone(),
            }),
        })
        .collect();
    junit::fleet_drift(&units)
}

fn wave(wave: Option<usize>) -> String {
    wave.map_or("-".to_string(), |w| w.to_string())
}

fn members(n: usize) -> String {
    format!("{n} member{}", if n == 1 { "" } else { "s" })
}

/// The units that failed, each with the first line of its error (the text report has
/// the rest).
fn failures<R>(out: &mut String, units: &[Unit<'_, R>]) {
    let failed: Vec<(&str, &String)> = units
        .iter()
        .filter_map(|u| u.outcome.as_ref().err().map(|e| (u.name, e)))
        .collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("\n**Failed:**\n\n");
    for (name, error) in failed {
        let first = error.lines().next().unwrap_or_default();
        let _ = writeln!(out, "- {}: {}", code(name), html(first));
    }
}

/// A Markdown table; cells are given as Markdown.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::Style;
    use crate::report::testing::drift_report;

    fn params(max_bytes: Option<usize>) -> RenderParams {
        RenderParams {
            style: Style { color: false },
            max_bytes,
            full_report: "run it again with `--max-bytes 0`".into(),
        }
    }

    #[test]
    fn fleet_drift_names_where_it_drifted_tables_every_unit_and_heads_each_section() {
        let (trust, eu, us) = (
            drift_report("mesh-trust", 2, 0),
            drift_report("mesh", 3, 2),
            drift_report("mesh", 2, 0),
        );
        let units = [
            Unit {
                name: "(trust)",
                wave: None,
                outcome: Ok(&trust),
            },
            Unit {
                name: "eu",
                wave: Some(1),
                outcome: Ok(&eu),
            },
            Unit {
                name: "us",
                wave: Some(2),
                outcome: Ok(&us),
            },
            Unit {
                name: "ap",
                wave: Some(2),
                outcome: Err("error: cannot reach the cluster | twice\nmore".to_string()),
            },
        ];
        let md = drift_markdown("mesh-prod", &units, &params(None));
        assert!(
            md.starts_with("**Drift: 2 of 7 resources changed or deleted outside trustplane,** in `eu`. **1 member could not be checked.**\n\nFleet `mesh-prod`.\n\n| Member | Wave | Drifted | In state |\n|---|---|---|---|\n| `(trust)` | - | 0 | 2 |\n| `eu` | 1 | 2 | 3 |\n| `us` | 2 | 0 | 2 |\n| `ap` | 2 | error |  |\n"),
            "{md}"
        );
        assert!(
            md.contains("\n**Failed:**\n\n- `ap`: error: cannot reach the cluster | twice\n"),
            "{md}"
        );
        assert!(!md.contains("more"), "the first line only: {md}");
        assert_eq!(md.matches("\n#### `eu`\n").count(), 1, "{md}");
        assert_eq!(md.matches("<details>").count(), 2, "{md}");
        assert!(
            !md.contains("#### `us`") && !md.contains("#### `(trust)`"),
            "{md}"
        );
    }

    #[test]
    fn fleet_drift_within_the_limit_keeps_the_table_and_counts_what_it_left_out() {
        let (eu, us) = (
            drift_report("mesh", 200, 150),
            drift_report("mesh", 200, 150),
        );
        let units = [
            Unit {
                name: "eu",
                wave: Some(1),
                outcome: Ok(&eu),
            },
            Unit {
                name: "us",
                wave: Some(2),
                outcome: Ok(&us),
            },
        ];
        let md = drift_markdown("mesh-prod", &units, &params(Some(8_000)));
        assert!(md.len() <= 8_000, "{}", md.len());
        assert!(md.contains("| `us` | 2 | 150 | 200 |"), "{md}");
        let shown = md.matches("<details>").count();
        assert!(shown > 0 && shown < 300, "{shown}");
        assert!(
            md.contains(&format!("**{} of 300 resources left out**", 300 - shown)),
            "{md}"
        );
    }

    #[test]
    fn no_drift_anywhere_says_so_over_every_unit() {
        let (trust, eu) = (drift_report("mesh-trust", 1, 0), drift_report("mesh", 2, 0));
        let units = [
            Unit {
                name: "(trust)",
                wave: None,
                outcome: Ok(&trust),
            },
            Unit {
                name: "eu",
                wave: Some(1),
                outcome: Ok(&eu),
            },
        ];
        let md = drift_markdown("mesh-prod", &units, &params(None));
        assert!(
            md.starts_with("**No drift:** 3 resources in state match what is live.\n"),
            "{md}"
        );
        assert!(!md.contains("<details>") && !md.contains("Failed"), "{md}");
    }
}
