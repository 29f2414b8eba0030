"""Inputs and warehouses the system really refuses: permission denied, a read-only mount.

The tests run as root, which file modes alone do not stop; so `finops` runs in a process of
its own without the capabilities that let root ignore modes (setpriv), and a read-only
warehouse is a read-only bind mount in a mount namespace of its own (unshare). Each case
checks the one message, the exit code, that nothing stored changed, and what was recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.warehouse.connection import connect
from tests.fixtures.inputs import AZURE_CSV, FOCUS, GCP_CSV, GOOD, INVENTORY, SAAS
from tests.fixtures.warehouse_state import finops, ingest, state

DENIED = (
    "permission denied — expected a file or folder this user can read, found reading refused "
    "by the system (EACCES) — give the user running finops read access"
)

pytestmark = pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root"
)


def read_only_mount(warehouse: Path) -> list[str]:
    """Run the command with `warehouse` bind-mounted read-only (EROFS on every write)."""
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(warehouse)]


def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def load_errors(warehouse: Path) -> list[tuple[str, str]]:
    return (
        connect(warehouse)
        .execute('select source, message from load_errors order by "at"')
        .fetchall()
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good") / "warehouse"
    assert ingest(root, "aws", str(GOOD)) == 0
    # one refused load first, so load_errors exists and growing it is a new version
    empty = tmp_path_factory.mktemp("empty") / "cur.csv"
    empty.write_bytes(b"")
    assert ingest(root, "aws", str(empty)) == 2
    return root


def unreadable(source: Path) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        shutil.copy(source, d / source.name)
        (d / source.name).chmod(0)
        return d / source.name

    return make


def unreadable_in_folder(d: Path) -> Path:
    """A folder whose second export file may not be read: the folder is refused whole."""
    (d / "export").mkdir()
    shutil.copy(GOOD, d / "export" / "a.csv")
    shutil.copy(GOOD, d / "export" / "b.csv")
    (d / "export" / "b.csv").chmod(0)
    return d / "export"


def unreadable_folder(d: Path) -> Path:
    (d / "export").mkdir()
    shutil.copy(GOOD, d / "export" / "a.csv")
    (d / "export").chmod(0)
    return d / "export"


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]
    source: str
    names: Callable[[Path], str]  # what the message names, from the target


INPUTS = {
    **{
        f"unreadable file ({source})": Case(unreadable(path), source, str)
        for source, path in (
            ("aws", GOOD),
            ("focus", FOCUS),
            ("azure", AZURE_CSV),
            ("gcp", GCP_CSV),
            ("saas", SAAS),
            ("onprem", INVENTORY),
        )
    },
    "unreadable file in an export folder": Case(
        unreadable_in_folder, "aws", lambda t: str(t / "b.csv")
    ),
    "unreadable export folder": Case(unreadable_folder, "aws", str),
}


@pytest.mark.parametrize("case", INPUTS.values(), ids=INPUTS.keys())
def test_an_input_that_may_not_be_read_is_one_message(
    case: Case, loaded: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded, warehouse)
    inputs = tmp_path / "in"
    inputs.mkdir()
    target = case.make(inputs)
    before, errors = state(warehouse), load_errors(warehouse)

    proc = finops("--warehouse", str(warehouse), "ingest", case.source, str(target))

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"Bad input: {case.names(target)}: {DENIED}, or copy "
                                        "the export where it can"]  # fmt: skip
    assert proc.stdout == ""
    assert state(warehouse) == before
    message = proc.stderr.strip().removeprefix("Bad input: ")
    assert load_errors(warehouse) == [*errors, (case.source, message)]


def unwritable(warehouse: Path) -> list[str]:
    for folder, _, files in os.walk(warehouse):
        Path(folder).chmod(0o555)
        for name in files:
            (Path(folder) / name).chmod(0o444)
    return []


def writable(warehouse: Path) -> None:
    for folder, _, files in os.walk(warehouse):
        Path(folder).chmod(0o755)
        for name in files:
            (Path(folder) / name).chmod(0o644)


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (unwritable, "permission denied"),
        pytest.param(
            read_only_mount,
            "read-only file system",
            marks=pytest.mark.skipif(not can_mount(), reason="needs a mount namespace"),
        ),
    ],
    ids=["without write permission", "read-only mount"],
)
def test_a_warehouse_that_may_not_be_written_refuses_an_ingest_and_still_answers_queries(
    make: Callable[[Path], list[str]], found: str, loaded: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded, warehouse)
    before, errors = state(warehouse), load_errors(warehouse)
    may = tmp_path / "may.csv"
    may.write_text(GOOD.read_text(encoding="utf-8").replace("2018-06", "2018-05"))
    wrap = make(warehouse)
    try:
        proc = finops("--warehouse", str(warehouse), "ingest", "aws", str(may), before=wrap)
        query = finops(
            "--warehouse",
            str(warehouse),
            "query",
            "--format",
            "csv",
            "select count(*) as n, sum(BilledCost) as billed from cost_lines",
            before=wrap,
        )
        report = finops(
            "--warehouse",
            str(warehouse),
            "report",
            "--month",
            "2018-06",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "pack"),
            before=wrap,
        )
    finally:
        writable(warehouse)

    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.splitlines() == [
        f"Warehouse error: {warehouse}, at {warehouse}/.writer.lock: cannot write the warehouse "
        f"— expected a folder this user can read and write, found {found} — run as the "
        "warehouse's owner, or give it write access (or point --warehouse elsewhere); nothing "
        "was changed"
    ]
    assert state(warehouse) == before
    assert load_errors(warehouse) == errors  # nothing can be recorded where nothing is written
    assert (query.returncode, query.stderr) == (0, "")
    n, billed = query.stdout.splitlines()[1].split(",")
    assert (int(n), billed) == (before[2]["2018-06"][0], str(before[2]["2018-06"][1]))
    assert report.returncode == 0, report.stderr
    assert "2018-06 total billed USD" in report.stdout


def test_a_warehouse_that_may_not_be_read_is_one_message(loaded: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded, warehouse)
    before = state(warehouse)
    warehouse.chmod(0)
    try:
        query = finops("--warehouse", str(warehouse), "query", "select 1")
        load = finops("--warehouse", str(warehouse), "ingest", "aws", str(GOOD))
    finally:
        warehouse.chmod(0o755)

    assert query.returncode == 4, query.stderr
    assert query.stderr.splitlines() == [
        f"Warehouse error: {warehouse}, at {warehouse}/cost_lines: cannot read the warehouse — "
        "expected a folder this user can read, found permission denied — run as the "
        "warehouse's owner, or give it read access (or point --warehouse elsewhere); nothing "
        "was changed"
    ]
    assert load.returncode == 4, load.stderr
    assert load.stderr.startswith(f"Warehouse error: {warehouse}, at {warehouse}/.writer.lock")
    assert len(load.stderr.splitlines()) == 1
    assert state(warehouse) == before
