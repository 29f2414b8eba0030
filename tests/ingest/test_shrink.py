"""A reload that shrinks a committed month is refused unless --allow-shrink.

A truncated export reconciles with itself (its total is read from the same cut file), so the
store compares a reload with the period it would replace. Real legacy CUR sample, real CLI.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from models.errors import ConfigError
from models.settings import parse_settings
from models.shrink import PeriodSize, shrink
from tests.fixtures.cur import KOKU, koku_truth
from tests.fixtures.warehouse_state import period_totals

GOOD = KOKU / "test_cur.csv"


def first_lines(d: Path, rows: int) -> Path:
    """The export cut cleanly after `rows` data lines: every line whole, so it parses."""
    lines = GOOD.read_bytes().splitlines(keepends=True)
    path = d / "cut" / "test_cur.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines[: rows + 1]))
    return path


def ingest(warehouse: Path, *args: str, config: Path | None = None) -> int:
    extra = ["--config", str(config)] if config else []
    return main(["--warehouse", str(warehouse), *extra, "ingest", "aws", *args])


def digest(warehouse: Path) -> dict[str, str]:
    """Every file of the warehouse a refused load must not touch (load_errors records it)."""
    return {
        str(p.relative_to(warehouse)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(warehouse.rglob("*"))
        if p.is_file()
        and not str(p.relative_to(warehouse)).startswith(("load_errors", "_staging"))
        and p.name != ".writer.lock"
    }


def usd(path: Path) -> str:
    _, total, _ = koku_truth(path)
    return f"USD {total:,.2f}"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    root = tmp_path / "warehouse"
    assert ingest(root, str(GOOD)) == 0
    assert period_totals(root)["2018-06"][0] == 19
    return root


def test_a_truncated_month_is_refused_and_nothing_changes(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cut = first_lines(tmp_path, 4)
    before = digest(warehouse)
    capsys.readouterr()

    code = ingest(warehouse, str(cut))

    err = capsys.readouterr().err
    assert code == 2, err
    assert (
        f"2018-06 would shrink from 19 lines ({usd(GOOD)}) to 4 lines ({usd(cut)}) — a "
        "truncated export? Download it again, or pass --allow-shrink if the provider really "
        "restated it"
    ) in err
    assert "test_cur.csv" in err
    assert digest(warehouse) == before
    assert period_totals(warehouse)["2018-06"][0] == 19


def test_allow_shrink_commits_the_smaller_month(warehouse: Path, tmp_path: Path) -> None:
    cut = first_lines(tmp_path, 4)
    _, total, _ = koku_truth(cut)

    assert ingest(warehouse, str(cut), "--allow-shrink") == 0

    got = period_totals(warehouse)["2018-06"]
    assert (got[0], got[1]) == (4, total)


@pytest.mark.parametrize(
    ("rows", "max_shrink", "refused"),
    [
        (15, None, False),  # 21% fewer lines, 19% less cost: within the default 50%
        (4, None, True),
        (15, 0.1, True),  # the setting tightens the guard
        (4, 0.9, False),  # ...or loosens it: 79% fewer lines, 86% less cost
        (1, 0.9, True),
    ],
)
def test_the_setting_moves_the_threshold(
    warehouse: Path, tmp_path: Path, rows: int, max_shrink: float | None, refused: bool
) -> None:
    config = None
    if max_shrink is not None:
        config = tmp_path / "finops.toml"
        config.write_text(f"[warehouse]\nmax_shrink = {max_shrink}\n", encoding="utf-8")
    cut = first_lines(tmp_path, rows)

    code = ingest(warehouse, str(cut), config=config)

    assert code == (2 if refused else 0)
    assert period_totals(warehouse)["2018-06"][0] == (19 if refused else rows)


def test_growing_or_reloading_the_same_month_is_never_a_shrink(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "warehouse"
    assert ingest(root, str(first_lines(tmp_path, 4))) == 0
    assert ingest(root, str(GOOD)) == 0
    assert ingest(root, str(GOOD)) == 0
    assert period_totals(root)["2018-06"][0] == 19


USD = "USD"


@pytest.mark.parametrize(
    ("old", "new", "max_shrink", "shrunk"),
    [
        ((10, {USD: "100"}), (5, {USD: "50"}), 0.5, False),  # exactly the share: allowed
        ((10, {USD: "100"}), (4, {USD: "100"}), 0.5, True),  # lines
        ((10, {USD: "100"}), (10, {USD: "49.99"}), 0.5, True),  # cost
        ((10, {USD: "100"}), (10, {USD: "-100"}), 0.5, True),  # sign flip: beyond any share
        ((10, {USD: "-100"}), (10, {USD: "100"}), 1.0, True),
        ((10, {USD: "100"}), (10, {USD: "0"}), 1.0, True),  # nonzero to zero
        ((10, {USD: "0"}), (10, {USD: "5"}), 0.5, False),  # zero to anything: growth
        ((10, {USD: "100", "EUR": "40"}), (10, {USD: "100"}), 0.5, True),  # a currency gone
        ((10, {USD: "-100"}), (10, {USD: "-60"}), 0.5, False),  # credits shrink by size
        ((10, {USD: "100"}), (10, {USD: "20"}), 0.9, False),
    ],
)
def test_what_counts_as_a_shrink(
    old: tuple[int, dict[str, str]],
    new: tuple[int, dict[str, str]],
    max_shrink: float,
    shrunk: bool,
) -> None:
    def size(x: tuple[int, dict[str, str]]) -> PeriodSize:
        return PeriodSize(x[0], {c: Decimal(v) for c, v in x[1].items()})

    assert shrink(size(old), size(new), max_shrink) is shrunk


@pytest.mark.parametrize(("value", "says"), [(1.5, "out of range"), ("half", "wrong type")])
def test_a_bad_max_shrink_is_a_config_error(value: object, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"warehouse": {"max_shrink": value}})
    assert says in str(err.value) and "max_shrink" in str(err.value)


@pytest.mark.parametrize("source", ["aws", "focus", "azure", "gcp", "onprem", "saas"])
def test_every_cost_line_ingest_takes_allow_shrink(
    source: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["ingest", source, "--help"]) == 0
    assert "--allow-shrink" in capsys.readouterr().out
