//! The built-in `core` provider, for examples, tests and benchmarks:
//! - `core.null`: does nothing; a change of `triggers` replaces it (Terraform's null_resource);
//! - `core.sleep`: waits on create and destroy (Terraform's time_sleep);
//! - `core.file`: a local file (Terraform's local_file). A file edited or removed outside
//!   trustplane is drift, which exercises the drift path with no cloud.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{
    Attribute, OpContext, Property, Provider, ProviderError, ProviderResult, ResourceSchema,
    Snapshot, Type,
};
use crate::diag::Diagnostic;
use crate::value::{Map, PropertyPath, Value};

#[derive(Debug, Default)]
pub struct CoreProvider;

const NULL: &str = "core.null";
const SLEEP: &str = "core.sleep";
const FILE: &str = "core.file";

fn triggers() -> Property {
    Property::new("triggers", Type::Map(Box::new(Type::String)))
        .force_new()
        .describe("Arbitrary strings; any change replaces the resource.")
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn attrs(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn duration_prop(props: &Value, name: &str) -> Duration {
    props
        .get_str(name)
        .and_then(|s| crate::duration::parse(s).ok())
        .unwrap_or_default()
}

/// Waits `d` accurately. tokio's timer rounds every deadline up to the next millisecond
/// tick (a 20 ms sleep takes about 21 ms), so the last stretch is slept on a blocking
/// thread, which the OS wakes on time.
async fn precise_sleep(d: Duration) {
    const COARSE_MARGIN: Duration = Duration::from_millis(2);
    let deadline = std::time::Instant::now() + d;
    if d > COARSE_MARGIN {
        tokio::time::sleep(d - COARSE_MARGIN).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

fn file_mode(props: &Value) -> String {
    props.get_str("mode").unwrap_or("0644").to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn io_error(action: &str, path: &str, e: std::io::Error) -> ProviderError {
    ProviderError::new(format!("cannot {action} {path}: {e}")).with_field("path")
}

fn write_file(props: &Value) -> ProviderResult<Snapshot> {
    let path = props.get_str("path").unwrap_or_default();
    let content = props.get_str("content").unwrap_or_default();
    let mode = file_mode(props);
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| io_error("create directory for", path, e))?;
    }
    write_with_mode(path, content.as_bytes(), &mode)?;
    let mut properties = props.clone();
    properties.set_path("mode", Value::from(mode));
    Ok(Snapshot {
        id: path.to_string(),
        properties,
        attributes: attrs(&[("sha256", sha256_hex(content.as_bytes()).into())]),
    })
}

/// Writes the file so that its content is never readable beyond `mode`: an existing
/// file is narrowed before the new content goes in, a new one is created with the mode
/// (less the umask), and the exact mode is set once written.
fn write_with_mode(path: &str, content: &[u8], mode: &str) -> ProviderResult<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bits = mode_bits(mode)?;
    if Path::new(path).exists() {
        set_mode(path, mode)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(bits)
        .open(path)
        .map_err(|e| io_error("write", path, e))?;
    file.write_all(content)
        .map_err(|e| io_error("write", path, e))?;
    set_mode(path, mode)
}

fn mode_bits(mode: &str) -> ProviderResult<u32> {
    u32::from_str_radix(mode, 8)
        .map_err(|_| ProviderError::new(format!("mode {mode:?} is not octal")).with_field("mode"))
}

fn set_mode(path: &str, mode: &str) -> ProviderResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let bits = mode_bits(mode)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits))
        .map_err(|e| io_error("set the mode of", path, e))
}

#[async_trait]
impl Provider for CoreProvider {
    fn name(&self) -> &'static str {
        "core"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![
            ResourceSchema {
                type_name: NULL,
                description: "Does nothing; a change of triggers replaces it.",
                properties: vec![triggers()],
                attributes: vec![Attribute::new("id", "A random id, new on every create.")],
                data_source: false,
                managed: true,
            },
            ResourceSchema {
                type_name: SLEEP,
                description: "Waits create_duration on create and destroy_duration on destroy.",
                properties: vec![
                    Property::new("create_duration", Type::Duration).describe("Wait on create."),
                    Property::new("destroy_duration", Type::Duration).describe("Wait on destroy."),
                    triggers(),
                ],
                attributes: vec![Attribute::new("id", "A random id, new on every create.")],
                data_source: false,
                managed: true,
            },
            ResourceSchema {
                type_name: FILE,
                description: "A local file; edits or removal outside trustplane are drift.",
                properties: vec![
                    Property::new("path", Type::String)
                        .required()
                        .force_new()
                        .describe("File path; parent directories are created."),
                    Property::new("content", Type::String)
                        .default("")
                        .describe("File content."),
                    Property::new("mode", Type::String)
                        .default("0644")
                        .describe("Octal permission bits, e.g. 0600."),
                ],
                attributes: vec![Attribute::new("sha256", "SHA-256 of the content, hex.")],
                data_source: true,
                managed: true,
            },
        ]
    }

    /// A file's digest is as secret as its content: kept only as a keyed digest.
    fn secret_attributes(&self, type_name: &str, properties: &Value) -> Vec<PropertyPath> {
        if type_name == FILE && properties.get("content").is_some_and(Value::is_sensitive) {
            vec![PropertyPath::root().key("sha256")]
        } else {
            Vec::new()
        }
    }

    fn validate(&self, type_name: &str, properties: &Value) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if type_name == FILE {
            if let Some(mode) = properties.get_str("mode") {
                let ok = mode.len() <= 4 && u32::from_str_radix(mode, 8).is_ok_and(|m| m <= 0o7777);
                if !ok {
                    out.push(
                        Diagnostic::error(
                            "core::invalid_mode",
                            format!("file mode {mode:?} is not an octal permission"),
                        )
                        .with_field("mode")
                        .with_detail("expected up to four octal digits, such as 0644 or 0600"),
                    );
                }
            }
        }
        out
    }

    /// A file is its path, made absolute: `./a` and `a` are the same file.
    fn identity(&self, type_name: &str, properties: &Value) -> Option<String> {
        if type_name != FILE {
            return None;
        }
        let path = Path::new(properties.get_str("path")?);
        let absolute = match path.is_absolute() {
            true => path.to_path_buf(),
            false => std::env::current_dir().ok()?.join(path),
        };
        let normal: std::path::PathBuf = absolute
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        Some(format!("file {}", normal.display()))
    }

    async fn create(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        match type_name {
            NULL | SLEEP => {
                precise_sleep(duration_prop(desired, "create_duration")).await;
                let id = new_id();
                Ok(Snapshot {
                    attributes: attrs(&[("id", id.clone().into())]),
                    id,
                    properties: desired.clone(),
                })
            }
            FILE => {
                let desired = desired.clone();
                tokio::task::spawn_blocking(move || write_file(&desired))
                    .await
                    .map_err(|e| ProviderError::new(e.to_string()))?
            }
            other => Err(unknown_type(other)),
        }
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        match type_name {
            NULL | SLEEP => Ok(Some(prior.clone())),
            FILE => {
                let path = if prior.id.is_empty() {
                    prior
                        .properties
                        .get_str("path")
                        .unwrap_or_default()
                        .to_string()
                } else {
                    prior.id.clone()
                };
                read_file(&path, prior)
            }
            other => Err(unknown_type(other)),
        }
    }

    async fn update(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        match type_name {
            NULL | SLEEP => Ok(Snapshot {
                properties: desired.clone(),
                ..prior.clone()
            }),
            FILE => write_file(desired),
            other => Err(unknown_type(other)),
        }
    }

    async fn delete(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        match type_name {
            NULL => Ok(()),
            SLEEP => {
                precise_sleep(duration_prop(&prior.properties, "destroy_duration")).await;
                Ok(())
            }
            FILE => match std::fs::remove_file(&prior.id) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_error("remove", &prior.id, e))
                }
                _ => Ok(()),
            },
            other => Err(unknown_type(other)),
        }
    }

    async fn import(
        &self,
        ctx: &OpContext,
        type_name: &str,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        match type_name {
            FILE => {
                let mut props = Map::new();
                props.insert("path".into(), id.into());
                let prior = Snapshot {
                    id: id.to_string(),
                    properties: Value::Map(props),
                    attributes: Value::Null,
                };
                self.read(ctx, type_name, &prior).await
            }
            NULL | SLEEP => Ok(Some(Snapshot {
                id: id.to_string(),
                properties: Value::map(),
                attributes: attrs(&[("id", id.into())]),
            })),
            other => Err(unknown_type(other)),
        }
    }

    async fn read_data(
        &self,
        _ctx: &OpContext,
        type_name: &str,
        properties: &Value,
    ) -> ProviderResult<Value> {
        if type_name != FILE {
            return Err(ProviderError::new(format!(
                "{type_name} cannot be used with mode: data"
            )));
        }
        let path = properties.get_str("path").unwrap_or_default();
        let content = std::fs::read_to_string(path).map_err(|e| io_error("read", path, e))?;
        Ok(attrs(&[
            ("sha256", sha256_hex(content.as_bytes()).into()),
            ("content", content.into()),
        ]))
    }
}

fn read_file(path: &str, prior: &Snapshot) -> ProviderResult<Option<Snapshot>> {
    use std::os::unix::fs::PermissionsExt;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path, e)),
    };
    let mode = std::fs::metadata(path)
        .map(|m| format!("{:04o}", m.permissions().mode() & 0o7777))
        .map_err(|e| io_error("stat", path, e))?;
    let mut properties = if prior.properties.is_null() {
        Value::map()
    } else {
        prior.properties.clone()
    };
    properties.set_path("path", path.into());
    properties.set_path(
        "content",
        String::from_utf8_lossy(&bytes).into_owned().into(),
    );
    properties.set_path("mode", mode.into());
    Ok(Some(Snapshot {
        id: path.to_string(),
        properties,
        attributes: attrs(&[("sha256", sha256_hex(&bytes).into())]),
    }))
}

fn unknown_type(type_name: &str) -> ProviderError {
    ProviderError::new(format!(
        "the core provider has no resource type {type_name}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> OpContext {
        OpContext::new("f", "s", "l")
    }

    fn props(pairs: &[(&str, &str)]) -> Value {
        attrs(
            &pairs
                .iter()
                .map(|(k, v)| (*k, Value::from(*v)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn file_lifecycle_and_drift() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        let p = path.to_str().unwrap();
        let core = CoreProvider;
        let snap = core
            .create(&ctx(), FILE, &props(&[("path", p), ("content", "hi")]))
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hi");
        assert_eq!(snap.properties.get_str("mode"), Some("0644"));
        assert_eq!(
            snap.attributes.get_str("sha256"),
            Some(sha256_hex(b"hi").as_str())
        );

        let live = core.read(&ctx(), FILE, &snap).await.unwrap().unwrap();
        assert_eq!(
            live.properties, snap.properties,
            "unchanged file reads back identical"
        );

        std::fs::write(&path, "edited").unwrap();
        let live = core.read(&ctx(), FILE, &snap).await.unwrap().unwrap();
        assert_eq!(live.properties.get_str("content"), Some("edited"));

        core.delete(&ctx(), FILE, &snap).await.unwrap();
        assert!(core.read(&ctx(), FILE, &snap).await.unwrap().is_none());
        // Deleting again is not an error.
        core.delete(&ctx(), FILE, &snap).await.unwrap();
    }

    #[tokio::test]
    async fn file_create_into_unwritable_place_names_the_path() {
        let err = CoreProvider
            .create(&ctx(), FILE, &props(&[("path", "/proc/trustplane/x")]))
            .await
            .unwrap_err();
        assert!(
            err.message.contains("/proc/trustplane/x"),
            "{}",
            err.message
        );
        assert_eq!(err.field.as_deref(), Some("path"));
    }

    #[tokio::test]
    async fn sleep_waits_its_duration() {
        let start = std::time::Instant::now();
        let snap = CoreProvider
            .create(&ctx(), SLEEP, &props(&[("create_duration", "30ms")]))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(snap.attributes.get_str("id"), Some(snap.id.as_str()));
    }

    #[test]
    fn mode_must_be_octal() {
        let diags = CoreProvider.validate(FILE, &props(&[("path", "x"), ("mode", "0x1")]));
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].field.as_deref(), Some("mode"));
        assert!(CoreProvider
            .validate(FILE, &props(&[("path", "x"), ("mode", "0600")]))
            .is_empty());
    }
}
