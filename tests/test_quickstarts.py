"""Each quickstart in docs/ works as written (issue #9: "each quickstart works as
written on a fresh clone").

The page's ``python`` blocks are run in order, as one file, in a fresh process
and an empty working directory; every ``contactpoint ...`` line of its ``sh``
blocks runs the installed command there, in page order with the Python.
Whatever the page says a step prints (`` Prints `...` ``) must appear in the
output.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
QUICKSTARTS = sorted(DOCS.glob("quickstart-*.md"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRINTS = re.compile(r"Prints\s+`([^`]+)`")


def _steps(page: str) -> list[tuple[str, str]]:
    """The page's runnable steps, in order: ("python", code) or ("sh", command)."""
    steps: list[tuple[str, str]] = []
    for lang, body in BLOCK.findall(page):
        if lang == "python":
            steps.append(("python", body))
        elif lang in {"sh", "console", "bash"}:
            for line in body.splitlines():
                command = line.removeprefix("$ ").strip()
                if command.startswith("contactpoint "):
                    steps.append(("sh", command))
    return steps


def _run(page_path: Path, workdir: Path) -> str:
    page = page_path.read_text(encoding="utf-8")
    output: list[str] = []
    python: list[str] = []
    contactpoint = Path(sys.executable).with_name("contactpoint")

    def flush_python() -> None:
        if not python:
            return
        script = workdir / f"step{len(output)}.py"
        script.write_text("\n".join(python), encoding="utf-8")
        python.clear()
        done = subprocess.run(  # noqa: S603 - our own interpreter and page
            [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{page_path.name}: python failed\n{done.stderr}"
        output.append(done.stdout)

    for kind, body in _steps(page):
        if kind == "python":
            python.append(body)
            continue
        flush_python()
        args = shlex.split(body)
        done = subprocess.run(  # noqa: S603 - the installed command, as the page says
            [str(contactpoint), *args[1:]], cwd=workdir, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{page_path.name}: `{body}` failed\n{done.stderr}"
        output.append(done.stdout + done.stderr)
    flush_python()
    return "\n".join(output)


def test_there_is_a_quickstart_for_each_user() -> None:
    names = {p.name for p in QUICKSTARTS}
    assert "quickstart-case-management.md" in names


@pytest.mark.parametrize("page", QUICKSTARTS, ids=lambda p: p.stem)
def test_quickstart_runs_as_written(page: Path, tmp_path: Path) -> None:
    output = _run(page, tmp_path)
    said = " ".join(output.split())
    for expected in PRINTS.findall(page.read_text(encoding="utf-8")):
        assert " ".join(expected.split()) in said, f"{page.name}: expected output {expected!r}"
