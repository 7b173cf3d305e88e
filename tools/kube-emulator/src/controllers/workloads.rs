//! SIMULATED workload controllers (Deployment, StatefulSet, DaemonSet,
//! ReplicaSet): every pod is instantly ready, so a short while after a
//! create or spec change the status reports full availability.

use crate::store::{now, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const MANAGER: &str = "kube-controller-manager";

fn status_for(kind: &str, obj: &Value) -> Value {
    let g = obj["metadata"]["generation"].clone();
    let r = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let t = now();
    match kind {
        "Deployment" => json!({
            "observedGeneration": g, "replicas": r, "updatedReplicas": r, "readyReplicas": r, "availableReplicas": r,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": t, "lastTransitionTime": t},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{}-emulated\" has successfully progressed.", obj["metadata"]["name"].as_str().unwrap_or_default()),
                 "lastUpdateTime": t, "lastTransitionTime": t},
            ],
        }),
        "StatefulSet" => json!({
            "observedGeneration": g, "replicas": r, "readyReplicas": r, "currentReplicas": r, "updatedReplicas": r,
            "availableReplicas": r, "currentRevision": "emulated", "updateRevision": "emulated", "collisionCount": 0,
        }),
        "DaemonSet" => json!({
            "observedGeneration": g, "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberAvailable": 1,
            "numberReady": 1, "updatedNumberScheduled": 1, "numberMisscheduled": 0,
        }),
        _ => {
            json!({"observedGeneration": g, "replicas": r, "readyReplicas": r, "availableReplicas": r, "fullyLabeledReplicas": r})
        }
    }
}

pub async fn run(store: Arc<Store>) {
    let mut rx = store.events.subscribe();
    eprintln!("[simulated controller] workloads: started");
    loop {
        let e = match rx.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        if e.group != "apps" || e.kind == "DELETED" {
            continue;
        }
        let kind = e.object["kind"].as_str().unwrap_or_default().to_string();
        if !matches!(
            kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        ) {
            continue;
        }
        if e.object["status"]["observedGeneration"] == e.object["metadata"]["generation"] {
            continue;
        }
        let store = store.clone();
        let plural = e.plural.clone();
        let ns = e.namespace.clone();
        let name = e.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let Some(rt) = store.lookup("apps", "v1", &plural) else {
                return;
            };
            let Ok(mut obj) = store.get(&rt, &ns, &name) else {
                return;
            };
            if obj["metadata"]["deletionTimestamp"].is_string()
                || obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
            {
                return;
            }
            obj["status"] = status_for(&kind, &obj);
            match store.update(&rt, &ns, &name, obj, MANAGER, "status") {
                Ok(_) => eprintln!("[simulated controller] {kind} {ns}/{name} is now available"),
                Err(err) => eprintln!("[simulated controller] {kind} {ns}/{name}: {}", err.message),
            }
        });
    }
}
