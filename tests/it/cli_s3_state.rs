//! State in S3 (moto's server), through the real binary: one lock between runs from
//! different working directories, a killed run's stale lease, and migration both ways.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::stand_ins::Moto;
use crate::common::{Run, Sandbox};

/// Sleeps then nulls: slow enough that a run is caught in the middle, and nothing of it
/// lives outside the state (so any working directory can carry on).
fn sleepy_stack(state_block: &str) -> String {
    let mut text = format!("stack: team\n{state_block}resources:\n");
    for k in 0..6 {
        text.push_str(&format!(
            "  wait{k}:\n    type: core.sleep\n    properties: {{create_duration: 400ms}}\n\
             \x20 mark{k}:\n    type: core.null\n    properties: {{triggers: {{after: \"${{wait{k}.id}}\"}}}}\n"
        ));
    }
    text.push_str("outputs:\n  first: \"${mark0.id}\"\n  last: \"${mark5.id}\"\n");
    text
}

/// The stack file's own `state:` block, with the bucket from a variable.
const STATE_BLOCK: &str = "variables:\n  bucket: {default: unset}\nstate:\n  s3:\n    bucket: \"${var.bucket}\"\n    key: teams/mesh\n    region: us-east-1\n";

fn create_bucket(moto: &Moto, name: &str) {
    moto.boto3(&format!(
        "boto3.client('s3', endpoint_url=endpoint, region_name=region).create_bucket(Bucket={name:?})"
    ));
}

/// moto's environment, plus `extra`.
fn env(moto: &Moto, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn run(s: &Sandbox, args: &[&str], env: &[(String, String)]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

/// Starts `args` and returns once it has printed `lines` lines on stderr (it then holds
/// the lock and is applying); its stderr keeps draining.
fn start_until(s: &Sandbox, args: &[&str], env: &[(String, String)], lines: usize) -> Child {
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
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    for _ in 0..lines {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the run makes progress");
    }
    child
}

/// The lock ID a `state::locked` error names.
fn lock_id(r: &Run) -> String {
    let at = r
        .stderr
        .find("lock ID ")
        .unwrap_or_else(|| panic!("{}", r.all()));
    r.stderr[at + "lock ID ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `state list` of a run, as (address, id) pairs.
fn listed(r: &Run) -> Vec<(String, String)> {
    r.stdout
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            (parts[0].to_string(), parts[2].to_string())
        })
        .collect()
}

#[test]
fn two_working_directories_share_one_lock_and_never_both_write() {
    let moto = Moto::start();
    create_bucket(&moto, "team-state");
    let env = env(&moto, &[("TRUSTPLANE_VAR_bucket", "team-state")]);
    let alice = Sandbox::new();
    let bob = Sandbox::new();
    for s in [&alice, &bob] {
        s.write("stack.yaml", &sleepy_stack(STATE_BLOCK));
    }

    let mut first = start_until(&alice, &["apply", "stack.yaml", "--auto-approve"], &env, 1);
    // Bob's run, while Alice's applies: refused at once, naming her run.
    let refused = run(&bob, &["apply", "stack.yaml", "--auto-approve"], &env);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("state is locked by"),
        "{}",
        refused.all()
    );
    assert!(
        refused.stderr.contains("running `apply`"),
        "{}",
        refused.all()
    );
    assert!(
        refused
            .stderr
            .contains("s3://team-state/teams/mesh/default/lock.json"),
        "{}",
        refused.all()
    );
    // Waiting instead: Bob gets the lock once Alice is done, and finds her work done.
    let waited = run(
        &bob,
        &[
            "apply",
            "stack.yaml",
            "--auto-approve",
            "--lock-timeout",
            "2m",
        ],
        &env,
    );
    assert!(first.wait().unwrap().success());
    waited.ok();
    let again = run(&bob, &["plan", "stack.yaml", "--detailed-exitcode"], &env);
    assert_eq!(again.code, 0, "nothing left to do\n{}", again.all());

    // One apply wrote the resources; the other found nothing to do.
    let history = run(&alice, &["state", "history", "-f", "stack.yaml"], &env);
    history.ok();
    let applies: Vec<&str> = history
        .stdout
        .lines()
        .filter(|l| l.starts_with("serial"))
        .collect();
    assert_eq!(applies.len(), 1, "{}", history.stdout);
    assert!(applies[0].contains("(12 resources)"), "{}", history.stdout);
    let listed = run(&bob, &["state", "list", "-f", "stack.yaml"], &env);
    assert_eq!(listed.ok().stdout.lines().count(), 12);
}

#[test]
fn a_run_killed_mid_apply_leaves_a_stale_lease_and_a_rerun_elsewhere_converges() {
    let moto = Moto::start();
    create_bucket(&moto, "crash-state");
    let env = env(&moto, &[("TRUSTPLANE_STATE_LEASE", "2s")]);
    let url = "s3://crash-state/teams/mesh";
    let (first_dir, second_dir) = (Sandbox::new(), Sandbox::new());
    for s in [&first_dir, &second_dir] {
        s.write("stack.yaml", &sleepy_stack(""));
    }
    let apply = [
        "apply",
        "stack.yaml",
        "--auto-approve",
        "--parallelism",
        "1",
        "--state",
        url,
    ];
    let mut killed = start_until(&first_dir, &apply, &env, 4);
    killed.kill().unwrap(); // SIGKILL: no release, no renewal from now on
    killed.wait().unwrap();

    // The lease runs out with nobody renewing it: reported as stale, never broken.
    let stale = run(
        &second_dir,
        &["state", "list", "--state", url, "--lock-timeout", "5s"],
        &env,
    );
    assert_eq!(stale.code, 1, "{}", stale.all());
    assert!(
        stale.stderr.contains("the lock is stale"),
        "{}",
        stale.all()
    );
    assert!(stale.stderr.contains("running `apply`"), "{}", stale.all());
    let id = lock_id(&stale);
    // Reads are not blocked by a held lock: plan and drift run while it is there.
    let plan = run(&second_dir, &["plan", "stack.yaml", "--state", url], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(plan.stdout.contains("to add"), "{}", plan.all());
    let drift = run(&second_dir, &["drift", "stack.yaml", "--state", url], &env);
    assert!(!drift.stderr.contains("locked"), "{}", drift.all());

    let wrong = run(
        &second_dir,
        &["state", "force-unlock", "not-that-lock", "--state", url],
        &env,
    );
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    assert!(
        wrong.stderr.contains("no lock with ID not-that-lock"),
        "{}",
        wrong.all()
    );
    let unlocked = run(
        &second_dir,
        &["state", "force-unlock", &id, "--state", url],
        &env,
    );
    assert!(unlocked.ok().stdout.contains(&id), "{}", unlocked.all());

    // What the killed run recorded is there, and the rerun keeps it.
    let before = listed(run(&second_dir, &["state", "list", "--state", url], &env).ok());
    assert!(!before.is_empty(), "the killed run recorded nothing");
    assert!(
        before.len() < 12,
        "the kill landed after the run: {before:?}"
    );
    run(&second_dir, &apply, &env).ok();
    let after = listed(run(&second_dir, &["state", "list", "--state", url], &env).ok());
    assert_eq!(after.len(), 12, "{after:?}");
    for entry in &before {
        assert!(after.contains(entry), "{entry:?} was lost or replaced");
    }
    let check = run(&second_dir, &["state", "check", "--state", url], &env);
    assert!(
        check.ok().stdout.contains("No problems found."),
        "{}",
        check.all()
    );
    let plan = run(
        &second_dir,
        &["plan", "stack.yaml", "--detailed-exitcode", "--state", url],
        &env,
    );
    assert_eq!(plan.code, 0, "{}", plan.all());
}

#[test]
fn migrate_sled_to_s3_and_back_keeps_outputs_list_and_history() {
    let moto = Moto::start();
    create_bucket(&moto, "migrate-state");
    let env = env(&moto, &[]);
    let s = Sandbox::new();
    s.write("stack.yaml", &sleepy_stack("").replace("400ms", "1ms"));
    run(&s, &["apply", "stack.yaml", "--auto-approve"], &env).ok();
    let view = |state: &[&str]| {
        let mut out = vec!["output", "--json"];
        out.extend(state);
        let mut list = vec!["state", "list"];
        list.extend(state);
        let mut history = vec!["state", "history"];
        history.extend(state);
        [out, list, history].map(|args| run(&s, &args, &env).ok().stdout.clone())
    };
    let local = view(&["-f", "stack.yaml"]);
    assert!(local[0].contains("\"first\""), "{}", local[0]);

    let to_s3 = run(
        &s,
        &[
            "state",
            "migrate",
            "--to",
            "s3://migrate-state/mesh",
            "-f",
            "stack.yaml",
        ],
        &env,
    );
    assert!(
        to_s3.ok().stdout.contains("Copied 12 resources"),
        "{}",
        to_s3.all()
    );
    assert_eq!(view(&["--state", "s3://migrate-state/mesh"]), local);

    let back = run(
        &s,
        &[
            "state",
            "migrate",
            "--to",
            "back",
            "--state",
            "s3://migrate-state/mesh",
        ],
        &env,
    );
    back.ok();
    assert_eq!(view(&["--state", "back"]), local);

    // A second migration of the same state is a no-op; another state there is refused.
    run(
        &s,
        &[
            "state",
            "migrate",
            "--to",
            "s3://migrate-state/mesh",
            "-f",
            "stack.yaml",
        ],
        &env,
    )
    .ok();
    s.write(
        "other.yaml",
        "stack: team\nresources:\n  n: {type: core.null}\n",
    );
    run(
        &s,
        &[
            "apply",
            "other.yaml",
            "--auto-approve",
            "--state",
            "s3://migrate-state/other",
        ],
        &env,
    )
    .ok();
    let refused = run(
        &s,
        &[
            "state",
            "migrate",
            "--to",
            "s3://migrate-state/other",
            "-f",
            "stack.yaml",
        ],
        &env,
    );
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("already holds another state"),
        "{}",
        refused.all()
    );
    assert_eq!(
        run(
            &s,
            &["state", "list", "--state", "s3://migrate-state/other"],
            &env
        )
        .ok()
        .stdout
        .lines()
        .count(),
        1,
        "the refused target is unchanged"
    );
}

#[test]
fn a_bad_state_url_or_block_is_refused_before_any_request() {
    let s = Sandbox::new();
    s.write("stack.yaml", &sleepy_stack(""));
    let r = s.run(&["plan", "stack.yaml", "--state", "s3://No_Such/x"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("s3://BUCKET/PREFIX"), "{}", r.all());

    s.write(
        "bad.yaml",
        "stack: team\nstate:\n  s3:\n    bucket: team-state\n    kms_key: x\n",
    );
    let r = s.run(&["plan", "bad.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("bad.yaml:5"), "{}", r.all());
    assert!(r.stderr.contains("unknown field `kms_key`"), "{}", r.all());
    assert!(
        r.stderr.contains("missing `key` in `state.s3`"),
        "{}",
        r.all()
    );
}

#[test]
fn an_interrupted_apply_releases_its_s3_lock_and_keeps_what_finished() {
    let moto = Moto::start();
    create_bucket(&moto, "signal-state");
    let env = env(&moto, &[]);
    let url = "s3://signal-state/teams/mesh";
    let s = Sandbox::new();
    s.write("stack.yaml", &sleepy_stack(""));
    let args = [
        "apply",
        "stack.yaml",
        "--auto-approve",
        "--parallelism",
        "1",
        "--state",
        url,
    ];
    let mut child = start_until(&s, &args, &env, 2);
    // SAFETY: signalling a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    // No lock is left behind: the next run takes it at once.
    let listed = run(&s, &["state", "list", "--state", url], &env);
    assert!(
        !listed.ok().stdout.is_empty(),
        "the finished resource was saved"
    );
}
