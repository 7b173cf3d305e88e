//! `trustplane fleet plan|apply|drift|verify|status FLEET`: load the fleet file, run the
//! fleet operation of [`crate::fleet`], render per-member reports and a fleet table, and
//! map the result to an exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::args::ReportArgs;
use super::execute::confirm;
use super::plan::{render_params, step_summary_target};
use super::progress::{Lines, Live};
use super::{out, params, warn, CmdResult, Failure, EXIT_CHANGES, EXIT_ERROR, EXIT_OK};
use crate::apply::Progress;
use crate::diag::{render, Diagnostic};
use crate::fleet::drift::FleetDrift;
use crate::fleet::member::{self, TRUST};
use crate::fleet::plan::{FleetPlan, Planned};
use crate::fleet::rollout::{Outcome, RolloutParams, Slot, Work};
use crate::fleet::{self, FleetParams, Loaded};
use crate::graph::walk::Cancel;
use crate::ops::OpsError;
use crate::plan::json::plan_json;
use crate::plan::render::{render_drift, render_plan, Style};
use crate::plan::{PlannedChange, Summary};
use crate::provider::Registry;
use crate::report::{self, step_summary, Format, RenderParams};

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Plan the trust tier and every member: per-member plans, then the fleet table.
    Plan(FleetPlanArgs),
    /// Roll out: the trust tier, then wave by wave with gates (or a saved fleet plan DIR).
    Apply(FleetApplyArgs),
    /// Drift of the trust tier and every member (exit 2 when any drifted).
    Drift(FleetDriftArgs),
    /// Each member's chain, and that all chain to one root with distinct Istio CAs.
    Verify(FleetReadArgs),
    /// Per member: wave, last apply, last verify, lock holder.
    Status(FleetStatusArgs),
}

/// The fleet file and where its states are.
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// The fleet file.
    pub file: PathBuf,
    /// Only this member (repeatable).
    #[arg(long = "member", value_name = "NAME")]
    pub members: Vec<String>,
    /// Root of the fleet's states: <ROOT>/<stack>/<member>, and <ROOT>/fleets/<fleet>;
    /// a directory, or s3://BUCKET/PREFIX for one prefix per state.
    #[arg(
        long = "state",
        value_name = "DIR|s3://BUCKET/PREFIX",
        default_value = "state",
        value_parser = parse_state_root
    )]
    pub state_root: PathBuf,
    /// How long to wait for each state lock, e.g. 30s (0: fail at once).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Operations run at once within each member.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: u32,
}

#[derive(Debug, Args)]
pub struct FleetPlanArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Save one plan per member and a manifest in DIR, for `fleet apply DIR`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct FleetApplyArgs {
    /// A fleet file, or a directory saved by `fleet plan --out`.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Roll out without asking.
    #[arg(long)]
    pub auto_approve: bool,
}

#[derive(Debug, Args)]
pub struct FleetReadArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FleetDriftArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct FleetStatusArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// A directory, or an `s3://` URL checked here so a typo fails before any I/O.
fn parse_state_root(s: &str) -> Result<PathBuf, String> {
    crate::ops::locked::Backend::parse(s).map(|_| PathBuf::from(s))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

impl FleetArgs {
    fn params(&self) -> FleetParams {
        FleetParams {
            state_root: self.state_root.clone(),
            lock_timeout: self.lock_timeout,
            parallelism: self.parallelism as usize,
            members: self.members.clone(),
        }
    }
}

pub async fn run(cmd: FleetCommand, registry: Arc<Registry>, style: Style) -> CmdResult {
    match cmd {
        FleetCommand::Plan(a) => plan(a, &registry, style).await,
        FleetCommand::Apply(a) => apply(a, &registry, style).await,
        FleetCommand::Drift(a) => drift(a, &registry, style).await,
        FleetCommand::Verify(a) => verify(a, &registry, style).await,
        FleetCommand::Status(a) => status(a, &registry),
    }
}

fn load(args: &FleetArgs, registry: &Registry, style: Style) -> Result<Loaded, Failure> {
    let loaded = fleet::load(&args.file, registry)?;
    warn(&loaded.warnings, style);
    let members = args.params().selected(&loaded.fleet).len();
    if let Some(note) = crate::open_files::shortfall(members) {
        eprintln!("{} {note}", style.bold("note:"));
    }
    Ok(loaded)
}

fn heading(text: &str, style: Style) -> String {
    format!("\n{}\n", style.bold(&format!("── {text} ──")))
}

fn failure_text(e: &OpsError, style: Style) -> String {
    match e {
        OpsError::Diagnostics(d) => render(d, style.color),
        other => format!("{} {other}\n", style.red("error:")),
    }
}

/// The plan of every tier and member, then the fleet table and the cost line.
fn render_fleet_plan(loaded: &Loaded, plan: &FleetPlan, style: Style) -> String {
    let mut text = heading(
        &format!(
            "trust tier {} (workspace {})",
            loaded.fleet.trust.stack.display(),
            loaded.fleet.name
        ),
        style,
    );
    text.push_str(&render_plan(&plan.trust.plan, style));
    for m in &plan.members {
        text.push_str(&heading(
            &format!("member {} (wave {})", m.name, m.wave),
            style,
        ));
        match &m.outcome {
            Ok(p) => {
                if p.unit.unknown_inputs {
                    text.push_str(
                        "The trust tier's outputs are known after its apply: values from them show as (known after apply).\n",
                    );
                }
                text.push_str(&render_plan(&p.plan, style));
            }
            Err(e) => text.push_str(&failure_text(e, style)),
        }
    }
    text.push_str(&heading(&format!("fleet {}", plan.fleet), style));
    let mut rows = vec![row(TRUST, "-", Some(&plan.trust))];
    for m in &plan.members {
        rows.push(row(&m.name, &m.wave.to_string(), m.outcome.as_ref().ok()));
    }
    let totals = plan.totals();
    let drift: usize = std::iter::once(&plan.trust)
        .chain(plan.members.iter().filter_map(|m| m.outcome.as_ref().ok()))
        .map(|p| p.drift)
        .sum();
    rows.push(vec![
        "total".into(),
        String::new(),
        totals.add.to_string(),
        totals.change.to_string(),
        totals.replace.to_string(),
        totals.destroy.to_string(),
        drift.to_string(),
    ]);
    text.push_str(&table(
        &[
            "MEMBER", "WAVE", "ADD", "CHANGE", "REPLACE", "DESTROY", "DRIFT",
        ],
        &rows,
    ));
    let failed = plan.failed().count();
    if failed > 0 {
        text.push_str(&style.red(&format!("{failed} member plan(s) failed; see above.\n")));
    }
    if let Some(cost) = plan.cost.line() {
        text.push_str(&format!("\n{cost}\n"));
    }
    text
}

fn row(name: &str, wave: &str, p: Option<&Planned>) -> Vec<String> {
    match p {
        Some(p) => {
            let s: Summary = p.plan.summary();
            vec![
                name.into(),
                wave.into(),
                s.add.to_string(),
                s.change.to_string(),
                s.replace.to_string(),
                s.destroy.to_string(),
                p.drift.to_string(),
            ]
        }
        None => vec![name.into(), wave.into(), "plan failed".into()],
    }
}

/// Left-aligned columns, two spaces apart.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            l.push_str(&format!("{c:<w$}  "));
        }
        l.trim_end().to_string() + "\n"
    };
    let mut text = line(head.to_vec());
    for r in rows {
        text.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    text
}

fn plan_doc(plan: &FleetPlan) -> serde_json::Value {
    let members: Vec<serde_json::Value> = plan
        .members
        .iter()
        .map(|m| match &m.outcome {
            Ok(p) => serde_json::json!({
                "name": m.name,
                "wave": m.wave,
                "summary": p.plan.summary(),
                "drift": p.drift,
                "inputs_known": !p.unit.unknown_inputs,
                "plan": plan_json(&p.plan),
            }),
            Err(e) => serde_json::json!({"name": m.name, "wave": m.wave, "error": e.to_string()}),
        })
        .collect();
    serde_json::json!({
        "fleet": plan.fleet,
        "trust": {"summary": plan.trust.plan.summary(), "drift": plan.trust.drift, "plan": plan_json(&plan.trust.plan)},
        "members": members,
        "totals": plan.totals(),
        "changes": plan.has_changes(),
        "cost": {
            "fleet_usd_per_month": plan.cost.after.usd_per_month,
            "change_usd_per_month": plan.cost.change.usd_per_month,
            "per_cluster_hierarchies_usd_per_month": plan.cost.after.usd_per_month * plan.cost.members as i64,
        },
    })
}

async fn plan(args: FleetPlanArgs, registry: &Registry, style: Style) -> CmdResult {
    let format = args.report.format();
    report::check_plan_format(format).map_err(|e| Failure::message(e.to_string()))?;
    let summary_file = step_summary_target(&args.report)?;
    let loaded = load(&args.fleet, registry, style)?;
    let params = args.fleet.params();
    let hooks = params::hooks();
    let plan = fleet::plan::plan(&loaded, &params, "fleet plan", &hooks).await?;
    let render_params = render_params(&args.report, "fleet plan", style);
    let units = report::fleet::plan_units(&plan);
    let cost = plan.cost.line();
    let markdown = |params: &RenderParams| {
        report::fleet::plan_markdown(&plan.fleet, &units, cost.as_deref(), params)
    };
    match format {
        Format::Text => out(&render_fleet_plan(&loaded, &plan, style)),
        Format::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&plan_doc(&plan)).expect("json")
        )),
        Format::Markdown => out(&markdown(&render_params)),
        Format::Junit => unreachable!("refused above"),
    }
    if let Some(file) = summary_file {
        step_summary::append(&file, |budget| {
            markdown(&RenderParams {
                max_bytes: Some(budget),
                ..render_params.clone()
            })
        })
        .map_err(|e| Failure::message(e.to_string()))?;
    }
    if plan.failed().next().is_some() {
        return Ok(EXIT_ERROR);
    }
    if let Some(dir) = &args.out {
        fleet::plan::save(dir, &loaded, &params, &plan)?;
        if format == Format::Text {
            out(&format!(
                "\nSaved the fleet plan to {}. Apply exactly these plans with:\n  trustplane fleet apply {}\n",
                dir.display(),
                dir.display()
            ));
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// Apply progress of one member: each line starts with its name.
struct Prefixed {
    name: String,
    inner: Arc<dyn Progress>,
}

impl Prefixed {
    fn named(&self, c: &PlannedChange) -> PlannedChange {
        let mut c = c.clone();
        c.address = format!("{}/{}", self.name, c.address);
        c
    }
}

impl Progress for Prefixed {
    fn started(&self, c: &PlannedChange) {
        self.inner.started(&self.named(c));
    }
    fn message(&self, address: &str, text: &str) {
        self.inner
            .message(&format!("{}/{address}", self.name), text);
    }
    fn finished(&self, c: &PlannedChange, took: Duration, error: Option<&Diagnostic>) {
        self.inner.finished(&self.named(c), took, error);
    }
}

async fn apply(args: FleetApplyArgs, registry: &Registry, style: Style) -> CmdResult {
    let hooks = params::hooks();
    let mut params = args.fleet.params();
    let (loaded, trust, slots) = if fleet::plan::is_saved(&args.fleet.file) {
        saved_work(&args.fleet, &mut params, registry, style)?
    } else {
        let loaded = load(&args.fleet, registry, style)?;
        let plan = fleet::plan::plan(&loaded, &params, "fleet apply", &hooks).await?;
        out(&render_fleet_plan(&loaded, &plan, style));
        if plan.has_changes() && !args.auto_approve && !confirm("fleet apply").await? {
            out("Fleet apply cancelled.\n");
            return Ok(EXIT_ERROR);
        }
        let waves = loaded.fleet.waves();
        let slots = plan
            .members
            .into_iter()
            .map(|m| Slot {
                max_parallel: waves
                    .iter()
                    .find(|w| w.number == m.wave)
                    .map_or(1, |w| w.max_parallel),
                name: m.name,
                wave: m.wave,
                work: match m.outcome {
                    Ok(p) => Work::Planned(Box::new(p)),
                    Err(e) => Work::Failed(e),
                },
            })
            .collect();
        (loaded, Work::Planned(Box::new(plan.trust)), slots)
    };
    let cancel = Cancel::default();
    let interrupts = super::signals::current();
    let watcher = interrupts.as_ref().map(|i| i.during_apply(cancel.clone()));
    let inner: Arc<dyn Progress> = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Arc::new(Live::new(style))
    } else {
        Arc::new(Lines { style })
    };
    let rp = RolloutParams {
        progress: Arc::new(move |name: &str| -> Arc<dyn Progress> {
            Arc::new(Prefixed {
                name: name.to_string(),
                inner: inner.clone(),
            })
        }),
        cancel,
        hooks,
        now: chrono::Utc::now().timestamp(),
    };
    let report = fleet::rollout::rollout(Arc::new(loaded), &params, trust, slots, rp).await?;
    drop(watcher);
    let mut rows = vec![vec![
        TRUST.to_string(),
        "-".into(),
        outcome_text(&report.trust),
    ]];
    for m in &report.members {
        rows.push(vec![
            m.name.clone(),
            m.wave.to_string(),
            outcome_text(&m.outcome),
        ]);
    }
    out(&heading(
        &format!("rollout of fleet {}", report.fleet),
        style,
    ));
    out(&table(&["MEMBER", "WAVE", "RESULT"], &rows));
    if let Some(code) = interrupts.filter(|i| i.received()).map(|i| i.exit_code()) {
        return Ok(code);
    }
    match report.stopped_at() {
        Some((member, step, cause)) => Err(Failure::message(format!(
            "fleet rollout stopped: member {member} failed at {step}: {cause}\n\
             No later member was started. Fix the cause and run `trustplane fleet apply` again: \
             members that finished are not redone (record: {}).",
            report.record.display()
        ))),
        None => {
            out(&format!(
                "\n{}\n",
                style.green("Fleet apply complete! Every member is rolled out.")
            ));
            Ok(EXIT_OK)
        }
    }
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Done {
            changed: true,
            serial,
        } => format!("applied (serial {serial})"),
        Outcome::Done {
            changed: false,
            serial,
        } => format!("unchanged (serial {serial})"),
        Outcome::AlreadyDone { serial } => match serial {
            Some(s) => format!("done in an earlier run (serial {s}), skipped"),
            None => "done in an earlier run, skipped".into(),
        },
        Outcome::Failed { step, .. } => format!("FAILED at {step}"),
        Outcome::NotStarted => "not started".into(),
    }
}

type SavedWork = (Loaded, Work, Vec<Slot>);

/// The work of a saved fleet plan: the fleet file as it was planned, each plan as saved.
fn saved_work(
    args: &FleetArgs,
    params: &mut FleetParams,
    registry: &Registry,
    style: Style,
) -> Result<SavedWork, Failure> {
    let dir = &args.file;
    let manifest = fleet::plan::read_manifest(dir)?;
    let loaded = fleet::load(&manifest.fleet_file, registry)?;
    warn(&loaded.warnings, style);
    if fleet::plan::digest(loaded.fleet.source.as_bytes()) != manifest.fleet_digest {
        return Err(Diagnostic::error(
            "fleet::stale_plan",
            format!(
                "the fleet file {} changed since the fleet plan {} was made",
                manifest.fleet_file.display(),
                dir.display()
            ),
        )
        .with_help("make a new plan with `trustplane fleet plan FLEET --out DIR` and review it")
        .into());
    }
    params.state_root = manifest.state_root.clone();
    out(&format!(
        "Applying the saved fleet plan {} (fleet {}, {} member(s)).\n",
        dir.display(),
        manifest.fleet,
        manifest.members.len()
    ));
    let trust = Work::Saved {
        unit: Box::new(member::trust(&loaded, params)),
        file: dir.join(&manifest.trust),
    };
    let waves = loaded.fleet.waves();
    let mut slots = Vec::new();
    for w in &waves {
        for name in &w.members {
            let Some(m) = manifest.members.get(name) else {
                continue;
            };
            if !params.members.is_empty() && !params.members.contains(name) {
                continue;
            }
            // The trust outputs are in the saved plan's variables already.
            let unit = member::member(&loaded, params, name, &Default::default());
            slots.push(Slot {
                name: name.clone(),
                wave: w.number,
                max_parallel: w.max_parallel,
                work: Work::Saved {
                    unit: Box::new(unit),
                    file: dir.join(&m.plan),
                },
            });
        }
    }
    Ok((loaded, trust, slots))
}

async fn drift(args: FleetDriftArgs, registry: &Registry, style: Style) -> CmdResult {
    let format = args.report.format();
    let summary_file = step_summary_target(&args.report)?;
    let loaded = load(&args.fleet, registry, style)?;
    let params = args.fleet.params();
    let report = fleet::drift::drift(&loaded, &params, &params::hooks()).await?;
    let render_params = render_params(&args.report, "fleet drift", style);
    let units = report::fleet::drift_units(&report);
    let markdown =
        |params: &RenderParams| report::fleet::drift_markdown(&report.fleet, &units, params);
    match format {
        Format::Text => out(&drift_text(&report, style)),
        Format::Json => out(&drift_json(&report)),
        Format::Markdown => out(&markdown(&render_params)),
        Format::Junit => out(&report::fleet::drift_junit(&units)),
    }
    if let Some(file) = summary_file {
        step_summary::append(&file, |budget| {
            markdown(&RenderParams {
                max_bytes: Some(budget),
                ..render_params.clone()
            })
        })
        .map_err(|e| Failure::message(e.to_string()))?;
    }
    Ok(if report.errors().next().is_some() {
        EXIT_ERROR
    } else if report.drifted().next().is_some() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

fn drift_json(report: &FleetDrift) -> String {
    let units: Vec<serde_json::Value> = report
        .units
        .iter()
        .map(|u| match &u.result {
            Ok(r) => serde_json::json!({
                "name": u.name, "wave": u.wave, "drifted": !r.drifts.is_empty(), "resources": r.drifts,
            }),
            Err(e) => serde_json::json!({"name": u.name, "wave": u.wave, "error": e.to_string()}),
        })
        .collect();
    format!(
        "{}\n",
        serde_json::to_string_pretty(&serde_json::json!({
            "fleet": report.fleet,
            "drifted": report.drifted().map(|u| u.name.clone()).collect::<Vec<_>>(),
            "errors": report.errors().count(),
            "members": units,
        }))
        .expect("json")
    )
}

/// Each unit's drift under its name, then the fleet table.
fn drift_text(report: &FleetDrift, style: Style) -> String {
    let mut text = String::new();
    let mut rows = Vec::new();
    for u in &report.units {
        text.push_str(&heading(&u.name, style));
        let wave = u.wave.map_or("-".to_string(), |w| w.to_string());
        match &u.result {
            Ok(r) => {
                text.push_str(&render_drift(&r.drifts, style));
                rows.push(vec![
                    u.name.clone(),
                    wave,
                    if r.drifts.is_empty() {
                        "none".into()
                    } else {
                        format!("{} resource(s)", r.drifts.len())
                    },
                ]);
            }
            Err(e) => {
                text.push_str(&failure_text(e, style));
                rows.push(vec![u.name.clone(), wave, "error".into()]);
            }
        }
    }
    text.push_str(&heading(&format!("fleet {}", report.fleet), style));
    text.push_str(&table(&["MEMBER", "WAVE", "DRIFT"], &rows));
    text
}

async fn verify(args: FleetReadArgs, registry: &Registry, style: Style) -> CmdResult {
    let loaded = load(&args.fleet, registry, style)?;
    let params = args.fleet.params();
    let now = chrono::Utc::now().timestamp();
    let report = fleet::verify::verify(&loaded, &params, now, &params::hooks()).await?;
    if args.json {
        let members: Vec<serde_json::Value> = report
            .members
            .iter()
            .map(|m| match &m.result {
                Ok(v) => serde_json::json!({
                    "name": m.member,
                    "valid": v.report.valid,
                    "report": serde_json::from_str::<serde_json::Value>(&crate::verify::report::json(&v.source, &v.report)).expect("json"),
                }),
                Err(e) => serde_json::json!({"name": m.member, "valid": false, "error": e}),
            })
            .collect();
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "fleet": report.fleet,
                "valid": report.valid(),
                "members": members,
                "checks": report.checks.checks,
                "roots": report.checks.roots,
            }))
            .expect("json")
        ));
    } else {
        for m in &report.members {
            out(&heading(&format!("member {}", m.member), style));
            match &m.result {
                Ok(v) => out(&crate::verify::report::human(&v.source, &v.report, style)),
                Err(e) => out(&format!("{} {e}\n", style.red("error:"))),
            }
        }
        out(&heading(&format!("fleet {}", report.fleet), style));
        out(&crate::verify::fleet::text(&report.checks, style));
        out(&if report.valid() {
            format!("\n{}\n", style.green("The fleet's chains are valid."))
        } else {
            format!("\n{}\n", style.red("The fleet's chains are NOT valid."))
        });
    }
    Ok(if report.valid() { EXIT_OK } else { EXIT_ERROR })
}

fn status(args: FleetStatusArgs, registry: &Registry) -> CmdResult {
    let loaded = fleet::load(&args.fleet.file, registry)?;
    let params = args.fleet.params();
    let rows: Vec<Vec<String>> = fleet::status::status(&loaded, &params)?
        .into_iter()
        .map(|s| {
            vec![
                s.name,
                s.wave.map_or("-".to_string(), |w| w.to_string()),
                match (s.applied_at, s.serial) {
                    (Some(t), Some(n)) => {
                        format!("{} (serial {n})", t.format("%Y-%m-%d %H:%M:%S UTC"))
                    }
                    (Some(t), None) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    (None, _) => "never".into(),
                },
                match (s.verified, &s.failed) {
                    (_, Some((step, cause))) => format!("failed at {step}: {cause}"),
                    (Some(true), None) => "passed".into(),
                    (Some(false), None) => "failed".into(),
                    (None, None) => "-".into(),
                },
                match s.lock {
                    Ok(Some(l)) => {
                        format!("{}@{} (pid {}, `{}`)", l.user, l.host, l.pid, l.command)
                    }
                    Ok(None) => "-".into(),
                    Err(e) => e,
                },
            ]
        })
        .collect();
    out(&table(
        &["MEMBER", "WAVE", "LAST APPLIED", "LAST VERIFY", "LOCK"],
        &rows,
    ));
    Ok(EXIT_OK)
}

/// `validate FLEET`: the fleet file, both stacks and the checks across them.
pub fn validate(
    path: &std::path::Path,
    registry: &Registry,
) -> (bool, serde_json::Value, String, crate::diag::Diagnostics) {
    let (fleet, mut diags) = fleet::file::load(path);
    let mut summary = String::new();
    if let Some(f) = &fleet {
        let (_, checks) = fleet::validate::validate(f, registry);
        diags.extend(checks);
        summary = format!(
            "{}: valid fleet {} (trust tier + {} member(s) in {} wave(s))\n",
            path.display(),
            f.name,
            f.members.len(),
            f.waves().len()
        );
    }
    let valid = !diags.has_errors();
    let doc = serde_json::json!({
        "file": path,
        "fleet": fleet.as_ref().map(|f| f.name.clone()),
        "valid": valid,
        "members": fleet.as_ref().map_or(0, |f| f.members.len()),
        "diagnostics": diags,
    });
    (valid, doc, summary, diags)
}
