"""The Unit costs page with SageMaker endpoints (AppTest): each endpoint beside the other
models, labelled "SageMaker endpoint", its cost per 1k requests the one `finops unit-costs`
gives; an endpoint invoked with no cost lines, or billed with no invocations read, is said
in words, not dropped."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from tests.fixtures.app_pages import app, no_errors, page
from tests.fixtures.sagemaker import aws_credentials, load
from tests.fixtures.warehouse_state import serve
from tests.servers import moto


@pytest.fixture(scope="module")
def endpoints_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.sagemaker import invocations, put, reset

    tmp = tmp_path_factory.mktemp("sagemaker-page")
    with aws_credentials(), moto.serve() as url:
        reset(url)
        put(url, invocations())
        return load(tmp / "warehouse", tmp, url)


def test_the_page_shows_each_endpoint_as_the_cli_does(
    endpoints_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    serve(monkeypatch, endpoints_warehouse)
    capsys.readouterr()
    assert main(["--warehouse", str(endpoints_warehouse), "unit-costs", "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out, parse_float=Decimal)
    at = page(app(), "unit_costs")
    no_errors(at)
    said = " ".join(m.value for m in at.markdown)
    # November (the latest month): ranker-prod USD 3.03 over 1,265 requests
    assert "SageMaker endpoints answered 1,265 requests at USD 2.40 per 1k requests" in said
    (table,) = [d.value for d in at.dataframe if "served_by" in d.value.columns][:1]
    ranker = table[table["model"] == "ranker-prod"].iloc[0]
    assert ranker["served_by"] == "SageMaker ranker-prod"  # fits its column at 1440 px
    assert ranker["served_in_full"] == (
        "SageMaker endpoint ranker-prod (us-east-1; variants AllTraffic, Canary)"
    )
    by_cli = next(r for r in cli if r["model"] == "ranker-prod" and r["month"] == "2026-11")
    assert Decimal(str(ranker["per_1k_requests"])) == by_cli["cost_per_1k_requests"].quantize(
        Decimal("0.0001")
    )
    idle = table[table["model"] == "idle-endpoint"].iloc[0]
    assert idle["served_by"] == "SageMaker idle-endpoint"
    assert idle["served_in_full"] == (
        "SageMaker endpoint idle-endpoint (us-east-1; no invocations read)"
    )
    captions = " ".join(c.value for c in at.caption)
    assert "idle share not known for SageMaker endpoints" in captions
    assert "Invoked with no cost lines this month: scorer-dev (42 requests)" in captions
    assert "Billed with no invocations read: idle-endpoint (USD 2.40)" in captions
