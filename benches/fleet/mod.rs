//! The `fleet` group: a no-op plan of N members of the cluster tier (stacks/mesh-cluster.yaml)
//! against the stand-ins, one member alone versus all N at once in one process, through the
//! library (`trustplane::ops`), each member with its own registry of providers as a fleet
//! runs them.
//!
//! Setup (not measured): moto, one Kubernetes API emulator per member, the trust tier
//! applied once and every member applied with the real binary. Each measurement is a child
//! process (this bench binary again, in child mode) so that its wall time and peak memory
//! (wait4's rusage) are the plan's alone; the stand-ins' CPU time over it is read from
//! /proc. Members: TRUSTPLANE_BENCH_FLEET_MEMBERS, default 10.
//!
//! On loopback a stand-in answers in microseconds, so the plans are bound by CPU, the
//! stand-ins' included, on however few cores the machine has. TRUSTPLANE_BENCH_FLEET_RTT_MS
//! (a comma-separated list, default 0) measures again with every request to moto and to
//! the emulators held back that many milliseconds by a [`LatencyProxy`], as a network
//! round trip to AWS and to a cluster's API server would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stand_ins::{helm, Emulator, LatencyProxy, Moto};
use trustplane::config::vars::VarInputs;
use trustplane::ops::apply::pending;
use trustplane::ops::locked::StateSpec;
use trustplane::ops::plan::{plan, PlanOptions};
use trustplane::ops::prepare::{prepare, PrepareParams};
use trustplane::ops::stack::PkiChecks;
use trustplane::ops::Hooks;
use trustplane::provider::Registry;

/// Set in a child: the member directories to plan, one a line.
const CHILD: &str = "TRUSTPLANE_BENCH_FLEET_CHILD";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster tier with this member's cluster connection (a fleet file's `kubernetes:`):
/// the kubeconfig in the member's directory, pointed at its emulator or at a proxy of it.
fn member_stack(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(repo().join("stacks/mesh-cluster.yaml")).unwrap();
    let connection = format!(
        "providers:\n  kubernetes:\n    kubeconfig: {}\n",
        kubeconfig.display()
    );
    assert!(
        text.contains("\nproviders:\n"),
        "mesh-cluster.yaml has a providers block"
    );
    text.replacen("\nproviders:\n", &format!("\n{connection}"), 1)
}

/// The sandbox's variables with absolute chart paths, the trust tier's outputs and this
/// member's own values.
fn member_vars(name: &str, trust: &[(String, String)]) -> String {
    let charts = repo().join("examples/sandbox/charts");
    let mut vars = format!(
        "cluster_name: {name}\nnetwork: net-{name}\nmesh_id: mesh-bench\nhelm_wait: false\n\
         cert_manager_repository: null\ncert_manager_chart: {c}/cert-manager\n\
         pca_issuer_repository: null\npca_issuer_chart: {c}/aws-privateca-issuer\n\
         istio_repository: null\nistio_base_chart: {c}/istio-base\nistiod_chart: {c}/istiod\n",
        c = charts.display()
    );
    for (k, v) in trust {
        vars.push_str(&format!("{k}: \"{v}\"\n"));
    }
    vars
}

struct Measured {
    wall: Duration,
    /// User and system CPU time, the helm processes each plan starts included.
    cpu: Duration,
    max_rss_mb: f64,
    /// The most descriptors the child held at once, sampled every 10 ms.
    max_open_files: usize,
    code: i32,
    /// CPU time moto spent meanwhile.
    moto_cpu: Duration,
    /// CPU time the emulators spent meanwhile.
    emulators_cpu: Duration,
    /// CPU time the latency proxies (threads of this process) spent meanwhile.
    proxies_cpu: Duration,
}

/// Runs `cmd`, returning its wall time and peak resident memory.
// The child is reaped by wait4, which std's wait cannot do while also reporting rusage.
#[allow(clippy::zombie_processes)]
fn measure(mut cmd: Command) -> Measured {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the bench child");
    // Open descriptors, sampled from /proc until the child is reaped (its cost, a
    // directory read every 10 ms, counts as this process's CPU).
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, fd_dir) = (done.clone(), format!("/proc/{}/fd", child.id()));
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                if let Ok(entries) = std::fs::read_dir(&fd_dir) {
                    most = most.max(entries.count());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            most
        })
    };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    done.store(true, Ordering::Relaxed);
    let max_open_files = sampler.join().unwrap_or(0);
    let seconds = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        wall: start.elapsed(),
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        max_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        max_open_files,
        code: libc::WEXITSTATUS(status),
        moto_cpu: Duration::ZERO,
        emulators_cpu: Duration::ZERO,
        proxies_cpu: Duration::ZERO,
    }
}

fn trustplane(moto: &Moto, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trustplane"))
        .args(args)
        .current_dir(dir)
        .envs(moto.env())
        .env("TRUSTPLANE_HELM", helm())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

pub fn benchmark(rows: &mut Vec<String>) {
    let n: usize = std::env::var("TRUSTPLANE_BENCH_FLEET_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();

    let trust_state = work.path().join("trust-state");
    let trust_file = repo().join("stacks/mesh-trust.yaml");
    let trust_file = trust_file.to_str().unwrap();
    let state_arg = trust_state.to_str().unwrap();
    let out = trustplane(
        &moto,
        work.path(),
        &["apply", trust_file, "--auto-approve", "--state", state_arg],
    );
    assert!(
        out.status.success(),
        "trust tier: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = trustplane(
        &moto,
        work.path(),
        &["output", "-f", trust_file, "--json", "--state", state_arg],
    );
    let outputs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trust: Vec<(String, String)> = ["subordinate_ca_arn", "issuer_policy_arn", "region"]
        .iter()
        .map(|k| {
            let v = &outputs[*k];
            let v = v["value"].as_str().or_else(|| v.as_str()).unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();

    // Members are set up a few at a time: the stand-ins share this machine.
    let emulators: Vec<Emulator> = (0..n)
        .map(|_| Emulator::start_with_args(Some(&moto.url), &["--tls"]))
        .collect();
    let members: Vec<PathBuf> = (0..n).map(|i| work.path().join(format!("m{i}"))).collect();
    for (i, dir) in members.iter().enumerate() {
        let name = format!("m{i}");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(emulators[i].kubeconfig(), dir.join("kubeconfig")).unwrap();
        std::fs::write(
            dir.join("cluster.yaml"),
            member_stack(&dir.join("kubeconfig")),
        )
        .unwrap();
        std::fs::write(dir.join("vars.yaml"), member_vars(&name, &trust)).unwrap();
        moto.boto3(&format!(
            "eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n\
             eks.create_cluster(name='{name}', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{}})"
        ));
    }
    for chunk in members.chunks(4) {
        std::thread::scope(|scope| {
            for dir in chunk {
                let moto = &moto;
                scope.spawn(move || {
                    let out = trustplane(
                        moto,
                        dir,
                        &[
                            "apply",
                            "cluster.yaml",
                            "--var-file",
                            "vars.yaml",
                            "--state",
                            "state",
                            "--auto-approve",
                        ],
                    );
                    assert!(
                        out.status.success(),
                        "{}: {}",
                        dir.display(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                });
            }
        });
    }

    let rtts: Vec<u64> = std::env::var("TRUSTPLANE_BENCH_FLEET_RTT_MS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0]);
    let emulator_pids: Vec<u32> = emulators.iter().map(Emulator::pid).collect();
    for rtt in rtts {
        // Every request of the measured plans crosses a proxy holding it back `rtt`.
        let delay = Duration::from_millis(rtt);
        let moto_proxy = (rtt > 0).then(|| LatencyProxy::start(&moto.url, delay));
        let kube_proxies: Vec<Option<LatencyProxy>> = emulators
            .iter()
            .map(|e| (rtt > 0).then(|| LatencyProxy::start(&e.url(), delay)))
            .collect();
        for ((dir, emulator), proxy) in members.iter().zip(&emulators).zip(&kube_proxies) {
            let text = std::fs::read_to_string(emulator.kubeconfig()).unwrap();
            let text = match proxy {
                Some(p) => text.replace(&emulator.url(), &p.url()),
                None => text,
            };
            std::fs::write(dir.join("kubeconfig"), text).unwrap();
        }
        let aws_endpoint = moto_proxy
            .as_ref()
            .map_or_else(|| moto.url.clone(), LatencyProxy::url);

        // Best of 3, each a fresh child process.
        let plan_of = |dirs: &[PathBuf]| {
            let listed = dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join("\n");
            (0..3)
                .map(|_| {
                    let mut cmd = Command::new(std::env::current_exe().unwrap());
                    cmd.envs(moto.env())
                        .env("AWS_ENDPOINT_URL", &aws_endpoint)
                        .env("TRUSTPLANE_HELM", helm())
                        .env(CHILD, &listed);
                    let me = [std::process::id()];
                    let before = (cpu_of(&[moto.pid()]), cpu_of(&emulator_pids), cpu_of(&me));
                    let mut m = measure(cmd);
                    m.moto_cpu = cpu_of(&[moto.pid()]).saturating_sub(before.0);
                    m.emulators_cpu = cpu_of(&emulator_pids).saturating_sub(before.1);
                    m.proxies_cpu = cpu_of(&me).saturating_sub(before.2);
                    assert_eq!(m.code, 0, "a member's plan failed or was not a no-op");
                    m
                })
                .min_by(|a, b| a.wall.cmp(&b.wall))
                .unwrap()
        };
        let one = plan_of(&members[..1]);
        let all = plan_of(&members);
        let network = if rtt == 0 {
            "loopback".to_string()
        } else {
            format!("{rtt} ms round trip")
        };
        rows.push(format!(
            "| no-op plan, 1 member of the cluster tier ({network}) | {:.2} s | {:.2} s CPU (moto {:.2} s, emulators {:.2} s), {:.0} MB peak, {} open files at most | — |",
            one.wall.as_secs_f64(),
            one.cpu.as_secs_f64(),
            one.moto_cpu.as_secs_f64(),
            one.emulators_cpu.as_secs_f64(),
            one.max_rss_mb,
            one.max_open_files
        ));
        rows.push(format!(
            "| no-op plan, {n} members at once in one process ({network}) | {:.2} s ({:.2}× one member) | {:.2} s CPU (moto {:.2} s, emulators {:.2} s, latency proxies {:.2} s), {:.0} MB peak, {} open files at most | ≤ 3× one member |",
            all.wall.as_secs_f64(),
            all.wall.as_secs_f64() / one.wall.as_secs_f64(),
            all.cpu.as_secs_f64(),
            all.moto_cpu.as_secs_f64(),
            all.emulators_cpu.as_secs_f64(),
            all.proxies_cpu.as_secs_f64(),
            all.max_rss_mb,
            all.max_open_files
        ));
    }
}

/// User plus system CPU time the processes `pids` spent so far (/proc/PID/stat).
fn cpu_of(pids: &[u32]) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let total: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command (in parentheses, possibly with spaces): utime and
            // stime are the 12th and 13th.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_millis(total * 1000 / ticks)
}

/// Child mode: plans the members named in CHILD at once; exit 0 when every plan is a
/// no-op, 2 when one has changes, 1 on an error.
pub fn child() -> Option<i32> {
    let dirs = std::env::var(CHILD).ok()?;
    let dirs: Vec<PathBuf> = dirs.lines().map(PathBuf::from).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // As the CLI: one runtime for the process, so AWS clients share connections.
    trustplane::provider::aws::shared::share_for_process();
    let results = runtime.block_on(async {
        let mut plans = tokio::task::JoinSet::new();
        for dir in dirs {
            plans.spawn(plan_member(dir));
        }
        let mut codes = Vec::new();
        while let Some(r) = plans.join_next().await {
            codes.push(r.unwrap_or(1));
        }
        codes
    });
    Some(results.into_iter().max().unwrap_or(0))
}

async fn plan_member(dir: PathBuf) -> i32 {
    let params = PrepareParams {
        file: dir.join("cluster.yaml"),
        vars: VarInputs {
            files: vec![dir.join("vars.yaml")],
            ..VarInputs::default()
        },
        state: StateSpec {
            dir: Some(dir.join("state")),
            ..StateSpec::default()
        },
        command: "plan".into(),
        pki: PkiChecks::Warn,
        parallelism: 10,
        offline: false,
    };
    let registry = Arc::new(Registry::builtin());
    let hooks = Hooks::silent();
    let prepared = match prepare(&params, &registry, &hooks).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            return 1;
        }
    };
    match plan(&prepared, &registry, &PlanOptions::default(), &hooks).await {
        Ok(planned) if !pending(&planned, &prepared.state).changes => 0,
        Ok(planned) => {
            let changed: Vec<String> = planned
                .changes
                .iter()
                .filter(|c| c.has_effect())
                .map(|c| format!("{} ({:?} {:?})", c.address, c.action, c.changed))
                .collect();
            eprintln!("{}: the plan has changes: {changed:?}", dir.display());
            2
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            1
        }
    }
}
