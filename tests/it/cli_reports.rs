//! Plan and drift reports for pipelines, through the binary: Markdown within its byte
//! budget, JUnit XML that a parser reads back with one failure per drifted resource, the
//! job summary, and no secret in any format.

use std::collections::BTreeSet;

use crate::common;
use common::{Run, Sandbox};
use quick_xml::events::Event;
use quick_xml::Reader;

const STORED_SECRET: &str = "canary-5d1c-stored-secret";
const LIVE_SECRET: &str = "canary-9e0b-live-secret";
/// Files in the stack besides the secret one; the first `EDITED` are changed outside.
const FILES: usize = 310;
const EDITED: usize = 299;

/// `FILES` plain files and one whose content is a sensitive variable.
fn stack() -> String {
    let mut s = format!(
        "stack: reports\nvariables:\n  secret:\n    type: string\n    default: {STORED_SECRET}\n    sensitive: true\nresources:\n  secret_file:\n    type: core.file\n    properties:\n      path: out/secret.txt\n      content: ${{var.secret}}\n"
    );
    for i in 0..FILES {
        s.push_str(&format!(
            "  file_{i:03}:\n    type: core.file\n    properties:\n      path: out/file_{i:03}.txt\n      content: |\n        first line of file {i}\n        a line that stays\n        last line\n"
        ));
    }
    s
}

/// A stack applied, then 300 of its files edited outside trustplane, the secret one
/// among them.
fn drifted() -> Sandbox {
    let s = Sandbox::new();
    s.write("reports.yaml", &stack());
    s.run(&["apply", "reports.yaml", "--auto-approve"]).ok();
    for i in 0..EDITED {
        s.write(
            &format!("out/file_{i:03}.txt"),
            &format!("first line of file {i}, edited by hand\na line that stays\nlast line\n"),
        );
    }
    s.write("out/secret.txt", LIVE_SECRET);
    s
}

fn drifted_addresses() -> BTreeSet<String> {
    (0..EDITED)
        .map(|i| format!("file_{i:03}"))
        .chain(["secret_file".to_string()])
        .collect()
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [STORED_SECRET, LIVE_SECRET] {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

/// Exit 2 (drift or changes present), with the report on stdout.
fn changes(run: Run) -> String {
    assert_eq!(run.code, 2, "{}", run.all());
    run.stdout
}

/// (test cases, names of the failed ones, the suites' failure counts) of a JUnit file.
fn junit(xml: &str) -> (usize, BTreeSet<String>, Vec<String>) {
    let mut reader = Reader::from_str(xml);
    let (mut cases, mut failed, mut counts) = (0, BTreeSet::new(), Vec::new());
    let mut current = String::new();
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> String {
        e.try_get_attribute(name)
            .expect("attribute")
            .unwrap_or_else(|| panic!("no {name}"))
            .unescape_value()
            .unwrap()
            .into_owned()
    };
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => {
                    cases += 1;
                    current = attr(&e, "name");
                }
                b"failure" => {
                    failed.insert(current.clone());
                }
                b"testsuite" | b"testsuites" => counts.push(attr(&e, "failures")),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failed, counts)
}

#[test]
fn three_hundred_drifted_resources_in_every_format() {
    let s = drifted();
    let drifted = drifted_addresses();
    assert_eq!(drifted.len(), 300);

    let md = changes(s.run(&["drift", "reports.yaml", "--format", "markdown"]));
    assert!(md.len() <= 60_000, "{} bytes", md.len());
    assert!(
        md.starts_with(&format!(
            "**Drift: 300 of {} resources changed or deleted outside trustplane.**",
            FILES + 1
        )),
        "{}",
        &md[..200]
    );
    let shown = md.matches("<details>").count();
    assert!(shown > 0 && shown < 300, "{shown} sections");
    assert!(
        md.contains(&format!(
            "**{} of 300 resources left out** to keep this report within 60000 bytes. \
             The full report: run `trustplane drift` again with `--max-bytes 0`",
            300 - shown
        )),
        "{}",
        &md[md.len() - 400..]
    );
    assert!(
        md.contains("-     first line of file 0\n+     first line of file 0, edited by hand\n"),
        "{md}"
    );
    assert_no_secret("drift --format markdown", &md);

    let smaller = changes(s.run(&[
        "drift",
        "reports.yaml",
        "--format",
        "markdown",
        "--max-bytes",
        "5000",
    ]));
    assert!(smaller.len() <= 5000 && smaller.matches("<details>").count() < shown);
    let whole = changes(s.run(&[
        "drift",
        "reports.yaml",
        "--format",
        "markdown",
        "--max-bytes",
        "0",
    ]));
    assert_eq!(whole.matches("<details>").count(), 300);
    assert!(!whole.contains("left out"));
    assert_no_secret("drift --format markdown --max-bytes 0", &whole);
    assert!(
        whole.contains("<code>~ secret_file (core.file) changed</code>"),
        "{whole}"
    );
    assert!(
        whole.contains("! content = (sensitive) -> (sensitive)"),
        "{whole}"
    );

    let xml = changes(s.run(&["drift", "reports.yaml", "--format", "junit"]));
    let (cases, failed, counts) = junit(&xml);
    assert_eq!(cases, FILES + 1);
    assert_eq!(failed, drifted);
    assert_eq!(counts, ["300", "300"]);
    assert_no_secret("drift --format junit", &xml);

    let text = changes(s.run(&["drift", "reports.yaml"]));
    assert!(text.contains("Drift: 300 resource(s) changed"), "{text}");
    assert_no_secret("drift", &text);
    let json = changes(s.run(&["drift", "reports.yaml", "--format", "json"]));
    assert_eq!(json, changes(s.run(&["drift", "reports.yaml", "--json"])));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["resources"].as_array().unwrap().len(), 300);
    assert_no_secret("drift --format json", &json);

    // The plan puts the 300 files back: the same limits and masking hold.
    let plan_md = changes(s.run(&[
        "plan",
        "reports.yaml",
        "--detailed-exitcode",
        "--format",
        "markdown",
    ]));
    assert!(plan_md.len() <= 60_000, "{} bytes", plan_md.len());
    assert!(
        plan_md.starts_with("**Plan: 0 to add, 300 to change, 0 to replace, 0 to destroy.**"),
        "{}",
        &plan_md[..200]
    );
    assert!(plan_md.contains("resources left out** to keep this report within 60000 bytes"));
    for args in [
        vec!["plan", "reports.yaml", "--detailed-exitcode"],
        vec![
            "plan",
            "reports.yaml",
            "--detailed-exitcode",
            "--format",
            "json",
        ],
        vec![
            "plan",
            "reports.yaml",
            "--detailed-exitcode",
            "--format",
            "markdown",
            "--max-bytes",
            "0",
        ],
    ] {
        let out = changes(s.run(&args));
        assert!(out.contains("(sensitive)"), "{args:?}: {out}");
        assert_no_secret(&format!("{args:?}"), &out);
    }
}

#[test]
fn the_job_summary_gets_the_markdown_whatever_the_format() {
    let s = Sandbox::new();
    s.write("reports.yaml", &stack());
    s.run(&["apply", "reports.yaml", "--auto-approve"]).ok();
    s.write("out/file_000.txt", "edited\n");
    s.write("out/secret.txt", LIVE_SECRET);
    s.write("summary.md", "# Earlier step output\n");
    let summary = s.path("summary.md");
    let summary = summary.to_str().unwrap();
    let xml = changes(s.run_env(
        &[
            "drift",
            "reports.yaml",
            "--format",
            "junit",
            "--step-summary",
        ],
        &[("GITHUB_STEP_SUMMARY", summary)],
    ));
    assert_eq!(junit(&xml).1.len(), 2);
    let md = s.read("summary.md");
    assert!(
        md.starts_with(&format!(
            "# Earlier step output\n\n**Drift: 2 of {} resources changed",
            FILES + 1
        )),
        "{md}"
    );
    assert_eq!(md.matches("<details>").count(), 2, "{md}");
    assert_no_secret("the job summary", &md);

    // Outside GitHub Actions the flag is an error before anything runs.
    let mut unset = s.command(&["plan", "reports.yaml", "--step-summary"]);
    unset.env_remove("GITHUB_STEP_SUMMARY");
    let out = unset.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--step-summary needs GITHUB_STEP_SUMMARY, which is not set"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_plan_has_no_junit_form_and_says_what_to_use() {
    let s = Sandbox::new();
    // Refused before the stack is even read.
    let r = s.run(&["plan", "missing.yaml", "--format", "junit"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("`--format junit` is not available for a plan")
            && r.stderr.contains("--format markdown")
            && r.stderr.contains("trustplane drift --format junit"),
        "{}",
        r.all()
    );
    let both = s.run(&["plan", "missing.yaml", "--json", "--format", "text"]);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.all()
    );
}
