"""The supply envelope: JWS (EdDSA) in JWE (ECDH-ES+A256KW, A256GCM) (SUP-1, SUP-3, SUP-5).

Every refusal has its own error type and code; no other exception escapes
``open_envelope`` for any input string.
"""

from __future__ import annotations

import base64
import gc
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwe, jws
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from contactpoint_sdk.clock import FixedClock, MovableClock
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
from contactpoint_sdk.supply.envelope import (
    DEFAULT_CONTENT_TYPE,
    JWE_TYPE,
    JWS_TYPE,
    EnvelopeOpener,
    OpenedEnvelope,
    Sealer,
    open_envelope,
    seal,
)
from contactpoint_sdk.supply.keys import (
    EncryptionKey,
    KeyRing,
    PublicKey,
    PublicKeySet,
    SigningKey,
)

NOW = datetime(2025, 9, 1, 8, 30, tzinfo=UTC)
PAYLOAD = b'{"batch": "opaque to the envelope", "records": []}'

SUPPLIER = SigningKey.generate(kid="school-mis-1")
DIRECTORY = EncryptionKey.generate(kid="directory-2025")
SUPPLIERS = PublicKeySet([SUPPLIER.public_key()])
DIRECTORY_KEYS = {DIRECTORY.kid: DIRECTORY}


# --- helpers ------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(header: dict[str, Any]) -> str:
    return b64(json.dumps(header, separators=(",", ":")).encode())


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def open_(token: str, **overrides: Any) -> OpenedEnvelope:
    arguments: dict[str, Any] = {
        "decryption_keys": DIRECTORY_KEYS,
        "supplier_keys": SUPPLIERS,
        "now": NOW,
    }
    arguments.update(overrides)
    return open_envelope(token, **arguments)


def refused(token: str, error: type[EnvelopeError], code: str, **overrides: Any) -> EnvelopeError:
    """Open ``token``, expecting exactly ``error`` with ``code`` and rule SUP-5."""
    with pytest.raises(EnvelopeError) as caught:
        open_(token, **overrides)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    assert caught.value.code == code
    assert caught.value.rule == "SUP-5"
    return caught.value


def sealed(payload: bytes = PAYLOAD, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "signing_key": SUPPLIER,
        "recipient": DIRECTORY.public_key(),
        "now": NOW,
    }
    arguments.update(overrides)
    return seal(payload, **arguments)


def inner_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "alg": "EdDSA",
        "kid": SUPPLIER.kid,
        "typ": JWS_TYPE,
        "cty": DEFAULT_CONTENT_TYPE,
        "iat": int(NOW.timestamp()),
    }
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def outer_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": DIRECTORY.kid,
        "typ": JWE_TYPE,
        "cty": "JWS",
    }
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def hand_signed(
    header: dict[str, Any], payload: bytes = PAYLOAD, key: Ed25519PrivateKey | None = None
) -> str:
    """A compact JWS signed by hand with ``cryptography`` (any header at all)."""
    signing_input = f"{b64json(header)}.{b64(payload)}"
    private = key or SUPPLIER.jose_key.private_key
    assert isinstance(private, Ed25519PrivateKey)
    return f"{signing_input}.{b64(private.sign(signing_input.encode()))}"


def encrypt_to_directory(
    content: str | bytes,
    header: dict[str, Any] | None = None,
    *,
    recipient: PublicKey | None = None,
    algorithms: list[str] | None = None,
) -> str:
    """Re-encrypt arbitrary content to the directory (what an attacker can do:
    the directory's key is public)."""
    registry = JWERegistry(algorithms=algorithms or ["ECDH-ES+A256KW", "A256GCM"])
    key = (recipient or DIRECTORY.public_key()).jose_key
    return jwe.encrypt_compact(header or outer_header(), content, key, registry=registry)


def with_outer_header(token: str, **changes: Any) -> str:
    """Replace the JWE header by hand (joserfc will not write a bad one); the
    header checks come before decryption, so the rest need not match."""

    def change(segment: str) -> str:
        header = json.loads(unb64(segment))
        header.update(changes)
        return b64json({k: v for k, v in header.items() if v is not None})

    return with_part(token, 0, change)


def decrypt_for_test(token: str) -> str:
    registry = JWERegistry(algorithms=["ECDH-ES+A256KW", "A256GCM"])
    registry.max_ciphertext_length = 10**8
    plaintext = jwe.decrypt_compact(token, DIRECTORY.jose_key, registry=registry).plaintext
    assert plaintext is not None
    return plaintext.decode("ascii")


def with_part(token: str, index: int, change: Callable[[str], str]) -> str:
    parts = token.split(".")
    parts[index] = change(parts[index])
    return ".".join(parts)


def flip_char(position: int) -> Callable[[str], str]:
    """Change one base64url character, keeping the segment canonical (use a
    position whose six bits are all significant)."""

    def change(segment: str) -> str:
        old = segment[position]
        new = "B" if old == "A" else "A"
        return segment[:position] + new + segment[position + 1 :]

    return change


# --- round trip ---------------------------------------------------------------------


def test_sup_5_round_trip() -> None:
    token = sealed()
    opened = open_(token)
    assert opened.payload == PAYLOAD
    assert opened.signer_kid == SUPPLIER.kid
    assert opened.encryption_kid == DIRECTORY.kid
    assert opened.content_type == DEFAULT_CONTENT_TYPE
    assert opened.created_at == NOW
    assert PAYLOAD.decode() not in repr(opened)


def test_sup_5_token_shape_and_headers() -> None:
    token = sealed()
    parts = token.split(".")
    assert len(parts) == 5
    outer = json.loads(unb64(parts[0]))
    assert outer["alg"] == "ECDH-ES+A256KW"
    assert outer["enc"] == "A256GCM"
    assert outer["kid"] == DIRECTORY.kid
    assert outer["typ"] == "contactpoint-supply+jwe"
    assert outer["cty"] == "JWS"
    assert outer["epk"]["crv"] == "X25519"
    assert "zip" not in outer
    inner = decrypt_for_test(token).split(".")
    assert len(inner) == 3
    header = json.loads(unb64(inner[0]))
    assert header == {
        "alg": "EdDSA",
        "kid": SUPPLIER.kid,
        "typ": "contactpoint-supply+jws",
        "cty": DEFAULT_CONTENT_TYPE,
        "iat": int(NOW.timestamp()),
    }
    assert PAYLOAD not in token.encode()


def test_sup_5_each_seal_is_fresh() -> None:
    assert sealed() != sealed()


@pytest.mark.parametrize("payload", [b"", b"\x00\xff" * 1000, bytes(range(256))])
def test_sup_5_payload_is_opaque_bytes(payload: bytes) -> None:
    assert open_(sealed(payload)).payload == payload


def test_sup_5_large_batch_round_trip() -> None:
    payload = random.Random(5).randbytes(300_000)
    assert open_(sealed(payload)).payload == payload


def test_sup_5_custom_content_type_and_allow_list() -> None:
    token = sealed(content_type="application/vnd.contactpoint.supply+json; v=2")
    assert open_(token).content_type == "application/vnd.contactpoint.supply+json; v=2"
    opener = EnvelopeOpener(
        decryption_keys=DIRECTORY_KEYS,
        supplier_keys=SUPPLIERS,
        clock=FixedClock(NOW),
        content_types={DEFAULT_CONTENT_TYPE},
    )
    with pytest.raises(EnvelopeHeaderInvalid, match="cty"):
        opener.open(token)
    assert opener.open(sealed()).payload == PAYLOAD


def test_sup_5_seal_refuses_wrong_keys_and_naive_time() -> None:
    with pytest.raises(KeyMaterialError):
        sealed(recipient=SUPPLIER.public_key())
    with pytest.raises(KeyMaterialError):
        sealed(signing_key=DIRECTORY)
    with pytest.raises(ValueError, match="aware"):
        sealed(now=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="content_type"):
        sealed(content_type="not a media type")


def test_sup_5_sealer_and_opener_on_clocks() -> None:
    clock = MovableClock(NOW)
    sealer = Sealer(signing_key=SUPPLIER, recipient=DIRECTORY.public_key(), clock=clock)
    opener = EnvelopeOpener(decryption_keys=DIRECTORY_KEYS, supplier_keys=SUPPLIERS, clock=clock)
    token = sealer.seal(PAYLOAD)
    opened = opener.open(token)
    assert opened.payload == PAYLOAD
    assert opened.created_at == NOW


def test_opening_leaves_no_reference_cycle_holding_the_plaintext() -> None:
    """A cycle is freed only by the full collector, so each batch's token and
    plaintext would outlive it by many batches (issue 10: peak memory)."""
    opener = EnvelopeOpener(
        decryption_keys=DIRECTORY_KEYS, supplier_keys=SUPPLIERS, clock=MovableClock(NOW)
    )
    token = sealed()
    gc.collect()
    opener.open(token)
    assert gc.collect() == 0


def test_sup_5_supplier_keys_as_lookup_callable() -> None:
    registered = {SUPPLIER.kid: SUPPLIER.public_key()}
    assert open_(sealed(), supplier_keys=registered.get).payload == PAYLOAD

    def lookup(kid: str) -> PublicKey:
        return registered[kid]  # KeyError for an unknown kid

    other = SigningKey.generate(kid="someone-else")
    refused(sealed(signing_key=other), UnknownKey, "envelope_unknown_key", supplier_keys=lookup)


# --- SUP-5 refusals: tampering --------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "position", "what"),
    [
        (3, 100, "ciphertext"),
        (4, 0, "tag"),
        (2, 5, "iv"),
        (1, 0, "encrypted key"),
    ],
)
def test_sup_5_tampered_ciphertext_refused(part: int, position: int, what: str) -> None:
    token = with_part(sealed(), part, flip_char(position))
    refused(token, EnvelopeDecryptionFailed, "envelope_decryption_failed")


def test_sup_5_tampered_outer_header_refused() -> None:
    def change_epk(segment: str) -> str:
        header = json.loads(unb64(segment))
        header["epk"]["x"] = EncryptionKey.generate().public_jwk()["x"]
        return b64json(header)

    refused(
        with_part(sealed(), 0, change_epk), EnvelopeDecryptionFailed, "envelope_decryption_failed"
    )


def test_sup_5_truncated_iv_refused() -> None:
    token = with_part(sealed(), 2, lambda iv: iv[:8])
    refused(token, EnvelopeDecryptionFailed, "envelope_decryption_failed")


def test_sup_5_tampered_signature_refused() -> None:
    signed = decrypt_for_test(sealed())
    header, payload, signature = signed.split(".")
    forged = f"{header}.{payload}.{flip_char(10)(signature)}"
    refused(encrypt_to_directory(forged), SignatureInvalid, "envelope_signature_invalid")


def test_sup_5_tampered_signed_payload_refused() -> None:
    signed = decrypt_for_test(sealed())
    header, _payload, signature = signed.split(".")
    other_payload = b64(b'{"records": ["forged"]}')
    forged = f"{header}.{other_payload}.{signature}"
    refused(encrypt_to_directory(forged), SignatureInvalid, "envelope_signature_invalid")


def test_sup_5_tampered_signed_header_refused() -> None:
    signed = decrypt_for_test(sealed())
    _header, payload, signature = signed.split(".")
    forged_header = b64json(inner_header(iat=int(NOW.timestamp()) - 3600))
    forged = f"{forged_header}.{payload}.{signature}"
    refused(encrypt_to_directory(forged), SignatureInvalid, "envelope_signature_invalid")


def test_sup_5_signature_by_impostor_with_registered_kid_refused() -> None:
    impostor = SigningKey.generate(kid=SUPPLIER.kid)  # claims the supplier's kid
    refused(sealed(signing_key=impostor), SignatureInvalid, "envelope_signature_invalid")


def test_sup_5_garbage_signature_segment_refused() -> None:
    signed = decrypt_for_test(sealed())
    header, payload, _signature = signed.split(".")
    for signature in ("", "AAAA", "!!!"):
        refused(
            encrypt_to_directory(f"{header}.{payload}.{signature}"),
            SignatureInvalid,
            "envelope_signature_invalid",
        )


# --- SUP-3 / SUP-5 refusals: keys ----------------------------------------------------


def test_sup_3_unregistered_supplier_key_refused() -> None:
    stranger = SigningKey.generate(kid="not-accredited")
    error = refused(sealed(signing_key=stranger), UnknownKey, "envelope_unknown_key")
    assert "not-accredited" in str(error)


def test_sup_5_unregistered_directory_key_refused() -> None:
    other_directory = EncryptionKey.generate(kid="old-directory")
    token = sealed(recipient=other_directory.public_key())
    refused(token, UnknownKey, "envelope_unknown_key")


def test_sup_5_wrong_kid_for_directory_key_refused() -> None:
    """Encrypted to another key, but claiming the directory's kid."""
    impostor = EncryptionKey.generate(kid=DIRECTORY.kid)
    token = sealed(recipient=impostor.public_key())
    refused(token, EnvelopeDecryptionFailed, "envelope_decryption_failed")


def test_sup_5_supplier_kid_naming_an_encryption_key_refused() -> None:
    confused = PublicKeySet([EncryptionKey.generate(kid=SUPPLIER.kid).public_key()])
    refused(sealed(), UnknownKey, "envelope_unknown_key", supplier_keys=confused)


@pytest.mark.parametrize(
    ("layer", "kid"),
    [
        ("outer", None),
        ("outer", ""),
        ("outer", 42),
        ("outer", "k" * 129),
        ("inner", None),
        ("inner", ["a"]),
        ("inner", ""),
    ],
)
def test_sup_5_missing_or_bad_kid_refused(layer: str, kid: object) -> None:
    if layer == "outer":
        token = with_outer_header(sealed(), kid=kid)
    else:
        token = encrypt_to_directory(hand_signed(inner_header(kid=kid)))
    refused(token, EnvelopeHeaderInvalid, "envelope_header_invalid")


# --- SUP-5 refusals: algorithms ------------------------------------------------------


def test_sup_5_alg_none_inner_refused() -> None:
    unsigned = f"{b64json(inner_header(alg='none'))}.{b64(PAYLOAD)}."
    refused(encrypt_to_directory(unsigned), AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


def test_sup_5_alg_none_outer_refused() -> None:
    fake = f"{b64json(outer_header(alg='none'))}..{b64(b'0' * 12)}.{b64(PAYLOAD)}.{b64(b'0' * 16)}"
    refused(fake, AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


def test_sup_5_unencrypted_jws_refused_as_algorithm() -> None:
    """A bare JWS (signed, not encrypted) is no envelope: its alg is no JWE alg."""
    refused(hand_signed(inner_header()), AlgorithmNotAllowed, "envelope_algorithm_not_allowed")
    refused(
        f"{b64json({'alg': 'none'})}.{b64(PAYLOAD)}.",
        AlgorithmNotAllowed,
        "envelope_algorithm_not_allowed",
    )


def test_sup_5_jws_hs256_refused() -> None:
    registry = JWSRegistry(
        header_registry={"iat": HeaderParameter("iat", "int")}, algorithms=["HS256"]
    )
    # HMAC with the supplier's public key bytes: the classic key-confusion forgery
    secret = OctKey.import_key(unb64(SUPPLIER.public_jwk()["x"]) * 2)
    forged = jws.serialize_compact(inner_header(alg="HS256"), PAYLOAD, secret, registry=registry)
    refused(encrypt_to_directory(forged), AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


@pytest.mark.parametrize("alg", ["Ed25519", "ES256", "RS256", "EdDSA ", "eddsa"])
def test_sup_5_jws_alg_off_allow_list_refused(alg: str) -> None:
    forged = hand_signed(inner_header(alg=alg))
    refused(encrypt_to_directory(forged), AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


def test_sup_5_jwe_dir_refused() -> None:
    key = OctKey.generate_key(256)
    token = jwe.encrypt_compact(
        outer_header(alg="dir"),
        sealed(),
        key,
        registry=JWERegistry(algorithms=["dir", "A256GCM"]),
    )
    refused(token, AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


def test_sup_5_jwe_rsa_oaep_refused() -> None:
    key = RSAKey.generate_key(2048)
    token = jwe.encrypt_compact(
        outer_header(alg="RSA-OAEP-256"),
        hand_signed(inner_header()),
        key,
        registry=JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"]),
    )
    refused(token, AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


@pytest.mark.parametrize(
    ("alg", "enc"),
    [
        ("ECDH-ES", "A256GCM"),
        ("ECDH-ES+A128KW", "A256GCM"),
        ("ECDH-ES+A256KW", "A128GCM"),
        ("ECDH-ES+A256KW", "A256CBC-HS512"),
    ],
)
def test_sup_5_jwe_alg_or_enc_off_allow_list_refused(alg: str, enc: str) -> None:
    token = encrypt_to_directory(
        hand_signed(inner_header()),
        outer_header(alg=alg, enc=enc),
        algorithms=[alg, enc],
    )
    refused(token, AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


def test_sup_5_missing_alg_or_enc_refused() -> None:
    token = sealed()
    for removed in ("alg", "enc"):

        def drop(segment: str, removed: str = removed) -> str:
            header = json.loads(unb64(segment))
            del header[removed]
            return b64json(header)

        refused(with_part(token, 0, drop), AlgorithmNotAllowed, "envelope_algorithm_not_allowed")


# --- SUP-5 refusals: compression ----------------------------------------------------------


def test_sup_5_jwe_zip_refused() -> None:
    token = encrypt_to_directory(
        hand_signed(inner_header()),
        outer_header(zip="DEF"),
        algorithms=["ECDH-ES+A256KW", "A256GCM", "DEF"],
    )
    assert json.loads(unb64(token.split(".")[0]))["zip"] == "DEF"
    refused(token, CompressionNotAllowed, "envelope_compression_not_allowed")


def test_sup_5_jws_zip_refused() -> None:
    forged = hand_signed(inner_header(zip="DEF"))
    refused(encrypt_to_directory(forged), CompressionNotAllowed, "envelope_compression_not_allowed")


# --- SUP-5 refusals: headers -------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"typ": None},
        {"typ": "JWT"},
        {"typ": "contactpoint-supply+jws"},
        {"cty": None},
        {"cty": "JWT"},
        {"crit": ["exp"], "exp": 1},
        {"jku": "https://attacker.example/jwks"},
        {"apu": 7},
    ],
)
def test_sup_5_outer_header_typ_cty_and_members_checked(changes: dict[str, Any]) -> None:
    refused(
        with_outer_header(sealed(), **changes), EnvelopeHeaderInvalid, "envelope_header_invalid"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"typ": None},
        {"typ": "JWT"},
        {"cty": None},
        {"cty": ""},
        {"cty": 5},
        {"iat": None},
        {"iat": "1756715400"},
        {"iat": 1756715400.5},
        {"iat": True},
        {"iat": -1},
        {"iat": 10**20},
        {"b64": False, "crit": ["b64"]},
        {"jwk": {"kty": "OKP"}},
        {"x5u": "https://attacker.example/cert"},
    ],
)
def test_sup_5_inner_header_typ_cty_iat_and_members_checked(changes: dict[str, Any]) -> None:
    refused(
        encrypt_to_directory(hand_signed(inner_header(**changes))),
        EnvelopeHeaderInvalid,
        "envelope_header_invalid",
    )


def test_sup_5_typ_compared_as_media_type() -> None:
    """RFC 7515 §4.1.9: case-insensitive, 'application/' optional."""
    token = encrypt_to_directory(
        hand_signed(inner_header(typ="application/Contactpoint-Supply+JWS")),
        outer_header(typ="APPLICATION/contactpoint-supply+jwe", cty="jws"),
    )
    assert open_(token).payload == PAYLOAD


@pytest.mark.parametrize(
    "epk",
    [
        {"kty": "OKP", "crv": "X448", "x": b64(b"\x01" * 56)},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "OKP", "crv": "X25519", "x": b64(b"\x01" * 31)},
        {"kty": "OKP", "crv": "X25519", "x": b64(b"\x01" * 32), "d": b64(b"\x01" * 32)},
        "not a key",
    ],
)
def test_sup_5_bad_ephemeral_key_refused(epk: object) -> None:
    def change(segment: str) -> str:
        header = json.loads(unb64(segment))
        header["epk"] = epk
        return b64json(header)

    refused(with_part(sealed(), 0, change), EnvelopeHeaderInvalid, "envelope_header_invalid")


def test_sup_5_low_order_ephemeral_key_refused() -> None:
    def change(segment: str) -> str:
        header = json.loads(unb64(segment))
        header["epk"]["x"] = b64(bytes(32))  # the all-zero point: no shared secret
        return b64json(header)

    refused(with_part(sealed(), 0, change), EnvelopeDecryptionFailed, "envelope_decryption_failed")


# --- SUP-5 refusals: time --------------------------------------------------------------


def test_sup_5_created_in_future_refused() -> None:
    token = sealed(now=NOW + timedelta(days=365))
    error = refused(token, EnvelopeFromFuture, "envelope_from_future")
    assert "ahead" in str(error)


def test_sup_5_small_clock_skew_tolerated() -> None:
    assert open_(sealed(now=NOW + timedelta(minutes=4))).payload == PAYLOAD
    refused(sealed(now=NOW + timedelta(minutes=6)), EnvelopeFromFuture, "envelope_from_future")
    token = sealed(now=NOW + timedelta(minutes=20))
    assert open_(token, max_future_skew=timedelta(minutes=30)).payload == PAYLOAD


def test_sup_5_future_iat_checked_after_signature() -> None:
    """A forged future iat is a bad signature first: nothing unverified is trusted."""
    signed = decrypt_for_test(sealed())
    _header, payload, signature = signed.split(".")
    future = b64json(inner_header(iat=int(NOW.timestamp()) + 10**6))
    forged = f"{future}.{payload}.{signature}"
    refused(encrypt_to_directory(forged), SignatureInvalid, "envelope_signature_invalid")


# --- SUP-5 refusals: not an envelope -------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "....",
        "abc",
        "not base64!.a.b.c.d",
        f"{b64(b'not json')}.a.b.c.d",
        f"{b64json({'a': 1})}"[:-1] + "=.a.b.c.d",
        f"{b64(b'[1, 2]')}.a.b.c.d",
        b64(b'{"alg": "ECDH-ES+A256KW", "alg": "none"}') + ".a.b.c.d",
        "é.a.b.c.d",
        " " + "a" * 20,
    ],
)
def test_sup_5_not_an_envelope_refused(token: str) -> None:
    refused(token, EnvelopeMalformed, "envelope_malformed")


def test_sup_5_wrong_part_count_refused() -> None:
    parts = sealed().split(".")
    refused(".".join(parts[:4]), EnvelopeMalformed, "envelope_malformed")
    refused(".".join([*parts, "AAAA"]), EnvelopeMalformed, "envelope_malformed")


def test_sup_5_bad_base64_in_body_refused() -> None:
    token = with_part(sealed(), 3, lambda ct: ct[:50] + "*" + ct[51:])
    refused(token, EnvelopeMalformed, "envelope_malformed")


def test_sup_5_decrypted_content_not_a_jws_refused() -> None:
    refused(encrypt_to_directory(b"just some bytes"), EnvelopeMalformed, "envelope_malformed")
    two_parts = f"{b64json(inner_header())}.{b64(PAYLOAD)}"
    refused(encrypt_to_directory(two_parts), EnvelopeMalformed, "envelope_malformed")
    refused(encrypt_to_directory(b"\xff\xfe.\x00.x"), EnvelopeMalformed, "envelope_malformed")


def test_sup_5_oversized_token_refused_before_decoding() -> None:
    opener = EnvelopeOpener(
        decryption_keys=DIRECTORY_KEYS,
        supplier_keys=SUPPLIERS,
        clock=FixedClock(NOW),
        max_payload_bytes=1000,
    )
    with pytest.raises(EnvelopeMalformed, match="larger"):
        opener.open(sealed(b"x" * 5000))
    assert opener.open(sealed(b"x" * 1000)).payload == b"x" * 1000


def test_sup_5_non_string_token_refused() -> None:
    refused(b"abc", EnvelopeMalformed, "envelope_malformed")  # type: ignore[arg-type]


# --- rotation, end to end ------------------------------------------------------------------


def test_sup_5_rotation_overlap_old_directory_key_opens_then_refused() -> None:
    ring = KeyRing.for_encryption()
    old = ring.rotate(NOW - timedelta(days=100), timedelta(days=7))
    clock = MovableClock(NOW)
    opener = EnvelopeOpener(decryption_keys=ring, supplier_keys=SUPPLIERS, clock=clock)
    sealer = Sealer(signing_key=SUPPLIER, recipient=old.public_key(), clock=clock)
    before_rotation = sealer.seal(PAYLOAD)

    new = ring.rotate(clock.now(), timedelta(days=7))
    assert ring.current(clock.now()) == new
    # a supplier that has not yet fetched the new JWKS still gets through
    clock.advance(timedelta(days=6))
    late = sealer.seal(PAYLOAD)
    assert opener.open(before_rotation).encryption_kid == old.kid
    assert opener.open(late).encryption_kid == old.kid
    # the new key works
    fresh = Sealer(signing_key=SUPPLIER, recipient=new.public_key(), clock=clock).seal(PAYLOAD)
    assert opener.open(fresh).encryption_kid == new.kid
    # after the overlap, the old key is refused, saying why
    clock.advance(timedelta(days=1))
    with pytest.raises(UnknownKey, match="expired") as caught:
        opener.open(late)
    assert caught.value.code == "envelope_unknown_key"
    assert opener.open(fresh).payload == PAYLOAD


def test_sup_5_sealer_signs_with_current_key_of_ring() -> None:
    ring = KeyRing.for_signing()
    first = ring.rotate(NOW - timedelta(days=1), timedelta(hours=1))
    clock = MovableClock(NOW)
    sealer = Sealer(signing_key=ring, recipient=DIRECTORY.public_key(), clock=clock)
    registered = ring.public_key_set()
    assert open_(sealer.seal(PAYLOAD), supplier_keys=registered).signer_kid == first.kid
    second = ring.rotate(clock.now(), timedelta(hours=1))
    registered = ring.public_key_set()
    assert open_(sealer.seal(PAYLOAD), supplier_keys=registered).signer_kid == second.kid


# --- no other exception escapes ------------------------------------------------------------

SMALL_TOKEN = sealed(b"tiny batch")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_sup_5_arbitrary_text_raises_only_envelope_errors(text: str) -> None:
    with pytest.raises(EnvelopeError):
        open_(text)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(0, len(SMALL_TOKEN) - 1), st.integers(1, 255)),
        min_size=1,
        max_size=4,
        unique_by=lambda flip: flip[0],  # two flips at one place could cancel out
    )
)
def test_sup_5_byte_flips_of_real_token_raise_only_envelope_errors(
    flips: list[tuple[int, int]],
) -> None:
    data = bytearray(SMALL_TOKEN.encode("ascii"))
    for position, mask in flips:
        data[position] ^= mask
    with pytest.raises(EnvelopeError):
        open_(data.decode("latin-1"))


_HEADER_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        ["ECDH-ES+A256KW", "A256GCM", "EdDSA", "none", "DEF", "JWS", JWE_TYPE, DIRECTORY.kid]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
_HEADERS = st.dictionaries(
    st.sampled_from(["alg", "enc", "kid", "typ", "cty", "zip", "epk", "crit", "b64", "iat"]),
    _HEADER_VALUES,
    max_size=8,
)


@settings(max_examples=300)
@given(
    _HEADERS,
    st.lists(st.binary(max_size=40).map(b64), min_size=0, max_size=6),
)
def test_sup_5_structured_junk_raises_only_envelope_errors(
    header: dict[str, Any], segments: list[str]
) -> None:
    token = ".".join([b64json(header), *segments])
    with pytest.raises(EnvelopeError):
        open_(token)


@settings(max_examples=150, deadline=None)
@given(_HEADERS, st.lists(st.binary(max_size=40).map(b64), min_size=0, max_size=4))
def test_sup_5_junk_inside_valid_encryption_raises_only_envelope_errors(
    header: dict[str, Any], segments: list[str]
) -> None:
    token = encrypt_to_directory(".".join([b64json(header), *segments]))
    with pytest.raises(EnvelopeError):
        open_(token)
