//! One function per command: build the operation, run it, render the result.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use super::args::*;
use super::context::{
    self, configure_providers, load, open_location, open_state, state_types, Loaded, OpenState,
    PkiChecks,
};
use super::progress::{Lines, Live};
use super::{out, CmdResult, Failure, EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK};
use crate::apply::{self, ApplyParams, Progress};
use crate::config::{load::load_str, load_dir, load_file};
use crate::diag::{render, Diagnostic, Diagnostics};
use crate::graph::walk::{Cancel, Outcome};
use crate::graph::DependencyGraph;
use crate::input::InputKind;
use crate::plan::json::plan_json;
use crate::plan::refresh::{drift, refresh, RefreshParams, Refreshed};
use crate::plan::render::{render_drift, render_plan, Style};
use crate::plan::{planner, Action, Plan, PlanParams};
use crate::provider::{OpContext, Registry};
use crate::state::{lock, StateHistory, StateRead, StateWrite, HISTORY_KEEP};

pub async fn run(command: Command, style: Style) -> CmdResult {
    let registry = Arc::new(Registry::builtin());
    match command {
        Command::Validate { paths, json } => validate(&paths, json, &registry, style),
        Command::Plan(args) => plan(args, registry, style).await,
        Command::Apply(args) => apply(args, registry, style).await,
        Command::Destroy(args) => destroy(args, registry, style).await,
        Command::Drift(args) => drift_cmd(args, registry, style).await,
        Command::Graph { file } => graph(&file, &registry),
        Command::Output(args) => output(args, &registry),
        Command::Import(args) => import(args, registry).await,
        Command::State(cmd) => state(cmd, &registry),
        Command::Verify(args) => super::verify::run(args, &registry, style).await,
    }
}

fn warn(diags: &Diagnostics, style: Style) {
    if !diags.is_empty() {
        eprint!("{}", render(diags, style.color));
    }
}

fn validate(
    paths: &[std::path::PathBuf],
    json: bool,
    registry: &Registry,
    style: Style,
) -> CmdResult {
    let mut results = Vec::new();
    for path in paths {
        if path.is_dir() {
            results.extend(load_dir(path, registry));
        } else {
            let (stack, diags) = load_file(path, registry);
            results.push((path.clone(), stack, diags));
        }
    }
    let mut failed = false;
    let mut report = Vec::new();
    for (path, stack, mut diags) in results {
        let mut resources = 0;
        if let Some(stack) = &stack {
            diags.extend(DependencyGraph::from_stack(stack).1);
            if !diags.has_errors() {
                let defaults = crate::checks::default_variables(stack);
                diags.extend(crate::checks::run(stack, &defaults));
            }
            resources = stack.resources.len();
        }
        failed |= diags.has_errors();
        if json {
            report.push(serde_json::json!({
                "file": path,
                "valid": !diags.has_errors(),
                "resources": resources,
                "diagnostics": diags,
            }));
        } else if diags.has_errors() {
            eprint!("{}", render(&diags, style.color));
        } else {
            warn(&diags, style);
            out(&format!(
                "{}: valid ({resources} resources)\n",
                path.display()
            ));
        }
    }
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("json")
        ));
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

/// Everything a plan needs, loaded and refreshed.
struct Prepared {
    loaded: Loaded,
    state: OpenState,
    refreshed: Refreshed,
    /// Planned without reaching providers (`plan --offline`).
    offline: bool,
}

async fn prepare(
    stack: &StackArgs,
    parallelism: u32,
    registry: &Registry,
    command: &str,
    pki: PkiChecks,
    offline: bool,
) -> Result<Prepared, Failure> {
    let loaded = load(&stack.file, &stack.vars, registry, pki)?;
    let state = open_state(&stack.state, &loaded.stack.name, command)?;
    // Read (and decode) the stored resources once: they name the providers to configure
    // and are what refresh reads back.
    let stored = state
        .store
        .resources()
        .map_err(|e| Failure::message(e.to_string()))?;
    configure_providers(
        registry,
        &loaded.stack,
        &loaded.variables,
        stored.values().map(|r| r.type_name.clone()),
    )
    .await?;
    let meta = state
        .store
        .meta()
        .map_err(|e| Failure::message(e.to_string()))?;
    let refreshed = if offline {
        Refreshed {
            resources: stored,
            gone: Vec::new(),
            lineage: meta.lineage.clone(),
        }
    } else {
        refresh(
            &RefreshParams {
                registry,
                stack: &loaded.stack,
                lineage: &meta.lineage,
                parallelism: parallelism as usize,
                progress: Some(Arc::new(|m: &str| eprintln!("{m}"))),
            },
            &stored,
        )
        .await
        .map_err(Failure::Diagnostics)?
    };
    Ok(Prepared {
        loaded,
        state,
        refreshed,
        offline,
    })
}

async fn make_plan(
    p: &Prepared,
    registry: &Registry,
    options: &PlanOptions,
    destroy: bool,
    workspace: &str,
) -> Result<Plan, Failure> {
    let meta = p
        .state
        .store
        .meta()
        .map_err(|e| Failure::message(e.to_string()))?;
    planner::plan(
        &p.loaded.stack,
        &p.loaded.graph,
        &p.loaded.variables,
        registry,
        &meta,
        &p.refreshed,
        &PlanParams {
            destroy,
            targets: options.targets.clone(),
            replace: options.replace.clone(),
            workspace: workspace.to_string(),
            offline: p.offline,
            notify: Some(crate::retry::Notify(Arc::new(|m: &str| eprintln!("{m}")))),
            parallelism: options.parallelism as usize,
        },
    )
    .await
    .map_err(Failure::Diagnostics)
}

async fn plan(args: PlanArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let prepared = prepare(
        &args.stack,
        args.options.parallelism,
        &registry,
        "plan",
        if args.destroy {
            PkiChecks::Warn
        } else {
            PkiChecks::Enforce
        },
        args.offline,
    )
    .await?;
    warn(&prepared.loaded.warnings, style);
    let plan = make_plan(
        &prepared,
        &registry,
        &args.options,
        args.destroy,
        args.stack.state.workspace(),
    )
    .await?;
    warn(&plan.warnings, style);
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&plan_json(&plan)).expect("json")
        ));
    } else {
        out(&render_plan(&plan, style));
    }
    if let Some(path) = &args.out {
        crate::plan::saved::write(path, &plan).map_err(|e| {
            Failure::message(format!("cannot write the plan to {}: {e}", path.display()))
        })?;
        if !args.json {
            out(&format!(
                "\nSaved the plan to {}. Apply exactly this plan with:\n  trustplane apply {}\n",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

fn is_saved_plan(path: &Path) -> bool {
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    !yaml
        && crate::input::read_limited(path, InputKind::Plan)
            .is_ok_and(|b| crate::plan::saved::looks_like_plan(&b))
}

async fn apply(args: ApplyArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    if is_saved_plan(&args.file) {
        return apply_saved(args, registry, style).await;
    }
    let stack_args = StackArgs {
        file: args.file.clone(),
        vars: args.vars.clone(),
        state: args.state.clone(),
    };
    let prepared = prepare(
        &stack_args,
        args.options.parallelism,
        &registry,
        "apply",
        if args.refresh_only {
            PkiChecks::Warn
        } else {
            PkiChecks::Enforce
        },
        false,
    )
    .await?;
    warn(&prepared.loaded.warnings, style);
    if args.refresh_only {
        return refresh_only(prepared, args.auto_approve, style).await;
    }
    let plan = make_plan(
        &prepared,
        &registry,
        &args.options,
        false,
        args.state.workspace(),
    )
    .await?;
    warn(&plan.warnings, style);
    out(&render_plan(&plan, style));
    let outputs_changed = outputs_differ(&plan, &prepared.state);
    if !plan.has_changes() && !outputs_changed {
        return Ok(EXIT_OK);
    }
    if plan.has_changes() && !args.auto_approve && !confirm("apply").await? {
        out("Apply cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    execute(
        &plan,
        &prepared.loaded.stack,
        registry,
        &prepared.state,
        args.options.parallelism,
        "apply",
        style,
    )
    .await
}

fn outputs_differ(plan: &Plan, state: &OpenState) -> bool {
    let stored = state.store.outputs().unwrap_or_default();
    plan.outputs.len() != stored.len()
        || plan.outputs.iter().any(|(k, o)| {
            stored
                .get(k)
                .is_none_or(|s| s.value != o.value && !o.sensitive)
        })
}

async fn apply_saved(args: ApplyArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let bytes = crate::input::read_limited(&args.file, InputKind::Plan)
        .map_err(|e| Failure::message(e.to_string()))?;
    let plan = crate::plan::saved::from_bytes(&bytes).map_err(|why| {
        Failure::Diagnostics(
            Diagnostic::error(
                "apply::bad_plan_file",
                format!("the saved plan {} {why}", args.file.display()),
            )
            .with_help("make a new plan with `trustplane plan --out FILE` and review it")
            .into(),
        )
    })?;
    let (stack, diags) = load_str(&plan.file, &plan.source, &registry);
    let stack = stack.ok_or(Failure::Diagnostics(diags))?;
    let mut state_args = args.state.clone();
    match &state_args.workspace_given {
        Some(given) if *given != plan.workspace => {
            return Err(Failure::Diagnostics(
                Diagnostic::error(
                    "apply::workspace_mismatch",
                    format!(
                        "the saved plan {} was made for workspace {}, but workspace {given} was given",
                        args.file.display(),
                        plan.workspace
                    ),
                )
                .with_help(format!(
                    "apply it without --workspace (and without TRUSTPLANE_WORKSPACE) to apply it to {}, \
                     or make a plan for {given} with `trustplane plan --workspace {given} --out FILE`",
                    plan.workspace
                ))
                .into(),
            ))
        }
        _ => state_args.workspace_given = Some(plan.workspace.clone()),
    }
    let state = open_state(&state_args, &plan.stack, "apply")?;
    let meta = state
        .store
        .meta()
        .map_err(|e| Failure::message(e.to_string()))?;
    if meta.lineage != plan.lineage || meta.serial != plan.serial {
        let why = if meta.lineage != plan.lineage {
            "it was made for a different state (lineage differs)".to_string()
        } else {
            format!(
                "state changed since the plan was made (serial {} then, {} now)",
                plan.serial, meta.serial
            )
        };
        return Err(Failure::Diagnostics(
            Diagnostic::error(
                "apply::stale_plan",
                format!("the saved plan {} is stale: {why}", args.file.display()),
            )
            .with_help("make a new plan with `trustplane plan --out` and review it")
            .into(),
        ));
    }
    configure_providers(
        &registry,
        &stack,
        &plan.variables,
        state_types(&state.store).into_iter(),
    )
    .await?;
    out(&render_plan(&plan, style));
    let command = if plan.destroy { "destroy" } else { "apply" };
    execute(
        &plan,
        &stack,
        registry,
        &state,
        args.options.parallelism,
        command,
        style,
    )
    .await
}

async fn destroy(args: DestroyArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let prepared = prepare(
        &args.stack,
        args.options.parallelism,
        &registry,
        "destroy",
        PkiChecks::Warn,
        false,
    )
    .await?;
    warn(&prepared.loaded.warnings, style);
    let plan = make_plan(
        &prepared,
        &registry,
        &args.options,
        true,
        args.stack.state.workspace(),
    )
    .await?;
    out(&render_plan(&plan, style));
    if !plan.has_changes() {
        return Ok(EXIT_OK);
    }
    if !args.auto_approve && !confirm("destroy").await? {
        out("Destroy cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    execute(
        &plan,
        &prepared.loaded.stack,
        registry,
        &prepared.state,
        args.options.parallelism,
        "destroy",
        style,
    )
    .await
}

async fn confirm(verb: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Diagnostics(
            Diagnostic::error("cli::needs_approval", format!("{verb} needs confirmation, but there is no terminal to ask on"))
                .with_help(format!("review the plan, then run `trustplane {verb} --auto-approve`, or apply a saved plan"))
                .into(),
        ));
    }
    print!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    // Read on a blocking thread, so a signal can still stop the command while it waits.
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reading stdin does not panic")
    .map_err(|e| Failure::message(e.to_string()))?;
    Ok(line.trim() == "yes")
}

async fn execute(
    plan: &Plan,
    stack: &crate::config::Stack,
    registry: Arc<Registry>,
    state: &OpenState,
    parallelism: u32,
    command: &str,
    style: Style,
) -> CmdResult {
    let cancel = Cancel::default();
    let interrupts = super::signals::current();
    let watcher = interrupts.as_ref().map(|i| i.during_apply(cancel.clone()));
    let progress: Arc<dyn Progress> = if std::io::stderr().is_terminal() {
        Arc::new(Live::new(style))
    } else {
        Arc::new(Lines { style })
    };
    let report = apply::apply(
        plan,
        stack,
        registry,
        state.store.clone(),
        ApplyParams {
            parallelism: parallelism as usize,
            cancel: cancel.clone(),
            progress,
            command: command.to_string(),
        },
    )
    .await;
    drop(watcher);
    // A signalled run exits 128 + the signal, even when all its work got done.
    let interrupted = interrupts.filter(|i| i.received()).map(|i| i.exit_code());

    let done = |a: Action| {
        report
            .outcomes
            .iter()
            .filter(|(_, act, o)| *act == a && matches!(o, Outcome::Done))
            .count()
    };
    let replaced = done(Action::DeleteThenCreate) + done(Action::CreateThenDelete);
    let counts = format!(
        "{} added, {} changed, {} replaced, {} destroyed",
        done(Action::Create),
        done(Action::Update),
        replaced,
        done(Action::Delete)
    );
    if !report.diagnostics.is_empty() {
        eprint!("{}", render(&report.diagnostics, style.color));
    }
    if report.succeeded() {
        out(&format!(
            "\n{}\n",
            style.green(&format!(
                "{} complete! Resources: {counts}.",
                title(command)
            ))
        ));
        print_outputs(state, style);
        return Ok(interrupted.unwrap_or(EXIT_OK));
    }
    let failed: Vec<&str> = names(&report, |o| matches!(o, Outcome::Failed(_)));
    let skipped: Vec<&str> = names(&report, |o| matches!(o, Outcome::Skipped { .. }));
    let not_started: Vec<&str> = names(&report, |o| matches!(o, Outcome::NotStarted));
    let aborted: Vec<&str> = names(&report, |o| matches!(o, Outcome::Aborted));
    let mut summary = format!(
        "\n{} Resources: {counts}.\n",
        style.red(&format!("{} incomplete.", title(command)))
    );
    if !failed.is_empty() {
        summary.push_str(&format!("  failed:  {}\n", failed.join(", ")));
    }
    if !skipped.is_empty() {
        summary.push_str(&format!(
            "  skipped (a dependency failed): {}\n",
            skipped.join(", ")
        ));
    }
    if !not_started.is_empty() {
        summary.push_str(&format!(
            "  not started (interrupted): {}\n",
            not_started.join(", ")
        ));
    }
    if !aborted.is_empty() {
        summary.push_str(&format!(
            "  cancelled in flight (the next plan shows whether they took effect): {}\n",
            aborted.join(", ")
        ));
    }
    summary.push_str(
        "Everything that was done is saved in state; run the command again to continue.\n",
    );
    eprint!("{summary}");
    Ok(match interrupted {
        Some(code) => code,
        None if cancel.is_cancelled() => EXIT_INTERRUPTED,
        None => EXIT_ERROR,
    })
}

fn names(report: &apply::ApplyReport, pred: impl Fn(&Outcome<Diagnostic>) -> bool) -> Vec<&str> {
    report
        .outcomes
        .iter()
        .filter(|(_, a, o)| *a != Action::NoOp && pred(o))
        .map(|(n, _, _)| n.as_str())
        .collect()
}

fn title(command: &str) -> String {
    let mut c = command.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn print_outputs(state: &OpenState, style: Style) {
    let Ok(outputs) = state.store.outputs() else {
        return;
    };
    if outputs.is_empty() {
        return;
    }
    let mut text = format!("\n{}\n", style.bold("Outputs:"));
    for (k, o) in outputs {
        let v = if o.sensitive {
            "(sensitive)".to_string()
        } else {
            o.value.render()
        };
        text.push_str(&format!("  {k} = {v}\n"));
    }
    out(&text);
}

async fn refresh_only(p: Prepared, auto_approve: bool, style: Style) -> CmdResult {
    let stored = p
        .state
        .store
        .resources()
        .map_err(|e| Failure::message(e.to_string()))?;
    let drifts = drift(&stored, &p.refreshed, Some(&p.loaded.stack));
    out(&render_drift(&drifts, style));
    if drifts.is_empty() {
        return Ok(EXIT_OK);
    }
    out("\nApplying will accept these live values into state; nothing else changes.\n");
    if !auto_approve && !confirm("apply --refresh-only").await? {
        out("Apply cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    let err = |e: crate::state::StateError| Failure::message(e.to_string());
    for d in &drifts {
        match p.refreshed.resources.get(&d.address) {
            Some(live) => p.state.store.put_resource(live).map_err(err)?,
            None => p.state.store.remove_resource(&d.address).map_err(err)?,
        };
    }
    p.state
        .store
        .record("apply --refresh-only", HISTORY_KEEP)
        .map_err(err)?;
    out(&format!(
        "\nState updated: {} resource(s) accepted as they are live.\n",
        drifts.len()
    ));
    Ok(EXIT_OK)
}

async fn drift_cmd(args: DriftArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let p = prepare(
        &args.stack,
        args.parallelism,
        &registry,
        "drift",
        PkiChecks::Warn,
        false,
    )
    .await?;
    warn(&p.loaded.warnings, style);
    let stored = p
        .state
        .store
        .resources()
        .map_err(|e| Failure::message(e.to_string()))?;
    let drifts = drift(&stored, &p.refreshed, Some(&p.loaded.stack));
    if args.json {
        let doc = serde_json::json!({
            "stack": p.loaded.stack.name,
            "workspace": args.stack.state.workspace(),
            "drifted": !drifts.is_empty(),
            "resources": drifts,
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("json")
        ));
    } else {
        out(&render_drift(&drifts, style));
        if let Some(total) = crate::cost::running_total(&p.refreshed.resources).line() {
            out(&format!(
                "Running cost of the CAs in state: {}\n",
                total.trim_start_matches('+')
            ));
        }
    }
    Ok(if drifts.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHANGES
    })
}

fn graph(file: &Path, registry: &Registry) -> CmdResult {
    let (stack, diags) = load_file(file, registry);
    let stack = stack.ok_or(Failure::Diagnostics(diags))?;
    let (g, cycles) = DependencyGraph::from_stack(&stack);
    if cycles.has_errors() {
        return Err(Failure::Diagnostics(cycles));
    }
    let label = |n: &str| format!("{n}\n{}", stack.resources[n].type_name);
    out(&g.to_dot(&label));
    Ok(EXIT_OK)
}

fn output(args: OutputArgs, registry: &Registry) -> CmdResult {
    let state = open_location(&args.location, registry, "output")?;
    let outputs = state
        .store
        .outputs()
        .map_err(|e| Failure::message(e.to_string()))?;
    let shown = |o: &crate::state::OutputState| {
        if o.sensitive {
            serde_json::json!("(sensitive)")
        } else {
            o.value.to_masked_json()
        }
    };
    if let Some(name) = &args.name {
        let o = outputs.get(name).ok_or_else(|| {
            let mut d = Diagnostic::error(
                "cli::unknown_output",
                format!("no output named {name:?} in state"),
            );
            if let Some(s) = crate::diag::did_you_mean(name, outputs.keys().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            Failure::Diagnostics(d.into())
        })?;
        let text = match (&o.value, args.json) {
            (crate::value::Value::String(s), false) if !o.sensitive => s.clone(),
            _ => serde_json::to_string_pretty(&shown(o)).expect("json"),
        };
        out(&format!("{text}\n"));
        return Ok(EXIT_OK);
    }
    if args.json {
        let doc: serde_json::Map<String, serde_json::Value> = outputs
            .iter()
            .map(|(k, o)| {
                (
                    k.clone(),
                    serde_json::json!({"value": shown(o), "sensitive": o.sensitive}),
                )
            })
            .collect();
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("json")
        ));
    } else {
        for (k, o) in &outputs {
            out(&format!(
                "{k} = {}\n",
                if o.sensitive {
                    "(sensitive)".into()
                } else {
                    o.value.render()
                }
            ));
        }
    }
    Ok(EXIT_OK)
}

async fn import(args: ImportArgs, registry: Arc<Registry>) -> CmdResult {
    let loaded = load(
        &args.stack.file,
        &args.stack.vars,
        &registry,
        PkiChecks::Warn,
    )?;
    let decl = loaded.stack.resources.get(&args.address).ok_or_else(|| {
        let mut d = Diagnostic::error(
            "cli::unknown_address",
            format!(
                "{} is not declared in {}",
                args.address,
                args.stack.file.display()
            ),
        )
        .with_detail("import adopts an existing object into a resource the stack declares");
        if let Some(s) = crate::diag::did_you_mean(
            &args.address,
            loaded.stack.resources.keys().map(String::as_str),
        ) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        Failure::Diagnostics(d.into())
    })?;
    let state = open_state(&args.stack.state, &loaded.stack.name, "import")?;
    if state
        .store
        .resource(&args.address)
        .map_err(|e| Failure::message(e.to_string()))?
        .is_some()
    {
        return Err(Failure::message(format!(
            "{} is already in state; `trustplane state rm {}` first to import another object",
            args.address, args.address
        )));
    }
    configure_providers(
        &registry,
        &loaded.stack,
        &loaded.variables,
        std::iter::empty(),
    )
    .await?;
    let provider = registry
        .provider_for(&decl.type_name)
        .expect("validated type");
    let meta = state
        .store
        .meta()
        .map_err(|e| Failure::message(e.to_string()))?;
    let ctx = OpContext::new(&args.address, &loaded.stack.name, &meta.lineage);
    let notify = |m: &str| eprintln!("{}: {m}", args.address);
    let snap = crate::retry::Retry::of(provider.as_ref(), crate::retry::Call::Read, &notify)
        .run(|| provider.import(&ctx, &decl.type_name, &args.id))
        .await
        .map_err(|e| {
            Failure::Diagnostics(
                crate::plan::refresh::provider_diag("import::failed", "import", &args.address, e)
                    .into(),
            )
        })?
        .ok_or_else(|| {
            Failure::message(format!(
                "no {} with id {:?} exists",
                decl.type_name, args.id
            ))
        })?;
    let schema = registry.schema(&decl.type_name).expect("validated type");
    // Secrets the provider reads back (a Secret's data) are kept only as digests.
    let properties = crate::provider::mark_secrets(provider.as_ref(), schema, snap.properties);
    let attributes = crate::provider::mark_secret_attributes(
        provider.as_ref(),
        &decl.type_name,
        &properties,
        snap.attributes,
    );
    let record = crate::state::redacted(
        &crate::state::ResourceState {
            address: args.address.clone(),
            type_name: decl.type_name.clone(),
            mode: decl.mode,
            provider: provider.name().to_string(),
            id: snap.id,
            properties,
            attributes,
            dependencies: loaded.graph.dependencies(&args.address),
            sensitive_paths: Vec::new(),
            updated_at: chrono::Utc::now(),
        },
        &meta.lineage,
    );
    let err = |e: crate::state::StateError| Failure::message(e.to_string());
    state.store.put_resource(&record).map_err(err)?;
    state
        .store
        .record(
            &format!("import {} {}", args.address, args.id),
            HISTORY_KEEP,
        )
        .map_err(err)?;
    out(&format!(
        "Imported {} ({}) as {}. Run `trustplane plan` to see how it differs from the stack.\n",
        args.id, decl.type_name, args.address
    ));
    Ok(EXIT_OK)
}

fn state(cmd: StateCommand, registry: &Registry) -> CmdResult {
    let err = |e: crate::state::StateError| Failure::message(e.to_string());
    match cmd {
        StateCommand::List(loc) => {
            let s = open_location(&loc, registry, "state list")?;
            let resources = s.store.resources().map_err(err)?;
            for (addr, r) in &resources {
                out(&format!("{addr}\t{}\t{}\n", r.type_name, r.id));
            }
            // On stderr, so scripts reading the list are not disturbed.
            if let Some(total) = crate::cost::running_total(&resources).line() {
                eprintln!(
                    "Running cost of the CAs in state: {}",
                    total.trim_start_matches('+')
                );
            }
        }
        StateCommand::Show { address, location } => {
            let s = open_location(&location, registry, "state show")?;
            let r = s
                .store
                .resource(&address)
                .map_err(err)?
                .ok_or_else(|| not_in_state(&address, &s))?;
            let mut json = serde_json::to_value(&r).expect("json");
            json["properties"] = r.properties.to_masked_json();
            json["attributes"] = r.attributes.to_masked_json();
            out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json).expect("json")
            ));
        }
        StateCommand::Rm { address, location } => {
            let s = open_location(&location, registry, "state rm")?;
            if s.store.resource(&address).map_err(err)?.is_none() {
                return Err(not_in_state(&address, &s));
            }
            s.store.remove_resource(&address).map_err(err)?;
            s.store
                .record(&format!("state rm {address}"), HISTORY_KEEP)
                .map_err(err)?;
            out(&format!(
                "Removed {address} from state. The object itself was left alone.\n"
            ));
        }
        StateCommand::Mv { from, to, location } => {
            let s = open_location(&location, registry, "state mv")?;
            s.store.move_resource(&from, &to).map_err(err)?;
            s.store
                .record(&format!("state mv {from} {to}"), HISTORY_KEEP)
                .map_err(err)?;
            out(&format!("Moved {from} to {to}.\n"));
        }
        StateCommand::History(loc) => {
            let s = open_location(&loc, registry, "state history")?;
            out(&history_text(&s.store.history().map_err(err)?));
        }
        StateCommand::Check(loc) => {
            let s = open_location(&loc, registry, "state check")?;
            let report = s.store.check();
            out(&report.render(&s.dir));
            return Ok(if report.is_clean() {
                EXIT_OK
            } else {
                EXIT_ERROR
            });
        }
        StateCommand::Export { path, location } => return state_export(&path, &location, registry),
        StateCommand::Import { path, location } => return state_import(&path, location, registry),
        StateCommand::ForceUnlock { id, location } => {
            let dir = context::location_dir(&location, registry)?;
            let info =
                lock::force_unlock(&dir, &id).map_err(|e| Failure::message(e.to_string()))?;
            out(&format!(
                "Removed lock {} held by {}@{} (pid {}, `{}`).\n",
                info.id, info.user, info.host, info.pid, info.command
            ));
        }
    }
    Ok(EXIT_OK)
}

/// `state export FILE`: everything that decodes, written 0600; what does not decode is
/// named, and the exit status is 1, but the rest is still written.
fn state_export(file: &Path, loc: &StateLocation, registry: &Registry) -> CmdResult {
    let s = open_location(loc, registry, "state export")?;
    let (export, skipped) = s
        .store
        .export()
        .map_err(|e| Failure::message(e.to_string()))?;
    let mut bytes = serde_json::to_vec_pretty(&export).expect("exports serialize");
    bytes.push(b'\n');
    crate::owner_only::write_file(file, &bytes)
        .map_err(|e| Failure::message(format!("cannot write {}: {e}", file.display())))?;
    out(&format!(
        "Exported {} resources, {} outputs and {} history entries (serial {}) to {}.\n",
        export.resources.len(),
        export.outputs.len(),
        export.history.len(),
        export.meta.serial,
        file.display()
    ));
    if skipped.is_empty() {
        return Ok(EXIT_OK);
    }
    eprintln!("These records could not be decoded and are not in the export:");
    for s in &skipped {
        eprintln!("  - {s}");
    }
    Ok(EXIT_ERROR)
}

/// `state import FILE`: into a new state (or an empty one) at the location given, which
/// takes the export's stack, workspace, lineage, serial and history.
fn state_import(file: &Path, mut loc: StateLocation, registry: &Registry) -> CmdResult {
    let bytes = crate::input::read_limited(file, InputKind::StateImport)
        .map_err(|e| Failure::message(e.to_string()))?;
    let export = crate::state::check::StateExport::from_bytes(&bytes)
        .map_err(|e| Failure::message(format!("{}: {e}", file.display())))?;
    let meta = &export.meta;
    let mismatch = |what: &str, given: &str, theirs: &str| {
        Failure::Diagnostics(
            Diagnostic::error(
                "state::import_mismatch",
                format!(
                    "{} holds the state of {what} {theirs}, but {what} {given} was given",
                    file.display()
                ),
            )
            .with_help("import it with --state DIR, or name the matching stack file and workspace")
            .into(),
        )
    };
    if let Some(given) = &loc.state.workspace_given {
        if *given != meta.workspace {
            return Err(mismatch("workspace", given, &meta.workspace));
        }
    }
    loc.state.workspace_given = Some(meta.workspace.clone());
    if let Some(stack_file) = &loc.file {
        let (stack, diags) = load_file(stack_file, registry);
        let name = stack.ok_or(Failure::Diagnostics(diags))?.name;
        if name != meta.stack {
            return Err(mismatch("stack", &name, &meta.stack));
        }
    }
    let dir = context::location_dir(&loc, registry)?;
    let s = context::open_new(&dir, &meta.stack, &meta.workspace, loc.state.lock_timeout)?;
    s.store
        .import(&export)
        .map_err(|e| Failure::message(e.to_string()))?;
    let report = s.store.check();
    out(&format!(
        "Imported {} resources, {} outputs and {} history entries (serial {}) into {}.\n",
        export.resources.len(),
        export.outputs.len(),
        export.history.len(),
        meta.serial,
        dir.display()
    ));
    if !report.is_clean() {
        eprint!("{}", report.render(&dir));
        return Ok(EXIT_ERROR);
    }
    Ok(EXIT_OK)
}

fn not_in_state(address: &str, s: &OpenState) -> Failure {
    let names: Vec<String> = s
        .store
        .resources()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let mut d = Diagnostic::error(
        "state::not_found",
        format!("no resource {address} in state at {}", s.dir.display()),
    );
    if let Some(n) = crate::diag::did_you_mean(address, names.iter().map(String::as_str)) {
        d = d.with_help(format!("did you mean `{n}`?"));
    }
    Failure::Diagnostics(d.into())
}

fn history_text(entries: &[crate::state::HistoryEntry]) -> String {
    if entries.is_empty() {
        return "No history yet.\n".into();
    }
    let mut text = String::new();
    for (i, e) in entries.iter().enumerate() {
        let older = entries.get(i + 1).map(|o| &o.snapshot.resources);
        let empty = BTreeMap::new();
        let before = older.unwrap_or(&empty);
        let after = &e.snapshot.resources;
        let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
        let changed: Vec<&String> = after
            .iter()
            .filter(|(k, r)| {
                before.get(*k).is_some_and(|b| {
                    b.properties != r.properties || b.attributes != r.attributes || b.id != r.id
                })
            })
            .map(|(k, _)| k)
            .collect();
        text.push_str(&format!(
            "serial {}  {}  {}  ({} resources)\n",
            e.serial,
            e.time.format("%Y-%m-%d %H:%M:%S UTC"),
            e.command,
            after.len()
        ));
        for (sign, list) in [("+", added), ("-", removed), ("~", changed)] {
            for a in list {
                text.push_str(&format!("    {sign} {a}\n"));
            }
        }
    }
    text
}
