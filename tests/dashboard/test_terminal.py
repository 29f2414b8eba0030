"""What the commands print on a terminal: text as it is, numbers whole, at 80 columns too."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import main
from ingest.store import Store
from tests.ingest.test_store import batch


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def loaded(warehouse: Path) -> Path:
    store = Store(warehouse)
    store.load_cost_lines([batch("2026-09", ["123456.789012345678", "0.0000008"])])
    store.load_cost_lines([batch("2026-10", ["98765.4321", "1"], sha="b" * 64)])
    return warehouse


def test_text_that_looks_like_markup_prints_as_it_is(
    loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a closing tag used to end the command with a traceback; the others vanished
    sql = "select '[/x] closing' as a, '[bold]b' as b, 'in [classify]' as c"
    code, out, err = run(capsys, "--warehouse", str(loaded), "query", sql)
    assert (code, err) == (0, "")
    for text in ("[/x] closing", "[bold]b", "in [classify]"):
        assert text in out


def test_a_rule_regex_is_listed_whole(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run(capsys, "rules", "list")
    assert code == 0
    assert r"'^(p\\d[a-z]*|p6e?-.*|trn\\d[a-z]*|" in out  # workload.family.training


@pytest.mark.parametrize("columns", ["80", "250"])
def test_loads_show_every_digit_at_any_width(
    loaded: Path, capsys: pytest.CaptureFixture[str], monkeypatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    code, out, _ = run(capsys, "--warehouse", str(loaded), "loads")
    assert code == 0
    assert "…" not in out
    for total in ("123,456.789013145678", "98,766.4321"):
        assert out.count(total) == 2  # source and warehouse total, uncut
    assert all(len(line) <= int(columns) for line in out.splitlines())
    # a table when it fits; else one record per line, each value beside its name
    if columns == "80":
        assert "source total 123,456.789013145678" in out
    else:
        assert out.splitlines()[1].startswith("┏")


def test_query_numbers_are_right_aligned(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "select BillingPeriodStart::date as month, sum(BilledCost) as total from cost_lines "
        "group by 1 order by 1"
    )
    code, out, _ = run(capsys, "--warehouse", str(loaded), "query", sql)
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("│ 2026")]
    assert [r.split("│")[2] for r in rows] == [
        " 123456.789013145678 ",
        "  98766.432100000000 ",
    ]


def test_a_missing_line_is_named_without_a_question_mark(
    loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--warehouse", str(loaded), "explain", "999999")
    assert code == 2
    assert "no cost line with x_LineId 999999 — found 999999 — find ids with" in err
    assert "?" not in err
