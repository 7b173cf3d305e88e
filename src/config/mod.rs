//! The stack language: YAML files that declare variables, provider settings, resources and
//! outputs. Loading keeps every value's source span so later stages can point at it.
//!
//! - [`yaml`]: the only module that parses YAML text; it yields a spanned [`yaml::Node`] tree.
//! - [`model`]: the decoded stack ([`model::Stack`], [`model::ResourceDecl`], ...).
//! - [`load`]: files and directories → model, with diagnostics for every mistake.
//! - [`expr`]: `${...}` references: finding them (graph edges) and evaluating them.
//! - [`enabled`]: `enabled:` conditions, and the stack as the variables select it.
//! - [`vars`]: variable values from `--var`, `--var-file` and `TRUSTPLANE_VAR_*`.
//! - [`validate`]: checks against provider schemas (types, names, references).

// Errors are diagnostics returned by value on cold paths; boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod enabled;
pub mod expr;
pub mod load;
pub mod model;
pub mod validate;
pub mod vars;
pub mod yaml;

pub use load::{load_dir, load_file, load_str};
pub use model::{
    Lifecycle, Mode, OutputDecl, ResourceDecl, Stack, StateDecl, VarType, VariableDecl,
};
pub use yaml::{Node, NodeKind};
