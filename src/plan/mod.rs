//! Plans: what apply will do, resource by resource, and why.
//!
//! A [`Plan`] is self-contained (it embeds the stack source and variable values) so a saved
//! plan ([`saved`]) applies exactly what was shown, and refuses to apply if the state moved
//! on.

pub mod diff;
pub mod eval;
pub mod json;
pub mod ownership;
pub mod planner;
pub mod refresh;
pub mod render;
pub mod restart;
pub mod saved;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::diag::Diagnostics;
use crate::state::ResourceState;
use crate::value::Value;

pub use planner::{plan, PlanParams};

/// A closed set of actions. Replacement comes in two explicit orderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    /// Read a data source (at apply, when its inputs were unknown at plan time).
    Read,
    Update,
    DeleteThenCreate,
    CreateThenDelete,
    Delete,
    /// Take an object that already exists into state (`lifecycle.adopt`), then bring it
    /// to the desired properties.
    Adopt,
    /// Drop the resource from state and leave its object (`lifecycle.retain_on_destroy`).
    Forget,
}

impl Action {
    pub fn glyph(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Read => "<=",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::Delete => "-",
            Action::Adopt => "<+",
            Action::Forget => ".",
        }
    }

    /// Removes the resource from state: a deletion, or a forget that leaves the object.
    pub fn removes(self) -> bool {
        matches!(self, Action::Delete | Action::Forget)
    }

    pub fn is_replace(self) -> bool {
        matches!(self, Action::DeleteThenCreate | Action::CreateThenDelete)
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "unchanged",
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::DeleteThenCreate | Action::CreateThenDelete => "replace",
            Action::Delete => "destroy",
            Action::Adopt => "adopt",
            Action::Forget => "forget",
        }
    }
}

/// One resource's planned change. `reason` is for people only and never drives apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedChange {
    pub address: String,
    pub type_name: String,
    pub provider: String,
    pub mode: Mode,
    pub action: Action,
    /// The resource as refreshed before planning, as state would keep it (none for a
    /// create).
    pub prior: Option<ResourceState>,
    /// Desired properties: real values, secrets marked `Value::Sensitive` (a saved plan
    /// is a secret), `Unknown` where not known yet.
    pub properties: Value,
    /// Attributes after apply, `Unknown` where not known yet.
    pub planned_attributes: Value,
    /// Property paths whose value changes.
    pub changed: Vec<String>,
    /// Property paths that force the replacement.
    pub requires_replace: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Addresses this resource depends on (in the stack, or as stored for deletions).
    pub dependencies: Vec<String>,
    /// Paths of the secret leaves, derived from the marks; for display.
    pub sensitive_paths: Vec<String>,
    /// Provider-specific lines shown under the change (a Helm manifest diff).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Why the running object must be restarted after this change (istiod, when the
    /// `cacerts` it reads only at start is made anew); apply restarts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
}

impl PlannedChange {
    /// True when apply does anything for this change: an action, or a restart.
    pub fn has_effect(&self) -> bool {
        self.action != Action::NoOp || self.restart.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOutput {
    pub value: Value,
    pub sensitive: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub file: PathBuf,
    /// The stack text the plan was made from; apply evaluates it again for values that
    /// were unknown at plan time.
    pub source: String,
    pub workspace: String,
    /// State identity the plan was made against: apply refuses a plan whose state moved on.
    pub lineage: String,
    pub serial: u64,
    pub destroy: bool,
    /// Variable values, sensitive ones included: a saved plan is a secret.
    pub variables: BTreeMap<String, Value>,
    /// In apply order (dependencies first; deletions of dependents first).
    pub changes: Vec<PlannedChange>,
    pub outputs: BTreeMap<String, PlannedOutput>,
    /// Shown when the plan is made; not saved.
    #[serde(skip)]
    pub warnings: Diagnostics,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Counts per kind of change, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
    pub read: usize,
    pub adopt: usize,
    pub forget: usize,
    pub restart: usize,
}

/// Summed counts, for totals over several plans (a fleet's members).
impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, s: Summary) {
        self.add += s.add;
        self.change += s.change;
        self.replace += s.replace;
        self.destroy += s.destroy;
        self.read += s.read;
        self.adopt += s.adopt;
        self.forget += s.forget;
        self.restart += s.restart;
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete => s.replace += 1,
                Action::Delete => s.destroy += 1,
                Action::Read => s.read += 1,
                Action::Adopt => s.adopt += 1,
                Action::Forget => s.forget += 1,
                Action::NoOp => {}
            }
            if c.restart.is_some() {
                s.restart += 1;
            }
        }
        s
    }

    /// True when applying would change anything (outputs included).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(PlannedChange::has_effect)
    }
}

impl Summary {
    pub fn line(&self) -> String {
        let mut line = format!(
            "Plan: {} to add, {} to change, {} to replace, {} to destroy",
            self.add, self.change, self.replace, self.destroy
        );
        if self.read > 0 {
            line.push_str(&format!(", {} to read", self.read));
        }
        if self.adopt > 0 {
            line.push_str(&format!(", {} to adopt", self.adopt));
        }
        if self.forget > 0 {
            line.push_str(&format!(", {} to forget", self.forget));
        }
        if self.restart > 0 {
            line.push_str(&format!(", {} to restart", self.restart));
        }
        line.push('.');
        line
    }
}
