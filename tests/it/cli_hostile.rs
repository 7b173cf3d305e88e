//! Hostile and oversized input through the real binary: every case in
//! tests/fixtures/hostile, and a few generated here because they are too large to keep in
//! the repository, ends with exit 1 and its own clear message, never a panic or a crash,
//! and writes no state. Each run is held to an address-space limit and killed after a
//! generous time, so that a regression (an alias bomb expanding, a stack overflow) fails
//! the test instead of exhausting the machine.
//!
//! A case's file name says which input path it takes: `stack_*` is validated and planned
//! as a stack, `vars_*` is given with `--var-file`, `values_*` is a Helm release's values
//! file and `manifest_*` a `k8s.manifest` file (both read when applied: the apply opens
//! the state store but records nothing), `plan_*` is applied as a saved plan.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo_root, Sandbox};

/// Address space a run may map. The binary, its threads' stacks and the allocator's
/// arenas take part of it; the rest bounds what one input can make trustplane allocate.
const ADDRESS_SPACE: u64 = 1 << 30;
/// Heap (data segment and private mappings) a run may use: the bound the limits hold to.
const DATA_LIMIT: u64 = 100 << 20;
/// Far above the time any case takes; reached only if a limit regresses.
const KILL_AFTER: Duration = Duration::from_secs(60);

const VAR_STACK: &str = "stack: vars\nvariables:\n  name:\n    type: string\n    default: x\nresources:\n  r:\n    type: core.null\n    properties:\n      triggers:\n        n: ${var.name}\n";
const VALUES_STACK: &str = "stack: values\nresources:\n  web:\n    type: helm.release\n    properties:\n      name: web\n      namespace: default\n      chart: ./chart\n      values_files: [values.yaml]\n";
const MANIFEST_STACK: &str = "stack: manifest\nresources:\n  objects:\n    type: k8s.manifest\n    properties:\n      file: manifest.yaml\n";

struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    stdout: String,
}

/// Runs the binary in `dir` under the memory limits, killing it after [`KILL_AFTER`].
fn run_limited(dir: &Path, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("TRUSTPLANE_WORKSPACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for (resource, bytes) in [
                (libc::RLIMIT_AS, ADDRESS_SPACE),
                (libc::RLIMIT_DATA, DATA_LIMIT),
            ] {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start trustplane");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > KILL_AFTER {
            let _ = child.kill();
            let _ = child.wait();
            panic!("trustplane {args:?} still ran after {KILL_AFTER:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    Outcome {
        code: status.code(),
        signal: status.signal(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// What the state directory of `dir` holds; empty when absent.
fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("state")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Checks one run: exit 1, every expected line in the output, no panic, no state.
fn check(case: &str, args: &[&str], dir: &Path, expected: &[String]) {
    check_run(case, args, dir, expected);
    assert!(
        state_files(dir).is_empty(),
        "{case}: state was written: {:?}",
        state_files(dir)
    );
}

/// Checks an apply that fails while creating: the state store is opened (and so exists),
/// but holds no resource.
fn check_apply(case: &str, s: &Sandbox, stack: &str, expected: &[String]) {
    check_run(
        case,
        &["apply", stack, "--auto-approve"],
        s.dir.path(),
        expected,
    );
    let list = s.run(&["state", "list", "-f", stack]);
    assert_eq!(list.code, 0, "{case}: {}", list.all());
    assert_eq!(list.stdout.trim(), "", "{case}: a resource was recorded");
}

fn check_run(case: &str, args: &[&str], dir: &Path, expected: &[String]) {
    let o = run_limited(dir, args);
    let all = format!(
        "{case}: trustplane {args:?}: exit {:?} signal {:?}\n--- stdout\n{}--- stderr\n{}",
        o.code,
        o.signal,
        o.stdout.chars().take(4000).collect::<String>(),
        o.stderr.chars().take(4000).collect::<String>()
    );
    assert_eq!(o.code, Some(1), "{all}");
    assert!(!o.stderr.contains("panicked"), "{all}");
    for line in expected {
        assert!(o.stderr.contains(line.as_str()), "expected {line:?}: {all}");
    }
    // A message quotes at most a line of the input, never a whole hostile file.
    assert!(
        o.stderr.len() < 64 * 1024,
        "{case}: {} bytes of errors",
        o.stderr.len()
    );
}

/// Runs a case's input through its path. `file` is already in the sandbox under its name.
fn run_case(name: &str, s: &Sandbox, file: &str, expected: &[String]) {
    let dir = s.dir.path();
    if name.starts_with("stack_") {
        check(name, &["validate", file], dir, expected);
        check(name, &["plan", file], dir, expected);
    } else if name.starts_with("vars_") {
        s.write("vars.yaml", VAR_STACK);
        check(
            name,
            &["plan", "vars.yaml", "--var-file", file],
            dir,
            expected,
        );
    } else if name.starts_with("values_") {
        std::fs::rename(s.path(file), s.path("values.yaml")).unwrap();
        s.write("release.yaml", VALUES_STACK);
        check_apply(name, s, "release.yaml", expected);
    } else if name.starts_with("manifest_") {
        std::fs::rename(s.path(file), s.path("manifest.yaml")).unwrap();
        s.write("objects.yaml", MANIFEST_STACK);
        check_apply(name, s, "objects.yaml", expected);
    } else if name.starts_with("plan_") {
        check(name, &["apply", file, "--auto-approve"], dir, expected);
    } else {
        panic!("{name}: the file name does not say which input path it takes");
    }
}

#[test]
fn every_hostile_fixture_is_refused_cleanly() {
    let dir = repo_root().join("tests/fixtures/hostile");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e != "expected" && e != "md"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 25,
        "at least 25 cases, found {}",
        cases.len()
    );
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        let expected: Vec<String> = std::fs::read_to_string(case.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{name} has no .expected file"))
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let s = Sandbox::new();
        std::fs::copy(case, s.path(&name)).unwrap();
        run_case(&name, &s, &name, &expected);
    }
}

/// A file of `len` bytes of `line` repeated.
fn write_repeated(path: &Path, head: &str, line: &str, len: usize) {
    let mut text = String::with_capacity(len + line.len());
    text.push_str(head);
    while text.len() < len {
        text.push_str(line);
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn oversized_inputs_are_refused_by_size_naming_the_file_and_limit() {
    const MIB: usize = 1 << 20;
    let cases: [(&str, usize, &str); 5] = [
        (
            "stack_huge.yaml",
            9 * MIB,
            "stack file stack_huge.yaml is larger than the limit of 8 MiB",
        ),
        (
            "vars_huge.yaml",
            9 * MIB,
            "variable file vars_huge.yaml is larger than the limit of 8 MiB",
        ),
        (
            "values_huge.yaml",
            9 * MIB,
            "values file values.yaml is larger than the limit of 8 MiB",
        ),
        (
            "manifest_huge.yaml",
            17 * MIB,
            "manifest file manifest.yaml is larger than the limit of 16 MiB",
        ),
        ("stack_huge_scalar.yaml", 9 * MIB, "input::too_large"),
    ];
    for (name, len, message) in cases {
        let s = Sandbox::new();
        if name == "stack_huge_scalar.yaml" {
            write_repeated(&s.path(name), "stack: ", "a", len);
        } else {
            write_repeated(&s.path(name), "# filler\n", "key: value # filler\n", len);
        }
        run_case(name, &s, name, &[message.to_string()]);
    }

    // A saved plan over its limit is never read whole (a sparse file: no disk used).
    let s = Sandbox::new();
    let plan = std::fs::File::create(s.path("plan_huge.plan")).unwrap();
    plan.set_len(65 * MIB as u64).unwrap();
    run_case(
        "plan_huge.plan",
        &s,
        "plan_huge.plan",
        &["is larger than the limit".to_string()],
    );

    // An endless stream stops at the limit.
    let s = Sandbox::new();
    check(
        "endless stream",
        &["validate", "/dev/zero"],
        s.dir.path(),
        &["stack file /dev/zero is larger than the limit of 8 MiB".to_string()],
    );
}

#[test]
fn documents_within_the_size_limit_but_too_dense_or_too_wide_are_refused() {
    let cases: [(&str, String, &str); 3] = [
        // 600,000 values in 1.2 MB.
        (
            "stack_many_values.yaml",
            format!("stack: many\nresources: [{}]\n", "1,".repeat(600_000)),
            "the document holds more than 250000 values",
        ),
        // One 4 MB name (an explicit key, which has no length limit): refused, and
        // quoted only in part.
        (
            "stack_huge_name.yaml",
            format!(
                "stack: long\nresources:\n  ? {}\n  : {{type: core.null}}\n",
                "n".repeat(4 << 20)
            ),
            "stack::invalid_name",
        ),
        // One 6 MB line that is not valid YAML.
        (
            "stack_long_line.yaml",
            format!("stack: long\nresources: {}\n", "a: b, ".repeat(1 << 20)),
            "stack::yaml_syntax",
        ),
    ];
    for (name, text, message) in cases {
        let s = Sandbox::new();
        std::fs::write(s.path(name), text).unwrap();
        run_case(name, &s, name, &[message.to_string()]);
    }
}
