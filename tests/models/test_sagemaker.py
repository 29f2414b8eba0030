"""SageMaker endpoints in the pure core: Invocations' Sums -> hourly serving usage named by the
model catalogue; the endpoint's cost lines matched by region and name whatever the case."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from models.errors import ConfigError
from models.model_catalogue import default_catalogue, parse_catalogue
from models.sagemaker import ENDPOINT_COSTS_SQL, POINTS, endpoint_usage, usage
from models.serving import SERVING_USAGE
from models.unit_costs import API_USAGE_PARTS

T = datetime(2026, 10, 31, 22, tzinfo=UTC)
CATALOGUE = parse_catalogue(
    {"endpoints": [{"endpoint": "Ranker-Prod", "model": "ranker-v3"}]},
    default_catalogue().prices,
)


def test_the_catalogue_names_an_endpoints_model_whatever_the_case() -> None:
    assert CATALOGUE.endpoint_model("ranker-prod") == "ranker-v3"
    assert CATALOGUE.endpoint_model("RANKER-PROD") == "ranker-v3"
    assert CATALOGUE.endpoint_model("scorer") == "scorer"  # unmapped: its own name
    with pytest.raises(ConfigError, match="endpoints"):
        parse_catalogue({"endpoints": [{"endpoint": "x"}]}, {})  # no model


def test_periods_add_up_to_hours_per_variant_with_tokens_unknown() -> None:
    points = pl.DataFrame(
        [("ranker-prod", "AllTraffic", T.replace(minute=m), v)
         for m, v in ((0, 5.0), (5, 7.0), (55, 1.0))]
        + [("ranker-prod", "AllTraffic", T.replace(hour=23), 2.0),
           ("ranker-prod", "Canary", T, 3.0)],
        schema=POINTS, orient="row",
    )  # fmt: skip
    rows = usage(points, "us-east-1", CATALOGUE, "test")
    got = {(r["hour"].hour, r["pod"]): r["requests"] for r in rows.iter_rows(named=True)}
    assert got == {(22, "AllTraffic"): 13.0, (22, "Canary"): 3.0, (23, "AllTraffic"): 2.0}
    assert set(rows["model"]) == {"ranker-v3"} and set(rows["host"]) == {"ranker-prod"}
    assert rows["prompt_tokens"].null_count() == rows.height  # unknown, not zero
    assert set(rows.columns) == set(SERVING_USAGE.names) - {"source", "x_LoadId"}


def _line(resource: str, cost: str, month: int = 10, cur: str = "USD") -> dict:
    return {"ResourceId": resource, "EffectiveCost": Decimal(cost), "BillingCurrency": cur,
            "BillingPeriodStart": datetime(2026, month, 1, tzinfo=UTC)}  # fmt: skip


def _served(host: str, requests: float, region: str = "us-east-1") -> dict:
    return {"hour": T, "host": host, "namespace": region, "pod": "AllTraffic",
            "server": "sagemaker", "model": host, "requests": requests, "resets": 0,
            "source": "cloudwatch", "x_LoadId": "l"}  # fmt: skip


def _frame(rows: list[dict], table) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in table.names} for r in rows],
                        schema=table.polars_schema, orient="row")  # fmt: skip


def test_costs_of_the_endpoints_arn_by_region_and_name_whatever_the_case() -> None:
    arn = "arn:aws:sagemaker:{}:123456789012:endpoint/{}"
    lines = [
        _line(arn.format("us-east-1", "ranker-prod"), "1.50"),  # the ARN in lower case
        _line(arn.format("us-east-1", "ranker-prod"), "1.25"),
        _line(arn.format("us-east-1", "ranker-prod"), "0.90", cur="EUR"),  # never added
        _line(arn.format("eu-west-1", "ranker-prod"), "9.00"),  # another endpoint
        _line(arn.format("us-east-1", "ranker-prod") + "x", "5.00"),  # another name
        _line("arn:aws:sagemaker:us-east-1:123456789012:training-job/ranker-prod", "7.00"),
        _line("i-0123", "3.00"),
    ]
    con = duckdb.connect()
    # api_usage_parts' endpoint rows: the hosting lines summed per ARN (here one line a row)
    con.register("api_usage_parts", _frame(lines, API_USAGE_PARTS).to_arrow())
    con.register("serving_usage", _frame([_served("Ranker-Prod", 1100.0)], SERVING_USAGE)
                 .to_arrow())  # fmt: skip
    rows = endpoint_usage(con.sql(ENDPOINT_COSTS_SQL).pl(), CATALOGUE)
    got = {(r["where_served"], r["currency"]): (r["cost"], r["requests"])
           for r in rows.iter_rows(named=True)}  # fmt: skip
    both = "SageMaker endpoint Ranker-Prod (us-east-1; variants AllTraffic)"
    assert got == {
        (both, "USD"): (Decimal("2.75"), 1100.0),
        (both, "EUR"): (Decimal("0.90"), 1100.0),
        ("SageMaker endpoint ranker-prod (eu-west-1; no invocations read)", "USD"):
            (Decimal("9.00"), None),
        ("SageMaker endpoint ranker-prodx (us-east-1; no invocations read)", "USD"):
            (Decimal("5.00"), None),
    }  # fmt: skip
    assert set(rows["model"]) == {"ranker-v3", "ranker-prodx"}
