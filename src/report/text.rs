//! Reports for people in a terminal or a log: the plan and drift renderers of
//! [`crate::plan::render`], one after another under each member's name in a fleet.

use super::Section;
use crate::ops::drift::DriftReport;
use crate::plan::render::{render_drift, render_plan, Style};
use crate::plan::Plan;

pub fn plan(sections: &[Section<'_, Plan>], style: Style) -> String {
    each(sections, style, |plan| render_plan(plan, style))
}

pub fn drift(sections: &[Section<'_, DriftReport>], style: Style) -> String {
    each(sections, style, |report| {
        let mut out = render_drift(&report.drifts, style);
        if let Some(total) = report.cost.line() {
            out.push_str(&format!(
                "Running cost of the CAs in state: {}\n",
                total.trim_start_matches('+')
            ));
        }
        out
    })
}

fn each<R>(sections: &[Section<'_, R>], style: Style, one: impl Fn(&R) -> String) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if let Some(name) = section.name {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&style.bold(&format!("== {name} ==")));
            out.push('\n');
        }
        out.push_str(&one(section.report));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::drift_report;

    #[test]
    fn members_of_a_fleet_print_under_their_names() {
        let style = Style { color: false };
        let (eu, us) = (drift_report("mesh", 2, 1), drift_report("mesh", 1, 0));
        let lone = drift(&[Section::single(&eu)], style);
        assert_eq!(lone, render_drift(&eu.drifts, style));
        let fleet = drift(
            &[Section::named("eu", &eu), Section::named("us", &us)],
            style,
        );
        assert_eq!(
            fleet,
            format!(
                "== eu ==\n{lone}\n== us ==\nNo drift: everything in state matches what is live.\n"
            )
        );
    }
}
