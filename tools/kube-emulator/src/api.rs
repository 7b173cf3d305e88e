//! HTTP front end: routes discovery and resource requests onto the store.

use crate::discovery;
use crate::eks_auth::EksAuth;
use crate::protobuf;
use crate::registry::ResourceType;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::store::{Event, PatchType, Store};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    pub store: Arc<Store>,
    pub addr: String,
    pub eks_auth: Option<EksAuth>,
}

fn respond(code: u16, body: &Value) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn error(e: ApiError) -> Response {
    respond(e.code, &e.body())
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

pub async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let q = query(&uri);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(auth) = &app.eks_auth {
        if let Err(why) = authenticate(auth, &headers, &segs) {
            // The real server says no more than "Unauthorized"; the log says why.
            eprintln!("{method} {uri} -> 401 ({why})");
            return error(ApiError::unauthorized());
        }
    }
    let types = app.store.types();
    let resp = match (method.clone(), segs.as_slice()) {
        (Method::GET, ["healthz" | "readyz" | "livez", ..]) => Response::new(Body::from("ok")),
        (Method::GET, ["version"]) => respond(200, &discovery::version()),
        (Method::GET, ["api"]) => respond(200, &discovery::core_versions(&app.addr)),
        (Method::GET, ["apis"]) => respond(200, &discovery::group_list(&types)),
        (Method::GET, ["openapi", "v2"]) => {
            if accept.contains("protobuf") {
                Response::builder()
                    .header(header::CONTENT_TYPE, discovery::OPENAPI_V2_PROTO)
                    .body(Body::from(discovery::openapi_v2_protobuf()))
                    .unwrap()
            } else {
                respond(200, &discovery::openapi_v2_json())
            }
        }
        (Method::GET, ["openapi", "v3"]) => respond(200, &json!({"paths": {}})),
        (Method::GET, ["api", v]) => match discovery::resource_list(&types, "", v) {
            Some(l) => respond(200, &l),
            None => error(ApiError::path_not_found(&path)),
        },
        (Method::GET, ["apis", g]) => match discovery::group(&types, g) {
            Some(l) => respond(200, &l),
            None => error(ApiError::path_not_found(&path)),
        },
        (Method::GET, ["apis", g, v]) => match discovery::resource_list(&types, g, v) {
            Some(l) => respond(200, &l),
            None => error(ApiError::path_not_found(&path)),
        },
        (_, ["api", v, rest @ ..]) if !rest.is_empty() => {
            resource(
                &app, &method, "", v, rest, &q, &headers, &accept, &body, &path,
            )
            .await
        }
        (_, ["apis", g, v, rest @ ..]) if !rest.is_empty() => {
            resource(
                &app, &method, g, v, rest, &q, &headers, &accept, &body, &path,
            )
            .await
        }
        _ => error(ApiError::path_not_found(&path)),
    };
    eprintln!("{} {} -> {}", method, uri, resp.status().as_u16());
    resp
}

/// A bearer token EKS would accept; without one, only what EKS serves anonymously.
fn authenticate(auth: &EksAuth, headers: &HeaderMap, segs: &[&str]) -> Result<(), String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return match segs {
            ["healthz" | "readyz" | "livez" | "version", ..] => Ok(()),
            _ => Err("no bearer token".into()),
        };
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("not a bearer token")?;
    auth.verify(token.trim(), chrono::Utc::now())
}

fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return protobuf::decode(body).map_err(ApiError::unsupported_media);
    }
    if ct.starts_with("application/apply-patch+yaml") || ct.contains("yaml") {
        let y: serde_yaml::Value = serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        return serde_json::to_value(y).map_err(|e| ApiError::bad_request(e.to_string()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))
}

fn manager(q: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

fn human_age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let s = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn table(items: &[Value], rv: u64, include: &str) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let object = if include == "Object" {
                o.clone()
            } else {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
            };
            json!({"cells": [o["metadata"]["name"], human_age(o["metadata"]["creationTimestamp"].as_str().unwrap_or_default())],
                   "object": object})
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
        ],
        "rows": rows,
    })
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    app: &App,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    accept: &str,
    body: &[u8],
    path: &str,
) -> Response {
    let (ns, plural, name, sub) = match rest {
        ["namespaces", n, s @ ("status" | "finalize")] if group.is_empty() => {
            ("", "namespaces", Some(*n), Some(*s))
        }
        ["namespaces", ns, plural, tail @ ..] => {
            (*ns, *plural, tail.first().copied(), tail.get(1).copied())
        }
        [plural, tail @ ..] => ("", *plural, tail.first().copied(), tail.get(1).copied()),
        [] => return error(ApiError::path_not_found(path)),
    };
    let Some(rt) = app.store.lookup(group, version, plural) else {
        return error(ApiError::path_not_found(path));
    };
    if !ns.is_empty() && !rt.namespaced {
        return error(ApiError::path_not_found(path));
    }
    let sub = match sub {
        None => "",
        Some("status") if rt.status => "status",
        Some("finalize") if rt.kind == "Namespace" => "",
        Some(_) => return error(ApiError::path_not_found(path)),
    };
    // kubectl sends a delete's dry run in the DeleteOptions body, not the query.
    let delete_options: Value = match *method {
        Method::DELETE if !body.is_empty() => serde_json::from_slice(body).unwrap_or_default(),
        _ => Value::Null,
    };
    let dry_run_value = q.get("dryRun").map(String::as_str).or_else(|| {
        delete_options["dryRun"]
            .as_array()
            .and_then(|v| v.first())
            .and_then(Value::as_str)
    });
    let dry_run = match dry_run_value {
        None | Some("") => false,
        Some("All") => true,
        Some(v) => {
            return error(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {v:?}: supported values: \"All\""
            )))
        }
    };
    let mgr = manager(q, headers);
    // A dry run writes to a throwaway copy: the same validation, conflicts and answer,
    // nothing stored, no watch event, no resourceVersion consumed.
    let scratch;
    let store = if dry_run && *method != Method::GET {
        scratch = app.store.scratch_copy();
        &scratch
    } else {
        &app.store
    };
    let stored_rv = name
        .filter(|_| dry_run)
        .and_then(|n| store.get(&rt, ns, n).ok())
        .map(|o| o["metadata"]["resourceVersion"].clone());
    let sel = match Selector::parse(
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    ) {
        Ok(s) => s,
        Err(e) => return error(ApiError::bad_request(e)),
    };
    let wants_table = accept.contains("as=Table");
    let include = q
        .get("includeObject")
        .cloned()
        .unwrap_or_else(|| "Metadata".into());
    let result: Result<(u16, Value), ApiError> = match (method, name) {
        (&Method::GET, None) => {
            let watching = matches!(q.get("watch").map(String::as_str), Some("1" | "true"));
            let nsf = (!ns.is_empty()).then_some(ns);
            if watching {
                return watch(store, &rt, nsf, sel, q);
            }
            let (items, rv) = store.list(&rt, nsf, &sel);
            if wants_table {
                Ok((200, table(&items, rv, &include)))
            } else {
                Ok((
                    200,
                    json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                                 "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
                ))
            }
        }
        (&Method::GET, Some(n)) => store.get(&rt, ns, n).map(|o| {
            if wants_table {
                (200, table(&[o], store.current_rv(), &include))
            } else {
                (200, o)
            }
        }),
        (&Method::POST, None) => match decode_body(headers, body) {
            Ok(obj) => store.create(&rt, ns, obj, &mgr).map(|o| (201, o)),
            Err(e) => Err(e),
        },
        (&Method::PUT, Some(n)) => match decode_body(headers, body) {
            Ok(obj) => store.update(&rt, ns, n, obj, &mgr, sub).map(|o| (200, o)),
            Err(e) => Err(e),
        },
        (&Method::PATCH, Some(n)) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let ptype = if ct.starts_with("application/apply-patch") {
                Some(PatchType::Apply)
            } else if ct.starts_with("application/merge-patch+json") {
                Some(PatchType::Merge)
            } else if ct.starts_with("application/strategic-merge-patch+json") {
                Some(PatchType::Strategic)
            } else if ct.starts_with("application/json-patch+json") {
                Some(PatchType::Json)
            } else {
                None
            };
            match ptype {
                None => Err(ApiError::unsupported_media(format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"))),
                Some(PatchType::Apply) if q.get("fieldManager").is_none_or(|m| m.is_empty()) => {
                    Err(ApiError::bad_request("PATCH, application/apply-patch+yaml requires fieldManager"))
                }
                Some(t) => match decode_body(headers, body) {
                    Ok(p) => {
                        let force = q.get("force").is_some_and(|f| f == "true" || f == "1");
                        store.patch(&rt, ns, n, t, p, &mgr, force, sub).map(|(o, created)| (if created { 201 } else { 200 }, o))
                    }
                    Err(e) => Err(e),
                },
            }
        }
        (&Method::DELETE, Some(n)) => store.delete(&rt, ns, n).map(|o| (200, o)),
        (&Method::DELETE, None) => {
            let nsf = (!ns.is_empty()).then_some(ns);
            let (items, rv) = store.list(&rt, nsf, &sel);
            for o in &items {
                let _ = store.delete(
                    &rt,
                    o["metadata"]["namespace"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default(),
                );
            }
            Ok((
                200,
                json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                             "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            ))
        }
        _ => Err(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method} {path})"
            ),
            details: Value::Null,
        }),
    };
    match result {
        Ok((code, mut v)) => {
            if dry_run && (name.is_some() || *method == Method::POST) {
                // The real server answers a dry run with the stored object's
                // resourceVersion, or none for an object that does not exist yet.
                match (&stored_rv, v["metadata"].as_object_mut()) {
                    (Some(rv), Some(md)) => drop(md.insert("resourceVersion".into(), rv.clone())),
                    (None, Some(md)) => drop(md.remove("resourceVersion")),
                    _ => {}
                }
            }
            respond(code, &v)
        }
        Err(e) => error(e),
    }
}

struct WatchState {
    backlog: VecDeque<Event>,
    rx: tokio::sync::broadcast::Receiver<Event>,
    last: u64,
    rt: ResourceType,
    ns: Option<String>,
    sel: Selector,
    deadline: tokio::time::Instant,
    bookmarks: bool,
}

fn line(kind: &str, obj: &Value) -> Result<Bytes, Infallible> {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap();
    v.push(b'\n');
    Ok(Bytes::from(v))
}

fn watch(
    store: &Store,
    rt: &ResourceType,
    ns: Option<&str>,
    sel: Selector,
    q: &HashMap<String, String>,
) -> Response {
    let rv = q.get("resourceVersion").and_then(|r| r.parse().ok());
    let (backlog, rx, last) = store.watch_from(rt, rv);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800u64);
    let st = WatchState {
        backlog: backlog.into(),
        rx,
        last,
        rt: rt.clone(),
        ns: ns.map(String::from),
        sel,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
        bookmarks: q.get("allowWatchBookmarks").is_some_and(|b| b == "true"),
    };
    let wanted = |st: &WatchState, e: &Event| {
        e.group == st.rt.group
            && e.plural == st.rt.plural
            && st.ns.as_ref().is_none_or(|n| *n == e.namespace)
            && st.sel.matches(&e.object)
    };
    let stream = futures_util::stream::unfold(st, move |mut st| async move {
        loop {
            if let Some(e) = st.backlog.pop_front() {
                if wanted(&st, &e) {
                    return Some((line(e.kind, &e.object), st));
                }
                continue;
            }
            let tick = tokio::time::sleep(Duration::from_secs(15));
            let got = tokio::select! {
                r = st.rx.recv() => r,
                _ = tokio::time::sleep_until(st.deadline) => return None,
                _ = tick, if st.bookmarks => {
                    // Periodic bookmarks also reveal a client that went away.
                    let obj = json!({"kind": st.rt.kind, "apiVersion": st.rt.api_version(),
                                     "metadata": {"resourceVersion": st.last.to_string()}});
                    return Some((line("BOOKMARK", &obj), st));
                }
            };
            match got {
                Ok(e) if e.rv > st.last => {
                    st.last = e.rv;
                    if wanted(&st, &e) {
                        return Some((line(e.kind, &e.object), st));
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}
