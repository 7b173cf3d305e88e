//! Private chart repositories: credentials reach helm in a repositories file only the
//! user can read (helm's `--repository-config`), never on its command line, where any
//! local user could read them from the process list.

use std::path::{Path, PathBuf};

use super::cli::PrivateFile;
use crate::input::InputKind;
use crate::value::{Map, Value};

use super::super::{ProviderError, ProviderResult};

/// The name the repository gets in the temporary repositories file; charts are then
/// referenced as `trustplane-private/CHART`.
pub const REPO_NAME: &str = "trustplane-private";

/// A username and password for an HTTP(S) chart repository.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"(sensitive)")
            .finish()
    }
}

/// The credentials a release sets: `username` and `password`, or a `credentials_file`
/// holding both (a YAML map). None when the repository is public.
pub fn credentials(p: &Value) -> ProviderResult<Option<Credentials>> {
    let s = |k: &str| p.get_str(k).filter(|s| !s.is_empty()).map(str::to_string);
    let (user, pass, file) = (s("username"), s("password"), s("credentials_file"));
    if let Some(path) = file {
        if user.is_some() || pass.is_some() {
            return Err(ProviderError::new(
                "credentials_file cannot be combined with username or password",
            )
            .with_field("credentials_file")
            .with_help("set either credentials_file or username and password"));
        }
        return read_credentials_file(&path).map(Some);
    }
    match (user, pass) {
        (None, None) => Ok(None),
        (Some(username), Some(password)) => Ok(Some(Credentials { username, password })),
        (Some(_), None) => Err(ProviderError::new("username is set without a password")
            .with_field("password")
            .with_help("set password (a sensitive variable) or use credentials_file")),
        (None, Some(_)) => Err(ProviderError::new("password is set without a username")
            .with_field("username")
            .with_help("set username, or use credentials_file")),
    }
}

fn read_credentials_file(path: &str) -> ProviderResult<Credentials> {
    let field = "credentials_file";
    let text = crate::input::read_text(Path::new(path), InputKind::ValuesFile).map_err(|e| {
        ProviderError::new(e.to_string())
            .with_help(e.help())
            .with_field(field)
    })?;
    let v = crate::config::yaml::parse_plain(&text).map_err(|e| {
        ProviderError::new(format!("credentials file {path} is not valid YAML: {e}"))
            .with_field(field)
    })?;
    let get = |k: &str| v.get_str(k).filter(|s| !s.is_empty()).map(str::to_string);
    match (get("username"), get("password")) {
        (Some(username), Some(password)) => Ok(Credentials { username, password }),
        _ => Err(ProviderError::new(format!(
            "credentials file {path} does not hold both username and password"
        ))
        .with_field(field)
        .with_help("write a YAML map: `username: NAME` and `password: SECRET`")),
    }
}

/// The repositories file (0600) and an empty repository cache for one helm run; both
/// are removed when dropped.
pub struct PrivateRepository {
    config: PrivateFile,
    cache: PathBuf,
}

impl PrivateRepository {
    pub fn write(url: &str, creds: &Credentials) -> ProviderResult<PrivateRepository> {
        let config = PrivateFile::write("repositories", &repositories_file(url, creds))?;
        use std::os::unix::fs::DirBuilderExt;
        let cache = std::env::temp_dir().join(format!(
            "trustplane-helm-cache-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&cache)
            .map_err(|e| {
                ProviderError::new(format!(
                    "cannot create a helm cache {}: {e}",
                    cache.display()
                ))
            })?;
        Ok(PrivateRepository { config, cache })
    }

    pub fn files(&self) -> RepoFiles {
        RepoFiles {
            config: self.config.path().to_path_buf(),
            cache: self.cache.clone(),
        }
    }
}

impl Drop for PrivateRepository {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}

/// Where helm finds the private repository: its repositories file and cache.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoFiles {
    pub config: PathBuf,
    pub cache: PathBuf,
}

impl RepoFiles {
    /// `--repository-config FILE --repository-cache DIR`.
    pub fn flags(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--repository-config".into(),
            self.config.as_os_str().to_owned(),
            "--repository-cache".into(),
            self.cache.as_os_str().to_owned(),
        ]
    }

    /// `helm repo update trustplane-private ...`: fetches the index with the credentials,
    /// which `upgrade` and `template` then read from the cache.
    pub fn update_args(&self) -> Vec<std::ffi::OsString> {
        let mut out: Vec<std::ffi::OsString> =
            vec!["repo".into(), "update".into(), REPO_NAME.into()];
        out.extend(self.flags());
        out
    }
}

/// helm's repositories.yaml (JSON is YAML) with the one private repository.
fn repositories_file(url: &str, creds: &Credentials) -> Vec<u8> {
    let mut repo = Map::new();
    repo.insert("name".into(), REPO_NAME.into());
    repo.insert("url".into(), url.into());
    repo.insert("username".into(), creds.username.clone().into());
    repo.insert("password".into(), creds.password.clone().into());
    let mut file = Map::new();
    file.insert("apiVersion".into(), "v1".into());
    file.insert("repositories".into(), Value::List(vec![Value::Map(repo)]));
    serde_json::to_vec(&Value::Map(file)).expect("repositories file serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn credentials_come_from_properties_or_a_file() {
        assert_eq!(credentials(&props(r#"{"chart":"c"}"#)).unwrap(), None);
        let c = credentials(&props(r#"{"username":"ci","password":"s3cret"}"#))
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("ci", "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = credentials(&props(r#"{"username":"ci"}"#)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("password"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds.yaml");
        std::fs::write(&file, "username: ci\npassword: from-file\n").unwrap();
        let p = Value::from_json(serde_json::json!({"credentials_file": file}));
        let c = credentials(&p).unwrap().unwrap();
        assert_eq!(c.password, "from-file");
        let p = Value::from_json(serde_json::json!({"credentials_file": file, "username": "x"}));
        assert_eq!(
            credentials(&p).unwrap_err().field.as_deref(),
            Some("credentials_file")
        );
        std::fs::write(&file, "username: ci\n").unwrap();
        let p = Value::from_json(serde_json::json!({"credentials_file": file}));
        assert!(credentials(&p).is_err());
    }

    #[test]
    fn the_repositories_file_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let creds = Credentials {
            username: "ci".into(),
            password: "s3cret".into(),
        };
        let repo = PrivateRepository::write("https://charts.example.com", &creds).unwrap();
        let files = repo.files();
        let mode = std::fs::metadata(&files.config)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&files.config).unwrap()).unwrap();
        assert_eq!(
            written["repositories"][0],
            serde_json::json!({"name": REPO_NAME, "url": "https://charts.example.com",
                               "username": "ci", "password": "s3cret"})
        );
        assert!(files.cache.is_dir());
        drop(repo);
        assert!(!files.config.exists());
        assert!(!files.cache.exists());
    }
}
