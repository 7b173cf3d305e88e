//! A stack planned and applied in memory, with the `core` provider and the in-memory
//! store: for the planner's and the executor's unit tests.

use std::path::Path;
use std::sync::Arc;

use super::refresh::{refresh, RefreshParams};
use super::{planner, Action, Plan, PlanParams, PlannedChange};
use crate::apply::{apply, ApplyParams, ApplyReport, Silent};
use crate::config::Stack;
use crate::diag::Diagnostics;
use crate::graph::walk::Cancel;
use crate::graph::DependencyGraph;
use crate::provider::{core::CoreProvider, Registry};
use crate::state::memory::MemoryState;
use crate::state::StateRead;

pub struct Rig {
    pub registry: Arc<Registry>,
    pub store: Arc<MemoryState>,
    /// Where `core.file` resources go: stack texts say `{dir}`.
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn new() -> Rig {
        Rig {
            registry: Arc::new(Registry::new(vec![Arc::new(CoreProvider)])),
            store: Arc::new(MemoryState::new("s", "default")),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn stack(&self, text: &str) -> Stack {
        let text = text.replace("{dir}", self.dir.path().to_str().unwrap());
        let (stack, diags) =
            crate::config::load::load_str(Path::new("s.yaml"), &text, &self.registry);
        stack.unwrap_or_else(|| panic!("{diags}"))
    }

    /// Refreshes what the store holds and plans `text` against it.
    pub async fn plan(&self, text: &str, params: &PlanParams) -> Result<Plan, Diagnostics> {
        let stack = self.stack(text);
        let (graph, _) = DependencyGraph::from_stack(&stack);
        let meta = self.store.meta().unwrap();
        let refreshed = refresh(
            &RefreshParams {
                registry: &self.registry,
                stack: &stack,
                lineage: &meta.lineage,
                parallelism: 4,
                progress: None,
            },
            &self.store.resources().unwrap(),
        )
        .await?;
        planner::plan(
            &stack,
            &graph,
            &Default::default(),
            &self.registry,
            &meta,
            &refreshed,
            params,
        )
        .await
    }

    pub async fn apply(&self, text: &str, plan: &Plan) -> ApplyReport {
        apply(
            plan,
            &self.stack(text),
            self.registry.clone(),
            self.store.clone(),
            ApplyParams {
                parallelism: 4,
                cancel: Cancel::default(),
                progress: Arc::new(Silent),
                command: "apply".into(),
            },
        )
        .await
    }

    /// Plans and applies `text`; the apply must succeed.
    pub async fn converge(&self, text: &str) -> Plan {
        let plan = self.plan(text, &PlanParams::default()).await.unwrap();
        let report = self.apply(text, &plan).await;
        assert!(report.succeeded(), "{}", report.diagnostics);
        plan
    }
}

/// Each change's address and action, in plan order.
pub fn actions(plan: &Plan) -> Vec<(&str, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.as_str(), c.action))
        .collect()
}

pub fn change<'p>(plan: &'p Plan, address: &str) -> &'p PlannedChange {
    plan.changes
        .iter()
        .find(|c| c.address == address)
        .unwrap_or_else(|| panic!("no change for {address}"))
}
