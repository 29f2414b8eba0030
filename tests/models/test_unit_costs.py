"""Cost per unit served: a host's GPU cost split among the models it served by requests, idle
shown apart, currencies apart; API cost over billed tokens at the unit the line states; the
break-even volume against a sourced API price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from models.errors import ConfigError, InputError
from models.idle import GPU_HOURS
from models.model_catalogue import (
    ApiPrice,
    Catalogue,
    Comparable,
    Meter,
    default_catalogue,
    parse_catalogue,
    parse_prices,
    unit_scale,
)
from models.schema import GPU_UTIL, MONEY
from models.serving import SERVING_USAGE
from models.unit_costs import SELF_HOSTED_SQL, api_usage, unit_costs

H = datetime(2026, 10, 1, tzinfo=UTC)
PRICE = ApiPrice(
    "api.llama", "Llama 8B", "Amazon Bedrock", "us-east-1", "on-demand", "USD",
    Decimal("0.20"), Decimal("0.60"), "https://example.com/pricing", datetime(2026, 1, 1).date(),
    "A",
)  # fmt: skip
CATALOGUE = Catalogue(
    (Meter("Llama 70B (Bedrock)", "Llama3-70B-input", "input_tokens"),
     Meter("Llama 70B (Bedrock)", "Llama3-70B-output", "output_tokens")),
    (Comparable("(?i)llama-8b", "api.llama"),),
    {"api.llama": PRICE},
)  # fmt: skip


def _frame(rows: list[dict], table) -> pl.DataFrame:
    full = [{c: r.get(c) for c in table.names} for r in rows]
    return pl.DataFrame(full, schema=table.polars_schema, orient="row")


def served(hour: int, host: str, model: str, requests: float, prompt=None, gen=None) -> dict:
    return {"hour": H.replace(hour=hour), "host": host, "server": "vllm", "model": model,
            "requests": requests, "prompt_tokens": prompt, "generation_tokens": gen,
            "resets": 0, "source": "prometheus", "x_LoadId": "l"}  # fmt: skip


def gpu_hour(hour: int, host: str | None, cost: str, idle: str = "0", cur: str = "USD",
             resource: str = "r") -> dict:  # fmt: skip
    return {"hour": H.replace(hour=hour), "resource_id": resource, "host": host,
            "gpu_model": "L4", "provider": "AWS", "source": "aws-cur2", "deployment": "cloud",
            "team": "t", "cost": Decimal(cost), "currency": cur, "samples": 1,
            "state": "active", "idle_cost": Decimal(idle), "month": "2026-10"}  # fmt: skip


def self_hosted(usage: list[dict], hours: list[dict], util: list[dict] = ()) -> pl.DataFrame:
    con = duckdb.connect()
    con.register("serving_usage", _frame(usage, SERVING_USAGE).to_arrow())
    con.register("gpu_hours", _frame(hours, GPU_HOURS).to_arrow())
    con.register("gpu_util", _frame(list(util), GPU_UTIL).to_arrow())
    return con.sql(SELF_HOSTED_SQL).pl().sort("model", "currency")


def test_a_host_serving_two_models_splits_each_hour_by_requests_idle_shown_apart() -> None:
    usage = [served(0, "gpu-1", "llama-8b", 300, 60_000, 20_000),
             served(0, "gpu-1", "ranker", 100),
             served(1, "gpu-1", "llama-8b", 0, 0, 0),
             served(1, "gpu-1", "ranker", 0)]  # fmt: skip
    # two GPUs; hour 1 idle: nobody served, so both models carry half of it
    hours = [gpu_hour(0, "gpu-1", "2.00"), gpu_hour(0, "gpu-1", "2.00"),
             gpu_hour(1, "gpu-1", "2.00", idle="2.00"),
             gpu_hour(1, "gpu-1", "2.00", idle="2.00")]  # fmt: skip
    got = {r["model"]: r for r in self_hosted(usage, hours).iter_rows(named=True)}
    assert got["llama-8b"]["cost"] == Decimal("3.00") + Decimal("2.00")  # 3/4 of 4, 1/2 of 4
    assert got["ranker"]["cost"] == Decimal("1.00") + Decimal("2.00")
    assert got["llama-8b"]["idle_cost"] == got["ranker"]["idle_cost"] == Decimal("2.00")
    assert got["llama-8b"]["gpu_hours"] == pytest.approx(2.5)
    table = unit_costs(self_hosted(usage, hours), api_usage(pl.DataFrame(), CATALOGUE), CATALOGUE)
    llama = table.filter(pl.col("model") == "llama-8b").row(0, named=True)
    assert llama["cost_per_1k_requests"] == Decimal("16.666666666667")  # USD 5 / 300 requests
    assert llama["cost_per_1m_tokens"] == Decimal("62.5")  # USD 5 over 80,000 tokens
    assert llama["cost_per_1m_output_tokens"] == Decimal("250")


def test_break_even_is_the_volume_where_the_api_costs_what_the_gpus_cost() -> None:
    usage = [served(0, "gpu-1", "Llama-8B", 10, 3_000_000, 1_000_000)]
    table = unit_costs(
        self_hosted(usage, [gpu_hour(0, "gpu-1", "6.00")]), api_usage(pl.DataFrame(), CATALOGUE),
        CATALOGUE,
    )  # fmt: skip
    row = table.row(0, named=True)
    # the API: 3M x 0.20 + 1M x 0.60 per 1M = USD 1.20 for 4M tokens, so USD 6 buys 20M
    assert row["api_cost"] == Decimal("1.2")
    assert row["break_even_tokens"] == pytest.approx(20_000_000)
    assert row["api_price_source"].startswith("https://example.com/pricing; as of 2026-01-01")


def test_currencies_are_never_added_and_a_host_is_found_by_its_resource() -> None:
    usage = [served(h, "gpu-1", "llama-8b", 10, 100, 100) for h in (0, 1)]
    # gpu_hours knows the host only by its resource id: telemetry ties the two
    hours = [gpu_hour(0, None, "1.00", resource="i-1"),
             gpu_hour(1, None, "3.00", cur="EUR", resource="i-1")]  # fmt: skip
    util = [{"hour": H, "host": "gpu-1", "resource_id": "i-1", "samples": 1,
             "source": "prometheus", "x_LoadId": "l"}]  # fmt: skip
    got = self_hosted(usage, hours, util)
    assert [(r["currency"], r["cost"], r["requests"]) for r in got.iter_rows(named=True)] == [
        ("EUR", Decimal("3.00"), 10.0),
        ("USD", Decimal("1.00"), 10.0),
    ]
    # the price book is in USD: an EUR cost is not compared with it
    table = unit_costs(got, api_usage(pl.DataFrame(), CATALOGUE), CATALOGUE)
    assert table.filter(pl.col("currency") == "EUR")["api_cost"].to_list() == [None]


def _lines(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"x_UsageType": u, "ServiceName": "Amazon Bedrock", "ChargeDescription": "",
          "PricingQuantity": Decimal(q), "PricingUnit": unit, "ConsumedQuantity": Decimal(q),
          "ConsumedUnit": unit, "EffectiveCost": Decimal(c), "BillingCurrency": "USD",
          "BillingPeriodStart": H, "x_SourceFile": "cur.parquet"} for u, q, unit, c in rows],
        schema_overrides={"PricingQuantity": MONEY, "ConsumedQuantity": MONEY,
                          "EffectiveCost": MONEY},
    )  # fmt: skip


def test_api_tokens_are_read_at_the_scale_the_unit_states() -> None:
    lines = _lines([("USE1-Llama3-70B-input-tokens", "1500", "1K tokens", "3.975"),
                    ("USE1-Llama3-70B-output-tokens", "0.4", "1M", "1.40"),
                    ("USE1-Other", "99", "1K tokens", "5")])  # fmt: skip
    got = unit_costs(pl.DataFrame(), api_usage(lines, CATALOGUE), CATALOGUE).row(0, named=True)
    assert (got["input_tokens"], got["output_tokens"]) == (1_500_000, 400_000)
    assert got["cost"] == Decimal("5.375")
    assert got["cost_per_1m_tokens"] == Decimal("2.828947368421")  # USD 5.375 / 1.9M
    assert got["cost_per_1m_output_tokens"] == Decimal("13.4375")  # all of it over 0.4M output


def test_a_token_meter_billed_in_hours_is_refused_with_the_file_named() -> None:
    lines = _lines([("USE1-Llama3-70B-input-tokens", "10", "Hrs", "3.0")])
    with pytest.raises(InputError) as err:
        api_usage(lines, CATALOGUE)
    assert "cur.parquet" in err.value.render() and "'Hrs'" in err.value.render()
    # after a load, in the refresh: the lines are left out and the refusal kept, not raised
    skipped: list[InputError] = []
    assert api_usage(lines, CATALOGUE, skipped).is_empty()
    assert [e.found for e in skipped] == ["'Hrs'"]


@pytest.mark.parametrize(
    ("unit", "counts", "scale"),
    [("1K tokens", "input_tokens", 1000), ("1M Tokens", "tokens", 1_000_000),
     ("1M", "output_tokens", 1_000_000), ("count", "input_tokens", 1),
     ("1000 count", "tokens", 1000), ("1K requests", "requests", 1000)],
)  # fmt: skip
def test_unit_scale(unit, counts, scale) -> None:
    assert unit_scale(unit, counts, "f") == scale


@pytest.mark.parametrize("unit", ["hour", "1K characters", "GB", "", None, "1K requests"])
def test_unit_scale_refuses_what_is_not_tokens(unit) -> None:
    with pytest.raises(InputError, match="unknown unit for input tokens"):
        unit_scale(unit, "input_tokens", "f")


def test_the_shipped_catalogue_and_prices_are_sourced_and_dated() -> None:
    cat = default_catalogue()
    assert cat.prices and all(p.source.startswith("https://") for p in cat.prices.values())
    assert cat.comparable("meta-llama/Llama-3.1-8B-Instruct").input_per_1m == Decimal("0.22")
    assert cat.comparable("ranker-v3") is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"meter": []}, "unknown key 'meter' in [model catalogue] (did you mean \"meters\"?)"),
        ({"meters": [{"model": "m", "pattern": "x", "counts": "tokenz"}]}, "unknown counts"),
        ({"meters": [{"model": "m", "pattern": "(", "counts": "tokens"}]}, "invalid regex"),
        ({"comparables": [{"model": "x", "api": "nope"}]}, "no API price 'nope'"),
    ],
)
def test_catalogue_errors_name_the_problem(doc, message) -> None:
    with pytest.raises(ConfigError) as err:
        parse_catalogue(doc, {"api.llama": PRICE}, "my_catalogue.toml")
    assert message in err.value.render() and "my_catalogue.toml" in err.value.render()


def test_a_price_without_a_source_is_refused() -> None:
    spec = {"model": "m", "provider": "p", "region": "r", "tier": "t", "currency": "USD",
            "input_per_1m": "1", "output_per_1m": "2", "source": " ",
            "as_of": datetime(2026, 1, 1).date(), "confidence": "A"}  # fmt: skip
    with pytest.raises(ConfigError, match="needs its source"):
        parse_prices({"x": spec})
    with pytest.raises(ConfigError, match="not a price"):
        parse_prices({"x": {**spec, "source": "s", "input_per_1m": "-1"}})
