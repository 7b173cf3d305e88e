//! Engine benchmarks (`make bench` or `cargo bench --bench engine`):
//! - plan of a 10,000-resource stack of chains and fan-outs, with empty state and again
//!   with everything applied (a no-op plan, refresh included): wall time and peak RSS of
//!   the real binary;
//! - plan of 5 Helm releases, each rendered with `helm template` (tools/helm/helm), at
//!   parallelism 1 and 5: the renders run concurrently;
//! - apply of 2,000 `core.sleep` resources of 20 ms in a DAG of known critical path, at
//!   parallelism 10 and 50, against the lower bound max(critical path, work / parallelism);
//! - state write throughput: resources committed durably per second;
//! - `fleet`: a no-op plan of N members of the cluster tier, one versus all at once
//!   (benches/fleet; not in the default run, it starts a stand-in per member).
//!
//! Figures go to stdout as a Markdown table; docs/performance.md records a run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trustplane::apply::{apply, ApplyParams, Silent};
use trustplane::config::load::load_str;
use trustplane::graph::walk::Cancel;
use trustplane::graph::DependencyGraph;
use trustplane::plan::refresh::Refreshed;
use trustplane::plan::{planner, PlanParams};
use trustplane::provider::Registry;
use trustplane::state::sled_store::SledState;
use trustplane::state::{ResourceState, StateRead, StateWrite};
use trustplane::value::Value;

mod fleet;

/// 10,000 `core.null`: chains of 10, each chain hanging off one of 100 hubs (fan-out).
fn big_stack(n: usize) -> String {
    let mut s = String::from("stack: big\nresources:\n");
    let hubs = 100;
    for h in 0..hubs {
        s.push_str(&format!("  hub{h}:\n    type: core.null\n    properties:\n      triggers:\n        n: \"{h}\"\n"));
    }
    let mut i = 0;
    while hubs + i < n {
        let parent = if i % 10 == 0 {
            format!("hub{}", (i / 10) % hubs)
        } else {
            format!("r{}", i - 1)
        };
        s.push_str(&format!(
            "  r{i}:\n    type: core.null\n    properties:\n      triggers:\n        parent: ${{{parent}.id}}\n"
        ));
        i += 1;
    }
    s
}

/// 2,000 sleeps: one root, then chains of 10 off it. Critical path: 11 sleeps.
fn sleep_stack(n: usize, ms: u64) -> (String, usize) {
    let mut s = format!("stack: sleeps\nresources:\n  root:\n    type: core.sleep\n    properties:\n      create_duration: {ms}ms\n");
    for i in 0..n - 1 {
        let dep = if i % 10 == 0 {
            "root".to_string()
        } else {
            format!("s{}", i - 1)
        };
        s.push_str(&format!(
            "  s{i}:\n    type: core.sleep\n    depends_on: [{dep}]\n    properties:\n      create_duration: {ms}ms\n"
        ));
    }
    (s, 11)
}

struct Measured {
    wall: Duration,
    max_rss_mb: f64,
    code: i32,
}

/// Runs the binary, returning its wall time and peak resident memory (wait4's rusage).
// The child is reaped by wait4, which std's wait cannot do while also reporting rusage.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str], cwd: &Path) -> Measured {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_trustplane"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn trustplane");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    Measured {
        wall,
        max_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        code: libc::WEXITSTATUS(status),
    }
}

fn best_of(runs: usize, f: impl Fn() -> Measured) -> Measured {
    (0..runs)
        .map(|_| f())
        .min_by(|a, b| a.wall.cmp(&b.wall))
        .expect("at least one run")
}

fn plan_benchmarks(rows: &mut Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.yaml"), big_stack(10_000)).unwrap();
    let state = dir.path().join("state-big");
    let state = state.to_str().unwrap();

    let empty = best_of(3, || {
        run_measured(&["plan", "big.yaml", "--state", state], dir.path())
    });
    assert_eq!(empty.code, 0, "plan failed");
    rows.push(format!(
        "| plan, 10,000 resources, empty state | {:.0} ms | {:.0} MB | < 1 s, < 300 MB |",
        empty.wall.as_secs_f64() * 1000.0,
        empty.max_rss_mb
    ));

    let applied = run_measured(
        &[
            "apply",
            "big.yaml",
            "--state",
            state,
            "--auto-approve",
            "--parallelism",
            "50",
        ],
        dir.path(),
    );
    assert_eq!(applied.code, 0, "apply failed");
    rows.push(format!(
        "| apply, 10,000 resources (setup for the next row) | {:.1} s | {:.0} MB | — |",
        applied.wall.as_secs_f64(),
        applied.max_rss_mb
    ));

    let noop = best_of(3, || {
        run_measured(
            &["plan", "big.yaml", "--state", state, "--detailed-exitcode"],
            dir.path(),
        )
    });
    assert_eq!(noop.code, 0, "the replan must be a no-op (exit 0)");
    rows.push(format!(
        "| no-op plan, 10,000 resources applied (refresh included) | {:.0} ms | {:.0} MB | < 1 s, < 300 MB |",
        noop.wall.as_secs_f64() * 1000.0,
        noop.max_rss_mb
    ));
}

/// 5 releases of the test chart: planning each runs `helm template` (no cluster needed
/// for a create).
fn helm_plan_benchmark(rows: &mut Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = format!(
        "stack: releases\nproviders:\n  helm:\n    binary: {}\nresources:\n",
        root.join("tools/helm/helm").display()
    );
    for i in 0..5 {
        stack.push_str(&format!(
            "  web{i}:\n    type: helm.release\n    properties:\n      name: web{i}\n      namespace: apps\n      chart: {}\n",
            root.join("tests/charts/webapp-1.0.0").display()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("releases.yaml"), stack).unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let mut walls = Vec::new();
    for parallelism in ["1", "5"] {
        let m = best_of(3, || {
            run_measured(
                &[
                    "plan",
                    "releases.yaml",
                    "--state",
                    state,
                    "--parallelism",
                    parallelism,
                ],
                dir.path(),
            )
        });
        assert_eq!(
            m.code, 0,
            "plan of the releases failed (is .venv set up for tools/helm?)"
        );
        walls.push(m.wall.as_secs_f64());
    }
    rows.push(format!(
        "| plan, 5 Helm releases (helm template each), parallelism 1 → 5 | {:.2} s → {:.2} s | {:.2}× faster | renders run concurrently |",
        walls[0],
        walls[1],
        walls[0] / walls[1]
    ));
}

fn apply_benchmarks(rows: &mut Vec<String>) {
    let n = 2000;
    let ms = 20;
    let (text, critical_nodes) = sleep_stack(n, ms);
    let registry = Arc::new(Registry::builtin());
    let (stack, diags) = load_str(Path::new("sleeps.yaml"), &text, &registry);
    let stack = stack.unwrap_or_else(|| panic!("{diags}"));
    let (graph, _) = DependencyGraph::from_stack(&stack);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for parallelism in [10usize, 50] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledState::open(dir.path(), "sleeps", "default").unwrap());
        let meta = store.meta().unwrap();
        let vars = BTreeMap::new();
        let plan = runtime
            .block_on(planner::plan(
                &stack,
                &graph,
                &vars,
                &registry,
                &meta,
                &Refreshed::default(),
                &PlanParams::default(),
            ))
            .unwrap();
        let start = Instant::now();
        let report = runtime.block_on(apply(
            &plan,
            &stack,
            registry.clone(),
            store.clone(),
            ApplyParams {
                parallelism,
                cancel: Cancel::default(),
                progress: Arc::new(Silent),
                command: "bench".into(),
            },
        ));
        let wall = start.elapsed();
        assert!(report.succeeded(), "{}", report.diagnostics);
        let critical = Duration::from_millis(ms * critical_nodes as u64);
        let work = Duration::from_millis(ms * n as u64 / parallelism as u64);
        let bound = critical.max(work);
        rows.push(format!(
            "| apply, 2,000 × 20 ms sleeps, parallelism {parallelism} | {:.2} s | bound {:.2} s → {:.3}× | ≤ 1.10× |",
            wall.as_secs_f64(),
            bound.as_secs_f64(),
            wall.as_secs_f64() / bound.as_secs_f64()
        ));
    }
}

fn resource(i: usize) -> ResourceState {
    let mut props = Value::map();
    props.set_path("triggers.n", Value::from(i.to_string()));
    ResourceState {
        address: format!("r{i}"),
        type_name: "core.null".into(),
        mode: trustplane::config::Mode::Managed,
        provider: "core".into(),
        id: format!("{i:032x}"),
        properties: props,
        attributes: Value::map(),
        dependencies: vec![],
        sensitive_paths: vec![],
        retain_on_destroy: false,
        updated_at: chrono::Utc::now(),
    }
}

/// Durable writes per second, from 1, 10 and 50 threads (as apply's parallelism).
fn state_benchmark(rows: &mut Vec<String>) {
    let n = 2000;
    for writers in [1usize, 10, 50] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledState::open(dir.path(), "bench", "default").unwrap());
        let start = Instant::now();
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in (w..n).step_by(writers) {
                        store.put_resource(&resource(i)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let per_sec = n as f64 / start.elapsed().as_secs_f64();
        rows.push(format!(
            "| state writes, each durable on return, {writers} writer(s) | {per_sec:.0} resources/s | — | — |"
        ));
    }
}

fn main() {
    // A child process of the fleet group, measured from outside.
    if let Some(code) = fleet::child() {
        std::process::exit(code);
    }
    // `cargo test --benches` runs this with --bench absent: skip the heavy work there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut rows = vec![
        "| benchmark | result | detail | target |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    // `cargo bench --bench engine -- plan` runs only the groups named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |group: &str| only.is_empty() || only.iter().any(|o| o == group);
    if wanted("plan") {
        plan_benchmarks(&mut rows);
    }
    if wanted("plan") || wanted("helm") {
        helm_plan_benchmark(&mut rows);
    }
    if wanted("apply") {
        apply_benchmarks(&mut rows);
    }
    if wanted("state") {
        state_benchmark(&mut rows);
    }
    // Only when named: it needs the stand-ins (moto, the emulator) and takes minutes.
    if only.iter().any(|o| o == "fleet") {
        fleet::benchmark(&mut rows);
    }
    println!("{}", rows.join("\n"));
}
