"""While an ingest rewrites a month, the dashboard keeps answering, each time from one whole
snapshot (the old month or the new one, never a mix), and shows the new one once committed."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest.derive import refresh as derived
from ingest.warehouse.load_contract import PeriodLoad, SourceFile
from ingest.warehouse.store import Store
from models.settings import Settings
from tests.fixtures.served import REPO, Served
from tests.fixtures.small_warehouse import OCT, build, cost_frame

pytestmark = pytest.mark.slow

LINES = 400_000  # enough that the rewrite takes seconds on a small machine
OLD = "USD 1,787.45"
# September 329.15 + Azure October 310 + the restated AWS October: 400,000 x USD 0.01.
NEW = "USD 4,639.15"


def restated_october() -> PeriodLoad:
    rows = [{"start": OCT, "cost": "0.01", "usage": "USE1-BoxUsage:m5.large",
             "resource": "i-web", "service": "Amazon Elastic Compute Cloud"}]  # fmt: skip
    one = cost_frame(OCT, rows, "AWS").collect()
    lines = (
        pl.concat([one] * LINES)
        .with_columns(
            (pl.lit(OCT) + pl.duration(minutes=pl.int_range(pl.len()) % (30 * 24 * 60)))
            .dt.truncate("1h")
            .alias("ChargePeriodStart")
        )
        .with_columns((pl.col("ChargePeriodStart") + timedelta(hours=1)).alias("ChargePeriodEnd"))
    )
    return PeriodLoad("aws-cur2", "412395078111", "2026-10", "USD",
                      [SourceFile("aws-cur2-2026-10-restated", "r" * 64, 1)], lines.lazy(),
                      Decimal("0.01") * LINES)  # fmt: skip


def spend_shown(page, url: str) -> str:
    page.goto(url)
    tile = page.locator('[data-testid="stMetric"]', has_text="Spend in the period")
    tile.locator('[data-testid="stMetricValue"]').wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    return tile.locator('[data-testid="stMetricValue"]').inner_text().strip()


def rewrite(root: Path) -> None:
    """What `finops ingest aws` does with a restated month: load it, refresh derived data."""
    store = Store(root)
    derived.refresh(store, Settings(), store.load_cost_lines([restated_october()]))


def test_dashboard_answers_while_a_month_is_rewritten(browser, tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    build(root)
    with Served(root) as served:
        page = browser.new_page()
        assert spend_shown(page, served.url) == OLD
        # The ingest runs as its own process, as `finops ingest` does beside `finops dashboard`.
        where = str(root)
        code = f"from {__name__} import rewrite; import pathlib; rewrite(pathlib.Path({where!r}))"
        ingest = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
        during = []
        while ingest.poll() is None:
            shown = spend_shown(page, served.url)
            during.append((shown, ingest.poll() is None))  # answered before the ingest ended
        assert ingest.wait() == 0
        assert sum(busy for _, busy in during) >= 2, f"too few answers during the ingest: {during}"
        assert {shown for shown, _ in during} <= {OLD, NEW}, during
        assert spend_shown(page, served.url) == NEW
        page.close()
