//! The built-in `core` provider, for examples, tests and benchmarks:
//! - `core.null`: does nothing; a change of `triggers` replaces it (Terraform's null_resource);
//! - `core.sleep`: waits on create and destroy (Terraform's time_sleep);
//! - `core.file`: a local file (Terraform's local_file). A file edited or removed outside
//!   trustplane is drift, which exercises the drift path with no cloud.

mod file;
mod null;
mod sleep;

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Property, ResourceType, Type, TypedProvider};
use crate::value::Value;

/// The `core` provider; it takes no settings and holds no state.
#[derive(Debug, Default)]
pub struct CoreProvider;

const NULL: &str = "core.null";
const SLEEP: &str = "core.sleep";
const FILE: &str = "core.file";

/// Every `core` type, in the order `schemas` lists them.
static TYPES: &[&dyn ResourceType<CoreProvider>] = &[&null::Null, &sleep::Sleep, &file::File];

impl TypedProvider for CoreProvider {
    fn name(&self) -> &'static str {
        "core"
    }

    fn types(&self) -> &'static [&'static dyn ResourceType<Self>] {
        TYPES
    }

    fn settings(&self) -> Vec<Property> {
        Vec::new()
    }
}

pub(super) fn triggers() -> Property {
    Property::new("triggers", Type::Map(Box::new(Type::String)))
        .force_new()
        .describe("Arbitrary strings; any change replaces the resource.")
}

pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(super) fn attrs(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

pub(super) fn duration_prop(props: &Value, name: &str) -> Duration {
    props
        .get_str(name)
        .and_then(|s| crate::duration::parse(s).ok())
        .unwrap_or_default()
}

/// Waits `d` accurately. tokio's timer rounds every deadline up to the next millisecond
/// tick (a 20 ms sleep takes about 21 ms), so the last stretch is slept on a blocking
/// thread, which the OS wakes on time.
pub(super) async fn precise_sleep(d: Duration) {
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

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{OpContext, Provider};

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
