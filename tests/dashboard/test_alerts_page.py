"""The Alerts page and the Overview's line of open alerts, after `finops watch` ran over the
small warehouse (team nlp over its USD 700 budget; i-gpu1 and i-gpu2 idle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli.finops import main
from tests.fixtures.app_pages import app, metrics, no_errors, page
from tests.fixtures.warehouse_state import serve
from tests.fixtures.watch_rules import STDOUT, copy_of, rules


def watch(root: Path, tmp_path: Path, idle: bool) -> int:
    config = tmp_path / "finops.toml"
    config.write_text(rules(idle=idle) + STDOUT, encoding="utf-8")
    return main(["--warehouse", str(root), "--config", str(config), "watch"])


@pytest.fixture
def watched(built_warehouse: Path, tmp_path: Path, monkeypatch, capsys) -> Path:
    root = copy_of(built_warehouse, tmp_path)
    assert watch(root, tmp_path, idle=True) == 1
    capsys.readouterr()
    serve(monkeypatch, root)
    return root


def test_the_alerts_page_lists_what_fired_and_where_it_went(watched: Path) -> None:
    at = page(app(), "alerts")
    no_errors(at)
    assert at.markdown[0].value == (
        "**3 alert conditions hold** (1 critical, 2 warning). Every alert reached its channels."
    )
    assert metrics(at) == {
        "Open alert conditions": "3",
        "Alerts sent": "3",
        "Delivery failed": "0",
    }
    (table,) = [d.value for d in at.dataframe]
    rows = sorted(table.to_dict("records"), key=lambda r: r["alert"])
    assert [(r["severity"], r["rule"], r["alert"], r["status"], r["delivery"]) for r in rows] == [
        ("Critical", "Over budget", "Budget team nlp is over: USD 790.00 of USD 700.00", "sent",
         "terminal: sent"),
        ("Warning", "Idle GPUs", "Idle GPUs: i-gpu1 idle 4 hours, USD 120.00", "sent",
         "terminal: sent"),
        ("Warning", "Idle GPUs", "Idle GPUs: i-gpu2 idle 2 hours, USD 160.00", "sent",
         "terminal: sent"),
    ]  # fmt: skip
    assert rows[0]["view"].endswith("/budgets?from=2026-10-01&to=2026-10-31&team=nlp&cur=USD")


def test_the_overview_shows_open_alerts_and_drops_resolved_ones(
    watched: Path, tmp_path: Path, capsys
) -> None:
    at = app()
    no_errors(at)
    (line,) = [w.value for w in at.warning]
    assert line == (
        "**3 open alerts**: Budget team nlp is over: USD 790.00 of USD 700.00 and 2 more."
    )
    # the idle rule removed: its two conditions no longer hold and are resolved
    assert watch(watched, tmp_path, idle=False) == 1
    assert "2 resolved" in capsys.readouterr().err
    at = app()
    (line,) = [w.value for w in at.warning]
    assert line == "**1 open alert**: Budget team nlp is over: USD 790.00 of USD 700.00."
    at = page(at, "alerts")
    assert at.markdown[0].value.startswith("**1 alert condition holds** (1 critical)")
    # the idle rule back: the same alerts hold again, open once more, but are not sent again
    assert watch(watched, tmp_path, idle=True) == 1
    assert "3 alerts hold: 0 messages sent, 3 sent before." in capsys.readouterr().err
    (line,) = [w.value for w in app().warning]
    assert line.startswith("**3 open alerts**")


def test_before_any_alert_the_page_says_how_to_set_them_up(small_warehouse: Path) -> None:
    at = page(app(), "alerts")
    no_errors(at)
    assert at.info[0].value == "No alert has fired yet."
    assert "finops watch" in at.markdown[0].value
    assert not [w for w in app().warning if "open alert" in w.value]
