//! Variable values: `--var k=v`, `--var-file f.yaml`, `TRUSTPLANE_VAR_k`, then defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::Stack;
use crate::diag::Diagnostics;
use crate::value::Value;

#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `--var k=v`, in command-line order (later wins).
    pub cli: Vec<String>,
    pub files: Vec<PathBuf>,
    /// Environment as (name, value) pairs; `from_env` fills it from the process.
    pub env: Vec<(String, String)>,
}

impl VarInputs {
    pub fn with_process_env(mut self) -> Self {
        self.env = std::env::vars().collect();
        self
    }
}

/// Resolves every declared variable, by precedence: --var, then --var-file (later files
/// win), then TRUSTPLANE_VAR_<name>, then default. Values are converted to the declared type.
pub fn resolve(_stack: &Stack, _inputs: &VarInputs) -> Result<BTreeMap<String, Value>, Diagnostics> {
    todo!("config helper")
}
