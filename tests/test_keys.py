"""Supply keys: generation, JWK/JWKS, passphrase storage, rotation (SUP-3, SUP-5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwk
from joserfc.util import urlsafe_b64decode

from contactpoint_sdk.errors import KeyMaterialError, UnknownKey, WrongPassphrase
from contactpoint_sdk.supply.keys import (
    DEFAULT_PASSPHRASE_ITERATIONS,
    EncryptionKey,
    KeyRing,
    KeyRingEntry,
    PublicKey,
    PublicKeySet,
    SigningKey,
)

T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
FAST = 10_000  # PBKDF2 iterations for tests that do not test the default


# --- generation and JWK -------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "curve", "use", "alg"),
    [(SigningKey, "Ed25519", "sig", "EdDSA"), (EncryptionKey, "X25519", "enc", "ECDH-ES+A256KW")],
)
def test_sup_5_generated_key_has_expected_curve_and_thumbprint_kid(
    key_type: type[SigningKey] | type[EncryptionKey], curve: str, use: str, alg: str
) -> None:
    key = key_type.generate()
    public = key.public_jwk()
    assert public["kty"] == "OKP"
    assert public["crv"] == curve
    assert public["use"] == use
    assert public["alg"] == alg
    expected_kid = jwk.thumbprint({"kty": "OKP", "crv": curve, "x": public["x"]})
    assert key.kid == expected_kid == public["kid"]


def test_sup_5_public_jwk_never_has_private_member() -> None:
    for key in (SigningKey.generate(), EncryptionKey.generate()):
        assert "d" not in key.public_jwk()
        assert "d" not in key.public_key().public_jwk()
        assert "d" in key.private_jwk()
        assert key.private_jwk()["d"] not in repr(key)


def test_sup_5_chosen_kid_is_kept() -> None:
    key = SigningKey.generate(kid="school-mis-2025-09")
    assert key.kid == "school-mis-2025-09"
    assert key.public_jwk()["kid"] == "school-mis-2025-09"


@pytest.mark.parametrize("kid", ["", "has space", "x" * 129, "é"])
def test_sup_5_bad_kid_refused(kid: str) -> None:
    with pytest.raises(KeyMaterialError):
        SigningKey.generate(kid=kid)


def test_sup_5_private_jwk_round_trip() -> None:
    key = EncryptionKey.generate(kid="dir-1")
    again = EncryptionKey.from_jwk(key.private_jwk())
    assert again == key
    assert again.kid == "dir-1"


def test_sup_5_jwk_on_wrong_curve_refused_naming_it() -> None:
    encryption_jwk = EncryptionKey.generate().private_jwk()
    with pytest.raises(KeyMaterialError, match="X25519") as caught:
        SigningKey.from_jwk(encryption_jwk)
    assert type(caught.value) is KeyMaterialError
    assert caught.value.code == "key_invalid"
    with pytest.raises(KeyMaterialError, match="Ed25519"):
        EncryptionKey.from_jwk(SigningKey.generate().private_jwk())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kty": "EC"}, "kty"),
        ({"use": "enc"}, "use"),
        ({"alg": "ES256"}, "alg"),
        ({"key_ops": ["encrypt"]}, "key_ops"),
        ({"x": "not base64!"}, "base64url"),
        ({"d": "AAAA"}, "32 bytes"),
        ({"kid": 7}, "kid"),
    ],
)
def test_sup_5_jwk_members_validated(change: dict[str, object], message: str) -> None:
    data = {**SigningKey.generate().private_jwk(), **change}
    with pytest.raises(KeyMaterialError, match=message):
        SigningKey.from_jwk(data)


def test_sup_5_jwk_whose_x_does_not_match_d_refused() -> None:
    data = SigningKey.generate().private_jwk()
    data["x"] = SigningKey.generate().public_jwk()["x"]
    with pytest.raises(KeyMaterialError, match="does not belong"):
        SigningKey.from_jwk(data)


def test_sup_5_private_key_needs_d_and_public_key_refuses_it() -> None:
    key = SigningKey.generate()
    with pytest.raises(KeyMaterialError, match="'d'"):
        SigningKey.from_jwk(key.public_jwk())
    with pytest.raises(KeyMaterialError, match="private member"):
        PublicKey.from_jwk(key.private_jwk())


def test_sup_5_jwk_without_kid_gets_thumbprint() -> None:
    data = SigningKey.generate().private_jwk()
    kid = data.pop("kid")
    assert SigningKey.from_jwk(data).kid == kid


def test_sup_5_junk_jwk_refused() -> None:
    with pytest.raises(KeyMaterialError):
        SigningKey.from_jwk("not a jwk")  # type: ignore[arg-type]
    with pytest.raises(KeyMaterialError, match="curve"):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed448", "x": "AAAA"})


# --- passphrase-encrypted storage -----------------------------------------------


@pytest.mark.parametrize("key_type", [SigningKey, EncryptionKey])
def test_sup_5_passphrase_round_trip(key_type: type[SigningKey] | type[EncryptionKey]) -> None:
    key = key_type.generate()
    text = key.to_encrypted_json("correct horse battery staple", iterations=FAST)
    assert key.private_jwk()["d"] not in text
    document = json.loads(text)
    assert document["kid"] == key.kid
    assert "d" not in document["public_jwk"]
    assert document["encrypted"].count(".") == 4
    loaded = key_type.from_encrypted_json(text, "correct horse battery staple")
    assert loaded == key
    assert loaded.private_jwk() == key.private_jwk()


def test_sup_5_passphrase_uses_pbes2_with_default_iterations() -> None:
    key = SigningKey.generate()
    text = key.to_encrypted_json("pass")
    compact = json.loads(text)["encrypted"]
    header = json.loads(urlsafe_b64decode(compact.split(".")[0].encode()))
    assert header["alg"] == "PBES2-HS512+A256KW"
    assert header["enc"] == "A256GCM"
    assert header["p2c"] == DEFAULT_PASSPHRASE_ITERATIONS
    assert SigningKey.from_encrypted_json(text, "pass") == key


def test_sup_5_wrong_passphrase_refused() -> None:
    text = SigningKey.generate().to_encrypted_json("right", iterations=FAST)
    with pytest.raises(WrongPassphrase) as caught:
        SigningKey.from_encrypted_json(text, "wrong")
    assert caught.value.code == "key_wrong_passphrase"
    assert isinstance(caught.value, KeyMaterialError)


@pytest.mark.parametrize(
    "text",
    ["", "junk", "[]", "{}", '{"format": "contactpoint-key", "version": 1}', "\x00\xff"],
)
def test_sup_5_junk_key_file_refused(text: str) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        SigningKey.from_encrypted_json(text, "pass")
    assert type(caught.value) is KeyMaterialError


def test_sup_5_key_file_of_other_kind_refused() -> None:
    text = SigningKey.generate().to_encrypted_json("pass", iterations=FAST)
    with pytest.raises(KeyMaterialError, match="signing"):
        EncryptionKey.from_encrypted_json(text, "pass")


def test_sup_5_key_file_with_swapped_public_part_refused() -> None:
    key = SigningKey.generate()
    document = json.loads(key.to_encrypted_json("pass", iterations=FAST))
    document["public_jwk"] = SigningKey.generate().public_jwk()
    with pytest.raises(KeyMaterialError, match="does not match"):
        SigningKey.from_encrypted_json(json.dumps(document), "pass")


def test_sup_5_key_file_with_damaged_ciphertext_refused() -> None:
    document = json.loads(SigningKey.generate().to_encrypted_json("pass", iterations=FAST))
    parts = document["encrypted"].split(".")
    parts[3] = ("B" if parts[3][0] == "A" else "A") + parts[3][1:]
    document["encrypted"] = ".".join(parts)
    with pytest.raises(KeyMaterialError):
        SigningKey.from_encrypted_json(json.dumps(document), "pass")


def test_sup_5_empty_passphrase_refused() -> None:
    with pytest.raises(KeyMaterialError, match="passphrase"):
        SigningKey.generate().to_encrypted_json("", iterations=FAST)


# --- public key sets ------------------------------------------------------------------


def test_sup_3_public_key_set_round_trip_and_lookup() -> None:
    a, b = SigningKey.generate(kid="a"), SigningKey.generate(kid="b")
    keys = PublicKeySet([a.public_key(), b.public_key()])
    jwks = keys.to_jwks()
    assert [k["kid"] for k in jwks["keys"]] == ["a", "b"]
    assert all("d" not in k for k in jwks["keys"])
    again = PublicKeySet.from_jwks(json.loads(json.dumps(jwks)), curve="Ed25519")
    assert again == keys
    assert again.get("b") == b.public_key()
    assert "a" in again
    assert len(again) == 2


def test_sup_3_unknown_kid_refused_with_unknown_key() -> None:
    keys = PublicKeySet([SigningKey.generate(kid="a").public_key()])
    with pytest.raises(UnknownKey) as caught:
        keys.get("zz")
    assert caught.value.code == "envelope_unknown_key"
    assert caught.value.rule == "SUP-5"


def test_sup_3_jwks_curve_filter_and_bad_members() -> None:
    jwks = {"keys": [EncryptionKey.generate().public_jwk()]}
    with pytest.raises(KeyMaterialError, match=r"keys\[0\].*Ed25519"):
        PublicKeySet.from_jwks(jwks, curve="Ed25519")
    with pytest.raises(KeyMaterialError, match=r"keys\[0\].*private"):
        PublicKeySet.from_jwks({"keys": [SigningKey.generate().private_jwk()]})
    with pytest.raises(KeyMaterialError, match="keys"):
        PublicKeySet.from_jwks({"nokeys": []})


def test_sup_3_two_keys_with_one_kid_refused() -> None:
    a, b = SigningKey.generate(kid="same"), SigningKey.generate(kid="same")
    with pytest.raises(KeyMaterialError, match="same"):
        PublicKeySet([a.public_key(), b.public_key()])


# --- rotation ----------------------------------------------------------------------------


def test_sup_5_rotation_overlap_window() -> None:
    ring = KeyRing.for_encryption()
    old = ring.rotate(T0, timedelta(days=7))
    assert ring.current(T0) == old
    rotated_at = T0 + timedelta(days=90)
    new = ring.rotate(rotated_at, timedelta(days=7))
    assert new != old
    assert ring.current(rotated_at) == new
    # inside the overlap, the retired key still opens
    assert ring.valid_at(old.kid, rotated_at + timedelta(days=6, hours=23)) == old
    # after it, refused, saying why
    with pytest.raises(UnknownKey, match="expired") as caught:
        ring.valid_at(old.kid, rotated_at + timedelta(days=7))
    assert caught.value.code == "envelope_unknown_key"
    assert ring.valid_at(new.kid, rotated_at + timedelta(days=365)) == new
    entry = ring.entries[0]
    assert entry.not_after == rotated_at + timedelta(days=7)


def test_sup_5_current_picks_newest_valid_key() -> None:
    a, b, c = (SigningKey.generate() for _ in range(3))
    ring = KeyRing.for_signing(
        [
            KeyRingEntry(a),
            KeyRingEntry(b, not_before=T0),
            KeyRingEntry(c, not_before=T0 + timedelta(days=30)),  # pre-published
        ]
    )
    assert ring.current(T0 - timedelta(days=1)) == a
    assert ring.current(T0) == b
    assert ring.current(T0 + timedelta(days=30)) == c
    with pytest.raises(UnknownKey, match="not valid before"):
        ring.valid_at(c.kid, T0)


def test_sup_5_ring_with_no_valid_key_has_no_current() -> None:
    ring = KeyRing.for_signing()
    ring.add(SigningKey.generate(), not_after=T0)
    with pytest.raises(KeyMaterialError, match="no key"):
        ring.current(T0)
    with pytest.raises(UnknownKey):
        ring.valid_at("nope", T0)


def test_sup_5_retire_ends_a_key_at_once() -> None:
    ring = KeyRing.for_signing()
    key = ring.rotate(T0, timedelta(days=1))
    ring.retire(key.kid, T0 + timedelta(hours=1))
    with pytest.raises(UnknownKey, match="expired"):
        ring.valid_at(key.kid, T0 + timedelta(hours=1))


def test_sup_5_ring_refuses_duplicate_kid_and_wrong_type() -> None:
    ring = KeyRing.for_signing()
    ring.add(SigningKey.generate(kid="k"))
    with pytest.raises(KeyMaterialError, match="already"):
        ring.add(SigningKey.generate(kid="k"))
    with pytest.raises(KeyMaterialError, match="SigningKey"):
        ring.add(EncryptionKey.generate())  # type: ignore[arg-type]


def test_sup_5_ring_needs_aware_datetimes() -> None:
    ring = KeyRing.for_signing()
    with pytest.raises(ValueError, match="aware"):
        ring.rotate(datetime(2025, 1, 1), timedelta(days=1))
    with pytest.raises(ValueError, match="aware"):
        ring.add(SigningKey.generate(), not_before=datetime(2025, 1, 1))


def test_sup_5_ring_public_key_set_drops_expired_keys() -> None:
    ring = KeyRing.for_encryption()
    old = ring.rotate(T0, timedelta(days=1))
    new = ring.rotate(T0 + timedelta(days=10), timedelta(days=1))
    assert set(ring.public_key_set().kids) == {old.kid, new.kid}
    assert ring.public_key_set(T0 + timedelta(days=10, hours=1)).kids == (old.kid, new.kid)
    assert ring.public_key_set(T0 + timedelta(days=12)).kids == (new.kid,)


def test_sup_5_ring_passphrase_round_trip() -> None:
    ring = KeyRing.for_encryption()
    old = ring.rotate(T0, timedelta(days=7))
    ring.rotate(T0 + timedelta(days=30), timedelta(days=7))
    text = ring.to_encrypted_json("ring pass", iterations=FAST)
    assert old.private_jwk()["d"] not in text
    loaded = KeyRing.from_encrypted_json(text, "ring pass", key_type=EncryptionKey)
    assert loaded.kids == ring.kids
    assert loaded.entries == ring.entries
    with pytest.raises(WrongPassphrase):
        KeyRing.from_encrypted_json(text, "nope", key_type=EncryptionKey)
    with pytest.raises(KeyMaterialError, match="encryption"):
        KeyRing.from_encrypted_json(text, "ring pass", key_type=SigningKey)
    document = json.loads(text)
    document["keys"][0]["not_after"] = None  # a readable listing that lies
    with pytest.raises(KeyMaterialError, match="listing"):
        KeyRing.from_encrypted_json(json.dumps(document), "ring pass", key_type=EncryptionKey)
