"""The sample warehouse's commitments against the planted truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures.commitments import cents, planted

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
    got = {
        (str(r["period"])[:7], r["commitment_id"]): r
        for r in rows.iter_rows(named=True)
        if r["used"] or r["unused"]
    }
    want = planted(sample_truth)
    assert set(got) == set(want)
    for key, c in want.items():
        assert cents(got[key]["unused"]) == cents(c["unused"]), key
        assert got[key]["utilisation"] == pytest.approx(float(c["utilisation"]), abs=5e-7), key
