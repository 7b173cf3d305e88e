//! Starts the emulator binary on a loopback port of its choosing for one test.
#![allow(dead_code)]

use serde_json::Value;
use std::ops::Deref;
use std::process::Output;

/// The emulator built with these tests, through the launcher every test shares, plus
/// the raw HTTP these tests speak to it.
pub struct Emulator {
    process: stand_ins::Emulator,
    pub base: String,
}

impl Deref for Emulator {
    type Target = stand_ins::Emulator;
    fn deref(&self) -> &stand_ins::Emulator {
        &self.process
    }
}

impl Emulator {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// `aws_endpoint` (e.g. a moto url) is what the simulated aws-privateca-issuer calls.
    pub fn start_with(aws_endpoint: Option<&str>) -> Self {
        Self::start_with_args(aws_endpoint, &[])
    }

    /// The emulator with more command-line flags.
    pub fn start_with_args(aws_endpoint: Option<&str>, args: &[&str]) -> Self {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kube-emulator"));
        let process = stand_ins::Emulator::start_bin_with_args(bin, aws_endpoint, args);
        Emulator {
            base: process.url(),
            process,
        }
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.process.kubectl_output(args, None)
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        self.process.kubectl_output(args, Some(input))
    }

    /// An HTTP client that trusts the emulator's CA when it serves TLS.
    pub fn http(&self) -> reqwest::blocking::Client {
        let mut client = reqwest::blocking::Client::builder();
        if let Some(pem) = self.process.ca_pem() {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
            client = client.add_root_certificate(ca);
        }
        client.build().unwrap()
    }

    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .http()
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    pub fn send_json(&self, method: &str, path: &str, ct: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http()
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("Content-Type", ct)
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// Poll `f` for up to `secs` seconds.
    pub fn wait_for(&self, secs: u64, mut f: impl FnMut() -> bool) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }
}

pub const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;
