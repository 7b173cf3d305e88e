//! `core.file`: a local file. A file edited or removed outside trustplane is drift.

use std::path::Path;

use async_trait::async_trait;

use super::{attrs, sha256_hex, CoreProvider, FILE};
use crate::diag::Diagnostic;
use crate::provider::{
    Attribute, OpContext, Property, ProviderError, ProviderResult, ResourceSchema, ResourceType,
    Snapshot, Type,
};
use crate::value::{Map, PropertyPath, Value};

pub struct File;

#[async_trait]
impl ResourceType<CoreProvider> for File {
    fn type_name(&self) -> &'static str {
        FILE
    }

    fn schema(&self) -> ResourceSchema {
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
        }
    }

    /// A file's digest is as secret as its content: kept only as a keyed digest.
    fn secret_attributes(&self, properties: &Value) -> Vec<PropertyPath> {
        if properties.get("content").is_some_and(Value::is_sensitive) {
            vec![PropertyPath::root().key("sha256")]
        } else {
            Vec::new()
        }
    }

    fn validate(&self, properties: &Value) -> Vec<Diagnostic> {
        let mut out = Vec::new();
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
        out
    }

    /// A file is imported by its path.
    fn adopt_id(&self, desired: &Value) -> Option<String> {
        desired.get_str("path").map(str::to_string)
    }

    /// A file is its path, made absolute: `./a` and `a` are the same file.
    fn identity(&self, properties: &Value) -> Option<String> {
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
        _: &CoreProvider,
        _ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        let desired = desired.clone();
        tokio::task::spawn_blocking(move || write_file(&desired))
            .await
            .map_err(|e| ProviderError::new(e.to_string()))?
    }

    async fn read(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
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

    async fn update(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        _prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        write_file(desired)
    }

    async fn delete(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        match std::fs::remove_file(&prior.id) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_error("remove", &prior.id, e))
            }
            _ => Ok(()),
        }
    }

    async fn import(
        &self,
        p: &CoreProvider,
        ctx: &OpContext,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        let mut props = Map::new();
        props.insert("path".into(), id.into());
        let prior = Snapshot {
            id: id.to_string(),
            properties: Value::Map(props),
            attributes: Value::Null,
        };
        self.read(p, ctx, &prior).await
    }

    async fn read_data(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        properties: &Value,
    ) -> ProviderResult<Value> {
        let path = properties.get_str("path").unwrap_or_default();
        let content = std::fs::read_to_string(path).map_err(|e| io_error("read", path, e))?;
        Ok(attrs(&[
            ("sha256", sha256_hex(content.as_bytes()).into()),
            ("content", content.into()),
        ]))
    }
}

fn file_mode(props: &Value) -> String {
    props.get_str("mode").unwrap_or("0644").to_string()
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
