//! The certificates to trust for AWS endpoints in place of the system's, taken as the AWS
//! CLI takes them: AWS_CA_BUNDLE, else the `ca_bundle` of the selected profile. A network
//! that inspects TLS re-signs AWS's certificates with a CA of its own, which only such a
//! bundle names; the Rust SDK reads neither setting, so without this module trustplane
//! failed there where the AWS CLI works.

use std::borrow::Cow;
use std::path::PathBuf;

use aws_types::os_shim_internal::{Env, Fs};

use crate::provider::{ProviderError, ProviderResult};

/// A PEM file of CA certificates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CaBundle {
    pub path: PathBuf,
    pub pem: Vec<u8>,
}

/// The bundle in effect for `profile` (None: AWS_PROFILE, then `default`), if any.
/// A bundle that is set but cannot be read is an error, never the system's roots.
pub(crate) async fn selected(profile: Option<&str>) -> ProviderResult<Option<CaBundle>> {
    let from_env = std::env::var("AWS_CA_BUNDLE")
        .ok()
        .filter(|p| !p.trim().is_empty());
    let (path, setting) = match from_env {
        Some(path) => (path, "AWS_CA_BUNDLE".to_string()),
        None => match profile_ca_bundle(profile).await {
            Some((path, name)) => (path, format!("the ca_bundle of AWS profile {name}")),
            None => return Ok(None),
        },
    };
    let path = PathBuf::from(path);
    let unusable = |why: String| {
        ProviderError::new(format!(
            "cannot use the CA bundle {} ({setting}): {why}",
            path.display()
        ))
        .with_help(format!(
            "point {setting} at a PEM file of the CA certificates to trust for AWS, or unset it"
        ))
    };
    let pem = std::fs::read(&path).map_err(|e| unusable(e.to_string()))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(unusable("it holds no PEM certificate".into()));
    }
    Ok(Some(CaBundle { path, pem }))
}

/// The selected profile's `ca_bundle` and the profile's name. Profile files that cannot be
/// read give none here: loading the configuration reports them.
async fn profile_ca_bundle(profile: Option<&str>) -> Option<(String, String)> {
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        // The default files: ~/.aws/config and credentials, or AWS_CONFIG_FILE and
        // AWS_SHARED_CREDENTIALS_FILE.
        &Default::default(),
        profile.map(|p| Cow::Owned(p.to_string())),
    )
    .await
    .ok()?;
    let path = profiles.get("ca_bundle")?.trim().to_string();
    (!path.is_empty()).then(|| (path, profiles.selected_profile().to_string()))
}
