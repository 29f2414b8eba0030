"""The sample warehouse's commitments against the planted truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures.commitments import shown_against_planted

pytestmark = pytest.mark.slow  # needs the built sample warehouse


def test_committed_sample_commitments_equal_its_truth(
    sample_warehouse: Path, sample_truth: dict
) -> None:
    """The demo's own sample (sample_data/), once its truth.json states commitments."""
    if "commitments" not in sample_truth:
        pytest.skip("sample_data/truth.json predates commitments: regenerate sample_data")
    from dashboard.queries.commitments import summary

    views.register_all(Settings())
    rows = summary(connect(sample_warehouse), currency="USD")
    for shown, c in shown_against_planted(rows, sample_truth):
        assert shown["utilisation"] == pytest.approx(float(c["utilisation"]), abs=5e-7), c
