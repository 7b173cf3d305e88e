#!/usr/bin/env python3
"""Runs moto's server with ACM PCA patched to issue certificates like AWS does.

The AWS provider is tested against moto, never real AWS. moto's ACM PCA
(pinned: moto 5.2.5, see tools/venv/requirements.txt) issues certificates that a real CA
hierarchy would reject, so this launcher patches its classes at import time
(no edits to moto's files). Each patch below names the gap it fills.

With --iam-rewrites (or MOTO_IAM_REWRITES=1) IAM stores and returns policy
documents the way real IAM does (see iam_rewrite), so that a comparison that only
works on documents returned as sent fails here as it would against AWS.

Usage: moto_server.py [--host 127.0.0.1] [--port 0] [--port-file PATH] [--iam-rewrites]
                      [--exit-on-stdin-eof]
EKS Pod Identity associations, which moto lacks, are served as the EKS API does them.
Port 0 lets the server bind a free port itself. Once it accepts connections it
prints "moto listening on http://HOST:PORT" and, with --port-file, writes the
bound port there. Runs until SIGTERM/SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import copy
import datetime
import inspect
import json
import os
import re
import signal
import socket
import sys
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from moto.acmpca import models as pca_models
from moto.acmpca import responses as pca_responses
from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time
from moto.iam.models import IAMBackend
from urllib import parse as urlparse
from moto.server import ThreadedMotoServer

CertificateAuthority = pca_models.CertificateAuthority
ACMPCABackend = pca_models.ACMPCABackend
ACMPCAResponse = pca_responses.ACMPCAResponse

ROOT_TEMPLATE = "RootCACertificate/"
# AWS backdates notBefore by 60 minutes to absorb clock skew between systems.
NOT_BEFORE_SKEW = datetime.timedelta(minutes=60)
# moto's own default lifetime, kept for requests without Validity.
DEFAULT_LIFETIME = datetime.timedelta(days=365)
DEFAULT_RESTORE_DAYS = 30


class InvalidState(JsonRESTError):
    code = 400

    def __init__(self, arn: str, detail: str):
        super().__init__(
            "InvalidStateException",
            f"The certificate authority {arn} is not in the correct state: {detail}",
        )


class CertificateMismatch(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__(
            "CertificateMismatchException",
            "The certificate does not match the certificate authority's key.",
        )


class InvalidArgs(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidArgsException", message)


# --- helpers --------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _add_months(when: datetime.datetime, months: int) -> datetime.datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def validity_time(validity: dict[str, Any], now: datetime.datetime) -> datetime.datetime:
    """Interprets an ACM PCA Validity structure as AWS documents it."""
    kind, value = validity.get("Type"), int(validity.get("Value", 0))
    if kind == "DAYS":
        return now + datetime.timedelta(days=value)
    if kind == "MONTHS":
        return _add_months(now, value)
    if kind == "YEARS":
        return _add_months(now, 12 * value)
    if kind == "ABSOLUTE":
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    if kind == "END_DATE":
        text = str(value)
        if len(text) == 12:  # UTCTime YYMMDDHHMMSS: YY >= 50 means 19YY
            text = ("19" if int(text[:2]) >= 50 else "20") + text
        if len(text) != 14:
            raise InvalidArgs(f"END_DATE value {value} is not YYMMDDHHMMSS or YYYYMMDDHHMMSS")
        return datetime.datetime.strptime(text, "%Y%m%d%H%M%S").replace(
            tzinfo=datetime.timezone.utc
        )
    raise InvalidArgs(f"unsupported Validity Type {kind!r}")


def _pem_certs(data: bytes | str | None) -> list[bytes]:
    """Splits a PEM bundle into certificates; accepts the base64 blob moto stores."""
    if not data:
        return []
    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN" not in raw:
        raw = base64.b64decode(raw)
    certs = x509.load_pem_x509_certificates(raw)
    return [c.public_bytes(serialization.Encoding.PEM) for c in certs]


def _hash_for(signing_algorithm: str | None) -> hashes.HashAlgorithm:
    algo = (signing_algorithm or "SHA256WITHRSA").upper()
    if algo.startswith("SHA512"):
        return hashes.SHA512()
    if algo.startswith("SHA384"):
        return hashes.SHA384()
    return hashes.SHA256()


_PATHLEN = re.compile(r"SubordinateCACertificate_PathLen(\d+)")
_KU_NONE = dict(
    content_commitment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def template_extensions(
    template_arn: str | None, csr: x509.CertificateSigningRequest, issuer_key: Any
) -> list[tuple[x509.ExtensionType, bool]]:
    """Extensions of AWS's certificate templates (root, subordinate PathLenN, end entity)."""
    template = template_arn or "EndEntityCertificate/V1"
    ski = (x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
    aki = (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), False)
    ca_usage = x509.KeyUsage(
        digital_signature=True, key_cert_sign=True, crl_sign=True,
        key_encipherment=False, **_KU_NONE,
    )
    if ROOT_TEMPLATE in template:
        return [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (ca_usage, True),
            ski,
        ]
    sub = _PATHLEN.search(template)
    if sub:
        return [
            (x509.BasicConstraints(ca=True, path_length=int(sub.group(1))), True),
            (ca_usage, True),
            ski,
            aki,
        ]
    if "EndEntityClientAuth" in template:
        usages = [x509.ExtendedKeyUsageOID.CLIENT_AUTH]
    elif "EndEntityServerAuth" in template:
        usages = [x509.ExtendedKeyUsageOID.SERVER_AUTH]
    else:
        usages = [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True,
                key_cert_sign=False, crl_sign=False, **_KU_NONE,
            ),
            True,
        ),
        (x509.ExtendedKeyUsage(usages), False),
        ski,
        aki,
    ]
    try:  # AWS copies the CSR's subjectAltName into end-entity certificates
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        extensions.append((san.value, san.critical))
    except x509.ExtensionNotFound:
        pass
    return extensions


# --- patches (moto 5.2.5) ---------------------------------------------------


def _ca_issue_certificate(
    self: Any,
    csr_bytes: bytes,
    template_arn: str | None,
    validity: dict[str, Any] | None = None,
    validity_not_before: dict[str, Any] | None = None,
    signing_algorithm: str | None = None,
) -> str:
    # Gap: moto 5.2.5 ignores subordinate templates (no basicConstraints/pathLen),
    # ignores Validity (always 365 days), and records only the issuing CA's own
    # certificate as chain. This issues as AWS does: template extensions,
    # requested validity, issuer = the CA certificate's subject, full chain.
    csr = x509.load_pem_x509_csr(base64.b64decode(csr_bytes))
    is_root = ROOT_TEMPLATE in (template_arn or "")
    now = _now()
    not_before = (
        validity_time(validity_not_before, now) if validity_not_before else now - NOT_BEFORE_SKEW
    )
    not_after = validity_time(validity, now) if validity else now + DEFAULT_LIFETIME
    if not_after <= not_before:
        raise InvalidArgs("Validity ends before it starts")
    ca_cert = self.certificate
    issuer = csr.subject if is_root else (ca_cert.subject if ca_cert else self.issuer)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in template_extensions(template_arn, csr, self.key.public_key()):
        builder = builder.add_extension(extension, critical)
    cert = builder.sign(self.key, _hash_for(signing_algorithm))

    cert_id = str(pca_models.mock_random.uuid4()).replace("-", "")
    cert_arn = f"{self.arn}/certificate/{cert_id}"
    self.issued_certificates[cert_arn] = cert.public_bytes(serialization.Encoding.PEM)
    # AWS returns no chain for a root's self-issued certificate; otherwise the
    # issuing CA's certificate followed by that CA's own chain, up to the root.
    if not is_root and self.certificate_bytes:
        chain = _pem_certs(self.certificate_bytes) + _pem_certs(self.certificate_chain)
        self.issued_certificates_certificate_chains[cert_arn] = b"".join(chain)
    return cert_arn


def _backend_issue_certificate(
    self: Any,
    certificate_authority_arn: str,
    csr: bytes,
    template_arn: str | None,
    validity: dict[str, Any] | None = None,
    validity_not_before: dict[str, Any] | None = None,
    signing_algorithm: str | None = None,
) -> str:
    # Gap: moto 5.2.5 issues from a CA in any state. AWS issues only from an
    # ACTIVE CA, or a PENDING_CERTIFICATE one signing its own root certificate.
    ca = self.describe_certificate_authority(certificate_authority_arn)
    pending_root = ca.status == "PENDING_CERTIFICATE" and ROOT_TEMPLATE in (template_arn or "")
    if ca.status != "ACTIVE" and not pending_root:
        raise InvalidState(certificate_authority_arn, f"cannot issue while {ca.status}")
    return ca.issue_certificate(csr, template_arn, validity, validity_not_before, signing_algorithm)


def _response_issue_certificate(self: Any) -> str:
    # Gap: moto 5.2.5 drops Validity, ValidityNotBefore and SigningAlgorithm.
    params = json.loads(self.body)
    arn = self.acmpca_backend.issue_certificate(
        certificate_authority_arn=params.get("CertificateAuthorityArn"),
        csr=params.get("Csr").encode("utf-8"),
        template_arn=params.get("TemplateArn"),
        validity=params.get("Validity"),
        validity_not_before=params.get("ValidityNotBefore"),
        signing_algorithm=params.get("SigningAlgorithm"),
    )
    return json.dumps({"CertificateArn": arn})


_moto_import = CertificateAuthority.import_certificate_authority_certificate


def _ca_import(self: Any, certificate: bytes, certificate_chain: bytes | None) -> None:
    # Gap: moto 5.2.5 accepts any certificate. AWS rejects one whose public key
    # is not the CA's own, which catches importing the wrong certificate.
    try:
        cert = x509.load_pem_x509_certificate(certificate)
    except ValueError:
        raise pca_models.MalformedCertificateAuthorityException()
    own = self.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if own != theirs:
        raise CertificateMismatch()
    _moto_import(self, certificate, certificate_chain)


def _backend_delete(
    self: Any, certificate_authority_arn: str, permanent_deletion_time_in_days: int | None = None
) -> None:
    # Gap: moto 5.2.5 deletes in any state and keeps no restore window. AWS
    # refuses to delete an ACTIVE CA and keeps a deleted one restorable for
    # PermanentDeletionTimeInDays (7-30, default 30).
    ca = self.describe_certificate_authority(certificate_authority_arn)
    if ca.status in ("ACTIVE", "DELETED"):
        raise InvalidState(certificate_authority_arn, f"cannot delete while {ca.status}")
    days = permanent_deletion_time_in_days or DEFAULT_RESTORE_DAYS
    if not 7 <= days <= 30:
        raise InvalidArgs("PermanentDeletionTimeInDays must be between 7 and 30")
    ca.status_before_deletion = ca.status
    ca.restorable_until = unix_time() + days * 86400
    ca.status = "DELETED"
    ca.updated_at = unix_time()


def _response_delete(self: Any) -> str:
    params = json.loads(self.body)
    self.acmpca_backend.delete_certificate_authority(
        certificate_authority_arn=params.get("CertificateAuthorityArn"),
        permanent_deletion_time_in_days=params.get("PermanentDeletionTimeInDays"),
    )
    return "{}"


def _backend_restore(self: Any, certificate_authority_arn: str) -> None:
    # Gap: moto 5.2.5 lacks RestoreCertificateAuthority. As AWS: a DELETED CA
    # within its restore window returns to its pre-deletion status.
    ca = self.describe_certificate_authority(certificate_authority_arn)
    if ca.status != "DELETED" or unix_time() > getattr(ca, "restorable_until", 0):
        raise InvalidState(certificate_authority_arn, f"cannot restore while {ca.status}")
    ca.status = ca.status_before_deletion
    ca.restorable_until = None
    ca.updated_at = unix_time()


def _response_restore(self: Any) -> str:
    params = json.loads(self.body)
    self.acmpca_backend.restore_certificate_authority(
        certificate_authority_arn=params.get("CertificateAuthorityArn"),
    )
    return "{}"


_moto_update = ACMPCABackend.update_certificate_authority


def _backend_update(self: Any, certificate_authority_arn: str, **kwargs: Any) -> None:
    # Gap: moto 5.2.5 lets UpdateCertificateAuthority revive a DELETED CA;
    # AWS requires RestoreCertificateAuthority first.
    ca = self.describe_certificate_authority(certificate_authority_arn)
    if ca.status == "DELETED":
        raise InvalidState(certificate_authority_arn, "cannot update while DELETED")
    _moto_update(self, certificate_authority_arn, **kwargs)


_moto_to_json = CertificateAuthority.to_json


def _ca_to_json(self: Any) -> dict[str, Any]:
    # Gap: moto 5.2.5 never reports RestorableUntil for a DELETED CA.
    out = _moto_to_json(self)
    if self.status == "DELETED" and getattr(self, "restorable_until", None):
        out["RestorableUntil"] = self.restorable_until
    return out


# Gap: moto 5.2.5 ignores CreateCertificateAuthority's IdempotencyToken, so a create
# repeated after a crash (or racing the crashed run's request, still being served) makes a
# second CA. AWS answers a repeated token with the first call's CA for five minutes.
_IDEMPOTENCY_WINDOW = datetime.timedelta(minutes=5)
_idempotent_creates: dict[tuple[str, str], tuple[str, datetime.datetime]] = {}
_idempotent_lock = threading.Lock()
_original_response_create = ACMPCAResponse.create_certificate_authority


# Gap: moto 5.2.5 stores any KeyStorageSecurityStandard in any region. AWS's
# CreateCertificateAuthority reference: the regions it names (ap-northeast-3,
# ap-southeast-3) do not support the default
# FIPS_140_2_LEVEL_3_OR_HIGHER and must be given FIPS_140_2_LEVEL_2_OR_HIGHER, else
# InvalidArgsException "A certificate authority cannot be created in this region with the
# specified security standard."; the China regions store keys under CCPC_LEVEL_1_OR_HIGHER.
LEVEL_2_ONLY_REGIONS = {"ap-northeast-3", "ap-southeast-3"}
CHINA_REGIONS = {"cn-north-1", "cn-northwest-1"}


def key_storage_allowed(region: str, standard: str | None) -> bool:
    standard = standard or "FIPS_140_2_LEVEL_3_OR_HIGHER"
    if region in CHINA_REGIONS:
        return standard == "CCPC_LEVEL_1_OR_HIGHER"
    if region in LEVEL_2_ONLY_REGIONS:
        return standard == "FIPS_140_2_LEVEL_2_OR_HIGHER"
    return standard != "CCPC_LEVEL_1_OR_HIGHER"


def _response_create(self: Any) -> str:
    if not key_storage_allowed(
        self.region, json.loads(self.body).get("KeyStorageSecurityStandard")
    ):
        raise InvalidArgs(
            "A certificate authority cannot be created in this region with the specified security standard."
        )
    token = json.loads(self.body).get("IdempotencyToken")
    if not token:
        return _original_response_create(self)
    key = (self.current_account + "/" + self.region, token)
    # Held across the create: a second call with the token waits for the first one's CA.
    with _idempotent_lock:
        seen = _idempotent_creates.get(key)
        if seen and _now() - seen[1] < _IDEMPOTENCY_WINDOW:
            return json.dumps({"CertificateAuthorityArn": seen[0]})
        answer = _original_response_create(self)
        _idempotent_creates[key] = (json.loads(answer)["CertificateAuthorityArn"], _now())
        return answer


def apply_patches() -> None:
    CertificateAuthority.issue_certificate = _ca_issue_certificate
    CertificateAuthority.import_certificate_authority_certificate = _ca_import
    CertificateAuthority.to_json = _ca_to_json
    ACMPCABackend.issue_certificate = _backend_issue_certificate
    ACMPCABackend.delete_certificate_authority = _backend_delete
    ACMPCABackend.restore_certificate_authority = _backend_restore
    ACMPCABackend.update_certificate_authority = _backend_update
    ACMPCAResponse.issue_certificate = _response_issue_certificate
    ACMPCAResponse.create_certificate_authority = _response_create
    ACMPCAResponse.delete_certificate_authority = _response_delete
    ACMPCAResponse.restore_certificate_authority = _response_restore


# --- IAM documents as real IAM stores them (--iam-rewrites) ----------------------
#
# moto keeps a policy document byte for byte; real IAM does not:
# - GetPolicyVersion's Document comes back URL-encoded, "compliant with RFC 3986", as the
#   IAM API reference documents for it, GetRolePolicy and GetRole (moto already encodes
#   the latter two).
# - A one-element list comes back as a plain string (Action, NotAction, Resource,
#   NotResource, each principal type's value, each condition key's values). The policy
#   grammar (IAM User Guide, "Grammar of the IAM JSON policy language") makes the two
#   forms the same; that IAM stores the string form is its observed behaviour, not a
#   documented one.
# - Condition values are stored as strings: the grammar's condition values are strings
#   ("true", "10"); a JSON true or 10 sent comes back as "true" / "10".
# - Statement keys come back in IAM's own order (Sid, Effect, Principal, NotPrincipal,
#   Action, NotAction, Resource, NotResource, Condition) and the document's as Version,
#   Id, Statement, compact JSON. Statement order is kept, as IAM keeps it.

STATEMENT_KEY_ORDER = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
DOCUMENT_KEY_ORDER = ("Version", "Id", "Statement")


def _ordered(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    first = {k: d[k] for k in order if k in d}
    return {**first, **{k: v for k, v in d.items() if k not in first}}


def _collapse(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _condition_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _rewrite_statement(st: Any) -> Any:
    if not isinstance(st, dict):
        return st
    out = dict(st)
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in out:
            out[key] = _collapse(out[key])
    for key in ("Principal", "NotPrincipal"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _collapse(v) for k, v in out[key].items()}
    if isinstance(out.get("Condition"), dict):
        out["Condition"] = {
            op: (
                {
                    k: _collapse(
                        [_condition_string(x) for x in v]
                        if isinstance(v, list)
                        else _condition_string(v)
                    )
                    for k, v in keys.items()
                }
                if isinstance(keys, dict)
                else keys
            )
            for op, keys in out["Condition"].items()
        }
    return _ordered(out, STATEMENT_KEY_ORDER)


def iam_rewrite(document: str) -> str:
    """The document as real IAM stores it (not yet URL-encoded)."""
    try:
        doc = json.loads(document)
    except (TypeError, ValueError):
        return document  # moto's validator reports it
    if not isinstance(doc, dict):
        return document
    statements = doc.get("Statement")
    if isinstance(statements, list):
        doc["Statement"] = [_rewrite_statement(s) for s in statements]
    elif statements is not None:
        doc["Statement"] = _rewrite_statement(statements)
    return json.dumps(_ordered(doc, DOCUMENT_KEY_ORDER), separators=(",", ":"))


def _rewriting(method: Any, argument: str) -> Any:
    """`method` with its `argument` (a policy document) rewritten as IAM stores it."""
    signature = inspect.signature(method)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get(argument) is not None:
            bound.arguments[argument] = iam_rewrite(bound.arguments[argument])
        return method(*bound.args, **bound.kwargs)

    return wrapper


def _url_encoded_policy_version(method: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        version = copy.copy(method(self, *args, **kwargs))
        version.document = urlparse.quote(version.document, safe="")
        return version

    return wrapper


def apply_iam_rewrites() -> None:
    IAMBackend.create_role = _rewriting(IAMBackend.create_role, "assume_role_policy_document")
    IAMBackend.update_assume_role_policy = _rewriting(
        IAMBackend.update_assume_role_policy, "policy_document"
    )
    IAMBackend.put_role_policy = _rewriting(IAMBackend.put_role_policy, "policy_json")
    IAMBackend.create_policy = _rewriting(IAMBackend.create_policy, "policy_document")
    IAMBackend.create_policy_version = _rewriting(
        IAMBackend.create_policy_version, "policy_document"
    )
    IAMBackend.get_policy_version = _url_encoded_policy_version(IAMBackend.get_policy_version)


# --- server -----------------------------------------------------------------


# --- EKS clusters that point at a local API server (--eks-endpoint) ---------------
#
# moto gives every cluster a made-up endpoint and random "certificate data", so nothing
# can connect to what DescribeCluster reports. A real cluster's DescribeCluster returns
# `endpoint`, the https URL of its API server, and `certificateAuthority.data`, the base64
# of the PEM CA that signed the server's certificate. `--eks-endpoint NAME=URL=CA_FILE`
# makes a cluster named NAME, once created, report URL and the base64 of CA_FILE's PEM,
# so a client that trusts only what DescribeCluster says reaches a local emulator.


def parse_eks_endpoint(spec: str) -> tuple[str, str, str]:
    name, sep, rest = spec.partition("=")
    url, sep2, ca_file = rest.rpartition("=")
    if not (sep and sep2 and name and url.startswith("https://") and ca_file):
        raise argparse.ArgumentTypeError(
            f"--eks-endpoint takes NAME=https://HOST:PORT=CA_FILE, got {spec!r}"
        )
    return name, url, ca_file


def apply_eks_endpoints(endpoints: list[tuple[str, str, str]]) -> None:
    from moto.eks.models import Cluster

    overrides = {}
    for name, url, ca_file in endpoints:
        with open(ca_file, "rb") as f:
            overrides[name] = (url, base64.b64encode(f.read()).decode())
    created = Cluster.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        created(self, *args, **kwargs)
        if self.name in overrides:
            self.endpoint, data = overrides[self.name]
            self.certificate_authority = {"data": data}

    Cluster.__init__ = init


# --- One OIDC issuer per EKS cluster ----------------------------------------------
#
# moto picks one random issuer ID when it is imported and gives it to every cluster; in
# EKS each cluster has its own issuer (https://oidc.eks.REGION.amazonaws.com/id/ID), so
# clusters of one account never share an IAM OIDC provider.


def apply_eks_issuers() -> None:
    from moto.eks.models import Cluster
    from moto.moto_api._internal import mock_random

    created = Cluster.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        created(self, *args, **kwargs)
        issuer = self.identity["oidc"]["issuer"].rsplit("/id/", 1)[0]
        self.identity = {"oidc": {"issuer": f"{issuer}/id/{mock_random.get_random_hex(32).upper()}"}}

    Cluster.__init__ = init


# --- EKS Pod Identity associations (moto 5.2.5 lacks them) -----------------------------
#
# Gap: moto 5.2.5 has no CreatePodIdentityAssociation and friends. As the EKS API
# reference documents them (REST paths /clusters/{name}/pod-identity-associations[/{id}]):
# - the cluster must exist, else 404 ResourceNotFoundException;
# - one association per (namespace, service account) of a cluster, else 409
#   ResourceInUseException "Association already exists: <id>";
# - ids are "a-" and 17 lowercase letters and digits; ARNs are
#   arn:aws:eks:REGION:ACCOUNT:podidentityassociation/CLUSTER/ID;
# - Describe, Update and Delete of an unknown id: 404 ResourceNotFoundException;
# - Update changes the role in place (same id); List filters by namespace and service
#   account and returns summaries (no roleArn).
# Not copied: EKS checks that the role's trust policy lets pods.eks.amazonaws.com assume
# it only when a pod asks for credentials, not here; cross-account targetRoleArn,
# session policies and tags on associations are stored but not interpreted.

POD_IDENTITY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _eks_not_found(message: str) -> Exception:
    from moto.eks.exceptions import ResourceNotFoundException

    return ResourceNotFoundException(
        clusterName=None, nodegroupName=None, fargateProfileName=None, addonName=None,
        message=message,
    )


def _eks_in_use(cluster: str, message: str) -> Exception:
    from moto.eks.exceptions import ResourceInUseException

    return ResourceInUseException(
        clusterName=cluster, nodegroupName=None, addonName=None, message=message
    )


def _eks_invalid(message: str) -> Exception:
    from moto.eks.exceptions import InvalidParameterException

    return InvalidParameterException(
        clusterName=None, nodegroupName=None, fargateProfileName=None, addonName=None,
        message=message,
    )


def new_association_id() -> str:
    import secrets

    return "a-" + "".join(secrets.choice(POD_IDENTITY_ID_ALPHABET) for _ in range(17))


def _associations(backend: Any, cluster: str) -> dict[str, dict[str, Any]]:
    """The cluster's associations by id; the cluster must exist."""
    if cluster not in backend.clusters:
        raise _eks_not_found(f"No cluster found for name: {cluster}.")
    store = backend.__dict__.setdefault("pod_identity_associations", {})
    return store.setdefault(cluster, {})


def _association(backend: Any, cluster: str, association_id: str) -> dict[str, Any]:
    found = _associations(backend, cluster).get(association_id)
    if found is None:
        raise _eks_not_found(f"No Pod Identity Association found for id: {association_id}")
    return found


# Create checks and inserts under one lock, so two racing creates cannot both succeed.
_POD_IDENTITY_LOCK = threading.Lock()


def _response_create_association(self: Any) -> str:
    cluster = self._get_param("name")
    namespace, service_account = self._get_param("namespace"), self._get_param("serviceAccount")
    role_arn = self._get_param("roleArn")
    if not (namespace and service_account and role_arn):
        raise _eks_invalid("namespace, serviceAccount and roleArn are required")
    backend = self.eks_backend
    with _POD_IDENTITY_LOCK:
        store = _associations(backend, cluster)
        for existing in store.values():
            if (existing["namespace"], existing["serviceAccount"]) == (namespace, service_account):
                raise _eks_in_use(cluster, f"Association already exists: {existing['associationId']}")
        association_id = new_association_id()
        now = unix_time()
        association = {
            "clusterName": cluster,
            "namespace": namespace,
            "serviceAccount": service_account,
            "roleArn": role_arn,
            "associationArn": f"arn:aws:eks:{self.region}:{self.current_account}:"
            f"podidentityassociation/{cluster}/{association_id}",
            "associationId": association_id,
            "tags": self._get_param("tags") or {},
            "createdAt": now,
            "modifiedAt": now,
            "disableSessionTags": bool(self._get_param("disableSessionTags")),
        }
        store[association_id] = association
    return json.dumps({"association": association})


def _response_describe_association(self: Any) -> str:
    found = _association(self.eks_backend, self._get_param("name"), self._get_param("associationId"))
    return json.dumps({"association": found})


def _response_update_association(self: Any) -> str:
    with _POD_IDENTITY_LOCK:
        found = _association(
            self.eks_backend, self._get_param("name"), self._get_param("associationId")
        )
        if self._get_param("roleArn"):
            found["roleArn"] = self._get_param("roleArn")
        found["modifiedAt"] = unix_time()
    return json.dumps({"association": found})


def _response_delete_association(self: Any) -> str:
    with _POD_IDENTITY_LOCK:
        cluster, association_id = self._get_param("name"), self._get_param("associationId")
        found = _association(self.eks_backend, cluster, association_id)
        del _associations(self.eks_backend, cluster)[association_id]
    return json.dumps({"association": found})


def _response_list_associations(self: Any) -> str:
    namespace, service_account = self._get_param("namespace"), self._get_param("serviceAccount")
    summaries = [
        {k: a[k] for k in ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")}
        for a in _associations(self.eks_backend, self._get_param("name")).values()
        if (namespace is None or a["namespace"] == namespace)
        and (service_account is None or a["serviceAccount"] == service_account)
    ]
    return json.dumps({"associations": summaries})


def apply_pod_identity() -> None:
    from moto.eks import urls as eks_urls
    from moto.eks.responses import EKSResponse

    EKSResponse.create_pod_identity_association = _response_create_association
    EKSResponse.describe_pod_identity_association = _response_describe_association
    EKSResponse.update_pod_identity_association = _response_update_association
    EKSResponse.delete_pod_identity_association = _response_delete_association
    EKSResponse.list_pod_identity_associations = _response_list_associations
    dispatch = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$"] = dispatch
    eks_urls.url_paths[
        "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$"
    ] = dispatch


def _write_port_file(path: str, port: int) -> None:
    # Write then rename so a reader never sees a partial port number.
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="file to receive the bound port")
    parser.add_argument(
        "--iam-rewrites",
        action="store_true",
        default=os.environ.get("MOTO_IAM_REWRITES") == "1",
        help="store and return IAM policy documents as real IAM does (or MOTO_IAM_REWRITES=1)",
    )
    parser.add_argument(
        "--eks-endpoint",
        action="append",
        default=[],
        type=parse_eks_endpoint,
        metavar="NAME=URL=CA_FILE",
        help="EKS cluster NAME reports endpoint URL and CA_FILE's PEM as its certificate authority",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes: the process that started the server is gone",
    )
    args = parser.parse_args(argv)

    apply_patches()
    if args.iam_rewrites:
        apply_iam_rewrites()
    apply_eks_endpoints(args.eks_endpoint)
    apply_eks_issuers()
    apply_pod_identity()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        # A server kept in a test process's static is never dropped, so never killed:
        # the pipe its parent holds closes when that process exits, however it exits.
        def watch_parent() -> None:
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch_parent, daemon=True).start()

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with socket.create_connection((host, port), timeout=10):
        pass  # the socket listens: clients can connect from here on
    if args.port_file:
        _write_port_file(args.port_file, port)
    print(f"moto listening on http://{host}:{port}", flush=True)

    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
