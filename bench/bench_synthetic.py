"""How fast the synthetic population generator makes valid records.

Usage::

    python bench/bench_synthetic.py            # 100,000 records
    python bench/bench_synthetic.py 1000000    # the issue's target: under 30 s on one core
    python bench/bench_synthetic.py --explain  # where the time goes, by model class
    python bench/bench_synthetic.py 1000000 --gc-frozen  # the collector's share

Prints the machine (platform, CPU model and count, Python version), the date,
and records per second. Every record is fully constructed, and so validated, by
the model's own classes; the run keeps none of them.

``--explain`` also measures what the model's own checks cost per record:
for each model class, how many objects are built per record in a long run
(shared objects, such as a school's involvement or a parent's name, are
built once) and what its ``__attrs_post_init__`` checks and field converters
cost per object, timed on real generated objects. It never changes the model.
"Everything else" is the generator, attrs' own ``__init__`` and the garbage
collector.

``--gc-frozen`` times the same run with the cyclic garbage collector tuned as
an application may choose to (never the library): ``gc.freeze()`` after the
warm-up and a young-generation threshold of 50,000, both restored afterwards.
The default run, with the collector as it is, is the issue's figure.
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, cast

import attrs
from _machine import print_machine

from contactpoint_sdk.models import ChildRecord
from contactpoint_sdk.synthetic import Population

TARGET_SECONDS_PER_MILLION = 30.0
TODAY = date(2026, 3, 1)
_MODEL_PACKAGE = "contactpoint_sdk.models"


def rate(n: int, seed: int, *, gc_frozen: bool = False) -> float:
    """Seconds per record for ``n`` records (after building the LA pools)."""
    population = Population(seed, today=TODAY)
    for _ in population.children(2000):
        pass
    threshold = gc.get_threshold()
    if gc_frozen:
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, *threshold[1:])
    try:
        started = time.perf_counter()
        count = 0
        for _ in population.children(n):
            count += 1
        elapsed = time.perf_counter() - started
    finally:
        if gc_frozen:
            gc.set_threshold(*threshold)
            gc.unfreeze()
    print(f"gc:       {'frozen after warm-up, threshold 50,000' if gc_frozen else 'as is'}")
    print(f"records:  {count:,} in {elapsed:.2f} s")
    per_record = elapsed / count if count else 0.0
    per_million = per_record * 1_000_000
    print(f"rate:     {1 / per_record if per_record else 0:,.0f} records/s ", end="")
    print(f"({per_million:.1f} s per million)")
    verdict = "meets" if per_million < TARGET_SECONDS_PER_MILLION else "MISSES"
    print(f"target:   {verdict} the {TARGET_SECONDS_PER_MILLION:.0f} s per million target")
    return per_record


def _objects(obj: object, seen: dict[int, object]) -> Iterator[object]:
    """Every distinct model object reachable from ``obj``."""
    if attrs.has(type(obj)):
        if id(obj) in seen:
            return
        seen[id(obj)] = obj
        yield obj
        for field in attrs.fields(cast(Any, type(obj))):
            yield from _objects(getattr(obj, field.name), seen)
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _objects(item, seen)


def _mean_seconds(calls: list[Callable[[], object]], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for call in calls:
            call()
        best = min(best, time.perf_counter() - started)
    return best / len(calls)


def _checks(obj: Any) -> list[Callable[[], object]]:
    """The model's own checks for one object: its post-init and its converters."""
    cls = type(obj)
    calls: list[Callable[[], object]] = []
    if "__attrs_post_init__" in cls.__dict__:
        calls.append(obj.__attrs_post_init__)
    for field in attrs.fields(cls):
        converter = field.converter
        if callable(converter):
            value = getattr(obj, field.name)
            calls.append(functools.partial(converter, value))
    return calls


def explain(n: int, seed: int, per_record: float, warm: int) -> None:
    """Per model class: objects built per record and the cost of their checks.

    Runs ``warm`` records first so the generator's shared objects exist, as
    they do in a long run; objects that existed before the sample (a school's
    involvement, a parent's name) are not counted as built for it.
    """
    population = Population(seed, today=TODAY)
    for _ in population.children(warm):
        pass
    existing = {id(o): o for o in gc.get_objects() if type(o).__module__.startswith(_MODEL_PACKAGE)}
    records: list[ChildRecord] = list(population.children(n))
    seen: dict[int, object] = dict(existing)
    by_class: dict[str, list[object]] = {}
    for record in records:
        for obj in _objects(record, seen):
            by_class.setdefault(type(obj).__name__, []).append(obj)
    counts = Counter({name: len(objs) for name, objs in by_class.items()})
    print(f"\nmodel checks: objects built per record over {n:,} records after {warm:,}")
    print(f"  {'class':22} {'per record':>10} {'check us':>9} {'us/record':>10} {'share':>6}")
    total = 0.0
    for name, count in counts.most_common():
        sample = by_class[name][:3000]
        calls = [call for obj in sample for call in _checks(obj)]
        if not calls:
            continue
        each = _mean_seconds(calls) * len(calls) / len(sample)
        per = count / n * each
        total += per
        print(
            f"  {name:22} {count / n:10.3f} {each * 1e6:9.2f} {per * 1e6:10.2f} "
            f"{per / per_record:6.1%}"
        )
    rest = per_record - total
    for label, value in (("all model checks", total), ("everything else", rest)):
        print(f"  {label:22} {'':10} {'':9} {value * 1e6:10.2f} {value / per_record:6.1%}")
    print(f"  without the checks' own time: about {1 / rest:,.0f} records/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="records to generate")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--explain", action="store_true", help="break the time down by model class")
    parser.add_argument(
        "--gc-frozen",
        action="store_true",
        help="freeze the collector after warm-up and raise its threshold, to show its share",
    )
    args = parser.parse_args(argv)
    print_machine()
    per_record = rate(args.n, args.seed, gc_frozen=args.gc_frozen)
    if args.explain:
        explain(min(args.n, 50_000), args.seed, per_record, warm=min(args.n, 200_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
