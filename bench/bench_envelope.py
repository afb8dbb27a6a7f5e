"""Time sealing and opening supply envelopes of 500-record batches (SUP-5).

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_envelope.py [--seconds 3]``.
Prints envelopes/s and records/s on one core for ``seal`` and ``open``; the
goal is >= 50,000 records/s sealed.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.supply.envelope import EnvelopeOpener, Sealer
from contactpoint_sdk.supply.keys import EncryptionKey, PublicKeySet, SigningKey

RECORDS_PER_ENVELOPE = 500
TARGET_PAYLOAD_BYTES = 250_000


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_letters + " ", k=size))


def make_payload(records: int, target_bytes: int, seed: int = 1) -> bytes:
    """A JSON batch of ``records`` made-up records, about ``target_bytes`` long."""
    rng = random.Random(seed)
    per_record = target_bytes // records
    rows = []
    for index in range(records):
        row = {
            "op": "upsert",
            "source_id": f"UPN{index:012d}",
            "name": {"given": _text(rng, 8), "family": _text(rng, 10)},
            "date_of_birth": "2014-03-1" + str(index % 10),
            "address": {"lines": [_text(rng, 20), _text(rng, 14)], "postcode": "AB1 2CD"},
        }
        filler = per_record - len(json.dumps(row)) - 12
        row["notes_free"] = _text(rng, max(filler, 0))
        rows.append(row)
    return json.dumps({"batch": rows}, separators=(",", ":")).encode()


def rate(action: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``action`` over about ``seconds``."""
    action()  # warm up
    count = 0
    start = time.perf_counter()
    while True:
        action()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    arguments = parser.parse_args()

    clock = FixedClock(datetime(2025, 9, 1, 8, 30, tzinfo=UTC))
    supplier = SigningKey.generate()
    directory = EncryptionKey.generate()
    sealer = Sealer(signing_key=supplier, recipient=directory.public_key(), clock=clock)
    opener = EnvelopeOpener(
        decryption_keys={directory.kid: directory},
        supplier_keys=PublicKeySet([supplier.public_key()]),
        clock=clock,
    )
    payload = make_payload(RECORDS_PER_ENVELOPE, TARGET_PAYLOAD_BYTES)
    token = sealer.seal(payload)
    if opener.open(token).payload != payload:  # pragma: no cover - a sanity check
        raise SystemExit("round trip failed")

    print(
        f"payload {len(payload):,} bytes ({RECORDS_PER_ENVELOPE} records), "
        f"envelope {len(token):,} characters"
    )
    for name, action in (
        ("seal", lambda: sealer.seal(payload)),
        ("open", lambda: opener.open(token)),
    ):
        per_second = rate(action, arguments.seconds)
        print(
            f"{name}: {per_second:,.0f} envelopes/s = "
            f"{per_second * RECORDS_PER_ENVELOPE:,.0f} records/s "
            f"({1000 / per_second:.2f} ms per envelope)"
        )


if __name__ == "__main__":
    main()
