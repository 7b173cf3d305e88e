//! The emulator as a library: served from a thread of the test process, stopped on drop.

use std::process::Command;

#[test]
fn serves_in_process_until_dropped() {
    let running = kube_emulator::Running::start("127.0.0.1:0", None).unwrap();
    let addr = running.addr();
    assert_ne!(addr.port(), 0, "the bound port is reported");
    assert!(running.kubeconfig().contains(&running.url()));

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, running.kubeconfig()).unwrap();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );

    drop(running);
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}
