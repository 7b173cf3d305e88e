//! plan → apply → no-op replan → update → replace → destroy, through the real binary,
//! with saved plans, detailed exit codes, targets, drift and outputs.

use crate::common;
use common::grep_dir;

use common::{summary_line, Sandbox};

const STACK: &str = r#"
stack: site
variables:
  greeting:
    type: string
    default: hello
  secret:
    type: string
    default: s3cr3t-value
    sensitive: true
resources:
  marker:
    type: core.null
    properties:
      triggers:
        version: "1"
  page:
    type: core.file
    properties:
      path: out/page.txt
      content: "${var.greeting} from ${marker.id}\n"
  token:
    type: core.file
    properties:
      path: out/token.txt
      content: ${var.secret}
      mode: "0600"
  independent:
    type: core.null
outputs:
  page_sha:
    value: ${page.sha256}
    description: digest of the page
  marker_id: ${marker.id}
  token_content:
    value: ${token.content}
    sensitive: true
"#;

fn setup() -> Sandbox {
    let s = Sandbox::new();
    s.write("site.yaml", STACK);
    s
}

#[test]
fn full_lifecycle() {
    let s = setup();

    // First plan: everything to add; nothing touched.
    let plan = s.run(&["plan", "site.yaml"]);
    plan.ok();
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 4 to add, 0 to change, 0 to replace, 0 to destroy."
    );
    assert!(
        plan.stdout.contains("(known after apply)"),
        "{}",
        plan.all()
    );
    assert!(
        !plan.stdout.contains("s3cr3t-value"),
        "sensitive values never print:\n{}",
        plan.all()
    );
    assert!(!s.exists("out/page.txt"));

    // Apply.
    let apply = s.run(&["apply", "site.yaml", "--auto-approve"]);
    apply.ok();
    assert!(
        apply
            .stdout
            .contains("Apply complete! Resources: 4 added, 0 changed, 0 replaced, 0 destroyed."),
        "{}",
        apply.all()
    );
    let marker_id = s
        .run(&["output", "marker_id", "-f", "site.yaml"])
        .stdout
        .trim()
        .to_string();
    assert_eq!(marker_id.len(), 32, "a real id: {marker_id}");
    assert_eq!(s.read("out/page.txt"), format!("hello from {marker_id}\n"));
    assert_eq!(s.read("out/token.txt"), "s3cr3t-value");
    assert!(
        apply.stderr.contains("page: created in"),
        "progress lines: {}",
        apply.all()
    );

    // No-op replan, with detailed exit code 0.
    let replan = s.run(&["plan", "site.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());
    assert!(replan.stdout.contains("No changes."), "{}", replan.all());

    // The secret is nowhere in the state files.
    assert!(
        !grep_dir(&s.path("state"), "s3cr3t-value"),
        "secret leaked into state"
    );
    let shown = s.run(&["state", "show", "token", "-f", "site.yaml"]);
    shown.ok();
    assert!(
        shown.stdout.contains("(sensitive)") && !shown.stdout.contains("s3cr3t"),
        "{}",
        shown.all()
    );
    let outputs = s.run(&["output", "-f", "site.yaml", "--json"]);
    assert!(
        outputs.stdout.contains("\"token_content\"") && !outputs.stdout.contains("s3cr3t"),
        "{}",
        outputs.all()
    );

    // Update in place: a variable change rewrites the page only.
    let update = s.run(&[
        "plan",
        "site.yaml",
        "--var",
        "greeting=hi",
        "--detailed-exitcode",
    ]);
    assert_eq!(update.code, 2, "{}", update.all());
    assert_eq!(
        summary_line(&update.stdout),
        "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."
    );
    assert!(
        update
            .stdout
            .contains("~ page (core.file) will be updated in place"),
        "{}",
        update.all()
    );
    assert!(
        update.stdout.contains("- hello from"),
        "line diff of content: {}",
        update.all()
    );
    s.run(&[
        "apply",
        "site.yaml",
        "--var",
        "greeting=hi",
        "--auto-approve",
    ])
    .ok();
    assert!(s.read("out/page.txt").starts_with("hi from"));

    // Replace: a trigger change replaces the marker, and the page follows its new id.
    let stack2 = STACK.replace("version: \"1\"", "version: \"2\"");
    s.write("site.yaml", &stack2);
    let replace = s.run(&["plan", "site.yaml", "--var", "greeting=hi"]);
    replace.ok();
    assert!(
        replace
            .stdout
            .contains("-/+ marker (core.null) must be replaced"),
        "{}",
        replace.all()
    );
    assert!(
        replace.stdout.contains("# forces replacement"),
        "{}",
        replace.all()
    );
    assert!(
        replace
            .stdout
            .contains("triggers cannot be changed in place"),
        "{}",
        replace.all()
    );
    assert_eq!(
        summary_line(&replace.stdout),
        "Plan: 0 to add, 1 to change, 1 to replace, 0 to destroy."
    );
    s.run(&[
        "apply",
        "site.yaml",
        "--var",
        "greeting=hi",
        "--auto-approve",
    ])
    .ok();
    let new_id = s
        .run(&["output", "marker_id", "-f", "site.yaml"])
        .stdout
        .trim()
        .to_string();
    assert_ne!(new_id, marker_id);
    assert_eq!(s.read("out/page.txt"), format!("hi from {new_id}\n"));

    // Removing a resource from the stack destroys it.
    let smaller = stack2.replace("  independent:\n    type: core.null\n", "");
    s.write("site.yaml", &smaller);
    let orphan = s.run(&["plan", "site.yaml", "--var", "greeting=hi"]);
    assert!(
        orphan
            .stdout
            .contains("- independent (core.null) will be destroyed"),
        "{}",
        orphan.all()
    );
    assert!(
        orphan.stdout.contains("no longer in the stack"),
        "{}",
        orphan.all()
    );

    // Destroy removes everything, files included.
    let destroy = s.run(&["destroy", "site.yaml", "--auto-approve"]);
    destroy.ok();
    assert!(
        destroy
            .stdout
            .contains("Destroy complete! Resources: 0 added, 0 changed, 0 replaced, 4 destroyed."),
        "{}",
        destroy.all()
    );
    assert!(!s.exists("out/page.txt") && !s.exists("out/token.txt"));
    assert!(s.state_list("site.yaml").is_empty());
}

#[test]
fn saved_plans_apply_exactly_and_go_stale() {
    let s = setup();
    let plan = s.run(&["plan", "site.yaml", "--out", "site.plan"]);
    plan.ok();
    assert!(
        plan.stdout.contains("trustplane apply site.plan"),
        "{}",
        plan.all()
    );

    // The stack changes after the plan was saved: the plan still applies what it showed.
    s.write(
        "site.yaml",
        &STACK.replace("default: hello", "default: changed"),
    );
    let apply = s.run(&["apply", "site.plan"]);
    apply.ok();
    assert!(
        s.read("out/page.txt").starts_with("hello from"),
        "the saved plan's values apply"
    );

    // Applying the same plan again is refused: state moved on.
    let again = s.run(&["apply", "site.plan"]);
    assert_eq!(again.code, 1, "{}", again.all());
    assert!(
        again.stderr.contains("apply::stale_plan"),
        "{}",
        again.all()
    );
    assert!(again.stderr.contains("serial"), "{}", again.all());

    // A plan made for a state that was since replaced (new lineage) is refused too.
    s.run(&["plan", "site.yaml", "--out", "old.plan"]).ok();
    std::fs::remove_dir_all(s.path("state")).unwrap();
    s.run(&["plan", "site.yaml"]).ok(); // a fresh state: same serial, new lineage
    let cross = s.run(&["apply", "old.plan"]);
    assert_eq!(cross.code, 1, "{}", cross.all());
    assert!(cross.stderr.contains("lineage differs"), "{}", cross.all());
}

#[test]
fn detailed_exit_codes_and_json_plan() {
    let s = setup();
    let r = s.run(&["plan", "site.yaml", "--detailed-exitcode", "--json"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json plan");
    assert_eq!(doc["summary"]["add"], 4);
    assert_eq!(doc["has_changes"], true);
    let page = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "page")
        .unwrap();
    assert_eq!(page["action"], "create");
    assert_eq!(page["dependencies"], serde_json::json!(["marker"]));
    assert!(
        page["after_unknown"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "content"),
        "{page}"
    );
    let token = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "token")
        .unwrap();
    assert_eq!(token["after"]["properties"]["content"], "(sensitive)");

    let bad = s.run(&["plan", "missing.yaml", "--detailed-exitcode"]);
    assert_eq!(bad.code, 1, "{}", bad.all());
}

#[test]
fn targets_and_forced_replacement() {
    let s = setup();
    let r = s.run(&["apply", "site.yaml", "--target", "page", "--auto-approve"]);
    r.ok();
    let names: Vec<String> = s
        .state_list("site.yaml")
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        names,
        vec!["marker", "page"],
        "the target and its dependency only"
    );

    s.run(&["apply", "site.yaml", "--auto-approve"]).ok();
    let forced = s.run(&["plan", "site.yaml", "--replace", "independent"]);
    assert!(
        forced
            .stdout
            .contains("replacement requested with --replace"),
        "{}",
        forced.all()
    );
    assert_eq!(
        summary_line(&forced.stdout),
        "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy."
    );

    let typo = s.run(&["plan", "site.yaml", "--target", "pgae"]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr.contains("did you mean `page`?"),
        "{}",
        typo.all()
    );
}

#[test]
fn drift_is_reported_then_repaired_or_accepted() {
    let s = setup();
    s.run(&["apply", "site.yaml", "--auto-approve"]).ok();
    let clean = s.run(&["drift", "site.yaml"]);
    assert_eq!(clean.code, 0, "{}", clean.all());

    // Edit one file and delete another outside trustplane.
    s.write("out/page.txt", "edited by hand\n");
    std::fs::remove_file(s.path("out/token.txt")).unwrap();
    let d = s.run(&["drift", "site.yaml"]);
    assert_eq!(d.code, 2, "{}", d.all());
    assert!(
        d.stdout.contains("~ page (core.file) changed"),
        "{}",
        d.all()
    );
    assert!(
        d.stdout.contains("~ content = <<-\n          - hello from"),
        "{}",
        d.all()
    );
    assert!(
        d.stdout.contains("\n          + edited by hand\n"),
        "{}",
        d.all()
    );
    assert!(
        d.stdout.contains("- token (core.file) was deleted"),
        "{}",
        d.all()
    );

    let j = s.run(&["drift", "site.yaml", "--json"]);
    assert_eq!(j.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(doc["drifted"], true);
    assert_eq!(doc["resources"].as_array().unwrap().len(), 2);

    // Accepting the live values into state: drift then reports nothing...
    let accept = s.run(&["apply", "site.yaml", "--refresh-only", "--auto-approve"]);
    accept.ok();
    assert_eq!(s.run(&["drift", "site.yaml"]).code, 0);
    // ...while a normal plan wants the stack back.
    let plan = s.run(&["plan", "site.yaml"]);
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy."
    );
    s.run(&["apply", "site.yaml", "--auto-approve"]).ok();
    assert!(s.read("out/page.txt").starts_with("hello from"));
    assert_eq!(s.run(&["drift", "site.yaml"]).code, 0);
}

#[test]
fn ignore_changes_hides_drift_and_diffs() {
    let s = Sandbox::new();
    s.write(
        "f.yaml",
        "stack: f\nresources:\n  f:\n    type: core.file\n    properties:\n      path: f.txt\n      content: one\n    lifecycle:\n      ignore_changes: [content]\n",
    );
    s.run(&["apply", "f.yaml", "--auto-approve"]).ok();
    s.write("f.txt", "changed outside");
    assert_eq!(
        s.run(&["drift", "f.yaml"]).code,
        0,
        "ignored path is not drift"
    );
    s.write(
        "f.yaml",
        "stack: f\nresources:\n  f:\n    type: core.file\n    properties:\n      path: f.txt\n      content: two\n    lifecycle:\n      ignore_changes: [content]\n",
    );
    let plan = s.run(&["plan", "f.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn prevent_destroy_refuses() {
    let s = Sandbox::new();
    s.write(
        "p.yaml",
        "stack: p\nresources:\n  keep:\n    type: core.null\n    lifecycle:\n      prevent_destroy: true\n",
    );
    s.run(&["apply", "p.yaml", "--auto-approve"]).ok();
    let r = s.run(&["destroy", "p.yaml", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("plan::prevent_destroy"), "{}", r.all());
    assert!(
        r.stderr.contains("p.yaml:3:3"),
        "names the place: {}",
        r.all()
    );
    assert_eq!(s.state_list("p.yaml").len(), 1, "nothing was destroyed");
}

#[test]
fn apply_without_terminal_needs_auto_approve() {
    let s = setup();
    let r = s.run(&["apply", "site.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("--auto-approve"), "{}", r.all());
    assert!(!s.exists("out/page.txt"), "nothing applied");
}

#[test]
fn variables_from_flags_files_and_environment() {
    let s = Sandbox::new();
    s.write(
        "v.yaml",
        "stack: v\nvariables:\n  name:\n    type: string\n  count:\n    type: number\n    default: 1\nresources:\n  f:\n    type: core.file\n    properties:\n      path: v.txt\n      content: \"${var.name}-${var.count}\"\n",
    );
    let missing = s.run(&["plan", "v.yaml"]);
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert!(missing.stderr.contains("name"), "{}", missing.all());
    assert!(
        missing.stderr.contains("TRUSTPLANE_VAR_name"),
        "says how to set it: {}",
        missing.all()
    );

    s.write("vars.yaml", "name: from-file\ncount: 3\n");
    s.run_env(
        &["apply", "v.yaml", "--auto-approve"],
        &[("TRUSTPLANE_VAR_name", "from-env")],
    )
    .ok();
    assert_eq!(s.read("v.txt"), "from-env-1");
    s.run_env(
        &[
            "apply",
            "v.yaml",
            "--var-file",
            "vars.yaml",
            "--auto-approve",
        ],
        &[("TRUSTPLANE_VAR_name", "from-env")],
    )
    .ok();
    assert_eq!(
        s.read("v.txt"),
        "from-file-3",
        "a var file wins over the environment"
    );
    s.run(&[
        "apply",
        "v.yaml",
        "--var-file",
        "vars.yaml",
        "--var",
        "name=flag",
        "--auto-approve",
    ])
    .ok();
    assert_eq!(s.read("v.txt"), "flag-3", "--var wins over files");
}

#[test]
fn graph_prints_dot() {
    let s = setup();
    let r = s.run(&["graph", "site.yaml"]);
    r.ok();
    assert!(r.stdout.starts_with("digraph trustplane {"), "{}", r.all());
    assert!(r.stdout.contains("\"marker\" -> \"page\";"), "{}", r.all());
    assert!(!r.stdout.contains("-> \"independent\""));
}

#[test]
fn validate_checks_directories() {
    let s = setup();
    s.write(
        "more/a.yaml",
        "stack: a\nresources:\n  n:\n    type: core.null\n",
    );
    s.write(
        "more/b.yml",
        "stack: b\nresources:\n  n:\n    type: core.nul\n",
    );
    let r = s.run(&["validate", "more"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("more/a.yaml: valid (1 resources)"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("did you mean"), "{}", r.all());
    s.run(&["validate", "site.yaml"]).ok();
}

#[test]
fn provider_errors_at_apply_and_refresh_name_the_stack_line() {
    let s = Sandbox::new();
    // Line 8 holds `path`: the property the provider's error is about.
    s.write(
        "file.yaml",
        "stack: f\nresources:\n  ok:\n    type: core.null\n  f:\n    type: core.file\n    properties:\n      path: blocker/f.txt\n      content: one\n",
    );
    // A parent that is a file: no directory can be made there, whoever runs the test.
    s.write("blocker", "a file, not a directory");
    let r = s.run(&["apply", "file.yaml", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("apply::create_failed"), "{}", r.all());
    assert!(
        r.stderr.contains("file.yaml:8:13"),
        "names the line of `path`: {}",
        r.all()
    );

    // Refresh: the applied file replaced by a directory cannot be read back.
    std::fs::remove_file(s.path("blocker")).unwrap();
    s.run(&["apply", "file.yaml", "--auto-approve"]).ok();
    std::fs::remove_file(s.path("blocker/f.txt")).unwrap();
    std::fs::create_dir(s.path("blocker/f.txt")).unwrap();
    let r = s.run(&["plan", "file.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("refresh::read_failed"), "{}", r.all());
    assert!(
        r.stderr.contains("file.yaml:8:13"),
        "names the line of `path`: {}",
        r.all()
    );
}
