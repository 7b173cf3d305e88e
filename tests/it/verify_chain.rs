//! The pure chain checks of `trustplane verify`, on chains minted with rcgen: a good
//! PCA root → subordinate (pathLen 1) → Istio CA (pathLen 0) chain, and each way one can
//! be broken.

use std::collections::BTreeMap;

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair,
    SerialNumber,
};
use trustplane::verify::chain::{normalise_serial, verify, Check, Input, PcaCa, Report};
use trustplane::verify::split_secret;

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn pem(&self) -> String {
        self.cert.pem()
    }
}

struct Spec {
    cn: &'static str,
    ca: IsCa,
    serial: Vec<u8>,
    from: (i32, u8, u8),
    to: (i32, u8, u8),
}

fn spec(cn: &'static str, ca: IsCa, serial: &[u8]) -> Spec {
    Spec {
        cn,
        ca,
        serial: serial.to_vec(),
        from: (2030, 1, 1),
        to: (2040, 1, 1),
    }
}

fn params(s: Spec) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, s.cn);
    p.is_ca = s.ca;
    p.serial_number = Some(SerialNumber::from(s.serial));
    p.not_before = date_time_ymd(s.from.0, s.from.1, s.from.2);
    p.not_after = date_time_ymd(s.to.0, s.to.1, s.to.2);
    p
}

fn root(s: Spec) -> Ca {
    let key = KeyPair::generate().unwrap();
    Ca {
        cert: params(s).self_signed(&key).unwrap(),
        key,
    }
}

fn issue(s: Spec, by: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    Ca {
        cert: params(s).signed_by(&key, &by.cert, &by.key).unwrap(),
        key,
    }
}

fn ca(n: u8) -> IsCa {
    IsCa::Ca(BasicConstraints::Constrained(n))
}

/// 2030-06-01T00:00:00Z.
fn now() -> i64 {
    chrono::NaiveDate::from_ymd_opt(2030, 6, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp()
}

const DAY: i64 = 86_400;

/// The guide's hierarchy: a PCA root, a PCA subordinate with path length 1, and a 90-day
/// Istio CA issued under it.
struct Mesh {
    root: Ca,
    sub: Ca,
    istio: Ca,
}

fn mesh() -> Mesh {
    let root = root(spec(
        "Mesh Root CA",
        IsCa::Ca(BasicConstraints::Unconstrained),
        &[0x3f, 0x01],
    ));
    let sub = issue(
        spec("Mesh Intermediate CA", ca(1), &[0x00, 0xa1, 0xb2]),
        &root,
    );
    let istio = issue(
        Spec {
            from: (2030, 5, 1),
            to: (2030, 7, 30),
            ..spec("istio-ca", ca(0), &[0x12, 0x34])
        },
        &sub,
    );
    Mesh { root, sub, istio }
}

fn pcas(m: &Mesh) -> Vec<PcaCa> {
    vec![
        PcaCa {
            address: "root_ca".into(),
            arn: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/root".into(),
            certificate_pem: m.root.pem(),
            source: "state".into(),
        },
        PcaCa {
            address: "sub_ca".into(),
            arn: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/sub".into(),
            certificate_pem: m.sub.pem(),
            source: "state".into(),
        },
    ]
}

fn run(chain: &str, root: &str, pca: &[PcaCa], now: i64) -> Report {
    verify(&Input {
        chain_pem: chain,
        root_pem: Some(root),
        pca,
        workload_pem: None,
        now,
        renew_before: Some(15 * DAY),
    })
}

fn check<'a>(r: &'a Report, link: usize, name: &str) -> &'a Check {
    r.links[link]
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} on link {link}: {:#?}", r.links[link]))
}

fn failing(r: &Report) -> Vec<(usize, String)> {
    r.links
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.checks
                .iter()
                .filter(|c| c.fails())
                .map(move |c| (i, c.name.clone()))
        })
        .collect()
}

/// tls.crt as aws-privateca-issuer writes it: the issued certificate, then the chain
/// without the root.
fn tls_crt(m: &Mesh) -> String {
    format!("{}{}", m.istio.pem(), m.sub.pem())
}

#[test]
fn the_guides_hierarchy_is_valid_and_matches_the_pca_serials() {
    let m = mesh();
    let r = run(&tls_crt(&m), &m.root.pem(), &pcas(&m), now());
    assert!(r.valid, "{r:#?}");
    assert!(r.errors.is_empty() && r.warnings.is_empty(), "{r:#?}");
    let roles: Vec<&str> = r.links.iter().map(|l| l.role.as_str()).collect();
    assert_eq!(roles, ["istio CA", "intermediate", "root"]);
    assert_eq!(r.links[0].subject_cn, "istio-ca");
    assert_eq!(r.links[0].issuer, "CN=Mesh Intermediate CA");
    assert_eq!(r.links[0].expires_in_days, 59);
    assert_eq!(r.links[0].not_after, "2030-07-30T00:00:00Z");
    assert_eq!(r.links[1].path_len, Some(1));
    assert_eq!(r.links[0].path_len, Some(0));
    for (i, name) in [
        (0, "signature"),
        (0, "issuer_name"),
        (0, "ca"),
        (1, "path_len"),
        (2, "self_signed"),
    ] {
        assert!(check(&r, i, name).ok, "{name}: {:?}", check(&r, i, name));
    }
    // Serial numbers as state records them (hex, no sign byte) and as the guide compares
    // them (decimal, as `bc` prints `openssl x509 -serial`).
    assert_eq!(r.links[1].serial_hex, "a1b2");
    assert_eq!(r.links[1].serial_decimal, "41394");
    assert_eq!(r.links[2].serial_hex, "3f01");
    assert_eq!(r.links[2].serial_decimal, "16129");
    assert_eq!(r.links[1].pca.as_deref(), Some("sub_ca"));
    assert_eq!(r.links[2].pca.as_deref(), Some("root_ca"));
    let sub = r
        .pca_matches
        .iter()
        .find(|p| p.address == "sub_ca")
        .unwrap();
    assert_eq!((sub.link, sub.identical), (Some(1), true));
    assert_eq!(sub.serial_decimal, "41394");
    assert!(check(&r, 1, "pca").detail.contains("a1b2 = 41394"));
    // The renewal 15 days before the Istio CA expires is covered by both PCA CAs.
    assert!(check(&r, 1, "covers_renewal").ok);

    // The same chain with the root repeated at the end of tls.crt reads the same.
    let with_root = format!("{}{}", tls_crt(&m), m.root.pem());
    assert!(run(&with_root, &m.root.pem(), &pcas(&m), now()).valid);
    // JSON has the documented shape.
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["valid"], true);
    assert_eq!(j["links"][1]["serial_decimal"], "41394");
    assert_eq!(j["links"][0]["checks"][0]["name"], "issuer_name");
    assert!(j["links"][0]["checks"][0]["ok"].as_bool().unwrap());
    assert_eq!(j["pca_matches"].as_array().unwrap().len(), 2);
}

#[test]
fn a_signature_by_another_key_is_caught() {
    let m = mesh();
    // Same issuer name, signed by a key that is not the subordinate's.
    let impostor = Ca {
        cert: params(spec("Mesh Intermediate CA", ca(1), &[0x77]))
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap(),
        key: KeyPair::generate().unwrap(),
    };
    let forged = issue(
        Spec {
            from: (2030, 5, 1),
            to: (2030, 7, 30),
            ..spec("istio-ca", ca(0), &[0x12, 0x35])
        },
        &impostor,
    );
    let chain = format!("{}{}", forged.pem(), m.sub.pem());
    let r = run(&chain, &m.root.pem(), &pcas(&m), now());
    assert!(!r.valid);
    assert_eq!(failing(&r), [(0, "signature".to_string())]);
    assert!(check(&r, 0, "signature")
        .detail
        .contains("does not verify with the public key of Mesh Intermediate CA"));
}

#[test]
fn a_wrong_issuer_is_caught() {
    let m = mesh();
    let other = root(spec("Other CA", ca(1), &[0x55]));
    let stray = issue(spec("istio-ca", ca(0), &[0x56]), &other);
    let chain = format!("{}{}", stray.pem(), m.sub.pem());
    let r = run(&chain, &m.root.pem(), &pcas(&m), now());
    assert!(!r.valid);
    let c = check(&r, 0, "issuer_name");
    assert!(!c.ok);
    assert_eq!(
        c.detail,
        "issuer is CN=Other CA, but the next certificate is CN=Mesh Intermediate CA"
    );
    assert!(!check(&r, 0, "signature").ok);

    // A ca.crt that is not the subordinate's issuer: the last link names the mismatch.
    let r = run(&tls_crt(&m), &other.pem(), &pcas(&m), now());
    assert!(!r.valid);
    assert!(!check(&r, 1, "issuer_name").ok);
}

#[test]
fn expired_and_not_yet_valid_certificates_are_caught() {
    let m = mesh();
    let later = now() + 90 * DAY;
    let r = run(&tls_crt(&m), &m.root.pem(), &pcas(&m), later);
    assert!(!r.valid);
    assert_eq!(failing(&r), [(0, "validity".to_string())]);
    let c = check(&r, 0, "validity");
    assert!(
        c.detail.starts_with("expired 2030-07-30T00:00:00Z"),
        "{}",
        c.detail
    );
    assert!(r.links[0].expires_in_days < 0);

    let earlier = now() - 365 * DAY;
    let r = run(&tls_crt(&m), &m.root.pem(), &pcas(&m), earlier);
    assert!(!r.valid);
    assert!(check(&r, 2, "validity")
        .detail
        .starts_with("not valid before"));
}

#[test]
fn a_subordinate_with_path_length_0_cannot_have_the_istio_ca_under_it() {
    let root = root(spec("Mesh Root CA", ca(2), &[0x01]));
    let sub = issue(spec("Mesh Intermediate CA", ca(0), &[0x02]), &root);
    let istio = issue(spec("istio-ca", ca(0), &[0x03]), &sub);
    let chain = format!("{}{}", istio.pem(), sub.pem());
    let r = run(&chain, &root.pem(), &[], now());
    assert!(!r.valid);
    assert_eq!(failing(&r), [(1, "path_len".to_string())]);
    assert!(check(&r, 1, "path_len")
        .detail
        .contains("pathLen 0, but 1 CA(s) are below it"));
    // The root's pathLen 2 allows both CAs below it.
    assert!(check(&r, 2, "path_len").ok);
    // Without PCA CAs in state that is said, not failed.
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("no aws.pca.certificate_authority")));
}

#[test]
fn an_issued_certificate_that_is_not_a_ca_is_caught() {
    let m = mesh();
    let leaf = issue(spec("istio-ca", IsCa::ExplicitNoCa, &[0x42]), &m.sub);
    let chain = format!("{}{}", leaf.pem(), m.sub.pem());
    let r = run(&chain, &m.root.pem(), &pcas(&m), now());
    assert!(!r.valid);
    assert_eq!(failing(&r), [(0, "ca".to_string())]);
    assert!(check(&r, 0, "ca").detail.contains("isCA: true"));
    assert!(!r.links[0].is_ca);

    // An issuer without CA:TRUE.
    let not_ca = issue(spec("Mesh Intermediate CA", IsCa::NoCa, &[0x43]), &m.root);
    let istio = issue(spec("istio-ca", ca(0), &[0x44]), &not_ca);
    let chain = format!("{}{}", istio.pem(), not_ca.pem());
    let r = run(&chain, &m.root.pem(), &[], now());
    assert!(!check(&r, 1, "ca").ok);
}

#[test]
fn pca_serials_must_be_the_chains_and_the_certificates_identical() {
    let m = mesh();
    // Another subordinate of the root with the same serial: the serial matches, the
    // certificate does not.
    let twin = issue(spec("Mesh Intermediate CA", ca(1), &[0xa1, 0xb2]), &m.root);
    let mut p = pcas(&m);
    p[1].certificate_pem = twin.pem();
    let r = run(&tls_crt(&m), &m.root.pem(), &p, now());
    assert!(!r.valid);
    assert!(check(&r, 1, "pca")
        .detail
        .contains("has the serial of PCA CA sub_ca but is not its certificate"));
    let sub = r
        .pca_matches
        .iter()
        .find(|x| x.address == "sub_ca")
        .unwrap();
    assert_eq!((sub.link, sub.identical), (Some(1), false));

    // The issuer of the Istio CA is no PCA CA in state at all.
    let r = run(&tls_crt(&m), &m.root.pem(), &p[..1], now());
    assert!(!r.valid);
    assert!(check(&r, 1, "pca")
        .detail
        .contains("serial a1b2 matches no PCA CA"));
    assert!(check(&r, 2, "pca").ok);

    // Serial spellings: openssl's upper-case, colons, a sign byte, 0x.
    assert_eq!(normalise_serial("00A1B2"), "a1b2");
    assert_eq!(normalise_serial("a1:b2"), "a1b2");
    assert_eq!(normalise_serial("0xA1B2"), "a1b2");
    assert_eq!(normalise_serial("1b2"), "01b2");
}

#[test]
fn renewal_after_an_issuer_expires_is_a_warning() {
    let root = root(spec(
        "Mesh Root CA",
        IsCa::Ca(BasicConstraints::Unconstrained),
        &[0x01],
    ));
    let sub = issue(
        Spec {
            to: (2030, 7, 1),
            ..spec("Mesh Intermediate CA", ca(1), &[0x02])
        },
        &root,
    );
    let istio = issue(
        Spec {
            from: (2030, 5, 1),
            to: (2030, 7, 30),
            ..spec("istio-ca", ca(0), &[0x03])
        },
        &sub,
    );
    let chain = format!("{}{}", istio.pem(), sub.pem());
    let r = run(&chain, &root.pem(), &[], now());
    assert!(r.valid, "a warning does not fail the chain: {r:#?}");
    let c = check(&r, 1, "covers_renewal");
    assert!(!c.ok);
    assert_eq!(c.severity, "warning");
    assert!(
        c.detail
            .contains("before the next renewal of the issued certificate at 2030-07-15T00:00:00Z"),
        "{}",
        c.detail
    );
}

fn workload_of(istio: &Ca, cn: &'static str) -> Ca {
    issue(
        Spec {
            from: (2030, 5, 31),
            to: (2030, 6, 2),
            ..spec(cn, IsCa::ExplicitNoCa, &[0x99])
        },
        istio,
    )
}

#[test]
fn a_workload_chain_of_five_with_the_root_repeated() {
    let m = mesh();
    let leaf = workload_of(&m.istio, "productpage");
    // What `istioctl proxy-config secret` prints: leaf, Istio CA, subordinate, root, root.
    let five = format!(
        "{}{}{}{}{}",
        leaf.pem(),
        m.istio.pem(),
        m.sub.pem(),
        m.root.pem(),
        m.root.pem()
    );
    let input = |w: &str| {
        verify(&Input {
            chain_pem: &tls_crt(&m),
            root_pem: Some(&m.root.pem()),
            pca: &pcas(&m),
            workload_pem: Some(w),
            now: now(),
            renew_before: Some(15 * DAY),
        })
    };
    let r = input(&five);
    let w = r.workload.as_ref().unwrap();
    assert!(r.valid && w.valid, "{w:#?}");
    assert!(w.duplicate_root);
    let roles: Vec<&str> = w.links.iter().map(|l| l.role.as_str()).collect();
    assert_eq!(roles, ["workload", "istio CA", "intermediate", "root"]);
    assert!(w.checks.iter().all(|c| c.ok), "{:?}", w.checks);
    assert!(w.checks[0]
        .detail
        .starts_with("5 certificates, the last a copy of the root"));
    // The leaf is not a CA and needs not be.
    assert!(w.links[0].checks.iter().all(|c| c.name != "ca"));

    // A workload still signed by an older Istio CA (istiod not restarted).
    let old = issue(spec("istio-ca", ca(0), &[0x11]), &m.sub);
    let stale = workload_of(&old, "productpage");
    let chain = format!(
        "{}{}{}{}{}",
        stale.pem(),
        old.pem(),
        m.sub.pem(),
        m.root.pem(),
        m.root.pem()
    );
    let r = input(&chain);
    assert!(!r.valid);
    let w = r.workload.as_ref().unwrap();
    let c = w.checks.iter().find(|c| c.name == "istio_ca").unwrap();
    assert!(!c.ok && c.detail.contains("restart istiod"), "{c:?}");
    assert!(w.checks.iter().find(|c| c.name == "same_root").unwrap().ok);

    // A workload of another mesh: another root.
    let other = mesh();
    let foreign = workload_of(&other.istio, "productpage");
    let chain = format!(
        "{}{}{}{}",
        foreign.pem(),
        other.istio.pem(),
        other.sub.pem(),
        other.root.pem()
    );
    let r = input(&chain);
    let w = r.workload.as_ref().unwrap();
    assert!(!w.duplicate_root);
    assert!(!w.checks.iter().find(|c| c.name == "same_root").unwrap().ok);
}

#[test]
fn unreadable_pem_and_missing_root_are_errors() {
    let m = mesh();
    let r = run(
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        &m.root.pem(),
        &[],
        now(),
    );
    assert!(!r.valid && !r.errors.is_empty(), "{r:#?}");
    let r = run("", &m.root.pem(), &[], now());
    assert_eq!(r.errors, ["the secret holds no certificate"]);
    // No ca.crt: the chain ends at the subordinate, which is not self-signed.
    let r = verify(&Input {
        chain_pem: &tls_crt(&m),
        root_pem: None,
        pca: &[],
        workload_pem: None,
        now: now(),
        renew_before: None,
    });
    assert!(!r.valid);
    assert!(check(&r, 1, "self_signed")
        .detail
        .contains("the root is missing"));
}

#[test]
fn secret_layouts_of_cert_manager_and_istio() {
    let m = mesh();
    let mut cm = BTreeMap::new();
    cm.insert("tls.crt".to_string(), tls_crt(&m).into_bytes());
    cm.insert("ca.crt".to_string(), m.root.pem().into_bytes());
    cm.insert("tls.key".to_string(), b"key".to_vec());
    let (layout, chain, root) = split_secret(&cm).unwrap();
    assert_eq!(layout, "cert-manager");
    assert!(run(&chain, root.as_deref().unwrap(), &pcas(&m), now()).valid);

    // Istio's plug-in CA files: cert-chain.pem repeats ca-cert.pem and carries the root.
    let mut istio = BTreeMap::new();
    istio.insert("ca-cert.pem".to_string(), m.istio.pem().into_bytes());
    istio.insert("ca-key.pem".to_string(), b"key".to_vec());
    istio.insert(
        "cert-chain.pem".to_string(),
        format!("{}{}{}", m.istio.pem(), m.sub.pem(), m.root.pem()).into_bytes(),
    );
    istio.insert("root-cert.pem".to_string(), m.root.pem().into_bytes());
    let (layout, chain, root) = split_secret(&istio).unwrap();
    assert_eq!(layout, "istio");
    let r = run(&chain, root.as_deref().unwrap(), &pcas(&m), now());
    assert!(r.valid, "{r:#?}");
    assert_eq!(r.links.len(), 3);

    let mut other = BTreeMap::new();
    other.insert("password".to_string(), b"x".to_vec());
    let layout = split_secret(&other).unwrap_err();
    assert_eq!(layout.keys, ["password"]);
    assert_eq!(layout.to_string(), "password");
}
