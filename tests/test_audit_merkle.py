"""RFC 6962 / RFC 9162 Merkle trees for the audit log (ACC-5).

The reference vectors are the Certificate Transparency test data shared by CT
implementations: the eight leaves, the tree roots for sizes 1 to 8, and the
inclusion and consistency proofs below. Values (not code) taken from
``transparency-dev/merkle``, ``proof/verify_test.go`` at commit
02194e9afb6c1d95b5381350007963aa70fff472 (the same values appear in
``google/certificate-transparency-go``'s merkle tests). That file numbers
leaves from 1 in its inclusion vectors; here they are 0-based.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactpoint_sdk.reference_server import merkle
from contactpoint_sdk.reference_server.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

#: ROOTS[n] is the root of the tree of the first n leaves.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

#: (leaf index, tree size, audit path)
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

#: (old size, new size, consistency proof)
CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def reference_tree() -> MerkleTree:
    tree = MerkleTree()
    for data in LEAVES:
        tree.append(data)
    return tree


def naive_mth(data: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 defines it, recursively over the data."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


# --- Hashing --------------------------------------------------------------------


def test_acc_5_leaf_and_node_hashes_use_distinct_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    # A node's two children, read as one leaf, do not give the node's hash.
    left, right = leaf_hash(b"x"), leaf_hash(b"y")
    assert leaf_hash(left + right) != node_hash(left, right)


def test_acc_5_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_acc_5_roots_match_the_rfc_6962_reference_vectors(size: int) -> None:
    tree = reference_tree()
    assert tree.root(size).hex() == ROOTS[size]
    assert MerkleTree(leaf_hash(d) for d in LEAVES[:size]).root().hex() == ROOTS[size]


@given(st.lists(st.binary(max_size=8), max_size=70))
@settings(max_examples=60, deadline=None)
def test_acc_5_root_matches_the_rfc_definition_for_any_size(data: list[bytes]) -> None:
    tree = MerkleTree()
    for item in data:
        tree.append(item)
    for size in range(len(data) + 1):
        assert tree.root(size) == naive_mth(data[:size])


# --- Inclusion proofs --------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_acc_5_inclusion_proofs_match_the_reference_vectors(
    index: int, size: int, path: list[str]
) -> None:
    tree = reference_tree()
    assert [node.hex() for node in tree.inclusion_proof(index, size)] == path
    assert verify_inclusion(
        leaf_hash(LEAVES[index]), index, size, [h(p) for p in path], h(ROOTS[size])
    )


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_acc_5_corrupted_inclusion_proofs_are_refused(
    index: int, size: int, path: list[str]
) -> None:
    proof = [h(p) for p in path]
    root, leaf = h(ROOTS[size]), leaf_hash(LEAVES[index])
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root),
    ]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = bytes([flipped[position][0] ^ 8]) + flipped[position][1:]
        probes.append((index, size, leaf, flipped, root))
    for probe in probes:
        assert not verify_inclusion(probe[2], probe[0], probe[1], probe[3], probe[4]), probe


def test_acc_5_single_leaf_and_malformed_inclusion_cases() -> None:
    leaf = leaf_hash(b"data")
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], leaf)
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 1)]:
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    assert root_from_inclusion_proof(leaf, 0, 2, [b"short"]) is None


@given(
    st.lists(st.binary(max_size=6), min_size=1, max_size=80),
    st.data(),
)
@settings(max_examples=150, deadline=None)
def test_acc_5_every_inclusion_proof_verifies_and_fails_for_a_wrong_leaf_or_index(
    data: list[bytes], draw: st.DataObject
) -> None:
    # Each leaf made unique, so no two subtrees share a hash by coincidence.
    data = [i.to_bytes(2, "big") + item for i, item in enumerate(data)]
    tree = MerkleTree()
    for item in data:
        tree.append(item)
    size = draw.draw(st.integers(1, len(data)), label="size")
    index = draw.draw(st.integers(0, size - 1), label="index")
    root = tree.root(size)
    proof = tree.inclusion_proof(index, size)
    leaf = leaf_hash(data[index])
    assert verify_inclusion(leaf, index, size, proof, root)
    assert root_from_inclusion_proof(leaf, index, size, proof) == root
    # A leaf that is not there, or the right leaf at another index, fails.
    assert not verify_inclusion(leaf_hash(data[index] + b"!"), index, size, proof, root)
    for other in {index - 1, index + 1, index ^ 1, index ^ 2, size, size + 1}:
        if other != index:
            assert not verify_inclusion(leaf, other, size, proof, root), other
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)


# --- Consistency proofs ------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_acc_5_consistency_proofs_match_the_reference_vectors(
    old: int, new: int, path: list[str]
) -> None:
    tree = reference_tree()
    assert [node.hex() for node in tree.consistency_proof(old, new)] == path
    assert verify_consistency(old, new, h(ROOTS[old]), h(ROOTS[new]), [h(p) for p in path])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_acc_5_corrupted_consistency_proofs_are_refused(
    old: int, new: int, path: list[str]
) -> None:
    proof = [h(p) for p in path]
    r1, r2 = h(ROOTS[old]), h(ROOTS[new])
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = bytes([flipped[position][0] ^ 16]) + flipped[position][1:]
        probes.append((old, new, r1, r2, flipped))
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_acc_5_trivial_consistency_cases() -> None:
    r1, r2 = leaf_hash(b"1"), leaf_hash(b"2")
    assert verify_consistency(0, 0, r1, r1, [])
    assert verify_consistency(0, 5, r1, r2, [])
    assert verify_consistency(3, 3, r2, r2, [])
    assert not verify_consistency(3, 3, r1, r2, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(1, 0, r1, r2, [])  # time travel
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, r1, r2, [])  # no proof
    assert MerkleTree([r1, r2]).consistency_proof(0, 2) == []
    assert MerkleTree([r1, r2]).consistency_proof(2) == []


@given(st.lists(st.binary(max_size=6), min_size=1, max_size=80), st.data())
@settings(max_examples=150, deadline=None)
def test_acc_5_consistency_proofs_verify_between_any_two_sizes_and_fail_after_tampering(
    data: list[bytes], draw: st.DataObject
) -> None:
    tree = MerkleTree()
    for item in data:
        tree.append(item)
    new = draw.draw(st.integers(1, len(data)), label="new")
    old = draw.draw(st.integers(1, new), label="old")
    proof = tree.consistency_proof(old, new)
    r1, r2 = tree.root(old), tree.root(new)
    assert verify_consistency(old, new, r1, r2, proof)
    if old == new:
        return
    # The old tree rewritten: its root no longer links to the new one.
    changed = list(data[:new])
    position = draw.draw(st.integers(0, old - 1), label="position")
    changed[position] += b"!"
    assert not verify_consistency(old, new, naive_mth(changed[:old]), r2, proof)
    # A proof element flipped, or the proof cut short, fails.
    element = draw.draw(st.integers(0, len(proof) - 1), label="element")
    flipped = list(proof)
    flipped[element] = bytes([flipped[element][0] ^ 1]) + flipped[element][1:]
    assert not verify_consistency(old, new, r1, r2, flipped)
    assert not verify_consistency(old, new, r1, r2, proof[:-1])


# --- Efficiency ----------------------------------------------------------------------


def test_acc_5_appends_hash_each_subtree_once_and_roots_cost_log_n(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting)
    tree = MerkleTree()
    n = 10_000
    for i in range(n):
        tree.append(i.to_bytes(4, "big"))
    # Exactly one node hash per complete subtree: n - popcount(n) in all.
    assert calls == n - bin(n).count("1")
    calls = 0
    tree.root()
    assert calls <= n.bit_length()
    calls = 0
    tree.inclusion_proof(1234)
    tree.consistency_proof(777)
    assert calls <= 2 * n.bit_length() ** 2


def test_bad_arguments_are_refused() -> None:
    tree = MerkleTree([leaf_hash(b"a")])
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append_hash(b"short")
    with pytest.raises(ValueError, match="outside"):
        tree.root(2)
    with pytest.raises(ValueError, match="not in a tree"):
        tree.inclusion_proof(1)
    with pytest.raises(ValueError, match="outside"):
        tree.consistency_proof(2)
    with pytest.raises(IndexError):
        tree.leaf_hash(1)
