"""DCGM telemetry through a real Prometheus: backfilled series -> hourly GPU rows."""

from __future__ import annotations

import gzip
import json
import math
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.sources import prometheus as prom
from ingest.warehouse.connection import connect, versions
from models.errors import InputError
from tests.fixtures.prometheus_metrics import (
    GPUS,
    HOURS,
    T0,
    check_matches_expected,
    gpu_rows,
    labels,
    openmetrics_text,
    samples,
)
from tests.servers import prometheus as server

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not server.available(), reason="prometheus not installed"),
]


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory):
    with server.serve(openmetrics_text(), tmp_path_factory.mktemp("prom")) as url:
        yield url


def run(*args: str) -> int:
    return main(list(args))


def test_prometheus_hourly_rows_match_the_series_hourly_means(
    prometheus_url: str, warehouse: Path, tmp_path: Path
) -> None:
    host_map = tmp_path / "host_map.csv"
    host_map.write_text("host,resource_id\nnode-a,i-0a0a0a0a\n", encoding="utf-8")
    code = run(
        "--warehouse", str(warehouse), "ingest", "telemetry", "prometheus", prometheus_url,
        "--start", "2026-10-05T00:00:00Z", "--end", "2026-10-05T04:00:00Z",
        "--host-map", str(host_map),
    )  # fmt: skip
    assert code == 0
    rows = gpu_rows(warehouse)
    check_matches_expected(rows)
    metric = dict(zip(rows["gpu_uuid"], rows["active_metric"], strict=True))
    assert metric == {"GPU-a0": "gr_engine_active", "GPU-a1": "gr_engine_active",
                      "GPU-b0": "gpu_util"}  # fmt: skip
    b0 = rows.filter(pl.col("gpu_uuid") == "GPU-b0").row(0, named=True)
    assert (b0["resource_id"], b0["pod"], b0["namespace"], b0["gpu_model"]) == (
        "i-0b0b0b0b", "infer-7", "serving", "NVIDIA L4",
    )  # fmt: skip
    assert set(rows.filter(pl.col("host") == "node-a")["resource_id"]) == {"i-0a0a0a0a"}
    assert set(rows["source"]) == {"prometheus"}


def test_paged_and_retried_queries_give_the_same_rows(prometheus_url: str) -> None:
    start, end = T0, T0 + timedelta(hours=HOURS)
    whole = prom.fetch_hourly(prom.Client(prometheus_url), start, end).sort("gpu_uuid", "hour")
    with server.flaky_proxy(prometheus_url, failures=2) as (url, answered):
        client = prom.Client(url, max_points=3, sleep=lambda s: None)  # 2 hours a page
        paged = prom.fetch_hourly(client, start, end).sort("gpu_uuid", "hour")
    assert answered[:3] == [503, 503, 200]
    queries = len(prom.QUERY_SETS["dcgm"])
    assert answered.count(200) == queries * 2  # 4 hours in pages of 2
    assert paged.equals(whole)
    assert client.pages(start, end) == [
        (T0.timestamp() + 3599.999, T0.timestamp() + 3599.999 + 3600),
        (T0.timestamp() + 3 * 3600 - 0.001, T0.timestamp() + 4 * 3600 - 0.001),
    ]
    assert prom.Client("x").pages(start, start + timedelta(days=1000)).__len__() == 3


def test_an_error_answer_is_one_clear_message(prometheus_url: str) -> None:
    with pytest.raises(InputError) as err:
        prom.Client(prometheus_url).query_range("avg_over_time(", 0, 10, 3600)
    text = str(err.value)
    assert "Prometheus answered with an error" in text and "bad_data" in text


def saved_answers(folder: Path, nan_hour: int | None = None) -> None:
    """Saved query_range answers of plain selectors, as a collector would keep them."""
    names = {"gr": "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "util": "DCGM_FI_DEV_GPU_UTIL",
             "fb": "DCGM_FI_DEV_FB_USED", "power": "DCGM_FI_DEV_POWER_USAGE"}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    all_samples = samples()
    for key, name in names.items():
        result = []
        for _, uuid, *_ in GPUS:
            mine = [s for s in all_samples if s["uuid"] == uuid and s[key] is not None]
            if not mine:
                continue
            values = [[s["t"], repr(s[key])] for s in mine]
            if nan_hour is not None:  # a NaN point is "no data", never a zero
                values.append([(T0 + timedelta(hours=nan_hour, seconds=30)).timestamp(), "NaN"])
            result.append({"metric": {"__name__": name, **labels(mine[0])}, "values": values})
        payload = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        text = json.dumps(payload)
        if key == "fb":  # collectors often keep answers gzip-compressed
            (folder / f"{name}.json.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / f"{name}.json").write_text(text, encoding="utf-8")


def test_saved_answers_give_the_same_rows_and_skip_nan(warehouse: Path, tmp_path: Path) -> None:
    saved_answers(tmp_path / "prom", nan_hour=1)
    code = run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               str(tmp_path / "prom"))  # fmt: skip
    assert code == 0
    rows = gpu_rows(warehouse)
    check_matches_expected(rows, energy=False)
    assert rows["energy_kwh"].null_count() == rows.height
    assert not any(math.isnan(v) for v in rows["avg_active"])


def test_reingest_is_idempotent_and_leaves_other_hosts_alone(
    warehouse: Path, tmp_path: Path
) -> None:
    saved_answers(tmp_path / "all")
    assert run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               str(tmp_path / "all")) == 0  # fmt: skip
    first = gpu_rows(warehouse).drop("x_LoadId")
    # node-b alone again, with one hour less: only node-b's hours in that range are replaced
    only_b = tmp_path / "b" / "b.json"
    only_b.parent.mkdir()
    payload = json.loads((tmp_path / "all" / "DCGM_FI_DEV_GPU_UTIL.json").read_text())
    payload["data"]["result"] = [
        {**r, "values": [v for v in r["values"] if v[0] < (T0 + timedelta(hours=3)).timestamp()]}
        for r in payload["data"]["result"]
        if r["metric"]["Hostname"] == "node-b"
    ]
    only_b.write_text(json.dumps(payload), encoding="utf-8")
    assert run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               str(only_b)) == 0  # fmt: skip
    after = gpu_rows(warehouse).drop("x_LoadId")
    assert after.filter(pl.col("host") == "node-a").equals(first.filter(pl.col("host") == "node-a"))
    b = after.filter(pl.col("host") == "node-b")
    assert b.height == 4  # hours 0-2 replaced, hour 3 outside the load's range kept
    assert b["max_mem_used_mib"].null_count() == 3  # the new load carried only utilisation
    assert run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               str(tmp_path / "all")) == 0  # fmt: skip
    assert gpu_rows(warehouse).drop("x_LoadId").equals(first)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": "error", "errorType": "bad_data", "error": "invalid parameter 'query'"},
         "Prometheus answered with an error"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}},
         "not a range query answer"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "Hostname": "h", "gpu": "0"},
             "values": [[1759622400, "130"]]}]}}, "activity outside 0-100%"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "Hostname": "h", "gpu": "0"},
             "values": [[1759622400, "13"], [1759622400, "14"]]}]}}, "duplicate samples"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0"},
             "values": [[1759622400, "13"]]}]}}, "without a Hostname"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "node_cpu_seconds_total", "Hostname": "h"},
             "values": [[1759622400, "13"]]}]}}, "not a DCGM metric"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "Hostname": "h", "gpu": "0"},
             "values": [[1759622400, "+Inf"]]}]}}, "not a finite number"),
        ("[1, 2", "not JSON"),
    ],
)  # fmt: skip
def test_bad_saved_answers_store_nothing(
    payload: object, message: str, warehouse: Path, tmp_path: Path, capsys
) -> None:
    saved_answers(tmp_path / "good")
    assert run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               str(tmp_path / "good")) == 0  # fmt: skip
    before = versions(warehouse)
    bad = tmp_path / "bad.json"
    bad.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    capsys.readouterr()
    code = run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus", str(bad))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "bad.json" in err
    assert versions(warehouse)["gpu_util"] == before["gpu_util"]
    assert connect(warehouse).execute("select count(*) from load_errors").fetchone()[0] == 1


def test_a_url_needs_a_time_range_with_a_zone(warehouse: Path, capsys) -> None:
    code = run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               "http://127.0.0.1:1", "--start", "2026-10-05T00:00:00", "--end",
               "2026-10-05T04:00:00Z")  # fmt: skip
    assert code == 2 and "--start has no time zone" in capsys.readouterr().err


def test_an_unreachable_server_is_reported_as_unavailable(warehouse: Path, capsys) -> None:
    port = server.free_port()
    code = run("--warehouse", str(warehouse), "ingest", "telemetry", "prometheus",
               f"http://127.0.0.1:{port}", "--start", "2026-10-05T00:00:00Z", "--end",
               "2026-10-05T04:00:00Z")  # fmt: skip
    assert code == 5 and "cannot reach Prometheus" in capsys.readouterr().err
