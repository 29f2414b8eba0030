"""The dashboard never shows figures from stale derived data: one message instead, or, while a
writer holds the warehouse's lock, that a load is finishing."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest

from ingest.derive import refresh as derived
from ingest.warehouse.store import Store
from models.settings import Settings
from tests.fixtures.app_pages import app, no_errors
from tests.fixtures.batches import batch
from tests.fixtures.warehouse_state import serve

STALE = (
    "**Derived data is out of date**, so figures would be wrong: line_classes "
    "aws-cur2/111122223333/2026-11: its cost lines were loaded after the last classification; "
    "gpu_hours 2026-11: cost lines or telemetry of this month were loaded after it was built; "
    "spend_daily aws-cur2/111122223333/2026-11: its cost lines were loaded after it was built "
    "(and 7 more)"  # the other six cost-line rollups of the partition, and unit_costs
)


@pytest.fixture
def killed_before_refresh(
    built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The small warehouse, then a load committed whose refresh never ran."""
    root = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, root)
    Store(root).load_cost_lines([batch("2026-11", ["12.34"])])
    serve(monkeypatch, root)
    return root


def test_stale_derived_data_is_said_instead_of_figures(killed_before_refresh: Path) -> None:
    at = app()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"{STALE}. To repair it, run `finops vacuum` or ingest again; `finops classify` "
        "rebuilds everything."
    ]
    assert not at.metric  # no figure at all
    derived.refresh(Store(killed_before_refresh), Settings(), [])
    at = app()
    no_errors(at)
    assert at.metric


def test_while_a_writer_holds_the_lock_the_page_says_a_load_is_finishing(
    killed_before_refresh: Path,
) -> None:
    with (killed_before_refresh / ".writer.lock").open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # as Store.writer() holds it during the refresh
        try:
            at = app()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    assert not at.exception
    assert not at.error
    assert "A load is finishing; figures will refresh in a moment." in [i.value for i in at.info]
    assert not at.metric
    assert STALE in app().error[0].value  # released, and still stale: said so
