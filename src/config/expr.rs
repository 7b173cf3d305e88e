//! `${...}` references. A string that is only one reference takes the referenced value
//! with its type (list, map, number); a reference inside a longer string interpolates.

use super::yaml::Node;
use crate::diag::{Diagnostic, Span};
use crate::value::{PathStep, Value};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefTarget {
    /// `${var.NAME}`
    Variable(String),
    /// `${NAME.attr...}`
    Resource(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub target: RefTarget,
    /// Steps after the target: `${ca.subject.names[0]}` → subject, names, [0].
    pub path: Vec<PathStep>,
    /// The text between `${` and `}`.
    pub text: String,
    pub span: Span,
}

/// What references resolve against. Implemented by the planner.
pub trait Scope {
    fn variable(&self, name: &str) -> Option<Value>;
    /// A resource's properties and attributes merged in one map; `Unknown` where not known yet.
    fn resource(&self, name: &str) -> Option<Value>;
}

/// Every reference in a node, in source order. Malformed ones are diagnostics.
pub fn references(_node: &Node) -> (Vec<Reference>, Vec<Diagnostic>) {
    todo!("config helper")
}

/// Evaluates a node into a value, resolving references through `scope`.
/// `field` is the node's field path, used in diagnostics.
pub fn evaluate(_node: &Node, _scope: &dyn Scope, _field: &str) -> Result<Value, Diagnostic> {
    todo!("config helper")
}
