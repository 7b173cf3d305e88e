//! Checks of a decoded stack against provider schemas, with no I/O: resource names,
//! types, properties (unknown names with suggestions, required, literal types), provider
//! validation, references and `depends_on` targets. Cycles are found by the graph.

use super::model::Stack;
use crate::diag::Diagnostics;
use crate::provider::Registry;

pub fn validate(_stack: &Stack, _registry: &Registry) -> Diagnostics {
    todo!("config helper")
}
