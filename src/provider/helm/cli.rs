//! Driving the `helm` binary: finding it, checking its version, building its command
//! lines and reading its output. Flag building and output parsing are pure functions.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::{ProviderError, ProviderResult};
use super::repository::{RepoFiles, REPO_NAME};
use crate::value::{Map, Value};

/// The oldest helm this provider drives: 3.8 made OCI charts generally available.
pub const MIN_VERSION: (u64, u64) = (3, 8);

/// Where the binary comes from, for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum BinarySource {
    Settings,
    Env,
    Path,
}

/// Resolves the helm binary: settings `providers.helm.binary`, then `TRUSTPLANE_HELM`,
/// then `helm` on PATH. Returns what was chosen and a description of where it looked.
pub fn resolve_binary(
    setting: Option<&str>,
    env: Option<&str>,
    path_var: Option<&str>,
) -> (Option<PathBuf>, String, BinarySource) {
    if let Some(s) = setting.filter(|s| !s.is_empty()) {
        let p = PathBuf::from(s);
        let found = is_executable(&p).then(|| p.clone());
        return (
            found,
            format!("{s} (providers.helm.binary)"),
            BinarySource::Settings,
        );
    }
    if let Some(s) = env.filter(|s| !s.is_empty()) {
        let p = PathBuf::from(s);
        let found = is_executable(&p).then(|| p.clone());
        return (found, format!("{s} (TRUSTPLANE_HELM)"), BinarySource::Env);
    }
    let dirs = path_var.unwrap_or_default();
    let found = std::env::split_paths(dirs)
        .map(|d| d.join("helm"))
        .find(|p| is_executable(p));
    (found, "`helm` on PATH".to_string(), BinarySource::Path)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A helm version, `v3.14.2+gc309b6f` → (3, 14, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HelmVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl std::fmt::Display for HelmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses the output of `helm version --short` (`v3.14.2+gc309b6f`), and also the long
/// form older releases print (`version.BuildInfo{Version:"v3.7.0", ...}`).
pub fn parse_version(text: &str) -> Option<HelmVersion> {
    let start = text.find(|c: char| c == 'v' || c.is_ascii_digit())?;
    let mut rest = &text[start..];
    // Skip to the first `v<digit>` or bare digit sequence.
    loop {
        let t = rest.trim_start_matches('v');
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            rest = t;
            break;
        }
        let next = rest[1..].find(|c: char| c == 'v' || c.is_ascii_digit())?;
        rest = &rest[1 + next..];
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split('.').map(|p| p.parse::<u64>().ok());
    Some(HelmVersion {
        major: parts.next()??,
        minor: parts.next().flatten().unwrap_or(0),
        patch: parts.next().flatten().unwrap_or(0),
    })
}

pub fn check_version(v: HelmVersion, binary: &Path) -> ProviderResult<()> {
    if (v.major, v.minor) < MIN_VERSION {
        return Err(ProviderError::new(format!(
            "helm {v} at {} is too old: trustplane needs helm 3.8 or newer",
            binary.display()
        ))
        .with_help(
            "install a newer helm (https://helm.sh/docs/intro/install/) and point \
             providers.helm.binary or TRUSTPLANE_HELM at it",
        ));
    }
    Ok(())
}

/// What to install: the parts of a release's properties that make its helm command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReleaseSpec {
    pub name: String,
    pub namespace: String,
    pub create_namespace: bool,
    pub chart: String,
    pub repository: Option<String>,
    pub version: Option<String>,
    pub wait: bool,
    pub timeout: Option<Duration>,
    pub atomic: bool,
    pub skip_crds: bool,
    /// Set when `repository` needs credentials: helm reads it, with them, from these files.
    pub private_repository: Option<RepoFiles>,
}

impl ReleaseSpec {
    pub fn from_properties(p: &Value) -> ReleaseSpec {
        let s = |k: &str| p.get_str(k).filter(|s| !s.is_empty()).map(str::to_string);
        let b = |k: &str, d: bool| p.get(k).and_then(Value::as_bool).unwrap_or(d);
        ReleaseSpec {
            name: s("name").unwrap_or_default(),
            namespace: s("namespace").unwrap_or_else(|| "default".into()),
            create_namespace: b("create_namespace", false),
            chart: s("chart").unwrap_or_default(),
            repository: s("repository"),
            version: s("version"),
            wait: b("wait", true),
            timeout: s("timeout").and_then(|t| crate::duration::parse(&t).ok()),
            atomic: b("atomic", false),
            skip_crds: b("skip_crds", false),
            private_repository: None,
        }
    }

    /// `namespace/name`, the resource id.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A duration as Go's `time.ParseDuration` reads it (`5m0s`, `90s`, `1500ms`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// Flags that point helm at the cluster: the same kubeconfig and context as the
/// Kubernetes provider.
pub fn kube_flags(kubeconfig: Option<&str>, context: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = kubeconfig {
        out.extend(["--kubeconfig".to_string(), k.to_string()]);
    }
    if let Some(c) = context {
        out.extend(["--kube-context".to_string(), c.to_string()]);
    }
    out
}

/// The chart argument: as written, or in the private repository's name when the
/// repository needs credentials (helm then reads the URL and credentials from its file).
fn chart_ref(spec: &ReleaseSpec) -> OsString {
    match &spec.private_repository {
        Some(_) => format!("{REPO_NAME}/{}", spec.chart).into(),
        None => spec.chart.clone().into(),
    }
}

/// Flags shared by `upgrade --install` and `template`: where the chart comes from and
/// the values file.
fn chart_flags(spec: &ReleaseSpec, values_file: &Path, out: &mut Vec<OsString>) {
    out.extend(["--namespace".into(), spec.namespace.clone().into()]);
    if let Some(v) = &spec.version {
        out.extend(["--version".into(), v.clone().into()]);
    }
    match (&spec.private_repository, &spec.repository) {
        (Some(files), _) => out.extend(files.flags()),
        (None, Some(r)) => out.extend(["--repo".into(), r.clone().into()]),
        (None, None) => {}
    }
    out.extend(["-f".into(), values_file.as_os_str().to_owned()]);
    if spec.skip_crds {
        out.push("--skip-crds".into());
    }
}

/// `helm upgrade --install NAME CHART ... -o json`. Helm 4 renamed `--atomic` to
/// `--rollback-on-failure`.
pub fn upgrade_args(spec: &ReleaseSpec, values_file: &Path, helm: HelmVersion) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![
        "upgrade".into(),
        "--install".into(),
        spec.name.clone().into(),
        chart_ref(spec),
    ];
    chart_flags(spec, values_file, &mut out);
    if spec.create_namespace {
        out.push("--create-namespace".into());
    }
    if spec.wait {
        out.push("--wait".into());
    }
    if let Some(t) = spec.timeout {
        out.extend(["--timeout".into(), go_duration(t).into()]);
    }
    if spec.atomic {
        out.push(if helm.major >= 4 {
            "--rollback-on-failure".into()
        } else {
            "--atomic".into()
        });
    }
    out.extend(["-o".into(), "json".into()]);
    out
}

/// `helm template NAME CHART ...`: the desired release's manifest, for plan-time diffs.
pub fn template_args(spec: &ReleaseSpec, values_file: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["template".into(), spec.name.clone().into(), chart_ref(spec)];
    chart_flags(spec, values_file, &mut out);
    out
}

/// `helm status NAME -o json`: the one read of a refresh. Helm (3.8 to 4) prints the
/// release object with its status, revision, user-supplied values (`config`) and manifest,
/// but without the chart (`helm status` strips it).
pub fn status_args(spec: &ReleaseSpec) -> Vec<OsString> {
    let n = &spec.name;
    let ns = &spec.namespace;
    ["status", n, "--namespace", ns, "-o", "json"]
        .iter()
        .map(Into::into)
        .collect()
}

/// A Go template for `helm get all --template`: the deployed chart's name, version and
/// app version as a JSON object (Go's `%q` quotes these plain strings as JSON does).
/// `get all` has no `-o json`, and its `--template` has no `toJson`.
pub const CHART_TEMPLATE: &str = concat!(
    r#"{"name":{{printf "%q" .Release.Chart.Metadata.Name}},"#,
    r#""version":{{printf "%q" .Release.Chart.Metadata.Version}},"#,
    r#""appVersion":{{printf "%q" .Release.Chart.Metadata.AppVersion}}}"#,
);

/// `helm get all NAME --template ...`: the deployed chart, which `helm status` leaves out.
pub fn chart_args(spec: &ReleaseSpec) -> Vec<OsString> {
    let n = &spec.name;
    let ns = &spec.namespace;
    [
        "get",
        "all",
        n,
        "--namespace",
        ns,
        "--template",
        CHART_TEMPLATE,
    ]
    .iter()
    .map(Into::into)
    .collect()
}

pub fn get_manifest_args(spec: &ReleaseSpec) -> Vec<OsString> {
    let n = &spec.name;
    let ns = &spec.namespace;
    ["get", "manifest", n, "--namespace", ns]
        .iter()
        .map(Into::into)
        .collect()
}

pub fn uninstall_args(spec: &ReleaseSpec) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![
        "uninstall".into(),
        spec.name.clone().into(),
        "--namespace".into(),
        spec.namespace.clone().into(),
    ];
    if spec.wait {
        out.push("--wait".into());
    }
    if let Some(t) = spec.timeout {
        out.extend(["--timeout".into(), go_duration(t).into()]);
    }
    out
}

/// The deployed chart of a release.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartInfo {
    pub name: String,
    pub version: String,
    pub app_version: String,
}

/// What `helm status -o json` and `helm upgrade -o json` say about a release.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReleaseInfo {
    pub revision: i64,
    pub status: String,
    /// None when the answer has no chart: `helm status` strips it, `helm upgrade` keeps it.
    pub chart: Option<ChartInfo>,
    pub manifest: Option<String>,
    /// The user-supplied values (helm's `config`, what `helm get values` prints).
    pub values: Map,
}

impl ReleaseInfo {
    pub fn chart_version(&self) -> &str {
        self.chart.as_ref().map_or("", |c| c.version.as_str())
    }

    pub fn app_version(&self) -> &str {
        self.chart.as_ref().map_or("", |c| c.app_version.as_str())
    }
}

/// Parses helm's release JSON (`{"name", "info": {"status"}, "chart": {"metadata"},
/// "config", "manifest", "version", "namespace"}`). Helm encodes `config` and `manifest`
/// with `omitempty`: a release without user-supplied values has no `config`, one that
/// renders nothing has no `manifest`, so an absent field is an empty one, not an unknown.
pub fn parse_release(json: &str) -> ProviderResult<ReleaseInfo> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| ProviderError::new(format!("helm printed a release that is not JSON: {e}")))?;
    let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
    let meta = &v["chart"]["metadata"];
    let chart = meta.is_object().then(|| ChartInfo {
        name: text(&meta["name"]),
        version: text(&meta["version"]),
        app_version: text(&meta["appVersion"]),
    });
    let values = match v.get("config") {
        None | Some(serde_json::Value::Null) => Map::new(),
        Some(config) => values_map(
            Value::from_json(config.clone()),
            "a release whose config is",
        )?,
    };
    Ok(ReleaseInfo {
        revision: v["version"].as_i64().unwrap_or_default(),
        status: text(&v["info"]["status"]),
        chart,
        manifest: v["manifest"].as_str().map(str::to_string),
        values,
    })
}

/// Parses the output of `helm get all --template CHART_TEMPLATE`.
pub fn parse_chart(json: &str) -> ProviderResult<ChartInfo> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).map_err(|e| {
        ProviderError::new(format!(
            "helm printed a chart that is not JSON: {e}: {json}"
        ))
    })?;
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(ChartInfo {
        name: text("name"),
        version: text("version"),
        app_version: text("appVersion"),
    })
}

fn values_map(v: Value, what: &str) -> ProviderResult<Map> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(ProviderError::new(format!(
            "helm printed {what} a {}, not a map",
            other.type_name()
        ))),
    }
}

/// True when helm's error says the release does not exist.
pub fn is_not_found(stderr: &str) -> bool {
    stderr.contains("release: not found")
}

/// True when helm failed on something that may pass on a later attempt: the cluster
/// throttling or failing on its side, or the connection dropping or timing out.
pub fn is_transient(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    [
        "connection refused",
        "connection reset",
        "broken pipe",
        "i/o timeout",
        "timed out",
        "timeout awaiting",
        "too many requests",
        "toomanyrequests",
        "service unavailable",
        "serviceunavailable",
        "internal server error",
        "internalerror",
        "bad gateway",
        "gateway timeout",
        // client-go's words for a 503 and for other server errors.
        "currently unable to handle the request",
        "has prevented the request from succeeding",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// The lines of helm's stderr worth showing: its `Error:` lines, else the last lines.
pub fn summarize_stderr(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Error:").map(str::trim))
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "helm failed without a message".to_string()
    } else {
        tail.join("; ")
    }
}

/// A private temporary file for values: created 0600, removed when dropped. Values may
/// hold secrets, so they never go on a command line.
pub struct ValuesFile {
    file: PrivateFile,
}

impl ValuesFile {
    pub fn write(values: &Map) -> ProviderResult<ValuesFile> {
        // JSON is YAML: helm reads it as a values file, and numbers keep their types.
        let json = serde_json::to_vec(&Value::Map(values.clone())).expect("values serialize");
        Ok(ValuesFile {
            file: PrivateFile::write("values", &json)?,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// A file only its owner can read (0600) in the temporary directory, removed when
/// dropped: how secrets (values, a cluster token) reach helm without its command line.
pub struct PrivateFile {
    path: PathBuf,
}

impl PrivateFile {
    /// Writes `contents` to a new file named after `kind` ("values", "kubeconfig").
    pub fn write(kind: &str, contents: &[u8]) -> ProviderResult<PrivateFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::env::temp_dir().join(format!(
            "trustplane-helm-{kind}-{}.json",
            uuid::Uuid::new_v4().simple()
        ));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                ProviderError::new(format!(
                    "cannot create a {kind} file in {}: {e}",
                    std::env::temp_dir().display()
                ))
            })?;
        let file = PrivateFile { path };
        f.write_all(contents)
            .and_then(|_| f.flush())
            .map_err(|e| ProviderError::new(format!("cannot write the {kind} file: {e}")))?;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn spec() -> ReleaseSpec {
        ReleaseSpec {
            name: "cert-manager".into(),
            namespace: "cert-manager".into(),
            create_namespace: true,
            chart: "cert-manager".into(),
            repository: Some("https://charts.jetstack.io".into()),
            version: Some("v1.15.3".into()),
            wait: true,
            timeout: Some(Duration::from_secs(300)),
            atomic: true,
            skip_crds: true,
            private_repository: None,
        }
    }

    const V3: HelmVersion = HelmVersion {
        major: 3,
        minor: 14,
        patch: 2,
    };

    #[test]
    fn upgrade_command_line_has_every_flag() {
        let args = strings(&upgrade_args(&spec(), Path::new("/tmp/v.json"), V3));
        assert_eq!(
            args.join(" "),
            "upgrade --install cert-manager cert-manager --namespace cert-manager \
             --version v1.15.3 --repo https://charts.jetstack.io -f /tmp/v.json --skip-crds \
             --create-namespace --wait --timeout 5m0s --atomic -o json"
        );
        let v4 = HelmVersion { major: 4, ..V3 };
        let args = strings(&upgrade_args(&spec(), Path::new("/tmp/v.json"), v4));
        assert!(args.contains(&"--rollback-on-failure".to_string()));
        assert!(!args.contains(&"--atomic".to_string()));
    }

    #[test]
    fn minimal_release_has_minimal_flags() {
        let s = ReleaseSpec::from_properties(
            &serde_json::from_str(r#"{"name":"web","chart":"./charts/web","wait":false}"#).unwrap(),
        );
        let args = strings(&upgrade_args(&s, Path::new("/v"), V3));
        assert_eq!(
            args.join(" "),
            "upgrade --install web ./charts/web --namespace default -f /v -o json"
        );
        let args = strings(&template_args(&s, Path::new("/v")));
        assert_eq!(
            args.join(" "),
            "template web ./charts/web --namespace default -f /v"
        );
        assert_eq!(
            strings(&uninstall_args(&s)).join(" "),
            "uninstall web --namespace default"
        );
        assert_eq!(s.id(), "default/web");
    }

    #[test]
    fn private_repository_credentials_stay_off_the_command_line() {
        use super::super::repository::{Credentials, PrivateRepository};
        let creds = Credentials {
            username: "ci-user".into(),
            password: "s3cret-pw".into(),
        };
        let repo = PrivateRepository::write("https://charts.example.com", &creds).unwrap();
        let files = repo.files();
        let spec = ReleaseSpec {
            private_repository: Some(files.clone()),
            ..spec()
        };
        let (config, cache) = (files.config.display(), files.cache.display());
        let args = strings(&upgrade_args(&spec, Path::new("/tmp/v.json"), V3)).join(" ");
        assert_eq!(
            args,
            format!(
                "upgrade --install cert-manager trustplane-private/cert-manager \
                 --namespace cert-manager --version v1.15.3 --repository-config {config} \
                 --repository-cache {cache} -f /tmp/v.json --skip-crds --create-namespace \
                 --wait --timeout 5m0s --atomic -o json"
            )
        );
        let template = strings(&template_args(&spec, Path::new("/v"))).join(" ");
        let update = strings(&files.update_args()).join(" ");
        assert_eq!(
            update,
            format!(
                "repo update trustplane-private --repository-config {config} \
                 --repository-cache {cache}"
            )
        );
        for line in [&args, &template, &update] {
            assert!(!line.contains("s3cret-pw"), "{line}");
            assert!(!line.contains("ci-user"), "{line}");
            assert!(!line.contains("--password"), "{line}");
            assert!(!line.contains("--repo "), "{line}");
        }
        drop(repo);
        assert!(!files.config.exists());
    }

    #[test]
    fn an_oci_chart_is_passed_as_written() {
        let s = ReleaseSpec::from_properties(
            &serde_json::from_str(
                r#"{"name":"issuer","namespace":"pki","wait":false,"version":"1.4.0",
                    "chart":"oci://registry.example.com/charts/aws-privateca-issuer"}"#,
            )
            .unwrap(),
        );
        assert_eq!(
            strings(&upgrade_args(&s, Path::new("/v"), V3)).join(" "),
            "upgrade --install issuer oci://registry.example.com/charts/aws-privateca-issuer \
             --namespace pki --version 1.4.0 -f /v -o json"
        );
        assert_eq!(
            strings(&template_args(&s, Path::new("/v"))).join(" "),
            "template issuer oci://registry.example.com/charts/aws-privateca-issuer \
             --namespace pki --version 1.4.0 -f /v"
        );
    }

    #[test]
    fn kube_flags_follow_settings() {
        assert_eq!(
            kube_flags(Some("/k"), Some("prod")),
            vec!["--kubeconfig", "/k", "--kube-context", "prod"]
        );
        assert!(kube_flags(None, None).is_empty());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(go_duration(Duration::from_secs(90 * 86400)), "2160h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn versions_parse_and_old_ones_are_refused() {
        let v = parse_version("v3.14.2+gc309b6f\n").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (3, 14, 2));
        let v = parse_version(r#"version.BuildInfo{Version:"v3.7.0", GitCommit:"eeac8"}"#).unwrap();
        assert_eq!((v.major, v.minor), (3, 7));
        assert_eq!(
            parse_version("v4.2.3+helm.python.sdk.0.2.2").unwrap().major,
            4
        );
        assert!(parse_version("no version here").is_none());
        let err = check_version(parse_version("v3.7.2").unwrap(), Path::new("/usr/bin/helm"))
            .unwrap_err();
        assert!(err.message.contains("v3.7.2"), "{}", err.message);
        assert!(err.message.contains("/usr/bin/helm"), "{}", err.message);
        assert!(check_version(parse_version("v3.8.0").unwrap(), Path::new("h")).is_ok());
    }

    #[test]
    fn binary_resolution_order() {
        let dir = tempfile::tempdir().unwrap();
        let helm = dir.path().join("helm");
        std::fs::write(&helm, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
        let h = helm.to_str().unwrap();
        let path_var = dir.path().to_str().unwrap();
        let (found, _, src) = resolve_binary(Some(h), Some("/nope"), None);
        assert_eq!(
            (found.as_deref(), src),
            (Some(helm.as_path()), BinarySource::Settings)
        );
        let (found, where_, src) = resolve_binary(None, Some("/nope/helm"), Some(path_var));
        assert_eq!((found, src), (None, BinarySource::Env));
        assert!(where_.contains("/nope/helm (TRUSTPLANE_HELM)"));
        let (found, _, src) = resolve_binary(None, None, Some(path_var));
        assert_eq!(
            (found.as_deref(), src),
            (Some(helm.as_path()), BinarySource::Path)
        );
    }

    #[test]
    fn release_json_and_errors_parse() {
        let json = r#"{"name":"web","info":{"status":"deployed","description":"Upgrade complete"},
            "chart":{"metadata":{"name":"webapp","version":"1.1.0","appVersion":"1.1"}},
            "manifest":"---\nkind: A\n","version":2,"namespace":"apps"}"#;
        let r = parse_release(json).unwrap();
        assert_eq!(
            (r.revision, r.status.as_str(), r.chart_version()),
            (2, "deployed", "1.1.0")
        );
        assert_eq!(r.app_version(), "1.1");
        assert!(r.values.is_empty(), "no config: no user-supplied values");
        let config = |c: &str| parse_release(&format!(r#"{{"version":1,"config":{c}}}"#));
        assert!(config("null").unwrap().values.is_empty());
        assert_eq!(config(r#"{"a":1}"#).unwrap().values.len(), 1);
        assert!(config("[1]").is_err());
        assert!(is_not_found("Error: release: not found\n"));
        assert!(is_transient(
            "Error: Kubernetes cluster unreachable: Get \"http://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused\n"
        ));
        assert!(is_transient(
            "Error: the server is currently unable to handle the request (Service Unavailable)\n"
        ));
        assert!(!is_transient("Error: release: not found\n"));
        assert!(!is_transient(
            "Error: chart \"web\" version \"9.9.9\" not found\n"
        ));
        assert_eq!(
            summarize_stderr("WARNING: x\nError: chart \"web\" version \"9.9.9\" not found\n"),
            "chart \"web\" version \"9.9.9\" not found"
        );
        assert_eq!(summarize_stderr("a\nb\nc\nd\n"), "b; c; d");
    }

    /// `helm status -o json` as helm 3.8 and 4 print it: no chart, the values and the
    /// manifest; the chart comes from `helm get all --template`.
    #[test]
    fn a_status_answer_has_values_and_manifest_but_no_chart() {
        let json = r#"{"name":"web","info":{"first_deployed":"2026-11-30T03:00:00Z",
            "last_deployed":"2026-11-30T03:00:00Z","deleted":"","description":"Install complete",
            "status":"deployed"},"config":{"image":{"tag":"1.0"},"replicas":2},
            "manifest":"---\nkind: A\n","version":3,"namespace":"apps"}"#;
        let r = parse_release(json).unwrap();
        assert_eq!(r.chart, None);
        assert_eq!((r.revision, r.chart_version()), (3, ""));
        assert_eq!(r.manifest.as_deref(), Some("---\nkind: A\n"));
        assert_eq!(r.values.get("replicas"), Some(&Value::Int(2)));
        let args = strings(&chart_args(&spec())).join(" ");
        assert_eq!(
            args,
            format!("get all cert-manager --namespace cert-manager --template {CHART_TEMPLATE}")
        );
        let c = parse_chart(r#"{"name":"webapp","version":"1.1.0","appVersion":"1.1"}"#).unwrap();
        assert_eq!(
            (c.name.as_str(), c.version.as_str(), c.app_version.as_str()),
            ("webapp", "1.1.0", "1.1")
        );
        assert!(parse_chart("<no value>").is_err());
    }

    #[test]
    fn values_file_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let mut m = Map::new();
        m.insert("password".into(), Value::from("hunter2"));
        let f = ValuesFile::write(&m).unwrap();
        let path = f.path().to_path_buf();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"password":"hunter2"}"#
        );
        drop(f);
        assert!(!path.exists());
    }
}
