//! Plans and drift for people: one block per resource, each property on a line of its
//! own, nested maps and lists as indented blocks ([`blocks`]), multi-line strings diffed
//! line by line.

use std::fmt::Write;

mod blocks;

use blocks::Blocks;

use super::refresh::Drift;
use super::{Action, Plan, PlannedChange};
use crate::state::redact;
use crate::value::{Map, PropertyPath, Value, SENSITIVE_TEXT};

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
            Action::Update | Action::Read | Action::Adopt => self.yellow(a.glyph()),
            Action::Forget => self.yellow(a.glyph()),
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
    let visible: Vec<&PlannedChange> = plan.changes.iter().filter(|c| c.has_effect()).collect();
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
pub fn render_change(out: &mut String, c: &PlannedChange, key: &str, style: Style) {
    let what = match c.action {
        Action::Create => "will be created".to_string(),
        Action::Read => "will be read during apply".to_string(),
        Action::Update => "will be updated in place".to_string(),
        Action::DeleteThenCreate => "must be replaced".to_string(),
        Action::CreateThenDelete => "must be replaced (create before destroy)".to_string(),
        Action::Delete => "will be destroyed".to_string(),
        Action::Adopt if c.changed.is_empty() => "will be adopted".to_string(),
        Action::Adopt => "will be adopted and updated in place".to_string(),
        Action::Forget => "will be forgotten, not deleted (retain_on_destroy)".to_string(),
        Action::NoOp if c.restart.is_some() => "will be restarted".to_string(),
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
    if let Some(restart) = &c.restart {
        let _ = writeln!(out, "      # {restart}");
    }
    let before = c
        .prior
        .as_ref()
        .map(|p| redact(&p.properties, key))
        .unwrap_or_else(Value::map);
    let after = redact(&c.properties.clone().marked_like(&before), key);
    let empty = Map::new();
    let as_map = |v: &Value| v.as_map().cloned().unwrap_or_default();
    let (before, after) = match c.action {
        Action::Delete | Action::Forget => (as_map(&before), empty),
        Action::Create | Action::Read => (empty, as_map(&after)),
        _ => (as_map(&before), as_map(&after)),
    };
    let known_later: Vec<&str> = match (&c.action, &c.planned_attributes) {
        (
            Action::Create | Action::Read | Action::DeleteThenCreate | Action::CreateThenDelete,
            Value::Map(attrs),
        ) => attrs
            .iter()
            // An attribute also set as a property shows once, as the property.
            .filter(|(k, v)| **v == Value::Unknown && after.get(*k).is_none_or(Value::is_null))
            .map(|(k, _)| k.as_str())
            .collect(),
        _ => Vec::new(),
    };
    let paths = |ps: &[String]| -> Vec<PropertyPath> {
        ps.iter().filter_map(|p| PropertyPath::parse(p)).collect()
    };
    let blocks = Blocks {
        style,
        secret: &paths(&c.sensitive_paths),
        forces: &paths(&c.requires_replace),
    };
    blocks.map_body(out, 6, &PropertyPath::root(), &before, &after, &known_later);
    if !c.details.is_empty() {
        // A chart's details are its rendered manifests; other providers report on the
        // live objects (a conflict the apply will meet, a re-issue it will trigger).
        let heading = if c.provider == "helm" {
            "rendered objects"
        } else {
            "live objects"
        };
        let _ = writeln!(out, "      # {heading}:");
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

pub fn render_drift(drifts: &[Drift], style: Style) -> String {
    if drifts.is_empty() {
        return "No drift: everything in state matches what is live.\n".into();
    }
    let mut out = String::from("Changes made outside trustplane since the last apply:\n\n");
    for d in drifts {
        render_drift_entry(&mut out, d, style);
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

/// One drifted resource: deleted, or changed attribute by attribute. Secrets were
/// compared as digests and show as `(sensitive)`.
pub fn render_drift_entry(out: &mut String, d: &Drift, style: Style) {
    if d.gone {
        let _ = writeln!(
            out,
            "  {} {} ({}) was deleted",
            style.red("-"),
            style.bold(&d.address),
            d.type_name
        );
        return;
    }
    let _ = writeln!(
        out,
        "  {} {} ({}) changed",
        style.yellow("~"),
        style.bold(&d.address),
        d.type_name
    );
    let blocks = Blocks {
        style,
        secret: &[],
        forces: &[],
    };
    // The changed leaves put back into place, so nested ones show as blocks; a change
    // named by a label rather than a path (`(computed) sha256`) shows under its label.
    let (mut before, mut after) = (Value::map(), Value::map());
    for c in &d.changes {
        let Some(at) = PropertyPath::parse(&c.path) else {
            blocks.labelled(out, 6, &c.path, c.before.as_ref(), c.after.as_ref());
            continue;
        };
        // A change below the top was found inside a map both sides have.
        let parent = PropertyPath(at.steps()[..at.steps().len() - 1].to_vec());
        for tree in [&mut before, &mut after] {
            if parent.lookup(tree).is_none() {
                parent.set(tree, Value::map());
            }
        }
        if let Some(v) = &c.before {
            at.set(&mut before, v.clone());
        }
        if let Some(v) = &c.after {
            at.set(&mut after, v.clone());
        }
    }
    let as_map = |v: Value| match v {
        Value::Map(m) => m,
        _ => Map::new(),
    };
    blocks.map_body(
        out,
        6,
        &PropertyPath::root(),
        &as_map(before),
        &as_map(after),
        &[],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::plan::diff::FieldChange;

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
                retain_on_destroy: false,
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
            restart: None,
        }
    }

    fn rendered(c: &PlannedChange) -> String {
        let mut out = String::new();
        render_change(&mut out, c, "k", Style { color: false });
        out
    }

    #[test]
    fn details_are_headed_by_what_they_describe() {
        let mut c = change(Action::Update, r#"{"name":"p"}"#, r#"{"name":"q"}"#);
        c.details = vec!["~ label app: reclaimed from kubectl-label".into()];
        c.provider = "kubernetes".into();
        let live = rendered(&c);
        assert!(
            live.contains(
                "      # live objects:\n        ~ label app: reclaimed from kubectl-label\n"
            ),
            "{live}"
        );
        c.provider = "helm".into();
        let chart = rendered(&c);
        assert!(chart.contains("      # rendered objects:\n"), "{chart}");
        assert!(!chart.contains("live objects"), "{chart}");
    }

    #[test]
    fn nested_changes_show_as_blocks_with_a_marker_per_key() {
        let c = change(
            Action::Update,
            r#"{"document":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["a","b"]}]},
                "name":"p","tags":{"a":"1","b":"2","c":"3","d":"4"}}"#,
            r#"{"document":{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["a","b"]}]},
                "name":"p","tags":{"a":"1","b":"2","c":"30","e":"5"}}"#,
        );
        assert_eq!(
            rendered(&c),
            r#"  ~ site (core.file) will be updated in place
      ~ document = {
          ~ Statement = [
              ~ {
                  ~ Effect = "Allow" -> "Deny"
                    # (1 unchanged attribute hidden)
                },
            ]
            # (1 unchanged attribute hidden)
        }
      ~ tags     = {
          ~ c = "3" -> "30"
          - d = "4"
          + e = "5"
            # (2 unchanged attributes hidden)
        }
        # (1 unchanged attribute hidden)
"#
        );
    }

    #[test]
    fn a_created_resource_shows_every_level_and_unknowns_at_depth() {
        let mut c = change(
            Action::Create,
            "{}",
            r#"{"policy_arns":[{"$trustplane_unknown":true}],
                "doc":{"Resource":{"$trustplane_unknown":true},"Action":["x"]},"path":"f"}"#,
        );
        c.prior = None;
        c.requires_replace.clear();
        c.planned_attributes = serde_json::from_str(
            r#"{"arn":{"$trustplane_unknown":true},"path":{"$trustplane_unknown":true}}"#,
        )
        .unwrap();
        assert_eq!(
            rendered(&c),
            r#"  + site (core.file) will be created
      + doc         = {
          + Action   = [
              + "x",
            ]
          + Resource = (known after apply)
        }
      + path        = "f"
      + policy_arns = [
          + (known after apply),
        ]
      + arn         = (known after apply)
"#
        );
    }

    #[test]
    fn a_destroyed_resource_shows_every_level_removed() {
        let c = change(
            Action::Delete,
            r#"{"doc":{"a":{"b":1}},"l":[1,2],"e":{}}"#,
            "{}",
        );
        assert_eq!(
            rendered(&c),
            r#"  - site (core.file) will be destroyed
      - doc = {
          - a = {
              - b = 1
            }
        }
      - e   = {}
      - l   = [
          - 1,
          - 2,
        ]
"#
        );
    }

    #[test]
    fn secrets_stay_hidden_at_any_depth() {
        let c = change(
            Action::Update,
            r#"{"creds":{"user":"u","pw":{"$trustplane_sensitive":"old-pw"}},"token":{"k":"t-one"},
                "list":[{"$trustplane_sensitive":"old-item"}]}"#,
            r#"{"creds":{"user":"u","pw":{"$trustplane_sensitive":"new-pw"}},"token":{"k":"t-two"},
                "list":[{"$trustplane_sensitive":"new-item"}]}"#,
        );
        let out = rendered(&c);
        for secret in ["old-pw", "new-pw", "t-one", "t-two", "old-item", "new-item"] {
            assert!(!out.contains(secret), "{secret}: {out}");
        }
        assert!(
            out.contains("      ~ creds = {\n          ~ pw = (sensitive) -> (sensitive)\n"),
            "{out}"
        );
        assert!(
            out.contains("      ~ token = {\n          ~ k = (sensitive) -> (sensitive)\n"),
            "{out}"
        );
        assert!(
            out.contains("          - (sensitive),\n          + (sensitive),\n"),
            "{out}"
        );
    }

    #[test]
    fn list_elements_are_matched_and_unchanged_runs_counted() {
        let c = change(
            Action::Update,
            r#"{"l":["a","b","c"],"n":{"$trustplane_unknown":true}}"#,
            r#"{"l":["a","c","d"],"n":{"m":{"$trustplane_unknown":true}}}"#,
        );
        assert_eq!(
            rendered(&c),
            r#"  ~ site (core.file) will be updated in place
      ~ l = [
            # (1 unchanged element hidden)
          - "b",
            # (1 unchanged element hidden)
          + "d",
        ]
      - n = (known after apply)
      + n = {
          + m = (known after apply)
        }
"#
        );
    }

    #[test]
    fn drift_shows_nested_changes_as_blocks() {
        let d = Drift {
            address: "site".into(),
            type_name: "core.file".into(),
            gone: false,
            changes: vec![
                FieldChange {
                    path: "tags.team".into(),
                    before: Some("platform".into()),
                    after: Some("rogue".into()),
                },
                FieldChange {
                    path: "content".into(),
                    before: Some("a\n".into()),
                    after: Some("b\n".into()),
                },
                FieldChange {
                    path: r#"ann["x.io/a"]"#.into(),
                    before: None,
                    after: Some(serde_json::from_str(r#"[{"k":1}]"#).unwrap()),
                },
            ],
        };
        let out = render_drift(&[d], Style { color: false });
        assert!(
            out.contains(
                r#"  ~ site (core.file) changed
      ~ ann     = {
          + "x.io/a" = [
              + {
                  + k = 1
                },
            ]
        }
      ~ content = <<-
          - a
          + b
      ~ tags    = {
          ~ team = "platform" -> "rogue"
        }
"#
            ),
            "{out}"
        );
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
