"""`finops report --out` where the pack cannot go: one message, exit 2, no file written."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.cur import KOKU
from tests.fixtures.warehouse_state import finops, ingest

GOOD = KOKU / "test_cur.csv"
TAIL = "choose another --out folder, or give this one write access; nothing was written"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good") / "warehouse"
    assert ingest(root, "aws", str(GOOD)) == 0
    return root


def a_file(d: Path) -> Path:
    (d / "pack.xlsx").write_bytes(b"not a folder")
    return d / "pack.xlsx"


def below_a_file(d: Path) -> Path:
    (d / "pack.xlsx").write_bytes(b"not a folder")
    return d / "pack.xlsx" / "2018-06"


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "/dev/null": (
        lambda d: Path("/dev/null"),
        "/dev/null, --out: not a folder — expected a folder for the pack's files (made if "
        "missing), found a character device — the pack is several files: give a folder",
    ),
    "a file": (
        a_file,
        "{out}, --out: not a folder — expected a folder for the pack's files (made if missing), "
        "found a regular file — the pack is several files: give a folder",
    ),
    "a folder below a file": (
        below_a_file,
        "{out}, --out: cannot write the report — expected a folder this user can write, found "
        f"not a directory — {TAIL}",
    ),
}


@pytest.mark.parametrize(("make", "says"), CASES.values(), ids=CASES.keys())
def test_report_out_where_no_pack_can_go_is_one_message(
    make: Callable[[Path], Path],
    says: str,
    loaded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dashboard.cli.finops import main

    out = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    capsys.readouterr()

    code = main(["--warehouse", str(loaded), "report", "--month", "2018-06", "--out", str(out)])

    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.splitlines() == [f"Bad input: {says.format(out=out)}"]
    assert captured.out == ""
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, nothing left behind


def test_a_missing_out_folder_is_made(loaded: Path, tmp_path: Path, capsys) -> None:
    from dashboard.cli.finops import main

    out = tmp_path / "packs" / "2018-06"
    code = main(["--warehouse", str(loaded), "report", "--month", "2018-06", "--format", "csv",
                 "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (out / "finops-2018-06-summary.csv").is_file()


@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root"
)
@pytest.mark.parametrize("below", ["", "new"], ids=["the folder", "a folder to make in it"])
def test_report_out_that_may_not_be_written_is_one_message(
    below: str, loaded: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / below if below else locked
    try:
        proc = finops("--warehouse", str(loaded), "report", "--month", "2018-06", "--out",
                      str(out))  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"Bad input: {out}, --out: cannot write the report — expected a folder this user can "
        f"write, found permission denied — {TAIL}"
    ]
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "found"),
    [(lambda d: d, "is a directory"), (lambda d: a_file(d) / "x.csv", "not a directory")],
    ids=["a folder", "below a file"],
)
def test_export_out_that_cannot_be_written_is_one_message(
    make: Callable[[Path], Path], found: str, loaded: Path, tmp_path: Path, capsys
) -> None:
    from dashboard.cli.finops import main

    out = make(tmp_path)
    capsys.readouterr()
    code = main(["--warehouse", str(loaded), "export", "--month", "2018-06", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"Bad input: {out}, --out: cannot write the export — expected a file this user can "
        f"write ('-' for standard output), found {found} — choose another --out file, or give "
        "its folder write access"
    ]
