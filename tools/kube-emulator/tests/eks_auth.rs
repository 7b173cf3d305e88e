//! The EKS bearer-token requirement, with tokens made by `aws eks get-token` (the AWS CLI,
//! an independent signer) and kubectl as the client.

mod common;

use common::Emulator;
use serde_json::{json, Value};
use std::process::Command;

const KEY_ID: &str = "AKIDEMULATORTEST";
const SECRET: &str = "emulator/test+secret";

fn eks_emulator() -> Emulator {
    Emulator::start_with_args(
        None,
        &[
            "--tls",
            "--require-eks-token",
            "prod",
            "--eks-access-key-id",
            KEY_ID,
            "--eks-secret-access-key",
            SECRET,
        ],
    )
}

/// `aws eks get-token` for `cluster`, signed with `secret`; it presigns offline.
fn aws_cli_token(cluster: &str, secret: &str) -> String {
    let out = Command::new(stand_ins::venv_aws())
        .args(["eks", "get-token", "--cluster-name", cluster])
        .args(["--region", "eu-west-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the AWS CLI of the venv");
    assert!(
        out.status.success(),
        "aws eks get-token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cred: Value = serde_json::from_slice(&out.stdout).unwrap();
    cred["status"]["token"].as_str().unwrap().to_string()
}

#[test]
fn kubectl_with_an_aws_cli_token_for_the_cluster_gets_in() {
    let e = eks_emulator();
    let token = aws_cli_token("prod", SECRET);
    let out = e.kubectl(&["--token", &token, "get", "namespaces", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    let out = e.kubectl(&["--token", &token, "create", "configmap", "c"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn other_tokens_get_401_like_the_real_server() {
    let e = eks_emulator();
    for token in [
        aws_cli_token("staging", SECRET),
        aws_cli_token("prod", "another-secret"),
        "emulator-dummy-token".to_string(),
    ] {
        let out = e.kubectl(&["--token", &token, "get", "namespaces"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        // kubectl's words for a 401.
        assert!(err.contains("You must be logged in to the server"), "{err}");
    }

    let unauthorized = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    let r = e
        .http()
        .get(format!("{}/api/v1/namespaces", e.base))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.json::<Value>().unwrap(), unauthorized);
    let r = e
        .http()
        .get(format!("{}/api/v1/namespaces", e.base))
        .bearer_auth(aws_cli_token("staging", SECRET))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.json::<Value>().unwrap(), unauthorized);

    // A raw GET with the right token, and the anonymous endpoints EKS serves.
    let r = e
        .http()
        .get(format!("{}/api/v1/namespaces/default", e.base))
        .bearer_auth(aws_cli_token("prod", SECRET))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().unwrap()["metadata"]["name"], "default");
    assert_eq!(e.get_json("/version").0, 200);
}
