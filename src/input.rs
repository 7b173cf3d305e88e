//! Files a user names: stacks, variable files, Kubernetes manifests, Helm values files,
//! saved plans and state imports. Each kind has a size limit, checked while reading (so a
//! FIFO or `/dev/zero` is bounded too), and text must be UTF-8: a mistaken or hostile file
//! is refused with its name and the limit instead of exhausting memory. Limits on a
//! document's structure (nesting, aliases) belong to the parser: see `config::yaml`.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

/// What a file is for; each kind has its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Stack,
    VarFile,
    Manifest,
    ValuesFile,
    Plan,
    StateImport,
}

impl InputKind {
    /// The largest file of this kind that is read, in bytes. A 10,000-resource stack is
    /// about 1 MiB; the largest CRD bundles (Istio, cert-manager) are a few MiB.
    pub const fn limit(self) -> u64 {
        match self {
            InputKind::Stack | InputKind::VarFile | InputKind::ValuesFile => 8 * MIB,
            InputKind::Manifest => 16 * MIB,
            InputKind::Plan | InputKind::StateImport => 64 * MIB,
        }
    }

    pub const fn describe(self) -> &'static str {
        match self {
            InputKind::Stack => "stack file",
            InputKind::VarFile => "variable file",
            InputKind::Manifest => "manifest file",
            InputKind::ValuesFile => "values file",
            InputKind::Plan => "plan file",
            InputKind::StateImport => "state file",
        }
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub enum InputError {
    Io {
        kind: InputKind,
        path: PathBuf,
        error: std::io::Error,
    },
    TooLarge {
        kind: InputKind,
        path: PathBuf,
    },
    NotUtf8 {
        kind: InputKind,
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
}

impl InputError {
    /// The next step for the user.
    pub fn help(&self) -> String {
        match self {
            InputError::Io { .. } => "check the path and its permissions".into(),
            InputError::TooLarge { kind, .. } => match kind {
                InputKind::Stack => "split the stack into several stacks".into(),
                InputKind::Manifest => "split the manifest into several k8s.manifest resources".into(),
                _ => format!(
                    "a {} this large is not something trustplane expects; check that the path names the right file",
                    kind.describe()
                ),
            },
            InputError::NotUtf8 { .. } => {
                "save the file as UTF-8 text (not UTF-16, not a binary file)".into()
            }
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            InputError::Io { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::NotUtf8 { path, .. } => path,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Io { kind, path, error } => {
                write!(
                    f,
                    "cannot read {} {}: {error}",
                    kind.describe(),
                    path.display()
                )
            }
            InputError::TooLarge { kind, path } => write!(
                f,
                "{} {} is larger than the limit of {}",
                kind.describe(),
                path.display(),
                human_size(kind.limit())
            ),
            InputError::NotUtf8 { kind, path, offset } => write!(
                f,
                "{} {} is not UTF-8 text (invalid byte at offset {offset})",
                kind.describe(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for InputError {}

fn human_size(bytes: u64) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads at most `kind.limit()` bytes of `path`; a longer file is an error, not a
/// truncation.
pub fn read_limited(path: &Path, kind: InputKind) -> Result<Vec<u8>, InputError> {
    let io = |error| InputError::Io {
        kind,
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let limit = kind.limit();
    // A regular file too large is refused before reading anything.
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(InputError::TooLarge {
            kind,
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            kind,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// [`read_limited`], as UTF-8 text.
pub fn read_text(path: &Path, kind: InputKind) -> Result<String, InputError> {
    let bytes = read_limited(path, kind)?;
    String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        kind,
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let limit = InputKind::VarFile.limit();
        std::fs::write(&path, vec![b'a'; limit as usize + 1]).unwrap();
        let err = read_text(&path, InputKind::VarFile).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "variable file {} is larger than the limit of 8 MiB",
                path.display()
            )
        );
        std::fs::write(&path, vec![b'a'; limit as usize]).unwrap();
        assert_eq!(read_text(&path, InputKind::VarFile).unwrap().len(), 8 << 20);
    }

    #[test]
    fn endless_streams_stop_at_the_limit() {
        let err = read_limited(Path::new("/dev/zero"), InputKind::Stack).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, b"stack: a\xff\n").unwrap();
        let err = read_text(&path, InputKind::Stack).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is not UTF-8 text (invalid byte at offset 8)"),
            "{err}"
        );
        let missing = read_text(&dir.path().join("none"), InputKind::Plan).unwrap_err();
        assert!(
            missing.to_string().starts_with("cannot read plan file "),
            "{missing}"
        );
    }
}
