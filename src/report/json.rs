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
