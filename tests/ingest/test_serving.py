"""`finops ingest serving prometheus`: model-server counters from saved answers and from a
real Prometheus -> serving_usage, reset-aware; bad answers get one message and store nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from tests.fixtures.serving_metrics import (
    EXPECTED,
    RESETS,
    SERIES,
    T0,
    answer,
    openmetrics_text,
    saved_answers,
)
from tests.servers import prometheus as server


def ingest(warehouse: Path, *args: str) -> int:
    return main(["--warehouse", str(warehouse), "ingest", "serving", "prometheus", *args])


def usage(warehouse: Path) -> pl.DataFrame:
    return connect(warehouse).sql("SELECT * FROM serving_usage ORDER BY host, model, hour").pl()


def by_hour(frame: pl.DataFrame) -> dict[tuple, tuple]:
    return {
        (r["hour"].hour, r["host"], r["model"]): (
            r["requests"], r["prompt_tokens"], r["generation_tokens"])
        for r in frame.iter_rows(named=True)
    }  # fmt: skip


def test_saved_answers_give_hourly_usage_with_the_restart_counted_from_zero(
    warehouse: Path, tmp_path: Path, capsys
) -> None:
    assert ingest(warehouse, str(saved_answers(tmp_path / "answers"))) == 0
    out = capsys.readouterr().out
    assert f"{RESETS} counter reset(s) (server restarts) counted from zero" in out
    rows = usage(warehouse)
    assert by_hour(rows) == EXPECTED
    assert set(rows["server"]) == {"vllm", "triton"} and rows["resets"].sum() == RESETS
    assert set(rows["source"]) == {"prometheus"}
    # the same answers again change nothing
    before = rows.drop("x_LoadId")
    assert ingest(warehouse, str(tmp_path / "answers")) == 0
    assert usage(warehouse).drop("x_LoadId").equals(before)


def test_a_nan_point_is_no_sample_not_zero(warehouse: Path, tmp_path: Path) -> None:
    doc = answer(SERIES[4:5])
    doc["data"]["result"][0]["values"][5][1] = "NaN"  # a missed scrape at 01:15
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    assert ingest(warehouse, str(tmp_path / "a.json")) == 0
    assert by_hour(usage(warehouse))[(1, "gpu-b", "ranker-v3")] == (4000.0, None, None)


def _series(metric: dict, values: list) -> dict:
    return {"status": "success", "data": {"resultType": "matrix",
            "result": [{"metric": metric, "values": values}]}}  # fmt: skip


V = {"__name__": "vllm:request_success_total", "instance": "gpu-a:8000", "model_name": "m"}
T = int(T0.timestamp())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": "error", "errorType": "bad_data", "error": "parse error"},
         "Prometheus answered with an error"),
        (_series({**V, "__name__": "node_cpu_seconds_total"}, [[T, "1"]]),
         "not a model-server counter this reader knows"),
        (_series({k: v for k, v in V.items() if k != "model_name"}, [[T, "1"]]),
         "series without a model label"),
        (_series({"__name__": V["__name__"], "model_name": "m"}, [[T, "1"]]),
         "series without a host label"),
        (_series(V, [[T, "5"], [T + 60, "-3"]]), "negative counter value"),
        (_series(V, [[T, "5"], [T - 60, "6"]]), "time does not increase within a series"),
        (_series(V, [[T, "five"]]), "not a number in a series"),
        (_series(V, [[T, "+Inf"]]), "infinite value"),
        ("{not json", "not JSON"),
    ],
)  # fmt: skip
def test_bad_answers_get_one_message_and_store_nothing(
    payload: object, message: str, warehouse: Path, tmp_path: Path, capsys
) -> None:
    assert ingest(warehouse, str(saved_answers(tmp_path / "good"))) == 0
    before = versions(warehouse)["serving_usage"]
    bad = tmp_path / "bad.json"
    bad.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    capsys.readouterr()
    code = ingest(warehouse, str(bad))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "bad.json" in err
    assert versions(warehouse)["serving_usage"] == before
    assert by_hour(usage(warehouse)) == EXPECTED


@pytest.mark.services
@pytest.mark.skipif(not server.available(), reason="prometheus not installed")
def test_a_real_prometheus_gives_the_same_usage_as_the_saved_answers(
    warehouse: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with server.serve(openmetrics_text(), tmp_path_factory.mktemp("prom-serving")) as url:
        end = T0 + timedelta(hours=3)
        code = ingest(warehouse, url, "--start", T0.isoformat(), "--end", end.isoformat(),
                      "--step", "900")  # fmt: skip
    assert code == 0
    rows = usage(warehouse)
    assert by_hour(rows) == EXPECTED
    assert rows["resets"].sum() == RESETS


def test_tgi_counters_give_requests_and_both_token_counts(warehouse: Path, tmp_path: Path) -> None:
    labels = {"instance": "10.0.3.7:80", "kubernetes_node": "aks-gpu-2",
              "kubernetes_pod_name": "tgi-mistral-0", "namespace": "llm",
              "model_id": "mistralai/Mistral-7B-Instruct-v0.3"}  # fmt: skip
    doc = answer(
        [
            ("tgi_request_success", labels, [0, 5, 5, 5] * 3),
            ("tgi_request_input_length_sum", labels, [0, 2000, 2000, 2000] * 3),
            ("tgi_request_generated_tokens_sum", labels, [0, 900, 900, 900] * 3),
        ]
    )
    (tmp_path / "tgi.json").write_text(json.dumps(doc), encoding="utf-8")
    assert ingest(warehouse, str(tmp_path / "tgi.json")) == 0
    rows = usage(warehouse)
    # the values above restart every hour (0, 5, 5, 5 is not a counter): each drop a reset
    first = rows.row(0, named=True)
    assert (first["host"], first["pod"], first["namespace"], first["server"]) == (
        "aks-gpu-2", "tgi-mistral-0", "llm", "tgi")  # fmt: skip
    assert by_hour(rows)[(0, "aks-gpu-2", "mistralai/Mistral-7B-Instruct-v0.3")] == (
        5.0, 2000.0, 900.0)  # fmt: skip
    assert rows["resets"].sum() == 6  # hours 1 and 2 begin with a drop, in each of 3 series
