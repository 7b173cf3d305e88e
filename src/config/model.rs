//! A decoded stack. Values that may hold `${...}` references stay as spanned [`Node`]s
//! until the planner evaluates them.

use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use super::enabled::Enabled;
use super::yaml::Node;
use crate::diag::Span;
use crate::value::Value;

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub file: Arc<PathBuf>,
    /// The file's text, kept for rendering diagnostics.
    pub source: Arc<String>,
    pub variables: IndexMap<String, VariableDecl>,
    /// `providers.<name>`: settings, may reference variables.
    pub providers: IndexMap<String, Node>,
    pub resources: IndexMap<String, ResourceDecl>,
    pub outputs: IndexMap<String, OutputDecl>,
    /// `state.s3`: where the stack's state lives when not local; may reference variables.
    pub state: Option<StateDecl>,
}

/// `state: {s3: {...}}`: the stack's state in S3. Each setting is a string node that may
/// reference variables; `bucket` and `key` are present (checked at load).
#[derive(Debug, Clone)]
pub struct StateDecl {
    /// Setting name → its value node.
    pub s3: IndexMap<String, Node>,
    /// Span of the `s3` key.
    pub span: Span,
}

impl StateDecl {
    /// The settings `state.s3` accepts.
    pub const S3_KEYS: &'static [&'static str] = &[
        "bucket",
        "key",
        "region",
        "kms_key_id",
        "profile",
        "role_arn",
        "endpoint",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Managed,
    Data,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    pub prevent_destroy: bool,
    /// Property paths (`triggers.version`, `tags`) whose changes are ignored.
    pub ignore_changes: Vec<String>,
    pub create_before_destroy: bool,
    /// On create, an object that already exists with this resource's identity is taken
    /// into state (and brought to the desired properties) instead of failing.
    pub adopt: bool,
    /// Destroy, or removal from the stack, forgets the object from state and leaves it.
    pub retain_on_destroy: bool,
}

#[derive(Debug, Clone)]
pub struct ResourceDecl {
    pub name: String,
    pub type_name: String,
    pub mode: Mode,
    /// The `properties` map (a Map node; an empty map when absent).
    pub properties: Node,
    /// Explicit dependencies, with the span of each name.
    pub depends_on: Vec<(String, Span)>,
    pub lifecycle: Lifecycle,
    /// Span of the resource's key in `resources:`.
    pub span: Span,
    /// Span of the `type` value.
    pub type_span: Span,
    /// `enabled:`: whether the resource is part of the stack for the variables given.
    pub enabled: Enabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarType {
    String,
    Number,
    Bool,
    List,
    Map,
}

impl VarType {
    pub fn name(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Number => "number",
            VarType::Bool => "bool",
            VarType::List => "list",
            VarType::Map => "map",
        }
    }
}

#[derive(Debug, Clone)]
pub struct VariableDecl {
    pub name: String,
    pub var_type: VarType,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub sensitive: bool,
    /// `allowed:`: the only values the variable may take.
    pub allowed: Option<Vec<Value>>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct OutputDecl {
    pub name: String,
    pub value: Node,
    pub description: Option<String>,
    pub sensitive: bool,
    /// `enabled:` in the long form: whether the output exists for the variables given.
    pub enabled: Enabled,
    pub span: Span,
}

impl VarType {
    /// Every type name, for suggestions.
    pub const NAMES: &'static [&'static str] = &["string", "number", "bool", "list", "map"];

    pub fn parse(name: &str) -> Option<VarType> {
        Some(match name {
            "string" => VarType::String,
            "number" => VarType::Number,
            "bool" => VarType::Bool,
            "list" => VarType::List,
            "map" => VarType::Map,
            _ => return None,
        })
    }
}
