"""Each quickstart in docs/ works as written (issue #9: "each quickstart works as
written on a fresh clone").

The page's ``python`` blocks are run in order, as one file, in a fresh process
and a working directory that holds only what a fresh clone's root has that the
pages use (``examples/``); every ``contactpoint ...`` line of its ``sh``
blocks runs the installed command there, in page order with the Python.
Whatever the page says a step prints (`` Prints `...` ``) must appear in the
output.

In ``sh`` blocks: a line ending in ``\\`` continues on the next;
``export NAME=value`` sets the variable for the steps after it; a command
expected to fail says so with a trailing ``# exits N`` comment (a reader's
shell ignores it), and every other command must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
QUICKSTARTS = sorted(DOCS.glob("quickstart-*.md"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRINTS = re.compile(r"Prints\s+`([^`]+)`")
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")
EXPORT = re.compile(r"^export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _lines(body: str) -> list[str]:
    """A shell block's lines, ``\\`` continuations joined, ``$ `` prompts dropped."""
    lines: list[str] = []
    pending = ""
    for raw in body.splitlines():
        line = raw.removeprefix("$ ").strip() if not pending else raw.strip()
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def _steps(page: str) -> list[tuple[str, str]]:
    """The page's runnable steps, in order: ("python", code), ("sh", command)
    or ("export", "NAME=value")."""
    steps: list[tuple[str, str]] = []
    for lang, body in BLOCK.findall(page):
        if lang == "python":
            steps.append(("python", body))
        elif lang in {"sh", "console", "bash"}:
            for command in _lines(body):
                if command.startswith("contactpoint "):
                    steps.append(("sh", command))
                elif EXPORT.match(command):
                    steps.append(("export", command.removeprefix("export").strip()))
    return steps


def _run(page_path: Path, workdir: Path) -> str:
    page = page_path.read_text(encoding="utf-8")
    output: list[str] = []
    python: list[str] = []
    contactpoint = Path(sys.executable).with_name("contactpoint")
    env = dict(os.environ)
    (workdir / "examples").symlink_to(ROOT / "examples", target_is_directory=True)

    def flush_python() -> None:
        if not python:
            return
        script = workdir / f"step{len(output)}.py"
        script.write_text("\n".join(python), encoding="utf-8")
        python.clear()
        done = subprocess.run(  # noqa: S603 - our own interpreter and page
            [sys.executable, str(script)],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert done.returncode == 0, f"{page_path.name}: python failed\n{done.stderr}"
        output.append(done.stdout)

    for kind, body in _steps(page):
        if kind == "python":
            python.append(body)
            continue
        flush_python()
        if kind == "export":
            name, _, value = body.partition("=")
            env[name] = " ".join(shlex.split(value))
            continue
        expected = EXITS.search(body)
        args = shlex.split(body, comments=True)
        done = subprocess.run(  # noqa: S603 - the installed command, as the page says
            [str(contactpoint), *args[1:]],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        want = int(expected.group(1)) if expected else 0
        assert done.returncode == want, (
            f"{page_path.name}: `{body}` exited {done.returncode}, not {want}\n{done.stderr}"
        )
        output.append(done.stdout + done.stderr)
    flush_python()
    return "\n".join(output)


def test_there_is_a_quickstart_for_each_user() -> None:
    names = {p.name for p in QUICKSTARTS}
    assert {"quickstart-case-management.md", "quickstart-school-mis.md"} <= names


def test_the_runner_reads_continuations_exports_and_expected_exits() -> None:
    page = (
        "```sh\nexport A=1\n$ contactpoint supply ctf x.xml \\\n    --partial  # exits 1\n"
        "echo $?\n```\n"
    )
    assert _steps(page) == [
        ("export", "A=1"),
        ("sh", "contactpoint supply ctf x.xml --partial  # exits 1"),
    ]


@pytest.mark.parametrize("page", QUICKSTARTS, ids=lambda p: p.stem)
def test_quickstart_runs_as_written(page: Path, tmp_path: Path) -> None:
    output = _run(page, tmp_path)
    said = " ".join(output.split())
    for expected in PRINTS.findall(page.read_text(encoding="utf-8")):
        assert " ".join(expected.split()) in said, f"{page.name}: expected output {expected!r}"
