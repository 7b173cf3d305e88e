//! Crash matrix: apply killed with SIGKILL at seeded random points (after the k-th
//! progress line, plus a random delay), then run again. After each rerun: exit 0, no
//! duplicated object, no lost state entry (the next plan has nothing to do), and
//! `state check` clean. The points are reproducible from the seed; set
//! TRUSTPLANE_CRASH_SEED to explore others.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::stand_ins::Moto;
use common::{Run, Sandbox};

/// splitmix64: a small seeded generator, so every run kills at the same points.
struct Points(u64);

impl Points {
    fn from_env(default: u64) -> Points {
        let seed = std::env::var("TRUSTPLANE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("crash points from seed {seed}");
        Points(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Runs `args` and SIGKILLs it once it has printed `lines` lines on stderr (progress)
/// and `delay` more has passed; a run that finishes first is simply waited for. True if
/// the kill landed before the run finished.
fn kill_during(
    s: &Sandbox,
    args: &[&str],
    env: &[(String, String)],
    lines: u64,
    delay: Duration,
) -> bool {
    let mut cmd = s.command(args);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if line.is_err() || tx.send(()).is_err() {
                break;
            }
        }
    });
    for _ in 0..lines {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break, // it finished
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no progress for 60s"),
        }
    }
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL: no destructor, no lock release, no flush
    let status = child.wait().unwrap();
    std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL)
}

fn run_env(s: &Sandbox, args: &[&str], env: &[(String, String)]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

/// After a rerun: `state check` is clean and the next plan has nothing to do.
fn assert_converged(s: &Sandbox, stack: &str, extra: &[&str], env: &[(String, String)], at: &str) {
    let check = run_env(s, &["state", "check", "-f", stack], env);
    assert_eq!(check.code, 0, "{at}: state check\n{}", check.all());
    assert!(
        check.stdout.contains("No problems found."),
        "{at}: {}",
        check.all()
    );
    let mut plan = vec!["plan", stack, "--detailed-exitcode"];
    plan.extend(extra);
    let plan = run_env(s, &plan, env);
    assert_eq!(plan.code, 0, "{at}: a state entry was lost\n{}", plan.all());
}

const CHAINS: usize = 4;

/// Four chains of sleep → file → null. The generation variable replaces every resource
/// (the file's path includes it), so each run deletes one generation and creates the next.
fn core_stack() -> String {
    let mut s = String::from(
        "stack: crash\nvariables:\n  gen:\n    type: string\n    default: \"0\"\nresources:\n",
    );
    for k in 0..CHAINS {
        s.push_str(&format!(
            "  wait{k}:\n    type: core.sleep\n    properties:\n      create_duration: 15ms\n      destroy_duration: 5ms\n      triggers: {{gen: \"${{var.gen}}\"}}\n\
             \x20 file{k}:\n    type: core.file\n    properties:\n      path: out/f{k}-${{var.gen}}.txt\n      content: \"${{wait{k}.id}}\"\n\
             \x20 mark{k}:\n    type: core.null\n    properties:\n      triggers: {{sha: \"${{file{k}.sha256}}\"}}\n"
        ));
    }
    s
}

fn files_on_disk(s: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.path("out"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn sigkill_at_50_points_over_core_resources_never_duplicates_or_loses() {
    let s = Sandbox::new();
    s.write("crash.yaml", &core_stack());
    let mut points = Points::from_env(0x7275_7374);
    // Progress lines of a full run: a start and a finish per replaced resource.
    let events = (CHAINS * 3 * 2) as u64;
    let mut killed = 0;
    for i in 1..=50u64 {
        let gen = format!("gen={i}");
        let args = [
            "apply",
            "crash.yaml",
            "--auto-approve",
            "--var",
            &gen,
            "--parallelism",
            "3",
        ];
        let (lines, delay) = (points.below(events), points.below(15));
        let at = format!("point {i} (after {lines} lines + {delay}ms)");
        let hit = kill_during(&s, &args, &[], lines, Duration::from_millis(delay));
        eprintln!("{at}: landed mid-run: {hit}");
        killed += u32::from(hit);

        let rerun = s.run(&args);
        assert_eq!(rerun.code, 0, "{at}: rerun\n{}", rerun.all());
        assert_converged(&s, "crash.yaml", &["--var", &gen], &[], &at);
        let expected: Vec<String> = (0..CHAINS).map(|k| format!("f{k}-{i}.txt")).collect();
        assert_eq!(files_on_disk(&s), expected, "{at}: files on disk");
        assert_eq!(s.state_list("crash.yaml").len(), CHAINS * 3, "{at}");
    }
    // The matrix means something only if most kills land mid-apply.
    assert!(
        killed >= 40,
        "only {killed} of 50 kills landed before the run ended"
    );
}

const AWS_STACK: &str = r#"
stack: pki
providers:
  aws:
    region: us-east-1
resources:
  root_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: root
      subject: {common_name: Crash Root, organization: Example}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 10y
  sub_ca:
    type: aws.pca.certificate_authority
    properties:
      kind: subordinate
      parent: ${root_ca.arn}
      path_length: 1
      subject: {common_name: Crash Sub, organization: Example}
      key_algorithm: RSA_2048
      signing_algorithm: SHA256WITHRSA
      validity: 5y
"#;

/// CAs in moto that are not deleted, by common name.
fn live_cas(moto: &Moto) -> Vec<String> {
    let mut names: Vec<String> = moto
        .ca_statuses()
        .into_iter()
        .filter(|(_, status)| status != "DELETED")
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names
}

#[test]
fn sigkill_at_10_points_over_pca_never_duplicates_or_loses() {
    let moto = Moto::start();
    let env = moto.env();
    let s = Sandbox::new();
    s.write("pki.yaml", AWS_STACK);
    let mut points = Points::from_env(0x0061_7773);
    let apply = ["apply", "pki.yaml", "--auto-approve"];
    let destroy = ["destroy", "pki.yaml", "--auto-approve"];
    let mut killed = 0;
    for i in 1..=10u64 {
        // Odd points kill an apply from nothing, even ones a destroy of everything.
        let (args, expected): (&[&str], Vec<String>) = if i % 2 == 1 {
            (&apply, vec!["Crash Root".into(), "Crash Sub".into()])
        } else {
            (&destroy, vec![])
        };
        // Destroying CAs in moto is quicker than creating them: shorter delays.
        let (lines, delay) = (
            points.below(3),
            points.below(if i % 2 == 1 { 150 } else { 60 }),
        );
        let at = format!("point {i}: {} (after {lines} lines + {delay}ms)", args[0]);
        let hit = kill_during(&s, args, &env, lines, Duration::from_millis(delay));
        eprintln!("{at}: landed mid-run: {hit}");
        killed += u32::from(hit);
        let rerun = run_env(&s, args, &env);
        assert_eq!(rerun.code, 0, "{at}: rerun\n{}", rerun.all());
        assert_eq!(live_cas(&moto), expected, "{at}: CAs in AWS");
        let extra: &[&str] = if i % 2 == 1 { &[] } else { &["--destroy"] };
        assert_converged(&s, "pki.yaml", extra, &env, &at);
    }
    assert!(
        killed >= 7,
        "only {killed} of 10 kills landed before the run ended"
    );
}
