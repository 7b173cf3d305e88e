//! SIMULATED CONTROLLERS. Nothing here is the real thing: these tasks
//! imitate just enough of kube-controller-manager (workload readiness),
//! aws-privateca-issuer and cert-manager for trustplane's tests. They react
//! to the store's event broadcast and write status the way the real
//! controllers would.

mod aws;
mod certificates;
mod workloads;

use crate::store::Store;
use std::sync::Arc;

pub fn spawn(store: Arc<Store>, aws_endpoint: Option<String>) {
    tokio::spawn(workloads::run(store.clone()));
    tokio::spawn(certificates::run(store, aws_endpoint));
}
