"""Every CSV the product writes keeps hostile text inert and its rows whole.

Hostile tags, resource names and descriptions go through each path a user downloads or
exports: the dashboard's download bytes, `finops query`, `finops loads`, `finops export` and
the finance pack. Each file is read back with Python's csv module: the cells are the escaped
text, no row was injected, and negative money is still a number.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from dashboard.cli.finops import main
from dashboard.report.csv_cells import Figure, csv_text, frame_csv, inert
from dashboard.report.pack import build_pack
from ingest.warehouse.store import Store
from tests.fixtures.report_world import classified, load

# (text as a source delivers it, the cell a spreadsheet must get)
HOSTILE = [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("\t=1", "'\t=1"),
    ("\r=2+2", "'\r=2+2"),
    ('gpu "big",\nsecond line', 'gpu "big",\nsecond line'),
    ("ok\r=2+2", "ok\r=2+2"),  # a carriage return inside a cell must not start a row
    ("ml-research", "ml-research"),
]
MONTH = "2026-09"
CREDIT = "-1.5"  # a refund: its money cells stay a negative number


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(("text", "cell"), HOSTILE)
def test_a_text_cell_reads_back_as_its_inert_text(text: str, cell: str) -> None:
    written = csv_text(["name", "cost"], [[text, Decimal("-1.500000000000")], ["next", 2]])
    assert _rows(written) == [["name", "cost"], [cell, "-1.500000000000"], ["next", "2"]]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (Decimal("-1.500000000000"), "-1.500000000000"),
        (-3, "-3"),
        (-0.25, "-0.25"),
        (Figure("-12.50"), "-12.50"),
        (date(2026, 9, 1), "2026-09-01"),
        (True, "true"),
        (None, ""),
        ("-12.50", "'-12.50"),  # text that looks like a number is still text
    ],
)
def test_numbers_and_dates_are_never_escaped(value: object, field: str) -> None:
    assert csv_text(["v"], [[value]]) == f"v\n{field}\n"


def test_a_header_from_a_user_is_text_too() -> None:
    assert _rows(csv_text(["=cmd", "ok"], []))[0] == ["'=cmd", "ok"]


def test_inert_and_the_writer_agree() -> None:
    for text, cell in HOSTILE:
        assert inert(text) == cell


def test_dashboard_download_bytes(tmp_path: Path) -> None:
    """The bytes every page's "Download … (CSV)" button serves (session.table)."""
    frame = pl.DataFrame(
        {
            "resource": [t for t, _ in HOSTILE],
            "cost": [Decimal("-1.500000000000")] * len(HOSTILE),
            "month": [date(2026, 9, 1)] * len(HOSTILE),
        },
        schema_overrides={"cost": pl.Decimal(38, 12)},
    )
    rows = _dicts(frame_csv(frame).decode("utf-8"))
    assert len(rows) == len(HOSTILE)
    assert [r["resource"] for r in rows] == [c for _, c in HOSTILE]
    assert {r["cost"] for r in rows} == {"-1.500000000000"}
    assert {r["month"] for r in rows} == {"2026-09-01"}


PAGE = """
from decimal import Decimal

import polars as pl

from dashboard.app import session

texts = {texts!r}
frame = pl.DataFrame(
    {{"resource": texts, "cost": [Decimal("-1.500000000000")] * len(texts)}},
    schema_overrides={{"cost": pl.Decimal(38, 12)}},
)
session.table(frame, csv=("lines", "lines.csv"))
"""


def test_a_page_download_button_serves_inert_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the browser gets from a page's download button: the bytes Streamlit stores."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import AppTest

    served: dict[str, bytes] = {}
    keep = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        served[filename] = path_or_data
        return keep(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = AppTest.from_string(PAGE.format(texts=[t for t, _ in HOSTILE]), default_timeout=60)
    at.run()
    assert not at.exception
    assert [b.label for b in at.download_button] == ["Download lines (CSV)"]
    rows = _dicts(served["lines.csv"].decode("utf-8"))
    # headed in words; money at its minor units, still a number (never escaped)
    assert [r["Resource"] for r in rows] == [c for _, c in HOSTILE]
    assert {r["Cost"] for r in rows} == {"-1.50"}


# -- the warehouse paths --------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One month of AWS lines whose resource names and team tags are hostile, plus a credit."""
    rows = [
        {"cost": "2.25", "day": i + 1, "resource": f"r-{i}", "resource_name": text,
         "tags": {"team": text, "class": "gpu_compute"}}
        for i, (text, _) in enumerate(HOSTILE)
    ] + [{"cost": CREDIT, "day": 20, "resource": "r-credit", "resource_name": "refund",
          "tags": {"team": "platform", "class": "other"}}]  # fmt: skip
    root = tmp_path_factory.mktemp("hostile") / "warehouse"
    Store(root).load_cost_lines([load("aws-cur2", "111122223333", MONTH, rows)])
    return root


def _cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> str:
    assert main(["--warehouse", str(root), *args]) == 0
    return capsys.readouterr().out


def test_query_csv(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "select ResourceId, ResourceName, BilledCost, json_extract_string(Tags, '$.team') as team"
        " from cost_lines order by ChargePeriodStart"
    )
    rows = _dicts(_cli(capsys, hostile, "query", sql, "--format", "csv"))
    assert len(rows) == len(HOSTILE) + 1  # no row injected
    assert [r["ResourceName"] for r in rows[:-1]] == [c for _, c in HOSTILE]
    assert [r["team"] for r in rows[:-1]] == [c for _, c in HOSTILE]
    assert rows[-1]["BilledCost"] == "-1.500000000000"
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("18.75")


def test_loads_csv(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _dicts(_cli(capsys, hostile, "loads", "--format", "csv"))
    assert len(rows) == 1
    assert rows[0]["billing_account"] == "111122223333"  # an id of digits stays as it is
    assert Decimal(rows[0]["source_total"]) == Decimal("18.75")
    assert Decimal(rows[0]["warehouse_total"]) == Decimal("18.75")


def test_focus_export_csv(
    hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "september.csv"
    _cli(capsys, hostile, "export", "--month", MONTH, "--out", str(out))
    rows = _dicts(out.read_bytes().decode("utf-8"))
    assert len(rows) == len(HOSTILE) + 1
    assert [r["ResourceName"] for r in rows[:-1]] == [c for _, c in HOSTILE]
    # Tags are JSON text starting with '{': written as they are, the hostile value inside
    assert [json.loads(r["Tags"])["team"] for r in rows[:-1]] == [t for t, _ in HOSTILE]
    credit = rows[-1]
    assert credit["ResourceName"] == "refund"
    for money in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert credit[money] == "-1.500000000000"  # a number, no apostrophe
    assert credit["ChargePeriodStart"] == "2026-09-20T00:00:00Z"
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("18.75")


@pytest.fixture(scope="module")
def pack(hostile: Path, tmp_path_factory: pytest.TempPathFactory):
    return build_pack(classified(hostile), MONTH, ("xlsx", "csv"), tmp_path_factory.mktemp("out"))


def test_finance_pack_csv(pack) -> None:
    path = next(p for p in pack.files["csv"] if p.name.endswith("-chargeback.csv"))
    rows = _dicts(Path(path).read_bytes().decode("utf-8"))
    teams = {r["team"]: r for r in rows}
    assert len(rows) == len(HOSTILE) + 1  # one row per team, none injected
    assert set(teams) == {c for _, c in HOSTILE} | {"platform"}
    money = [k for k in rows[0] if k not in ("team", "cost_basis")]
    assert any(teams["platform"][k] == "-1.50" for k in money)  # the credit, in cents
    for path in pack.files["csv"]:  # every section's rows are whole: as wide as its header
        header, *body = _rows(Path(path).read_bytes().decode("utf-8"))
        assert {len(r) for r in body} <= {len(header)}, path.name


def test_finance_pack_xlsx_has_no_formula(pack) -> None:
    book = openpyxl.load_workbook(pack.files["xlsx"][0])
    kinds: dict[str, set[str]] = {}
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):  # XLSX stores CR as _x000D_; openpyxl keeps it
                    text = cell.value.replace("_x000D_", "\r")
                    kinds.setdefault(text, set()).add(cell.data_type)
    for text, _ in HOSTILE:
        assert kinds.get(text) == {"s"}, repr(text)


SOFFICE = shutil.which("soffice")


@pytest.mark.slow
@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is installed by tests/setup/system_deps.sh"
)
def test_libreoffice_opens_the_csv_files_without_a_formula(
    pack, hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real spreadsheet software imports the pack's chargeback CSV and the FOCUS export: one
    row per line written, every hostile text a text cell (LibreOffice evaluates formulas in a
    CSV, and starts a row at an unquoted carriage return)."""
    export = tmp_path / "export.csv"
    _cli(capsys, hostile, "export", "--month", MONTH, "--out", str(export))
    chargeback = next(p for p in pack.files["csv"] if p.name.endswith("-chargeback.csv"))
    out = tmp_path / "converted"
    profile = (tmp_path / "lo-profile").as_uri()  # own profile: parallel runs do not clash
    done = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--norestore",
         "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", str(out),
         str(chargeback), str(export)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for source in (chargeback, export):
        sheet = openpyxl.load_workbook(out / (source.stem + ".xlsx")).active
        cells = [c for row in sheet.iter_rows() for c in row]
        assert [c.coordinate for c in cells if c.data_type == "f"] == [], source.name
        assert sheet.max_row == 1 + len(HOSTILE) + 1, source.name  # header, lines, the credit
