"""Supply keys: who signs a supply envelope and who can open it (SUP-3, SUP-5).

A supplier (school MIS, case-management system) signs with its Ed25519
:class:`SigningKey`; the directory decrypts with its X25519
:class:`EncryptionKey`. Both sides publish only the public half, as a JWK or a
JWKS (:class:`PublicKeySet`), each key named by its ``kid``.

Keys rotate by ``kid`` with an overlap period (:class:`KeyRing`): after
:meth:`KeyRing.rotate` the new key signs or receives at once, while the retired
key still verifies or opens envelopes until its ``not_after``; after that it is
refused with :class:`~contactpoint_sdk.errors.UnknownKey`.

Private keys at rest are always passphrase-encrypted: a JWE with
``PBES2-HS512+A256KW`` and ``A256GCM`` (RFC 7518 §4.8), built with joserfc.
This module never implements cryptography itself; it wraps joserfc key objects
and keeps them imported, so sealing and opening never re-parse a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Generic, Literal, Self, TypeVar

import attrs
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwe
from joserfc.errors import DecodeError, JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey, OKPKey
from joserfc.util import urlsafe_b64decode

from contactpoint_sdk.errors import KeyMaterialError, UnknownKey, WrongPassphrase

__all__ = [
    "DEFAULT_PASSPHRASE_ITERATIONS",
    "EncryptionKey",
    "KeyRing",
    "KeyRingEntry",
    "PublicKey",
    "PublicKeySet",
    "SigningKey",
]

#: PBKDF2-HMAC-SHA512 iterations for passphrase-encrypted keys *(policy)*: the
#: OWASP 2023 figure for PBKDF2-HMAC-SHA512. joserfc caps ``p2c`` at 300,000.
DEFAULT_PASSPHRASE_ITERATIONS: Final = 210_000
_MIN_PASSPHRASE_ITERATIONS: Final = 10_000
_MAX_PASSPHRASE_ITERATIONS: Final = 300_000

_PBES2_ALG: Final = "PBES2-HS512+A256KW"
_PBES2_ENC: Final = "A256GCM"
_KEY_FILE_FORMAT: Final = "contactpoint-key"
_RING_FILE_FORMAT: Final = "contactpoint-keyring"
_FILE_VERSION: Final = 1
_KEY_CTY: Final = "jwk+json"
_RING_CTY: Final = "contactpoint-keyring+json"

#: A ``kid``: 1 to 128 printable ASCII characters, no spaces.
_KID_PATTERN: Final = re.compile(r"[\x21-\x7e]{1,128}")
_OKP_KEY_BYTES: Final = 32

Curve = Literal["Ed25519", "X25519"]


@attrs.frozen
class _KeySpec:
    """What a JWK of one kind must look like."""

    kind: str
    curve: Curve
    use: str
    alg: str
    accepted_algs: frozenset[str]
    key_ops: frozenset[str]


_SIGNING: Final = _KeySpec(
    kind="signing",
    curve="Ed25519",
    use="sig",
    alg="EdDSA",
    accepted_algs=frozenset({"EdDSA", "Ed25519"}),
    key_ops=frozenset({"sign", "verify"}),
)
_ENCRYPTION: Final = _KeySpec(
    kind="encryption",
    curve="X25519",
    use="enc",
    alg="ECDH-ES+A256KW",
    accepted_algs=frozenset({"ECDH-ES+A256KW"}),
    key_ops=frozenset({"deriveKey", "deriveBits", "wrapKey", "unwrapKey"}),
)
_SPECS_BY_CURVE: Final[Mapping[str, _KeySpec]] = {"Ed25519": _SIGNING, "X25519": _ENCRYPTION}


# --- JWK import and validation ------------------------------------------------


def _require_kid(kid: object) -> str:
    if not isinstance(kid, str) or not _KID_PATTERN.fullmatch(kid):
        raise KeyMaterialError(
            f"a kid must be 1 to 128 printable ASCII characters without spaces, got {kid!r}"
        )
    return kid


def _b64_member(data: Mapping[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise KeyMaterialError(f"the JWK member {name!r} must be a base64url string")
    try:
        raw = urlsafe_b64decode(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise KeyMaterialError(f"the JWK member {name!r} is not valid base64url") from None
    if len(raw) != _OKP_KEY_BYTES:
        raise KeyMaterialError(f"the JWK member {name!r} must hold {_OKP_KEY_BYTES} bytes")
    return raw


def _spec_for(data: object, expected: _KeySpec | None) -> _KeySpec:
    if not isinstance(data, Mapping):
        raise KeyMaterialError("a JWK must be a JSON object")
    kty = data.get("kty")
    if kty != "OKP":
        raise KeyMaterialError(f"expected a JWK with kty 'OKP', got kty {kty!r}")
    crv = data.get("crv")
    if expected is not None:
        if crv != expected.curve:
            raise KeyMaterialError(
                f"a {expected.kind} key must be on curve {expected.curve!r}, got curve {crv!r}"
            )
        return expected
    if not isinstance(crv, str) or crv not in _SPECS_BY_CURVE:
        raise KeyMaterialError(f"unsupported curve {crv!r}: expected 'Ed25519' or 'X25519'")
    return _SPECS_BY_CURVE[crv]


def _import_jwk(
    data: object, expected: _KeySpec | None, *, private: bool
) -> tuple[OKPKey, _KeySpec]:
    """Validate a JWK and import it as a joserfc key in canonical form.

    Only ``kty``, ``crv``, ``x``, ``d``, ``kid``, ``use`` and ``alg`` survive;
    ``use``, ``alg`` and ``key_ops``, where present, must fit the key's kind.
    """
    spec = _spec_for(data, expected)
    if not isinstance(data, Mapping):  # pragma: no cover - _spec_for checked it
        raise KeyMaterialError("a JWK must be a JSON object")
    use = data.get("use")
    if use is not None and use != spec.use:
        raise KeyMaterialError(f"a {spec.kind} key must have use {spec.use!r}, got use {use!r}")
    alg = data.get("alg")
    if alg is not None and alg not in spec.accepted_algs:
        raise KeyMaterialError(f"a {spec.kind} key cannot be used with alg {alg!r}")
    key_ops = data.get("key_ops")
    if key_ops is not None and (
        not isinstance(key_ops, list)
        or not all(isinstance(op, str) and op in spec.key_ops for op in key_ops)
    ):
        raise KeyMaterialError(f"key_ops {key_ops!r} do not fit a {spec.kind} key")

    x = _b64_member(data, "x")
    canonical: dict[str, Any] = {"kty": "OKP", "crv": spec.curve, "x": data["x"]}
    if private:
        _b64_member(data, "d")
        canonical["d"] = data["d"]
    elif "d" in data:
        raise KeyMaterialError("a public JWK must not carry the private member 'd'")

    try:
        key = OKPKey.import_key(canonical)
        if private:
            derived = key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
            if derived != x:
                raise KeyMaterialError("the JWK's 'x' does not belong to its private key 'd'")
        kid = data.get("kid")
        kid = key.thumbprint() if kid is None else _require_kid(kid)
        canonical.update(kid=kid, use=spec.use, alg=spec.alg)
        return OKPKey.import_key(canonical), spec
    except (JoseError, ValueError, TypeError) as error:
        raise KeyMaterialError(f"the {spec.kind} JWK cannot be loaded: {error}") from None


def _generate(spec: _KeySpec, kid: str | None) -> OKPKey:
    fresh = OKPKey.generate_key(spec.curve, private=True)
    jwk: dict[str, Any] = dict(fresh.as_dict(private=True))
    if kid is not None:
        jwk["kid"] = _require_kid(kid)
    return _import_jwk(jwk, spec, private=True)[0]


def _public_dict(key: OKPKey) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def _kid_of(key: OKPKey) -> str:
    kid = key.kid
    if kid is None:  # pragma: no cover - every key is imported with a kid
        raise KeyMaterialError("the key has no kid")
    return kid


# --- Passphrase encryption (PBES2 JWE) ----------------------------------------

_PBES2_REGISTRY: Final = JWERegistry(algorithms=[_PBES2_ALG, _PBES2_ENC])
_PBES2_REGISTRY.max_ciphertext_length = 4 * 1024 * 1024


def _passphrase_key(passphrase: object) -> OctKey:
    if not isinstance(passphrase, str) or not passphrase:
        raise KeyMaterialError("a passphrase must be a non-empty string")
    secret = passphrase.encode("utf-8")
    # Built directly, as OctKey.generate_key does: import_key would warn that a
    # short secret is a weak HMAC key, which does not apply to a PBES2
    # passphrase (it only ever feeds PBKDF2).
    return OctKey(secret, secret)


def _encrypt_with_passphrase(
    plaintext: bytes, passphrase: str, *, cty: str, iterations: int
) -> str:
    if not _MIN_PASSPHRASE_ITERATIONS <= iterations <= _MAX_PASSPHRASE_ITERATIONS:
        raise KeyMaterialError(
            f"iterations must be between {_MIN_PASSPHRASE_ITERATIONS} and "
            f"{_MAX_PASSPHRASE_ITERATIONS}, got {iterations}"
        )
    header = {"alg": _PBES2_ALG, "enc": _PBES2_ENC, "cty": cty, "p2c": iterations}
    key = _passphrase_key(passphrase)
    return jwe.encrypt_compact(header, plaintext, key, registry=_PBES2_REGISTRY)


def _decrypt_with_passphrase(token: object, passphrase: str, *, cty: str) -> bytes:
    key = _passphrase_key(passphrase)
    if not isinstance(token, str):
        raise KeyMaterialError("the encrypted key material is missing")
    try:
        header = json.loads(urlsafe_b64decode(token.split(".", 1)[0].encode("ascii")))
    except (ValueError, UnicodeError):
        raise KeyMaterialError("the encrypted key material is not a compact JWE") from None
    if not isinstance(header, dict) or (header.get("alg"), header.get("enc")) != (
        _PBES2_ALG,
        _PBES2_ENC,
    ):
        raise KeyMaterialError(f"encrypted key material must use {_PBES2_ALG} with {_PBES2_ENC}")
    p2c = header.get("p2c")
    if (
        not isinstance(p2c, int)
        or isinstance(p2c, bool)
        or not _MIN_PASSPHRASE_ITERATIONS <= p2c <= _MAX_PASSPHRASE_ITERATIONS
    ):
        raise KeyMaterialError(f"encrypted key material has an unacceptable p2c {p2c!r}")
    if header.get("cty") != cty:
        raise KeyMaterialError(f"expected encrypted content of type {cty!r}")
    try:
        result = jwe.decrypt_compact(token, key, registry=_PBES2_REGISTRY)
    except DecodeError:
        raise WrongPassphrase(
            "the passphrase does not open this key material (or it was altered)"
        ) from None
    except (JoseError, ValueError, TypeError, AssertionError, KeyError):
        raise KeyMaterialError("the encrypted key material is damaged") from None
    if result.plaintext is None:  # pragma: no cover - joserfc always sets it
        raise KeyMaterialError("the encrypted key material is damaged")
    return result.plaintext


def _load_json_object(text: object, what: str) -> dict[str, Any]:
    if not isinstance(text, str | bytes):
        raise KeyMaterialError(f"{what} must be JSON text")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeError):
        raise KeyMaterialError(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise KeyMaterialError(f"{what} must be a JSON object")
    return data


def _check_envelope(data: Mapping[str, Any], file_format: str, kind: str) -> None:
    if data.get("format") != file_format or data.get("version") != _FILE_VERSION:
        raise KeyMaterialError(f"not a {file_format} file of version {_FILE_VERSION}")
    if data.get("kind") != kind:
        raise KeyMaterialError(
            f"this file holds {data.get('kind')!r} key material, expected {kind!r}"
        )


# --- Public keys ----------------------------------------------------------------


class PublicKey:
    """The public half of a supply key: a supplier's Ed25519 verifying key, or
    the directory's X25519 encryption key. Never holds private material."""

    __slots__ = ("_key", "_spec")

    def __init__(self, key: OKPKey, spec: _KeySpec) -> None:
        if key.is_private:
            key = OKPKey.import_key(_public_dict(key))
        self._key = key
        self._spec = spec

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any]) -> PublicKey:
        """Load a public JWK (``kty`` OKP, ``crv`` Ed25519 or X25519).

        :raises KeyMaterialError: the JWK is not such a key, carries ``d``, or
            its ``use``/``alg``/``key_ops`` do not fit its curve.
        """
        key, spec = _import_jwk(data, None, private=False)
        return cls(key, spec)

    @property
    def kid(self) -> str:
        """The key's ID (RFC 7638 thumbprint unless one was chosen)."""
        return _kid_of(self._key)

    @property
    def curve(self) -> Curve:
        """``"Ed25519"`` (signing) or ``"X25519"`` (encryption)."""
        return self._spec.curve

    @property
    def use(self) -> str:
        """``"sig"`` or ``"enc"``."""
        return self._spec.use

    @property
    def jose_key(self) -> OKPKey:
        """The imported joserfc key object (cached; public only)."""
        return self._key

    def public_jwk(self) -> dict[str, Any]:
        """The JWK, with ``kid``, ``use`` and ``alg``; no private member."""
        return _public_dict(self._key)

    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint."""
        return self._key.thumbprint()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.public_jwk() == other.public_jwk()

    def __hash__(self) -> int:
        return hash((self.kid, self.thumbprint()))

    def __repr__(self) -> str:
        return f"PublicKey(kid={self.kid!r}, curve={self.curve!r})"


class PublicKeySet:
    """Public keys by ``kid``: the JWKS a party publishes or registers.

    Immutable. Lookup by an unknown ``kid`` raises
    :class:`~contactpoint_sdk.errors.UnknownKey`.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        by_kid: dict[str, PublicKey] = {}
        for key in keys:
            if not isinstance(key, PublicKey):
                raise KeyMaterialError(
                    f"a PublicKeySet holds PublicKey objects, got {type(key).__name__}"
                    " (use .public_key() of a private key)"
                )
            known = by_kid.get(key.kid)
            if known is not None and known != key:
                raise KeyMaterialError(f"two different keys share the kid {key.kid!r}")
            by_kid[key.kid] = key
        self._keys: Mapping[str, PublicKey] = by_kid

    @classmethod
    def from_jwks(cls, data: Mapping[str, Any], *, curve: Curve | None = None) -> PublicKeySet:
        """Load a JWKS (``{"keys": [...]}``) of OKP public keys.

        :param curve: if given, every key must be on this curve.
        :raises KeyMaterialError: naming the first key that is not acceptable.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
            raise KeyMaterialError('a JWKS must be a JSON object with a "keys" array')
        expected = _SPECS_BY_CURVE[curve] if curve is not None else None
        keys: list[PublicKey] = []
        for index, jwk in enumerate(data["keys"]):
            try:
                key, spec = _import_jwk(jwk, expected, private=False)
            except KeyMaterialError as error:
                raise KeyMaterialError(f"keys[{index}]: {error.message}") from None
            keys.append(PublicKey(key, spec))
        return cls(keys)

    def to_jwks(self) -> dict[str, Any]:
        """The JWKS, public members only."""
        return {"keys": [key.public_jwk() for key in self._keys.values()]}

    def get(self, kid: str) -> PublicKey:
        """The key named ``kid``.

        :raises UnknownKey: no key has this ``kid``.
        """
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(f"no registered key has kid {kid!r}")
        return key

    __getitem__ = get

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKeySet):
            return NotImplemented
        return dict(self._keys) == dict(other._keys)

    def __hash__(self) -> int:
        return hash(frozenset(self._keys))

    def __repr__(self) -> str:
        return f"PublicKeySet(kids={list(self._keys)!r})"


# --- Private keys -----------------------------------------------------------------


class _PrivateKey:
    """Shared behaviour of :class:`SigningKey` and :class:`EncryptionKey`."""

    __slots__ = ("_key", "_public")
    _SPEC: ClassVar[_KeySpec]

    def __init__(self, key: OKPKey) -> None:
        """Wrap an imported joserfc key; use :meth:`generate` or :meth:`from_jwk`."""
        if not key.is_private or key.curve_name != self._SPEC.curve or key.kid is None:
            raise KeyMaterialError(f"not a private {self._SPEC.curve} key with a kid")
        self._key = key
        self._public = PublicKey(key, self._SPEC)

    @classmethod
    def generate(cls, kid: str | None = None) -> Self:
        """A fresh key; ``kid`` defaults to the RFC 7638 thumbprint."""
        return cls(_generate(cls._SPEC, kid))

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any]) -> Self:
        """Load a private JWK (with ``d``).

        :raises KeyMaterialError: wrong ``kty``/``crv``/``use``/``alg``, no
            ``d``, or a ``d`` that does not match ``x``.
        """
        return cls(_import_jwk(data, cls._SPEC, private=True)[0])

    @property
    def kid(self) -> str:
        return _kid_of(self._key)

    @property
    def jose_key(self) -> OKPKey:
        """The imported joserfc key object (cached; holds the private key)."""
        return self._key

    def public_key(self) -> PublicKey:
        """The public half, to publish or register."""
        return self._public

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK: never carries ``d``."""
        return self._public.public_jwk()

    def private_jwk(self) -> dict[str, Any]:
        """The private JWK, with ``d``. Handle with care; prefer
        :meth:`to_encrypted_json` for storage."""
        return dict(self._key.as_dict(private=True))

    def to_encrypted_json(
        self, passphrase: str, *, iterations: int = DEFAULT_PASSPHRASE_ITERATIONS
    ) -> str:
        """The key as JSON text, the private JWK encrypted under ``passphrase``
        (JWE ``PBES2-HS512+A256KW`` / ``A256GCM``). The ``kid`` and public JWK
        are kept readable beside it."""
        plaintext = json.dumps(self.private_jwk(), separators=(",", ":")).encode("utf-8")
        document = {
            "format": _KEY_FILE_FORMAT,
            "version": _FILE_VERSION,
            "kind": self._SPEC.kind,
            "kid": self.kid,
            "public_jwk": self.public_jwk(),
            "encrypted": _encrypt_with_passphrase(
                plaintext, passphrase, cty=_KEY_CTY, iterations=iterations
            ),
        }
        return json.dumps(document, indent=2)

    @classmethod
    def from_encrypted_json(cls, text: str | bytes, passphrase: str) -> Self:
        """Load a key written by :meth:`to_encrypted_json`.

        :raises WrongPassphrase: the passphrase does not open it.
        :raises KeyMaterialError: the text is not such a file, or holds another
            kind of key.
        """
        data = _load_json_object(text, "an encrypted key file")
        _check_envelope(data, _KEY_FILE_FORMAT, cls._SPEC.kind)
        plaintext = _decrypt_with_passphrase(data.get("encrypted"), passphrase, cty=_KEY_CTY)
        key = cls.from_jwk(_load_json_object(plaintext, "the decrypted key"))
        if data.get("kid") != key.kid or data.get("public_jwk") != key.public_jwk():
            raise KeyMaterialError("the readable kid or public JWK does not match the private key")
        return key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _PrivateKey) or type(other) is not type(self):
            return NotImplemented
        return self.private_jwk() == other.private_jwk()

    def __hash__(self) -> int:
        return hash((type(self), self.kid))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kid={self.kid!r})"


class SigningKey(_PrivateKey):
    """A supplier's Ed25519 signing key (JWK ``kty`` OKP, ``crv`` Ed25519)."""

    __slots__ = ()
    _SPEC = _SIGNING


class EncryptionKey(_PrivateKey):
    """The directory's X25519 key that opens supply envelopes (JWK ``kty`` OKP,
    ``crv`` X25519); suppliers encrypt to its :meth:`public_key`."""

    __slots__ = ()
    _SPEC = _ENCRYPTION


# --- Rotation -------------------------------------------------------------------

K = TypeVar("K", SigningKey, EncryptionKey)
K2 = TypeVar("K2", SigningKey, EncryptionKey)


def _require_aware(moment: datetime, name: str = "now") -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")
    return moment.astimezone(UTC)


def _to_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else _require_aware(moment, "a key's validity bound")


@attrs.frozen
class KeyRingEntry(Generic[K]):
    """One key of a :class:`KeyRing` and when it may be used.

    Valid for ``not_before <= now < not_after``; either bound may be open.
    """

    key: K
    not_before: datetime | None = attrs.field(default=None, converter=_to_utc)
    not_after: datetime | None = attrs.field(default=None, converter=_to_utc)

    def __attrs_post_init__(self) -> None:
        if (
            self.not_before is not None
            and self.not_after is not None
            and self.not_after < self.not_before
        ):
            raise KeyMaterialError(f"key {self.key.kid!r}: not_after is before not_before")

    @property
    def kid(self) -> str:
        return self.key.kid

    def is_valid_at(self, now: datetime) -> bool:
        """Whether the key may be used at ``now``."""
        if self.not_before is not None and now < self.not_before:
            return False
        return self.not_after is None or now < self.not_after


def _entry_to_json(entry: KeyRingEntry[Any]) -> dict[str, Any]:
    return {
        "kid": entry.kid,
        "not_before": entry.not_before.isoformat() if entry.not_before else None,
        "not_after": entry.not_after.isoformat() if entry.not_after else None,
    }


def _parse_moment(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KeyMaterialError(f"{name} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise KeyMaterialError(f"{name} is not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise KeyMaterialError(f"{name} must carry a UTC offset: {value!r}")
    return moment.astimezone(UTC)


class KeyRing(Generic[K]):
    """The keys of one party over time, rotated by ``kid`` with an overlap.

    :meth:`current` picks the key to sign or encrypt with now; :meth:`valid_at`
    finds the key an envelope names, refusing one whose overlap has ended.
    Build one with :meth:`for_signing` or :meth:`for_encryption`.
    """

    def __init__(self, key_type: type[K], entries: Iterable[KeyRingEntry[K]] = ()) -> None:
        if key_type not in (SigningKey, EncryptionKey):
            raise KeyMaterialError("a KeyRing holds SigningKey or EncryptionKey objects")
        self._key_type: type[K] = key_type
        self._entries: tuple[KeyRingEntry[K], ...] = ()
        for entry in entries:
            self._append(entry)

    @staticmethod
    def for_signing(entries: Iterable[KeyRingEntry[SigningKey]] = ()) -> KeyRing[SigningKey]:
        """A ring of a supplier's signing keys."""
        return KeyRing(SigningKey, entries)

    @staticmethod
    def for_encryption(
        entries: Iterable[KeyRingEntry[EncryptionKey]] = (),
    ) -> KeyRing[EncryptionKey]:
        """A ring of the directory's encryption keys."""
        return KeyRing(EncryptionKey, entries)

    @property
    def key_type(self) -> type[K]:
        return self._key_type

    @property
    def entries(self) -> tuple[KeyRingEntry[K], ...]:
        """The entries, oldest first."""
        return self._entries

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(entry.kid for entry in self._entries)

    def _append(self, entry: KeyRingEntry[K]) -> None:
        if not isinstance(entry.key, self._key_type):
            raise KeyMaterialError(
                f"this ring holds {self._key_type.__name__} keys, got {type(entry.key).__name__}"
            )
        if entry.kid in self:
            raise KeyMaterialError(f"the ring already holds a key with kid {entry.kid!r}")
        entries = list(self._entries)
        entries.append(entry)
        self._entries = tuple(entries)

    def add(
        self,
        key: K,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> KeyRingEntry[K]:
        """Add a key (for instance one loaded from a vendor's store)."""
        entry = KeyRingEntry(key, not_before, not_after)
        self._append(entry)
        return entry

    def _entry(self, kid: str) -> KeyRingEntry[K]:
        for entry in self._entries:
            if entry.kid == kid:
                return entry
        raise UnknownKey(f"no key in the ring has kid {kid!r}")

    def get(self, kid: str) -> K:
        """The key named ``kid``, whatever its validity.

        :raises UnknownKey: no key has this ``kid``.
        """
        return self._entry(kid).key

    def current(self, now: datetime) -> K:
        """The newest key valid at ``now``: the one to sign or encrypt with.

        :raises KeyMaterialError: no key of the ring is valid at ``now``.
        """
        now = _require_aware(now)
        best: KeyRingEntry[K] | None = None
        for entry in self._entries:  # oldest first: a later entry wins a tie
            if entry.is_valid_at(now) and (
                best is None
                or best.not_before is None
                or (entry.not_before is not None and entry.not_before >= best.not_before)
            ):
                best = entry
        if best is None:
            raise KeyMaterialError(f"no key in the ring is valid at {now.isoformat()}")
        return best.key

    def valid_at(self, kid: str, now: datetime) -> K:
        """The key named ``kid`` if it may be used at ``now`` (a retired key
        stays usable until the end of its overlap).

        :raises UnknownKey: no such key, or it has expired, or is not yet valid.
        """
        now = _require_aware(now)
        entry = self._entry(kid)
        if entry.not_after is not None and now >= entry.not_after:
            raise UnknownKey(
                f"key {kid!r} expired at {entry.not_after.isoformat()}:"
                " its rotation overlap has ended"
            )
        if entry.not_before is not None and now < entry.not_before:
            raise UnknownKey(f"key {kid!r} is not valid before {entry.not_before.isoformat()}")
        return entry.key

    def rotate(self, now: datetime, overlap: timedelta, *, kid: str | None = None) -> K:
        """Generate a new key, valid from ``now``, and retire the keys in use:
        each stays valid until ``now + overlap``, then is refused.

        :returns: the new key (now :meth:`current`).
        """
        now = _require_aware(now)
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        retire_at = now + overlap
        new_key = self._key_type.generate(kid)
        entries: list[KeyRingEntry[K]] = []
        for entry in self._entries:
            in_use = entry.not_before is None or entry.not_before <= now
            if in_use and (entry.not_after is None or entry.not_after > retire_at):
                entries.append(attrs.evolve(entry, not_after=retire_at))
            else:
                entries.append(entry)
        rotated = KeyRing(self._key_type, entries)
        rotated._append(KeyRingEntry(new_key, now, None))
        self._entries = rotated._entries
        return new_key

    def retire(self, kid: str, not_after: datetime) -> None:
        """Set when the key ``kid`` stops being valid (for instance at once,
        if it is compromised)."""
        entry = self._entry(kid)
        new_entry = attrs.evolve(entry, not_after=not_after)
        self._entries = tuple(new_entry if e.kid == kid else e for e in self._entries)

    def public_key_set(self, now: datetime | None = None) -> PublicKeySet:
        """The public keys to publish or register: all, or those not expired
        at ``now`` (current, overlapping and pre-published keys)."""
        if now is None:
            return PublicKeySet(e.key.public_key() for e in self._entries)
        now = _require_aware(now)
        return PublicKeySet(
            e.key.public_key() for e in self._entries if e.not_after is None or now < e.not_after
        )

    def to_encrypted_json(
        self, passphrase: str, *, iterations: int = DEFAULT_PASSPHRASE_ITERATIONS
    ) -> str:
        """The ring as JSON text; the private keys and their validity are
        encrypted under ``passphrase``, a readable listing sits beside them."""
        kind = self._key_type._SPEC.kind
        listing = [_entry_to_json(entry) for entry in self._entries]
        secret = {
            "kind": kind,
            "keys": [
                {**_entry_to_json(entry), "jwk": entry.key.private_jwk()} for entry in self._entries
            ],
        }
        plaintext = json.dumps(secret, separators=(",", ":")).encode("utf-8")
        document = {
            "format": _RING_FILE_FORMAT,
            "version": _FILE_VERSION,
            "kind": kind,
            "keys": listing,
            "encrypted": _encrypt_with_passphrase(
                plaintext, passphrase, cty=_RING_CTY, iterations=iterations
            ),
        }
        return json.dumps(document, indent=2)

    @staticmethod
    def from_encrypted_json(
        text: str | bytes, passphrase: str, *, key_type: type[K2]
    ) -> KeyRing[K2]:
        """Load a ring written by :meth:`to_encrypted_json`.

        :param key_type: :class:`SigningKey` or :class:`EncryptionKey`; the file
            must hold that kind.
        :raises WrongPassphrase: the passphrase does not open it.
        :raises KeyMaterialError: the text is not such a file.
        """
        kind = key_type._SPEC.kind
        data = _load_json_object(text, "an encrypted key ring")
        _check_envelope(data, _RING_FILE_FORMAT, kind)
        plaintext = _decrypt_with_passphrase(data.get("encrypted"), passphrase, cty=_RING_CTY)
        secret = _load_json_object(plaintext, "the decrypted key ring")
        items = secret.get("keys")
        if secret.get("kind") != kind or not isinstance(items, list):
            raise KeyMaterialError("the decrypted key ring is not a ring of this kind")
        ring: KeyRing[K2] = KeyRing(key_type)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise KeyMaterialError(f"keys[{index}] must be an object")
            key = key_type.from_jwk(_load_jwk_member(item, index))
            try:
                ring.add(
                    key,
                    not_before=_parse_moment(item.get("not_before"), "not_before"),
                    not_after=_parse_moment(item.get("not_after"), "not_after"),
                )
            except ValueError as error:
                raise KeyMaterialError(f"keys[{index}]: {error}") from None
        if data.get("keys") != [_entry_to_json(entry) for entry in ring.entries]:
            raise KeyMaterialError("the readable listing does not match the encrypted keys")
        return ring

    def __contains__(self, kid: object) -> bool:
        return any(entry.kid == kid for entry in self._entries)

    def __iter__(self) -> Iterator[KeyRingEntry[K]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"KeyRing({self._key_type.__name__}, kids={list(self.kids)!r})"


def _load_jwk_member(item: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    jwk = item.get("jwk")
    if not isinstance(jwk, Mapping):
        raise KeyMaterialError(f"keys[{index}] has no private JWK")
    return jwk
