"""bench/bench_scale.py end to end at a tiny scale: every month and step leaves its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.app_pages import PAGES as APP_PAGES
from tests.fixtures.bench_scripts import bench_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "bench_scale.py"
PAGES = set(APP_PAGES)  # every page the dashboard serves


def _bench_scale():
    return bench_script("bench_scale")


def test_the_fleet_is_repeated_until_enough_gpus_report() -> None:
    fleet, gpus = _bench_scale().fleet_for(2000, 12)
    assert fleet > 1
    assert 2000 <= gpus < 2100  # one more repeat of the base cloud fleet adds about 60
    assert _bench_scale().fleet_for(0, 12)[0] == 1


def test_a_fleet_multiplier_needs_a_line_count_scale(tmp_path: Path) -> None:
    from ingest.sample.generator import generate

    with pytest.raises(ValueError, match="fleet repeats the fleet of a line-count scale; got 3"):
        generate(tmp_path, scale="small", fleet=3)
    assert not any(tmp_path.iterdir())


@pytest.mark.heavy  # minutes: the whole benchmark, end to end, at a tiny scale
def test_a_tiny_run_records_every_month_and_step(tmp_path: Path) -> None:
    out = tmp_path / "scale"
    cmd = [sys.executable, str(SCRIPT), "--scale", "20000", "--months", "2", "--gpus", "0"]
    cmd += ["--repeats", "1", "--out", str(out)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by_step: dict[str, list[dict]] = {}
    for r in records:
        assert r["load_1m"] >= 0 and r["at"].startswith("20")
        by_step.setdefault(r["step"], []).append(r)

    (gen,) = by_step["generate"]
    assert gen["lines"] >= 20_000 and gen["fleet"] == 1 and gen["monitored_gpus"] > 0
    assert gen["s"] > 0 and gen["rss_mib"] > 0 and gen["source_mib"] > 0

    months = by_step["month"]
    assert [m["month"] for m in months] == ["2026-09", "2026-10"]
    assert sum(m["lines"] for m in months) == gen["lines"]
    for m in months:
        assert m["generate_s"] > 0 and m["source_mib"] > 0
        assert set(m["ingest"]) == {"aws", "azure", "gcp", "telemetry"}
        assert set(m["by_provider_mib"]) == {"aws", "azure", "gcp", "telemetry"}
        for provider, f in m["ingest"].items():
            assert f["s"] > 0 and f["cpu_s"] > 0 and f["rss_mib"] > 50, (m["month"], provider)
            assert f["refresh_s"] is not None and 0 < f["refresh_s"] < f["s"], (m, provider)
            if provider != "telemetry":
                assert f["floor_s"] > 0  # the ratio is taken before rounding, so compare loosely
                assert f["vs_floor"] == pytest.approx(f["s"] / f["floor_s"], rel=0.05)
        assert m["ingest_s"] == round(sum(f["s"] for f in m["ingest"].values()), 2)
        assert m["peak_rss_mib"] == max(f["rss_mib"] for f in m["ingest"].values())
    assert 0 < months[0]["warehouse_mib"] < months[1]["warehouse_mib"]

    (dash,) = by_step["dashboard"]
    assert dash["problems"] == []
    assert dash["cold_s"] > 0 and dash["rss_mib"] > 0
    assert dash["overview"]["Spend in the period"].startswith("USD ")
    assert set(dash["warm_median_s"]) == PAGES
    assert all(v > 0 for v in dash["warm_median_s"].values())
    for step in ("report", "query"):
        (r,) = by_step[step]
        assert r["month"] == "2026-10" and r["s"] > 0 and r["rss_mib"] > 0

    assert "| 2026-10 |" in done.stdout and "Dashboard: cold" in done.stdout
    # without --keep only the figures stay
    assert sorted(p.name for p in out.iterdir()) == ["results.jsonl"]


@pytest.mark.heavy  # minutes: three tiny months, the third measured twice, then a resumed run
def test_the_next_month_is_measured_empty_and_after_the_year_and_a_run_resumes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "scale"
    cmd = [sys.executable, str(SCRIPT), "--scale", "20000", "--months", "2", "--gpus", "0"]
    cmd += ["--repeats", "1", "--out", str(out), "--keep", "--next-month"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def steps() -> dict[str, list[dict]]:
        by_step: dict[str, list[dict]] = {}
        for line in (out / "results.jsonl").read_text().splitlines():
            record = json.loads(line)
            by_step.setdefault(record["step"], []).append(record)
        return by_step

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    first = steps()
    (gen,) = first["generate"]
    assert gen["months"] == 3 and gen["scale"] == 30_000  # the same lines a month
    assert [m["month"] for m in first["month"]] == ["2026-08", "2026-09"]
    (empty,) = first["next month, empty warehouse"]
    (full,) = first["next month, after the year"]
    (ratio,) = first["next month"]
    assert empty["month"] == full["month"] == ratio["month"] == "2026-10"
    assert empty["lines"] == full["lines"] > 0
    assert set(empty["ingest"]) == set(full["ingest"]) == {"aws", "azure", "gcp", "telemetry"}
    assert ratio["ratio_s"] == pytest.approx(full["ingest_s"] / empty["ingest_s"], abs=0.01)
    assert ratio["ratio_cpu"] == pytest.approx(
        full["ingest_cpu_s"] / empty["ingest_cpu_s"], abs=0.01
    )
    assert empty["warehouse_mib"] < full["warehouse_mib"]  # no history against a year of it
    assert not (out / "scratch" / "empty-warehouse").exists()
    # the year's warehouse now holds all three months, each month's total as generated
    truth = json.loads((out / "source" / "truth.json").read_text())
    assert sum(r["lines"] for r in truth["totals"]) == gen["lines"]

    # resumed: nothing generated or ingested again, the final steps measured again
    again = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True,
                           timeout=1200)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    second = steps()
    for step in ("generate", "month", "next month, empty warehouse", "next month"):
        assert len(second[step]) == len(first[step]), step
    assert len(second["dashboard"]) == 2 and len(second["machine"]) == 2
    assert second["dashboard"][-1]["overview"] == first["dashboard"][0]["overview"]
