"""finops check on the warehouse the demo builds from the sample enterprise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.warehouse_health import run, table_states

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.slow
def test_the_sample_enterprise_checks_healthy(
    sample_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    # every kind of table and load the demo makes: no problem where there is none
    code, out, err = run(capsys, "--warehouse", str(sample_warehouse), "check")
    assert code == 0, out + err
    assert table_states(out) == dict.fromkeys(
        ("cost_lines", "gpu_util", "assets", "training_runs", "serving_usage", "unit_costs",
         "api_usage_parts",
         "loads", "line_classes", "class_keys",
         "gpu_hours", "idle_episodes", "gpu_buckets", "gpu_demand", "gpu_owned_days",
         "telemetry_monthly", "spend_daily", "egress_daily", "tools_monthly", "tag_daily",
         "billed_periods", "top_lines_parts", "commitment_months"),
        "healthy",
    )  # fmt: skip
