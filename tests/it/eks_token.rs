//! EKS bearer tokens made in-process, presented to the emulator started as an EKS API
//! server that requires them (TLS, `--require-eks-token`, the signing key to recompute
//! signatures with), through kubectl `--token` as the independent client.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use trustplane::provider::aws::eks_token::eks_token;

use crate::common::stand_ins::Emulator;

const KEY_ID: &str = "AKIDTRUSTPLANETEST";
const SECRET: &str = "trustplane/test+secret";

fn eks_cluster(name: &str) -> Emulator {
    Emulator::start_with_args(
        None,
        &[
            "--tls",
            "--require-eks-token",
            name,
            "--eks-access-key-id",
            KEY_ID,
            "--eks-secret-access-key",
            SECRET,
        ],
    )
}

fn token(secret: &str, cluster: &str) -> String {
    let creds = Credentials::new(KEY_ID, secret, None, None, "test");
    eks_token(&creds, "eu-west-1", cluster, SystemTime::now())
        .unwrap()
        .token
}

#[test]
fn the_cluster_accepts_a_token_made_for_it() {
    let cluster = eks_cluster("prod");
    let t = token(SECRET, "prod");
    let (ok, out, err) = cluster.kubectl(&["--token", &t, "get", "namespaces", "-o", "name"]);
    assert!(ok, "{err}");
    assert!(out.contains("namespace/default"), "{out}");
    let (ok, _, err) = cluster.kubectl(&["--token", &t, "create", "namespace", "istio-system"]);
    assert!(ok, "{err}");
}

#[test]
fn a_token_for_another_cluster_or_secret_is_unauthorized() {
    let cluster = eks_cluster("prod");
    for t in [token(SECRET, "staging"), token("not-the-secret", "prod")] {
        let (ok, _, err) = cluster.kubectl(&["--token", &t, "get", "namespaces"]);
        assert!(!ok);
        // kubectl's words for the API server's 401.
        assert!(err.contains("You must be logged in to the server"), "{err}");
    }
}
