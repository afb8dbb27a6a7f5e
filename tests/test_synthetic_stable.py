"""The synthetic generator's output, pinned: the same seed gives the very same records.

The generator is tuned for speed (``bench/bench_synthetic.py``); every such
change must leave its output untouched. A change here means every seeded
test fixture, demo and benchmark elsewhere now sees different data.

The digests were recorded before the speed work of issue 2 (session 2) and
re-pinned once, on purpose, for issue 10: brothers and sisters no longer get
the same given name, or two the matcher could take for one another. Only
those children's given names changed (56 of the first 20,000 records, each
in its given name alone): :func:`test_only_sibling_names_changed_in_issue_10`
switches the rule off and gets the session-2 digests back, so the issue's
other changes (identifiers never reissued) left the streams as they were.

Each digest is the SHA-256 of the records' wire encoding (``WireCodec.encode``,
then ``json.dumps`` with sorted keys, one line a record).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date

import pytest

from contactpoint_sdk.models import ChildRecord, WireCodec
from contactpoint_sdk.synthetic import Population

TODAY = date(2026, 3, 1)
CODEC = WireCodec()

#: The first 20,000 records of seed 2026 (the bench's seed), default LAs.
FIRST_20000_SEED_2026 = "503c153dcff6f93cc61e19ed4b57cde28f71c5e16833eec37cb2d6513f7c98a5"
#: Seed 7 over two LAs (one unknown), more sensitive services, half without
#: consent: 3,000 records, then every hard-case helper, in one stream.
MIXED_SEED_7 = "40d9ab3046a7ba7c34c75fe859c2ecf2849dd2ec094c5040aeb3bf08a555c843"
#: The same two before issue 10 (session 2's pins).
FIRST_20000_SEED_2026_SESSION_2 = "b4340ba42f1447d820db8b757f5bbab3cbdf93283b0691ab0a64c6ddb836a38e"
MIXED_SEED_7_SESSION_2 = "2d01b32691b407e03ec0b8979f6010c7788d25be0b8863bb51e57e398ed1d1e2"


def _digest(items: Iterable[object]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(CODEC.encode(item), sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def _mixed() -> list[object]:
    population = Population(
        7,
        today=TODAY,
        la_codes=("202", "999", "926"),
        sensitive_rate=5.0,
        sensitive_without_consent=0.5,
    )
    out: list[object] = list(population.children(3000))
    for _ in range(40):
        record = population.child()
        out.append(record)
        out.extend(population.twins())
        out.extend(population.siblings(3))
        out.append(population.with_typo(record))
        out.append(population.with_name_change(record))
        out.append(population.with_move(record))
        try:
            out.append(population.with_transposed_dob(record))
        except ValueError:
            out.append(None)
        out.append(population.child("999"))
        out.append(population.school())
        out.append(population.gp_practice("926"))
    out.extend(population.children(500))
    return out


def test_first_20000_records_are_unchanged() -> None:
    records: Iterable[ChildRecord] = Population(2026, today=TODAY).children(20_000)
    assert _digest(records) == FIRST_20000_SEED_2026


def test_mixed_stream_is_unchanged() -> None:
    assert _digest(_mixed()) == MIXED_SEED_7


class _NothingTaken(set[str]):
    """A household's names of its children that always look empty: the rule off."""

    def __bool__(self) -> bool:
        return False


def test_only_sibling_names_changed_in_issue_10(monkeypatch: pytest.MonkeyPatch) -> None:
    from contactpoint_sdk.synthetic import _population

    made = _population._Household.__init__

    def without_rule(self: _population._Household, **kwargs: object) -> None:
        made(self, **kwargs)  # type: ignore[arg-type]
        self.given_names = _NothingTaken()

    monkeypatch.setattr(_population._Household, "__init__", without_rule)
    records: Iterable[ChildRecord] = Population(2026, today=TODAY).children(20_000)
    assert _digest(records) == FIRST_20000_SEED_2026_SESSION_2
    assert _digest(_mixed()) == MIXED_SEED_7_SESSION_2
