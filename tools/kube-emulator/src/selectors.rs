//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and the
//! field selectors `metadata.name` / `metadata.namespace`.

use serde_json::Value;

#[derive(Debug, Clone)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default)]
pub struct Selector {
    labels: Vec<Req>,
    fields: Vec<Req>,
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or(format!("bad set {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse(s: &str) -> Result<Vec<Req>, String> {
    let mut out = vec![];
    for term in split_top(s) {
        let req = if let Some((k, v)) = term.split_once("!=") {
            Req::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = term.split_once("==") {
            Req::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = term.split_once('=') {
            Req::Eq(k.trim().into(), v.trim().into())
        } else if let Some(i) = term.find(" notin ") {
            Req::NotIn(term[..i].trim().into(), parse_set(&term[i + 7..])?)
        } else if let Some(i) = term.find(" in ") {
            Req::In(term[..i].trim().into(), parse_set(&term[i + 4..])?)
        } else if let Some(k) = term.strip_prefix('!') {
            Req::NotExists(k.trim().into())
        } else {
            Req::Exists(term.trim().into())
        };
        out.push(req);
    }
    Ok(out)
}

fn matches(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v),
        Req::Ne(k, v) => get(k).as_deref() != Some(v),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

impl Selector {
    pub fn parse(label: Option<&str>, field: Option<&str>) -> Result<Self, String> {
        let fields = parse(field.unwrap_or_default())?;
        for f in &fields {
            let (Req::Eq(k, _) | Req::Ne(k, _)) = f else {
                return Err(format!("unsupported field selector {f:?}"));
            };
            if !matches!(k.as_str(), "metadata.name" | "metadata.namespace") {
                return Err(format!("field label not supported: {k}"));
            }
        }
        Ok(Selector {
            labels: parse(label.unwrap_or_default())?,
            fields,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        matches(&self.labels, |k| {
            labels.get(k).and_then(Value::as_str).map(String::from)
        }) && matches(&self.fields, |k| {
            let f = k.strip_prefix("metadata.").unwrap_or(k);
            Some(obj["metadata"][f].as_str().unwrap_or_default().to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let o = json!({"metadata": {"name": "n", "labels": {"app": "web", "tier": "fe"}}});
        let ok = |l: &str| Selector::parse(Some(l), None).unwrap().matches(&o);
        assert!(ok("app=web"));
        assert!(ok("app==web,tier!=be"));
        assert!(ok("app in (web, api),tier notin (be)"));
        assert!(ok("app,!missing"));
        assert!(!ok("app notin (web)"));
        assert!(!ok("!app"));
        let f = Selector::parse(None, Some("metadata.name=n")).unwrap();
        assert!(f.matches(&o));
    }
}
