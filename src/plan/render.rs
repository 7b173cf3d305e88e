//! Plans and drift for people: one block per resource, attribute-level diffs, multi-line
//! strings diffed line by line.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

use super::diff::{field_changes, FieldChange};
use super::refresh::Drift;
use super::{Action, Plan, PlannedChange};
use crate::state::redact;
use crate::value::{Value, SENSITIVE_TEXT};

/// Terminal colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    fn action(&self, a: Action) -> String {
        match a {
            Action::Create => self.green(a.glyph()),
            Action::Update | Action::Read => self.yellow(a.glyph()),
            Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete => {
                self.red(a.glyph())
            }
            Action::NoOp => a.glyph().to_string(),
        }
    }
}

/// How a value prints: secrets (marked, or under a secret path) as `(sensitive)`.
fn show(v: &Value, sensitive: bool) -> String {
    if sensitive {
        SENSITIVE_TEXT.into()
    } else {
        v.render()
    }
}

pub fn render_plan(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let visible: Vec<&PlannedChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if visible.is_empty() {
        out.push_str("No changes. The live infrastructure matches the stack.\n");
    } else {
        out.push_str("trustplane will perform these actions:\n\n");
        for c in visible {
            render_change(&mut out, c, &plan.lineage, style);
            out.push('\n');
        }
        out.push_str(&style.bold(&plan.summary().line()));
        out.push('\n');
        if let Some(cost) = crate::cost::plan_cost(plan).line() {
            let _ = writeln!(
                out,
                "Cost: {cost} (AWS Private CA list prices of {})",
                crate::cost::PRICES_CHECKED
            );
        }
    }
    let output_changes: Vec<_> = plan.outputs.iter().collect();
    if !output_changes.is_empty() && plan.has_changes() {
        out.push_str("\nOutputs:\n");
        for (name, o) in output_changes {
            let _ = writeln!(out, "  {name} = {}", show(&o.value, o.sensitive));
        }
    }
    out
}

/// One change. Values are compared as state keeps them (secrets as digests keyed by
/// `key`, the state's lineage), so an unchanged secret shows no line.
fn render_change(out: &mut String, c: &PlannedChange, key: &str, style: Style) {
    let what = match c.action {
        Action::Create => "will be created".to_string(),
        Action::Read => "will be read during apply".to_string(),
        Action::Update => "will be updated in place".to_string(),
        Action::DeleteThenCreate => "must be replaced".to_string(),
        Action::CreateThenDelete => "must be replaced (create before destroy)".to_string(),
        Action::Delete => "will be destroyed".to_string(),
        Action::NoOp => "is unchanged".to_string(),
    };
    let _ = writeln!(
        out,
        "  {} {} ({}) {what}",
        style.action(c.action),
        style.bold(&c.address),
        c.type_name
    );
    if let Some(reason) = &c.reason {
        let _ = writeln!(out, "      # {reason}");
    }
    let empty = Value::map();
    let before = c
        .prior
        .as_ref()
        .map(|p| redact(&p.properties, key))
        .unwrap_or_else(Value::map);
    let after = redact(&c.properties.clone().marked_like(&before), key);
    let changes: Vec<FieldChange> = match c.action {
        Action::Delete => field_changes(&before, &empty),
        Action::Create | Action::Read => field_changes(&empty, &after),
        _ => field_changes(&before, &after),
    };
    let width = changes.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for f in &changes {
        let secret = super::diff::lies_under(&f.path, &c.sensitive_paths);
        let forces = c
            .requires_replace
            .iter()
            .any(|r| f.path == *r || f.path.starts_with(&format!("{r}.")));
        let note = if forces {
            style.red("  # forces replacement")
        } else {
            String::new()
        };
        match (&f.before, &f.after) {
            (None, Some(a)) => {
                let _ = writeln!(
                    out,
                    "      {} {:width$} = {}{note}",
                    style.green("+"),
                    f.path,
                    show(a, secret)
                );
            }
            (Some(b), None) => {
                let _ = writeln!(
                    out,
                    "      {} {:width$} = {}{note}",
                    style.red("-"),
                    f.path,
                    show(b, secret)
                );
            }
            (Some(b), Some(a)) => {
                if let (Some(bs), Some(as_)) = (b.as_str(), a.as_str()) {
                    if !secret && (bs.contains('\n') || as_.contains('\n')) {
                        let _ = writeln!(
                            out,
                            "      {} {:width$} = <<-{note}",
                            style.yellow("~"),
                            f.path
                        );
                        render_text_diff(out, bs, as_, style);
                        continue;
                    }
                }
                let _ = writeln!(
                    out,
                    "      {} {:width$} = {} -> {}{note}",
                    style.yellow("~"),
                    f.path,
                    show(b, secret),
                    show(a, secret)
                );
            }
            (None, None) => {}
        }
    }
    if matches!(
        c.action,
        Action::Create | Action::Read | Action::DeleteThenCreate | Action::CreateThenDelete
    ) {
        if let Value::Map(attrs) = &c.planned_attributes {
            for (k, v) in attrs {
                if *v == Value::Unknown {
                    let _ = writeln!(
                        out,
                        "      {} {:width$} = (known after apply)",
                        style.green("+"),
                        k
                    );
                }
            }
        }
    }
    if !c.details.is_empty() {
        let _ = writeln!(out, "      # rendered objects:");
        for line in &c.details {
            let painted = match line.chars().next() {
                Some('+') => style.green(line),
                Some('-') => style.red(line),
                Some('~') => style.yellow(line),
                _ => line.clone(),
            };
            let _ = writeln!(out, "        {painted}");
        }
    }
}

fn render_text_diff(out: &mut String, before: &str, after: &str, style: Style) {
    let diff = TextDiff::from_lines(before, after);
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        match change.tag() {
            ChangeTag::Delete => {
                let _ = writeln!(out, "          {}", style.red(&format!("- {line}")));
            }
            ChangeTag::Insert => {
                let _ = writeln!(out, "          {}", style.green(&format!("+ {line}")));
            }
            ChangeTag::Equal => {
                let _ = writeln!(out, "            {line}");
            }
        }
    }
}

pub fn render_drift(drifts: &[Drift], style: Style) -> String {
    if drifts.is_empty() {
        return "No drift: everything in state matches what is live.\n".into();
    }
    let mut out = String::from("Changes made outside trustplane since the last apply:\n\n");
    for d in drifts {
        if d.gone {
            let _ = writeln!(
                out,
                "  {} {} ({}) was deleted",
                style.red("-"),
                style.bold(&d.address),
                d.type_name
            );
            continue;
        }
        let _ = writeln!(
            out,
            "  {} {} ({}) changed",
            style.yellow("~"),
            style.bold(&d.address),
            d.type_name
        );
        for c in &d.changes {
            let b = c
                .before
                .as_ref()
                .map(|v| show(v, false))
                .unwrap_or_else(|| "(absent)".into());
            let a = c
                .after
                .as_ref()
                .map(|v| show(v, false))
                .unwrap_or_else(|| "(absent)".into());
            let _ = writeln!(out, "      {} {}: {b} -> {a}", style.yellow("~"), c.path);
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.bold(&format!(
            "Drift: {} resource(s) changed or deleted outside trustplane.",
            drifts.len()
        ))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    fn change(action: Action, before: &str, after: &str) -> PlannedChange {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        PlannedChange {
            address: "site".into(),
            type_name: "core.file".into(),
            provider: "core".into(),
            mode: Mode::Managed,
            action,
            prior: Some(crate::state::ResourceState {
                address: "site".into(),
                type_name: "core.file".into(),
                mode: Mode::Managed,
                provider: "core".into(),
                id: "x".into(),
                properties: v(before),
                attributes: Value::map(),
                dependencies: vec![],
                sensitive_paths: vec![],
                updated_at: chrono::Utc::now(),
            }),
            properties: v(after),
            planned_attributes: Value::map(),
            changed: vec![],
            requires_replace: vec!["path".into()],
            reason: None,
            dependencies: vec![],
            sensitive_paths: vec!["token".into()],
            details: vec![],
        }
    }

    #[test]
    fn multi_line_strings_diff_line_by_line() {
        let c = change(
            Action::Update,
            r#"{"content":"a\nb\nc\n"}"#,
            r#"{"content":"a\nB\nc\n"}"#,
        );
        let mut out = String::new();
        render_change(&mut out, &c, "k", Style { color: false });
        assert!(out.contains("- b"), "{out}");
        assert!(out.contains("+ B"), "{out}");
        assert!(out.contains("    a"), "{out}");
    }

    #[test]
    fn forcing_property_is_marked_and_secrets_hidden() {
        let c = change(
            Action::DeleteThenCreate,
            r#"{"path":"a","token":"old"}"#,
            r#"{"path":"b","token":"new"}"#,
        );
        let mut out = String::new();
        render_change(&mut out, &c, "k", Style { color: false });
        assert!(
            out.contains(r#"path  = "a" -> "b"  # forces replacement"#),
            "{out}"
        );
        assert!(out.contains("token = (sensitive) -> (sensitive)"), "{out}");
        assert!(!out.contains("new"), "{out}");
    }
}
