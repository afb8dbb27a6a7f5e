"""Test plans: a small registry of accreditation tests, each with a stable ID
that cites its rule (``AC-SUP-5-01`` tests SUP-5), a title, whether it is
required, and the :class:`~.harness.Capability` it needs.

::

    SUPPLIER = Plan("supplier")

    @SUPPLIER.test("AC-SUP-5-01", rules=("SUP-5",), title="...")
    def envelope_is_jwe(ctx: SupplierContext) -> Verdict:
        ...

A test function drives the system through its context and returns a
:class:`Verdict`; the runner turns it into a
:class:`~.model.TestResult`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, Generic, TypeVar

import attrs

from contactpoint_sdk.accreditation.harness import Capability
from contactpoint_sdk.accreditation.model import Status

__all__ = ["TEST_ID", "Plan", "PlanError", "TestCase", "Verdict"]

#: A test ID: ``AC-<RULE>-<NN>`` where ``<RULE>`` is the rule it cites first.
TEST_ID: Final = re.compile(r"AC-[A-Z]+-[0-9]+-[0-9]{2}")

C = TypeVar("C")


class PlanError(ValueError):
    """A plan or test selection that cannot be run (unknown plan or test ID)."""


@attrs.frozen(kw_only=True)
class Verdict:
    """A test's judgement: status, a message that quotes no personal data,
    and evidence (identifiers and references only)."""

    status: Status
    message: str
    evidence: tuple[str, ...] = ()

    @classmethod
    def passed(cls, message: str, *evidence: str) -> Verdict:
        return cls(status=Status.PASS, message=message, evidence=evidence)

    @classmethod
    def failed(cls, message: str, *evidence: str) -> Verdict:
        return cls(status=Status.FAIL, message=message, evidence=evidence)

    @classmethod
    def review(cls, message: str, *evidence: str) -> Verdict:
        return cls(status=Status.REVIEW, message=message, evidence=evidence)

    @classmethod
    def skipped(cls, message: str, *evidence: str) -> Verdict:
        return cls(status=Status.SKIP, message=message, evidence=evidence)


@attrs.frozen(kw_only=True)
class TestCase(Generic[C]):
    """One registered test."""

    __test__ = False  # not a pytest class

    test_id: str
    rules: tuple[str, ...]
    title: str
    required: bool
    capability: Capability | None
    run: Callable[[C], Verdict] = attrs.field(repr=False, eq=False)
    #: what the test checks, for the catalogue (the function's docstring).
    description: str = ""


class Plan(Generic[C]):
    """An ordered set of tests for one kind of system (``supplier``, ``lookup``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tests: dict[str, TestCase[C]] = {}

    def test(
        self,
        test_id: str,
        *,
        rules: Sequence[str],
        title: str,
        required: bool = True,
        capability: Capability | None = None,
    ) -> Callable[[Callable[[C], Verdict]], Callable[[C], Verdict]]:
        """Register the decorated function as test ``test_id``."""
        if not TEST_ID.fullmatch(test_id):
            raise PlanError(f"{test_id!r} is not a test ID (AC-<RULE>-<n>-<nn>)")
        if test_id in self._tests:
            raise PlanError(f"{test_id} is registered twice")
        if not rules:
            raise PlanError(f"{test_id} must cite at least one rule")

        def register(function: Callable[[C], Verdict]) -> Callable[[C], Verdict]:
            doc = " ".join((function.__doc__ or "").split())
            self._tests[test_id] = TestCase(
                test_id=test_id,
                rules=tuple(rules),
                title=title,
                required=required,
                capability=capability,
                run=function,
                description=doc,
            )
            return function

        return register

    def select(self, only: Sequence[str] | None = None) -> tuple[TestCase[C], ...]:
        """The tests to run, in plan order; ``only`` restricts them.

        :raises PlanError: ``only`` names a test this plan does not have.
        """
        if only is None:
            return tuple(self._tests.values())
        unknown = sorted(set(only) - set(self._tests))
        if unknown:
            raise PlanError(f"the {self.name} plan has no test {', '.join(unknown)}")
        wanted = set(only)
        return tuple(t for t in self._tests.values() if t.test_id in wanted)

    def __iter__(self) -> Iterator[TestCase[C]]:
        return iter(self._tests.values())

    def __len__(self) -> int:
        return len(self._tests)

    def __getitem__(self, test_id: str) -> TestCase[C]:
        return self._tests[test_id]

    def catalogue(self) -> list[dict[str, Any]]:
        """Every test as a plain mapping (ID, rules, title, required, capability)."""
        return [
            {
                "test_id": t.test_id,
                "rules": list(t.rules),
                "title": t.title,
                "required": t.required,
                "capability": None if t.capability is None else t.capability.value,
            }
            for t in self._tests.values()
        ]
