"""What the commands print on a terminal: text as it is, numbers whole, at 80 columns too."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.store import Store
from tests.fixtures.batches import batch
from tests.fixtures.terminal import in_currency


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
def test_loads_show_totals_whole_at_any_width(
    loaded: Path, capsys: pytest.CaptureFixture[str], monkeypatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    code, out, _ = run(capsys, "--warehouse", str(loaded), "loads")
    assert code == 0
    assert "…" not in out
    for total in ("123,456.79", "98,766.43"):  # USD: cents, half-even
        assert out.count(total) == 2  # source and warehouse total, uncut
    assert all(len(line) <= int(columns) for line in out.splitlines())
    # a table when it fits; else one record per line, each value beside its name
    if columns == "80":
        assert "source total 123,456.79 " in out
    else:
        assert out.splitlines()[1].startswith("┏")


def test_loads_give_exact_totals_as_csv_and_json(
    loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--warehouse", str(loaded), "loads", "--format", "csv")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split(",")[4:9] == [
        "billing_period", "currency", "rows", "source_total", "warehouse_total",
    ]  # fmt: skip
    assert [line.split(",")[4:9] for line in lines] == [
        ["2026-10", "USD", "2", "98766.432100000000", "98766.432100000000"],
        ["2026-09", "USD", "2", "123456.789013145678", "123456.789013145678"],
    ]
    code, out, _ = run(capsys, "--warehouse", str(loaded), "loads", "--format", "json")
    assert code == 0
    assert '"source_total": 123456.789013145678' in out and '"source_total": 98766.4321' in out


def test_query_numbers_are_right_aligned(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "select BillingPeriodStart::date as month, sum(BilledCost) as total from cost_lines "
        "group by 1 order by 1"
    )
    code, out, _ = run(capsys, "--warehouse", str(loaded), "query", sql)
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("│ 2026")]
    # no currency in the result: the sums exactly, without the zeros DECIMAL(38,12) pads with
    assert [r.split("│")[2] for r in rows] == [
        " 123456.789013145678 ",
        "          98766.4321 ",
    ]


def test_query_money_is_shown_at_the_currency_minor_units(
    warehouse: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    store = Store(warehouse)
    for i, (currency, amounts) in enumerate(
        [("USD", ["10.005", "0.0000008"]), ("JPY", ["1234.5", "1"]), ("KWD", ["1.0005", "2"])]
    ):
        store.load_cost_lines([in_currency("2026-09", amounts, currency, i)])
    sql = (
        "select BillingCurrency, sum(BilledCost) as billed_cost, sum(BilledCost) as x, "
        "count(*) as n from cost_lines group by 1 order by 1"
    )
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "query", sql)
    assert code == 0
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()
             if line.startswith("│ ") and "Billing" not in line]  # fmt: skip
    assert cells == [
        ["JPY", "1236", "1235.5", "2"],  # 1235.5 -> 1236: half to even, no decimals
        ["KWD", "3.000", "3.0005", "2"],  # 3.0005 -> 3.000: half to even, three decimals
        ["USD", "10.01", "10.0050008", "2"],  # a column not named as money stays exact
    ]
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "query", sql, "--format", "csv")
    assert "JPY,1235.500000000000,1235.500000000000,2" in out  # csv: exact


def test_loads_and_load_summaries_round_each_currency_its_way(
    warehouse: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    store = Store(warehouse)
    store.load_cost_lines([in_currency("2026-09", ["1234.5", "1"], "JPY", 1)])
    store.load_cost_lines([in_currency("2026-10", ["1.0015", "1"], "BHD", 2)])
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "loads")
    assert code == 0
    assert out.count(" 1,236 ") == 2 and out.count(" 2.002 ") == 2
    assert "1,235.5" not in out

    import io

    from rich.console import Console

    from dashboard.cli.progress import show_brief, show_summary

    printed = io.StringIO()
    console = Console(file=printed, width=200, markup=False, soft_wrap=True)
    results = [_result("2026-09", "1234.5", "JPY"), _result("2026-09", "7.0025", "KWD")]
    show_summary(console, results)
    show_brief(console, results)
    text = printed.getvalue()
    assert text.count(" 1,234 ") == 3 and text.count(" 7.002 ") == 3  # table twice, line once
    assert "JPY 1,234 in source" in text and "KWD 7.002 in source" in text


def test_a_missing_line_is_named_without_a_question_mark(
    loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--warehouse", str(loaded), "explain", "999999")
    assert code == 2
    assert "no cost line has x_LineId 999999 — expected one of the " in err
    assert " ids between " in err and "— find ids with" in err
    assert "?" not in err


def _result(period: str, total: str, currency: str = "USD", status: str = "committed"):
    from decimal import Decimal

    from ingest.warehouse.load_contract import LoadResult

    amount = Decimal(total)
    return LoadResult(
        "id", "cost_lines", "aws-cur2", "123", period, currency, 10, amount, amount, status, 1
    )


def test_the_brief_summary_is_one_line_per_source_account_and_currency() -> None:
    import io

    from rich.console import Console

    from dashboard.cli.progress import show_brief

    out = io.StringIO()
    console = Console(file=out, width=80, markup=False, soft_wrap=True)
    show_brief(
        console,
        [
            _result("2026-09", "1234.005"),  # the sum is rounded to cents once, half to even
            _result("2026-10", "0.01", status="unchanged"),
            _result("2026-10", "7", currency="EUR"),
        ],
    )
    assert out.getvalue().splitlines() == [
        "aws-cur2 123: 2 periods (2026-09 .. 2026-10), 20 rows, USD 1,234.02 in source and "
        "warehouse: 1 committed, 1 unchanged",
        "aws-cur2 123: 1 period (2026-10), 10 rows, EUR 7.00 in source and warehouse: committed",
    ]


def test_loads_narrow_to_a_source_period_and_count(
    loaded: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(
        capsys, "--warehouse", str(loaded), "loads", "--source", "aws-cur2", "--period", "2026-10"
    )
    assert code == 0
    assert "98,766.43" in out and "123,456.79" not in out
    code, out, _ = run(capsys, "--warehouse", str(loaded), "loads", "--last", "1")
    assert code == 0 and out.count("aws-cur2") == 1  # the newest: 2026-10
    assert "2026-10" in out and "2026-09" not in out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--source", "aws-cur"], "no loads from source 'aws-cur' (did you mean \"aws-cur2\"?)"),
        (["--period", "2026-13"], "--period is not a month — expected YYYY-MM"),
    ],
)
def test_loads_name_a_bad_filter(
    loaded: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = run(capsys, "--warehouse", str(loaded), "loads", *args)
    assert (code, out) == (2, "")
    assert said in err


def test_failed_loads_are_listed(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from models.errors import InputError

    code, out, _ = run(capsys, "--warehouse", str(loaded), "loads", "--errors")
    assert (code, out.strip()) == (0, "No failed loads.")
    Store(loaded).record_error(
        "cost_lines", "azure-cost-details", "exports/", InputError("no header row")
    )
    # `at` is a keyword to DuckDB 2.0: unquoted, the listing ended in a parser error
    code, out, err = run(capsys, "--warehouse", str(loaded), "loads", "--errors")
    assert (code, err) == (0, "")
    assert "azure-cost-details" in out and "no header row" in out
    code, out, _ = run(
        capsys, "--warehouse", str(loaded), "loads", "--errors", "--source", "aws-cur2"
    )
    assert (code, out.strip()) == (0, "No failed loads.")


def test_the_demo_says_when_there_are_no_gpus_to_measure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tests.fixtures.paths import SAMPLE_DATA

    if not (SAMPLE_DATA / "truth.json").exists():
        pytest.skip("sample_data/ is not generated yet")
    data = tmp_path / "data"
    (data / "saas").mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "truth.json", data)
    shutil.copy(SAMPLE_DATA / "saas" / "invoices.csv", data / "saas")
    warehouse = str(tmp_path / "warehouse")
    code, out, _ = run(capsys, "--warehouse", warehouse, "demo", "--no-serve", "--data", str(data))
    assert code == 0
    assert "Idle GPUs: not measured (no GPU compute is billed in this data)." in out
