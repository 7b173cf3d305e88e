//! Reading a release where Helm keeps it: one object per revision in the release's
//! namespace, labelled `owner=helm,name=NAME,version=N`, holding the release as JSON,
//! gzipped and base64-encoded (Helm 3 and 4 share this format, `sh.helm.release.v1`).
//!
//! A refresh reads releases here instead of starting `helm status` for each one: a
//! process start, a kubeconfig load and an API discovery per release add up over a
//! fleet, while this is one list request. It reads what `helm status` reads (the last
//! revision), and returns the release JSON `helm status -o json` prints, chart included.
//! Helm's other drivers (`memory`, `sql`) are not in the cluster: those reads go through
//! the helm CLI as before (see [`Driver::from_env`]).

use std::io::Read;

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};
use kube::Client;

use crate::provider::kubernetes::client::{api_error, is_not_found};
use crate::provider::{ProviderError, ProviderResult};

/// Where Helm keeps releases, as `HELM_DRIVER` chooses for every helm process trustplane
/// starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Secrets,
    ConfigMaps,
}

impl Driver {
    /// Helm's choice for `HELM_DRIVER`: secrets when unset or empty; `None` for a driver
    /// that does not keep releases in the cluster.
    pub fn from_env() -> Option<Driver> {
        Self::named(std::env::var("HELM_DRIVER").ok().as_deref().unwrap_or(""))
    }

    fn named(name: &str) -> Option<Driver> {
        match name {
            "" | "secret" | "secrets" => Some(Driver::Secrets),
            "configmap" | "configmaps" => Some(Driver::ConfigMaps),
            _ => None,
        }
    }
}

/// The release JSON of the last revision of `namespace/name`, as `helm status -o json`
/// prints it plus the chart; `None` when no revision exists (the API server's definite
/// answer: an empty list, or the namespace's own 404). Any other failure is an error.
pub async fn last_release(
    client: &Client,
    driver: Driver,
    namespace: &str,
    name: &str,
) -> ProviderResult<Option<String>> {
    let what = format!("read helm release {namespace}/{name}");
    let listed = match driver {
        Driver::Secrets => {
            list::<Secret>(client, namespace, name, |s| {
                let data = s.data.and_then(|mut d| d.remove("release"));
                data.map(|b| b.0).unwrap_or_default()
            })
            .await
        }
        Driver::ConfigMaps => {
            list::<ConfigMap>(client, namespace, name, |c| {
                let data = c.data.and_then(|mut d| d.remove("release"));
                data.unwrap_or_default().into_bytes()
            })
            .await
        }
    };
    let revisions = match listed {
        Ok(revisions) => revisions,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error(&what, e)),
    };
    last_of(revisions, name).map_err(|e| ProviderError::new(format!("cannot {what}: {e}")))
}

/// Each stored revision of release `name`: its `version` label and its `release` data.
async fn list<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    release_data: fn(K) -> Vec<u8>,
) -> Result<Vec<(Option<i64>, Vec<u8>)>, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let selector = ListParams::default().labels(&format!("owner=helm,name={name}"));
    let list = api.list(&selector).await?;
    Ok(list
        .items
        .into_iter()
        .map(|item| {
            (
                label_version(item.meta().labels.as_ref()),
                release_data(item),
            )
        })
        .collect())
}

/// The `version` label, helm's revision number.
fn label_version(labels: Option<&std::collections::BTreeMap<String, String>>) -> Option<i64> {
    labels?.get("version")?.parse().ok()
}

/// The decoded release with the highest revision. Revisions whose label is missing are
/// decoded to find theirs, as helm itself sorts by the decoded version; of the labelled
/// ones only the highest is decoded.
fn last_of(
    mut revisions: Vec<(Option<i64>, Vec<u8>)>,
    name: &str,
) -> Result<Option<String>, String> {
    revisions.sort_by_key(|(v, _)| std::cmp::Reverse(v.unwrap_or(i64::MAX)));
    let mut best: Option<(i64, String)> = None;
    for (label, data) in revisions {
        let (version, json) = match label {
            Some(v) if best.as_ref().is_some_and(|(b, _)| *b >= v) => continue,
            Some(v) => (v, decode(&data)?),
            None => {
                let json = decode(&data)?;
                (version_of(&json)?, json)
            }
        };
        if best.as_ref().is_none_or(|(b, _)| version > *b) {
            best = Some((version, json));
        }
    }
    let Some((_, json)) = best else {
        return Ok(None);
    };
    let stored_name = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_string));
    if stored_name.as_deref() != Some(name) {
        return Err(format!(
            "the object labelled as its last revision holds release {:?}",
            stored_name.unwrap_or_default()
        ));
    }
    Ok(Some(json))
}

fn version_of(json: &str) -> Result<i64, String> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["version"].as_i64())
        .ok_or_else(|| "a stored revision has no version".to_string())
}

/// Helm's encoding: base64 of the gzipped JSON (helm also reads plain JSON under the
/// base64, which releases written before compression hold).
pub fn decode(data: &[u8]) -> Result<String, String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data.trim_ascii())
        .map_err(|e| format!("a stored revision is not base64: {e}"))?;
    if raw.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut json = String::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_string(&mut json)
            .map_err(|e| format!("a stored revision does not unzip: {e}"))?;
        Ok(json)
    } else {
        String::from_utf8(raw).map_err(|_| "a stored revision is not text".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn encode(json: &str, gzip: bool) -> Vec<u8> {
        let raw = if gzip {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(json.as_bytes()).unwrap();
            z.finish().unwrap()
        } else {
            json.as_bytes().to_vec()
        };
        base64::engine::general_purpose::STANDARD
            .encode(raw)
            .into_bytes()
    }

    #[test]
    fn helm_driver_names_as_helm_reads_them() {
        assert_eq!(Driver::named(""), Some(Driver::Secrets));
        assert_eq!(Driver::named("secret"), Some(Driver::Secrets));
        assert_eq!(Driver::named("configmaps"), Some(Driver::ConfigMaps));
        assert_eq!(Driver::named("sql"), None);
        assert_eq!(Driver::named("memory"), None);
    }

    #[test]
    fn decodes_gzipped_and_plain_releases() {
        let json = r#"{"name":"web","version":2}"#;
        assert_eq!(decode(&encode(json, true)).unwrap(), json);
        assert_eq!(decode(&encode(json, false)).unwrap(), json);
        assert!(decode(b"not base64!").unwrap_err().contains("not base64"));
    }

    #[test]
    fn the_highest_revision_wins_by_label_or_by_content() {
        let rev = |v: i64| format!(r#"{{"name":"web","version":{v}}}"#);
        let got = last_of(
            vec![
                (Some(1), b"never decoded".to_vec()),
                (Some(3), encode(&rev(3), true)),
                (None, encode(&rev(4), true)),
                (Some(2), b"never decoded".to_vec()),
            ],
            "web",
        )
        .unwrap();
        assert_eq!(got.as_deref(), Some(rev(4).as_str()));
        let got = last_of(
            vec![
                (Some(2), b"never decoded".to_vec()),
                (Some(10), encode(&rev(10), false)),
            ],
            "web",
        )
        .unwrap();
        assert_eq!(got.as_deref(), Some(rev(10).as_str()));
        assert_eq!(last_of(vec![], "web").unwrap(), None);
    }

    #[test]
    fn a_revision_of_another_release_is_an_error_not_an_answer() {
        let other = r#"{"name":"api","version":1}"#;
        let e = last_of(vec![(Some(1), encode(other, true))], "web").unwrap_err();
        assert!(e.contains("\"api\""), "{e}");
    }
}
