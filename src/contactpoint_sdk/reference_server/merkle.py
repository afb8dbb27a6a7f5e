"""Merkle trees for the tamper-evident audit log (ACC-5), as RFC 6962 / RFC 9162.

Hashing (RFC 9162 §2.1.1), over SHA-256:

- the hash of the empty tree is ``SHA-256("")``;
- a leaf's hash is ``SHA-256(0x00 || data)``;
- an interior node's hash is ``SHA-256(0x01 || left || right)``.

The distinct prefixes keep a leaf from ever being taken for an interior node
(a second-preimage attack on the tree). The Merkle Tree Hash of ``n > 1``
leaves splits them at ``k``, the largest power of two smaller than ``n``:
``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``. Odd nodes are never
duplicated (unlike Bitcoin, CVE-2012-2459).

Proofs are generated with the ``PATH`` (§2.1.3.1) and ``SUBPROOF`` (§2.1.4.1)
definitions and verified with the iterative algorithms of §2.1.3.2 and
§2.1.4.2, step for step; :func:`verify_inclusion` and
:func:`verify_consistency` take nothing on trust from the tree that made the
proof, so an auditor can run them alone.

:class:`MerkleTree` keeps, for every level ``k``, the hash of every *complete*
aligned subtree of ``2**k`` leaves, packed 32 bytes apiece into one
``bytearray`` per level (level 0 is the leaf hashes). Complexity for a tree of
``n`` leaves:

- :meth:`MerkleTree.append` — amortised O(1) hashes (at most ``log2 n``, one on
  average): a subtree's hash is computed once, when its last leaf arrives, and
  never again;
- :meth:`MerkleTree.root` for *any* size ``m <= n`` — O(log n): every left
  child on the way down is a complete subtree already stored; only the
  ragged right edge (at most ``log2 n`` nodes) is hashed;
- :meth:`MerkleTree.inclusion_proof` and :meth:`MerkleTree.consistency_proof`
  — O(log n) proof elements, each a stored node or a right-edge hash of
  O(log n): O(log² n) hashes at worst, in practice a few dozen;
- memory — about ``2n`` hashes: 64 MB for a million leaves.

Given ``leaves`` (a function reading stored leaf hashes back, as
:class:`~.audit_log.MerkleAuditLog` does from its SQLite file), the tree keeps
in memory only the levels from ``resident_level`` (default 8) up, and the
lower levels of the one incomplete block of ``2**resident_level`` leaves at the
right edge: about ``2n / 2**resident_level`` hashes (250 KB for a million
leaves) plus at most ``2 * 2**resident_level``. Appends and :meth:`root` of the
whole tree never read; a proof or an older root that needs a node below that
level inside a completed block reads that node's leaves (at most
``2**(resident_level - 1)``) and hashes them: a few hundred hashes a proof at
worst (about 0.4 ms against 20 us with every level in memory).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

#: Bytes in a SHA-256 hash.
HASH_SIZE: Final = 32
_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"

#: The Merkle Tree Hash of the empty tree: ``SHA-256("")`` (RFC 9162 §2.1.1).
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


class MerkleTree:
    """An append-only Merkle tree over leaf hashes, with proofs for any size.

    :param leaf_hashes: the leaves to start with.
    :param leaves: optional; ``leaves(start, end)`` returns the hashes of
        leaves ``start`` to ``end - 1``, concatenated (``32 * (end - start)``
        bytes), read from wherever they are kept. With it, the nodes below
        ``resident_level`` are kept only for the block of ``2**resident_level``
        leaves still being filled (see the module notes); without it, every
        node is kept.
    :param resident_level: the lowest level kept whole when ``leaves`` is given.

    Not thread safe on its own: :class:`~.audit_log.MerkleAuditLog` guards it.
    """

    __slots__ = ("_base", "_leaves", "_levels", "_resident", "_size")

    def __init__(
        self,
        leaf_hashes: Iterable[bytes] = (),
        *,
        leaves: Callable[[int, int], bytes] | None = None,
        resident_level: int = 8,
    ) -> None:
        if resident_level < 1:
            raise ValueError("resident_level must be at least 1")
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        #: Leaves before this many (a multiple of 2**resident_level) have no
        #: nodes below the resident level in memory.
        self._base = 0
        self._leaves = leaves
        self._resident = resident_level if leaves is not None else 0
        for value in leaf_hashes:
            self.append_hash(value)

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    @property
    def resident_bytes(self) -> int:
        """The bytes of hashes the tree holds in memory."""
        return sum(len(level) for level in self._levels)

    def append(self, data: bytes) -> int:
        """Append a leaf by its data; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, value: bytes) -> int:
        """Append a leaf by its leaf hash; returns its index.

        Completes (and stores) every subtree this leaf closes: amortised one
        node hash per leaf.
        """
        if not _is_hash(value):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        levels = self._levels
        index = self._size
        levels[0] += value
        self._size = index + 1
        position, level, right = index, 0, value
        resident, base = self._resident, self._base
        while position & 1:
            start = ((position - 1) - (base >> level if level < resident else 0)) * HASH_SIZE
            right = node_hash(bytes(levels[level][start : start + HASH_SIZE]), right)
            level += 1
            position >>= 1
            if len(levels) == level:
                levels.append(bytearray())
            levels[level] += right
        if resident and level >= resident:
            # A block of 2**resident leaves is complete (its node is stored at
            # the resident level): drop the levels below, readable from leaves.
            self._base = self._size
            for lower in range(resident):
                levels[lower].clear()
        return index

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index``."""
        if not 0 <= index < self._size:
            raise IndexError(f"no leaf {index} in a tree of {self._size}")
        return self._node(0, index)

    def _node(self, level: int, position: int) -> bytes:
        """The stored node ``position`` of ``level`` (a complete subtree)."""
        if level < self._resident:
            first = self._base >> level
            if position < first:
                return self._read_node(level, position)
            position -= first
        start = position * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _read_node(self, level: int, position: int) -> bytes:
        """A node below the resident level, from its leaves as read back."""
        if self._leaves is None:  # never: nodes are dropped only when they can be read
            raise ValueError("this tree cannot read leaves back")
        count = 1 << level
        start = position << level
        data = self._leaves(start, start + count)
        if len(data) != count * HASH_SIZE:
            raise ValueError(f"leaves {start}..{start + count - 1} could not be read back")
        nodes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        while len(nodes) > 1:
            nodes = [node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        return bytes(nodes[0])

    def _hash(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` for ``0 <= start < end <= len(self)``."""
        size = end - start
        if size & (size - 1) == 0 and start % size == 0:
            level = size.bit_length() - 1
            return self._node(level, start >> level)
        k = _split(size)
        return node_hash(self._hash(start, start + k), self._hash(start + k, end))

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} is outside 0..{self._size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The Merkle Tree Hash of the first ``size`` leaves (default: all)."""
        size = self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size``
        leaves: ``PATH(index, D[size])`` of RFC 9162 §2.1.3.1, leaf upwards."""
        size = self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        path: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = _split(end - start)
            if m < k:
                path.append(self._hash(start + k, end))
                end = start + k
            else:
                path.append(self._hash(start, start + k))
                start += k
                m -= k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """``PROOF(old_size, D[new_size])`` of RFC 9162 §2.1.4.1: the proof that
        the tree of ``new_size`` leaves extends the tree of ``old_size``.

        Empty when ``old_size`` is 0 or equal to ``new_size`` (nothing to prove).
        """
        new_size = self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is outside 0..{new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, new_size, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self._hash(start, end))
        proof.reverse()
        return proof


# --- Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------


def root_from_inclusion_proof(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root an inclusion proof leads to, or ``None`` if the proof is
    malformed for ``index`` and ``tree_size`` (RFC 9162 §2.1.3.2 steps 1-5)."""
    if not _is_hash(leaf) or not all(_is_hash(p) for p in proof):
        return None
    # 1. leaf_index must be smaller than tree_size.
    if not 0 <= index < tree_size:
        return None
    # 2-3. fn = leaf_index, sn = tree_size - 1, r = hash.
    fn, sn, r = index, tree_size - 1, leaf
    # 4. Fold in each value of the inclusion path.
    for p in proof:
        if sn == 0:  # a. the path is longer than the tree is deep
            return None
        if fn & 1 or fn == sn:  # b. p is a left sibling
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:  # p is a right sibling
            r = node_hash(r, p)
        fn >>= 1  # c.
        sn >>= 1
    # 5. The whole path must have been used.
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` proves leaf hash ``leaf`` is at ``index`` in the tree
    of ``tree_size`` leaves whose root is ``root`` (RFC 9162 §2.1.3.2)."""
    computed = root_from_inclusion_proof(leaf, index, tree_size, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """Whether ``proof`` proves the tree of ``new_size`` leaves (root
    ``new_root``) extends the tree of ``old_size`` leaves (root ``old_root``):
    RFC 9162 §2.1.4.2.

    The cases the RFC leaves to the caller: ``old_size == new_size`` needs an
    empty proof and equal roots; ``old_size == 0`` (the empty tree is a prefix
    of every tree) needs an empty proof; ``old_size > new_size`` never holds.
    """
    if not (_is_hash(old_root) and _is_hash(new_root)) or not all(_is_hash(p) for p in proof):
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    # 1. An empty consistency path fails.
    if not proof:
        return False
    path = list(proof)
    # 2. If first is an exact power of 2, prepend first_hash.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, right-shift both until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = path[0]
    # 6. Fold in each subsequent value.
    for c in path[1:]:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # c.
        sn >>= 1
    # 7. fr must be first_hash, sr second_hash, and sn 0.
    return fr == old_root and sr == new_root and sn == 0
