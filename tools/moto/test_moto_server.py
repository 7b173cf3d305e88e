"""Checks that the patched moto server issues a CA hierarchy the way AWS does."""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

LAUNCHER = Path(__file__).with_name("moto_server.py")
TEMPLATE = "arn:aws:acm-pca:::template/{}/V1"
STARTUP_TIMEOUT = 30


def start_launcher(port_file: Path, *extra: str, stdin=None) -> subprocess.Popen:
    # stderr goes to a file: werkzeug logs every request and a full pipe would stall the server.
    log = open(port_file.with_suffix(".log"), "w")
    proc = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--port", "0", "--port-file", str(port_file), *extra],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    log.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not port_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"launcher exited early: {port_file.with_suffix('.log').read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("launcher wrote no port file")
        time.sleep(0.05)
    return proc


def stop_launcher(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    port_file = tmp_path_factory.mktemp("moto") / "port"
    proc = start_launcher(port_file)
    yield f"http://127.0.0.1:{int(port_file.read_text())}"
    stop_launcher(proc)


@pytest.fixture(scope="module")
def pca(endpoint):
    return boto3.client(
        "acm-pca",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def load_all(pem: str | None) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode()) if pem else []


def verify_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raises unless issuer's key signed cert (moto's CA keys are RSA)."""
    issuer.public_key().verify(
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    assert cert.issuer == issuer.subject


def basic_constraints(cert: x509.Certificate) -> x509.Extension:
    return cert.extensions.get_extension_for_class(x509.BasicConstraints)


def create_ca(pca, kind: str, name: str) -> str:
    return pca.create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "RSA_2048",
            "SigningAlgorithm": "SHA256WITHRSA",
            "Subject": {"CommonName": name, "Organization": "trustplane"},
        },
        CertificateAuthorityType=kind,
    )["CertificateAuthorityArn"]


def issue(pca, ca_arn: str, csr: bytes | str, template: str, validity: dict) -> dict:
    cert_arn = pca.issue_certificate(
        CertificateAuthorityArn=ca_arn,
        Csr=csr,
        SigningAlgorithm="SHA256WITHRSA",
        TemplateArn=TEMPLATE.format(template),
        Validity=validity,
    )["CertificateArn"]
    return pca.get_certificate(CertificateAuthorityArn=ca_arn, CertificateArn=cert_arn)


def years_from_now(years: int) -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(year=now.year + years)


def assert_close(actual: datetime.datetime, expected: datetime.datetime) -> None:
    assert abs(actual - expected) < datetime.timedelta(minutes=2), (actual, expected)


def leaf_csr(common_name: str, dns: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def root(pca):
    arn = create_ca(pca, "ROOT", "trustplane root")
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    got = issue(pca, arn, csr, "RootCACertificate", {"Type": "YEARS", "Value": 10})
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=got["Certificate"]
    )
    return arn, got


@pytest.fixture(scope="module")
def sub(pca, root):
    root_arn, root_got = root
    arn = create_ca(pca, "SUBORDINATE", "trustplane intermediate")
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    got = issue(pca, root_arn, csr, "SubordinateCACertificate_PathLen1", {"Type": "YEARS", "Value": 5})
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn,
        Certificate=got["Certificate"],
        CertificateChain=got["CertificateChain"],
    )
    return arn, got


def test_root_is_active_self_signed_ca_without_chain(pca, root):
    arn, got = root
    ca = pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]
    assert ca["Status"] == "ACTIVE"
    cert = load(got["Certificate"])
    verify_signed_by(cert, cert)
    bc = basic_constraints(cert)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    assert_close(cert.not_valid_after_utc, years_from_now(10))
    assert "CertificateChain" not in got  # AWS returns none for the root's own certificate


def test_subordinate_pathlen1_validity_signature_and_chain(pca, root, sub):
    root_cert = load(root[1]["Certificate"])
    arn, got = sub
    ca = pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]
    assert ca["Status"] == "ACTIVE"
    cert = load(got["Certificate"])
    bc = basic_constraints(cert)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and usage.digital_signature
    assert_close(cert.not_valid_after_utc, years_from_now(5))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert cert.not_valid_before_utc < now - datetime.timedelta(minutes=30)
    verify_signed_by(cert, root_cert)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    assert load_all(got["CertificateChain"]) == [root_cert]


def test_ca_certificate_returns_imported_certificate_and_chain(pca, root, sub):
    root_arn, root_got = root
    got = pca.get_certificate_authority_certificate(CertificateAuthorityArn=root_arn)
    assert load(got["Certificate"]) == load(root_got["Certificate"])
    assert not got.get("CertificateChain")
    arn, sub_got = sub
    got = pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
    assert load(got["Certificate"]) == load(sub_got["Certificate"])
    assert load_all(got["CertificateChain"]) == [load(root_got["Certificate"])]


def test_pathlen0_from_subordinate_chains_to_root(pca, root, sub):
    root_cert, sub_cert = load(root[1]["Certificate"]), load(sub[1]["Certificate"])
    arn = create_ca(pca, "SUBORDINATE", "trustplane issuing")
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    got = issue(pca, sub[0], csr, "SubordinateCACertificate_PathLen0", {"Type": "DAYS", "Value": 90})
    cert = load(got["Certificate"])
    bc = basic_constraints(cert)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert_close(
        cert.not_valid_after_utc,
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=90),
    )
    verify_signed_by(cert, sub_cert)
    assert load_all(got["CertificateChain"]) == [sub_cert, root_cert]


def test_end_entity_is_not_a_ca_and_keeps_csr_subject(pca, sub):
    sub_cert = load(sub[1]["Certificate"])
    end = datetime.datetime(2031, 6, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)
    got = issue(
        pca, sub[0], leaf_csr("workload", "svc.mesh.local"), "EndEntityCertificate",
        {"Type": "END_DATE", "Value": int(end.strftime("%Y%m%d%H%M%S"))},
    )
    cert = load(got["Certificate"])
    bc = basic_constraints(cert)
    assert bc.critical and not bc.value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH}
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.mesh.local"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "workload"
    assert cert.not_valid_after_utc == end
    verify_signed_by(cert, sub_cert)
    assert len(load_all(got["CertificateChain"])) == 2


def test_import_rejects_certificate_for_another_key(pca, root):
    arn = create_ca(pca, "SUBORDINATE", "trustplane mismatch")
    other = issue(
        pca, root[0], leaf_csr("other", "other.local"), "EndEntityCertificate",
        {"Type": "DAYS", "Value": 1},
    )
    with pytest.raises(ClientError) as err:
        pca.import_certificate_authority_certificate(
            CertificateAuthorityArn=arn, Certificate=other["Certificate"]
        )
    assert err.value.response["Error"]["Code"] == "CertificateMismatchException"


def test_delete_requires_disable_and_restore_returns_disabled(pca, root):
    arn = create_ca(pca, "ROOT", "trustplane doomed")
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    got = issue(pca, arn, csr, "RootCACertificate", {"Type": "YEARS", "Value": 1})
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=arn, Certificate=got["Certificate"])

    def status():
        return pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]

    with pytest.raises(ClientError) as err:
        pca.delete_certificate_authority(CertificateAuthorityArn=arn)
    assert err.value.response["Error"]["Code"] == "InvalidStateException"

    pca.update_certificate_authority(CertificateAuthorityArn=arn, Status="DISABLED")
    pca.delete_certificate_authority(CertificateAuthorityArn=arn, PermanentDeletionTimeInDays=7)
    ca = status()
    assert ca["Status"] == "DELETED"
    restorable = ca["RestorableUntil"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=6, hours=23) < restorable <= datetime.timedelta(days=7)
    with pytest.raises(ClientError) as err:
        pca.issue_certificate(
            CertificateAuthorityArn=arn, Csr=leaf_csr("x", "x.local"),
            SigningAlgorithm="SHA256WITHRSA", Validity={"Type": "DAYS", "Value": 1},
        )
    assert err.value.response["Error"]["Code"] == "InvalidStateException"

    pca.restore_certificate_authority(CertificateAuthorityArn=arn)
    ca = status()
    assert ca["Status"] == "DISABLED" and "RestorableUntil" not in ca
    with pytest.raises(ClientError):
        pca.restore_certificate_authority(CertificateAuthorityArn=arn)
    pca.update_certificate_authority(CertificateAuthorityArn=arn, Status="ACTIVE")
    assert status()["Status"] == "ACTIVE"


def test_launcher_writes_port_and_exits_cleanly_on_sigterm(tmp_path):
    port_file = tmp_path / "port"
    proc = start_launcher(port_file)
    port = int(port_file.read_text())
    assert 0 < port < 65536
    assert stop_launcher(proc) == 0
    assert proc.stdout.read().strip() == f"moto listening on http://127.0.0.1:{port}"
    assert not os.path.exists(f"{port_file}.tmp{proc.pid}")


def test_launcher_stops_when_its_stdin_closes(tmp_path):
    # What happens when the test process that started it exits without stopping it.
    port_file = tmp_path / "port"
    proc = start_launcher(port_file, "--exit-on-stdin-eof", stdin=subprocess.PIPE)
    time.sleep(1)
    assert proc.poll() is None, "the server runs while its stdin is open"
    proc.stdin.close()
    try:
        assert proc.wait(timeout=15) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _launcher_module():
    sys.path.insert(0, str(LAUNCHER.parent))
    try:
        import moto_server  # importing does not patch moto; only main() does
    finally:
        sys.path.pop(0)
    return moto_server


UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    "validity, now, expected",
    [
        ({"Type": "DAYS", "Value": 90}, datetime.datetime(2026, 1, 1, tzinfo=UTC),
         datetime.datetime(2026, 4, 1, tzinfo=UTC)),
        ({"Type": "MONTHS", "Value": 1}, datetime.datetime(2027, 1, 31, tzinfo=UTC),
         datetime.datetime(2027, 2, 28, tzinfo=UTC)),
        ({"Type": "MONTHS", "Value": 14}, datetime.datetime(2026, 11, 15, tzinfo=UTC),
         datetime.datetime(2028, 1, 15, tzinfo=UTC)),
        ({"Type": "YEARS", "Value": 1}, datetime.datetime(2028, 2, 29, tzinfo=UTC),
         datetime.datetime(2029, 2, 28, tzinfo=UTC)),
        ({"Type": "ABSOLUTE", "Value": 2524608000}, None,
         datetime.datetime(2050, 1, 1, tzinfo=UTC)),
        ({"Type": "END_DATE", "Value": 491231235959}, None,
         datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ({"Type": "END_DATE", "Value": 20310630120000}, None,
         datetime.datetime(2031, 6, 30, 12, tzinfo=UTC)),
    ],
)
def test_validity_types_follow_aws_definitions(validity, now, expected):
    now = now or datetime.datetime.now(UTC)
    assert _launcher_module().validity_time(validity, now) == expected


def test_create_with_a_repeated_idempotency_token_returns_the_first_ca(pca):
    # As AWS: within five minutes, a CreateCertificateAuthority with a token already used
    # answers with the CA that call made, also when the two calls run at the same time.
    from concurrent.futures import ThreadPoolExecutor

    def create(token: str) -> str:
        return pca.create_certificate_authority(
            CertificateAuthorityConfiguration={
                "KeyAlgorithm": "RSA_2048",
                "SigningAlgorithm": "SHA256WITHRSA",
                "Subject": {"CommonName": "Idempotent Root"},
            },
            CertificateAuthorityType="ROOT",
            IdempotencyToken=token,
        )["CertificateAuthorityArn"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        arns = set(pool.map(create, ["same-token"] * 4))
    assert len(arns) == 1
    assert create("same-token") in arns
    assert create("another-token") not in arns
    listed = [
        ca["Arn"]
        for ca in pca.list_certificate_authorities()["CertificateAuthorities"]
        if ca["CertificateAuthorityConfiguration"]["Subject"].get("CommonName") == "Idempotent Root"
    ]
    assert len(listed) == 2


# --- IAM documents as real IAM stores them (--iam-rewrites) -------------------------

sys.path.insert(0, str(LAUNCHER.parent))
import moto_server  # noqa: E402  (the launcher, for its pure rewrite function)

SENT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Condition": {
                "StringEquals": {"x:aud": ["sts.amazonaws.com"], "x:sub": ["a", "b"]},
                "Bool": {"aws:SecureTransport": True},
                "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
            },
            "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Principal": {"Federated": ["arn:aws:iam::123456789012:oidc-provider/x"]},
            "Effect": "Allow",
            "Sid": "Irsa",
        }
    ],
}
STORED_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Irsa",
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/x"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"x:aud": "sts.amazonaws.com", "x:sub": ["a", "b"]},
                "Bool": {"aws:SecureTransport": "true"},
                "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
            },
        }
    ],
}
SENT_POLICY = {
    "Statement": [{"Resource": ["*"], "Action": ["acm-pca:IssueCertificate", "acm-pca:GetCertificate"], "Effect": "Allow"}],
    "Version": "2012-10-17",
}
STORED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["acm-pca:IssueCertificate", "acm-pca:GetCertificate"], "Resource": "*"}],
}


def test_iam_rewrite_collapses_lists_stringifies_conditions_and_orders_keys():
    stored = moto_server.iam_rewrite(json.dumps(SENT_TRUST))
    assert json.loads(stored) == STORED_TRUST
    # Key order is part of what IAM returns: compare the text, not only the parsed value.
    assert stored == json.dumps(STORED_TRUST, separators=(",", ":"))


@pytest.fixture(scope="module")
def iam_rewriting(tmp_path_factory):
    port_file = tmp_path_factory.mktemp("moto-iam") / "port"
    proc = start_launcher(port_file, "--iam-rewrites")
    yield f"http://127.0.0.1:{int(port_file.read_text())}"
    stop_launcher(proc)


def raw_iam(endpoint: str, **params: str) -> str:
    """An IAM Query API call whose XML answer is returned as is (boto3 would decode documents)."""
    body = urllib.parse.urlencode({**params, "Version": "2010-05-08"}).encode()
    request = urllib.request.Request(
        endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request) as r:
        return r.read().decode()


def xml_field(xml: str, tag: str) -> str:
    return xml.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]


def test_iam_documents_come_back_url_encoded_and_rewritten(iam_rewriting):
    iam = boto3.client(
        "iam",
        endpoint_url=iam_rewriting,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    iam.create_role(RoleName="irsa", AssumeRolePolicyDocument=json.dumps(SENT_TRUST))
    arn = iam.create_policy(PolicyName="issue", PolicyDocument=json.dumps(SENT_POLICY))["Policy"]["Arn"]
    iam.put_role_policy(RoleName="irsa", PolicyName="inline", PolicyDocument=json.dumps(SENT_POLICY))

    role = raw_iam(iam_rewriting, Action="GetRole", RoleName="irsa")
    version = raw_iam(iam_rewriting, Action="GetPolicyVersion", PolicyArn=arn, VersionId="v1")
    inline = raw_iam(iam_rewriting, Action="GetRolePolicy", RoleName="irsa", PolicyName="inline")
    for xml, tag, stored in [
        (role, "AssumeRolePolicyDocument", STORED_TRUST),
        (version, "Document", STORED_POLICY),
        (inline, "PolicyDocument", STORED_POLICY),
    ]:
        encoded = xml_field(xml, tag)
        assert encoded.startswith("%7B"), encoded
        assert json.loads(urllib.parse.unquote(encoded)) == stored

    # A new version and a new trust policy are rewritten too.
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(SENT_POLICY), SetAsDefault=True)
    version = raw_iam(iam_rewriting, Action="GetPolicyVersion", PolicyArn=arn, VersionId="v2")
    assert json.loads(urllib.parse.unquote(xml_field(version, "Document"))) == STORED_POLICY
    iam.update_assume_role_policy(RoleName="irsa", PolicyDocument=json.dumps(SENT_TRUST))
    got = iam.get_role(RoleName="irsa")["Role"]["AssumeRolePolicyDocument"]
    assert got == STORED_TRUST  # boto3 decodes the document for its callers


def test_without_the_option_documents_come_back_as_sent(endpoint):
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = iam.create_policy(PolicyName="as-sent", PolicyDocument=json.dumps(SENT_POLICY))["Policy"]["Arn"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == SENT_POLICY


def test_eks_endpoint_sets_what_describe_cluster_reports(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    port_file = tmp_path / "port"
    proc = start_launcher(port_file, "--eks-endpoint", f"prod=https://127.0.0.1:6443={ca}")
    try:
        eks = boto3.client(
            "eks",
            endpoint_url=f"http://127.0.0.1:{int(port_file.read_text())}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for name in ("prod", "other"):
            eks.create_cluster(
                name=name,
                roleArn="arn:aws:iam::123456789012:role/eks",
                resourcesVpcConfig={"subnetIds": ["subnet-1"]},
            )
        prod = eks.describe_cluster(name="prod")["cluster"]
        assert prod["endpoint"] == "https://127.0.0.1:6443"
        assert base64.b64decode(prod["certificateAuthority"]["data"]) == ca.read_bytes()
        other = eks.describe_cluster(name="other")["cluster"]
        assert other["endpoint"] != "https://127.0.0.1:6443"
    finally:
        stop_launcher(proc)


def test_each_eks_cluster_has_its_own_oidc_issuer(tmp_path):
    port_file = tmp_path / "port"
    proc = start_launcher(port_file)
    try:
        eks = boto3.client(
            "eks",
            endpoint_url=f"http://127.0.0.1:{int(port_file.read_text())}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        issuers = set()
        for name in ("east", "west"):
            eks.create_cluster(
                name=name,
                roleArn="arn:aws:iam::123456789012:role/eks",
                resourcesVpcConfig={"subnetIds": ["subnet-1"]},
            )
            issuer = eks.describe_cluster(name=name)["cluster"]["identity"]["oidc"]["issuer"]
            assert issuer.startswith("https://oidc.eks.us-east-1.amazonaws.com/id/"), issuer
            issuers.add(issuer)
        assert len(issuers) == 2
    finally:
        stop_launcher(proc)


def test_eks_endpoint_refuses_a_malformed_spec():
    m = _launcher_module()
    assert m.parse_eks_endpoint("prod=https://h:1=/ca.pem") == ("prod", "https://h:1", "/ca.pem")
    for bad in ("prod", "prod=http://h:1=/ca", "=https://h:1=/ca", "prod=https://h:1="):
        with pytest.raises(Exception):
            m.parse_eks_endpoint(bad)


def test_key_storage_standard_follows_the_region_and_is_described(endpoint):
    # As AWS: the level-3 default is refused where HSMs are level 2 only; the standard
    # given comes back in DescribeCertificateAuthority.
    def client(region):
        return boto3.client(
            "acm-pca",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    config = {
        "KeyAlgorithm": "RSA_2048",
        "SigningAlgorithm": "SHA256WITHRSA",
        "Subject": {"CommonName": "key storage"},
    }
    jakarta = client("ap-southeast-3")
    with pytest.raises(jakarta.exceptions.InvalidArgsException):
        jakarta.create_certificate_authority(
            CertificateAuthorityConfiguration=config, CertificateAuthorityType="ROOT"
        )
    arn = jakarta.create_certificate_authority(
        CertificateAuthorityConfiguration=config,
        CertificateAuthorityType="ROOT",
        KeyStorageSecurityStandard="FIPS_140_2_LEVEL_2_OR_HIGHER",
    )["CertificateAuthorityArn"]
    ca = jakarta.describe_certificate_authority(CertificateAuthorityArn=arn)
    assert ca["CertificateAuthority"]["KeyStorageSecurityStandard"] == "FIPS_140_2_LEVEL_2_OR_HIGHER"
    with pytest.raises(jakarta.exceptions.InvalidArgsException):
        client("us-east-1").create_certificate_authority(
            CertificateAuthorityConfiguration=config,
            CertificateAuthorityType="ROOT",
            KeyStorageSecurityStandard="CCPC_LEVEL_1_OR_HIGHER",
        )


@pytest.fixture(scope="module")
def eks(endpoint):
    return boto3.client(
        "eks",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_cluster(eks, name: str) -> None:
    eks.create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
    )


def test_pod_identity_associations_follow_the_eks_api(eks):
    make_cluster(eks, "pods")
    role = "arn:aws:iam::123456789012:role/issuer"
    created = eks.create_pod_identity_association(
        clusterName="pods", namespace="cert-manager", serviceAccount="aws-pca-issuer", roleArn=role
    )["association"]
    assoc_id = created["associationId"]
    assert assoc_id.startswith("a-") and len(assoc_id) == 19
    assert assoc_id[2:].isalnum() and assoc_id[2:] == assoc_id[2:].lower()
    assert created["associationArn"] == (
        f"arn:aws:eks:us-east-1:123456789012:podidentityassociation/pods/{assoc_id}"
    )
    described = eks.describe_pod_identity_association(clusterName="pods", associationId=assoc_id)
    assert described["association"]["roleArn"] == role

    # One association per (namespace, service account).
    with pytest.raises(ClientError) as taken:
        eks.create_pod_identity_association(
            clusterName="pods", namespace="cert-manager", serviceAccount="aws-pca-issuer",
            roleArn=role,
        )
    assert taken.value.response["Error"]["Code"] == "ResourceInUseException"
    assert assoc_id in taken.value.response["Error"]["Message"]

    other = eks.create_pod_identity_association(
        clusterName="pods", namespace="other", serviceAccount="aws-pca-issuer", roleArn=role
    )["association"]["associationId"]
    listed = eks.list_pod_identity_associations(
        clusterName="pods", namespace="cert-manager", serviceAccount="aws-pca-issuer"
    )["associations"]
    assert [a["associationId"] for a in listed] == [assoc_id]
    assert "roleArn" not in listed[0]
    every = eks.list_pod_identity_associations(clusterName="pods")["associations"]
    assert {a["associationId"] for a in every} == {assoc_id, other}

    # Update changes the role in place.
    updated = eks.update_pod_identity_association(
        clusterName="pods", associationId=assoc_id, roleArn=role + "-2"
    )["association"]
    assert (updated["associationId"], updated["roleArn"]) == (assoc_id, role + "-2")

    eks.delete_pod_identity_association(clusterName="pods", associationId=assoc_id)
    for call in (
        lambda: eks.describe_pod_identity_association(clusterName="pods", associationId=assoc_id),
        lambda: eks.delete_pod_identity_association(clusterName="pods", associationId=assoc_id),
        lambda: eks.update_pod_identity_association(
            clusterName="pods", associationId=assoc_id, roleArn=role
        ),
    ):
        with pytest.raises(ClientError) as gone:
            call()
        assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_pod_identity_needs_an_existing_cluster(eks):
    with pytest.raises(ClientError) as missing:
        eks.create_pod_identity_association(
            clusterName="nowhere", namespace="a", serviceAccount="b",
            roleArn="arn:aws:iam::123456789012:role/r",
        )
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as listed:
        eks.list_pod_identity_associations(clusterName="nowhere")
    assert listed.value.response["Error"]["Code"] == "ResourceNotFoundException"
