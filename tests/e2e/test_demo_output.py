"""What finops demo prints while it builds the sample warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # needs the built sample warehouse


def test_the_demo_prints_a_line_per_ingest_and_what_it_built(sample_warehouse: Path) -> None:
    from decimal import ROUND_HALF_EVEN, Decimal

    from ingest.warehouse import views
    from ingest.warehouse.connection import connect
    from models.settings import Settings

    views.register_all(Settings())  # unit_costs, a derived table
    out = (sample_warehouse.parent / "demo.out").read_text(encoding="utf-8").splitlines()
    assert len(out) < 36  # it used to print three lines per month loaded, 280 in all
    con = connect(sample_warehouse)

    def cents(value: Decimal) -> str:
        return f"{value.quantize(Decimal('0.01'), ROUND_HALF_EVEN):,}"

    # each single-load source, its line from the loads table
    loads = con.execute(
        "SELECT source, billing_account, currency, count(*), sum(rows), sum(source_total), "
        "min(billing_period), max(billing_period) FROM loads WHERE dataset = 'cost_lines' "
        "AND source IN ('azure-cost-details', 'gcp-bq', 'onprem', 'saas') GROUP BY ALL"
    ).fetchall()
    assert len(loads) == 5
    for source, account, currency, n, rows, total, first, last in loads:
        assert (
            f"{source} {account}: {n} periods ({first} .. {last}), {rows:,} rows, "
            f"{currency} {cents(total)} in source and warehouse: committed"
        ) in out
    assert "nvidia-smi: 12 months (2025-11 .. 2026-10), 224,880 GPU-hours: committed" in out
    billed = con.execute(
        "SELECT BillingCurrency, sum(BilledCost) FROM cost_lines GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()
    lines = con.execute("SELECT count(*) FROM cost_lines").fetchall()[0][0]
    assert (
        f"Warehouse ready in {sample_warehouse}: {lines:,} cost lines, 2025-11 .. 2026-10, "
        f"billed {', '.join(f'{c} {cents(t)}' for c, t in billed)}."
    ) in out
    episodes, cost = con.execute("SELECT count(*), sum(cost) FROM idle_episodes").fetchall()[0]
    assert f"Idle GPUs: {episodes:,} episodes costing USD {cents(cost)}." in out
    # the training runs: the colo's Slurm log, the cloud node pool's pods, the MIG slices
    assert "slurm iad1: 198 GPU runs (198 allocation rows, 2025-11..2026-10): committed (v0)" in out
    assert any(line.startswith("kubernetes aks-research: 53 GPU runs") for line in out)
    assert any(line.startswith("kubernetes iad1-k8s: 108 GPU runs") for line in out)
    # the model servers' counters, and what a million tokens served on our GPUs cost
    assert "prometheus: 12 months (2025-11 .. 2026-10), 24,480 model-hours: committed" in out
    cost, tokens = con.execute(
        "SELECT sum(cost), sum(input_tokens + output_tokens) FROM unit_costs "
        "WHERE month = '2026-10' AND kind = 'self_hosted' AND input_tokens IS NOT NULL"
    ).fetchall()[0]
    per = cents(cost * 1_000_000 / Decimal(repr(tokens)))
    assert (
        f"Cost per 1M tokens served in 2026-10: USD {per} on our own GPUs (2 model(s)); "
        "per model and against the API: finops unit-costs"
    ) in out
