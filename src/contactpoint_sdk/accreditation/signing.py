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
certification body knows: without it, anyone's key verifies (a self-signed
result), which proves integrity, not who tested.

**Completeness.** The attestation names the test ``selection`` (``null``
for the whole plan, else the IDs a ``--only`` run chose) and the
``required_tests``: every required test of the plan for the declared
capabilities (:func:`~.runner.required_test_ids`). :func:`verify_result`
raises :class:`IncompleteRun` when the results do not include every one of
them, marked required: a selection, or a report cut short, is not an
accreditation outcome, whatever its ``outcome`` says.

**Key files.** The tester's private key is written as PKCS#8 PEM encrypted
under a passphrase (``BestAvailableEncryption``), owner-readable only, never
overwriting a file.

Format 2 (written) adds ``selection`` and ``required_tests`` to the
attestation; format 1 results (before them) still verify, their
completeness judged all the same.
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
from contactpoint_sdk.accreditation.plan import PlanError
from contactpoint_sdk.accreditation.report import canonical_json, parse_canonical
from contactpoint_sdk.accreditation.runner import required_test_ids

__all__ = [
    "SIGNED_FORMAT",
    "IncompleteRun",
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

SIGNED_FORMAT: Final = "contactpoint-accreditation-signed-result/2"
#: The format before ``selection`` and ``required_tests``: still verified.
_SIGNED_FORMAT_1: Final = "contactpoint-accreditation-signed-result/1"
_ALG: Final = "Ed25519"


def _label(version: str) -> bytes:
    return version.encode("ascii") + b"\n"


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


class IncompleteRun(SignedResultError):
    """The signature verifies, but the results do not cover every required
    test of the plan for the declared capabilities (a ``--only`` selection,
    or a report cut short): not an accreditation outcome (SUP-3).

    :ivar missing: the required test IDs with no required result.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing


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


def attestation(report: RunReport, *, version: str = SIGNED_FORMAT) -> dict[str, Any]:
    """What the signed result states about a run (``version``: the signed
    format it is for; format 1 had no ``selection`` nor ``required_tests``).

    :raises PlanError: the report names no plan this suite has.
    """
    stated: dict[str, Any] = {
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
    if version != _SIGNED_FORMAT_1:
        stated["selection"] = None if report.selection is None else list(report.selection)
        stated["required_tests"] = list(required_test_ids(report.plan, report.capabilities))
    return stated


def missing_required(report: RunReport) -> tuple[str, ...]:
    """The plan's required tests (for the declared capabilities) with no
    required result in ``report``, in plan order.

    :raises PlanError: the report names no plan this suite has.
    """
    done = {r.test_id for r in report.results if r.required}
    return tuple(t for t in required_test_ids(report.plan, report.capabilities) if t not in done)


def sign_result(report: RunReport, key: Ed25519PrivateKey) -> bytes:
    """The signed result for ``report``, as canonical JSON bytes."""
    payload = {"attestation": attestation(report), "report": report.to_dict()}
    signature = key.sign(_label(SIGNED_FORMAT) + canonical_json(payload))
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
    data: bytes,
    *,
    trusted: Collection[Ed25519PublicKey] | None = None,
    complete: bool = True,
) -> VerifiedResult:
    """Check a signed result and return what it states.

    :param trusted: if given, the signing key must be one of these.
    :param complete: insist that the results cover every required test of
        the plan for the declared capabilities (module notes); ``False`` only
        to read a partial run's report (``accredit diff``).
    :raises ResultMalformed: not a signed result.
    :raises ResultTampered: altered after signing (any byte).
    :raises UntrustedSigner: signed by a key not in ``trusted``.
    :raises IncompleteRun: the results miss a required test (``complete``).
    """
    try:
        document = parse_canonical(data)
    except ReportFormatError as error:
        raise ResultMalformed(str(error)) from None
    if not isinstance(document, dict) or set(document) != {"format", "payload", "signature"}:
        raise ResultMalformed("a signed result has exactly format, payload and signature")
    version = document["format"]
    if version not in (SIGNED_FORMAT, _SIGNED_FORMAT_1):
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
        public.verify(value, _label(version) + canonical_json(payload))
    except InvalidSignature:
        raise ResultTampered("the signature does not verify: the result was altered") from None
    try:
        report = RunReport.from_dict(payload["report"])
    except ReportFormatError as error:
        raise ResultTampered(f"the signed report is inconsistent: {error}") from None
    try:
        stated = attestation(report, version=version)
        missing = missing_required(report)
    except PlanError as error:
        raise ResultTampered(f"the signed report is inconsistent: {error}") from None
    if payload["attestation"] != stated:
        raise ResultTampered("the attestation disagrees with the report")
    if trusted is not None and not any(_raw_public(k) == public_raw for k in trusted):
        raise UntrustedSigner(f"signed by key {signature['kid']}, which is not trusted")
    if complete and missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise IncompleteRun(
            f"the results do not cover {len(missing)} required test(s) of the {report.plan} "
            f"plan for the declared capabilities ({shown}): not an accreditation outcome",
            missing=missing,
        )
    return VerifiedResult(report=report, attestation=payload["attestation"], key_id=key_id(public))


# --- key files --------------------------------------------------------------------------


def generate_key_file(path: str | os.PathLike[str], passphrase: str) -> Ed25519PrivateKey:
    """Generate an Ed25519 signing key and write it (PKCS#8 PEM encrypted
    under ``passphrase``, mode 0600, never over an existing file); the public
    key goes beside it (``.pub.pem``).

    :raises ValueError: an empty passphrase.
    :raises FileExistsError: ``path`` exists.
    """
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing")
    key = Ed25519PrivateKey.generate()
    target = Path(path)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
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


def load_private_key(
    path: str | os.PathLike[str], passphrase: str | None = None
) -> Ed25519PrivateKey:
    """An Ed25519 private key from an encrypted PKCS#8 PEM file.

    :raises ResultMalformed: the file holds no Ed25519 private key, the
        passphrase does not open it, or it is not encrypted (a key written
        before keys were: make a new one with ``accredit keygen``).
    """
    data = Path(path).read_bytes()
    if passphrase is not None and b"ENCRYPTED" not in data:
        raise ResultMalformed(
            f"{path} is not encrypted: make a new key with 'contactpoint accredit keygen'"
        )
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode("utf-8") if passphrase is not None else None
        )
    except TypeError:
        raise ResultMalformed(f"{path} is encrypted: a passphrase is needed") from None
    except ValueError:
        raise ResultMalformed(f"{path} holds no PEM private key this passphrase opens") from None
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
