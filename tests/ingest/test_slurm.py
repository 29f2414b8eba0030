"""sacct output -> training_runs: hostlists, TRES forms, states, open ends, local time across
a DST change, and bad input refused with one message while nothing stored changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dashboard.cli.finops import main
from ingest.sources.slurm import ParseError, expand_hostlist, gpus_of, read_sacct, state_of
from ingest.warehouse.connection import connect, versions

HEADER = "JobID|JobName|Account|User|Partition|Submit|Start|End|State|AllocTRES|NodeList\n"
NY = ZoneInfo("America/New_York")


def line(job="101", start="2026-03-04T10:00:00", end="2026-03-04T14:00:00",
         state="COMPLETED", tres="billing=64,cpu=64,gres/gpu=8,mem=512G,node=1",
         nodes="gpu-node-01") -> str:  # fmt: skip
    return (
        f"{job}|train|research|alice|gpu|2026-03-04T09:00:00|{start}|{end}|{state}|{tres}|{nodes}\n"
    )


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("gpu-node-01", ["gpu-node-01"]),
        ("gpu-node-[01-04,07]", ["gpu-node-01", "gpu-node-02", "gpu-node-03", "gpu-node-04",
                                 "gpu-node-07"]),
        ("gpu-node-[08-11]", ["gpu-node-08", "gpu-node-09", "gpu-node-10", "gpu-node-11"]),
        ("a[1-2]-b[3-4]", ["a1-b3", "a1-b4", "a2-b3", "a2-b4"]),
        ("n[098-101]", ["n098", "n099", "n100", "n101"]),
        ("gpu-[1,3],cpu-07", ["gpu-1", "gpu-3", "cpu-07"]),
    ],
)  # fmt: skip
def test_hostlists_expand_with_zero_padding_kept(text: str, hosts: list[str]) -> None:
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize("text", ["gpu-[01-", "gpu-[a-b]", "gpu-[04-01]", "gpu-01]", ""])
def test_malformed_hostlists_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        expand_hostlist(text)


@pytest.mark.parametrize(
    ("tres", "gpus"),
    [
        ("billing=64,cpu=64,gres/gpu=8,mem=512G,node=1", 8),
        ("cpu=16,gres/gpu:a100=4,node=1", 4),
        ("cpu=16,gres/gpu=4,gres/gpu:a100=4,node=1", 4),  # typed is a breakdown of untyped
        ("cpu=16,gres/gpu:a100=2,gres/gpu:h100=2,node=1", 4),
        ("cpu=16,mem=64G,node=1", 0),
        ("", 0),
    ],
)
def test_gpus_come_from_alloc_tres(tres: str, gpus: int) -> None:
    assert gpus_of(tres) == gpus


@pytest.mark.parametrize(
    ("text", "state"),
    [("COMPLETED", "COMPLETED"), ("CANCELLED by 1234", "CANCELLED"), ("TIMEOUT", "TIMEOUT"),
     ("OUT_OF_MEMORY", "OUT_OF_MEMORY"), ("RUNNING", "RUNNING"), ("FAILED", "FAILED")],
)  # fmt: skip
def test_states_lose_their_detail(text: str, state: str) -> None:
    assert state_of(text) == state


def _read(tmp_path: Path, *lines: str):
    path = tmp_path / "cluster-a.txt"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return read_sacct(path, None, NY)


def test_nodes_share_the_jobs_gpus_and_name_the_cluster(tmp_path: Path) -> None:
    rows = _read(tmp_path, line(tres="gres/gpu:h100=6,node=2", nodes="gpu-[01-02]"))
    assert rows.select("cluster", "host", "gpus").rows() == [
        ("cluster-a", "gpu-01", 3),
        ("cluster-a", "gpu-02", 3),
    ]


def test_unknown_end_is_an_open_run_and_gpu_less_or_pending_jobs_are_left_out(
    tmp_path: Path,
) -> None:
    rows = _read(
        tmp_path,
        line(job="1", end="Unknown", state="RUNNING"),
        line(job="2", tres="cpu=4,node=1", nodes="cpu-01"),
        line(job="3", start="Unknown", end="Unknown", state="PENDING", nodes="None assigned"),
        line(job="3.batch"),
    )
    assert rows.select("job_id", "state", "end").rows() == [("1", "RUNNING", None)]


def test_local_time_across_the_autumn_dst_change(tmp_path: Path) -> None:
    # New York turns its clocks back at 02:00 EDT on 2025-11-02: 01:30 happens twice.
    rows = _read(
        tmp_path,
        line(job="1", start="2025-11-01T23:00:00", end="2025-11-02T03:00:00"),
        line(job="2", start="2025-11-02T01:30:00", end="2025-11-02T01:15:00"),
    )
    by = {r["job_id"]: r for r in rows.iter_rows(named=True)}
    # 23:00 EDT (UTC-4) to 03:00 EST (UTC-5): five hours, not four
    assert by["1"]["start"] == datetime(2025, 11, 2, 3, 0, tzinfo=UTC)
    assert by["1"]["end"] == datetime(2025, 11, 2, 8, 0, tzinfo=UTC)
    # start read as the first 01:30 (EDT); its end 01:15 can only be the second one (EST)
    assert by["2"]["start"] == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    assert by["2"]["end"] == datetime(2025, 11, 2, 6, 15, tzinfo=UTC)


def test_spring_dst_change_shortens_the_wall_clock_night(tmp_path: Path) -> None:
    rows = _read(tmp_path, line(start="2026-03-08T01:00:00", end="2026-03-08T04:00:00"))
    start, end = rows.row(0, named=True)["start"], rows.row(0, named=True)["end"]
    assert (end - start).total_seconds() == 2 * 3600  # 02:00-03:00 never happened


def ingest(root: Path, *args: str) -> int:
    return main(["--warehouse", str(root), "ingest", "jobs", "slurm", *args])


GOOD = HEADER + line(job="7", nodes="gpu-node-[01-02]", tres="gres/gpu=16,node=2")

BAD = [
    (line(job="8")[:-1] + "|extra\n", [], "malformed sacct line", "line 3"),
    (line(job="8", nodes="gpu-node-[01-"), [], "unbalanced brackets", "line 3, column NodeList"),
    (line(job="8", tres="cpu=4,gres/gpu=eight"), [], "not a GPU count",
     "line 3, column AllocTRES"),
    (line(job="8", start="04/03/2026 10:00"), [], "not a time", "line 3, column Start"),
    (line(job="8", state="EXPLODED"), [], "unknown job state", "line 3, column State"),
    (line(job="8", start="2026-03-08T02:30:00"), [], "does not exist", "column Start"),
    (line(job="8", end="2026-03-04T09:00:00"), [], "before Start", "column End"),
    (line(job="7"), [], "appears twice", "lines 2 and 3"),
    (line(job="8"), ["--tz", "Mars/Olympus"], "unknown time zone", "Mars/Olympus"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "args", "message", "detail"), BAD)
def test_bad_sacct_gives_one_message_and_stores_nothing(
    extra: str, args: list[str], message: str, detail: str, tmp_path: Path, capsys
) -> None:
    root = tmp_path / "w"
    good = tmp_path / "good.txt"
    good.write_text(GOOD, encoding="utf-8")
    assert ingest(root, str(good), "--tz", "America/New_York") == 0
    before = versions(root)
    bad = tmp_path / "bad.txt"
    bad.write_text(GOOD + extra, encoding="utf-8")
    capsys.readouterr()
    code = ingest(root, str(bad), *(args or ["--tz", "America/New_York"]))
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and detail in err, err
    assert "bad.txt" in err or "--tz" in args, err  # the file, where a file is at fault
    assert versions(root)["training_runs"] == before["training_runs"]
    con = connect(root)
    assert con.sql("select job_id, host, gpus from training_runs order by host").fetchall() == [
        ("7", "gpu-node-01", 8),
        ("7", "gpu-node-02", 8),
    ]


def test_sacct_without_tz_is_refused(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.txt"
    good.write_text(GOOD, encoding="utf-8")
    assert ingest(tmp_path / "w", str(good)) == 2
    assert "--tz" in capsys.readouterr().err


def test_a_later_log_restates_its_jobs_and_keeps_the_others(tmp_path: Path) -> None:
    root = tmp_path / "w"
    first, later = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(HEADER + line(job="1", end="Unknown", state="RUNNING") + line(job="2"))
    later.write_text(HEADER + line(job="1", end="2026-03-05T10:00:00"))
    for f in (first, later):
        assert ingest(root, str(f), "--cluster", "c1", "--tz", "UTC") == 0
    rows = (
        connect(root)
        .sql('select job_id, state, "end" from training_runs order by job_id')
        .fetchall()
    )
    assert [(j, s, e is None) for j, s, e in rows] == [
        ("1", "COMPLETED", False),
        ("2", "COMPLETED", False),
    ]
