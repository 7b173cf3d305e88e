//! The store contract, written once and run against every store.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{OutputState, ResourceState, StateError, Store};
use crate::config::Mode;
use crate::value::Value;

/// A resource record for tests.
pub fn resource(address: &str, dependencies: &[&str]) -> ResourceState {
    let mut properties = Value::map();
    properties.set_path("name", Value::from(address));
    ResourceState {
        address: address.to_string(),
        type_name: "core.file".to_string(),
        mode: Mode::Managed,
        provider: "core".to_string(),
        id: format!("/tmp/{address}"),
        properties,
        attributes: Value::map(),
        dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
        sensitive_paths: Vec::new(),
        retain_on_destroy: false,
        updated_at: chrono::Utc::now(),
    }
}

fn output(v: &str) -> OutputState {
    OutputState {
        value: Value::from(v),
        sensitive: false,
        description: None,
    }
}

/// Runs every contract check, each against a fresh store from `make`.
pub fn run_all<S: Store + 'static>(mut make: impl FnMut() -> S) {
    serials_increase_by_one_per_write(&make());
    reads_see_writes(&make());
    outputs_are_replaced_whole(&make());
    concurrent_writes_get_unique_serials(make());
    history_is_pruned_and_newest_first(&make());
    move_renames_and_rewrites_dependencies(&make());
    secrets_are_stored_as_digests(&make());
}

fn serials_increase_by_one_per_write(s: &impl Store) {
    assert_eq!(s.meta().unwrap().serial, 0);
    assert_eq!(s.put_resource(&resource("a", &[])).unwrap(), 1);
    assert_eq!(s.put_resource(&resource("b", &[])).unwrap(), 2);
    assert_eq!(s.remove_resource("a").unwrap(), 3);
    assert_eq!(s.set_outputs(&BTreeMap::new()).unwrap(), 4);
    assert_eq!(s.meta().unwrap().serial, 4);
    // A failed write changes nothing.
    assert!(matches!(
        s.remove_resource("a"),
        Err(StateError::NotFound(a)) if a == "a"
    ));
    assert_eq!(s.meta().unwrap().serial, 4);
}

fn reads_see_writes(s: &impl Store) {
    assert_eq!(s.resource("a").unwrap(), None);
    let a = resource("a", &[]);
    s.put_resource(&a).unwrap();
    assert_eq!(s.resource("a").unwrap(), Some(a.clone()));
    let mut a2 = a.clone();
    a2.id = "changed".to_string();
    s.put_resource(&a2).unwrap();
    assert_eq!(s.resource("a").unwrap().unwrap().id, "changed");
    s.put_resource(&resource("b", &["a"])).unwrap();
    let all = s.resources().unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.meta.serial, 3);
    assert_eq!(snap.resources, all);
}

fn outputs_are_replaced_whole(s: &impl Store) {
    let mut first = BTreeMap::new();
    first.insert("x".to_string(), output("1"));
    first.insert("y".to_string(), output("2"));
    s.set_outputs(&first).unwrap();
    assert_eq!(s.outputs().unwrap(), first);
    let mut second = BTreeMap::new();
    second.insert("z".to_string(), output("3"));
    s.set_outputs(&second).unwrap();
    assert_eq!(s.outputs().unwrap(), second);
}

fn concurrent_writes_get_unique_serials<S: Store + 'static>(s: S) {
    let s = Arc::new(s);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        s.put_resource(&resource(&format!("r{t}_{i}"), &[]))
                            .unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut serials: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| {
            let mine = t.join().unwrap();
            // Each writer sees its own serials strictly increasing.
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
            mine
        })
        .collect();
    serials.sort_unstable();
    assert_eq!(serials, (1..=100).collect::<Vec<u64>>());
    assert_eq!(s.meta().unwrap().serial, 100);
    assert_eq!(s.resources().unwrap().len(), 100);
}

fn history_is_pruned_and_newest_first(s: &impl Store) {
    assert!(s.history().unwrap().is_empty());
    for i in 0..5 {
        s.put_resource(&resource(&format!("r{i}"), &[])).unwrap();
        s.record(&format!("apply {i}"), 3).unwrap();
    }
    // Recording an unchanged state again keeps the command that produced it.
    s.record("refresh", 3).unwrap();
    let h = s.history().unwrap();
    assert_eq!(
        h.iter().map(|e| e.serial).collect::<Vec<_>>(),
        [5, 4, 3],
        "newest first, pruned to 3"
    );
    assert_eq!(h[0].command, "apply 4");
    assert_eq!(h[0].snapshot.resources.len(), 5);
    assert_eq!(h[2].snapshot.resources.len(), 3);
    assert_eq!(h[2].snapshot.meta.serial, 3);
    s.record("apply", 1).unwrap();
    assert_eq!(s.history().unwrap().len(), 1);
}

fn move_renames_and_rewrites_dependencies(s: &impl Store) {
    s.put_resource(&resource("a", &[])).unwrap();
    s.put_resource(&resource("b", &["a"])).unwrap();
    s.put_resource(&resource("c", &[])).unwrap();
    assert!(matches!(
        s.move_resource("missing", "x"),
        Err(StateError::NotFound(_))
    ));
    assert!(matches!(
        s.move_resource("a", "c"),
        Err(StateError::Invalid(_))
    ));
    assert_eq!(s.meta().unwrap().serial, 3);

    assert_eq!(
        s.move_resource("a", "a2").unwrap(),
        4,
        "one write, one serial"
    );
    assert_eq!(s.resource("a").unwrap(), None);
    let moved = s.resource("a2").unwrap().unwrap();
    assert_eq!(moved.address, "a2");
    assert_eq!(moved.id, "/tmp/a");
    assert_eq!(s.resource("b").unwrap().unwrap().dependencies, ["a2"]);
    assert!(s.resource("c").unwrap().unwrap().dependencies.is_empty());
}

fn secrets_are_stored_as_digests(s: &impl Store) {
    let mut r = resource("issuer", &[]);
    r.properties
        .set_path("auth.token", Value::sensitive(Value::from("hunter2")));
    s.put_resource(&r).unwrap();
    let stored = s.resource("issuer").unwrap().unwrap();
    let token = stored.properties.get("auth").unwrap().get("token").unwrap();
    assert!(matches!(token, Value::Redacted(_)), "{token:?}");
    assert_eq!(stored.sensitive_paths, ["auth.token"]);
    assert!(!serde_json::to_string(&s.snapshot().unwrap())
        .unwrap()
        .contains("hunter2"));
    assert_eq!(stored.properties.get_str("name"), Some("issuer"));

    // Outputs too: a sensitive output, or a secret inside a plain one, becomes digests.
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "token".to_string(),
        OutputState {
            sensitive: true,
            ..output("hunter2")
        },
    );
    outputs.insert(
        "mixed".to_string(),
        OutputState {
            value: Value::sensitive(Value::from("hunter2")),
            ..output("")
        },
    );
    s.set_outputs(&outputs).unwrap();
    let stored = s.outputs().unwrap();
    assert!(matches!(stored["token"].value, Value::Redacted(_)));
    assert!(matches!(stored["mixed"].value, Value::Redacted(_)));
    assert!(!serde_json::to_string(&s.snapshot().unwrap())
        .unwrap()
        .contains("hunter2"));
}
