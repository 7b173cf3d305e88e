//! The PKI and wiring checks through the real binary: the guide's stack validates clean,
//! each broken variant gets its own `pki::` diagnostic, and `plan` stops on them before
//! any state exists.

use crate::common;

use common::{repo_root, Sandbox};

fn fixtures() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/pki")
}

/// `validate` run from the repo root, so reported paths are relative.
fn validate(rel: &str) -> (i32, String, String) {
    let out = std::process::Command::new(common::bin())
        .args(["validate", rel])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_guides_stack_passes_every_check() {
    let (code, stdout, stderr) = validate("tests/fixtures/pki/valid.yaml");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("valid (12 resources)"), "{stdout}");
    assert!(
        !stderr.contains("pki::"),
        "no PKI diagnostics expected:\n{stderr}"
    );
}

#[test]
fn each_broken_stack_gets_its_specific_diagnostic() {
    let mut cases: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "expected"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 13, "found only {} cases", cases.len());
    for expected_file in &cases {
        let case = expected_file.with_extension("yaml");
        let rel = case.strip_prefix(repo_root()).unwrap().to_str().unwrap();
        let expected = std::fs::read_to_string(expected_file).unwrap();
        let lines: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{rel}: empty .expected");
        let (code, stdout, stderr) = validate(rel);
        let warnings_only = lines.iter().all(|l| l.starts_with("warning["));
        if warnings_only {
            assert_eq!(
                code, 0,
                "{rel}: a warning must not fail validate:\n{stderr}"
            );
            assert!(stdout.contains("valid"), "{rel}: {stdout}");
            assert!(!stderr.contains("error["), "{rel}: {stderr}");
        } else {
            assert_eq!(code, 1, "{rel}:\n{stderr}");
        }
        for line in &lines {
            assert!(
                stderr.contains(line.trim()),
                "{rel}: expected {:?} in:\n{stderr}",
                line.trim()
            );
        }
        // Each diagnostic says how to fix it.
        assert!(stderr.contains("help: "), "{rel}: no help in:\n{stderr}");
        // Only the expected PKI codes appear: the valid parts of the stack stay quiet.
        let found = stderr.matches("[pki::").count();
        assert_eq!(
            found,
            lines.len(),
            "{rel}: unexpected diagnostics:\n{stderr}"
        );
    }
}

#[test]
fn plan_stops_on_a_pki_error_before_touching_state() {
    let s = Sandbox::new();
    let text = std::fs::read_to_string(fixtures().join("path_length_zero.yaml")).unwrap();
    let stack = s.write("stack.yaml", &text);
    let plan = s.run(&["plan", stack.to_str().unwrap()]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("error[pki::path_length_exhausted]"),
        "{}",
        plan.all()
    );
    assert!(!s.exists("state"), "a failed plan created state");
}

#[test]
fn reading_and_tearing_down_are_not_blocked_by_pki_errors() {
    // A stack that fails a check must still be destroyable and drift-checkable: there
    // the errors are warnings.
    let s = Sandbox::new();
    let text = std::fs::read_to_string(fixtures().join("path_length_zero.yaml")).unwrap();
    let stack = s.write("stack.yaml", &text);
    for command in ["drift", "destroy"] {
        let mut args = vec![command, stack.to_str().unwrap()];
        if command == "destroy" {
            args.push("--auto-approve");
        }
        let r = s.run(&args);
        assert_eq!(r.code, 0, "{command}: {}", r.all());
        assert!(
            r.stderr.contains("warning[pki::path_length_exhausted]"),
            "{command}: {}",
            r.all()
        );
    }
    let plan = s.run(&["plan", stack.to_str().unwrap(), "--destroy"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn plan_checks_with_the_variables_given_on_the_command_line() {
    let s = Sandbox::new();
    let text = std::fs::read_to_string(fixtures().join("renew_before_not_shorter.yaml")).unwrap();
    let stack = s.write("stack.yaml", &text);
    let plan = s.run(&["plan", stack.to_str().unwrap(), "--var", "renew=3000h"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains(
            "certificate istio_ca has renew_before 3000h, which is not shorter than its duration 2160h"
        ),
        "{}",
        plan.all()
    );
    assert!(!s.exists("state"), "a failed plan created state");
}

#[test]
fn validate_json_reports_pki_diagnostics_with_field_and_address() {
    let out = std::process::Command::new(common::bin())
        .args([
            "validate",
            "--json",
            "tests/fixtures/pki/issuer_region_mismatch.yaml",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report[0]["diagnostics"][0];
    assert_eq!(d["code"], "pki::issuer_region_mismatch", "{report}");
    assert_eq!(d["field"], "resources.pca_issuer.properties.region");
    assert_eq!(d["address"], "pca_issuer");
    assert_eq!(d["span"]["line"], 97);
}
