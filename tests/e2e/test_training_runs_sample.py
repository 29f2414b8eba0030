"""Every training run planted in the sample enterprise (truth.json `training_runs`) is found
with its GPU-hours exact and its cost within 0.5%, and `finops runs --format json` says so."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from dashboard.queries.training_runs import runs
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings

pytestmark = pytest.mark.slow  # needs the built sample warehouse


def _found(root: Path) -> dict[tuple[str, str], dict]:
    views.register_all(Settings())
    frame = runs(connect(root), Settings().idle.idle_below)
    return {(r["cluster"], r["job_id"]): r for r in frame.iter_rows(named=True)}


def test_every_planted_run_is_found_with_exact_gpu_hours_and_its_cost(
    sample_warehouse: Path, sample_truth: dict
) -> None:
    planted = sample_truth["training_runs"]
    found = _found(sample_warehouse)
    assert {(p["cluster"], p["job_id"]) for p in planted} == set(found)
    for p in planted:
        got = found[(p["cluster"], p["job_id"])]
        where = f"{p['cluster']} {p['job_id']}"
        assert round(got["gpu_hours"], 6) == float(p["gpu_hours"]), where
        assert got["currency"] == p["currency"], where
        assert abs(got["cost"] - Decimal(p["cost"])) <= Decimal(p["cost"]) * Decimal("0.005"), where
        assert got["start"].strftime("%Y-%m-%dT%H:%M:%SZ") == p["start"], where
        end = None if got["end"] is None else got["end"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert end == p["end"], where
    # the Slurm runs are the busy stretches of their hosts: hardly any idle GPU-hour inside
    slurm = [r for r in found.values() if r["source"] == "slurm"]
    assert sum(r["idle_gpu_hours"] for r in slurm) == 0
    assert min(r["mean_active"] for r in slurm) > 0.7


def test_mig_slices_are_priced_at_their_fraction(
    sample_warehouse: Path, sample_truth: dict
) -> None:
    mig = [p for p in sample_truth["training_runs"] if p.get("mig_slices")]
    assert {p["mig_profile"] for p in mig} == {"1g.10gb", "2g.20gb", "3g.40gb"}
    found = _found(sample_warehouse)
    for p in mig:
        got = found[(p["cluster"], p["job_id"])]
        assert got["gpus"] == pytest.approx(p["mig_slices"] / 7)
        hours = (got["end"] - got["start"]).total_seconds() / 3600
        rate = Decimal("0.909680513699")  # the A100 host's owned GPU-hour
        assert got["cost"] == pytest.approx(
            rate * Decimal(hours) * p["mig_slices"] / 7, abs=Decimal("0.000001")
        )


def test_finops_runs_json_on_the_demo_warehouse(
    sample_warehouse: Path, sample_truth: dict, capsys
) -> None:
    capsys.readouterr()
    assert main(["--warehouse", str(sample_warehouse), "runs", "--top", "3", "--format",
                 "json"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    costliest = sorted(sample_truth["training_runs"], key=lambda p: -Decimal(p["cost"]))[:3]
    assert [r["job_id"] for r in rows] == [p["job_id"] for p in costliest]
    for r, p in zip(rows, costliest, strict=True):
        assert set(r) == {
            "job_id", "name", "cluster", "team", "start", "end", "gpus", "gpu_hours", "cost",
            "currency", "mean_active", "idle_gpu_hours",
        }  # fmt: skip
        assert r["gpu_hours"] == float(p["gpu_hours"]) and r["currency"] == "USD"
        assert Decimal(str(r["cost"])).quantize(Decimal("0.01")) == Decimal(p["cost"]).quantize(
            Decimal("0.01")
        )


def test_the_training_runs_section_agrees_with_finops_runs(
    sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from tests.fixtures.app_pages import app, no_errors, page
    from tests.fixtures.warehouse_state import serve

    capsys.readouterr()
    assert main(["--warehouse", str(sample_warehouse), "runs", "--format", "json"]) == 0
    every = json.loads(capsys.readouterr().out)
    serve(monkeypatch, sample_warehouse)
    at = page(app(), "unit_costs")
    no_errors(at)
    total = sum(Decimal(str(r["cost"])) for r in every)
    hours = sum(r["gpu_hours"] for r in every)
    idle = sum(r["idle_gpu_hours"] for r in every) / hours
    said = f"{len(every)} runs billed in USD cost **USD {total:,.0f}** for {hours:,.0f} GPU-hours"
    assert any(m.value.startswith(said) and f"{idle:.1%} of them idle" in m.value
               for m in at.markdown), [m.value for m in at.markdown][-2:]  # fmt: skip
    (table,) = [d.value for d in at.dataframe if "Job" in d.value.columns]
    assert table["Job"].tolist() == [r["job_id"] for r in every[:20]]
    cent = Decimal("0.01")
    shown = Decimal(str(table.iloc[0]["cost"])).quantize(cent)
    assert shown == Decimal(str(every[0]["cost"])).quantize(cent)


def test_the_pack_lists_the_runs_that_started_in_its_month(
    sample_warehouse: Path, sample_truth: dict
) -> None:
    from dashboard.report.pack import build_pack

    section = build_pack(sample_warehouse, "2026-10", formats="csv").sections["training_runs"]
    planted = {p["job_id"]: p for p in sample_truth["training_runs"]
               if p["start"].startswith("2026-10")}  # fmt: skip
    assert set(section.frame["job_id"]) == set(planted)
    total = sum((Decimal(p["cost"]) for p in planted.values()), Decimal(0))
    assert abs(section.total("cost") - total) <= total * Decimal("0.005")
    assert section.frame["gpu_hours"].sum() == pytest.approx(
        sum(float(p["gpu_hours"]) for p in planted.values()), abs=1e-4
    )
