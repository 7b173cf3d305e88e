//! In-memory object store: versioned writes, finalizer-aware deletion,
//! namespace and CRD life cycles, and a broadcast of watch events.

use crate::fields;
use crate::patch;
use crate::registry::{self, ResourceType};
use crate::selectors::Selector;
use crate::status::ApiError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

const HISTORY: usize = 5000;

#[derive(Clone, Debug)]
pub struct Event {
    pub kind: &'static str,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub object: Value,
    pub rv: u64,
}

type Key = (String, String);

#[derive(Clone)]
struct Inner {
    rv: u64,
    types: Vec<ResourceType>,
    /// (group, plural) -> (namespace, name) -> object
    objects: BTreeMap<Key, BTreeMap<Key, Value>>,
    history: VecDeque<Event>,
    /// Events recorded under the lock, broadcast when it is released.
    pending: Vec<Event>,
    next_ip: u32,
}

pub struct Store {
    inner: Mutex<Inner>,
    pub events: broadcast::Sender<Event>,
}

#[derive(Clone, Copy, PartialEq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
    Apply,
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The object without server-managed metadata and status: what `generation` tracks.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        let store = Store {
            inner: Mutex::new(Inner {
                rv: 1,
                types: registry::builtins(),
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                pending: vec![],
                next_ip: 10,
            }),
            events,
        };
        let ns = store.lookup("", "v1", "namespaces").unwrap();
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store
                .create(
                    &ns,
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                    "kube-apiserver",
                )
                .expect("seed namespace");
        }
        store
    }

    /// A private copy of everything stored, for dry runs: a write to it is validated and
    /// answered exactly like a real one, and vanishes with the copy.
    pub fn scratch_copy(&self) -> Store {
        let inner = self.inner.lock().unwrap().clone();
        let (events, _) = broadcast::channel(16);
        Store {
            inner: Mutex::new(inner),
            events,
        }
    }

    pub fn types(&self) -> Vec<ResourceType> {
        self.inner.lock().unwrap().types.clone()
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.inner
            .lock()
            .unwrap()
            .types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub fn lookup_kind(&self, group: &str, kind: &str) -> Option<ResourceType> {
        self.inner
            .lock()
            .unwrap()
            .types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
            .cloned()
    }

    pub fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        let inner = self.inner.lock().unwrap();
        inner
            .get(rt, ns, name)
            .map(|o| present(rt, o))
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, sel: &Selector) -> (Vec<Value>, u64) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .get(&(rt.group.clone(), rt.plural.clone()))
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
            .map(|(_, o)| present(rt, o))
            .filter(|o| sel.matches(o))
            .collect();
        (items, inner.rv)
    }

    /// Subscribe, then return the events a watch starting after `rv` must
    /// replay (or synthetic ADDED events for the current state when no rv).
    pub fn watch_from(
        &self,
        rt: &ResourceType,
        rv: Option<u64>,
    ) -> (Vec<Event>, broadcast::Receiver<Event>, u64) {
        let inner = self.inner.lock().unwrap();
        let rx = self.events.subscribe();
        let key = (rt.group.clone(), rt.plural.clone());
        let backlog = match rv {
            Some(rv) if rv > 0 => inner
                .history
                .iter()
                .filter(|e| e.rv > rv && e.group == rt.group && e.plural == rt.plural)
                .cloned()
                .collect(),
            _ => inner
                .objects
                .get(&key)
                .into_iter()
                .flat_map(|m| m.iter())
                .map(|((ns, _), o)| Event {
                    kind: "ADDED",
                    group: rt.group.clone(),
                    plural: rt.plural.clone(),
                    namespace: ns.clone(),
                    object: o.clone(),
                    rv: 0,
                })
                .collect(),
        };
        // Everything up to here is in the backlog; the receiver only sees later writes.
        (backlog, rx, inner.rv)
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        obj: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let mut inner = self.inner.lock().unwrap();
        let out = inner.create(rt, ns, obj, manager, false)?;
        self.flush(&mut inner);
        Ok(present(rt, &out))
    }

    pub fn update(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        manager: &str,
        sub: &str,
    ) -> Result<Value, ApiError> {
        let mut inner = self.inner.lock().unwrap();
        let old = inner
            .get(rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !rv.is_empty()
            && rv
                != old["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
        {
            return Err(ApiError::conflict(rt, name));
        }
        if obj["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let out = inner.update(rt, ns, &old, obj, manager, sub, true)?;
        self.flush(&mut inner);
        Ok(present(rt, &out))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        ptype: PatchType,
        body: Value,
        manager: &str,
        force: bool,
        sub: &str,
    ) -> Result<(Value, bool), ApiError> {
        let mut inner = self.inner.lock().unwrap();
        let old = inner.get(rt, ns, name).cloned();
        let result = match (ptype, old) {
            (PatchType::Apply, old) => {
                let mut applied = body;
                if !applied.is_object() {
                    return Err(ApiError::bad_request("apply patch must be an object"));
                }
                if applied["kind"].as_str().is_some_and(|k| k != rt.kind) {
                    return Err(ApiError::bad_request(format!(
                        "the kind of the applied object ({}) does not match the resource ({})",
                        applied["kind"].as_str().unwrap_or_default(),
                        rt.kind
                    )));
                }
                if let Some(m) = applied["metadata"].as_object_mut() {
                    m.remove("managedFields");
                    m.remove("resourceVersion");
                }
                if rt.status {
                    let m = applied.as_object_mut().unwrap();
                    if sub == "status" {
                        m.retain(|k, _| {
                            matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                        });
                        if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                            md.retain(|k, _| k == "name" || k == "namespace");
                        }
                    } else {
                        m.remove("status");
                    }
                }
                let created = old.is_none();
                let live = old.clone().unwrap_or_else(|| json!({}));
                let merged = fields::apply(&live, &applied, manager, sub, force, &now()).map_err(|cs| {
                    let causes = cs
                        .iter()
                        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": fields::display(&c.path)}))
                        .collect();
                    ApiError::apply_conflict(fields::conflict_message(&cs), causes)
                })?;
                let mut merged = merged;
                merged["metadata"]["name"] = json!(name);
                match old {
                    None => inner
                        .create(rt, ns, merged, manager, true)
                        .map(|o| (o, created)),
                    Some(old) => inner
                        .update(rt, ns, &old, merged, manager, sub, false)
                        .map(|o| (o, false)),
                }
            }
            (_, None) => Err(ApiError::not_found(rt, name)),
            (t, Some(old)) => {
                let mut new = present(rt, &old);
                match t {
                    PatchType::Merge => patch::merge_patch(&mut new, &body),
                    PatchType::Strategic => patch::strategic_merge_patch(&mut new, &body),
                    _ => patch::json_patch(&mut new, &body).map_err(|e| ApiError {
                        code: 422,
                        reason: "Invalid",
                        message: e,
                        details: Value::Null,
                    })?,
                }
                let rv = body["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default();
                if !rv.is_empty()
                    && rv
                        != old["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or_default()
                {
                    return Err(ApiError::conflict(rt, name));
                }
                inner
                    .update(rt, ns, &old, new, manager, sub, true)
                    .map(|o| (o, false))
            }
        };
        self.flush(&mut inner);
        result.map(|(o, c)| (present(rt, &o), c))
    }

    pub fn delete(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        let mut inner = self.inner.lock().unwrap();
        let out = inner.delete(rt, ns, name)?;
        self.flush(&mut inner);
        Ok(present(rt, &out))
    }

    fn flush(&self, inner: &mut Inner) {
        for e in inner.pending.drain(..) {
            let _ = self.events.send(e);
        }
    }
}

/// The object as served for `rt`'s version.
fn present(rt: &ResourceType, o: &Value) -> Value {
    let mut o = o.clone();
    o["apiVersion"] = json!(rt.api_version());
    o["kind"] = json!(rt.kind);
    o
}

impl Inner {
    fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Value> {
        let ns = if rt.namespaced { ns } else { "" };
        self.objects
            .get(&(rt.group.clone(), rt.plural.clone()))?
            .get(&(ns.to_string(), name.to_string()))
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, kind: &'static str, rt: &ResourceType, ns: &str, obj: &Value) {
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(self.rv);
        let e = Event {
            kind,
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: ns.into(),
            object: present(rt, obj),
            rv,
        };
        self.pending.push(e.clone());
        self.history.push_back(e);
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    fn put(&mut self, rt: &ResourceType, ns: &str, name: &str, obj: Value) {
        self.objects
            .entry((rt.group.clone(), rt.plural.clone()))
            .or_default()
            .insert((ns.to_string(), name.to_string()), obj);
    }

    fn namespace_state(&self, ns: &str) -> Option<bool> {
        let o = self
            .objects
            .get(&(String::new(), "namespaces".into()))?
            .get(&(String::new(), ns.to_string()))?;
        Some(o["metadata"].get("deletionTimestamp").is_some())
    }

    fn create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        manager: &str,
        managed: bool,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the request body must be an object"));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let ns = if rt.namespaced { ns } else { "" };
        // Clients send zero values (`creationTimestamp: null`, `generateName: ""`).
        obj["metadata"]
            .as_object_mut()
            .unwrap()
            .retain(|_, v| !v.is_null() && v != "");
        let mut name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            if let Some(g) = obj["metadata"]["generateName"].as_str() {
                name = format!("{g}{}", &uuid::Uuid::new_v4().simple().to_string()[..5]);
            }
        }
        if name.is_empty() {
            return Err(ApiError::invalid(
                rt,
                "",
                "metadata.name",
                "Required value: name or generateName is required",
            ));
        }
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                rt,
                &name,
                "metadata.name",
                &format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
            ));
        }
        if rt.namespaced {
            if ns.is_empty() {
                return Err(ApiError::bad_request(
                    "the namespace of the object is required",
                ));
            }
            if obj["metadata"]["namespace"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && n != ns)
            {
                return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
            match self.namespace_state(ns) {
                None => return Err(ApiError::namespace_not_found(ns)),
                Some(true) => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                        rt.qualified(),
                        name,
                        ns
                    )))
                }
                Some(false) => {}
            }
        }
        if self.get(rt, ns, &name).is_some() {
            return Err(ApiError::already_exists(rt, &name));
        }
        let before = json!({});
        let mut obj = obj;
        if rt.status && rt.kind != "Namespace" {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        let rv = self.next_rv();
        let md = obj["metadata"].as_object_mut().unwrap();
        md.insert("name".into(), json!(name));
        if rt.namespaced {
            md.insert("namespace".into(), json!(ns));
        } else {
            md.remove("namespace");
        }
        md.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        md.insert("resourceVersion".into(), json!(rv.to_string()));
        md.insert("generation".into(), json!(1));
        md.insert("creationTimestamp".into(), json!(now()));
        md.remove("deletionTimestamp");
        md.remove("selfLink");
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        self.defaults(rt, &mut obj);
        if !managed {
            obj["metadata"]["managedFields"] = json!([]);
            let mut managers = vec![];
            fields::record_update(
                &mut managers,
                manager,
                "",
                &rt.api_version(),
                &now(),
                &before,
                &obj,
            );
            fields::write_managers(&mut obj, &managers);
        }
        if rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io" {
            self.establish_crd(&mut obj);
        }
        self.put(rt, ns, &name, obj.clone());
        self.record("ADDED", rt, ns, &obj);
        Ok(obj)
    }

    /// Server-side defaults the real API server (or its controllers) set.
    fn defaults(&mut self, rt: &ResourceType, obj: &mut Value) {
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("", "Namespace") => {
                let name = obj["metadata"]["name"].clone();
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "Service") => {
                if obj["spec"]["clusterIP"].as_str().is_none()
                    && obj["spec"]["type"].as_str() != Some("ExternalName")
                {
                    self.next_ip += 1;
                    let ip = format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250 + 1);
                    obj["spec"]["clusterIP"] = json!(ip);
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
                if obj["spec"]["type"].is_null() {
                    obj["spec"]["type"] = json!("ClusterIP");
                }
            }
            ("", "Secret") => {
                if obj["type"].is_null() {
                    obj["type"] = json!("Opaque");
                }
                // stringData is write-only: fold it into data.
                if let Some(sd) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                    use base64::Engine;
                    for (k, v) in sd.as_object().into_iter().flatten() {
                        let enc = base64::engine::general_purpose::STANDARD
                            .encode(v.as_str().unwrap_or_default());
                        obj["data"][k] = json!(enc);
                    }
                }
            }
            _ => {}
        }
    }

    /// A CRD is established at once; its kinds become servable.
    fn establish_crd(&mut self, crd: &mut Value) {
        let t = now();
        crd["status"] = json!({
            "acceptedNames": crd["spec"]["names"].clone(),
            "storedVersions": crd["spec"]["versions"].as_array().into_iter().flatten()
                .filter(|v| v["storage"].as_bool() == Some(true)).map(|v| v["name"].clone()).collect::<Vec<_>>(),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
            ],
        });
        let group = crd["spec"]["group"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let plural = crd["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.types
            .retain(|t| !(t.group == group && t.plural == plural));
        self.types.extend(registry::from_crd(crd));
    }

    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        old: &Value,
        new: Value,
        manager: &str,
        sub: &str,
        track: bool,
    ) -> Result<Value, ApiError> {
        let ns = if rt.namespaced { ns } else { "" };
        let name = old["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut new = new;
        if !new.is_object() {
            return Err(ApiError::bad_request("the request body must be an object"));
        }
        if rt.status {
            if sub == "status" {
                let mut merged = old.clone();
                merged["status"] = new["status"].clone();
                if track {
                    merged["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
                } else {
                    merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
                }
                new = merged;
            } else {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => drop(new.as_object_mut().unwrap().remove("status")),
                }
            }
        }
        // Immutable and server-owned metadata.
        {
            let om = &old["metadata"];
            if !new["metadata"].is_object() {
                new["metadata"] = json!({});
            }
            let md = new["metadata"].as_object_mut().unwrap();
            for k in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
            ] {
                match om.get(k) {
                    Some(v) => md.insert(k.into(), v.clone()),
                    None => md.remove(k),
                };
            }
        }
        if old["metadata"]["deletionTimestamp"].is_string() {
            // Finalizers may only be removed once deletion started.
            let old_f = old["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let new_f = new["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if new_f.iter().any(|f| !old_f.contains(f)) {
                return Err(ApiError::forbidden(format!(
                    "{} \"{}\" is forbidden: no new finalizers can be added if the object is being deleted",
                    rt.qualified(),
                    name
                )));
            }
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        if rt.kind == "Namespace" && rt.group.is_empty() {
            new["spec"] = old["spec"].clone();
            if sub != "status" {
                new["status"] = old["status"].clone();
            }
        }
        if rt.kind == "Secret" && rt.group.is_empty() {
            self.defaults(rt, &mut new);
        }
        if spec_part(old) != spec_part(&new) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = json!(g);
        }
        if track {
            let mut managers = fields::read_managers(old);
            fields::record_update(
                &mut managers,
                manager,
                sub,
                &rt.api_version(),
                &now(),
                old,
                &new,
            );
            fields::write_managers(&mut new, &managers);
        }
        // Nothing changed: the real server does not bump resourceVersion.
        let mut cmp_old = old.clone();
        cmp_old["metadata"]["resourceVersion"] = Value::Null;
        new["metadata"]["resourceVersion"] = Value::Null;
        if present(rt, &cmp_old) == new {
            return Ok(old.clone());
        }
        let rv = self.next_rv();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        if rt.kind == "CustomResourceDefinition"
            && rt.group == "apiextensions.k8s.io"
            && sub != "status"
        {
            self.establish_crd(&mut new);
        }
        let finished = new["metadata"]["deletionTimestamp"].is_string()
            && new["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if finished {
            return self.remove(rt, ns, &name, new);
        }
        self.put(rt, ns, &name, new.clone());
        self.record("MODIFIED", rt, ns, &new);
        Ok(new)
    }

    fn remove(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if let Some(m) = self.objects.get_mut(&(rt.group.clone(), rt.plural.clone())) {
            m.remove(&(ns.to_string(), name.to_string()));
        }
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record("DELETED", rt, ns, &obj);
        if rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io" {
            self.drop_crd(&obj);
        }
        if !ns.is_empty() {
            self.finish_namespace(ns);
        }
        Ok(obj)
    }

    fn drop_crd(&mut self, crd: &Value) {
        let group = crd["spec"]["group"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let plural = crd["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(rt) = self
            .types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
        else {
            return;
        };
        let objs: Vec<(Key, Value)> = self
            .objects
            .remove(&(group.clone(), plural.clone()))
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        for ((ns, _), mut o) in objs {
            let rv = self.next_rv();
            o["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.record("DELETED", &rt, &ns, &o);
        }
        self.types
            .retain(|t| !(t.group == group && t.plural == plural));
    }

    /// Simulated namespace controller: a terminating namespace disappears
    /// once it holds no objects.
    fn finish_namespace(&mut self, ns: &str) {
        if self.namespace_state(ns) != Some(true) {
            return;
        }
        let occupied = self
            .objects
            .values()
            .any(|m| m.keys().any(|(n, _)| n == ns));
        if occupied {
            return;
        }
        let nsrt = self
            .types
            .iter()
            .find(|t| t.group.is_empty() && t.plural == "namespaces")
            .cloned()
            .unwrap();
        if let Some(o) = self.get(&nsrt, "", ns).cloned() {
            let _ = self.remove(&nsrt, "", ns, o);
        }
    }

    fn delete(&mut self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        let ns = if rt.namespaced { ns } else { "" };
        let mut obj = self
            .get(rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let is_ns = rt.group.is_empty() && rt.kind == "Namespace";
        let has_finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if !has_finalizers && !is_ns {
            return self.remove(rt, ns, name, obj);
        }
        if !obj["metadata"]["deletionTimestamp"].is_string() {
            obj["metadata"]["deletionTimestamp"] = json!(now());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if is_ns {
                obj["status"]["phase"] = json!("Terminating");
            }
            let rv = self.next_rv();
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.put(rt, ns, name, obj.clone());
            self.record("MODIFIED", rt, ns, &obj);
        }
        if is_ns {
            let victims: Vec<(ResourceType, String)> = self
                .types
                .iter()
                .filter(|t| t.namespaced)
                .flat_map(|t| {
                    self.objects
                        .get(&(t.group.clone(), t.plural.clone()))
                        .into_iter()
                        .flat_map(|m| m.keys())
                        .filter(|(n, _)| n == name)
                        .map(|(_, obj_name)| (t.clone(), obj_name.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            for (t, n) in victims {
                if seen.insert((t.group.clone(), t.plural.clone(), n.clone())) {
                    let _ = self.delete(&t, name, &n);
                }
            }
            self.finish_namespace(name);
        }
        Ok(obj)
    }
}
