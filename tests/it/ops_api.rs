//! The engine's operations called as a library, as a fleet of stacks calls them: several
//! stacks prepared, planned and applied at once in one process, each with its own state,
//! nothing printed, every result a report value.

use std::path::Path;
use std::sync::Arc;

use trustplane::apply::Silent;
use trustplane::graph::walk::Cancel;
use trustplane::ops::apply::{apply, pending, ExecuteParams};
use trustplane::ops::drift::drift;
use trustplane::ops::locked::StateSpec;
use trustplane::ops::plan::{plan, PlanOptions};
use trustplane::ops::prepare::{prepare, PrepareParams};
use trustplane::ops::stack::PkiChecks;
use trustplane::ops::{Hooks, OpsError};
use trustplane::provider::Registry;

fn stack(name: &str) -> String {
    format!(
        "stack: {name}\nresources:\n  first:\n    type: core.null\n  second:\n    type: core.null\n    \
         properties:\n      triggers:\n        after: ${{first.id}}\noutputs:\n  second_id: ${{second.id}}\n"
    )
}

fn params(dir: &Path, name: &str) -> PrepareParams {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, stack(name)).unwrap();
    PrepareParams {
        file,
        vars: Default::default(),
        state: StateSpec {
            dir: Some(dir.join(format!("state-{name}"))),
            ..StateSpec::default()
        },
        command: "apply".into(),
        pki: PkiChecks::Enforce,
        parallelism: 4,
        offline: false,
    }
}

/// Prepares, plans and applies one stack; returns how many resources were added.
async fn apply_one(p: PrepareParams) -> Result<usize, OpsError> {
    let registry = Arc::new(Registry::builtin());
    let hooks = Hooks::silent();
    let prepared = prepare(&p, &registry, &hooks).await?;
    let planned = plan(&prepared, &registry, &PlanOptions::default(), &hooks).await?;
    assert!(pending(&planned, &prepared.state).changes);
    let summary = apply(
        &prepared,
        &planned,
        registry.clone(),
        ExecuteParams {
            parallelism: 4,
            cancel: Cancel::default(),
            progress: Arc::new(Silent),
        },
    )
    .await;
    assert!(summary.succeeded, "{:?}", summary.diagnostics);
    assert!(summary.outputs.contains_key("second_id"));
    assert_eq!(prepared.state.store.resources()?.len(), 2);
    Ok(summary.added)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_stacks_apply_at_once_each_to_its_own_state() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = tokio::join!(
        apply_one(params(dir.path(), "alpha")),
        apply_one(params(dir.path(), "beta")),
        apply_one(params(dir.path(), "gamma")),
    );
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (2, 2, 2));

    // Each state holds its own stack; a second run finds nothing to do and no drift.
    let registry = Registry::builtin();
    let again = prepare(&params(dir.path(), "beta"), &registry, &Hooks::silent())
        .await
        .unwrap();
    assert_eq!(again.state.store.meta().unwrap().stack, "beta");
    let replan = plan(&again, &registry, &PlanOptions::default(), &Hooks::silent())
        .await
        .unwrap();
    assert!(pending(&replan, &again.state).nothing());
    assert!(drift(&again).unwrap().drifts.is_empty());
}

#[tokio::test]
async fn a_held_lock_is_an_error_value_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(dir.path(), "alpha");
    let registry = Registry::builtin();
    let first = prepare(&p, &registry, &Hooks::silent()).await.unwrap();
    let second = prepare(&p, &registry, &Hooks::silent()).await;
    match second {
        Err(OpsError::Diagnostics(d)) => {
            assert!(d.0.iter().any(|d| d.code == "state::locked"), "{d:?}")
        }
        other => panic!("expected the lock to be refused, got {:?}", other.err()),
    }
    drop(first);
    prepare(&p, &registry, &Hooks::silent())
        .await
        .expect("the lock is released with the first");
}
