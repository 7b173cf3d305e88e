//! JSON merge patch (RFC 7386), a strategic-merge-patch approximation and
//! JSON patch (RFC 6902).

use serde_json::Value;

pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch as a merge patch that also merges lists of named
/// objects by `name` (containers, env, volumes...) and drops `$` directives.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch) {
        (Some(t), Value::Object(p)) => {
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                    continue;
                }
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                let merge_list = matches!((slot.as_array(), v.as_array()), (Some(a), Some(b)) if named(a) && named(b));
                if merge_list {
                    let (items, patch_items) =
                        (slot.as_array_mut().unwrap(), v.as_array().unwrap());
                    {
                        for pi in patch_items {
                            let name = &pi["name"];
                            let pos = items.iter().position(|i| &i["name"] == name);
                            let delete = pi.get("$patch").and_then(Value::as_str) == Some("delete");
                            match (pos, delete) {
                                (Some(i), true) => {
                                    items.remove(i);
                                }
                                (Some(i), false) => strategic_merge_patch(&mut items[i], pi),
                                (None, false) => {
                                    let mut fresh = Value::Object(Default::default());
                                    strategic_merge_patch(&mut fresh, pi);
                                    items.push(fresh);
                                }
                                (None, true) => {}
                            }
                        }
                    }
                } else if v.is_object() {
                    if !slot.is_object() {
                        *slot = Value::Object(Default::default());
                    }
                    strategic_merge_patch(slot, v);
                } else {
                    *slot = v.clone();
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn parent_mut<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let toks: Vec<String> = path.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = toks.split_last() else {
        return Err("empty path".into());
    };
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path {path} not found"))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("bad index in {path}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("path {path} not found"))?
            }
            _ => return Err(format!("path {path} not found")),
        };
    }
    Ok((cur, last.clone()))
}

fn op_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = parent_mut(doc, path)?;
    match parent {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| format!("path {path} not found")),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(format!("path {path} not found"))
            }
        }
        _ => Err(format!("path {path} not found")),
    }
}

fn op_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
                if i > a.len() {
                    return Err(format!("index out of range in {path}"));
                }
                a.insert(i, value);
            }
            Ok(())
        }
        _ => Err(format!("path {path} not found")),
    }
}

pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("JSON patch must be an array")? {
        let path = op["path"].as_str().unwrap_or_default();
        match op["op"].as_str().unwrap_or_default() {
            "add" => op_add(doc, path, op["value"].clone())?,
            "remove" => {
                op_remove(doc, path)?;
            }
            "replace" => {
                op_remove(doc, path)?;
                op_add(doc, path, op["value"].clone())?;
            }
            "move" => {
                let v = op_remove(doc, op["from"].as_str().unwrap_or_default())?;
                op_add(doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(op["from"].as_str().unwrap_or_default())
                    .cloned()
                    .ok_or("copy source not found")?;
                op_add(doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown JSON patch op {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_strategic_and_json_patch() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [{"name": "x", "i": 1}, {"name": "y"}]});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(v["a"], json!({"c": 2, "d": 3}));
        strategic_merge_patch(
            &mut v,
            &json!({"l": [{"name": "x", "i": 2}, {"name": "y", "$patch": "delete"}]}),
        );
        assert_eq!(v["l"], json!([{"name": "x", "i": 2}]));
        json_patch(
            &mut v,
            &json!([{"op": "add", "path": "/a/e", "value": 5}, {"op": "remove", "path": "/a/c"}]),
        )
        .unwrap();
        assert_eq!(v["a"], json!({"d": 3, "e": 5}));
    }
}
