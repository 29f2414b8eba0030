"""CloudWatch agent GPU metrics through moto's server -> the same hours as nvidia-smi logs."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from dashboard.cli import main
from ingest.warehouse import versions
from tests.ingest.test_nvidia_smi import (
    HOST,
    MODEL,
    assert_same_hours,
    check_expected,
    gpu_rows,
    samples,
    write_log,
)
from tests.servers import moto

INSTANCE = "i-0aa11bb22cc33dd44"


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.serve() as url:
        yield url


def put_samples(url: str, extra: list[dict] | None = None) -> None:
    """The agent's nvidia_gpu block: one point per metric per GPU per interval."""
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=url)
    data = []
    for s in samples():
        dims = [
            {"Name": "host", "Value": HOST},
            {"Name": "index", "Value": str(s["index"])},
            {"Name": "name", "Value": MODEL},
            {"Name": "InstanceId", "Value": INSTANCE},
        ]
        for metric, value in (
            ("nvidia_smi_utilization_gpu", s["util"]),
            ("nvidia_smi_memory_used", s["mem"]),
            ("nvidia_smi_power_draw", s["power"]),
        ):
            data.append({"MetricName": metric, "Dimensions": dims, "Timestamp": s["t"],
                         "Value": float(value)})  # fmt: skip
    data += extra or []
    for k in range(0, len(data), 500):
        cw.put_metric_data(Namespace="CWAgent", MetricData=data[k : k + 500])


def ingest(root: Path, url: str, tmp_path: Path, *extra: str) -> int:
    config = tmp_path / "finops.toml"
    config.write_text(f'[sources.aws]\nendpoint_url = "{url}"\n', encoding="utf-8")
    return main(
        ["--warehouse", str(root), "--config", str(config), "ingest", "telemetry", "cloudwatch",
         "--region", "us-east-1", "--start", "2026-10-05T00:00:00Z",
         "--end", "2026-10-05T03:00:00Z", *extra]
    )  # fmt: skip


def test_cloudwatch_and_nvidia_smi_give_the_same_hours(endpoint: str, tmp_path: Path) -> None:
    put_samples(endpoint)
    cw_root, smi_root = tmp_path / "cw", tmp_path / "smi"
    assert ingest(cw_root, endpoint, tmp_path) == 0
    write_log(tmp_path / f"{HOST}.csv", units=True)
    assert main(["--warehouse", str(smi_root), "ingest", "telemetry", "nvidia-smi",
                 str(tmp_path / f"{HOST}.csv"), "--tz", "UTC"]) == 0  # fmt: skip
    cw_rows, smi_rows = gpu_rows(cw_root), gpu_rows(smi_root)
    check_expected(cw_rows)
    assert_same_hours(cw_rows, smi_rows)
    assert set(cw_rows["resource_id"]) == {INSTANCE}  # InstanceId dimension names the bill
    assert set(cw_rows["source"]) == {"cloudwatch"}


def test_values_above_100_percent_store_nothing(endpoint: str, tmp_path: Path, capsys) -> None:
    root = tmp_path / "w"
    put_samples(endpoint)
    assert ingest(root, endpoint, tmp_path) == 0
    before = versions(root)
    bad = samples()[0]
    put_samples(
        endpoint,
        [{"MetricName": "nvidia_smi_utilization_gpu", "Timestamp": bad["t"], "Value": 250.0,
          "Dimensions": [{"Name": "host", "Value": "other"}, {"Name": "index", "Value": "0"}]}],
    )  # fmt: skip
    capsys.readouterr()
    assert ingest(root, endpoint, tmp_path) == 2
    err = capsys.readouterr().err
    assert "nvidia_smi_utilization_gpu outside 0-100%" in err and "250%" in err
    assert versions(root)["gpu_util"] == before["gpu_util"]


def test_an_unreachable_endpoint_is_unavailable_not_bad_input(tmp_path: Path, capsys) -> None:
    from tests.servers.prometheus import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code = ingest(tmp_path / "w", url, tmp_path)
    assert code == 5 and "CloudWatch" in capsys.readouterr().err
