//! IAM policy documents: accepted as a YAML map or a JSON string, validated with paths
//! into the document, and normalized so that equivalent spellings compare equal.
//!
//! IAM rewrites what it stores, so a document read back rarely matches the one sent: it
//! comes URL-encoded, one-element lists come back as strings (and the reverse), keys and
//! statements may be reordered, condition values come back as strings (`true` as
//! `"true"`, `10` as `"10"`), and `Principal: "*"` means `Principal: {AWS: "*"}`. The
//! comparison undoes all of these, or every plan against real IAM would show a change.

use crate::diag::Diagnostic;
use crate::value::{Map, Value};

/// Which statements a document holds: an identity policy names resources, a trust policy
/// names principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Identity,
    Trust,
}

const CODE: &str = "aws::invalid_policy";

/// The document as a value: a JSON string is parsed (URL-encoded, as IAM returns it, or
/// plain), a map is taken as is.
pub fn parse(doc: &Value) -> Result<Value, String> {
    match doc {
        Value::String(s) if s.trim_start().starts_with("%7B") => from_iam(s),
        Value::String(s) => serde_json::from_str::<serde_json::Value>(s)
            .map(Value::from_json)
            .map_err(|e| format!("the policy document is not valid JSON: {e}")),
        other => Ok(other.clone()),
    }
}

/// Compact JSON, as sent to IAM.
pub fn to_json_text(doc: &Value) -> Result<String, String> {
    let parsed = parse(doc)?;
    serde_json::to_string(&parsed.to_json()).map_err(|e| e.to_string())
}

/// The canonical form used for comparison. Unknown parts are left alone.
pub fn normalize(doc: &Value) -> Value {
    if doc.contains_unknown() {
        return doc.clone();
    }
    let Ok(Value::Map(mut top)) = parse(doc) else {
        return doc.clone();
    };
    if let Some(st) = top.remove("Statement") {
        let list = match st {
            Value::List(l) => l,
            other => vec![other],
        };
        // Statement order carries no meaning: a policy allows what any statement allows
        // unless one denies it.
        let mut statements: Vec<Value> = list.into_iter().map(normalize_statement).collect();
        statements.sort_by_cached_key(|s| s.to_json().to_string());
        top.insert("Statement".into(), Value::List(statements));
    }
    Value::Map(top)
}

fn normalize_statement(st: Value) -> Value {
    let Value::Map(m) = st else { return st };
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(v),
            "Principal" | "NotPrincipal" => match v {
                Value::Map(p) => {
                    Value::Map(p.into_iter().map(|(k, v)| (k, string_set(v))).collect())
                }
                // "Everyone": IAM documents `"*"` and `{"AWS": "*"}` as the same principal.
                Value::String(s) if s == "*" => {
                    let mut m = Map::new();
                    m.insert("AWS".into(), string_set(Value::String(s)));
                    Value::Map(m)
                }
                other => other,
            },
            "Condition" => match v {
                Value::Map(ops) => Value::Map(
                    ops.into_iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Map(km) => Value::Map(
                                    km.into_iter().map(|(k, v)| (k, string_set(v))).collect(),
                                ),
                                other => other,
                            };
                            (op, keys)
                        })
                        .collect(),
                ),
                other => other,
            },
            _ => v,
        };
        out.insert(k, v);
    }
    Value::Map(out)
}

/// A scalar as the string IAM stores: condition values come back as strings whatever
/// their JSON type was (`true` as `"true"`, `10` as `"10"`).
fn as_iam_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// A scalar or a list of scalars, as a sorted, de-duplicated list of strings.
fn string_set(v: Value) -> Value {
    let items = match v {
        Value::List(items) => items,
        scalar => vec![scalar],
    };
    let strings: Option<Vec<String>> = items.iter().map(as_iam_string).collect();
    match strings {
        Some(mut strings) => {
            strings.sort();
            strings.dedup();
            Value::List(strings.into_iter().map(Value::String).collect())
        }
        None if items.len() == 1 => items.into_iter().next().unwrap(),
        None => Value::List(items),
    }
}

/// IAM returns documents URL-encoded (RFC 3986); decodes `%XX` and parses the JSON.
pub fn from_iam(encoded: &str) -> Result<Value, String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(out).map_err(|e| format!("policy document is not UTF-8: {e}"))?;
    // A document that is plain JSON already (some emulators do not encode) parses as is.
    parse(&Value::String(text))
}

/// True when the two documents mean the same.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// Checks a document; diagnostics name the path inside it, under `field`.
pub fn validate(doc: &Value, field: &str, kind: DocKind) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if doc.contains_unknown() && !matches!(doc, Value::Map(_)) {
        return out;
    }
    let parsed = match parse(doc) {
        Ok(v) => v,
        Err(e) => return vec![Diagnostic::error(CODE, e).with_field(field)],
    };
    let Value::Map(top) = &parsed else {
        return vec![Diagnostic::error(
            CODE,
            format!("a policy document is a map, found {}", parsed.type_name()),
        )
        .with_field(field)];
    };
    for key in top.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            out.push(
                Diagnostic::error(CODE, format!("unknown policy element {key:?}"))
                    .with_field(format!("{field}.{key}"))
                    .with_help("a policy document has Version, Id and Statement"),
            );
        }
    }
    match top.get("Version") {
        None => out.push(
            Diagnostic::warning("aws::policy_version", "the policy document has no Version")
                .with_field(field)
                .with_help("add `Version: \"2012-10-17\"`; without it IAM uses 2008-10-17 and policy variables do not work"),
        ),
        Some(Value::Unknown) => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(other) => out.push(
            Diagnostic::error(CODE, format!("Version must be \"2012-10-17\" or \"2008-10-17\", found {}", other.render()))
                .with_field(format!("{field}.Version")),
        ),
    }
    let statements: Vec<(String, &Value)> = match top.get("Statement") {
        None => {
            out.push(
                Diagnostic::error(CODE, "the policy document has no Statement").with_field(field),
            );
            return out;
        }
        Some(Value::Unknown) => return out,
        Some(Value::List(l)) if l.is_empty() => {
            out.push(
                Diagnostic::error(CODE, "Statement is empty")
                    .with_field(format!("{field}.Statement")),
            );
            return out;
        }
        Some(Value::List(l)) => l
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{field}.Statement[{i}]"), s))
            .collect(),
        Some(s @ Value::Map(_)) => vec![(format!("{field}.Statement"), s)],
        Some(other) => {
            out.push(
                Diagnostic::error(
                    CODE,
                    format!(
                        "Statement must be a list or a map, found {}",
                        other.type_name()
                    ),
                )
                .with_field(format!("{field}.Statement")),
            );
            return out;
        }
    };
    for (path, st) in statements {
        validate_statement(st, &path, kind, &mut out);
    }
    out
}

fn validate_statement(st: &Value, path: &str, kind: DocKind, out: &mut Vec<Diagnostic>) {
    let Value::Map(m) = st else {
        if !matches!(st, Value::Unknown) {
            out.push(
                Diagnostic::error(
                    CODE,
                    format!("a statement is a map, found {}", st.type_name()),
                )
                .with_field(path),
            );
        }
        return;
    };
    const KEYS: &[&str] = &[
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ];
    for key in m.keys() {
        if !KEYS.contains(&key.as_str()) {
            let mut d = Diagnostic::error(CODE, format!("unknown statement element {key:?}"))
                .with_field(format!("{path}.{key}"));
            if let Some(s) = crate::diag::did_you_mean(key, KEYS.iter().copied()) {
                d = d.with_help(format!("did you mean {s:?}?"));
            }
            out.push(d);
        }
    }
    match m.get("Effect") {
        Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
        Some(Value::Unknown) => {}
        None => out.push(
            Diagnostic::error(CODE, "the statement has no Effect")
                .with_field(format!("{path}.Effect"))
                .with_help("set Effect: Allow or Effect: Deny"),
        ),
        Some(other) => out.push(
            Diagnostic::error(
                CODE,
                format!("Effect must be Allow or Deny, found {}", other.render()),
            )
            .with_field(format!("{path}.Effect")),
        ),
    }
    exactly_one(m, path, "Action", "NotAction", out);
    for key in ["Action", "NotAction"] {
        if let Some(v) = m.get(key) {
            check_strings(v, &format!("{path}.{key}"), out, |s| {
                (s == "*"
                    || s.split_once(':')
                        .is_some_and(|(svc, act)| !svc.is_empty() && !act.is_empty()))
                .then_some(())
                .ok_or_else(|| {
                    format!("{s:?} is not an action such as \"acm-pca:IssueCertificate\" or \"*\"")
                })
            });
        }
    }
    for key in ["Resource", "NotResource"] {
        if let Some(v) = m.get(key) {
            check_strings(v, &format!("{path}.{key}"), out, |s| {
                (s == "*" || s.starts_with("arn:"))
                    .then_some(())
                    .ok_or_else(|| format!("{s:?} is not an ARN or \"*\""))
            });
        }
    }
    match kind {
        DocKind::Identity => {
            exactly_one(m, path, "Resource", "NotResource", out);
            for key in ["Principal", "NotPrincipal"] {
                if m.contains_key(key) {
                    out.push(
                        Diagnostic::error(
                            CODE,
                            format!("{key} has no place in an identity policy"),
                        )
                        .with_field(format!("{path}.{key}"))
                        .with_help(
                            "principals belong in a role's trust policy (assume_role_policy)",
                        ),
                    );
                }
            }
        }
        DocKind::Trust => exactly_one(m, path, "Principal", "NotPrincipal", out),
    }
    if let Some(c) = m.get("Condition") {
        match c {
            Value::Map(ops) => {
                for (op, keys) in ops {
                    if !matches!(keys, Value::Map(_) | Value::Unknown) {
                        out.push(
                            Diagnostic::error(
                                CODE,
                                format!("condition operator {op} takes a map of keys to values"),
                            )
                            .with_field(format!("{path}.Condition.{op}")),
                        );
                    }
                }
            }
            Value::Unknown => {}
            other => out.push(
                Diagnostic::error(
                    CODE,
                    format!("Condition must be a map, found {}", other.type_name()),
                )
                .with_field(format!("{path}.Condition")),
            ),
        }
    }
}

fn exactly_one(m: &Map, path: &str, a: &str, b: &str, out: &mut Vec<Diagnostic>) {
    match (m.contains_key(a), m.contains_key(b)) {
        (true, true) => out.push(
            Diagnostic::error(CODE, format!("a statement has either {a} or {b}, not both"))
                .with_field(format!("{path}.{b}")),
        ),
        (false, false) => out.push(
            Diagnostic::error(CODE, format!("the statement has no {a} (or {b})"))
                .with_field(format!("{path}.{a}")),
        ),
        _ => {}
    }
}

fn check_strings(
    v: &Value,
    path: &str,
    out: &mut Vec<Diagnostic>,
    check: impl Fn(&str) -> Result<(), String>,
) {
    let mut one = |v: &Value, p: String| match v {
        Value::String(s) => {
            if let Err(e) = check(s) {
                out.push(Diagnostic::error(CODE, e).with_field(p));
            }
        }
        Value::Unknown => {}
        other => out.push(
            Diagnostic::error(
                CODE,
                format!("expected a string, found {}", other.type_name()),
            )
            .with_field(p),
        ),
    };
    match v {
        Value::List(items) if items.is_empty() => one(&Value::Null, path.to_string()),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                one(item, format!("{path}[{i}]"));
            }
        }
        other => one(other, path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        Value::from_json(serde_yaml::from_str::<serde_json::Value>(s).unwrap())
    }

    #[test]
    fn string_and_one_element_list_are_equivalent() {
        let a = yaml("Version: '2012-10-17'\nStatement:\n  Effect: Allow\n  Action: s3:GetObject\n  Resource: '*'\n");
        let b = Value::from(
            r#"{ "Statement": [ { "Resource": ["*"], "Action": ["s3:GetObject"], "Effect": "Allow" } ],
                "Version": "2012-10-17" }"#,
        );
        assert!(equivalent(&a, &b));
        assert_eq!(normalize(&a), normalize(&b));
    }

    #[test]
    fn action_order_does_not_matter_but_content_does() {
        let a = yaml("Version: '2012-10-17'\nStatement:\n- {Effect: Allow, Action: [a:X, a:Y], Resource: '*'}\n");
        let b = yaml("Version: '2012-10-17'\nStatement:\n- {Effect: Allow, Action: [a:Y, a:X], Resource: '*'}\n");
        let c = yaml("Version: '2012-10-17'\nStatement:\n- {Effect: Deny, Action: [a:Y, a:X], Resource: '*'}\n");
        assert!(equivalent(&a, &b));
        assert!(!equivalent(&a, &c));
    }

    #[test]
    fn principals_and_conditions_normalize() {
        let a = yaml("Version: '2012-10-17'\nStatement:\n- Effect: Allow\n  Principal: {Federated: 'arn:aws:iam::1:oidc-provider/x'}\n  Action: sts:AssumeRoleWithWebIdentity\n  Condition: {StringEquals: {'x:aud': sts.amazonaws.com}}\n");
        let b = yaml("Version: '2012-10-17'\nStatement:\n- Effect: Allow\n  Principal: {Federated: ['arn:aws:iam::1:oidc-provider/x']}\n  Action: [sts:AssumeRoleWithWebIdentity]\n  Condition: {StringEquals: {'x:aud': [sts.amazonaws.com]}}\n");
        assert!(equivalent(&a, &b));
        assert!(validate(&a, "assume_role_policy", DocKind::Trust).is_empty());
    }

    #[test]
    fn errors_name_the_path_inside_the_document() {
        let doc = yaml("Version: '2012-10-17'\nStatement:\n- {Effect: Permit, Action: s3:GetObject, Resource: '*'}\n- {Effect: Allow, Resource: '*', Actoin: x}\n");
        let diags = validate(&doc, "document", DocKind::Identity);
        let fields: Vec<&str> = diags.iter().filter_map(|d| d.field.as_deref()).collect();
        assert!(
            fields.contains(&"document.Statement[0].Effect"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"document.Statement[1].Action"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"document.Statement[1].Actoin"),
            "{fields:?}"
        );
        assert!(diags
            .iter()
            .any(|d| d.help.as_deref() == Some("did you mean \"Action\"?")));
    }

    #[test]
    fn version_statement_and_resource_are_checked() {
        let bad_version =
            yaml("Version: '2020-01-01'\nStatement: {Effect: Allow, Action: '*', Resource: '*'}\n");
        assert_eq!(
            validate(&bad_version, "document", DocKind::Identity)[0]
                .field
                .as_deref(),
            Some("document.Version")
        );
        let no_resource = yaml("Version: '2012-10-17'\nStatement: {Effect: Allow, Action: '*'}\n");
        assert_eq!(
            validate(&no_resource, "document", DocKind::Identity)[0]
                .field
                .as_deref(),
            Some("document.Statement.Resource")
        );
        let not_json = Value::from("{ nope");
        assert!(validate(&not_json, "document", DocKind::Identity)[0]
            .summary
            .contains("not valid JSON"));
        let bad_action = yaml("Version: '2012-10-17'\nStatement: [{Effect: Allow, Action: [s3GetObject], Resource: '*'}]\n");
        assert_eq!(
            validate(&bad_action, "document", DocKind::Identity)[0]
                .field
                .as_deref(),
            Some("document.Statement[0].Action[0]")
        );
    }

    /// A trust policy as sent: lists everywhere, typed condition values, keys in our order.
    fn sent_trust() -> Value {
        yaml("Version: '2012-10-17'\nStatement:\n- Sid: Irsa\n  Effect: Allow\n  Principal: {Federated: ['arn:aws:iam::1:oidc-provider/x']}\n  Action: [sts:AssumeRoleWithWebIdentity]\n  Condition:\n    StringEquals: {'x:sub': [system:serviceaccount:cert-manager:aws-pca], 'x:aud': sts.amazonaws.com}\n    Bool: {'aws:SecureTransport': true}\n    NumericLessThan: {'aws:MultiFactorAuthAge': 3600}\n- Effect: Allow\n  Principal: '*'\n  Action: [sts:TagSession, sts:AssumeRole]\n")
    }

    #[test]
    fn real_iam_collapses_single_item_lists_to_strings() {
        let returned = Value::from(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Irsa","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/x"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"x:sub":"system:serviceaccount:cert-manager:aws-pca","x:aud":"sts.amazonaws.com"},"Bool":{"aws:SecureTransport":"true"},"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}},{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#,
        );
        assert!(equivalent(&sent_trust(), &returned));
    }

    #[test]
    fn real_iam_reorders_statements_and_keys() {
        let returned = Value::from(
            r#"{"Statement":[{"Action":["sts:AssumeRole","sts:TagSession"],"Principal":"*","Effect":"Allow"},{"Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"},"Bool":{"aws:SecureTransport":"true"},"StringEquals":{"x:aud":"sts.amazonaws.com","x:sub":"system:serviceaccount:cert-manager:aws-pca"}},"Action":"sts:AssumeRoleWithWebIdentity","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/x"},"Effect":"Allow","Sid":"Irsa"}],"Version":"2012-10-17"}"#,
        );
        assert!(equivalent(&sent_trust(), &returned));
    }

    #[test]
    fn everyone_is_star_or_aws_star_but_not_a_named_account() {
        let star = yaml("Version: '2012-10-17'\nStatement: {Effect: Allow, Principal: '*', Action: sts:AssumeRole}\n");
        let aws_star = Value::from(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
        );
        let account = Value::from(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole"}]}"#,
        );
        assert!(equivalent(&star, &aws_star));
        assert!(!equivalent(&star, &account));
    }

    #[test]
    fn condition_values_compare_as_the_strings_iam_stores() {
        let typed = yaml("Version: '2012-10-17'\nStatement: {Effect: Deny, Action: 's3:*', Resource: '*', Condition: {Bool: {'aws:SecureTransport': false}, NumericGreaterThan: {'s3:max-keys': [10, 2.5]}}}\n");
        let stored = Value::from(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"},"NumericGreaterThan":{"s3:max-keys":["2.5","10"]}}}]}"#,
        );
        assert!(equivalent(&typed, &stored));
        let other = Value::from(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"},"NumericGreaterThan":{"s3:max-keys":["2.5","10"]}}}]}"#,
        );
        assert!(!equivalent(&typed, &other));
    }

    #[test]
    fn url_encoded_documents_as_iam_returns_them_compare_equal() {
        // GetPolicyVersion's Document, RFC 3986-encoded, with IAM's rewrites inside.
        let encoded = Value::from(
            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22acm-pca%3AIssueCertificate%22%2C%22Resource%22%3A%22arn%3Aaws%3Aacm-pca%3Aeu-west-1%3A1%3Acertificate-authority%2Fx%22%7D%7D",
        );
        let sent = yaml("Version: '2012-10-17'\nStatement:\n- Effect: Allow\n  Action: [acm-pca:IssueCertificate]\n  Resource: ['arn:aws:acm-pca:eu-west-1:1:certificate-authority/x']\n");
        assert!(equivalent(&sent, &encoded));
        assert!(!equivalent(&sent_trust(), &encoded));
    }

    #[test]
    fn iam_encoded_documents_decode() {
        let v =
            from_iam("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D").unwrap();
        assert_eq!(v.get_str("Version"), Some("2012-10-17"));
        assert_eq!(
            from_iam(r#"{"a":"100%"}"#).unwrap().get_str("a"),
            Some("100%")
        );
    }

    #[test]
    fn unknown_values_are_accepted() {
        let mut doc = yaml("Version: '2012-10-17'\nStatement: [{Effect: Allow, Action: '*'}]\n");
        doc.as_map_mut().unwrap().get_mut("Statement").unwrap();
        if let Value::Map(m) = &mut doc {
            if let Some(Value::List(l)) = m.get_mut("Statement") {
                l[0].as_map_mut()
                    .unwrap()
                    .insert("Resource".into(), Value::Unknown);
            }
        }
        assert!(validate(&doc, "document", DocKind::Identity).is_empty());
        assert!(validate(&Value::Unknown, "document", DocKind::Identity).is_empty());
    }
}
