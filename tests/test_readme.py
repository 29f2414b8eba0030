"""README's command table says what `finops --help` says: the same commands, real options."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboard.cli.finops import cli

README = Path(__file__).resolve().parent.parent / "README.md"
TABLE_HEADER = "| command | what it does |"


@cache
def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="finops")
    assert result.exit_code == 0, result.output
    return result.output


def _section(text: str, title: str) -> list[str]:
    """The entry lines of a help section ("Commands:", "Options:"), continuation lines left out."""
    lines = text.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0].splitlines() if (
        f"\n{title}\n" in text
    ) else []  # fmt: skip
    return [line.strip() for line in lines if re.match(r"  \S", line)]


def _subcommands(path: tuple[str, ...]) -> list[str]:
    return [line.split()[0] for line in _section(_help(path), "Commands:")]


def _options(path: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for line in _section(_help(path), "Options:"):
        names = re.split(r"\s{2,}", line)[0]  # "-h, --help" / "--dry-run / --no-dry-run"
        found.update(re.findall(r"--[\w-]+", names))
    return found


def _leaves(path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command of `finops --help`, through its groups (`ingest telemetry ...`)."""
    subs = _subcommands(path)
    if not subs:
        return [path]
    return [leaf for sub in subs for leaf in _leaves((*path, sub))]


def _table_usages() -> list[str]:
    """The `finops ...` usages in the first cell of each row of README's command table."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER) + 2  # past the header and its |---|---| rule
    usages = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        usages += re.findall(r"`(finops [^`]+)`", first_cell)
    return usages


def _command_of(usage: str) -> tuple[str, ...]:
    """The command path a usage names: its words while they are subcommands of the last."""
    path: tuple[str, ...] = ()
    for word in usage.split()[1:]:
        if word not in _subcommands(path):
            break
        path = (*path, word)
    return path


def test_table_lists_every_command_of_help() -> None:
    listed = {_command_of(u) for u in _table_usages()}
    missing = [" ".join(leaf) for leaf in _leaves() if leaf not in listed]
    assert not missing, f"commands in `finops --help` missing from README's table: {missing}"


def test_every_command_in_the_table_exists() -> None:
    unknown = [u for u in _table_usages() if _command_of(u) not in _leaves()]
    assert not unknown, f"README's table names commands `finops --help` does not have: {unknown}"


@pytest.mark.parametrize("usage", _table_usages())
def test_options_in_the_table_exist(usage: str) -> None:
    path = _command_of(usage)
    named = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", usage))
    unknown = sorted(named - _options(path))
    assert not unknown, f"`finops {' '.join(path)} --help` has no {unknown} (README: {usage})"


def test_the_table_is_found() -> None:
    """The checks above read a table; make sure it is the real one, not an empty match."""
    commands = {path[0] for path in map(_command_of, _table_usages()) if path}
    assert {"ingest", "query", "report", "dashboard"} <= commands
