"""nvidia-smi CSV logs (both unit styles, any column order) -> hourly GPU rows."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard.cli import main
from ingest.warehouse import connect, versions

T0 = datetime(2026, 10, 5, tzinfo=UTC)
HOST = "gpu-01"
MODEL = "NVIDIA A10G"
COMPARED = ["hour", "host", "gpu_index", "avg_active", "max_active", "max_mem_used_mib",
            "avg_power_w", "samples"]  # fmt: skip


def samples() -> list[dict]:
    """Two GPUs, one sample a minute for 3 hours; GPU 1 misses the last 50 minutes."""
    rng = random.Random(11)
    out = []
    for minute in range(180):
        for index in (0, 1):
            if index == 1 and minute >= 130:
                continue
            out.append(
                {
                    "t": T0 + timedelta(minutes=minute, seconds=2),
                    "index": index,
                    "uuid": f"GPU-0000-{index}",
                    "util": rng.randrange(0, 101),
                    "mem": rng.randrange(0, 24_000),
                    "power": round(rng.uniform(20, 300), 2),
                }
            )
    return out


def expected() -> pl.DataFrame:
    f = pl.DataFrame(samples()).with_columns(pl.col("t").dt.truncate("1h").alias("hour"))
    return (
        f.group_by("hour", "index")
        .agg(
            (pl.col("util") / 100).mean().alias("avg_active"),
            (pl.col("util") / 100).max().alias("max_active"),
            pl.col("mem").max().cast(pl.Float64).alias("max_mem_used_mib"),
            pl.col("power").mean().alias("avg_power_w"),
            pl.len().alias("samples"),
        )
        .sort("index", "hour")
    )


def write_log(path: Path, units: bool, order: list[str] | None = None) -> None:
    """As nvidia-smi --format=csv[,nounits] writes it (local time printed, here UTC)."""
    fields = order or ["timestamp", "name", "pci.bus_id", "uuid", "index", "utilization.gpu",
                       "memory.used", "power.draw"]  # fmt: skip
    unit = {"utilization.gpu": "%", "memory.used": "MiB", "power.draw": "W"}
    header = ", ".join(f"{f} [{unit[f]}]" if f in unit else f for f in fields)
    lines = [header]
    for s in samples():
        value = {
            "timestamp": s["t"].strftime("%Y/%m/%d %H:%M:%S.") + "123",
            "name": MODEL,
            "pci.bus_id": f"00000000:{s['index'] + 10:02X}:00.0",
            "uuid": s["uuid"],
            "index": str(s["index"]),
            "utilization.gpu": f"{s['util']}" + (" %" if units else ""),
            "memory.used": f"{s['mem']}" + (" MiB" if units else ""),
            "power.draw": f"{s['power']:.2f}" + (" W" if units else ""),
        }
        lines.append(", ".join(value[f] for f in fields))
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


def gpu_rows(root: Path) -> pl.DataFrame:
    table = connect(root).sql("from gpu_util order by host, gpu_index, hour").to_arrow_table()
    return pl.DataFrame(pl.from_arrow(table)).with_columns(
        pl.col("hour").dt.convert_time_zone("UTC")
    )


def check_expected(rows: pl.DataFrame) -> None:
    exp = expected()
    got = rows.sort("gpu_index", "hour")
    assert got["samples"].to_list() == exp["samples"].to_list() == [60, 60, 60, 60, 60, 10]
    assert got["hour"].to_list() == exp["hour"].to_list()
    for col in ("avg_active", "max_active", "max_mem_used_mib", "avg_power_w"):
        for a, b in zip(got[col], exp[col], strict=True):
            assert a == pytest.approx(b, abs=1e-9), col


def assert_same_hours(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Same GPU-hours, values equal up to float summation order."""
    assert_frame_equal(
        a.select(COMPARED).sort("gpu_index", "hour"),
        b.select(COMPARED).sort("gpu_index", "hour"),
        check_exact=False,
        rel_tol=1e-12,
        abs_tol=1e-12,
    )


def ingest(root: Path, *args: str) -> int:
    return main(["--warehouse", str(root), "ingest", "telemetry", "nvidia-smi", *args])


def test_both_unit_styles_and_any_column_order_give_the_same_hours(tmp_path: Path) -> None:
    (tmp_path / "units").mkdir()
    (tmp_path / "nounits").mkdir()
    write_log(tmp_path / "units" / f"{HOST}.csv", units=True)
    shuffled = ["power.draw", "index", "timestamp", "utilization.gpu", "uuid", "memory.used",
                "name"]  # fmt: skip
    write_log(tmp_path / "nounits" / f"{HOST}.csv.gz", units=False, order=shuffled)
    a, b = tmp_path / "wa", tmp_path / "wb"
    assert ingest(a, str(tmp_path / "units"), "--tz", "UTC") == 0
    assert ingest(b, str(tmp_path / "nounits"), "--tz", "UTC") == 0
    rows_a, rows_b = gpu_rows(a), gpu_rows(b)
    check_expected(rows_a)
    assert_same_hours(rows_a, rows_b)
    assert set(rows_a["host"]) == {HOST} and set(rows_a["gpu_model"]) == {MODEL}
    assert set(rows_a["gpu_uuid"]) == {"GPU-0000-0", "GPU-0000-1"}


def test_local_time_is_converted_with_tz_and_host_from_option(tmp_path: Path) -> None:
    log = tmp_path / "whatever.log"
    log.write_text(
        "timestamp, index, utilization.gpu [%]\n"
        "2026/10/05 09:59:30.000, 0, 10 %\n"
        "2026/10/05 10:00:30.000, 0, 30 %\n",
        encoding="utf-8",
    )
    root = tmp_path / "w"
    assert ingest(root, str(log), "--tz", "America/New_York", "--host", "box-7") == 0
    rows = gpu_rows(root)
    assert rows.select("hour", "host", "avg_active").rows() == [
        (datetime(2026, 10, 5, 13, tzinfo=UTC), "box-7", 0.10),
        (datetime(2026, 10, 5, 14, tzinfo=UTC), "box-7", 0.30),
    ]


def test_host_map_ties_hosts_to_resources(tmp_path: Path) -> None:
    write_log(tmp_path / f"{HOST}.csv", units=True)
    (tmp_path / "map.csv").write_text(f"host,resource_id\n{HOST},i-0123456789abcdef0\n")
    root = tmp_path / "w"
    assert ingest(root, str(tmp_path / f"{HOST}.csv"), "--tz", "UTC", "--host-map",
                  str(tmp_path / "map.csv")) == 0  # fmt: skip
    assert set(gpu_rows(root)["resource_id"]) == {"i-0123456789abcdef0"}


GOOD = "timestamp, index, utilization.gpu [%], power.draw [W]\n"
CASES = [
    (GOOD + "2026/10/05 10:00:00.000, 0, 130 %, 50 W\n", ["--tz", "UTC"],
     "utilization.gpu outside 0-100%", "130%"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, 50 W\n2026/10/05 10:00:00.000, 0, 13 %, 50 W\n",
     ["--tz", "UTC"], "duplicate sample", "line 2"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, 50 W\n", [], "timestamps have no time zone", "--tz"),
    (GOOD + "2026/10/05 10:00:00.000, 0, lots, 50 W\n", ["--tz", "UTC"],
     "not a number in utilization.gpu", "line 2"),
    (GOOD + "yesterday, 0, 13 %, 50 W\n", ["--tz", "UTC"], "not a timestamp", "line 2"),
    (GOOD + "2026-10-05T10:00:00Z, 0, 13 %, 50 W\n2026/10/05 10:01:00.000, 0, 13 %, 50 W\n",
     ["--tz", "UTC"], "some timestamps have a time zone", "line 3"),
    ("2026/10/05 10:00:00.000, 0, 13 %, 50 W\n", ["--tz", "UTC"], "with a header", "timestamp"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, -5 W\n", ["--tz", "UTC"],
     "negative power draw", "line 2"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, 50 W\n", ["--tz", "Mars/Olympus"],
     "unknown time zone", "Mars/Olympus"),
    (GOOD + "2026/10/05 10:00:00.000, 0, -1 %, 50 W\n", ["--tz", "UTC"],
     "outside 0-100%", "-1%"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, 50 W\n2026/10/05 10:01:00.000, 0, 1",
     ["--tz", "UTC"], "the file ends in the middle of a line", "line 3"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %\n", ["--tz", "UTC"], "too few fields", "line 2"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, 50 W, 7\n", ["--tz", "UTC"], "too many fields",
     "line 2"),
    (GOOD + "2026/10/05 10:00:00.000, 0, 13 %, 5\x000 W\n", ["--tz", "UTC"], "NUL byte",
     "line 2, column power.draw [W]"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "args", "message", "detail"), CASES)
def test_bad_logs_give_one_message_and_store_nothing(
    text: str, args: list[str], message: str, detail: str, tmp_path: Path, capsys
) -> None:
    root = tmp_path / "w"
    write_log(tmp_path / f"{HOST}.csv", units=True)
    assert ingest(root, str(tmp_path / f"{HOST}.csv"), "--tz", "UTC") == 0
    before = versions(root)
    bad = tmp_path / "bad-host.csv"
    bad.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = ingest(root, str(bad), *args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and detail in err
    assert versions(root)["gpu_util"] == before["gpu_util"]
    assert set(gpu_rows(root)["host"]) == {HOST}


def test_a_folder_without_logs_is_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert ingest(tmp_path / "w", str(tmp_path / "empty"), "--tz", "UTC") == 2
    assert "no nvidia-smi logs found" in capsys.readouterr().err
