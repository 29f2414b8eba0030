"""nvidia-smi CSV logs (both unit styles, any column order) -> hourly GPU rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import versions
from tests.fixtures.nvidia_smi import (
    HOST,
    MODEL,
    assert_same_hours,
    check_expected,
    gpu_rows,
    write_log,
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
