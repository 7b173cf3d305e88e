//! State commands, import and outputs through the real binary.

use crate::common;

use common::Sandbox;

const STACK: &str = "stack: st
resources:
  a:
    type: core.null
  b:
    type: core.file
    properties:
      path: b.txt
      content: bee
    depends_on: [a]
outputs:
  b_sha: ${b.sha256}
";

#[test]
fn list_show_mv_rm_and_history() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();

    let list = s.state_list("st.yaml");
    assert_eq!(
        list,
        vec![
            ("a".to_string(), "core.null".to_string()),
            ("b".into(), "core.file".into())
        ]
    );

    let show = s.run(&["state", "show", "b", "-f", "st.yaml"]);
    show.ok();
    let doc: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(doc["properties"]["content"], "bee");
    assert_eq!(doc["dependencies"], serde_json::json!(["a"]));
    assert_eq!(doc["id"], "b.txt");

    let typo = s.run(&["state", "show", "bb", "-f", "st.yaml"]);
    assert_eq!(typo.code, 1);
    assert!(typo.stderr.contains("did you mean `b`?"), "{}", typo.all());

    // The same state is reachable by its directory.
    let by_dir = s.run(&["state", "list", "--state", "state/st/default"]);
    by_dir.ok();
    assert_eq!(by_dir.stdout.lines().count(), 2);

    s.run(&["state", "mv", "b", "renamed", "-f", "st.yaml"])
        .ok();
    assert!(s.state_list("st.yaml").iter().any(|(a, _)| a == "renamed"));
    // The stack still calls it b: the plan creates b and destroys the renamed copy.
    let plan = s.run(&["plan", "st.yaml"]);
    assert!(
        plan.stdout.contains("+ b (core.file) will be created"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("- renamed (core.file) will be destroyed"),
        "{}",
        plan.all()
    );
    s.run(&["state", "mv", "renamed", "b", "-f", "st.yaml"])
        .ok();

    s.run(&["state", "rm", "a", "-f", "st.yaml"]).ok();
    assert_eq!(s.state_list("st.yaml").len(), 1);
    assert!(s.exists("b.txt"), "state rm leaves objects alone");

    let history = s.run(&["state", "history", "-f", "st.yaml"]);
    history.ok();
    let text = &history.stdout;
    let first = text.lines().next().unwrap();
    assert!(first.contains("state rm a"), "newest first: {text}");
    assert!(text.contains("    - a"), "{text}");
    assert!(text.contains("state mv b renamed"), "{text}");
    assert!(text.contains("apply"), "{text}");
}

#[test]
fn import_adopts_an_existing_object() {
    let s = Sandbox::new();
    s.write("existing.txt", "bee");
    s.write("st.yaml", STACK);
    let r = s.run(&["import", "b", "existing.txt", "st.yaml"]);
    r.ok();
    assert!(r.stdout.contains("Imported existing.txt"), "{}", r.all());
    let show = s.run(&["state", "show", "b", "-f", "st.yaml"]);
    assert!(
        show.stdout.contains("\"content\": \"bee\""),
        "{}",
        show.all()
    );
    // The stack wants path b.txt: the plan replaces the imported file.
    let plan = s.run(&["plan", "st.yaml"]);
    assert!(
        plan.stdout.contains("-/+ b (core.file) must be replaced"),
        "{}",
        plan.all()
    );

    let again = s.run(&["import", "b", "existing.txt", "st.yaml"]);
    assert_eq!(again.code, 1, "{}", again.all());
    assert!(again.stderr.contains("already in state"), "{}", again.all());
    let unknown = s.run(&["import", "c", "x", "st.yaml"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("not declared"), "{}", unknown.all());
    let missing = s.run(&["import", "a", "x", "st.yaml"]);
    missing.ok(); // core.null adopts any id
}

#[test]
fn outputs_print_plain_and_json() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    let sha = s.run(&["output", "b_sha", "-f", "st.yaml"]);
    sha.ok();
    assert_eq!(sha.stdout.trim().len(), 64, "{}", sha.all());
    let all = s.run(&["output", "-f", "st.yaml", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(doc["b_sha"]["value"].as_str().unwrap(), sha.stdout.trim());
    let typo = s.run(&["output", "b_sah", "-f", "st.yaml"]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr.contains("did you mean `b_sha`?"),
        "{}",
        typo.all()
    );
    let nowhere = s.run(&["output"]);
    assert_eq!(nowhere.code, 1);
    assert!(
        nowhere.stderr.contains("-f STACK.yaml"),
        "{}",
        nowhere.all()
    );
}
