"""The test seam of the writer: named points where it can be made to stop.

With FINOPS_TEST_PAUSE_AT=<point> a writer that reaches that point prints
`finops: paused at <point>` to stderr and sleeps FINOPS_TEST_PAUSE_S seconds (default 60), so
a crash test can SIGKILL it exactly there (tests/ingest/test_crash.py). Each name stops at one
kind of step; with several partitions, at the first of them.
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_POINTS: dict[str, str] = {
    # a load (cost_lines, gpu_util, assets)
    "stage": "the load's rows are staged and validated; nothing is committed",
    "commit": "a partition is about to be committed",
    "write": "the new data file is in the table folder; its commit is not yet written",
    "loads": "the data commit is written; its loads record is not yet appended",
    # derived data, after the loads of an ingest are committed
    "refresh": "every load is committed; derived data is not yet refreshed",
    "derived:class_keys": "class_keys files are moved into the table; commit not yet written",
    "derived:line_classes": "line_classes files are moved into the table; commit not yet written",
    "derived:gpu_hours": "gpu_hours files are moved into the table; commit not yet written",
    "derived:idle_episodes": "idle_episodes file is moved into the table; commit not yet written",
    "derived:unit_costs": "unit_costs file is moved into the table; commit not yet written",
    "derived:api_usage_parts": "api_usage_parts files are moved into the table; commit not "
    "yet written",
    "derived:gpu_buckets": "gpu_buckets files are moved into the table; commit not yet written",
    "derived:gpu_demand": "gpu_demand files are moved into the table; commit not yet written",
    "derived:gpu_owned_days": "gpu_owned_days files are moved into the table; commit not yet "
    "written",
    "derived:telemetry_monthly": "telemetry_monthly files are moved into the table; commit not "
    "yet written",
    # the cost-line rollups (models/rollups.py), one commit each
    **{
        f"derived:{name}": f"{name} files are moved into the table; commit not yet written"
        for name in (
            "spend_daily",
            "egress_daily",
            "tools_monthly",
            "tag_daily",
            "billed_periods",
            "top_lines_parts",
            "commitment_months",
        )
    },
}


def pause_point(point: str) -> None:
    """Stop here when FINOPS_TEST_PAUSE_AT names this point (a no-op otherwise)."""
    assert point in PAUSE_POINTS, point
    if os.environ.get("FINOPS_TEST_PAUSE_AT") == point:
        print(f"finops: paused at {point}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("FINOPS_TEST_PAUSE_S", "60")))
