"""Results of an accreditation run: statuses, per-test results, the run report
and its coverage matrix of rules (SUP-3).

A run's report is the one source every rendering comes from (canonical JSON,
JUnit XML, HTML, the signed result). It holds identifiers and references
only: never a child's or a parent's data (evidence names batch IDs, refs,
request paths and status codes).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from contactpoint_sdk import __version__

__all__ = [
    "SUITE_NAME",
    "SUITE_VERSION",
    "ReportFormatError",
    "RunReport",
    "Status",
    "TestResult",
]

#: The suite's name, as the signed result states it.
SUITE_NAME: Final = "contactpoint-accreditation"
#: The suite's version: the SDK's version and the test catalogue's revision.
#: A test's ID never changes meaning; a new check gets a new ID.
SUITE_VERSION: Final = f"{__version__}+catalogue.1"
#: The report format, stated in every report.
REPORT_FORMAT: Final = "contactpoint-accreditation-report/1"


class ReportFormatError(ValueError):
    """A report document that is not one this suite wrote."""


class Status(enum.Enum):
    """What became of one test."""

    #: the system did what the rule asks.
    PASS = "pass"  # noqa: S105 - a status, not a password
    #: the system did something the rule forbids, or not what it asks.
    FAIL = "fail"
    #: the system cannot take the test's events (a missing capability).
    SKIP = "skip"
    #: the test could not be judged: the harness raised, or the suite failed.
    ERROR = "error"
    #: a human must judge (the evidence is suspicious, not clearly wrong).
    REVIEW = "review"


@attrs.frozen(kw_only=True)
class TestResult:
    """One test's outcome.

    ``evidence`` holds identifiers and references only (batch IDs, refs,
    paths, statuses, timings): never personal data.
    """

    __test__ = False  # not a pytest class

    test_id: str
    status: Status
    required: bool
    rules: tuple[str, ...]
    message: str
    title: str = ""
    evidence: tuple[str, ...] = ()
    duration_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "title": self.title,
            "status": self.status.value,
            "required": self.required,
            "rules": list(self.rules),
            "message": self.message,
            "evidence": list(self.evidence),
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestResult:
        try:
            return cls(
                test_id=_str(data["test_id"]),
                title=_str(data.get("title", "")),
                status=Status(data["status"]),
                required=_bool(data["required"]),
                rules=tuple(_str(r) for r in _list(data["rules"])),
                message=_str(data["message"]),
                evidence=tuple(_str(e) for e in _list(data.get("evidence", []))),
                duration_ms=_int(data.get("duration_ms", 0)),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ReportFormatError(f"a test result is malformed: {error}") from None


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


@attrs.frozen(kw_only=True)
class RunReport:
    """A whole run: who tested what, when, with which suite, and each test's result.

    :attr:`passed` is the accreditation decision: every required test passes.
    """

    plan: str
    mode: str
    sut_name: str
    sut_version: str
    tester: str
    started_at: str
    finished_at: str
    results: tuple[TestResult, ...]
    #: what the system declared it can do (supplier plan): the scope of the
    #: accreditation. Tests needing anything else are skipped and not required.
    capabilities: tuple[str, ...] = ()
    #: the test IDs a ``--only`` run selected, in plan order; ``None`` for the
    #: whole plan. A selection is not an accreditation outcome.
    selection: tuple[str, ...] | None = None
    suite: str = SUITE_NAME
    suite_version: str = SUITE_VERSION

    @property
    def passed(self) -> bool:
        """Whether every required test passed (SKIP, ERROR and REVIEW do not)."""
        return all(r.status is Status.PASS for r in self.results if r.required)

    @property
    def outcome(self) -> str:
        """``"pass"`` or ``"fail"``: the decision the signed result states."""
        return "pass" if self.passed else "fail"

    def failed_ids(self) -> tuple[str, ...]:
        """The tests whose status is FAIL, in run order."""
        return tuple(r.test_id for r in self.results if r.status is Status.FAIL)

    def ids_with(self, status: Status) -> tuple[str, ...]:
        """The tests with ``status``, in run order."""
        return tuple(r.test_id for r in self.results if r.status is status)

    def result(self, test_id: str) -> TestResult:
        """The result of ``test_id``; ``KeyError`` when it did not run."""
        for r in self.results:
            if r.test_id == test_id:
                return r
        raise KeyError(test_id)

    def counts(self) -> dict[str, int]:
        """How many tests ended in each status (every status listed)."""
        counts = {s.value: 0 for s in Status}
        for r in self.results:
            counts[r.status.value] += 1
        return counts

    def coverage(self) -> dict[str, dict[str, str]]:
        """The coverage matrix: rule -> {test ID -> status}, sorted."""
        matrix: dict[str, dict[str, str]] = {}
        for r in self.results:
            for rule in r.rules:
                matrix.setdefault(rule, {})[r.test_id] = r.status.value
        return {rule: dict(sorted(tests.items())) for rule, tests in sorted(matrix.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "suite": self.suite,
            "suite_version": self.suite_version,
            "plan": self.plan,
            "mode": self.mode,
            "system_under_test": {
                "name": self.sut_name,
                "version": self.sut_version,
                "capabilities": list(self.capabilities),
            },
            "tester": self.tester,
            "selection": None if self.selection is None else list(self.selection),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "counts": self.counts(),
            "coverage": self.coverage(),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        """Read a report back; derived members (outcome, counts, coverage)
        must agree with the results.

        :raises ReportFormatError: not a report, or one whose derived members disagree.
        """
        if not isinstance(data, Mapping) or data.get("format") != REPORT_FORMAT:
            raise ReportFormatError(f"not a {REPORT_FORMAT} document")
        try:
            sut = data["system_under_test"]
            if not isinstance(sut, Mapping):
                raise TypeError("system_under_test is an object")
            selected = data.get("selection")  # absent from reports before it
            selection = None if selected is None else tuple(_str(t) for t in _list(selected))
            report = cls(
                suite=_str(data["suite"]),
                suite_version=_str(data["suite_version"]),
                plan=_str(data["plan"]),
                mode=_str(data["mode"]),
                sut_name=_str(sut["name"]),
                sut_version=_str(sut["version"]),
                tester=_str(data["tester"]),
                started_at=_str(data["started_at"]),
                finished_at=_str(data["finished_at"]),
                results=tuple(TestResult.from_dict(r) for r in _list(data["results"])),
                capabilities=tuple(_str(c) for c in _list(sut.get("capabilities", []))),
                selection=selection,
            )
        except (KeyError, TypeError) as error:
            raise ReportFormatError(f"the report is malformed: {error}") from None
        if (
            data.get("outcome") != report.outcome
            or data.get("counts") != report.counts()
            or data.get("coverage") != report.coverage()
        ):
            raise ReportFormatError("the report's outcome, counts or coverage disagree with it")
        return report


def rules_of(results: Sequence[TestResult]) -> tuple[str, ...]:
    """Every rule the results cite, sorted."""
    return tuple(sorted({rule for r in results for rule in r.rules}))
