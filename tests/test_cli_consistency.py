"""The command line as a whole is consistent (issue #9 part 3): every command
and subcommand ``build_parser()`` has (whatever is registered, ``accredit``
included) has help, a description and an epilog; ``--help`` exits 0; bad
usage exits 2; a ``ContactPointError`` exits 1 with one line on stderr and no
traceback; Ctrl+C exits 130; the same things are spelt the same way."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contactpoint_sdk import cli
from contactpoint_sdk.cli import build_parser, main
from contactpoint_sdk.cli._options import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PASSPHRASE_ENV
from contactpoint_sdk.errors import ConfigurationError


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (sub)command: its path, its parser and the help it is listed with."""
    sub = _subparsers(parser)
    if sub is None:
        return
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    for name, child in sub.choices.items():
        yield (*path, name), child, helps.get(name)
        yield from _walk(child, (*path, name))


COMMANDS = list(_walk(build_parser()))
LEAVES = [(path, p) for path, p, _ in COMMANDS if _subparsers(p) is None]


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path)


def test_the_expected_commands_are_there() -> None:
    top = {path[0] for path, _, _ in COMMANDS}
    assert {"demo", "serve", "keys", "supply", "audit"} <= top


@pytest.mark.parametrize(("path", "parser", "listed"), COMMANDS, ids=[_id(c[0]) for c in COMMANDS])
def test_every_command_has_help_a_description_and_an_epilog(
    path: tuple[str, ...], parser: argparse.ArgumentParser, listed: str | None
) -> None:
    assert listed, f"{_id(path)}: no help in its parent's list"
    assert parser.description, f"{_id(path)}: no description"
    assert parser.epilog, f"{_id(path)}: no epilog"
    assert "xit code" in parser.epilog or _subparsers(parser) is not None, (
        f"{_id(path)}: the epilog does not give the exit codes"
    )
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help, f"{_id(path)}: {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("path", [c[0] for c in COMMANDS] + [()], ids=_id)
def test_help_exits_0(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*path, "--help"])
    assert caught.value.code == 0
    assert "usage: contactpoint" in capsys.readouterr().out


@pytest.mark.parametrize("path", [c[0] for c in COMMANDS] + [()], ids=_id)
def test_bad_usage_exits_2(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*path, "--no-such-option"])
    assert caught.value.code == EXIT_USAGE
    assert "usage: contactpoint" in capsys.readouterr().err


def _minimal_argv(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments that satisfy ``parser``'s required ones (values are dummies)."""

    def value(action: argparse.Action) -> list[str]:
        if action.nargs == 0:
            return []
        if action.choices:
            return [str(next(iter(action.choices)))]
        return ["1" if action.type in (int, float) else "x"]

    argv: list[str] = []
    grouped = {id(a) for g in parser._mutually_exclusive_groups for a in g._group_actions}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or id(action) in grouped:
            continue
        if not action.option_strings:
            argv += value(action)
        elif action.required:
            argv += [action.option_strings[0], *value(action)]
    for group in parser._mutually_exclusive_groups:
        if group.required:
            first = group._group_actions[0]
            argv += [first.option_strings[0], *value(first)]
    return argv


def _with_handler(
    monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...], error: BaseException
) -> list[str]:
    """Make ``main`` run a parser whose ``path`` command raises ``error``;
    returns the argv that reaches it."""
    parser = build_parser()
    leaf = parser
    for name in path:
        sub = _subparsers(leaf)
        assert sub is not None
        leaf = sub.choices[name]

    def handler(args: argparse.Namespace) -> int:
        raise error

    leaf.set_defaults(handler=handler)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return [*path, *_minimal_argv(leaf)]


@pytest.mark.parametrize("path", [leaf[0] for leaf in LEAVES], ids=_id)
def test_a_contactpoint_error_exits_1_with_one_line(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _with_handler(
        monkeypatch, path, ConfigurationError("it went wrong\nover two lines", rule="SUP-5")
    )
    assert main(argv) == EXIT_FAILED
    captured = capsys.readouterr()
    assert (
        captured.err == "contactpoint: it went wrong over two lines (SUP-5) [configuration_error]\n"
    )
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("path", [leaf[0] for leaf in LEAVES], ids=_id)
def test_ctrl_c_exits_130_cleanly(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _with_handler(monkeypatch, path, KeyboardInterrupt())
    assert main(argv) == EXIT_INTERRUPTED
    captured = capsys.readouterr()
    assert captured.err == "contactpoint: interrupted\n"


def _options() -> dict[str, set[tuple[tuple[str, ...], str | None]]]:
    """dest -> the spellings (option strings, metavar) used for it."""
    found: dict[str, set[tuple[tuple[str, ...], str | None]]] = {}
    for _, parser, _ in COMMANDS:
        for action in parser._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                metavar = action.metavar if isinstance(action.metavar, str | None) else None
                found.setdefault(action.dest, set()).add((tuple(action.option_strings), metavar))
    return found


def test_the_same_thing_is_spelt_the_same_everywhere() -> None:
    found = _options()
    for dest, spellings in found.items():
        assert len({s for s, _ in spellings}) == 1, f"{dest} is spelt {sorted(spellings)}"
    shared = {
        "key_ring": "--key-ring",
        "passphrase_env": "--passphrase-env",
        "supplier_id": "--supplier-id",
        "agreement_id": "--agreement-id",
        "directory": "--directory",
        "ca_cert": "--ca-cert",
    }
    for dest, spelling in shared.items():
        if dest in found:
            assert {s for s, _ in found[dest]} == {(spelling,)}
            assert len({m for _, m in found[dest]}) == 1, f"{spelling}: metavars differ"
    near_misses = {
        "--keyring", "--key-file", "--ring", "--passphrase", "--password", "--url",
        "--directory-url", "--ca", "--ca-file", "--cafile", "--supplier", "--agreement",
    }  # fmt: skip
    used = {o for spellings in found.values() for s, _ in spellings for o in s}
    assert not used & near_misses
    # a passphrase is never an option's value: other users could read it
    assert not any("passphrase" in o and o != "--passphrase-env" for o in used)


def test_every_passphrase_defaults_to_the_same_variable() -> None:
    for path, parser, _ in COMMANDS:
        for action in parser._actions:
            if action.dest == "passphrase_env":
                assert action.default == PASSPHRASE_ENV, _id(path)


# --- the installed command, for real ------------------------------------------------

CONTACTPOINT = Path(sys.executable).with_name("contactpoint")


def _run(*argv: str, cwd: Path, module: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "contactpoint_sdk.cli"] if module else [str(CONTACTPOINT)]
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    env[PASSPHRASE_ENV] = "correct horse battery staple"
    return subprocess.run(  # noqa: S603 - our own command
        [*command, *argv], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


REAL_FAILURES = {
    "demo": ["demo", "--children", "0"],
    "keys": ["keys", "list", "no-such.ring"],
    "supply": [
        "supply", "ctf", "roll.xml", "--key-ring", "no-such.ring", "--supplier-id", "s-1",
        "--agreement-id", "a-1", "--reference-directory", "d.db",
    ],
    "audit": ["audit", "head", "no-such.db", "--key-ring", "no-such.ring"],
    "serve": [
        "serve", "--supplier-id", "s-1", "--key-ring", "no-such.ring", "--agreement-id", "a-1",
    ],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(REAL_FAILURES))
def test_a_real_failure_is_one_line_without_a_traceback(command: str, tmp_path: Path) -> None:
    (tmp_path / "roll.xml").write_text("<CTfile/>", encoding="utf-8")
    done = _run(*REAL_FAILURES[command], cwd=tmp_path)
    assert done.returncode == EXIT_FAILED, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("contactpoint")


def test_python_m_runs_the_same_command(tmp_path: Path) -> None:
    done = _run("--version", cwd=tmp_path, module=True)
    assert done.returncode == 0
    assert done.stdout.startswith("contactpoint ")
    done = _run("keys", cwd=tmp_path, module=True)
    assert done.returncode == EXIT_USAGE
    assert "usage: contactpoint keys" in done.stderr
