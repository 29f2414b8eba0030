"""Line classes of the whole sample warehouse against their polars definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.derive.classified import rulebook
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.oracles.classify import classify

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.slow
def test_sample_warehouse_classes_equal_the_polars_definition(sample_warehouse: Path) -> None:
    """Every line of the sample enterprise (all providers, on-prem, SaaS)."""
    views.register_all(Settings())
    con = connect(sample_warehouse)
    lines = con.sql("select * from cost_lines").pl()
    stored = con.sql("select * from classifications").pl().sort("x_LineId")
    book = rulebook(Settings())
    want = (
        classify(lines.lazy(), book.ruleset, book.settings, book.catalogue, book.tools)
        .collect()
        .sort("x_LineId")
    )
    assert stored.height == lines.height == want.height
    assert stored.select(want.columns).equals(want)
