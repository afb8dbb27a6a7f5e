"""Renderings of a run report: canonical JSON, JUnit XML, one self-contained
HTML page, and a diff against a known-good run (SUP-3).

All three come from :class:`~.model.RunReport` alone. Canonical JSON is the
report's one true form: UTF-8, keys sorted, no insignificant whitespace,
integers only (no floats), so the same report is always the same bytes; the
signed result signs exactly those bytes (:mod:`.signing`).
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Final

import attrs
import orjson

from contactpoint_sdk.accreditation.model import ReportFormatError, RunReport, Status

__all__ = [
    "RunDiff",
    "TestChange",
    "canonical_json",
    "diff",
    "html_page",
    "junit_xml",
    "load_report",
    "parse_canonical",
    "printable",
]

_STATUS_COLOURS: Final = {
    Status.PASS: "#1b7f3b",
    Status.FAIL: "#b3261e",
    Status.ERROR: "#8a4b00",
    Status.REVIEW: "#5b3fa8",
    Status.SKIP: "#5f6368",
}


def canonical_json(document: RunReport | Mapping[str, Any]) -> bytes:
    """The canonical bytes of a report (or any JSON object of strings,
    integers, booleans, lists and objects): UTF-8, sorted keys, compact."""
    data = document.to_dict() if isinstance(document, RunReport) else document
    encoded: bytes = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return encoded


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` and insist it is canonical JSON (any other byte
    sequence for the same value is refused).

    :raises ReportFormatError: not JSON, or not in canonical form.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ReportFormatError("the document is not UTF-8 JSON") from None
    if _has_float(value):
        raise ReportFormatError("a canonical document holds no floating-point numbers")
    if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != data:
        raise ReportFormatError("the document is not in canonical form")
    return value


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def load_report(data: bytes) -> RunReport:
    """A report from its canonical JSON.

    :raises ReportFormatError: not a canonical report document.
    """
    return RunReport.from_dict(parse_canonical(data))


# --- JUnit XML ------------------------------------------------------------------------


#: C0 and C1 control characters (and DEL), except tab, line feed and carriage
#: return: not allowed in XML 1.0, and escape sequences on a terminal.
_CONTROL_RE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: The same, with tab, line feed and carriage return: for one-line text.
_CONTROL_LINE_RE: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str, *, one_line: bool = True) -> str:
    """``text`` without control characters (C0, C1, DEL), for a terminal or
    an XML document: a system's name or a message can carry escape sequences
    that would rewrite what a tester sees. With ``one_line``, tab and line
    breaks go too (each becomes a space)."""
    if one_line:
        return _CONTROL_LINE_RE.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)
    return _CONTROL_RE.sub("", text)


def junit_xml(report: RunReport) -> bytes:
    """The report as JUnit XML (one ``testsuite``, one ``testcase`` per test;
    FAIL as ``failure``, ERROR as ``error``, SKIP as ``skipped``, REVIEW as a
    ``failure`` of type ``review`` when required, else ``skipped``).

    Control characters in the report's strings are left out (:func:`printable`):
    XML 1.0 cannot carry them, so the document stays well-formed."""
    suite = _junit_tree(report)
    for element in suite.iter():
        for name, value in element.attrib.items():
            element.set(name, printable(value))
        if element.text is not None:
            element.text = printable(element.text, one_line=False)
    document: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return document


def _junit_tree(report: RunReport) -> ET.Element:
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        {
            "name": f"{report.suite} {report.plan}",
            "tests": str(len(report.results)),
            "failures": str(
                counts["fail"]
                + sum(1 for r in report.results if r.status is Status.REVIEW and r.required)
            ),
            "errors": str(counts["error"]),
            "skipped": str(
                counts["skip"]
                + sum(1 for r in report.results if r.status is Status.REVIEW and not r.required)
            ),
            "time": f"{sum(r.duration_ms for r in report.results) / 1000:.3f}",
            "timestamp": report.started_at,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("suite_version", report.suite_version),
        ("sut_name", report.sut_name),
        ("sut_version", report.sut_version),
        ("capabilities", ",".join(report.capabilities)),
        ("tester", report.tester),
        ("mode", report.mode),
        ("outcome", report.outcome),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"{report.plan}.{'required' if result.required else 'optional'}",
                "name": f"{result.test_id} {result.title}".strip(),
                "time": f"{result.duration_ms / 1000:.3f}",
            },
        )
        detail = "\n".join((result.message, *result.evidence))
        rules = " ".join(result.rules)
        if result.status is Status.FAIL or (result.status is Status.REVIEW and result.required):
            kind = "fail" if result.status is Status.FAIL else "review"
            failure = ET.SubElement(
                case, "failure", {"type": kind, "message": f"[{rules}] {result.message}"}
            )
            failure.text = detail
        elif result.status is Status.ERROR:
            error = ET.SubElement(case, "error", {"message": result.message})
            error.text = detail
        elif result.status in (Status.SKIP, Status.REVIEW):
            ET.SubElement(case, "skipped", {"message": result.message})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = detail
    return suite


# --- HTML -------------------------------------------------------------------------------

_CSS: Final = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;
color:#202124}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border:1px solid #dadce0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f4}.status{font-weight:700;text-transform:uppercase}
.outcome{font-size:1.25rem;font-weight:700}ul{margin:.2rem 0;padding-left:1.2rem}
code{font-size:.9em}
"""


def _badge(status: Status) -> str:
    return (
        f'<span class="status" style="color:{_STATUS_COLOURS[status]}">'
        f"{html.escape(status.value)}</span>"
    )


def html_page(report: RunReport) -> str:
    """One self-contained HTML page (inline style, no scripts, no external
    references) for a person to read."""
    e = html.escape
    outcome_colour = _STATUS_COLOURS[Status.PASS if report.passed else Status.FAIL]
    declared = ", ".join(report.capabilities) or "-"
    rows = []
    for r in report.results:
        evidence = "".join(f"<li><code>{e(item)}</code></li>" for item in r.evidence)
        rows.append(
            "<tr>"
            f"<td><code>{e(r.test_id)}</code></td>"
            f"<td>{e(', '.join(r.rules))}</td>"
            f"<td>{e(r.title)}</td>"
            f"<td>{'required' if r.required else 'optional'}</td>"
            f"<td>{_badge(r.status)}</td>"
            f"<td>{e(r.message)}{f'<ul>{evidence}</ul>' if evidence else ''}</td>"
            "</tr>"
        )
    coverage = []
    for rule, tests in report.coverage().items():
        cells = ", ".join(
            f"<code>{e(test_id)}</code> {_badge(Status(status))}"
            for test_id, status in tests.items()
        )
        coverage.append(f"<tr><td>{e(rule)}</td><td>{cells}</td></tr>")
    counts = ", ".join(f"{n} {e(s)}" for s, n in report.counts().items() if n)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(report.suite)}: {e(report.sut_name)} {e(report.sut_version)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Accreditation report: {e(report.plan)} plan</h1>"
        f'<p class="outcome" style="color:{outcome_colour}">Outcome: '
        f"{e(report.outcome.upper())}</p>"
        "<table>"
        f"<tr><th>System under test</th><td>{e(report.sut_name)} {e(report.sut_version)}</td></tr>"
        f"<tr><th>Capabilities declared</th><td>{e(declared)}</td></tr>"
        f"<tr><th>Tester</th><td>{e(report.tester)}</td></tr>"
        f"<tr><th>Suite</th><td>{e(report.suite)} {e(report.suite_version)}</td></tr>"
        f"<tr><th>Mode</th><td>{e(report.mode)}</td></tr>"
        f"<tr><th>Run</th><td>{e(report.started_at)} to {e(report.finished_at)}</td></tr>"
        f"<tr><th>Results</th><td>{counts}</td></tr>"
        "</table>"
        "<h2>Tests</h2><table><tr><th>ID</th><th>Rules</th><th>Test</th><th>Kind</th>"
        "<th>Status</th><th>Detail</th></tr>"
        + "".join(rows)
        + "</table><h2>Coverage of rules</h2><table><tr><th>Rule</th><th>Tests</th></tr>"
        + "".join(coverage)
        + "</table><p>The accreditation decision passes only when every required test "
        "passes. Skipped, errored and review results of required tests do not pass.</p>"
        "</body></html>\n"
    )


# --- diff ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TestChange:
    """One test whose status differs between a run and a known-good run
    (``None``: the test is not in that run)."""

    __test__ = False

    test_id: str
    known_good: Status | None
    run: Status | None
    required: bool

    @property
    def regression(self) -> bool:
        """It passed in the known-good run and does not pass now."""
        return self.known_good is Status.PASS and self.run is not Status.PASS


@attrs.frozen(kw_only=True)
class RunDiff:
    """How a run differs from a known-good run, test by test."""

    changes: tuple[TestChange, ...]
    suite_version_changed: bool

    @property
    def regressions(self) -> tuple[TestChange, ...]:
        return tuple(c for c in self.changes if c.regression)

    @property
    def same(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        if self.same:
            return ["no test changed status"]
        out = []
        for c in self.changes:
            before = c.known_good.value if c.known_good else "absent"
            after = c.run.value if c.run else "absent"
            mark = "REGRESSION " if c.regression else ""
            out.append(f"{mark}{c.test_id}: {before} -> {after}")
        if self.suite_version_changed:
            out.append("note: the runs used different suite versions")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite_version_changed": self.suite_version_changed,
            "changes": [
                {
                    "test_id": c.test_id,
                    "known_good": c.known_good.value if c.known_good else None,
                    "run": c.run.value if c.run else None,
                    "required": c.required,
                    "regression": c.regression,
                }
                for c in self.changes
            ],
        }


def diff(run: RunReport, known_good: RunReport) -> RunDiff:
    """The tests whose status differs between ``run`` and ``known_good``, in
    the known-good run's order, then tests new in ``run``."""
    before = {r.test_id: r for r in known_good.results}
    after = {r.test_id: r for r in run.results}
    order = [r.test_id for r in known_good.results] + [
        r.test_id for r in run.results if r.test_id not in before
    ]
    changes = []
    for test_id in order:
        b, a = before.get(test_id), after.get(test_id)
        b_status = b.status if b else None
        a_status = a.status if a else None
        if b_status != a_status:
            changes.append(
                TestChange(
                    test_id=test_id,
                    known_good=b_status,
                    run=a_status,
                    required=(a or b).required if (a or b) else True,  # type: ignore[union-attr]
                )
            )
    return RunDiff(
        changes=tuple(changes),
        suite_version_changed=run.suite_version != known_good.suite_version,
    )


def pretty(document: Mapping[str, Any]) -> str:
    """Indented JSON for people (never what is signed)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
