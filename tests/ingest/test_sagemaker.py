"""`finops ingest serving sagemaker`: SageMaker endpoints' Invocations through moto's
CloudWatch (PutMetricData, then GetMetricData through the real client) -> serving_usage, and
their cost per 1k requests from the cost lines of each endpoint's ARN; bad input gets one
message and stores nothing."""

from __future__ import annotations

import json
import shutil
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import NamedTuple

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from tests.fixtures.sagemaker import (
    COST,
    END,
    REGION,
    REQUESTS,
    START,
    T0,
    aws_credentials,
    invocations,
    load,
    put,
    reset,
)
from tests.servers import moto


@pytest.fixture(scope="module")
def endpoint():
    """One moto server: the endpoints' Invocations in us-east-1; eu-central-1 holds other
    SageMaker metrics only, ap-south-1 a negative Sum, eu-north-1 another ranker-prod,
    eu-west-1 nothing."""
    with aws_credentials(), moto.serve() as url:
        reset(url)
        put(url, invocations())
        put(url, [("ranker-prod", "AllTraffic", T0, 3.5)], "eu-central-1", "ModelLatency")
        put(url, [("broken", "AllTraffic", T0, -4.0)], "ap-south-1")
        put(url, [("ranker-prod", "AllTraffic", T0, 9.0)], "eu-north-1")
        yield url


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "finops.toml"
    path.write_text(f'[sources.aws]\nendpoint_url = "{url}"\n{extra}', encoding="utf-8")
    return path


def ingest(root: Path, conf: Path, *args: str) -> int:
    return main(["--warehouse", str(root), "--config", str(conf), "ingest", "serving",
                 "sagemaker", *args])  # fmt: skip


WINDOW = ("--start", START, "--end", END)


@pytest.fixture(scope="module")
def loaded(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The endpoints' bills (CUR 2.0) and their four hours of Invocations, to copy per test."""
    tmp = tmp_path_factory.mktemp("sagemaker")
    return load(tmp / "warehouse", tmp, endpoint)


def requests(root: Path) -> dict[tuple[str, str], float]:
    rows = (
        connect(root)
        .sql(
            """SELECT host, strftime(hour, '%Y-%m') AS month, sum(requests) FROM serving_usage
        WHERE server = 'sagemaker' GROUP BY ALL"""
        )
        .fetchall()
    )
    return {(h, m): r for h, m, r in rows}


def test_requests_per_endpoint_and_month_are_the_hourly_sums(loaded: Path) -> None:
    assert requests(loaded) == REQUESTS
    rows = (
        connect(loaded)
        .sql(
            """SELECT hour, host, namespace, pod, model, requests, prompt_tokens, generation_tokens,
        source FROM serving_usage WHERE host = 'ranker-prod' ORDER BY hour, pod"""
        )
        .pl()
    )
    assert rows.height == 8  # 4 hours x 2 variants
    assert rows["pod"].to_list()[:2] == ["AllTraffic", "Canary"]
    assert rows["requests"].to_list()[:2] == [600.0, 30.0]
    assert set(rows["namespace"]) == {REGION} and set(rows["source"]) == {"cloudwatch"}
    assert set(rows["model"]) == {"ranker-prod"}  # no catalogue entry: the endpoint's name
    # tokens are unknown for SageMaker, not zero
    assert rows["prompt_tokens"].null_count() == rows["generation_tokens"].null_count() == 8


def test_five_minute_sums_give_the_same_hours(endpoint: str, tmp_path: Path, capsys) -> None:
    root = tmp_path / "warehouse"
    conf = config(tmp_path, endpoint)
    assert ingest(root, conf, "--region", REGION, "--period", "300", *WINDOW) == 0
    assert requests(root) == REQUESTS
    out = capsys.readouterr().out
    assert "Endpoints (hosts) in us-east-1: Chat-Bot, ranker-prod, scorer-dev." in out
    assert "tokens are unknown for these endpoints" in out
    # the same range again replaces, never adds
    assert ingest(root, conf, "--region", REGION, *WINDOW) == 0
    assert requests(root) == REQUESTS


def test_one_endpoint_only(endpoint: str, tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    conf = config(tmp_path, endpoint, f'region = "{REGION}"\n')  # region from finops.toml
    assert ingest(root, conf, "--endpoint", "Chat-Bot", *WINDOW) == 0
    assert requests(root) == {("Chat-Bot", "2026-10"): 15.0}


def test_an_endpoint_of_the_same_name_in_another_region_is_another_endpoint(
    endpoint: str, loaded: Path, tmp_path: Path
) -> None:
    root = tmp_path / "warehouse"
    shutil.copytree(loaded, root)
    assert ingest(root, config(tmp_path, endpoint), "--region", "eu-north-1", *WINDOW) == 0
    rows = (
        connect(root)
        .sql(
            """SELECT namespace, sum(requests) FROM serving_usage WHERE host = 'ranker-prod'
        AND hour < '2026-11-01' GROUP BY ALL"""
        )
        .fetchall()
    )
    # loading eu-north-1 replaced nothing of us-east-1's
    assert dict(rows) == {REGION: REQUESTS[("ranker-prod", "2026-10")], "eu-north-1": 9.0}


def test_one_variant_named_is_read_without_a_listing(endpoint: str, tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    conf = config(tmp_path, endpoint)
    args = ("--endpoint", "ranker-prod/Canary", "--endpoint", "scorer-dev")
    assert ingest(root, conf, "--region", REGION, *args, *WINDOW) == 0
    got = (
        connect(root)
        .sql("SELECT host, pod, sum(requests) FROM serving_usage GROUP BY ALL ORDER BY host")
        .fetchall()
    )
    assert got == [("ranker-prod", "Canary", 4 * 30.0), ("scorer-dev", "AllTraffic", 42.0)]


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def unit_costs(root: Path, capsys) -> dict[tuple, dict]:
    capsys.readouterr()
    assert main(["--warehouse", str(root), "unit-costs", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out, parse_float=Decimal)
    return {(r["model"], r["where_served"].split("(")[1].split(";")[0], r["month"]): r
            for r in rows}  # fmt: skip


def test_cost_per_1k_requests_from_the_endpoints_cost_lines(loaded: Path, capsys) -> None:
    got = unit_costs(loaded, capsys)
    assert all(r["kind"] == "sagemaker_endpoint" for r in got.values())  # none self-hosted
    for key in (("ranker-prod", REGION, "2026-10"), ("ranker-prod", REGION, "2026-11"),
                ("Chat-Bot", REGION, "2026-10")):  # fmt: skip
        name, _, month = key
        r = got[key]
        assert Decimal(r["cost"]) == COST[key]
        assert r["requests"] == REQUESTS[(name, month)]
        by_hand = COST[key] * 1000 / REQUESTS[(name, month)]
        assert cents(Decimal(r["cost_per_1k_requests"])) == cents(by_hand)
        assert r["currency"] == "USD" and r["cost_basis"] == "EffectiveCost"
        assert r["idle_cost"] is None  # not known for SageMaker
        assert r["cost_per_1m_tokens"] is None  # no tokens counted
    # by hand: 3.0423 / 1261 requests, 3.03 / 1265, and the lower-case ARN's 2.03 / 15
    assert cents(Decimal(got[("ranker-prod", REGION, "2026-10")]["cost_per_1k_requests"])) \
        == Decimal("2.41")  # fmt: skip
    assert cents(Decimal(got[("ranker-prod", REGION, "2026-11")]["cost_per_1k_requests"])) \
        == Decimal("2.40")  # fmt: skip
    assert cents(Decimal(got[("Chat-Bot", REGION, "2026-10")]["cost_per_1k_requests"])) \
        == Decimal("135.33")  # fmt: skip


def test_an_endpoint_missing_one_side_is_shown_not_dropped(loaded: Path, capsys) -> None:
    got = unit_costs(loaded, capsys)
    invoked_only = got[("scorer-dev", REGION, "2026-11")]
    assert invoked_only["requests"] == 42 and invoked_only["cost"] is None
    assert invoked_only["currency"] is None and invoked_only["cost_per_1k_requests"] is None
    assert "no cost lines" in invoked_only["where_served"]
    for key in (("idle-endpoint", REGION, "2026-11"), ("ranker-prod", "us-west-2", "2026-10")):
        billed_only = got[key]
        assert Decimal(billed_only["cost"]) == COST[key]
        assert billed_only["requests"] is None and billed_only["cost_per_1k_requests"] is None
        assert "no invocations read" in billed_only["where_served"]
    assert len(got) == 6
    # the table says the same in words
    assert main(["--warehouse", str(loaded), "unit-costs"]) == 0
    out = capsys.readouterr().out
    assert "SageMaker endpoint ranker-prod" in out and "USD 2.4126" in out
    assert "idle share not known for SageMaker endpoints" in out


class Bad(NamedTuple):
    args: tuple[str, ...]
    says: tuple[str, ...]
    region_in_config: bool = False


BAD = {
    "region missing": Bad(
        WINDOW, ("no AWS region to read SageMaker metrics from", "--region REGION",
                 "[sources.aws]")),
    "region that is no region": Bad(
        ("--region", "us-east-1.evil.example", *WINDOW),
        ("--region is not an AWS region", "found 'us-east-1.evil.example'")),
    "no SageMaker metrics in the region": Bad(
        ("--region", "eu-west-1", *WINDOW),
        ("no SageMaker endpoint Invocations in region eu-west-1",
         "found no metrics at all in namespace AWS/SageMaker", "check --region")),
    "other SageMaker metrics only": Bad(
        ("--region", "eu-central-1", *WINDOW),
        ("no SageMaker endpoint Invocations in region eu-central-1",
         "found SageMaker metrics ModelLatency, but no Invocations")),
    "unknown endpoint": Bad(
        ("--region", REGION, "--endpoint", "ranker-prd", *WINDOW),
        ("no SageMaker endpoint 'ranker-prd' with Invocations (did you mean \"ranker-prod\"?)",
         "expected one of Chat-Bot, ranker-prod, scorer-dev")),
    "no datapoints in the range": Bad(
        ("--region", REGION, "--start", "2026-09-01T00:00Z", "--end", "2026-09-02T00:00Z"),
        ("no SageMaker Invocations datapoints in the time range",
         "2026-09-01T00:00Z .. 2026-09-02T00:00Z", "Chat-Bot, ranker-prod, scorer-dev",
         "hourly points 455 days")),
    "a variant that has no datapoints": Bad(
        ("--region", "eu-west-1", "--endpoint", "gone-endpoint/AllTraffic", *WINDOW),
        ("no SageMaker Invocations datapoints in the time range",
         "expected Sums of Invocations of endpoint(s) gone-endpoint")),
    "a variant without its name": Bad(
        ("--region", REGION, "--endpoint", "ranker-prod/", *WINDOW),
        ("--endpoint NAME/VARIANT needs both parts", "found 'ranker-prod/'")),
    "a period CloudWatch does not offer": Bad(
        ("--region", REGION, "--period", "90", *WINDOW),
        ("--period is not a CloudWatch period", "found 90")),
    "a period that does not divide an hour": Bad(
        ("--region", REGION, "--period", "7200", *WINDOW),
        ("--period does not divide an hour into whole minutes", "found 7200")),
    "a sub-minute period": Bad(
        ("--region", REGION, "--period", "10", *WINDOW),
        ("--period does not divide an hour", "one-minute metric", "found 10")),
    "a start off the hour": Bad(
        ("--region", REGION, "--start", "2026-10-31T22:30:00Z", "--end", END),
        ("--start is not on the hour", "found 2026-10-31T22:30:00Z",
         "a partial hour would replace")),
    "a negative Sum": Bad(
        ("--region", "ap-south-1", *WINDOW),
        ("1 Invocations value(s) that are not a count of requests",
         "endpoint broken, variant AllTraffic, 2026-10-31T22:00Z", "found -4.0")),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gives_one_message_and_stores_nothing(
    name: str, endpoint: str, loaded: Path, tmp_path: Path, capsys
) -> None:
    case = BAD[name]
    root = tmp_path / "warehouse"
    shutil.copytree(loaded, root)
    before, kept = versions(root), requests(root)
    capsys.readouterr()
    code = ingest(root, config(tmp_path, endpoint), *case.args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err  # one message
    for part in case.says:
        assert part in err, (part, err)
    assert {**versions(root), "load_errors": None} == {**before, "load_errors": None}
    assert requests(root) == kept
