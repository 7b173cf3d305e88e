//! Reports for tools. A lone stack prints its document as it always has (a plan as in
//! docs/json-plan.md); several print `{"sections": [{"name", "report"}, ...]}`.

use serde_json::{json, Value as Json};

use super::Section;
use crate::ops::drift::DriftReport;
use crate::plan::json::plan_json;
use crate::plan::Plan;

pub fn plan(sections: &[Section<'_, Plan>]) -> String {
    document(sections, plan_json)
}

pub fn drift(sections: &[Section<'_, DriftReport>]) -> String {
    document(sections, drift_json)
}

/// A drift report: each drifted resource with its changed paths, stored and live values
/// masked.
pub fn drift_json(report: &DriftReport) -> Json {
    json!({
        "stack": report.stack,
        "workspace": report.workspace,
        "drifted": !report.drifts.is_empty(),
        "resources": report.drifts,
    })
}

fn document<R>(sections: &[Section<'_, R>], one: impl Fn(&R) -> Json) -> String {
    let doc = match sections {
        [Section { name: None, report }] => one(report),
        _ => json!({
            "sections": sections
                .iter()
                .map(|s| json!({"name": s.name, "report": one(s.report)}))
                .collect::<Vec<_>>(),
        }),
    };
    format!("{}\n", serde_json::to_string_pretty(&doc).expect("json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::drift_report;

    #[test]
    fn a_lone_stack_prints_its_document_and_a_fleet_one_section_per_member() {
        let (eu, us) = (drift_report("mesh", 2, 1), drift_report("mesh", 1, 0));
        let single: Json = serde_json::from_str(&drift(&[Section::single(&eu)])).unwrap();
        assert_eq!(single, drift_json(&eu));
        assert_eq!(single["drifted"], true);
        let fleet: Json = serde_json::from_str(&drift(&[
            Section::named("eu", &eu),
            Section::named("us", &us),
        ]))
        .unwrap();
        assert_eq!(fleet["sections"][0]["name"], "eu");
        assert_eq!(fleet["sections"][0]["report"], drift_json(&eu));
        assert_eq!(fleet["sections"][1]["report"]["drifted"], false);
    }
}
