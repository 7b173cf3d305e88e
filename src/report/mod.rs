//! Plan and drift reports in the forms pipelines read: text for logs, JSON for tools,
//! Markdown for pull-request comments and job summaries, JUnit XML for test views.
//!
//! Every renderer takes a list of [`Section`]s, one per stack run: a single stack's
//! report is one section without a name ([`Section::single`]); a fleet's is one named
//! section per member ([`Section::named`]), and renders as one document — one summary
//! over all members in Markdown, one test suite per member in JUnit. [`fleet`] adds what
//! only a fleet has: its table, its totals and the members that failed. Renderers only
//! format; [`step_summary`] is the one place that writes a file.

mod entries;
pub mod fleet;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod step_summary;
pub mod text;

use crate::ops::drift::DriftReport;
use crate::plan::render::Style;
use crate::plan::Plan;

/// How a report is printed (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people, in a terminal or a log.
    Text,
    /// For tools (plan: docs/json-plan.md).
    Json,
    /// For pull-request comments and job summaries.
    Markdown,
    /// JUnit XML, for the test view of a CI system (drift only).
    Junit,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
        }
    }
}

/// One stack's report within a document.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a, R> {
    /// The member's name in a fleet; `None` for a lone stack.
    pub name: Option<&'a str>,
    pub report: &'a R,
}

impl<'a, R> Section<'a, R> {
    pub fn single(report: &'a R) -> Self {
        Section { name: None, report }
    }

    pub fn named(name: &'a str, report: &'a R) -> Self {
        Section {
            name: Some(name),
            report,
        }
    }
}

/// A member of a fleet whose report could not be made: its name and why, as plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed<'a> {
    pub name: &'a str,
    pub error: String,
}

/// What the renderers need besides the reports.
#[derive(Debug, Clone)]
pub struct RenderParams {
    /// Colours for text.
    pub style: Style,
    /// Markdown: the most bytes the document may take (`None`: no limit). The summary
    /// is always kept; resource sections past the limit are left out and counted.
    pub max_bytes: Option<usize>,
    /// Markdown: where the whole report is when sections were left out, said after
    /// "The full report:" (e.g. "run the same command with `--max-bytes 0`").
    pub full_report: String,
}

/// A format a report has no form in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`--format {}` is not available for {what}: {why}", format.name())]
pub struct Unsupported {
    pub what: &'static str,
    pub format: Format,
    pub why: &'static str,
}

/// A plan in `format`. A plan has no JUnit form: its changes are intended, not
/// failures.
pub fn plan(
    format: Format,
    sections: &[Section<'_, Plan>],
    params: &RenderParams,
) -> Result<String, Unsupported> {
    check_plan_format(format)?;
    Ok(match format {
        Format::Text => text::plan(sections, params.style),
        Format::Json => json::plan(sections),
        Format::Markdown => markdown::plan(sections, params),
        Format::Junit => unreachable!("refused above"),
    })
}

/// Refuses, before any work, a format a plan cannot be printed in.
pub fn check_plan_format(format: Format) -> Result<(), Unsupported> {
    match format {
        Format::Junit => Err(Unsupported {
            what: "a plan",
            format,
            why: "JUnit reports failures, and planned changes are intended; use \
                  `--format markdown` for review or `--format json` for tools \
                  (`trustplane drift --format junit` reports drift as failing tests)",
        }),
        _ => Ok(()),
    }
}

/// A drift report in `format`; every format is available.
pub fn drift(
    format: Format,
    sections: &[Section<'_, DriftReport>],
    params: &RenderParams,
) -> String {
    match format {
        Format::Text => text::drift(sections, params.style),
        Format::Json => json::drift(sections),
        Format::Markdown => markdown::drift(sections, params),
        Format::Junit => junit::drift(sections),
    }
}

/// Reports made up for the renderers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::cost::CostChange;
    use crate::ops::drift::{Checked, DriftReport};
    use crate::plan::diff::FieldChange;
    use crate::plan::refresh::Drift;
    use crate::value::Value;

    /// `checked` files in state, the first `drifted` of them with their content edited
    /// (every third deleted instead).
    pub fn drift_report(stack: &str, checked: usize, drifted: usize) -> DriftReport {
        let address = |i: usize| format!("file_{i:03}");
        DriftReport {
            stack: stack.into(),
            workspace: "default".into(),
            drifts: (0..drifted)
                .map(|i| Drift {
                    address: address(i),
                    type_name: "core.file".into(),
                    gone: i % 3 == 2,
                    changes: if i % 3 == 2 {
                        vec![]
                    } else {
                        vec![FieldChange {
                            path: "content".into(),
                            before: Some(Value::from(format!("line {i}\nsame\n"))),
                            after: Some(Value::from(format!("edited {i}\nsame\n"))),
                        }]
                    },
                })
                .collect(),
            checked: (0..checked)
                .map(|i| Checked {
                    address: address(i),
                    type_name: "core.file".into(),
                })
                .collect(),
            cost: CostChange::default(),
        }
    }
}
