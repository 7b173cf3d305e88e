//! What Markdown and JUnit share: each resource of a report as a headline and the
//! lines of its attribute diff, taken from the text renderers (so secrets are masked by
//! the same code as everywhere), and those lines as a unified diff.

use crate::ops::drift::DriftReport;
use crate::plan::render::{render_change, render_drift_entry, Style};
use crate::plan::Plan;

/// One resource in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub address: String,
    pub type_name: String,
    /// `~ site (core.file) will be updated in place`.
    pub headline: String,
    /// The attribute diff, one line each, indented as in the text form.
    pub body: Vec<String>,
}

const PLAIN: Style = Style { color: false };

/// The changes of `plan` that do anything, in plan order.
pub fn plan_entries(plan: &Plan) -> Vec<Entry> {
    plan.changes
        .iter()
        .filter(|c| c.has_effect())
        .map(|c| {
            let mut text = String::new();
            render_change(&mut text, c, &plan.lineage, PLAIN);
            entry(&c.address, &c.type_name, &text)
        })
        .collect()
}

/// The drifted resources of `report`, in address order.
pub fn drift_entries(report: &DriftReport) -> Vec<Entry> {
    report
        .drifts
        .iter()
        .map(|d| {
            let mut text = String::new();
            render_drift_entry(&mut text, d, PLAIN);
            entry(&d.address, &d.type_name, &text)
        })
        .collect()
}

fn entry(address: &str, type_name: &str, text: &str) -> Entry {
    let mut lines = text.lines();
    let headline = lines.next().unwrap_or_default().trim().to_string();
    Entry {
        address: address.to_string(),
        type_name: type_name.to_string(),
        headline,
        body: lines.map(str::to_string).collect(),
    }
}

/// The indentation of a resource's attribute lines in the text form.
const BODY_INDENT: usize = 6;

/// `body` as a unified diff: each line's marker moved to the first column, where diff
/// highlighters look for it (`~` becomes `!`, which GitHub colours as a change), the
/// nesting kept after it.
pub fn as_diff(body: &[String]) -> String {
    let mut out = String::new();
    for line in body {
        let line = line.strip_prefix(&" ".repeat(BODY_INDENT)).unwrap_or(line);
        let rest = line.trim_start_matches(' ');
        let indent = &line[..line.len() - rest.len()];
        let marker = ["+ ", "- ", "~ "]
            .iter()
            .find(|m| rest.starts_with(**m) || rest == m.trim_end());
        match marker {
            Some(m) => {
                let glyph = if m.starts_with('~') {
                    '!'
                } else {
                    m.as_bytes()[0] as char
                };
                let text = rest.get(2..).unwrap_or("");
                out.push(glyph);
                out.push_str(indent);
                out.push(' ');
                out.push_str(text);
            }
            None => {
                out.push(' ');
                out.push_str(line);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn markers_move_to_the_first_column_and_nesting_stays() {
        let body = lines(
            "      ~ tags = {\n          ~ c = \"3\" -> \"30\"\n          - d = \"4\"\n            # (2 unchanged attributes hidden)\n        }\n      + path = \"f\"",
        );
        assert_eq!(
            as_diff(&body),
            "! tags = {\n!     c = \"3\" -> \"30\"\n-     d = \"4\"\n       # (2 unchanged attributes hidden)\n   }\n+ path = \"f\"\n"
        );
    }

    #[test]
    fn a_bare_marker_and_text_that_only_looks_like_one_are_told_apart() {
        let body = lines("          +\n      ~+x = 1");
        assert_eq!(as_diff(&body), "+     \n ~+x = 1\n");
    }
}
