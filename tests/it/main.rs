//! Every end-to-end and stand-in test of trustplane, in one test binary: one link of the
//! crate and its AWS and Kubernetes clients instead of one per file.
//! Run one area with `cargo test --test it cli_lifecycle::`.

mod aws_iam_rewrites;
mod aws_pacing;
mod aws_provider;
mod ci_examples;
mod cli_adopt;
mod cli_aws;
mod cli_bad_stacks;
mod cli_ca_bundle;
mod cli_conflicts;
mod cli_connection;
mod cli_crash;
mod cli_faults;
mod cli_flagship;
mod cli_fleet;
mod cli_fleet_reports;
mod cli_hostile;
mod cli_iam_crash;
mod cli_istiod_restart;
mod cli_lifecycle;
mod cli_limits;
mod cli_pca_options;
mod cli_pki_checks;
mod cli_pod_identity;
mod cli_proxy;
mod cli_recovery;
mod cli_replace;
mod cli_reports;
mod cli_resilience;
mod cli_s3_state;
mod cli_saved_plan;
mod cli_secrets;
mod cli_signals;
mod cli_state;
mod cli_tiers;
mod cli_verify;
mod common;
mod e2e_sandbox;
mod eks_token;
mod fleet_checks;
mod helm_provider;
mod helm_support;
mod k8s_provider;
mod ops_api;
mod verify_chain;
