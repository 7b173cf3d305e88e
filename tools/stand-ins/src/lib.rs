//! One launcher per stand-in, for every test that needs one: moto's server for AWS
//! ([`Moto`]), the Kubernetes API emulator ([`Emulator`]) and the Helm engine ([`helm`]);
//! and a [`LatencyProxy`] that puts a network round trip in front of one.
//! Each server binds port 0 itself and reports the port it got, so two tests never race
//! for a port; each stops when dropped.

mod emulator;
mod latency;
mod moto;

pub use emulator::{Emulator, CERT_MANAGER_PCA_CRDS};
pub use latency::LatencyProxy;
pub use moto::Moto;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root (this crate lives in tools/stand-ins).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/stand-ins lies two levels below the repository's root")
}

/// The AWS CLI of the project's venv (`make venv`): an independent signer for the tests of
/// EKS tokens, installed by `make venv` so that no test depends on what a machine has.
pub fn venv_aws() -> PathBuf {
    let aws = repo_root().join(".venv/bin/aws");
    assert!(
        aws.exists(),
        "{} does not exist: run `make venv` (bash tools/venv/setup-venv.sh)",
        aws.display()
    );
    aws
}

/// The python of the project's venv (`make venv`), or `MOTO_PYTHON`.
pub fn venv_python() -> PathBuf {
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} does not exist: run `make venv` (bash tools/venv/setup-venv.sh), or set MOTO_PYTHON",
        python.display()
    );
    python
}

/// tools/helm/helm: helm's command line over the real Helm v4 engine, after checking
/// that the venv it runs in has that engine.
pub fn helm() -> PathBuf {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let python = venv_python();
        let ok = Command::new(&python)
            .args(["-c", "import helm_python, yaml"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "{} cannot import helm_python and yaml: run `make venv` (bash tools/venv/setup-venv.sh)",
            python.display()
        );
    });
    repo_root().join("tools/helm/helm")
}
