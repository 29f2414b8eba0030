"""Every rollup the ingest keeps equals a direct query over the sample's classified lines, to
the cent, per currency and per cost basis (amortised and billed)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.derive.rollups import GB, PROVIDER, UNSET
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from models.settings import Settings

pytestmark = pytest.mark.slow

LINES = f"(SELECT *, {PROVIDER} AS provider FROM classified_costs)"


@pytest.fixture(scope="module")
def con(sample_warehouse: Path) -> duckdb.DuckDBPyConnection:
    views.register_all(Settings())
    return warehouse.connect(sample_warehouse)


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple, tuple]:
    """{group key: figures} of `sql`, whose last three columns are the figures."""
    return {r[:-3]: r[-3:] for r in con.execute(sql).fetchall()}


def same(con: duckdb.DuckDBPyConnection, rollup: str, direct: str) -> int:
    got, want = rows(con, rollup), rows(con, direct)
    assert got == want
    return len(want)


def test_the_sample_is_what_the_demo_loads(con) -> None:
    totals = dict(
        con.execute(
            "SELECT currency, round(sum(amortised), 2) FROM spend_daily GROUP BY 1"
        ).fetchall()
    )
    assert totals == {"USD": Decimal("3357046.40"), "EUR": Decimal("15359.45")}
    assert con.execute("SELECT sum(lines) FROM spend_daily").fetchall() == [(125_021,)]


def test_spend_daily_by_day_provider_team_and_class(con) -> None:
    n = same(
        con,
        """SELECT day, provider, team, ai_class, currency, sum(amortised), sum(billed),
                  sum(lines) FROM spend_daily GROUP BY ALL""",
        f"""SELECT CAST(ChargePeriodStart AS DATE), provider, coalesce(x_Team, '{UNSET}'),
                   coalesce(x_AiClass, '{UNSET}'), BillingCurrency, sum(EffectiveCost),
                   sum(BilledCost), count(*) FROM {LINES} GROUP BY ALL""",
    )
    assert n > 1000


def test_spend_daily_other_dimensions_and_largest_line(con) -> None:
    same(
        con,
        """SELECT service, project, env, region, workload, account, tagged, currency,
                  sum(amortised), sum(billed), max(max_cost) FROM spend_daily GROUP BY ALL""",
        f"""SELECT ServiceName, coalesce(x_Project, '{UNSET}'), coalesce(x_Environment, '{UNSET}'),
                   coalesce(RegionId, '{UNSET}'), coalesce(x_Workload, '{UNSET}'),
                   coalesce(SubAccountName, SubAccountId, BillingAccountId),
                   coalesce(json_extract_string(Tags, '$.team'), '') <> '',
                   BillingCurrency, sum(EffectiveCost), sum(BilledCost), max(EffectiveCost)
            FROM {LINES} GROUP BY ALL""",
    )


def test_egress_gigabytes_and_cost(con) -> None:
    n = same(
        con,
        """SELECT kind, region_pair, currency, sum(amortised), sum(billed), round(sum(gb), 6)
           FROM egress_daily GROUP BY ALL""",
        f"""SELECT coalesce(x_EgressKind, '{UNSET}'),
                   coalesce(nullif(regexp_extract(x_UsageType, '^([A-Z]+[0-9]?)-([A-Z]+[0-9]?)-AWS',
                                                  ['a', 'b']).a, '') || ' → ' ||
                            regexp_extract(x_UsageType, '^([A-Z]+[0-9]?)-([A-Z]+[0-9]?)-AWS',
                                           ['a', 'b']).b,
                            coalesce(RegionId, '?') || ' → ' || coalesce(x_EgressKind, '?')),
                   BillingCurrency, sum(EffectiveCost), sum(BilledCost), round(sum({GB}), 6)
            FROM {LINES} WHERE x_AiClass = 'egress' GROUP BY ALL""",
    )
    assert n >= 3
    same(
        con,
        "SELECT currency, sum(gb_amortised), sum(gb_billed), count(*) > 0 FROM egress_daily "
        "GROUP BY ALL",
        f"""SELECT BillingCurrency, sum(EffectiveCost) FILTER (WHERE {GB} IS NOT NULL),
                   sum(BilledCost) FILTER (WHERE {GB} IS NOT NULL), true
            FROM {LINES} WHERE x_AiClass = 'egress' GROUP BY ALL""",
    )


def test_tools_by_month(con) -> None:
    n = same(
        con,
        """SELECT month, tool, family, currency, sum(amortised), sum(billed), sum(seats)
           FROM tools_monthly GROUP BY ALL""",
        f"""SELECT CAST(date_trunc('month', ChargePeriodStart) AS DATE),
                   coalesce(ServiceName, ProviderName), coalesce(x_ToolFamily, '{UNSET}'),
                   BillingCurrency, sum(EffectiveCost), sum(BilledCost), sum(x_Seats)
            FROM {LINES}
            WHERE x_AiClass = 'saas_tool' OR x_ToolFamily IS NOT NULL OR x_Source = 'saas'
            GROUP BY ALL""",
    )
    assert n > 5


def test_tag_daily_by_key_and_value(con) -> None:
    n = same(
        con,
        """SELECT tag_key, tag_value, currency, sum(amortised), sum(billed), sum(lines)
           FROM tag_daily GROUP BY ALL""",
        f"""SELECT k, json_extract_string(Tags, '$."' || replace(k, '"', '') || '"'),
                   BillingCurrency, sum(EffectiveCost), sum(BilledCost), count(*)
            FROM {LINES}, unnest(list_distinct(json_keys(Tags))) AS t(k)
            WHERE Tags IS NOT NULL GROUP BY ALL""",
    )
    assert n > 10


def test_billed_periods(con) -> None:
    n = same(
        con,
        "SELECT source, billing_account, period, sum(billed), max(data_until), count(*) "
        "FROM billed_periods GROUP BY ALL",
        """SELECT x_Source, BillingAccountId, strftime(BillingPeriodStart, '%Y-%m'),
                  sum(BilledCost), max(ChargePeriodEnd), 1 FROM cost_lines GROUP BY ALL""",
    )
    assert n > 10


def test_commitment_months(con) -> None:
    from models.commitments import LINES_SQL

    n = same(
        con,
        """SELECT BillingPeriodStart, CommitmentDiscountId, CommitmentDiscountStatus,
                  ChargeCategory, x_InstanceType, x_AiClass, BillingCurrency, sum(BilledCost),
                  sum(EffectiveCost), sum(ListCost) FROM commitment_months GROUP BY ALL""",
        f"""SELECT BillingPeriodStart, CommitmentDiscountId, CommitmentDiscountStatus,
                   ChargeCategory, x_InstanceType, x_AiClass, BillingCurrency, sum(BilledCost),
                   sum(EffectiveCost), sum(ListCost) FROM {LINES}
            WHERE {LINES_SQL} GROUP BY ALL""",
    )
    assert n > 10
    counted = "SELECT sum(lines) FROM commitment_months"
    direct = f"SELECT count(*) FROM cost_lines WHERE {LINES_SQL}"
    assert con.execute(counted).fetchall() == con.execute(direct).fetchall()
    committed = con.execute(
        "SELECT count(DISTINCT CommitmentDiscountId) FROM commitment_months"
    ).fetchall()[0][0]
    assert committed >= 3


def test_top_lines_are_the_costliest_lines(sample_warehouse: Path, monkeypatch) -> None:
    from models import rollups

    monkeypatch.setattr(rollups, "TOP_LINES", 2_000)  # the reader's view keeps this many
    views.register_all(Settings())
    con = warehouse.connect(sample_warehouse)
    cols = "x_LineId, EffectiveCost, BilledCost, BillingCurrency, x_Team, x_AiClass, provider"
    got = con.execute(f"SELECT {cols} FROM top_lines").fetchall()
    want = con.execute(
        f"SELECT {cols} FROM {LINES} ORDER BY EffectiveCost DESC NULLS LAST, x_LineId LIMIT 2000"
    ).fetchall()
    assert got == want and len(got) == 2_000
