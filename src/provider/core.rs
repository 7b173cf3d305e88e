//! The built-in `core` provider: `core.null`, `core.sleep`, `core.file`.

#[derive(Debug, Default)]
pub struct CoreProvider {}
