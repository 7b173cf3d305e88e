//! The `helm` provider: `helm.release`, a Helm release managed through the `helm` CLI
//! people already have (cert-manager, aws-privateca-issuer and Istio are releases).
//!
//! - [`cli`]: finding and driving the binary (pure flag building and output parsing);
//! - [`values`]: merging `values_files`, `values`, `set`, `set_sensitive`;
//! - [`manifest_diff`]: the plan-time object diff of a release upgrade;
//! - [`process`]: the child process, in its own process group, cancelled deliberately;
//! - [`storage`]: releases read where Helm keeps them in the cluster, without a process.

pub mod cli;
pub mod manifest_diff;
mod process;
pub mod repository;
pub mod restart;
mod storage;
pub mod values;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::kubernetes::connection::{self, Connection, Resolved};
use super::settings::SettingsMap;
use super::{
    default_diff, unknown_attributes, Attribute, DiffResult, OpContext, Property, ProviderError,
    ProviderResult, ResourceSchema, ResourceType, Snapshot, Type, TypedProvider,
};
use crate::diag::Diagnostic;
use crate::input::InputKind;
use crate::value::{Map, Value};
use cli::{ChartInfo, HelmVersion, ReleaseInfo, ReleaseSpec, ValuesFile};
pub use manifest_diff::{render_object_changes, ObjectAction, ObjectChange, PathChange};

pub const RELEASE: &str = "helm.release";

/// Properties that only steer how helm runs, not what is deployed: changing them alone
/// does not upgrade the release.
/// How long helm waits for resources when a release sets no `timeout` (helm's own default).
const HELM_DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

const OPERATION_OPTIONS: &[&str] = &[
    "wait",
    "timeout",
    "atomic",
    "create_namespace",
    "username",
    "password",
    "credentials_file",
];

/// Marks `values` read back after the release's values were changed outside trustplane
/// (the live values are not copied: they may hold `set_sensitive` secrets).
pub const VALUES_CHANGED_OUTSIDE: &str = "(changed outside trustplane)";

#[derive(Debug, Default, Clone, PartialEq)]
struct Settings {
    binary: Option<String>,
    /// The cluster, as the kubernetes provider reaches it unless helm sets its own.
    connection: Connection,
    limits: super::Limits,
}

/// The helm binary, once found and version-checked.
#[derive(Debug, Clone)]
struct Helm {
    path: PathBuf,
    version: HelmVersion,
}

/// Versions of helm binaries already asked in this process, by path and modification
/// time: a fleet configures one helm provider per member, and each `helm version` is a
/// process start, not worth repeating for the same binary.
static VERSIONS: std::sync::Mutex<Vec<(PathBuf, std::time::SystemTime, HelmVersion)>> =
    std::sync::Mutex::new(Vec::new());

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The version of the binary at `path`, if it was checked before and is unchanged since.
fn known_version(path: &std::path::Path) -> Option<HelmVersion> {
    let at = modified(path)?;
    let known = VERSIONS.lock().unwrap_or_else(|e| e.into_inner());
    known
        .iter()
        .find(|(p, t, _)| p == path && *t == at)
        .map(|(_, _, v)| *v)
}

/// Records a version that passed the check.
fn remember_version(path: &std::path::Path, version: HelmVersion) {
    let Some(at) = modified(path) else { return };
    let mut known = VERSIONS.lock().unwrap_or_else(|e| e.into_inner());
    known.retain(|(p, _, _)| p != path);
    known.push((path.to_path_buf(), at, version));
}

#[derive(Default)]
pub struct HelmProvider {
    settings: Mutex<Settings>,
    helm: tokio::sync::Mutex<Option<Helm>>,
    /// The cluster through the API, for reading releases from Helm's storage, and its
    /// connection, resolved for the helm CLI.
    cluster: super::kubernetes::client::Cluster,
}

/// What one helm invocation printed.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn release_schema() -> ResourceSchema {
    let map_any = || Type::Map(Box::new(Type::Any));
    ResourceSchema {
        type_name: RELEASE,
        description: "A Helm release, installed and upgraded with the helm CLI.",
        properties: vec![
            Property::new("name", Type::String)
                .required()
                .force_new()
                .describe("Release name: a DNS-1123 label of at most 53 characters."),
            Property::new("namespace", Type::String)
                .default("default")
                .force_new()
                .describe("Namespace of the release."),
            Property::new("create_namespace", Type::Bool)
                .default(false)
                .describe("Create the namespace if it does not exist."),
            Property::new("chart", Type::String)
                .required()
                .force_new()
                .describe("Chart name in `repository`, an oci:// reference, or a local path."),
            Property::new("repository", Type::String)
                .describe("HTTP(S) chart repository URL (helm --repo)."),
            Property::new("username", Type::String)
                .describe("Username for a private `repository` (with `password`)."),
            Property::new("password", Type::String)
                .sensitive()
                .describe("Password for a private `repository`; never on helm's command line."),
            Property::new("credentials_file", Type::String).describe(
                "A YAML file holding `username` and `password` for a private `repository`.",
            ),
            Property::new("version", Type::String)
                .describe("Chart version; latest when absent. Ignored by helm for local paths."),
            Property::new("values", Type::Any).describe("Inline values (a map)."),
            Property::new("values_files", Type::List(Box::new(Type::String)))
                .describe("Values files, merged in order before `values`."),
            Property::new("set", map_any())
                .describe("Dotted keys to values, merged after `values` (like --set)."),
            Property::new("set_sensitive", map_any())
                .sensitive()
                .describe("Like `set`, for secrets: never printed, kept as a digest in state."),
            Property::new("wait", Type::Bool)
                .default(true)
                .describe("Wait until the release's resources are ready."),
            Property::new("timeout", Type::Duration)
                .default("5m")
                .describe("How long helm waits for each operation."),
            Property::new("atomic", Type::Bool)
                .default(false)
                .describe("Roll back a failed upgrade (helm --atomic)."),
            Property::new("skip_crds", Type::Bool)
                .default(false)
                .describe("Do not install the chart's crds/ directory."),
        ],
        attributes: vec![
            Attribute::new("revision", "Release revision, 1 on install."),
            Attribute::new("status", "Release status, `deployed` when healthy."),
            Attribute::new("chart_version", "Version of the deployed chart."),
            Attribute::new("app_version", "App version of the deployed chart."),
            Attribute::new("manifest_digest", "SHA-256 of the deployed manifest, hex."),
            Attribute::new(
                "values_digest",
                "HMAC-SHA256 (keyed by the state lineage) of the user-supplied values helm holds, hex.",
            ),
        ],
        data_source: false,
        managed: true,
    }
}

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric.
fn is_dns_label(s: &str, max: usize) -> bool {
    let bytes = s.as_bytes();
    !s.is_empty()
        && s.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Plan-time checks: everything that can be refused before helm runs.
pub fn validate_release(p: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(name) = p.get_str("name") {
        if !is_dns_label(name, 53) {
            out.push(
                Diagnostic::error(
                    "helm::invalid_name",
                    format!("release name {name:?} is not one helm accepts"),
                )
                .with_field("name")
                .with_detail(
                    "a release name is at most 53 characters of lowercase letters, digits \
                     and '-', starting and ending with a letter or digit",
                ),
            );
        }
    }
    if let Some(ns) = p.get_str("namespace") {
        if !is_dns_label(ns, 63) {
            out.push(
                Diagnostic::error(
                    "helm::invalid_namespace",
                    format!("namespace {ns:?} is not a valid Kubernetes namespace"),
                )
                .with_field("namespace")
                .with_detail(
                    "a namespace is at most 63 characters of lowercase letters, digits and \
                     '-', starting and ending with a letter or digit",
                ),
            );
        }
    }
    let chart = p.get_str("chart");
    if chart == Some("") {
        out.push(
            Diagnostic::error("helm::invalid_chart", "chart is empty")
                .with_field("chart")
                .with_help("name a chart in `repository`, an oci:// reference or a local path"),
        );
    }
    if let Some(repo) = p.get_str("repository") {
        if !(repo.starts_with("http://") || repo.starts_with("https://")) {
            let mut d = Diagnostic::error(
                "helm::invalid_repository",
                format!("repository {repo:?} is not an http(s) URL"),
            )
            .with_field("repository");
            if repo.starts_with("oci://") {
                d = d.with_help(
                    "for an OCI registry, put the full reference in `chart` \
                     (oci://registry/path/chart) and leave `repository` out",
                );
            }
            out.push(d);
        } else if chart.is_some_and(|c| c.starts_with("oci://")) {
            out.push(
                Diagnostic::error(
                    "helm::invalid_chart",
                    "an oci:// chart cannot be combined with `repository`",
                )
                .with_field("repository")
                .with_help("leave `repository` out: the oci:// reference says where the chart is"),
            );
        }
    }
    let has_credentials = ["username", "password", "credentials_file"]
        .iter()
        .any(|k| p.get(k).is_some_and(|v| !matches!(v, Value::Null)));
    if has_credentials && p.get("repository").is_none() {
        let oci = chart.is_some_and(|c| c.starts_with("oci://"));
        out.push(
            Diagnostic::error(
                "helm::credentials_without_repository",
                "repository credentials are set but the release has no `repository`",
            )
            .with_field(if p.get("credentials_file").is_some() {
                "credentials_file"
            } else {
                "username"
            })
            .with_help(if oci {
                "for an oci:// chart, log in once with `helm registry login REGISTRY` \
                 and leave the credentials out"
            } else {
                "set `repository` to the private chart repository's URL, or remove the \
                 credentials"
            }),
        );
    }
    if let Some(v) = p.get("values") {
        if !matches!(v, Value::Map(_) | Value::Null | Value::Unknown) {
            out.push(
                Diagnostic::error(
                    "helm::invalid_values",
                    format!("values must be a map, found a {}", v.type_name()),
                )
                .with_field("values")
                .with_help("write values as a YAML map, as in a chart's values.yaml"),
            );
        }
    }
    for field in ["set", "set_sensitive"] {
        if let Some(m) = p.get(field).and_then(Value::as_map) {
            for key in m.keys() {
                if let Err(e) = values::parse_set_key(key) {
                    out.push(
                        Diagnostic::error("helm::invalid_set_key", e)
                            .with_field(format!("{field}.{key}"))
                            .with_help(
                                "use dotted keys such as image.tag, args[0] or \
                                 podAnnotations.prometheus\\.io/scrape",
                            ),
                    );
                }
            }
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn attrs(info: &ReleaseInfo, manifest_digest: String, values_digest: String) -> Value {
    let mut m = Map::new();
    m.insert("revision".into(), Value::Int(info.revision));
    m.insert("status".into(), info.status.clone().into());
    m.insert("chart_version".into(), info.chart_version().into());
    m.insert("app_version".into(), info.app_version().into());
    m.insert("manifest_digest".into(), manifest_digest.into());
    m.insert("values_digest".into(), values_digest.into());
    Value::Map(m)
}

/// Reads and parses `values_files`; relative paths are relative to the working directory.
fn read_values_files(p: &Value) -> ProviderResult<Vec<Map>> {
    let mut out = Vec::new();
    for (i, f) in p
        .get("values_files")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("values_files[{i}]");
        let path = f
            .as_str()
            .ok_or_else(|| ProviderError::new("a values file must be a path").with_field(&field))?;
        let text = crate::input::read_text(std::path::Path::new(path), InputKind::ValuesFile)
            .map_err(|e| {
                ProviderError::new(e.to_string())
                    .with_help(e.help())
                    .with_field(&field)
            })?;
        let v = crate::config::yaml::parse_plain(&text).map_err(|e| {
            ProviderError::new(format!("values file {path} is not valid YAML: {e}"))
                .with_field(&field)
        })?;
        match v {
            Value::Map(m) => out.push(m),
            Value::Null => {}
            other => {
                return Err(ProviderError::new(format!(
                    "values file {path} holds a {}, not a map",
                    other.type_name()
                ))
                .with_field(&field))
            }
        }
    }
    Ok(out)
}

/// The merged values trustplane hands helm for these properties.
pub fn release_values(p: &Value) -> ProviderResult<Map> {
    let files = read_values_files(p)?;
    let inline = match p.get("values") {
        None | Some(Value::Null) => None,
        Some(Value::Map(m)) => Some(m),
        Some(other) => {
            return Err(ProviderError::new(format!(
                "values must be a map, found a {}",
                other.type_name()
            ))
            .with_field("values"))
        }
    };
    let set = p.get("set").and_then(Value::as_map);
    let sensitive = p.get("set_sensitive").and_then(Value::as_map);
    values::merge_values(&files, inline, set, sensitive)
        .map_err(|e| ProviderError::new(e).with_field("set"))
}

/// Replaces values not known at plan time so a chart can still be rendered.
fn fill_unknowns(v: &Value) -> Value {
    match v {
        Value::Unknown => Value::String("(known after apply)".into()),
        Value::List(l) => Value::List(l.iter().map(fill_unknowns).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_unknowns(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Why a release whose first install failed is replaced: helm cannot upgrade a release
/// that never deployed, so it is uninstalled and installed again.
pub const FAILED_INSTALL_REASON: &str = "release is in state failed after a failed install";

/// The chart trustplane recorded for this release, when what helm answered is still the
/// revision it recorded (same revision number, same manifest): helm never changes a
/// revision's chart in place, so the chart needs no second read. Any upgrade, rollback or
/// reinstall made outside trustplane moves the revision or the manifest, and then the chart
/// is read again.
fn recorded_chart(
    prior: &Snapshot,
    live: &ReleaseInfo,
    manifest_digest: &str,
) -> Option<ChartInfo> {
    let a = &prior.attributes;
    let same = a.get("revision") == Some(&Value::Int(live.revision))
        && a.get_str("manifest_digest") == Some(manifest_digest);
    Some(ChartInfo {
        name: String::new(),
        version: a.get_str("chart_version").filter(|_| same)?.to_string(),
        app_version: a.get_str("app_version").unwrap_or_default().to_string(),
    })
}

/// A release whose only revision failed: no deployed revision to upgrade or roll back to.
fn is_failed_install(status: &str, revision: i64) -> bool {
    status == "failed" && revision <= 1
}

/// The error for a release helm is in the middle of changing, or left failed after an
/// upgrade. Recovering a pending release is never guessed: the help names the command.
fn stuck_release_error(spec: &ReleaseSpec, status: &str, revision: i64) -> ProviderError {
    let (n, ns) = (&spec.name, &spec.namespace);
    let previous = revision - 1;
    let help = match status {
        "failed" => format!(
            "fix the cause (see `helm history {n} -n {ns}` and the release's pods), then \
             rerun apply to upgrade it, or `helm rollback {n} {previous} -n {ns}` to the last \
             good revision"
        ),
        "pending-install" => format!(
            "if no helm command is still running on it, remove the half-made install with \
             `helm uninstall {n} -n {ns}`, then rerun apply"
        ),
        "pending-upgrade" | "pending-rollback" if previous >= 1 => format!(
            "if no helm command is still running on it, `helm rollback {n} {previous} -n {ns}` \
             to the revision before it (see `helm history {n} -n {ns}`), then rerun apply"
        ),
        _ => format!(
            "if no helm command is still running on it, see `helm history {n} -n {ns}`: \
             `helm rollback {n} REVISION -n {ns}` to the last deployed revision, or \
             `helm uninstall {n} -n {ns}` if it never deployed, then rerun apply"
        ),
    };
    ProviderError::new(format!("helm release {ns}/{n} is {status}")).with_help(help)
}

impl HelmProvider {
    /// A provider sharing its cluster connections with the registry's other providers.
    pub fn sharing(clusters: Arc<super::kubernetes::client::SharedClusters>) -> HelmProvider {
        HelmProvider {
            cluster: super::kubernetes::client::Cluster::sharing(clusters),
            ..HelmProvider::default()
        }
    }

    fn settings(&self) -> Settings {
        self.settings.lock().unwrap().clone()
    }

    /// Finds the helm binary and checks its version, once.
    async fn helm(&self) -> ProviderResult<Helm> {
        let mut cached = self.helm.lock().await;
        if let Some(h) = cached.as_ref() {
            return Ok(h.clone());
        }
        let settings = self.settings();
        let env = std::env::var("TRUSTPLANE_HELM").ok();
        let path_var = std::env::var("PATH").ok();
        let (found, looked, _) = cli::resolve_binary(
            settings.binary.as_deref(),
            env.as_deref(),
            path_var.as_deref(),
        );
        let help = "install helm 3.8 or newer (https://helm.sh/docs/intro/install/), or \
                    point providers.helm.binary or TRUSTPLANE_HELM at it";
        let path = found.ok_or_else(|| {
            ProviderError::new(format!(
                "the helm binary was not found: looked for {looked}"
            ))
            .with_help(help)
        })?;
        if let Some(version) = known_version(&path) {
            let helm = Helm { path, version };
            *cached = Some(helm.clone());
            return Ok(helm);
        }
        let mut version_cmd = tokio::process::Command::new(&path);
        version_cmd.args(["version", "--short"]);
        let out = process::run(version_cmd).await.map_err(|e| {
            ProviderError::new(format!("cannot run {}: {e}", path.display())).with_help(help)
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(ProviderError::new(format!(
                "`{} version --short` failed: {}",
                path.display(),
                cli::summarize_stderr(&String::from_utf8_lossy(&out.stderr))
            ))
            .with_help(help));
        }
        let version = cli::parse_version(&stdout).ok_or_else(|| {
            ProviderError::new(format!(
                "cannot tell the version of {}: `helm version --short` printed {:?}",
                path.display(),
                stdout.trim()
            ))
            .with_help(help)
        })?;
        cli::check_version(version, &path)?;
        remember_version(&path, version);
        let helm = Helm { path, version };
        *cached = Some(helm.clone());
        Ok(helm)
    }

    /// Runs helm with the cluster flags added. An EKS connection reaches helm as a
    /// private kubeconfig file that exists only while helm runs: it holds the token.
    async fn run(&self, args: Vec<OsString>) -> ProviderResult<Output> {
        let helm = self.helm().await?;
        let resolved = self.cluster.resolved().await?;
        let mut cmd = tokio::process::Command::new(&helm.path);
        cmd.args(&args);
        let _kubeconfig_file = match resolved.as_ref() {
            Resolved::File {
                kubeconfig,
                context,
            } => {
                cmd.args(cli::kube_flags(kubeconfig.as_deref(), context.as_deref()));
                None
            }
            Resolved::Eks {
                cluster,
                endpoint,
                ca,
                tokens,
                ..
            } => {
                // A token of its own, signed now: an upgrade that waits for its resources
                // gets all of the token's 15 minutes.
                let token = tokens.new_token()?;
                let kubeconfig = connection::eks_kubeconfig(cluster, endpoint, ca, &token.token);
                let file = cli::PrivateFile::write("kubeconfig", kubeconfig.as_bytes())?;
                let path = file.path().to_string_lossy().into_owned();
                cmd.args(cli::kube_flags(Some(&path), Some(cluster)));
                Some(file)
            }
        };
        let out = process::run(cmd).await.map_err(|e| {
            ProviderError::new(format!("cannot run {}: {e}", helm.path.display())).retryable()
        })?;
        Ok(Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs helm; a failure is an error naming what was being done.
    async fn run_ok(&self, what: &str, args: Vec<OsString>) -> ProviderResult<String> {
        let out = self.run(args).await?;
        if !out.ok {
            return Err(helm_failed(what, &out.stderr));
        }
        Ok(out.stdout)
    }

    /// Runs a helm command that changes a release (upgrade, uninstall), bounded in time.
    /// helm's HTTP client has no request timeout of its own, so an API server that accepts
    /// and never answers would hold it forever: it gets its own wait (`--timeout`, helm's
    /// default otherwise) plus the provider's deadline, then is stopped (SIGTERM, on which
    /// helm marks the release failed; the next apply recovers it). Not retried: the change
    /// may have been half made, which the next plan shows.
    async fn run_change(
        &self,
        what: &str,
        spec: &ReleaseSpec,
        args: Vec<OsString>,
    ) -> ProviderResult<Output> {
        let limit = spec.timeout.unwrap_or(HELM_DEFAULT_WAIT) + self.limits().deadline();
        match tokio::time::timeout(limit, self.run(args)).await {
            Ok(out) => out,
            Err(_) => {
                let at = self
                    .endpoint()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default();
                Err(ProviderError::new(format!(
                    "helm did not {what} within {}: the Kubernetes API server{at} may not be answering; helm was stopped",
                    crate::duration::format(limit)
                ))
                .with_help("check that the cluster answers (`kubectl get --raw /readyz`), then apply again; a release left pending is recovered by the next apply"))
            }
        }
    }

    /// For a private `repository`: the repositories file with its credentials, after
    /// `helm repo update` fetched its index; `spec` then points helm at it. None for a
    /// public one. Keep the result alive while helm reads the chart.
    async fn chart_access(
        &self,
        desired: &Value,
        spec: &mut ReleaseSpec,
    ) -> ProviderResult<Option<repository::PrivateRepository>> {
        let (Some(creds), Some(url)) = (repository::credentials(desired)?, spec.repository.clone())
        else {
            return Ok(None);
        };
        let repo = repository::PrivateRepository::write(&url, &creds)?;
        let files = repo.files();
        self.run_ok(
            &format!("read the index of repository {url}"),
            files.update_args(),
        )
        .await
        .map_err(|e| e.with_field("repository"))?;
        spec.private_repository = Some(files);
        Ok(Some(repo))
    }

    /// `helm upgrade --install`, then what helm now holds.
    async fn install_or_upgrade(
        &self,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        let mut spec = ReleaseSpec::from_properties(desired);
        let merged = release_values(desired)?;
        let helm = self.helm().await?;
        let _repo = self.chart_access(desired, &mut spec).await?;
        let file = ValuesFile::write(&merged)?;
        ctx.progress(&format!("helm upgrade --install {}", spec.id()));
        let what = format!("install or upgrade {}", spec.id());
        let out = self
            .run_change(
                &what,
                &spec,
                cli::upgrade_args(&spec, file.path(), helm.version),
            )
            .await?;
        if !out.ok {
            return Err(helm_failed(&what, &out.stderr));
        }
        let stdout = out.stdout;
        drop(file);
        let info = cli::parse_release(&stdout)?;
        let manifest = match &info.manifest {
            Some(m) => m.clone(),
            None => {
                self.run_ok("read the manifest of", cli::get_manifest_args(&spec))
                    .await?
            }
        };
        Ok(Snapshot {
            id: spec.id(),
            properties: desired.clone(),
            attributes: attrs(
                &info,
                sha256_hex(manifest.as_bytes()),
                values::values_digest(&merged, &ctx.lineage),
            ),
        })
    }

    /// The last revision of a release, `None` when helm has none. Read from the cluster
    /// where Helm keeps releases (chart included, no process started), or with
    /// `helm status` when `HELM_DRIVER` keeps them elsewhere.
    async fn last_release(&self, spec: &ReleaseSpec) -> ProviderResult<Option<ReleaseInfo>> {
        if let Some(driver) = storage::Driver::from_env() {
            let client = self.cluster.client().await?;
            let json = storage::last_release(&client, driver, &spec.namespace, &spec.name).await?;
            return json.map(|j| cli::parse_release(&j)).transpose();
        }
        let out = self.run(cli::status_args(spec)).await?;
        if !out.ok {
            if cli::is_not_found(&out.stderr) {
                return Ok(None);
            }
            return Err(helm_failed(
                &format!("read release {}", spec.id()),
                &out.stderr,
            ));
        }
        cli::parse_release(&out.stdout).map(Some)
    }

    /// The deployed chart of a release, which `helm status` leaves out.
    async fn read_chart(&self, spec: &ReleaseSpec) -> ProviderResult<cli::ChartInfo> {
        let out = self
            .run_ok(
                &format!("read the chart of {}", spec.id()),
                cli::chart_args(spec),
            )
            .await?;
        cli::parse_chart(&out)
    }

    /// The plan-time manifest diff of a release, like the helm-diff plugin: renders the
    /// desired release with `helm template` and compares it, object by object, with
    /// `helm get manifest` of the deployed one. A `prior` with an empty id (a release to
    /// be created) compares against nothing. `desired` must hold the real `set_sensitive`
    /// values (not the digests state keeps); values unknown until apply render as
    /// "(known after apply)". Secret data and `set_sensitive` values are masked.
    pub async fn manifest_diff(
        &self,
        prior: &Snapshot,
        desired: &Value,
    ) -> Result<Vec<ObjectChange>, ProviderError> {
        let desired = fill_unknowns(desired);
        let mut spec = ReleaseSpec::from_properties(&desired);
        let merged = release_values(&desired)?;
        let repo = self.chart_access(&desired, &mut spec).await?;
        let file = ValuesFile::write(&merged)?;
        let rendered = self
            .run_ok(
                &format!("render {}", spec.id()),
                cli::template_args(&spec, file.path()),
            )
            .await?;
        drop(file);
        drop(repo);
        let deployed = if prior.id.is_empty() {
            String::new()
        } else {
            let prior_spec = ReleaseSpec::from_properties(&prior.properties);
            self.last_release(&prior_spec)
                .await?
                .and_then(|r| r.manifest)
                .unwrap_or_default()
        };
        let mut secrets = Vec::new();
        if let Some(s) = desired.get("set_sensitive") {
            values::string_leaves(s, &mut secrets);
        }
        manifest_diff::diff_manifests(&deployed, &rendered, &secrets)
            .map_err(|e| ProviderError::new(format!("cannot compare manifests: {e}")))
    }
}

fn helm_failed(what: &str, stderr: &str) -> ProviderError {
    let summary = cli::summarize_stderr(stderr);
    let mut e = ProviderError::new(format!("helm could not {what}: {summary}"));
    if cli::is_transient(stderr) {
        e = e.retryable();
    }
    let lower = summary.to_lowercase();
    if lower.contains("not found")
        || lower.contains("no chart")
        || lower.contains("failed to download")
    {
        e = e
            .with_field(if lower.contains("version") {
                "version"
            } else {
                "chart"
            })
            .with_help(
                "check `chart`, `repository` and `version` (for a repository: \
                 `helm search repo CHART --versions` after `helm repo add`)",
            );
    } else if lower.contains("another operation") {
        e = e.with_help("another helm operation is in progress on this release; wait for it, or roll it back, then rerun apply");
    }
    e
}

/// Every `helm` type.
static TYPES: &[&dyn ResourceType<HelmProvider>] = &[&Release];

/// The settings `providers.helm` takes.
pub fn declared_settings() -> Vec<Property> {
    let mut settings = vec![Property::new("binary", Type::String)
        .describe("Path of the helm binary; default: TRUSTPLANE_HELM, then helm on PATH.")];
    settings.extend(connection::declared("helm"));
    settings.extend(super::settings::limits());
    settings
}

#[async_trait]
impl TypedProvider for HelmProvider {
    fn name(&self) -> &'static str {
        "helm"
    }

    fn types(&self) -> &'static [&'static dyn ResourceType<Self>] {
        TYPES
    }

    fn settings(&self) -> Vec<Property> {
        declared_settings()
    }

    /// `settings` as the engine hands them over, the kubernetes connection inherited
    /// (see [`connection::with_inherited`]).
    async fn configure(&self, settings: &Value) -> ProviderResult<()> {
        let (own, aws) = connection::split_aws(settings);
        let s = SettingsMap::check("helm", &declared_settings(), &own)?;
        let new = Settings {
            binary: s.string("binary")?,
            connection: Connection::from_settings("helm", &s, aws.as_ref())?,
            limits: super::Limits::from_settings("helm", &own)?,
        };
        self.cluster
            .configure(super::kubernetes::client::Settings {
                connection: new.connection.clone(),
                limits: new.limits,
            })
            .await;
        let mut cur = self.settings.lock().unwrap();
        if cur.binary != new.binary {
            // A different binary must be found and checked again.
            if let Ok(mut h) = self.helm.try_lock() {
                *h = None;
            }
        }
        *cur = new;
        Ok(())
    }

    fn limits(&self) -> super::Limits {
        self.settings().limits
    }

    fn endpoint(&self) -> Option<String> {
        self.cluster.endpoint()
    }
}

/// `helm.release`: a Helm release.
pub struct Release;

#[async_trait]
impl ResourceType<HelmProvider> for Release {
    fn type_name(&self) -> &'static str {
        RELEASE
    }

    fn schema(&self) -> ResourceSchema {
        release_schema()
    }

    fn validate(&self, properties: &Value) -> Vec<Diagnostic> {
        validate_release(properties)
    }

    /// A release is its namespace and name; `None` while either is known only at apply.
    fn identity(&self, properties: &Value) -> Option<String> {
        if properties.get_str("name").is_none()
            || properties
                .get("namespace")
                .is_some_and(|n| !n.is_null() && n.as_str().is_none())
        {
            return None;
        }
        Some(format!(
            "helm release {}",
            ReleaseSpec::from_properties(properties).id()
        ))
    }

    /// A release is imported as NAMESPACE/NAME.
    fn adopt_id(&self, desired: &Value) -> Option<String> {
        self.identity(desired)?;
        Some(ReleaseSpec::from_properties(desired).id())
    }

    /// The rendered-manifest diff, like the helm-diff plugin: `helm template` of the
    /// desired release against `helm get manifest` of the deployed one.
    async fn plan_details(
        &self,
        p: &HelmProvider,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        let changes = p.manifest_diff(prior, desired).await?;
        Ok(manifest_diff::render_object_changes(&changes)
            .lines()
            .map(str::to_string)
            .collect())
    }

    fn diff(
        &self,
        _: &HelmProvider,
        schema: &ResourceSchema,
        prior: &Snapshot,
        desired: &Value,
    ) -> DiffResult {
        let mut d = default_diff(schema, prior, desired);
        let failed_install = prior.attributes.get_str("status").is_some_and(|s| {
            let revision = match prior.attributes.get("revision") {
                Some(Value::Int(r)) => *r,
                _ => 0,
            };
            is_failed_install(s, revision)
        });
        if failed_install {
            if !d.changed.iter().any(|c| c == "status") {
                d.changed.push("status".into());
            }
            d.requires_replace.push("status".into());
            d.replace_reason = Some(FAILED_INSTALL_REASON.into());
            d.planned_attributes = unknown_attributes(schema);
            return d;
        }
        if d.changed.is_empty() || !d.requires_replace.is_empty() {
            return d;
        }
        if d.changed
            .iter()
            .all(|c| OPERATION_OPTIONS.contains(&c.as_str()))
        {
            // Nothing deployed changes: no upgrade, attributes stay.
            return d;
        }
        let mut planned = prior.attributes.clone();
        if !matches!(planned, Value::Map(_)) {
            planned = unknown_attributes(schema);
        }
        let chart_moves = d
            .changed
            .iter()
            .any(|c| c == "version" || c == "repository");
        for key in ["revision", "status", "manifest_digest", "values_digest"] {
            planned.set_path(key, Value::Unknown);
        }
        if chart_moves {
            planned.set_path("chart_version", Value::Unknown);
            planned.set_path("app_version", Value::Unknown);
        }
        d.planned_attributes = planned;
        d
    }

    async fn create(
        &self,
        p: &HelmProvider,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        p.install_or_upgrade(ctx, desired).await
    }

    async fn read(
        &self,
        p: &HelmProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        let importing = prior.properties.as_map().is_none_or(|m| m.is_empty());
        let spec = if importing {
            let (ns, name) = prior.id.split_once('/').ok_or_else(|| {
                ProviderError::new(format!("release id {:?} is not NAMESPACE/NAME", prior.id))
            })?;
            let mut p = Map::new();
            p.insert("namespace".into(), ns.into());
            p.insert("name".into(), name.into());
            ReleaseSpec::from_properties(&Value::Map(p))
        } else {
            ReleaseSpec::from_properties(&prior.properties)
        };
        let Some(mut info) = p.last_release(&spec).await? else {
            return Ok(None);
        };
        if is_failed_install(&info.status, info.revision) && !importing {
            // Nothing ever deployed: the plan replaces it (see `diff`).
            return Ok(Some(Snapshot {
                id: spec.id(),
                properties: prior.properties.clone(),
                attributes: attrs(&info, String::new(), String::new()),
            }));
        }
        match info.status.as_str() {
            "uninstalled" => return Ok(None),
            // Still being removed: not gone yet, and not ours to plan around.
            "failed" | "pending-install" | "pending-upgrade" | "pending-rollback"
            | "uninstalling" => {
                return Err(stuck_release_error(&spec, &info.status, info.revision))
            }
            _ => {}
        }
        let manifest_digest = sha256_hex(info.manifest.as_deref().unwrap_or_default().as_bytes());
        if info.chart.is_none() {
            info.chart = match recorded_chart(prior, &info, &manifest_digest) {
                Some(chart) if !importing => Some(chart),
                _ => Some(p.read_chart(&spec).await?),
            };
        }
        let live_values = std::mem::take(&mut info.values);
        let values_digest = values::values_digest(&live_values, &ctx.lineage);
        let attributes = attrs(&info, manifest_digest, values_digest.clone());

        let mut properties = prior.properties.clone();
        if importing {
            let mut p = Map::new();
            p.insert("name".into(), spec.name.clone().into());
            p.insert("namespace".into(), spec.namespace.clone().into());
            let chart = info.chart.clone().unwrap_or_default();
            p.insert("chart".into(), chart.name.into());
            p.insert("version".into(), chart.version.into());
            // Only digests of the live values are kept (they may hold `set_sensitive`
            // secrets): the next plan compares the stack's values with them leaf by leaf.
            p.insert("values".into(), Value::sensitive(Value::Map(live_values)));
            properties = Value::Map(p);
        } else {
            // Applied properties stay as they were unless what helm holds moved away from
            // what trustplane applied: then the plan shows (and undoes) the change.
            if prior.attributes.get_str("chart_version") != Some(info.chart_version()) {
                properties.set_path("version", info.chart_version().into());
            }
            let recorded = prior.attributes.get_str("values_digest");
            let legacy = values::legacy_values_digest(&live_values);
            if recorded != Some(values_digest.as_str()) && recorded != Some(legacy.as_str()) {
                properties.set_path("values", VALUES_CHANGED_OUTSIDE.into());
            }
        }
        Ok(Some(Snapshot {
            id: spec.id(),
            properties,
            attributes,
        }))
    }

    async fn update(
        &self,
        p: &HelmProvider,
        ctx: &OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        let schema = release_schema();
        let d = default_diff(&schema, prior, desired);
        let only_options = !d.changed.is_empty()
            && d.changed
                .iter()
                .all(|c| OPERATION_OPTIONS.contains(&c.as_str()));
        if only_options && prior.attributes.get("revision").is_some() {
            return Ok(Snapshot {
                properties: desired.clone(),
                ..prior.clone()
            });
        }
        p.install_or_upgrade(ctx, desired).await
    }

    /// A rollout restart of the release's istiod Deployment, through the release's own
    /// connection to the cluster.
    async fn restart(
        &self,
        p: &HelmProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        let spec = ReleaseSpec::from_properties(&prior.properties);
        let deployment = restart::ISTIOD_DEPLOYMENT;
        ctx.progress(&format!(
            "rollout restart of Deployment {}/{deployment}",
            spec.namespace
        ));
        let s = p.settings();
        restart::rollout_restart(&s.connection, s.limits, &spec.namespace, deployment).await
    }

    async fn delete(
        &self,
        p: &HelmProvider,
        ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        let spec = ReleaseSpec::from_properties(&prior.properties);
        ctx.progress(&format!("helm uninstall {}", spec.id()));
        let out = p
            .run_change(
                &format!("uninstall {}", spec.id()),
                &spec,
                cli::uninstall_args(&spec),
            )
            .await?;
        if out.ok || cli::is_not_found(&out.stderr) {
            return Ok(());
        }
        Err(helm_failed(
            &format!("uninstall {}", spec.id()),
            &out.stderr,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    fn props(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn codes(p: &Value) -> Vec<(&'static str, String)> {
        validate_release(p)
            .into_iter()
            .map(|d| (d.code, d.field.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn release_names_follow_dns_label_rules() {
        assert!(codes(&props(r#"{"name":"cert-manager","chart":"c"}"#)).is_empty());
        let long = "a".repeat(54);
        for bad in ["Cert", "-a", "a-", "a_b", "a.b", "", long.as_str()] {
            let p = props(&format!(r#"{{"name":{bad:?},"chart":"c"}}"#));
            assert_eq!(
                codes(&p),
                vec![("helm::invalid_name", "name".to_string())],
                "{bad:?}"
            );
        }
        assert!(codes(&props(&format!(
            r#"{{"name":"{}","chart":"c"}}"#,
            "a".repeat(53)
        )))
        .is_empty());
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let p = props(
            r#"{"name":"x","namespace":"Bad NS","chart":"c","repository":"oci://r/c",
                "values":[1],"set":{"a..b":1},"set_sensitive":{"ok.key":"s"}}"#,
        );
        assert_eq!(
            codes(&p),
            vec![
                ("helm::invalid_namespace", "namespace".to_string()),
                ("helm::invalid_repository", "repository".to_string()),
                ("helm::invalid_values", "values".to_string()),
                ("helm::invalid_set_key", "set.a..b".to_string()),
            ]
        );
        let p = props(r#"{"name":"x","chart":"oci://r/c","repository":"https://r"}"#);
        assert_eq!(
            codes(&p),
            vec![("helm::invalid_chart", "repository".to_string())]
        );
        // Unknown values are accepted at plan time.
        let mut p = props(r#"{"name":"x","chart":"c"}"#);
        p.set_path("values", Value::Unknown);
        assert!(codes(&p).is_empty());
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            id: "apps/web".into(),
            properties: props(
                r#"{"name":"web","namespace":"apps","chart":"web","version":"1.0.0",
                    "wait":false,"values":{"a":1}}"#,
            ),
            attributes: props(
                r#"{"revision":1,"status":"deployed","chart_version":"1.0.0","app_version":"1",
                    "manifest_digest":"m","values_digest":"v"}"#,
            ),
        }
    }

    #[test]
    fn diff_plans_upgrades_replacements_and_option_changes() {
        let p = HelmProvider::default();
        let schema = release_schema();
        let prior = snapshot();

        let mut desired = prior.properties.clone();
        desired.set_path("values", props(r#"{"a":2}"#));
        let d = p.diff(&schema, &prior, &desired);
        assert_eq!(d.changed, vec!["values"]);
        assert!(d.requires_replace.is_empty());
        assert_eq!(d.planned_attributes.get("revision"), Some(&Value::Unknown));
        assert_eq!(d.planned_attributes.get_str("chart_version"), Some("1.0.0"));

        let mut desired = prior.properties.clone();
        desired.set_path("version", "1.1.0".into());
        let d = p.diff(&schema, &prior, &desired);
        assert_eq!(
            d.planned_attributes.get("chart_version"),
            Some(&Value::Unknown)
        );

        let mut desired = prior.properties.clone();
        desired.set_path("wait", true.into());
        let d = p.diff(&schema, &prior, &desired);
        assert_eq!(d.changed, vec!["wait"]);
        assert_eq!(
            d.planned_attributes, prior.attributes,
            "no upgrade for wait alone"
        );

        for key in ["name", "namespace", "chart"] {
            let mut desired = prior.properties.clone();
            desired.set_path(key, "other".into());
            let d = p.diff(&schema, &prior, &desired);
            assert_eq!(d.requires_replace, vec![key.to_string()]);
        }
    }

    #[test]
    fn values_merge_files_inline_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yaml");
        std::fs::write(&f, "image:\n  repository: r\n  tag: '1'\nreplicas: 2\n").unwrap();
        let mut p = props(r#"{"values":{"replicas":3},"set":{"image.tag":"2"}}"#);
        p.set_path(
            "values_files",
            Value::List(vec![f.to_str().unwrap().into()]),
        );
        let merged = release_values(&p).unwrap();
        assert_eq!(
            Value::Map(merged),
            props(r#"{"image":{"repository":"r","tag":"2"},"replicas":3}"#)
        );
        p.set_path(
            "values_files",
            Value::List(vec!["/nonexistent.yaml".into()]),
        );
        let err = release_values(&p).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("values_files[0]"));
    }

    #[test]
    fn a_helm_version_is_remembered_until_the_binary_changes() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("helm");
        std::fs::write(&bin, "one").unwrap();
        assert_eq!(known_version(&bin), None);
        let v = cli::parse_version("v3.14.2+gc309b6f").unwrap();
        remember_version(&bin, v);
        assert_eq!(known_version(&bin), Some(v));
        // Replaced by another binary: asked again.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&bin)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(known_version(&bin), None);
        assert_eq!(known_version(&dir.path().join("absent")), None);
    }

    #[test]
    fn credentials_need_a_repository() {
        let p = props(r#"{"name":"x","chart":"c","username":"u","password":"p"}"#);
        assert_eq!(
            codes(&p),
            vec![(
                "helm::credentials_without_repository",
                "username".to_string()
            )]
        );
        let p =
            props(r#"{"name":"x","chart":"c","repository":"https://r","credentials_file":"f"}"#);
        assert!(codes(&p).is_empty());
        // Changing credentials alone does not upgrade the release.
        let prior = snapshot();
        let mut desired = prior.properties.clone();
        desired.set_path("password", "new".into());
        let d = HelmProvider::default().diff(&release_schema(), &prior, &desired);
        assert_eq!(d.planned_attributes, prior.attributes);
    }

    #[test]
    fn stuck_releases_say_how_to_recover() {
        let spec = ReleaseSpec::from_properties(&props(r#"{"name":"web","namespace":"apps"}"#));
        let e = stuck_release_error(&spec, "pending-upgrade", 3);
        assert_eq!(e.message, "helm release apps/web is pending-upgrade");
        assert!(e.help.unwrap().contains("`helm rollback web 2 -n apps`"));
        let e = stuck_release_error(&spec, "pending-rollback", 5);
        assert!(e.help.unwrap().contains("`helm rollback web 4 -n apps`"));
        let e = stuck_release_error(&spec, "pending-install", 1);
        let help = e.help.unwrap();
        assert!(help.contains("`helm uninstall web -n apps`"), "{help}");
        assert!(!help.contains("rollback"), "{help}");
        let e = stuck_release_error(&spec, "failed", 4);
        let help = e.help.unwrap();
        assert!(help.contains("rerun apply"), "{help}");
        assert!(help.contains("`helm rollback web 3 -n apps`"), "{help}");
    }

    #[test]
    fn a_failed_first_install_is_replaced_with_its_reason() {
        let schema = release_schema();
        let desired = props(r#"{"name":"web","namespace":"apps","chart":"./c"}"#);
        let failed = |revision: i64| Snapshot {
            id: "apps/web".into(),
            properties: desired.clone(),
            attributes: props(&format!(r#"{{"status":"failed","revision":{revision}}}"#)),
        };
        let d = HelmProvider::default().diff(&schema, &failed(1), &desired);
        assert_eq!(d.requires_replace, vec!["status".to_string()]);
        assert_eq!(d.replace_reason.as_deref(), Some(FAILED_INSTALL_REASON));
        // A failed upgrade has a deployed revision to upgrade from: no replacement.
        let d = HelmProvider::default().diff(&schema, &failed(2), &desired);
        assert!(d.requires_replace.is_empty());
        assert!(d.replace_reason.is_none());
    }

    #[test]
    fn chart_not_found_points_at_chart_or_version() {
        let e = helm_failed(
            "install or upgrade apps/web",
            "Error: chart \"web\" version \"9.9.9\" not found in http://127.0.0.1:1 repository\n",
        );
        assert_eq!(e.field.as_deref(), Some("version"));
        assert!(e.message.contains("9.9.9"));
        let e = helm_failed("x", "Error: path \"./nope\" not found\n");
        assert_eq!(e.field.as_deref(), Some("chart"));
    }
}
