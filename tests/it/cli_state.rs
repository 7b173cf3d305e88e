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

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every directory under `root` and every file in it, with its mode.
fn modes_under(root: &std::path::Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        out.push((p.display().to_string(), mode(&p)));
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

#[test]
fn state_and_saved_plans_are_owner_only() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    let all = modes_under(&s.path("state"));
    assert!(all.len() > 4, "{all:?}");
    for (path, m) in &all {
        let want = if std::path::Path::new(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*m, want, "{path} has mode {m:o}");
    }
    // A plan file holds variable values: 0600, even over a world-readable file.
    s.write("p.plan", "old");
    std::fs::set_permissions(
        s.path("p.plan"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    s.write("st.yaml", &STACK.replace("bee", "wasp"));
    s.run(&["plan", "st.yaml", "--out", "p.plan"]).ok();
    assert_eq!(mode(&s.path("p.plan")), 0o600);
}

/// A saved plan with `edit` applied and its digest recomputed, as someone who knows the
/// format could do.
fn re_signed(s: &Sandbox, plan: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    use sha2::Digest;
    let mut doc: serde_json::Value = serde_json::from_str(&s.read(plan)).unwrap();
    doc.as_object_mut().unwrap().remove("digest");
    edit(&mut doc);
    let digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(serde_json::to_vec(&doc).unwrap()))
    );
    doc["digest"] = digest.into();
    s.write(plan, &serde_json::to_string_pretty(&doc).unwrap());
}

fn serial(s: &Sandbox) -> u64 {
    let h = s.run(&["state", "history", "-f", "st.yaml"]);
    h.ok();
    h.stdout.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_altered_or_damaged_plan_is_refused_without_a_panic() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    let before = serial(&s);
    s.run(&["plan", "st.yaml", "--destroy", "--out", "d.plan"])
        .ok();

    // Edited by hand: the digest no longer matches.
    let text = s.read("d.plan");
    s.write(
        "d.plan",
        &text.replace("\"destroy\": true", "\"destroy\": false"),
    );
    let r = s.run(&["apply", "d.plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("was altered since it was saved"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("trustplane plan --out"), "{}", r.all());

    // Damaged consistently (`prior: null` on a deletion): an error, not a panic.
    s.write("d.plan", &text);
    re_signed(&s, "d.plan", |doc| {
        for c in doc["changes"].as_array_mut().unwrap() {
            c["prior"] = serde_json::Value::Null;
        }
    });
    let r = s.run(&["apply", "d.plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("names no existing object"), "{}", r.all());
    assert!(!r.stderr.contains("panicked"), "{}", r.all());

    // Not JSON at all, or truncated.
    s.write("d.plan", &text[..text.len() / 2]);
    let r = s.run(&["apply", "d.plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!r.stderr.contains("panicked"), "{}", r.all());

    assert_eq!(serial(&s), before, "nothing was applied");
    assert!(s.exists("b.txt"));
}

#[test]
fn a_deletion_acts_on_the_object_state_records_not_the_plan_file() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.write("precious.txt", "not managed");
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    s.run(&["plan", "st.yaml", "--destroy", "--out", "d.plan"])
        .ok();
    // Point the deletion of b at another file, digest and all.
    re_signed(&s, "d.plan", |doc| {
        for c in doc["changes"].as_array_mut().unwrap() {
            if c["address"] == "b" {
                c["prior"]["id"] = "precious.txt".into();
                c["prior"]["properties"]["path"] = "precious.txt".into();
            }
        }
    });
    let r = s.run(&["apply", "d.plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("state records object \"b.txt\""),
        "{}",
        r.all()
    );
    assert_eq!(s.read("precious.txt"), "not managed");
    assert!(s.exists("b.txt"));
}

#[test]
fn a_saved_plan_applies_only_to_its_own_workspace() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["plan", "st.yaml", "--out", "p.plan"]).ok();
    let r = s.run(&["apply", "p.plan", "--workspace", "prod"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("was made for workspace default, but workspace prod was given"),
        "{}",
        r.all()
    );
    let r = s.run_env(&["apply", "p.plan"], &[("TRUSTPLANE_WORKSPACE", "prod")]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!s.exists("state/st/prod/db"), "no prod state was made");
    // Without a workspace, the plan's own.
    s.run(&["apply", "p.plan"]).ok();
    assert_eq!(s.read("b.txt"), "bee");
}

#[test]
fn a_failed_write_to_stdout_is_an_error_but_a_closed_pipe_is_not() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = s
        .command(&["plan", "st.yaml", "--detailed-exitcode"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );

    // A reader that went away: quiet, and the plan's own status (2: changes).
    let mut child = s
        .command(&["plan", "st.yaml", "--detailed-exitcode"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("cannot write"), "{stderr}");
}

/// A lock as trustplane writes it, for this machine or another.
fn lock_json(host: &str, pid: u32, boot_id: &str) -> String {
    let pidns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    serde_json::json!({
        "id": "3f1c-held",
        "user": "alice",
        "host": host,
        "pid": pid,
        "command": "apply",
        "created": "2026-01-01T12:00:00Z",
        "boot_id": boot_id,
        "pid_namespace": pidns.to_string_lossy(),
    })
    .to_string()
}

fn this_host() -> (String, String) {
    let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_string();
    (
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id"),
    )
}

#[test]
fn only_a_provably_dead_holder_loses_its_lock() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    let (host, boot) = this_host();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();

    // Another host: never broken; the error names the holder and force-unlock.
    s.write(
        "state/st/default/lock.json",
        &lock_json("build-7", dead, &boot),
    );
    let r = s.run(&["plan", "st.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    for want in [
        "alice@build-7",
        "another host (build-7)",
        "trustplane state force-unlock 3f1c-held",
    ] {
        assert!(r.stderr.contains(want), "{want}\n{}", r.all());
    }
    // This host, another boot: never broken either.
    s.write(
        "state/st/default/lock.json",
        &lock_json(&host, dead, "an-earlier-boot"),
    );
    let r = s.run(&["plan", "st.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("last booted"), "{}", r.all());
    // This host and boot, its process gone: broken, and said so.
    s.write("state/st/default/lock.json", &lock_json(&host, dead, &boot));
    let r = s.run(&["plan", "st.yaml"]);
    r.ok();
    assert!(
        r.stderr.contains("broke a stale state lock 3f1c-held"),
        "{}",
        r.all()
    );
    assert!(!s.exists("state/st/default/lock.json"));
}

#[test]
fn check_export_and_import_round_trip_a_state() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    let check = s.run(&["state", "check", "-f", "st.yaml"]);
    check.ok();
    assert!(
        check.stdout.contains("2 resources, 1 outputs"),
        "{}",
        check.all()
    );
    assert!(
        check.stdout.contains("No problems found."),
        "{}",
        check.all()
    );

    s.run(&["state", "export", "st.json", "-f", "st.yaml"]).ok();
    assert_eq!(mode(&s.path("st.json")), 0o600);
    let exported: serde_json::Value = serde_json::from_str(&s.read("st.json")).unwrap();
    assert_eq!(exported["format"], "trustplane-state");
    assert_eq!(exported["resources"]["b"]["id"], "b.txt");

    let import = s.run(&["state", "import", "st.json", "--state", "copy"]);
    import.ok();
    assert!(
        import.stdout.contains("Imported 2 resources"),
        "{}",
        import.all()
    );
    s.run(&["state", "export", "again.json", "--state", "copy"])
        .ok();
    let again: serde_json::Value = serde_json::from_str(&s.read("again.json")).unwrap();
    assert_eq!(again, exported, "export → import → export is the identity");
    // The copy is a working state: the stack has nothing to change against it.
    let plan = s.run(&["plan", "st.yaml", "--state", "copy", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    // Never over a state that holds something, nor for another stack.
    let r = s.run(&["state", "import", "st.json", "-f", "st.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("not empty"), "{}", r.all());
    s.write("other.yaml", "stack: other\nresources: {}\n");
    let r = s.run(&["state", "import", "st.json", "-f", "other.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("holds the state of stack st"),
        "{}",
        r.all()
    );
}

#[test]
fn a_state_left_open_by_a_killed_run_is_checked_before_use() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    let quiet = s.run(&["state", "list", "-f", "st.yaml"]);
    assert!(
        !quiet.stderr.contains("did not finish cleanly"),
        "{}",
        quiet.all()
    );
    // What a SIGKILLed run leaves: its in-use marker (cli_crash kills for real).
    s.write("state/st/default/in-use", "4242");
    let r = s.run(&["state", "list", "-f", "st.yaml"]);
    r.ok();
    assert!(
        r.stderr.contains("did not finish cleanly") && r.stderr.contains("found no problems"),
        "{}",
        r.all()
    );
    assert!(
        !s.exists("state/st/default/in-use"),
        "a clean close removes it"
    );
}

#[test]
fn every_command_that_messages_name_exists() {
    // Help texts and errors tell people what to run; each must be a real command.
    let mut named = std::collections::BTreeSet::new();
    let root = common::repo_root();
    let mut stack = vec![root.join("src"), root.join("docs"), root.join("README.md")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs" || e == "md") {
            let text = std::fs::read_to_string(&p).unwrap();
            for piece in text.split("`trustplane ").skip(1) {
                let word: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                    .collect();
                if !word.is_empty() {
                    named.insert(word);
                }
            }
        }
    }
    assert!(
        named.contains("plan") && named.contains("state"),
        "{named:?}"
    );
    let s = Sandbox::new();
    for word in &named {
        let r = s.run(&[word, "--help"]);
        assert_eq!(
            r.code, 0,
            "`trustplane {word}` is named in a message but does not exist"
        );
    }
}

#[test]
fn a_damaged_state_after_an_unclean_stop_is_refused_and_can_be_recovered() {
    let s = Sandbox::new();
    s.write("st.yaml", STACK);
    s.run(&["apply", "st.yaml", "--auto-approve"]).ok();
    // Damage one record behind trustplane's back, then leave the mark of a killed run.
    {
        let db = sled::open(s.path("state/st/default/db")).unwrap();
        let tree = db.open_tree("state").unwrap();
        tree.insert("r/garbled", b"{\"address\": ".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    s.write("state/st/default/in-use", "4242");

    let r = s.run(&["plan", "st.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    for want in [
        "did not finish cleanly",
        "resource garbled does not decode",
        "trustplane state export",
    ] {
        assert!(r.stderr.contains(want), "{want}\n{}", r.all());
    }
    let check = s.run(&["state", "check", "-f", "st.yaml"]);
    assert_eq!(check.code, 1, "{}", check.all());
    assert!(check.stdout.contains("1 problem(s)"), "{}", check.all());

    // Recovery as docs/state.md describes it.
    let export = s.run(&["state", "export", "saved.json", "-f", "st.yaml"]);
    assert_eq!(export.code, 1, "{}", export.all());
    assert!(
        export.stderr.contains("resource garbled"),
        "{}",
        export.all()
    );
    std::fs::rename(s.path("state/st/default"), s.path("damaged")).unwrap();
    s.run(&["state", "import", "saved.json", "-f", "st.yaml"])
        .ok();
    let plan = s.run(&["plan", "st.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}
