//! trustplane: declarative provisioning of AWS Private CA as the root of trust of an Istio
//! service mesh, through cert-manager and aws-privateca-issuer.
//!
//! Layers, from the bottom up:
//! - [`value`], [`diag`], [`duration`]: the value model, diagnostics, durations (no I/O);
//! - [`input`]: reading the files a user names, within size limits;
//! - [`config`]: the stack language;
//! - [`provider`]: the provider contract and the providers;
//! - [`retry`]: provider calls retried within the provider's timeout and attempts;
//! - [`graph`]: the dependency graph and its parallel walker;
//! - [`plan`]: desired vs stored vs live → planned changes;
//! - [`apply`]: executes a plan;
//! - [`state`]: what is remembered between runs;
//! - [`ops`]: the operations (plan, apply, destroy, drift, import, state edits) as reports;
//! - [`owner_only`]: files and directories only their owner can read;
//! - [`verify`]: checks the Istio CA chain in the cluster up to the AWS Private CA root;
//! - [`cli`]: the thin command-line layer.

// Diagnostics are the error type throughout; they are built only on failure paths, so
// their size does not matter on the paths that run often.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod checks;
pub mod cli;
pub mod config;
pub mod cost;
pub mod diag;
pub mod duration;
pub mod fleet;
pub mod graph;
pub mod input;
pub mod open_files;
pub mod ops;
pub mod owner_only;
pub mod plan;
pub mod property_path;
pub mod provider;
pub mod report;
pub mod retry;
pub mod state;
pub mod value;
pub mod verify;
