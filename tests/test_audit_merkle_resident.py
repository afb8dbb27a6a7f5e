"""The audit log's Merkle tree keeps only its upper levels in memory (issue 10).

A :class:`MerkleTree` given ``leaves`` (a reader of the stored leaf hashes)
drops the levels below ``resident_level`` for every completed block of
``2**resident_level`` leaves and reads them back for proofs; every root and
proof must be exactly those of a tree that keeps everything.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog
from contactpoint_sdk.reference_server.merkle import (
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from contactpoint_sdk.supply.keys import SigningKey

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@pytest.mark.parametrize("resident_level", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 100])
def test_a_tree_reading_its_lower_levels_back_gives_every_root_and_proof(
    n: int, resident_level: int
) -> None:
    values = hashes(n)
    stored = b"".join(values)
    reads: list[tuple[int, int]] = []

    def leaves(start: int, end: int) -> bytes:
        reads.append((start, end))
        return stored[start * HASH_SIZE : end * HASH_SIZE]

    full = MerkleTree(values)
    lean = MerkleTree(leaves=leaves, resident_level=resident_level)
    for count, value in enumerate(values, start=1):
        lean.append_hash(value)
        assert lean.root() == full.root(count)  # the whole root never reads
    assert not reads
    assert len(lean) == n
    for size in range(n + 1):
        assert lean.root(size) == full.root(size)
    for size in range(1, n + 1):
        for index in range(size):
            assert lean.inclusion_proof(index, size) == full.inclusion_proof(index, size)
        for old in range(size + 1):
            assert lean.consistency_proof(old, size) == full.consistency_proof(old, size)
    for index in range(n):
        assert lean.leaf_hash(index) == values[index]
    assert lean.resident_bytes <= full.resident_bytes


def test_the_lean_tree_holds_a_few_hashes_a_block() -> None:
    n = 20_000
    full = MerkleTree(hashes(n))
    lean = MerkleTree(hashes(n), leaves=lambda start, end: b"", resident_level=10)
    assert full.resident_bytes == (2 * n - bin(n).count("1")) * HASH_SIZE
    # The levels from 10 up (about 2n / 1024 hashes) and the block being filled.
    assert lean.resident_bytes <= (2 * n // 1024 + 2 * 1024) * HASH_SIZE
    assert lean.root() == full.root()


def test_a_reader_that_comes_back_short_is_refused() -> None:
    tree = MerkleTree(hashes(8), leaves=lambda start, end: b"", resident_level=2)
    with pytest.raises(ValueError, match="could not be read back"):
        tree.inclusion_proof(0)
    with pytest.raises(ValueError, match="resident_level"):
        MerkleTree(leaves=lambda start, end: b"", resident_level=0)


def event(i: int) -> AuditEvent:
    return AuditEvent(
        at=T0 + timedelta(seconds=i),
        action="supply_applied",
        actor=f"supplier-{i % 3}",
        directory_id=f"CP-{i:06d}",
        code="ok",
        rule="SUP-1",
        refs=(f"batch-{i // 500:04d}",),
    )


def test_a_file_log_past_a_block_proves_entries_from_the_file(tmp_path: Path) -> None:
    n = 2_600  # two completed blocks of 1,024 entries and part of a third
    path = tmp_path / "audit.db"
    key = SigningKey.generate()
    clock = MovableClock(T0)
    with MerkleAuditLog(path, clock=clock, durable=False) as log:
        for start in range(0, n, 500):
            log.append_many(event(i) for i in range(start, min(n, start + 500)))
        early_size = 700
        early_root = log.root(early_size)
        head = log.tree_head(key)
        full = MerkleTree(leaf_hash(entry.data) for entry in log.entries())
        assert head.root_hash == full.root()
        assert early_root == full.root(early_size)
        for index in [*random.Random(10).sample(range(n), 60), 0, 1023, 1024, n - 1]:
            proof = log.inclusion_proof(index)
            assert proof.leaf_hash == leaf_hash(log.entry(index).data)
            assert list(proof.path) == full.inclusion_proof(index)
            assert verify_inclusion(proof.leaf_hash, index, n, proof.path, head.root_hash)
        consistency = log.consistency_proof(early_size)
        assert verify_consistency(early_size, n, early_root, head.root_hash, consistency.path)
        assert log.verify(head, key.public_key()).ok
    with MerkleAuditLog(path, clock=clock) as reopened:  # reloaded lean, same tree
        assert reopened.root() == head.root_hash
        assert list(reopened.inclusion_proof(5).path) == full.inclusion_proof(5)
