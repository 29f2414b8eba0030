"""CloudWatch agent GPU metrics through moto's server -> the same hours as nvidia-smi logs."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import boto3
import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from tests.fixtures.nvidia_smi import (
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
T = datetime(2026, 10, 5, 1, 0, 2, tzinfo=UTC)  # inside the window every ingest reads


def dims(**given: str) -> list[dict]:
    return [{"Name": k, "Value": v} for k, v in given.items()]


def gpu(host: str, **more: str) -> list[dict]:
    """GPU 0 of a host as the agent's nvidia_gpu block names it. Each bad input has hosts of
    its own: moto matches GetMetricData queries with dimensions across namespaces."""
    return dims(host=host, index="0", name=MODEL, **more)


def point(metric: str, value: float, dimensions: list[dict], t: datetime = T) -> dict:
    return {"MetricName": f"nvidia_smi_{metric}", "Dimensions": dimensions, "Timestamp": t,
            "Value": value}  # fmt: skip


def put(url: str, data: list[dict], namespace: str = "CWAgent") -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=url)
    for k in range(0, len(data), 500):
        cw.put_metric_data(Namespace=namespace, MetricData=data[k : k + 500])


def agent_samples() -> list[dict]:
    """The agent's nvidia_gpu block: one point per metric per GPU per interval."""
    data = []
    for s in samples():
        d = dims(host=HOST, index=str(s["index"]), name=MODEL, InstanceId=INSTANCE)
        for metric, value in (
            ("utilization_gpu", s["util"]),
            ("memory_used", s["mem"]),
            ("power_draw", s["power"]),
        ):
            data.append(point(metric, float(value), d, s["t"]))
    return data


class Bad(NamedTuple):
    """A bad input: metrics put in their own namespace, the arguments, what the user sees."""

    points: list[dict]
    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]


BAD = {
    "utilisation above 100%": Bad(
        [point("utilization_gpu", 250.0, gpu("gpu-11"))], (), 2,
        ("nvidia_smi_utilization_gpu outside 0-100%", "host gpu-11, GPU 0, 2026-10-05T01:00:00Z",
         "found 250%", "values between 0 and 100"),
    ),
    "negative utilisation": Bad(
        [point("utilization_gpu", -5.0, gpu("gpu-12"))], (), 2,
        ("nvidia_smi_utilization_gpu outside 0-100%", "found -5%"),
    ),
    "negative power draw": Bad(
        [point("utilization_gpu", 40.0, gpu("gpu-13")),
         point("power_draw", -40.0, gpu("gpu-13"))], (), 2,
        ("negative power draw", "expected watts >= 0, found -40.0"),
    ),
    "no host dimension": Bad(
        [point("utilization_gpu", 40.0, dims(index="0", name=MODEL))], (), 2,
        ("nvidia_smi_utilization_gpu is not tied to one GPU of one host",
         "metric nvidia_smi_utilization_gpu {index=0, name=NVIDIA A10G}",
         "found host=None, index='0'", "aggregation_dimensions"),
    ),
    "no index dimension": Bad(
        [point("memory_used", 1024.0, dims(host="gpu-15", name=MODEL))], (), 2,
        ("nvidia_smi_memory_used is not tied to one GPU", "found host='gpu-15', index=None"),
    ),
    "index that is no GPU number": Bad(
        [point("utilization_gpu", 40.0, dims(host="gpu-16", index="gpu0"))], (), 2,
        ("not tied to one GPU", "index='gpu0'", "expected dimensions host and index"),
    ),
    "duplicate datapoints under two dimension sets": Bad(
        [point("utilization_gpu", 40.0, gpu("gpu-17")),
         point("utilization_gpu", 41.0, gpu("gpu-17", InstanceId=INSTANCE))], (), 2,
        ("duplicate datapoints: 2 points of the same GPU and time",
         "host gpu-17, GPU 0, 2026-10-05T01:00:00Z",
         "dimension sets {InstanceId,host,index,name} and {host,index,name}",
         "append_dimensions"),
    ),
    "namespace without GPU metrics": Bad(
        [], ("--namespace", "CWAgnet"), 2,
        ("no CloudWatch agent GPU metrics in namespace 'CWAgnet', region us-east-1",
         'give --namespace (did you mean "CWAgent"?)'),
    ),
    "no datapoints in the time range": Bad(
        [], ("--start", "2026-09-01T00:00:00Z", "--end", "2026-09-02T00:00:00Z"), 2,
        ("no GPU datapoints in the time range", "2026-09-01T00:00Z .. 2026-09-02T00:00Z",
         "--period 300"),
    ),
    "start after end": Bad(
        [], ("--start", "2026-10-05T03:00:00Z", "--end", "2026-10-05T00:00:00Z"), 2,
        ("--end must be after --start", "found 2026-10-05T03:00:00Z .. 2026-10-05T00:00:00Z"),
    ),
    "a time without a zone": Bad(
        [], ("--start", "2026-10-05T00:00:00"), 2,
        ("--start has no time zone", "found 2026-10-05T00:00:00", "add Z for UTC"),
    ),
    "not a time": Bad(
        [], ("--end", "yesterday"), 2, ("--end is not a time", "ISO 8601", "found yesterday"),
    ),
    "a period CloudWatch does not have": Bad(
        [], ("--period", "90"), 2,
        ("--period is not a CloudWatch period", "1, 5, 10, 30 or a multiple of 60", "found 90"),
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def endpoint():
    """One moto server for the module: the agent's samples in CWAgent, each bad input's
    points in a namespace of its own (so cases never see each other's metrics)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        with moto.serve() as url:
            put(url, agent_samples())
            for name, case in BAD.items():
                if case.points:
                    put(url, case.points, namespace=_namespace(name))
            yield url


def _namespace(case: str) -> str:
    return "bad/" + case.replace(" ", "-")


def ingest(root: Path, tmp_path: Path, *extra: str, config: str = "") -> int:
    path = tmp_path / "finops.toml"
    path.write_text(f"[sources.aws]\n{config}", encoding="utf-8")
    return main(
        ["--warehouse", str(root), "--config", str(path), "ingest", "telemetry", "cloudwatch",
         "--region", "us-east-1", "--start", "2026-10-05T00:00:00Z",
         "--end", "2026-10-05T03:00:00Z", *extra]
    )  # fmt: skip


@pytest.fixture(scope="module")
def loaded(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding the agent's three hours, to copy for each test."""
    tmp = tmp_path_factory.mktemp("cloudwatch")
    root = tmp / "warehouse"
    assert ingest(root, tmp, config=f'endpoint_url = "{endpoint}"\n') == 0
    return root


def test_cloudwatch_and_nvidia_smi_give_the_same_hours(loaded: Path, tmp_path: Path) -> None:
    smi_root = tmp_path / "smi"
    write_log(tmp_path / f"{HOST}.csv", units=True)
    assert main(["--warehouse", str(smi_root), "ingest", "telemetry", "nvidia-smi",
                 str(tmp_path / f"{HOST}.csv"), "--tz", "UTC"]) == 0  # fmt: skip
    cw_rows, smi_rows = gpu_rows(loaded), gpu_rows(smi_root)
    check_expected(cw_rows)
    assert_same_hours(cw_rows, smi_rows)
    assert set(cw_rows["resource_id"]) == {INSTANCE}  # InstanceId dimension names the bill
    assert set(cw_rows["source"]) == {"cloudwatch"}


def _copy(loaded: Path, tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "warehouse"
    shutil.copytree(loaded, root)
    return root, versions(root)


def _unchanged(root: Path, before: dict) -> None:
    """Nothing stored changed; load_errors is the one table a failure may append to."""
    after = versions(root)
    assert {**after, "load_errors": None} == {**before, "load_errors": None}
    hours = connect(root).execute("select count(*), sum(samples) from gpu_util").fetchone()
    assert hours == (6, 310)  # GPU 0: 3 hours x 60 samples; GPU 1: 60 + 60 + 10


@pytest.mark.parametrize("name", list(BAD))
def test_bad_inputs_give_one_message_and_store_nothing(
    name: str, endpoint: str, loaded: Path, tmp_path: Path, capsys
) -> None:
    case = BAD[name]
    root, before = _copy(loaded, tmp_path)
    args = ("--namespace", _namespace(name)) if case.points else ()
    capsys.readouterr()
    code = ingest(root, tmp_path, *args, *case.args, config=f'endpoint_url = "{endpoint}"\n')
    err = capsys.readouterr().err
    assert code == case.code, err
    assert len(err.strip().splitlines()) == 1, err  # one message
    for part in case.says:
        assert part in err, (part, err)
    if case.points:  # where: the source and the namespace read
        assert err.startswith(f"Bad input: cloudwatch us-east-1 {_namespace(name)}")
    _unchanged(root, before)


def _no_credentials(mp: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        mp.delenv(var, raising=False)
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    mp.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role here: do not wait for one


@pytest.mark.parametrize(
    ("setup", "config", "code", "says"),
    [
        ("no credentials", "", 5,
         ("Source unavailable", "no usable AWS credentials to read CloudWatch",
          "found Unable to locate credentials", "tried the boto3 default credential chain",
          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "instance roles")),
        ("unknown profile", 'profile = "finance-ro"\n', 2,
         ("Configuration error", "AWS profile 'finance-ro' not found", "[sources.aws]")),
        ("unreachable endpoint", "", 5,
         ("Source unavailable", "cannot reach CloudWatch", "Could not connect",
          "retrying may help")),
    ],
)  # fmt: skip
def test_unavailable_sources_say_what_was_tried(
    setup: str, config: str, code: int, says: tuple[str, ...], endpoint: str, loaded: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
) -> None:  # fmt: skip
    root, before = _copy(loaded, tmp_path)
    url = endpoint
    if setup == "no credentials":
        _no_credentials(monkeypatch, tmp_path)
    if setup == "unreachable endpoint":
        from tests.servers.prometheus import free_port

        url = f"http://127.0.0.1:{free_port()}"
    capsys.readouterr()
    got = ingest(root, tmp_path, config=f'endpoint_url = "{url}"\n{config}')
    err = capsys.readouterr().err
    assert got == code, err
    assert len(err.strip().splitlines()) == 1, err
    for part in says:
        assert part in err, (part, err)
    _unchanged(root, before)
