"""`finops watch --dry-run` on the demo warehouse with the settings `finops demo` writes: it
reports the sample's planted events (truth.json) with their figures, and each budget's
actual, forecast and breach day equal a direct computation from the cost lines."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import load_settings, main
from dashboard.queries import budgets as queries_budgets
from models.budgets import Budget, assess
from models.cost_basis import DEFAULT
from tests.fixtures.paths import SAMPLE_DATA
from tests.fixtures.sample_views import sample_app, sample_or_skip

pytestmark = pytest.mark.slow  # needs the built sample warehouse


def demo_config(warehouse: Path) -> Path:
    return Path(warehouse).parent / "finops-demo.toml"


def dry_run(warehouse: Path, config: Path, capsys) -> tuple[int, list[dict], str]:
    code = main(["--warehouse", str(warehouse), "--config", str(config), "watch", "--dry-run",
                 "--format", "json"])  # fmt: skip
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def test_the_demo_watch_reports_the_planted_events(request, capsys) -> None:
    warehouse, truth = sample_or_skip(request)
    code, alerts, err = dry_run(warehouse, demo_config(warehouse), capsys)
    assert code == 1, err
    by_rule: dict[str, list[dict]] = {}
    for a in alerts:
        by_rule.setdefault(a["rule"], []).append(a)

    # the egress spike: one alert, driven by the planted resource at the planted cost
    spike = next(e for e in truth["events"] if e["kind"] == "egress_spike")
    (egress,) = by_rule["Egress spike"]
    assert egress["figures"]["key"] == "egress"
    assert egress["figures"]["start"] == spike["start"]
    assert date.fromisoformat(egress["figures"]["end"]) <= date.fromisoformat(spike["end"])
    top = egress["drivers"][0]
    assert (top["resource"], Decimal(top["excess"])) == (spike["resource_id"],
                                                         Decimal(spike["cost"]))  # fmt: skip
    assert "/forecast?from=" in egress["link"] and "cur=USD" in egress["link"]

    # the idle fleets: the vision team's abandoned p4d hosts and the speech team's A100
    # server, each one alert, ending when truth says the fleet was shut down
    with (SAMPLE_DATA / "telemetry" / "host_map.csv").open(encoding="utf-8") as fh:
        hosts = {r["host"]: r["resource_id"] for r in csv.DictReader(fh)}
    idle = {a["figures"]["resource_id"]: a for a in by_rule["Idle GPU fleet"]}
    fleets = [e for e in truth["events"] if e["kind"] == "abandoned_fleet"]
    vision = next(e for e in fleets if e["provider"] == "AWS")
    for host, shutdown in zip(vision["hosts"], vision["shutdown"], strict=True):
        alert = idle[hosts[host]]
        assert alert["figures"]["team"] == "vision"
        assert datetime.fromisoformat(alert["figures"]["end"]) == datetime.fromisoformat(shutdown)
        assert int(alert["figures"]["hours"]) >= 24 * 30  # idle for weeks
        assert f"resource={hosts[host]}" in alert["link"]
    speech = next(e for e in fleets if e["provider"] != "AWS")
    (server,) = [a for a in idle.values() if a["figures"]["host"] == speech["hosts"][0]]
    assert server["figures"]["team"] == "speech"
    assert len(idle) == 3  # nothing else idles a week at USD 5,000 or more

    # the planted budget breach, and a budget at risk
    (over,) = by_rule["Budget over"]
    assert (over["figures"]["budget"], over["figures"]["breach"]) == ("Research team",
                                                                       "2026-10-27")  # fmt: skip
    assert [a["figures"]["budget"] for a in by_rule["Budget at risk"]] == ["All USD spend 2026"]
    assert "6 alerts hold: 6 messages would be sent (dry run), 0 sent before." in err


# A budget's dimension -> the column of classified_costs that holds it.
_COLUMN = {"team": "x_Team", "ai_class": "x_AiClass", "provider": "ProviderName"}


def _direct_daily(con, budget: Budget) -> list[tuple[date, Decimal]]:
    """The budget's scope summed from the cost lines themselves, not the rollups."""
    tests, params = ["BillingCurrency = $cur"], {"cur": budget.currency}
    for n, (dimension, value) in enumerate(budget.where):
        tests.append(f"{_COLUMN[dimension]} = $v{n}")
        params[f"v{n}"] = value
    rows = con.execute(
        f"""SELECT CAST(ChargePeriodStart AS DATE) AS day, sum({DEFAULT.column})
            FROM classified_costs WHERE {" AND ".join(tests)} GROUP BY 1""",
        params,
    ).fetchall()
    return [(d, Decimal(c)) for d, c in rows]


def test_budget_forecasts_equal_direct_computations(request) -> None:
    warehouse, _ = sample_or_skip(request)
    settings, _ = load_settings(str(demo_config(warehouse)))
    budgets = settings.budgets.budgets(settings.report.currency)
    con = sample_app(warehouse).connect()
    shown = {s.budget.name: s for s in queries_budgets.statuses(con, tuple(budgets), DEFAULT)}
    as_of = queries_budgets.last_day(con)
    assert as_of == date(2026, 10, 31)
    for b in budgets:
        direct = assess(b, _direct_daily(con, b), as_of)
        s = shown[b.name]
        assert (s.actual, s.forecast, s.forecast_low, s.forecast_high, s.breach) == (
            direct.actual, direct.forecast, direct.forecast_low, direct.forecast_high,
            direct.breach,
        ), b.name  # fmt: skip
    assert shown["Research team"].actual.quantize(Decimal("0.01")) == Decimal("115182.36")
    assert shown["Research team"].breach == date(2026, 10, 27)
    assert shown["All USD spend 2026"].breach == date(2026, 12, 22)


def test_a_budget_in_another_currency_than_its_spend_is_refused(
    request, tmp_path: Path, capsys
) -> None:
    warehouse, _ = sample_or_skip(request)
    config = tmp_path / "finops.toml"
    config.write_text(
        '[[budgets.budget]]\nname = "Research in euros"\namount = "90000"\ncurrency = "EUR"\n'
        'team = "research"\n\n[[alerts.rule]]\nname = "over"\ntype = "budget_breached"\n\n'
        '[[alerts.channel]]\nname = "terminal"\ntype = "stdout"\n',
        encoding="utf-8",
    )
    code = main(["--warehouse", str(warehouse), "--config", str(config), "watch", "--dry-run"])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    assert out.err.strip() == (
        "Configuration error: budget 'Research in euros' is in EUR, but the spend it covers "
        "(team research) is billed in USD; money is never converted, so it would always read "
        "as unspent — expected currency = 'USD' (or one budget per currency), found EUR"
    )
