//! Every bad stack in tests/fixtures/bad produces its own specific error, with file, line,
//! column and field, through the real binary, and writes nothing to state.

use crate::common;

use common::{repo_root, Sandbox};

#[test]
fn each_bad_stack_gets_its_specific_error() {
    each_case_gets_its_specific_error("tests/fixtures/bad", 15);
}

/// Typos and wrong types in `providers.<name>` of every provider are refused by
/// `validate`, and by `plan` before it takes the state lock.
#[test]
fn each_bad_provider_setting_gets_its_specific_error() {
    each_case_gets_its_specific_error("tests/fixtures/bad_settings", 7);
}

/// Every `.yaml` in `dir` (relative to the repository) fails `validate` and `plan` with
/// the diagnostic its `.expected` sibling describes, and writes no state.
fn each_case_gets_its_specific_error(dir: &str, at_least: usize) {
    let dir = repo_root().join(dir);
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= at_least,
        "at least {at_least} bad stacks, found {}",
        cases.len()
    );
    let s = Sandbox::new();
    for case in &cases {
        let rel = case.strip_prefix(repo_root()).unwrap();
        let expected = std::fs::read_to_string(case.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{} has no .expected file", rel.display()));
        // Run from the repo root so the reported path is the relative one.
        let out = std::process::Command::new(common::bin())
            .args(["validate", rel.to_str().unwrap()])
            .current_dir(repo_root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", rel.display());
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                stderr.contains(line.trim()),
                "{}: expected {:?} in:\n{stderr}",
                rel.display(),
                line.trim()
            );
        }

        // plan fails the same way and writes no state.
        let copy = s.write("case.yaml", &std::fs::read_to_string(case).unwrap());
        let plan = s.run(&["plan", copy.to_str().unwrap()]);
        assert_eq!(plan.code, 1, "{}: {}", rel.display(), plan.all());
        assert!(
            !s.exists("state"),
            "{}: a failed plan wrote state",
            rel.display()
        );
    }
}
