//! Stack files → [`Stack`], collecting every mistake with its place.

use std::path::{Path, PathBuf};

use super::model::Stack;
use crate::diag::Diagnostics;
use crate::provider::Registry;

/// Loads and validates one stack file. `None` when errors prevent building the model;
/// the diagnostics may also hold warnings when a stack is returned.
pub fn load_file(_path: &Path, _registry: &Registry) -> (Option<Stack>, Diagnostics) {
    todo!("config helper")
}

/// Loads every `*.yaml`/`*.yml` file of a directory (sorted by name), each its own stack.
pub fn load_dir(_path: &Path, _registry: &Registry) -> Vec<(PathBuf, Option<Stack>, Diagnostics)> {
    todo!("config helper")
}

/// Loads a stack from text already read (a saved plan embeds its stack's source).
pub fn load_source(
    _path: &Path,
    _text: &str,
    _registry: &Registry,
) -> (Option<Stack>, Diagnostics) {
    todo!("config helper")
}
