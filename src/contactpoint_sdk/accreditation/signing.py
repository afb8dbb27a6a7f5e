"""The signed result: an accreditation outcome a certification body can
check and nobody can alter unnoticed (SUP-3).

A signed result is one canonical JSON document (:func:`~.report.canonical_json`)::

    {"format": "contactpoint-accreditation-signed-result/1",
     "payload": {"attestation": {...}, "report": {...}},
     "signature": {"alg": "Ed25519", "kid": ..., "public_key": ..., "value": ...}}

The attestation states the suite and its version, the system under test's
name and version, the tester, the date, the outcome and the coverage matrix
of rules; the report is the whole run. The Ed25519 signature (pyca/
cryptography) covers a domain-separation label and the canonical bytes of
the payload. :func:`verify_result` refuses any altered byte: the file must be
exactly its canonical form, every member exactly as written, the key ID the
key's thumbprint, base64url canonical, the attestation consistent with the
report, and the signature valid. Pass ``trusted`` to insist on a key the
certification body knows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contactpoint_sdk.accreditation.model import ReportFormatError, RunReport
from contactpoint_sdk.accreditation.report import canonical_json, parse_canonical

__all__ = [
    "SIGNED_FORMAT",
    "ResultMalformed",
    "ResultTampered",
    "SignedResultError",
    "UntrustedSigner",
    "VerifiedResult",
    "attestation",
    "generate_key_file",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "sign_result",
    "verify_result",
]

SIGNED_FORMAT: Final = "contactpoint-accreditation-signed-result/1"
_LABEL: Final = SIGNED_FORMAT.encode("ascii") + b"\n"
_ALG: Final = "Ed25519"


class SignedResultError(Exception):
    """A signed result that must not be trusted (base class)."""


class ResultMalformed(SignedResultError):
    """Not a signed result this suite writes (not JSON, not canonical, a
    member missing or of the wrong kind)."""


class ResultTampered(SignedResultError):
    """The signature does not verify, or the document contradicts itself:
    something was altered after signing."""


class UntrustedSigner(SignedResultError):
    """The signature verifies, but with a key the verifier does not trust."""


@attrs.frozen(kw_only=True)
class VerifiedResult:
    """A signed result that verified."""

    report: RunReport
    attestation: Mapping[str, Any]
    key_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: object, size: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise ResultMalformed(f"{what} is not a string")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ResultMalformed(f"{what} is not base64url") from None
    if len(raw) != size or _b64(raw) != text:
        raise ResultTampered(f"{what} is not the canonical base64url of {size} bytes")
    return raw


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The key's ID: base64url SHA-256 of its raw public bytes."""
    return _b64(hashlib.sha256(_raw_public(key)).digest())


def attestation(report: RunReport) -> dict[str, Any]:
    """What the signed result states about a run."""
    return {
        "suite": report.suite,
        "suite_version": report.suite_version,
        "plan": report.plan,
        "mode": report.mode,
        "system_under_test": {
            "name": report.sut_name,
            "version": report.sut_version,
            "capabilities": list(report.capabilities),
        },
        "tester": report.tester,
        "date": report.finished_at,
        "outcome": report.outcome,
        "coverage": report.coverage(),
    }


def sign_result(report: RunReport, key: Ed25519PrivateKey) -> bytes:
    """The signed result for ``report``, as canonical JSON bytes."""
    payload = {"attestation": attestation(report), "report": report.to_dict()}
    signature = key.sign(_LABEL + canonical_json(payload))
    public = key.public_key()
    return canonical_json(
        {
            "format": SIGNED_FORMAT,
            "payload": payload,
            "signature": {
                "alg": _ALG,
                "kid": key_id(public),
                "public_key": _b64(_raw_public(public)),
                "value": _b64(signature),
            },
        }
    )


def verify_result(
    data: bytes, *, trusted: Collection[Ed25519PublicKey] | None = None
) -> VerifiedResult:
    """Check a signed result and return what it states.

    :param trusted: if given, the signing key must be one of these.
    :raises ResultMalformed: not a signed result.
    :raises ResultTampered: altered after signing (any byte).
    :raises UntrustedSigner: signed by a key not in ``trusted``.
    """
    try:
        document = parse_canonical(data)
    except ReportFormatError as error:
        raise ResultMalformed(str(error)) from None
    if not isinstance(document, dict) or set(document) != {"format", "payload", "signature"}:
        raise ResultMalformed("a signed result has exactly format, payload and signature")
    if document["format"] != SIGNED_FORMAT:
        raise ResultMalformed(f"not a {SIGNED_FORMAT} document")
    signature = document["signature"]
    if not isinstance(signature, dict) or set(signature) != {"alg", "kid", "public_key", "value"}:
        raise ResultMalformed("the signature has exactly alg, kid, public_key and value")
    if signature["alg"] != _ALG:
        raise ResultTampered(f"the signature's alg is not {_ALG}")
    public_raw = _unb64(signature["public_key"], 32, "the public key")
    value = _unb64(signature["value"], 64, "the signature")
    try:
        public = Ed25519PublicKey.from_public_bytes(public_raw)
    except ValueError:
        raise ResultTampered("the public key is not an Ed25519 key") from None
    if signature["kid"] != key_id(public):
        raise ResultTampered("the key ID is not the public key's thumbprint")
    payload = document["payload"]
    if not isinstance(payload, dict) or set(payload) != {"attestation", "report"}:
        raise ResultMalformed("the payload has exactly attestation and report")
    try:
        public.verify(value, _LABEL + canonical_json(payload))
    except InvalidSignature:
        raise ResultTampered("the signature does not verify: the result was altered") from None
    try:
        report = RunReport.from_dict(payload["report"])
    except ReportFormatError as error:
        raise ResultTampered(f"the signed report is inconsistent: {error}") from None
    if payload["attestation"] != attestation(report):
        raise ResultTampered("the attestation disagrees with the report")
    if trusted is not None and not any(_raw_public(k) == public_raw for k in trusted):
        raise UntrustedSigner(f"signed by key {signature['kid']}, which is not trusted")
    return VerifiedResult(report=report, attestation=payload["attestation"], key_id=key_id(public))


# --- key files --------------------------------------------------------------------------


def generate_key_file(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Generate an Ed25519 signing key and write it (PKCS#8 PEM, mode 0600);
    the public key goes beside it (``.pub.pem``)."""
    key = Ed25519PrivateKey.generate()
    target = Path(path)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    target.with_name(target.stem + ".pub.pem").write_bytes(public_key_pem(key.public_key()))
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PKCS#8 PEM file.

    :raises ResultMalformed: the file holds no Ed25519 private key.
    """
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (ValueError, TypeError):
        raise ResultMalformed(f"{path} holds no unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ResultMalformed(f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (or the public half of a private one)."""
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        return load_private_key(path).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ResultMalformed(f"{path} is not an Ed25519 key")
    return key
