//! Variable values: `--var k=v`, `--var-file f.yaml`, `TRUSTPLANE_VAR_k`, then defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::{Stack, VarType, VariableDecl};
use super::yaml::parse_plain;
use crate::diag::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::input::InputKind;
use crate::value::Value;

/// Prefix of the environment variables that set stack variables.
pub const ENV_PREFIX: &str = "TRUSTPLANE_VAR_";

#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `--var k=v`, in command-line order (later wins).
    pub cli: Vec<String>,
    pub files: Vec<PathBuf>,
    /// Environment as (name, value) pairs; `from_env` fills it from the process.
    pub env: Vec<(String, String)>,
    /// Typed values a caller gives (a fleet member's variables, the trust tier's outputs,
    /// which may be [`Value::Unknown`] before it is applied), with who gave them; above
    /// the environment, below --var-file and --var.
    pub given: Vec<(String, Value)>,
    /// Who gave `given`, for messages (`fleet file mesh-prod.yaml, member prod-eu-1`).
    pub given_by: String,
}

impl VarInputs {
    pub fn with_process_env(mut self) -> Self {
        self.env = std::env::vars().collect();
        self
    }
}

/// Where a value came from, for messages.
#[derive(Debug, Clone)]
enum Source {
    Cli,
    File(PathBuf),
    Env,
    Given(String),
}

impl Source {
    fn describe(&self, name: &str) -> String {
        match self {
            Source::Cli => format!("--var {name}=..."),
            Source::File(p) => format!("--var-file {}", p.display()),
            Source::Env => format!("{ENV_PREFIX}{name}"),
            Source::Given(by) => by.clone(),
        }
    }
}

/// Resolves every declared variable, by precedence: --var, then --var-file (later files
/// win), then TRUSTPLANE_VAR_<name>, then default. Values are converted to the declared type.
pub fn resolve(stack: &Stack, inputs: &VarInputs) -> Result<BTreeMap<String, Value>, Diagnostics> {
    let mut diags = Diagnostics::new();
    // Lowest precedence first; later insertions win.
    let mut given: BTreeMap<String, (Value, Source)> = BTreeMap::new();
    let declared = || stack.variables.keys().map(String::as_str);

    for (key, text) in &inputs.env {
        if let Some(name) = key.strip_prefix(ENV_PREFIX) {
            if stack.variables.contains_key(name) {
                given.insert(name.to_string(), (Value::String(text.clone()), Source::Env));
            }
        }
    }
    for (name, value) in &inputs.given {
        let source = Source::Given(inputs.given_by.clone());
        if stack.variables.contains_key(name) {
            given.insert(name.clone(), (value.clone(), source));
        } else {
            diags.push(undeclared(name, declared(), &source));
        }
    }
    for path in &inputs.files {
        let text = match crate::input::read_text(path, InputKind::VarFile) {
            Ok(text) => text,
            Err(e) => {
                diags.push(super::load::input_error(&e));
                continue;
            }
        };
        let map = match parse_plain(&text) {
            Ok(Value::Map(map)) => map,
            Ok(Value::Null) => Default::default(),
            Ok(other) => {
                diags.push(
                    Diagnostic::error(
                        "stack::invalid_value",
                        format!("variable file {} is not a map", path.display()),
                    )
                    .with_span(Span::file_only(path))
                    .with_detail(format!(
                        "found a {}; expected `name: value` lines",
                        other.type_name()
                    )),
                );
                continue;
            }
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        "stack::invalid_value",
                        format!("variable file {} is not valid YAML", path.display()),
                    )
                    .with_span(Span::file_only(path))
                    .with_detail(e)
                    .with_help("a variable file holds `name: value` lines"),
                );
                continue;
            }
        };
        for (name, value) in map {
            if stack.variables.contains_key(&name) {
                given.insert(name, (value, Source::File(path.clone())));
            } else {
                diags.push(undeclared(&name, declared(), &Source::File(path.clone())));
            }
        }
    }
    for arg in &inputs.cli {
        let Some((name, text)) = arg.split_once('=') else {
            diags.push(
                Diagnostic::error(
                    "stack::invalid_value",
                    format!("`--var {arg}` has no value"),
                )
                .with_detail("expected `--var name=value`"),
            );
            continue;
        };
        let name = name.trim();
        if stack.variables.contains_key(name) {
            given.insert(
                name.to_string(),
                (Value::String(text.to_string()), Source::Cli),
            );
        } else {
            diags.push(undeclared(name, declared(), &Source::Cli));
        }
    }

    let mut values = BTreeMap::new();
    for (name, decl) in &stack.variables {
        let field = format!("variables.{name}");
        match given.remove(name) {
            Some((value, source)) => match convert(value, decl.var_type) {
                Ok(v) => match not_allowed(decl, &v, &source) {
                    Some(d) => diags.push(d),
                    None => {
                        values.insert(name.clone(), mark(v, decl.sensitive));
                    }
                },
                // The message of a sensitive variable says what was expected, never what
                // was given.
                Err(_) if decl.sensitive => diags.push(
                    Diagnostic::error(
                        "stack::type_mismatch",
                        format!("variable `{name}` given by {} is not a {}", source.describe(name), decl.var_type.name()),
                    )
                    .with_span(decl.span.clone())
                    .with_field(field)
                    .with_detail(format!(
                        "expected a {}; the value given is not shown because `{name}` is sensitive",
                        decl.var_type.name()
                    )),
                ),
                Err(why) => diags.push(
                    Diagnostic::error(
                        "stack::type_mismatch",
                        format!("variable `{name}` given by {} is not a {}", source.describe(name), decl.var_type.name()),
                    )
                    .with_span(decl.span.clone())
                    .with_field(field)
                    .with_detail(why),
                ),
            },
            None => match &decl.default {
                Some(default) => {
                    values.insert(name.clone(), mark(default.clone(), decl.sensitive));
                }
                None => diags.push(
                    Diagnostic::error("stack::missing_variable", format!("variable `{name}` has no value"))
                        .with_span(decl.span.clone())
                        .with_field(field)
                        .with_detail(match &decl.description {
                            Some(d) => format!("`{name}` ({d}) is required: it has no default"),
                            None => format!("`{name}` is required: it has no default"),
                        })
                        .with_help(format!(
                            "pass `--var {name}=...`, put `{name}: ...` in a --var-file, or set {ENV_PREFIX}{name}"
                        )),
                ),
            },
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(values)
    }
}

/// The error for a value outside the variable's `allowed` list (a sensitive value is not
/// repeated).
fn not_allowed(decl: &VariableDecl, value: &Value, source: &Source) -> Option<Diagnostic> {
    let allowed = decl.allowed.as_ref()?;
    let text = value.to_interpolated();
    if value.is_null() || allowed.iter().any(|a| a.to_interpolated() == text) {
        return None;
    }
    let name = &decl.name;
    let given = if decl.sensitive {
        "the value given".to_string()
    } else {
        format!("{:?}", text.unwrap_or_default())
    };
    let list = super::enabled::render_list(allowed);
    Some(
        Diagnostic::error(
            "stack::invalid_value",
            format!(
                "variable `{name}` given by {} is {given}, which it does not allow",
                source.describe(name)
            ),
        )
        .with_span(decl.span.clone())
        .with_field(format!("variables.{name}"))
        .with_detail(format!("`{name}` allows: {list}"))
        .with_help(format!(
            "pass one of them, e.g. `--var {name}={}`",
            allowed[0].to_interpolated().unwrap_or_default()
        )),
    )
}

/// A sensitive variable's value is marked secret, and so is everything made from it.
fn mark(value: Value, sensitive: bool) -> Value {
    if sensitive {
        Value::sensitive(value)
    } else {
        value
    }
}

fn undeclared<'a>(
    name: &str,
    declared: impl Iterator<Item = &'a str>,
    source: &Source,
) -> Diagnostic {
    let declared: Vec<&str> = declared.collect();
    let mut d = Diagnostic::error(
        "stack::unknown_variable",
        format!(
            "{} sets `{name}`, which the stack does not declare",
            source.describe(name)
        ),
    )
    .with_detail(if declared.is_empty() {
        "the stack declares no variables".to_string()
    } else {
        format!("declared variables: {}", declared.join(", "))
    });
    if let Some(s) = did_you_mean(name, declared.iter().copied()) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    d
}

/// Converts a value to a declared type. Text (from the command line or the environment)
/// is parsed: numbers, `true`/`false`, lists and maps as YAML or JSON. `null` fits any type.
pub fn convert(value: Value, ty: VarType) -> Result<Value, String> {
    let found = |v: &Value| {
        format!(
            "expected a {}, found {} {}",
            ty.name(),
            v.type_name(),
            v.render()
        )
    };
    match (ty, value) {
        (_, Value::Null) => Ok(Value::Null),
        // Known only once another stack is applied (a fleet's trust tier).
        (_, Value::Unknown) => Ok(Value::Unknown),
        (VarType::String, Value::String(s)) => Ok(Value::String(s)),
        (VarType::String, v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_))) => {
            Ok(Value::String(v.to_interpolated().unwrap_or_default()))
        }
        (VarType::Number, v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
        (VarType::Number, Value::String(s)) => {
            let t = s.trim();
            t.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| t.parse::<f64>().map(Value::Float))
                .ok()
                .filter(|v| !matches!(v, Value::Float(f) if !f.is_finite()))
                .ok_or_else(|| format!("expected a number, found {s:?}"))
        }
        (VarType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (VarType::Bool, Value::String(s)) => match s.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, found {s:?}")),
        },
        (VarType::List, v @ Value::List(_)) | (VarType::Map, v @ Value::Map(_)) => Ok(v),
        (VarType::List | VarType::Map, Value::String(s)) => match parse_plain(&s) {
            Ok(v @ Value::List(_)) if ty == VarType::List => Ok(v),
            Ok(v @ Value::Map(_)) if ty == VarType::Map => Ok(v),
            _ => Err(format!(
                "expected a {} written as YAML or JSON (such as {}), found {s:?}",
                ty.name(),
                if ty == VarType::List {
                    "[\"a\", \"b\"]"
                } else {
                    "{\"k\": \"v\"}"
                }
            )),
        },
        (_, v) => Err(found(&v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_str;
    use crate::config::validate::tests::test_registry;
    use std::path::Path;

    fn stack() -> Stack {
        let text =
            "stack: v\nvariables:\n  region: {default: eu-west-1}\n  replicas: {type: number}\n  \
                    debug: {type: bool, default: false}\n  zones: {type: list, default: []}\n  \
                    tags: {type: map, default: {}}\n";
        let (s, d) = load_str(Path::new("v.yaml"), text, &test_registry());
        s.unwrap_or_else(|| panic!("{d}"))
    }

    fn inputs(cli: &[&str]) -> VarInputs {
        VarInputs {
            cli: cli.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn precedence_cli_then_files_then_env_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let f1 = dir.path().join("a.yaml");
        let f2 = dir.path().join("b.yaml");
        std::fs::write(&f1, "replicas: 1\nregion: from-file-1\ndebug: true\n").unwrap();
        std::fs::write(&f2, "replicas: 2\n").unwrap();
        let mut inp = inputs(&["replicas=7", "replicas=9"]);
        inp.files = vec![f1.clone(), f2.clone()];
        inp.env = vec![
            ("TRUSTPLANE_VAR_region".into(), "from-env".into()),
            ("TRUSTPLANE_VAR_zones".into(), "[a, b]".into()),
            ("UNRELATED".into(), "x".into()),
        ];
        let v = resolve(&stack(), &inp).unwrap();
        assert_eq!(v["replicas"], Value::Int(9));
        assert_eq!(v["region"], Value::from("from-file-1"));
        assert_eq!(v["debug"], Value::Bool(true));
        assert_eq!(v["zones"], Value::List(vec!["a".into(), "b".into()]));
        assert_eq!(v["tags"], Value::map());

        inp.cli.clear();
        assert_eq!(resolve(&stack(), &inp).unwrap()["replicas"], Value::Int(2));
        inp.files = vec![f2, f1];
        assert_eq!(resolve(&stack(), &inp).unwrap()["replicas"], Value::Int(1));
    }

    #[test]
    fn given_values_sit_above_the_environment_and_below_files_and_flags() {
        let mut inp = inputs(&[]);
        inp.given = vec![
            ("region".into(), Value::from("given")),
            ("replicas".into(), Value::Unknown),
        ];
        inp.given_by = "fleet file f.yaml, member m".into();
        inp.env = vec![("TRUSTPLANE_VAR_region".into(), "from-env".into())];
        let v = resolve(&stack(), &inp).unwrap();
        assert_eq!(v["region"], Value::from("given"));
        // Known only after another stack's apply: kept unknown, whatever the type.
        assert_eq!(v["replicas"], Value::Unknown);
        inp.cli = vec!["region=cli".into()];
        assert_eq!(
            resolve(&stack(), &inp).unwrap()["region"],
            Value::from("cli")
        );

        inp.given.push(("regoin".into(), Value::from("x")));
        let err = resolve(&stack(), &inp).unwrap_err();
        let d = err.iter().next().unwrap();
        assert_eq!(d.code, "stack::unknown_variable");
        assert!(
            d.summary
                .starts_with("fleet file f.yaml, member m sets `regoin`"),
            "{d}"
        );
        assert_eq!(d.help.as_deref(), Some("did you mean `region`?"));
    }

    #[test]
    fn text_converts_to_the_declared_type() {
        let v = resolve(
            &stack(),
            &inputs(&[
                "replicas=2.5",
                "debug=true",
                "tags={\"a\": 1}",
                "region=x=y",
            ]),
        )
        .unwrap();
        assert_eq!(v["replicas"], Value::Float(2.5));
        assert_eq!(v["debug"], Value::Bool(true));
        assert_eq!(v["tags"].get("a"), Some(&Value::Int(1)));
        assert_eq!(v["region"], Value::from("x=y"));
        assert_eq!(
            convert(Value::Int(8080), VarType::String).unwrap(),
            Value::from("8080")
        );
    }

    #[test]
    fn missing_required_variable_says_how_to_set_it() {
        let err = resolve(&stack(), &inputs(&[])).unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.code, "stack::missing_variable");
        assert_eq!(d.field.as_deref(), Some("variables.replicas"));
        let help = d.help.as_deref().unwrap();
        assert!(
            help.contains("--var replicas=...") && help.contains("TRUSTPLANE_VAR_replicas"),
            "{help}"
        );
        assert_eq!(d.span.as_ref().unwrap().line, 4);
    }

    #[test]
    fn unknown_and_mistyped_values_are_errors() {
        let err = resolve(
            &stack(),
            &inputs(&["replica=3", "debug=maybe", "zones=a", "novalue"]),
        )
        .unwrap_err();
        let codes: Vec<_> = err.iter().map(|d| d.code).collect();
        assert!(codes.contains(&"stack::unknown_variable"), "{err}");
        let unknown = err
            .iter()
            .find(|d| d.code == "stack::unknown_variable")
            .unwrap();
        assert_eq!(unknown.help.as_deref(), Some("did you mean `replicas`?"));
        assert_eq!(
            err.iter()
                .filter(|d| d.code == "stack::type_mismatch")
                .count(),
            2,
            "{err}"
        );
        assert!(err.iter().any(|d| d.summary.contains("novalue")));
        assert!(err.iter().any(|d| d.code == "stack::missing_variable"));
    }

    #[test]
    fn sensitive_values_are_marked_and_never_echoed() {
        let text =
            "stack: t\nvariables:\n  pin: {type: number, sensitive: true}\n  n: {type: number}\n";
        let (stack, d) = load_str(Path::new("t.yaml"), text, &test_registry());
        let stack = stack.unwrap_or_else(|| panic!("{d}"));
        let given = |v: &str| inputs(&[&format!("pin={v}"), "n=1"]);
        let values = resolve(&stack, &given("1234")).unwrap();
        assert_eq!(values["pin"], Value::sensitive(Value::Int(1234)));
        assert_eq!(values["n"], Value::Int(1));
        let err = resolve(&stack, &given("canary-pin-text")).unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("stack::type_mismatch"), "{text}");
        assert!(!text.contains("canary-pin-text"), "{text}");
    }

    #[test]
    fn a_value_outside_allowed_is_an_error_naming_the_choices() {
        let text = "stack: t\nvariables:\n  mode: {default: irsa, allowed: [irsa, pod_identity]}\n";
        let (stack, d) = load_str(Path::new("t.yaml"), text, &test_registry());
        let stack = stack.unwrap_or_else(|| panic!("{d}"));
        assert_eq!(
            resolve(&stack, &inputs(&["mode=pod_identity"])).unwrap()["mode"],
            Value::from("pod_identity")
        );
        assert_eq!(
            resolve(&stack, &inputs(&[])).unwrap()["mode"],
            Value::from("irsa")
        );
        let err = resolve(&stack, &inputs(&["mode=pod-identity"])).unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.code, "stack::invalid_value");
        assert!(
            d.summary.contains("--var mode=...") && d.summary.contains("\"pod-identity\""),
            "{}",
            d.summary
        );
        assert_eq!(
            d.detail.as_deref(),
            Some("`mode` allows: irsa, pod_identity")
        );
        assert_eq!(d.span.as_ref().unwrap().line, 3);
        let bad_default =
            "stack: t\nvariables:\n  mode: {default: oidc, allowed: [irsa, pod_identity]}\n";
        let (_, d) = load_str(Path::new("t.yaml"), bad_default, &test_registry());
        assert_eq!(
            d.0[0].field.as_deref(),
            Some("variables.mode.allowed"),
            "{d}"
        );
    }

    #[test]
    fn a_missing_var_file_is_named() {
        let mut inp = inputs(&["replicas=1"]);
        inp.files = vec!["nope/vars.yaml".into()];
        let err = resolve(&stack(), &inp).unwrap_err();
        assert!(err.0[0].summary.contains("nope/vars.yaml"));
    }
}
