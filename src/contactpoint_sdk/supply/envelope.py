"""The supply envelope: a signed, encrypted, one-way message (SUP-1, SUP-3, SUP-5).

A supplier seals an opaque payload (a batch, encoded by the supply codec) in
two layers, both built with joserfc:

* inner: a compact JWS, ``alg`` EdDSA over the supplier's Ed25519 key, with
  protected header ``{alg, kid, typ: "contactpoint-supply+jws", cty, iat}``;
* outer: a compact JWE to the directory's X25519 key, ``alg`` ECDH-ES+A256KW,
  ``enc`` A256GCM, header ``{alg, enc, kid, typ: "contactpoint-supply+jwe",
  cty: "JWS", epk}``. Never ``zip``: compressing before encrypting leaks the
  plaintext's content through its length.

:func:`open_envelope` (and :class:`EnvelopeOpener`) trust nothing in a token
before checking it, in this order, each refusal with its own error type and
code (all :class:`~contactpoint_sdk.errors.EnvelopeError`, rule SUP-5):

1. the outer header parses (else :class:`EnvelopeMalformed`);
2. ``alg`` and ``enc`` are on the allow-lists (else :class:`AlgorithmNotAllowed`,
   ``none`` included);
3. no ``zip`` (else :class:`CompressionNotAllowed`);
4. five parts (else :class:`EnvelopeMalformed`);
5. ``kid``, ``typ``, ``cty`` and ``epk`` are present and right, no other
   member (else :class:`EnvelopeHeaderInvalid`);
6. the directory key ``kid`` is registered and valid now (else
   :class:`UnknownKey`);
7. it decrypts (else :class:`EnvelopeDecryptionFailed`);
8. the inner JWS gets steps 1 to 6 likewise (``alg`` EdDSA only; ``iat`` an
   integer), then its signature verifies against the supplier key its ``kid``
   names (else :class:`SignatureInvalid`);
9. ``iat`` is at most ``max_future_skew`` ahead of now (else
   :class:`EnvelopeFromFuture`).

No other exception escapes for any input string. The payload stays opaque
bytes; replay detection and the codec belong to the directory's ingest.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, NoReturn, TypeAlias

import attrs
from joserfc import jwe, jws
from joserfc.errors import (
    BadSignatureError,
    DecodeError,
    ExceededSizeError,
    InvalidHeaderValueError,
    JoseError,
    MissingCritHeaderError,
    MissingHeaderError,
    UnsupportedAlgorithmError,
    UnsupportedHeaderError,
)
from joserfc.jwa import JWSAlgModel
from joserfc.jwe import JWERegistry
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter
from joserfc.util import urlsafe_b64decode

from contactpoint_sdk.clock import Clock, FixedClock
from contactpoint_sdk.errors import (
    AlgorithmNotAllowed,
    CompressionNotAllowed,
    EnvelopeDecryptionFailed,
    EnvelopeError,
    EnvelopeFromFuture,
    EnvelopeHeaderInvalid,
    EnvelopeMalformed,
    KeyMaterialError,
    SignatureInvalid,
    UnknownKey,
)
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, PublicKey, PublicKeySet, SigningKey

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_MAX_FUTURE_SKEW",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "JWE_ALGORITHMS",
    "JWE_ENCRYPTIONS",
    "JWE_TYPE",
    "JWS_ALGORITHMS",
    "JWS_TYPE",
    "STATUS_CONTENT_TYPE",
    "STATUS_REQUEST_MAX_AGE",
    "DecryptionKeys",
    "EnvelopeOpener",
    "OpenedEnvelope",
    "Sealer",
    "SupplierKeys",
    "open_envelope",
    "seal",
]

#: Media type of the payload unless the sealer says otherwise.
DEFAULT_CONTENT_TYPE: Final = "application/vnd.contactpoint.supply+json"
#: Media type of a supplier's status request (``POST /v1/supply/status``): a
#: JSON object ``{"supplier_id", "agreement_id", "nonce"}`` sealed like a batch.
STATUS_CONTENT_TYPE: Final = "application/vnd.contactpoint.supply-status+json"
#: How old a status request may be when it arrives *(policy)*: it is sealed
#: just before it is sent, so anything older is a replay.
STATUS_REQUEST_MAX_AGE: Final = timedelta(minutes=5)
#: ``typ`` of the inner JWS and of the outer JWE.
JWS_TYPE: Final = "contactpoint-supply+jws"
JWE_TYPE: Final = "contactpoint-supply+jwe"
#: ``cty`` of the outer JWE: it holds a JWS.
_JWE_CTY: Final = "JWS"

#: The allow-lists. Nothing else is accepted, in either direction.
JWS_ALGORITHMS: Final = frozenset({"EdDSA"})
JWE_ALGORITHMS: Final = frozenset({"ECDH-ES+A256KW"})
JWE_ENCRYPTIONS: Final = frozenset({"A256GCM"})
_JWS_ALG: Final = "EdDSA"
_JWE_ALG: Final = "ECDH-ES+A256KW"
_JWE_ENC: Final = "A256GCM"

#: How far ahead of the directory's clock an envelope's ``iat`` may be
#: *(policy)*: suppliers' clocks drift.
DEFAULT_MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
#: The largest payload an envelope may carry *(policy)*: 16 MiB, room for
#: batches of some 30,000 records at about 500 bytes each. Opening refuses a
#: token too long to hold it before decoding anything.
DEFAULT_MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024

_JWE_MEMBERS: Final = frozenset({"alg", "enc", "kid", "typ", "cty", "epk", "apu", "apv"})
_JWS_MEMBERS: Final = frozenset({"alg", "kid", "typ", "cty", "iat"})
_MAX_HEADER_CHARS: Final = 2048
_MAX_KID_CHARS: Final = 128
_MAX_CTY_CHARS: Final = 255
#: A media type, parameters allowed (RFC 6838 names, loosely).
_MEDIA_TYPE: Final = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})?"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\\]*\"|[A-Za-z0-9!#$&^_.+-]+))*"
)
#: ``iat`` range accepted: 1970 to the end of 9999.
_MAX_IAT: Final = 253_402_300_799
_ED25519_SIG_CHARS: Final = 86


def _b64_len(n: int) -> int:
    """Characters of unpadded base64url for ``n`` bytes."""
    return math.ceil(n * 4 / 3)


@attrs.frozen(kw_only=True)
class OpenedEnvelope:
    """What an envelope held, once decrypted and verified (SUP-5)."""

    #: The payload, opaque bytes (the supply codec decodes it).
    payload: bytes = attrs.field(repr=lambda p: f"<{len(p)} bytes>")
    #: ``kid`` of the supplier key that signed it.
    signer_kid: str
    #: ``kid`` of the directory key that opened it.
    encryption_kid: str
    #: The payload's media type (inner ``cty``).
    content_type: str
    #: When the supplier sealed it (inner ``iat``), aware UTC.
    created_at: datetime


# --- joserfc registries ---------------------------------------------------------


class _EnvelopeJWSRegistry(JWSRegistry):
    """EdDSA only, ``iat`` allowed in the protected header.

    joserfc 1.8 warns (SecurityWarning) on every use of ``EdDSA``, which RFC
    9864 deprecates in favour of the fully-specified ``Ed25519``. The
    envelope's format fixes ``alg`` EdDSA and its keys are checked to be
    Ed25519 before use, so the ambiguity RFC 9864 addresses does not arise;
    this registry hands out the algorithm without the warning.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in JWS_ALGORITHMS:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


def _is_iat(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("must be an integer")


@attrs.frozen
class _Registries:
    jws: JWSRegistry
    jwe: JWERegistry
    max_payload_bytes: int
    max_token_chars: int


@lru_cache(maxsize=8)
def _registries(max_payload_bytes: int) -> _Registries:
    jws_registry = _EnvelopeJWSRegistry(
        header_registry={"iat": HeaderParameter("Issued At", _is_iat)},
        algorithms=sorted(JWS_ALGORITHMS),
    )
    jws_registry.max_header_length = _MAX_HEADER_CHARS
    jws_registry.max_payload_length = _b64_len(max_payload_bytes)
    jws_registry.max_signature_length = _ED25519_SIG_CHARS
    max_jws = _MAX_HEADER_CHARS + 1 + _b64_len(max_payload_bytes) + 1 + _ED25519_SIG_CHARS

    jwe_registry = JWERegistry(algorithms=sorted(JWE_ALGORITHMS | JWE_ENCRYPTIONS))
    jwe_registry.max_protected_header_length = _MAX_HEADER_CHARS
    jwe_registry.max_encrypted_key_length = 64
    jwe_registry.max_initialization_vector_length = 16
    jwe_registry.max_ciphertext_length = _b64_len(max_jws)
    jwe_registry.max_auth_tag_length = 22
    max_token = _MAX_HEADER_CHARS + 64 + 16 + _b64_len(max_jws) + 22 + 4
    return _Registries(jws_registry, jwe_registry, max_payload_bytes, max_token)


# --- Sealing ---------------------------------------------------------------------


def _check_content_type(content_type: object) -> str:
    if (
        not isinstance(content_type, str)
        or len(content_type) > _MAX_CTY_CHARS
        or not _MEDIA_TYPE.fullmatch(content_type)
    ):
        raise ValueError(f"content_type must be a media type, got {content_type!r}")
    return content_type


def _aware_utc(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


def _recipient_key(recipient: PublicKey | EncryptionKey) -> PublicKey:
    public = recipient.public_key() if isinstance(recipient, EncryptionKey) else recipient
    if not isinstance(public, PublicKey) or public.curve != "X25519":
        raise KeyMaterialError("the recipient must be the directory's X25519 encryption key")
    return public


def seal(
    payload: bytes,
    *,
    signing_key: SigningKey,
    recipient: PublicKey | EncryptionKey,
    now: datetime,
    content_type: str = DEFAULT_CONTENT_TYPE,
) -> str:
    """Sign ``payload`` with the supplier's key, then encrypt it to the
    directory's key: a compact JWE holding a compact JWS (SUP-5).

    :param payload: the encoded batch, opaque bytes.
    :param signing_key: the supplier's Ed25519 key.
    :param recipient: the directory's X25519 public key (or the key itself).
    :param now: the sealing time, aware; becomes the inner ``iat``.
    :param content_type: the payload's media type (inner ``cty``).
    :raises ValueError: a naive ``now``, a bad ``content_type``, or a payload
        larger than :data:`DEFAULT_MAX_PAYLOAD_BYTES`.
    :raises KeyMaterialError: a key of the wrong kind.
    """
    if not isinstance(signing_key, SigningKey):
        raise KeyMaterialError("signing_key must be the supplier's SigningKey (Ed25519)")
    return _seal(
        payload,
        signing_key=signing_key,
        recipient=_recipient_key(recipient),
        now=now,
        content_type=_check_content_type(content_type),
        registries=_registries(DEFAULT_MAX_PAYLOAD_BYTES),
    )


def _seal(
    payload: bytes,
    *,
    signing_key: SigningKey,
    recipient: PublicKey,
    now: datetime,
    content_type: str,
    registries: _Registries,
) -> str:
    if not isinstance(payload, bytes):
        raise TypeError("payload must be bytes")
    if len(payload) > registries.max_payload_bytes:
        raise ValueError(
            f"payload of {len(payload)} bytes is over the limit of "
            f"{registries.max_payload_bytes}: split the batch"
        )
    iat = math.floor(_aware_utc(now).timestamp())
    inner_header = {
        "alg": _JWS_ALG,
        "kid": signing_key.kid,
        "typ": JWS_TYPE,
        "cty": content_type,
        "iat": iat,
    }
    outer_header = {
        "alg": _JWE_ALG,
        "enc": _JWE_ENC,
        "kid": recipient.kid,
        "typ": JWE_TYPE,
        "cty": _JWE_CTY,
    }
    try:
        signed = jws.serialize_compact(
            inner_header, payload, signing_key.jose_key, registry=registries.jws
        )
        return jwe.encrypt_compact(
            outer_header, signed, recipient.jose_key, registry=registries.jwe
        )
    except (JoseError, ValueError) as error:  # a key joserfc refuses
        raise KeyMaterialError(f"the envelope cannot be sealed with these keys: {error}") from None


class Sealer:
    """Seals supply payloads for one supplier and one directory key, on a clock.

    ``signing_key`` may be a :class:`KeyRing` of signing keys: each envelope
    is then signed with the ring's current key.
    """

    def __init__(
        self,
        *,
        signing_key: SigningKey | KeyRing[SigningKey],
        recipient: PublicKey | EncryptionKey,
        clock: Clock,
        content_type: str = DEFAULT_CONTENT_TYPE,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if isinstance(signing_key, KeyRing):
            if signing_key.key_type is not SigningKey:
                raise KeyMaterialError("signing_key must be a ring of signing keys")
        elif not isinstance(signing_key, SigningKey):
            raise KeyMaterialError("signing_key must be the supplier's SigningKey (Ed25519)")
        self._signing_key = signing_key
        self._recipient = _recipient_key(recipient)
        self._clock = clock
        self._content_type = _check_content_type(content_type)
        self._registries = _registries(max_payload_bytes)

    @property
    def recipient(self) -> PublicKey:
        return self._recipient

    def seal(self, payload: bytes, *, content_type: str | None = None) -> str:
        """Seal ``payload`` now (see :func:`seal`)."""
        now = self._clock.now()
        key = self._signing_key
        signing_key = key.current(now) if isinstance(key, KeyRing) else key
        return _seal(
            payload,
            signing_key=signing_key,
            recipient=self._recipient,
            now=now,
            content_type=(
                self._content_type if content_type is None else _check_content_type(content_type)
            ),
            registries=self._registries,
        )


# --- Opening -----------------------------------------------------------------------

#: Keys that open envelopes: a ring (validity checked at the opening time), or
#: a plain mapping from ``kid``.
DecryptionKeys: TypeAlias = KeyRing[EncryptionKey] | Mapping[str, EncryptionKey]
#: Supplier keys that verify envelopes: a JWKS, or a lookup by ``kid`` that
#: returns ``None`` (or raises ``UnknownKey`` / ``LookupError``) when unknown.
SupplierKeys: TypeAlias = PublicKeySet | Callable[[str], PublicKey | None]


def _first_segment(token: bytes) -> bytes:
    """The protected header's segment, without copying the rest of the token."""
    end = token.find(b".")
    return token if end < 0 else token[:end]


def _decode_header(segment: bytes, layer: str) -> dict[str, Any]:
    if not segment:
        raise EnvelopeMalformed(f"the {layer} has no protected header")
    if len(segment) > _MAX_HEADER_CHARS:
        raise EnvelopeMalformed(f"the {layer} header is over {_MAX_HEADER_CHARS} characters")
    try:
        header = json.loads(
            urlsafe_b64decode(segment),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
        )
    except (ValueError, RecursionError):
        raise EnvelopeMalformed(f"the {layer} header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise EnvelopeMalformed(f"the {layer} header is not a JSON object")
    return header


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member names")
    return result


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _check_algorithm(
    header: Mapping[str, Any], member: str, allowed: frozenset[str], layer: str
) -> str:
    value = header.get(member)
    if not isinstance(value, str) or value not in allowed:
        raise AlgorithmNotAllowed(
            f"{layer} {member} {value!r} is not allowed (allowed: {', '.join(sorted(allowed))})"
        )
    return value


def _check_members(header: Mapping[str, Any], allowed: frozenset[str], layer: str) -> None:
    extra = sorted(set(header) - allowed)
    if extra:
        raise EnvelopeHeaderInvalid(f"the {layer} header has members not allowed: {extra}")


def _same_type(value: object, expected: str) -> bool:
    """``typ``/``cty`` comparison per RFC 7515 §4.1.9: case-insensitive, the
    ``application/`` prefix optional."""
    if not isinstance(value, str):
        return False
    folded = value.lower()
    folded = folded.removeprefix("application/")
    return folded == expected.lower()


def _check_kid(header: Mapping[str, Any], layer: str) -> str:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_CHARS:
        raise EnvelopeHeaderInvalid(f"the {layer} header must name its key (kid)")
    return kid


def _check_epk(epk: object) -> None:
    if not isinstance(epk, dict) or set(epk) != {"kty", "crv", "x"}:
        raise EnvelopeHeaderInvalid("the JWE epk must be an OKP public key (kty, crv, x)")
    if epk["kty"] != "OKP" or epk["crv"] != "X25519" or not isinstance(epk["x"], str):
        raise EnvelopeHeaderInvalid("the JWE epk must be an X25519 public key")
    try:
        raw = urlsafe_b64decode(epk["x"].encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise EnvelopeHeaderInvalid("the JWE epk is not base64url") from None
    if len(raw) != 32:
        raise EnvelopeHeaderInvalid("the JWE epk must hold 32 bytes")


def _check_outer_header(token: bytes) -> str:
    """Steps 1 to 5 for the JWE; returns the directory key's ``kid``."""
    header = _decode_header(_first_segment(token), "JWE")
    _check_algorithm(header, "alg", JWE_ALGORITHMS, "JWE")
    _check_algorithm(header, "enc", JWE_ENCRYPTIONS, "JWE")
    if "zip" in header:
        raise CompressionNotAllowed(f"the JWE asks for compression (zip {header['zip']!r})")
    parts = token.count(b".") + 1
    if parts != 5:
        raise EnvelopeMalformed(f"a compact JWE has 5 parts, this token has {parts}")
    _check_members(header, _JWE_MEMBERS, "JWE")
    if not _same_type(header.get("typ"), JWE_TYPE):
        raise EnvelopeHeaderInvalid(f"the JWE typ must be {JWE_TYPE!r}, got {header.get('typ')!r}")
    if not _same_type(header.get("cty"), _JWE_CTY):
        raise EnvelopeHeaderInvalid(f"the JWE cty must be {_JWE_CTY!r}, got {header.get('cty')!r}")
    kid = _check_kid(header, "JWE")
    _check_epk(header.get("epk"))
    for member in ("apu", "apv"):
        if member in header and not isinstance(header[member], str):
            raise EnvelopeHeaderInvalid(f"the JWE {member} must be a string")
    return kid


@attrs.frozen
class _InnerHeader:
    kid: str
    content_type: str
    iat: int


def _check_inner_header(signed: bytes, content_types: frozenset[str] | None) -> _InnerHeader:
    header = _decode_header(_first_segment(signed), "JWS")
    _check_algorithm(header, "alg", JWS_ALGORITHMS, "JWS")
    if "zip" in header:
        raise CompressionNotAllowed(f"the JWS asks for compression (zip {header['zip']!r})")
    parts = signed.count(b".") + 1
    if parts != 3:
        raise EnvelopeMalformed(f"a compact JWS has 3 parts, the content has {parts}")
    _check_members(header, _JWS_MEMBERS, "JWS")
    if not _same_type(header.get("typ"), JWS_TYPE):
        raise EnvelopeHeaderInvalid(f"the JWS typ must be {JWS_TYPE!r}, got {header.get('typ')!r}")
    cty = header.get("cty")
    if (
        not isinstance(cty, str)
        or len(cty) > _MAX_CTY_CHARS
        or not _MEDIA_TYPE.fullmatch(cty)
        or (content_types is not None and cty not in content_types)
    ):
        raise EnvelopeHeaderInvalid(f"the JWS cty {cty!r} is not an accepted payload type")
    kid = _check_kid(header, "JWS")
    iat = header.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool) or not 0 <= iat <= _MAX_IAT:
        raise EnvelopeHeaderInvalid("the JWS must carry its creation time (iat, integer seconds)")
    return _InnerHeader(kid=kid, content_type=cty, iat=iat)


def _decryption_key(keys: DecryptionKeys, kid: str, now: datetime) -> EncryptionKey:
    if isinstance(keys, KeyRing):
        return keys.valid_at(kid, now)
    key = keys.get(kid)
    if key is None:
        raise UnknownKey(f"no directory key has kid {kid!r}")
    if not isinstance(key, EncryptionKey):
        raise UnknownKey(f"the directory key {kid!r} is not an encryption key")
    return key


def _supplier_key(keys: SupplierKeys, kid: str) -> PublicKey:
    if isinstance(keys, PublicKeySet):
        key: PublicKey | None = keys.get(kid)
    else:
        try:
            key = keys(kid)
        except EnvelopeError:
            raise
        except LookupError:
            key = None
    if key is None:
        raise UnknownKey(f"no supplier key is registered with kid {kid!r}")
    if not isinstance(key, PublicKey) or key.curve != "Ed25519":
        raise UnknownKey(f"the key registered as {kid!r} is not an Ed25519 signing key")
    return key


def _refuse_jose(error: JoseError, layer: str, default: type[EnvelopeError]) -> EnvelopeError:
    """Map a joserfc error that got past the pre-checks (defence in depth)."""
    if isinstance(error, UnsupportedAlgorithmError):
        return AlgorithmNotAllowed(f"the {layer} uses an algorithm that is not allowed")
    if isinstance(
        error,
        InvalidHeaderValueError
        | UnsupportedHeaderError
        | MissingHeaderError
        | MissingCritHeaderError,
    ):
        return EnvelopeHeaderInvalid(f"the {layer} header is not acceptable")
    if isinstance(error, ExceededSizeError):
        return EnvelopeMalformed(f"the {layer} is too large")
    if default is EnvelopeDecryptionFailed:
        return EnvelopeDecryptionFailed("the envelope does not decrypt with the directory key")
    return SignatureInvalid("the supplier's signature does not verify")


def _decrypt(token: bytes, key: OKPKey, registry: JWERegistry) -> bytes:
    try:
        result = jwe.decrypt_compact(token, key, registry=registry)
    except binascii.Error:
        raise EnvelopeMalformed("a JWE segment is not base64url") from None
    except JoseError as error:
        raise _refuse_jose(error, "JWE", EnvelopeDecryptionFailed) from None
    except Exception:  # cryptography refusing a point, an iv or a key size
        raise EnvelopeDecryptionFailed(
            "the envelope does not decrypt with the directory key"
        ) from None
    plaintext = result.plaintext
    # joserfc's result and its recipient refer to each other: a cycle only the
    # full collector frees, holding the batch's token and plaintext for many
    # batches (issue 10: the directory's peak memory). Break it here.
    result.recipient = None
    if plaintext is None:  # pragma: no cover - joserfc always sets it
        raise EnvelopeDecryptionFailed("the envelope does not decrypt with the directory key")
    return plaintext


def _verify(signed: bytes, key: OKPKey, registry: JWSRegistry) -> bytes:
    try:
        result = jws.deserialize_compact(signed, key, registry=registry)
    except BadSignatureError:
        raise SignatureInvalid("the supplier's signature does not verify") from None
    except DecodeError:  # header and part count are checked already: the payload
        raise EnvelopeMalformed("the JWS payload is not base64url") from None
    except JoseError as error:
        raise _refuse_jose(error, "JWS", SignatureInvalid) from None
    except Exception:
        raise SignatureInvalid("the supplier's signature does not verify") from None
    return result.payload


class EnvelopeOpener:
    """Opens supply envelopes with the directory's keys, verifying them with
    the suppliers' keys, on a clock (SUP-3, SUP-5).

    The reference server and the accreditation suite hold one of these.
    """

    def __init__(
        self,
        *,
        decryption_keys: DecryptionKeys,
        supplier_keys: SupplierKeys,
        clock: Clock,
        max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
        content_types: Collection[str] | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        """
        :param decryption_keys: the directory's keys: a :class:`KeyRing` (a
            retired key opens until its overlap ends) or a mapping ``kid`` to key.
        :param supplier_keys: registered supplier keys: a :class:`PublicKeySet`
            or a lookup ``kid -> PublicKey | None``.
        :param max_future_skew: how far ahead of ``clock`` an ``iat`` may be.
        :param content_types: if given, the only payload media types accepted.
        :param max_payload_bytes: the largest payload accepted.
        """
        if max_future_skew < timedelta(0):
            raise ValueError("max_future_skew must not be negative")
        if max_payload_bytes < 1:
            raise ValueError("max_payload_bytes must be positive")
        self._decryption_keys = decryption_keys
        self._supplier_keys = supplier_keys
        self._clock = clock
        self._max_future_skew = max_future_skew
        self._content_types = None if content_types is None else frozenset(content_types)
        self._registries = _registries(max_payload_bytes)

    def open(self, token: str, *, now: datetime | None = None) -> OpenedEnvelope:
        """Decrypt and verify ``token``; ``now`` defaults to the clock's time.

        :raises EnvelopeError: a subclass naming why the envelope is refused;
            nothing else, whatever the token.
        """
        moment = _aware_utc(self._clock.now() if now is None else now)
        registries = self._registries

        if not isinstance(token, str):
            raise EnvelopeMalformed("an envelope is a compact JWE string")
        if len(token) > registries.max_token_chars:
            raise EnvelopeMalformed("the envelope is larger than any accepted payload allows")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise EnvelopeMalformed("an envelope holds base64url and dots only") from None

        encryption_kid = _check_outer_header(raw)
        decryption_key = _decryption_key(self._decryption_keys, encryption_kid, moment)
        signed = _decrypt(raw, decryption_key.jose_key, registries.jwe)

        header = _check_inner_header(signed, self._content_types)
        supplier_key = _supplier_key(self._supplier_keys, header.kid)
        payload = _verify(signed, supplier_key.jose_key, registries.jws)

        created_at = datetime.fromtimestamp(header.iat, UTC)
        if created_at > moment + self._max_future_skew:
            raise EnvelopeFromFuture(
                f"the envelope says it was created at {created_at.isoformat()}, more than "
                f"{self._max_future_skew} ahead of the directory's clock ({moment.isoformat()})"
            )
        return OpenedEnvelope(
            payload=payload,
            signer_kid=header.kid,
            encryption_kid=encryption_kid,
            content_type=header.content_type,
            created_at=created_at,
        )


def open_envelope(
    token: str,
    *,
    decryption_keys: DecryptionKeys,
    supplier_keys: SupplierKeys,
    now: datetime,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> OpenedEnvelope:
    """Decrypt and verify a supply envelope (SUP-5); see the module's
    docstring for the checks and their order.

    :raises EnvelopeError: a subclass naming why the envelope is refused;
        nothing else, whatever the token.
    """
    opener = EnvelopeOpener(
        decryption_keys=decryption_keys,
        supplier_keys=supplier_keys,
        clock=FixedClock(_aware_utc(now)),
        max_future_skew=max_future_skew,
    )
    return opener.open(token, now=now)
