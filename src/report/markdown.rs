//! Reports for pull-request comments and job summaries: the summary line first (counts,
//! cost), then one collapsed `<details>` section per resource with its attribute diff
//! in a `diff` block. Past [`RenderParams::max_bytes`] the summary stays whole and the
//! resource sections that do not fit are left out, counted, with a pointer to the full
//! report.

use std::fmt::Write;

use super::entries::{as_diff, drift_entries, plan_entries, Entry};
use super::{RenderParams, Section};
use crate::cost::{CostChange, PRICES_CHECKED};
use crate::ops::drift::DriftReport;
use crate::plan::{Plan, Summary};

pub fn plan(sections: &[Section<'_, Plan>], params: &RenderParams) -> String {
    let mut total = Summary::default();
    let mut cost = CostChange::default();
    for s in sections {
        total += s.report.summary();
        add_cost(&mut cost, &crate::cost::plan_cost(s.report));
    }
    let changes = sections.iter().any(|s| s.report.has_changes());
    let mut head = if changes {
        format!("**{}**", total.line())
    } else {
        "**No changes.** The live infrastructure matches the stack.".to_string()
    };
    if let Some(line) = cost.line() {
        let _ = write!(
            head,
            " Cost: {line} (AWS Private CA list prices of {PRICES_CHECKED})."
        );
    }
    head.push_str("\n\n");
    for s in sections {
        let plan = s.report;
        let what = if plan.has_changes() {
            plan.summary().line()
        } else {
            "No changes.".to_string()
        };
        context_line(&mut head, s.name, &plan.stack, &plan.workspace, &what);
    }
    let members: Vec<(Option<&str>, Vec<Entry>)> = sections
        .iter()
        .map(|s| (s.name, plan_entries(s.report)))
        .collect();
    document(head, &members, params)
}

pub fn drift(sections: &[Section<'_, DriftReport>], params: &RenderParams) -> String {
    let drifted: usize = sections.iter().map(|s| s.report.drifts.len()).sum();
    let checked: usize = sections.iter().map(|s| s.report.checked.len()).sum();
    let mut cost = CostChange::default();
    for s in sections {
        add_cost(&mut cost, &s.report.cost);
    }
    let mut head = if drifted == 0 {
        format!(
            "**No drift:** {} in state {} what is live.",
            resources(checked),
            if checked == 1 { "matches" } else { "match" }
        )
    } else {
        format!(
            "**Drift: {drifted} of {} changed or deleted outside trustplane.**",
            resources(checked)
        )
    };
    if let Some(line) = cost.line() {
        let _ = write!(
            head,
            " Running cost of the CAs in state: {}.",
            line.trim_start_matches('+')
        );
    }
    head.push_str("\n\n");
    for s in sections {
        let r = s.report;
        let what = format!(
            "{} of {} drifted.",
            r.drifts.len(),
            resources(r.checked.len())
        );
        context_line(&mut head, s.name, &r.stack, &r.workspace, &what);
    }
    let members: Vec<(Option<&str>, Vec<Entry>)> = sections
        .iter()
        .map(|s| (s.name, drift_entries(s.report)))
        .collect();
    document(head, &members, params)
}

pub(super) fn resources(n: usize) -> String {
    format!("{n} resource{}", if n == 1 { "" } else { "s" })
}

/// `Stack `hello`, workspace `default`.` for a lone stack; a list item per member in a
/// fleet.
fn context_line(out: &mut String, name: Option<&str>, stack: &str, workspace: &str, what: &str) {
    match name {
        None => {
            let _ = writeln!(out, "Stack {}, workspace {}.", code(stack), code(workspace));
        }
        Some(name) => {
            let _ = writeln!(
                out,
                "- {} (stack {}, workspace {}): {what}",
                code(name),
                code(stack),
                code(workspace)
            );
        }
    }
}

/// The head, then each member's resource sections (under its name in a fleet) while
/// they fit, then how many were left out.
pub(super) fn document(
    head: String,
    members: &[(Option<&str>, Vec<Entry>)],
    params: &RenderParams,
) -> String {
    let total: usize = members.iter().map(|(_, e)| e.len()).sum();
    let blocks: Vec<(Option<&str>, String)> = members
        .iter()
        .flat_map(|(name, entries)| entries.iter().map(move |e| (*name, details(e))))
        .collect();
    let heading = |name: &str| format!("\n#### {}\n", code(name));
    let whole = head.len()
        + blocks.iter().map(|(_, b)| b.len()).sum::<usize>()
        + members
            .iter()
            .filter(|(_, e)| !e.is_empty())
            .filter_map(|(n, _)| n.map(|n| heading(n).len()))
            .sum::<usize>();
    let limit = params.max_bytes.filter(|max| whole > *max);
    // Room kept for the notice, sized for the largest counts it can print.
    let reserve = limit.map_or(0, |max| {
        notice(total, total, max, &params.full_report).len()
    });
    let mut out = head;
    let mut shown = 0;
    let mut last: Option<&str> = None;
    for &(name, ref block) in &blocks {
        let title = match name {
            Some(n) if last != Some(n) => heading(n),
            _ => String::new(),
        };
        if let Some(max) = limit {
            if out.len() + title.len() + block.len() + reserve > max {
                break;
            }
        }
        out.push_str(&title);
        out.push_str(block);
        last = name;
        shown += 1;
    }
    if let Some(max) = limit {
        out.push_str(&notice(total - shown, total, max, &params.full_report));
    }
    out
}

fn notice(left_out: usize, total: usize, max: usize, full_report: &str) -> String {
    format!(
        "\n**{left_out} of {} left out** to keep this report within {max} bytes. \
         The full report: {full_report}.\n",
        resources(total)
    )
}

/// One collapsed resource section: its headline, then its diff.
fn details(e: &Entry) -> String {
    let diff = as_diff(&e.body);
    let fence = "`".repeat(longest_backtick_run(&diff).max(2) + 1);
    let mut out = format!(
        "\n<details><summary><code>{}</code></summary>\n\n",
        html(&e.headline)
    );
    if diff.is_empty() {
        out.push_str("No attribute changes to show.\n");
    } else {
        let _ = write!(out, "{fence}diff\n{diff}{fence}\n");
    }
    out.push_str("\n</details>\n");
    out
}

/// A fence longer than any run of backticks inside cannot be closed by the content.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Text inside HTML tags.
pub(super) fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline code that its content cannot end early.
pub(super) fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

pub(super) fn add_cost(total: &mut CostChange, c: &CostChange) {
    for (label, n) in &c.counts {
        *total.counts.entry(label).or_default() += n;
    }
    total.usd_per_month += c.usd_per_month;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::FieldChange;
    use crate::plan::render::Style;
    use crate::report::testing::drift_report;
    use crate::value::Value;

    fn params(max_bytes: Option<usize>) -> RenderParams {
        RenderParams {
            style: Style { color: false },
            max_bytes,
            full_report: "run it again with `--max-bytes 0`".into(),
        }
    }

    #[test]
    fn every_resource_gets_a_collapsed_diff_under_the_summary_line() {
        let report = drift_report("site", 4, 2);
        let md = drift(&[Section::single(&report)], &params(Some(60_000)));
        assert!(
            md.starts_with("**Drift: 2 of 4 resources changed or deleted outside trustplane.**\n\nStack `site`, workspace `default`.\n"),
            "{md}"
        );
        assert!(
            md.contains(
                "<details><summary><code>~ file_000 (core.file) changed</code></summary>\n\n```diff\n! content = <<-\n-     line 0\n+     edited 0\n       same\n```\n\n</details>\n"
            ),
            "{md}"
        );
        assert_eq!(md.matches("<details>").count(), 2, "{md}");
        assert!(!md.contains("left out"), "{md}");
    }

    #[test]
    fn past_the_limit_the_summary_stays_and_left_out_sections_are_counted() {
        let report = drift_report("site", 300, 300);
        let whole = drift(&[Section::single(&report)], &params(None));
        assert_eq!(whole.matches("<details>").count(), 300);
        for max in [3_000, 10_000, whole.len() - 1] {
            let md = drift(&[Section::single(&report)], &params(Some(max)));
            assert!(md.len() <= max, "{} > {max}", md.len());
            assert!(md.starts_with("**Drift: 300 of 300 resources"), "{md}");
            let shown = md.matches("<details>").count();
            assert!(shown > 0 && shown < 300, "{shown}");
            assert!(
                md.ends_with(&format!(
                    "\n**{} of 300 resources left out** to keep this report within {max} bytes. The full report: run it again with `--max-bytes 0`.\n",
                    300 - shown
                )),
                "{}",
                &md[md.len() - 300..]
            );
        }
        let fits = drift(&[Section::single(&report)], &params(Some(whole.len())));
        assert_eq!(fits, whole);
    }

    #[test]
    fn a_summary_larger_than_the_limit_is_kept_whole() {
        let report = drift_report("site", 3, 3);
        let md = drift(&[Section::single(&report)], &params(Some(10)));
        assert!(md.starts_with("**Drift: 3 of 3 resources"), "{md}");
        assert!(md.contains("**3 of 3 resources left out**"), "{md}");
    }

    #[test]
    fn a_fleet_sums_its_members_and_heads_each_members_sections() {
        let (eu, us) = (drift_report("mesh", 3, 1), drift_report("mesh", 2, 0));
        let md = drift(
            &[Section::named("eu", &eu), Section::named("us", &us)],
            &params(None),
        );
        assert!(md.starts_with("**Drift: 1 of 5 resources changed"), "{md}");
        assert!(
            md.contains("- `eu` (stack `mesh`, workspace `default`): 1 of 3 resources drifted.\n- `us` (stack `mesh`, workspace `default`): 0 of 2 resources drifted.\n"),
            "{md}"
        );
        assert_eq!(md.matches("\n#### `eu`\n").count(), 1, "{md}");
        assert!(!md.contains("#### `us`"), "{md}");
    }

    #[test]
    fn secrets_show_masked_and_content_cannot_break_out_of_its_block() {
        let mut report = drift_report("site", 1, 1);
        report.drifts[0].changes = vec![
            FieldChange {
                path: "token".into(),
                before: Some(Value::Redacted("d1g35t0ld".into())),
                after: Some(Value::Redacted("d1g35tn3w".into())),
            },
            FieldChange {
                path: "content".into(),
                before: Some(Value::from("```\n</details>\n")),
                after: Some(Value::from("x\n")),
            },
        ];
        let md = drift(&[Section::single(&report)], &params(None));
        assert!(
            md.contains("! token   = (sensitive) -> (sensitive)"),
            "{md}"
        );
        assert!(!md.contains("d1g35t"), "{md}");
        assert!(md.contains("\n````diff\n"), "{md}");
        assert_eq!(md.matches("</details>").count(), 2, "{md}");
    }
}
