"""Acceptance 2: tag and resource text that looks like a formula stays inert text."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from dashboard.report.csv_cells import inert
from dashboard.report.pack import build_pack
from tests.fixtures.report_world import INJECTIONS, classified, shared


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory):
    root = shared(tmp_path_factory)
    return build_pack(classified(root), "2026-09", ("xlsx", "csv"), tmp_path_factory.mktemp("out"))


@pytest.mark.parametrize("text", INJECTIONS)
def test_xlsx_keeps_formula_text_as_a_string_cell(pack, text: str) -> None:
    book = openpyxl.load_workbook(pack.files["xlsx"][0])
    found = []
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value == text:
                    found.append((ws.title, cell.data_type))
    # the team tag shows in the summary and chargeback sheets, always as plain text
    assert ("Summary", "s") in found and ("Chargeback", "s") in found
    assert {kind for _, kind in found} == {"s"}


@pytest.mark.parametrize("text", INJECTIONS)
def test_csv_prefixes_formula_text_with_an_apostrophe(pack, text: str) -> None:
    path = next(p for p in pack.files["csv"] if p.name.endswith("-chargeback.csv"))
    with Path(path).open(encoding="utf-8", newline="") as fh:
        teams = [r["team"] for r in csv.DictReader(fh)]
    assert "'" + text in teams
    assert text not in teams


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("ml-research", "ml-research"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_inert_follows_the_owasp_rule(text: str, expected: str) -> None:
    assert inert(text) == expected
