//! Command-line arguments. Parsing only validates flags; nothing here touches the disk.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "trustplane",
    version,
    about = "Declarative provisioning of AWS Private CA as the root of trust of an Istio mesh",
    propagate_version = true
)]
pub struct Cli {
    /// Plain output with no colours (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check stack files (a file, or every .yaml/.yml of a directory) or fleet files without touching anything.
    Validate {
        /// Stack files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print diagnostics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Apply a stack (after confirmation) or a saved plan.
    Apply(ApplyArgs),
    /// Destroy everything a stack's state holds, dependents first.
    Destroy(DestroyArgs),
    /// Report resources changed or deleted outside trustplane since the last apply.
    Drift(DriftArgs),
    /// Print the dependency graph as Graphviz DOT.
    Graph { file: PathBuf },
    /// Print the stack's outputs from state.
    Output(OutputArgs),
    /// Adopt an existing object into state.
    Import(ImportArgs),
    /// Inspect and edit state.
    #[command(subcommand)]
    State(StateCommand),
    /// Check the Istio CA chain in the cluster up to the AWS Private CA root (exit 1 if broken).
    Verify(VerifyArgs),
    /// Plan, roll out, check and inspect a fleet: one trust tier, one cluster tier per member.
    #[command(subcommand)]
    Fleet(super::fleet::FleetCommand),
}

/// Where the stack and its state are, and the variables.
#[derive(Debug, Args, Clone)]
pub struct StackArgs {
    /// The stack file.
    pub file: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a variable: --var name=value (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a YAML file (repeatable; later files win).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    /// State directory, or s3://BUCKET/PREFIX (default: the stack's `state:`, else
    /// state/<stack>/<workspace>).
    #[arg(long = "state", value_name = "DIR|s3://BUCKET/PREFIX", value_parser = parse_state)]
    pub state_dir: Option<PathBuf>,
    /// Workspace: one state per stack and workspace [default: default].
    #[arg(
        long = "workspace",
        env = "TRUSTPLANE_WORKSPACE",
        value_name = "WORKSPACE"
    )]
    pub workspace_given: Option<String>,
    /// How long to wait for the state lock, e.g. 30s (0: fail at once).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct PlanOptions {
    /// Plan only these resources and their dependencies (repeatable).
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Force replacement of this resource (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Operations run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: u32,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub options: PlanOptions,
    /// Save the plan for `trustplane apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan the destruction of everything in state.
    #[arg(long)]
    pub destroy: bool,
    /// Plan without reaching any provider: state is taken as stored (no refresh) and
    /// data sources are read during apply. Such a plan cannot be saved.
    #[arg(long, conflicts_with = "out")]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A stack file, or a plan saved with `plan --out` (which takes none of the
    /// variable, --target, --replace or --refresh-only flags: it was made with its own).
    pub file: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub options: PlanOptions,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Only accept live values into state: create, change and delete nothing.
    #[arg(long)]
    pub refresh_only: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub options: PlanOptions,
    #[arg(long)]
    pub auto_approve: bool,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: u32,
}

/// How a plan or drift report is printed (see docs/ci.md).
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Output format: text, json, markdown (pull-request comments, job summaries) or
    /// junit (drift only) [default: text].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<crate::report::Format>,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Markdown: keep the report within N bytes, leaving out resource sections past it
    /// (the summary stays); 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = 60_000)]
    pub max_bytes: usize,
    /// Also append the report as Markdown to the GitHub Actions job summary
    /// ($GITHUB_STEP_SUMMARY), within its 1 MiB limit.
    #[arg(long)]
    pub step_summary: bool,
}

impl ReportArgs {
    pub fn format(&self) -> crate::report::Format {
        match (self.json, self.format) {
            (true, _) => crate::report::Format::Json,
            (false, format) => format.unwrap_or(crate::report::Format::Text),
        }
    }
}

/// Finds a state without needing every variable: a stack file or a state directory.
#[derive(Debug, Args, Clone)]
pub struct StateLocation {
    /// The stack file whose state to use.
    #[arg(short = 'f', long = "file", value_name = "STACK")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// One output; all when omitted.
    pub name: Option<String>,
    #[command(flatten)]
    pub location: StateLocation,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Resource address in the stack.
    pub address: String,
    /// The provider's id of the existing object.
    pub id: String,
    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List resources in state.
    List(StateLocation),
    /// Show one resource.
    Show {
        address: String,
        #[command(flatten)]
        location: StateLocation,
    },
    /// Forget a resource (the object itself is left alone).
    Rm {
        address: String,
        #[command(flatten)]
        location: StateLocation,
    },
    /// Rename a resource in state.
    Mv {
        from: String,
        to: String,
        #[command(flatten)]
        location: StateLocation,
    },
    /// Show the last snapshots and what changed between them.
    History(StateLocation),
    /// Remove a lock left by a run that cannot release it.
    ForceUnlock {
        id: String,
        #[command(flatten)]
        location: StateLocation,
    },
    /// Check that every record decodes and that serials and history agree (exit 1 if not).
    Check(StateLocation),
    /// Write the whole state (resources, outputs, history) to FILE as JSON, mode 0600.
    Export {
        #[arg(value_name = "FILE")]
        path: PathBuf,
        #[command(flatten)]
        location: StateLocation,
    },
    /// Load a state written by `state export` into a new, empty state.
    Import {
        #[arg(value_name = "FILE")]
        path: PathBuf,
        #[command(flatten)]
        location: StateLocation,
    },
    /// Copy the state and its history to S3 or a directory, under the locks of both.
    Migrate {
        /// Where to: s3://BUCKET/PREFIX or a state directory (new, or empty).
        #[arg(long, value_name = "s3://BUCKET/PREFIX|DIR", value_parser = parse_state)]
        to: PathBuf,
        #[command(flatten)]
        location: StateLocation,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The certmanager.certificate resource to verify (default: the one with is_ca: true).
    #[arg(long, value_name = "ADDR")]
    pub certificate: Option<String>,
    /// Also check a workload's chain (PEM, as `istioctl proxy-config secret` prints it).
    #[arg(long, value_name = "FILE")]
    pub workload_chain: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Use the PCA CA certificates recorded in state instead of fetching them from AWS.
    #[arg(long)]
    pub no_refresh: bool,
}

/// A state directory, or an `s3://` URL checked here so a typo fails before any I/O.
fn parse_state(s: &str) -> Result<PathBuf, String> {
    match crate::state::s3::S3Location::parse_url(s) {
        Some(Err(e)) => Err(e),
        _ => Ok(PathBuf::from(s)),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
