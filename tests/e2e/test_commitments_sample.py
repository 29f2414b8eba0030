"""Acceptance on the sample enterprise (the warehouse `make demo` builds): every commitment's
unused amount and utilisation in the finance pack and on the Commitments page equal the planted
truth to the cent, and unused GPU commitments are GPU compute inside AI spend on the Overview."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.report.pack import build_pack
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures.app_pages import app, helps, no_errors, page, usd
from tests.fixtures.commitments import cents, planted
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse

# The pack is built for these months only: together they hold every kind of commitment, used
# and unused (October adds the Azure reservation's and the L4 CUD's unused hours). The
# Commitments page and test_commitments_truth.py check every month against the truth.
PACK_MONTHS = ("2026-09", "2026-10")


@pytest.fixture
def enterprise(sample_warehouse: Path, sample_truth: dict) -> tuple[Path, dict]:
    if "commitments" not in sample_truth:
        pytest.skip("sample_data/truth.json predates commitments: regenerate sample_data")
    return sample_warehouse, sample_truth


@pytest.fixture
def served(enterprise, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    serve(monkeypatch, enterprise[0])
    return enterprise


def test_truth_states_every_commitment_of_the_sample(enterprise) -> None:
    _, truth = enterprise
    commitments = truth["commitments"]
    kinds = {(c["provider"], c["type"]) for c in commitments}
    assert kinds == {
        ("AWS", "Savings Plan"),
        ("AWS", "Reserved Instance"),
        ("Microsoft", "Reservation"),
        ("Microsoft", "Savings Plan"),
        ("Google Cloud", "Committed Use Discount"),
    }
    for c in commitments:
        assert Decimal(c["used"]) + Decimal(c["unused"]) == Decimal(c["purchase"])
    # the unused p5 Savings Plan is real waste, and it is on GPUs
    sp = [c for c in commitments if c["type"] == "Savings Plan" and c["provider"] == "AWS"]
    assert any(Decimal(c["unused"]) > 0 for c in sp) and all(c["gpu"] for c in sp)
    # the L4 CUD starts with its month, the L4 service two weeks later: those hours are unused
    (cud,) = [c for c in commitments if c["provider"] == "Google Cloud"]
    assert cud["gpu"] and 0 < Decimal(cud["unused"]) < Decimal(cud["purchase"])


def test_pack_commitments_equal_the_truth_to_the_cent(enterprise, tmp_path: Path) -> None:
    root, truth = enterprise
    want = {k: c for k, c in planted(truth).items() if k[0] in PACK_MONTHS}
    # every kind of commitment, and unused amounts of GPU and of other commitments
    assert {(c["provider"], c["type"]) for c in want.values()} == {
        (c["provider"], c["type"]) for c in truth["commitments"]
    }
    assert sum(bool(Decimal(c["unused"])) for c in want.values()) >= 4
    got: dict[tuple[str, str], dict] = {}
    for month in PACK_MONTHS:
        pack = build_pack(root, month, formats="csv", out_dir=tmp_path / month)
        for row in pack.sections["commitments"].frame.iter_rows(named=True):
            if row["billed_cost"] or row["used_cost"] or row["unused_cost"]:
                got[(month, row["commitment_id"])] = row
    assert set(got) == set(want)
    for key, c in want.items():
        row = got[key]
        assert cents(row["unused_cost"]) == cents(c["unused"]), key
        assert cents(row["used_cost"]) == cents(c["used"]), key
        assert cents(row["billed_cost"]) == cents(c["purchase"]), key
        assert row["utilisation"] == pytest.approx(float(c["utilisation"]), abs=5e-7), key
        assert row["gpu"] is c["gpu"], key


def test_commitments_page_equals_the_truth_to_the_cent(served) -> None:
    _, truth = served
    want = planted(truth)
    at = page(app(), "commitments")
    no_errors(at)
    (table,) = [d.value for d in at.dataframe if "commitment_id" in d.value.columns]
    got = {
        (str(r["month"])[:7], r["commitment_id"]): r
        for r in table.to_dict("records")
        if Decimal(str(r["used"])) or Decimal(str(r["unused"]))
    }
    assert set(got) == set(want)
    for key, c in want.items():
        assert cents(got[key]["unused"]) == cents(c["unused"]), key
        # shown as a percentage with one decimal: 93.6, not 0.936123
        shown = float(c["utilisation"]) * 100
        assert got[key]["utilisation"] == pytest.approx(shown, abs=0.05 + 1e-9), key
    unused = sum((Decimal(c["unused"]) for c in want.values()), Decimal(0))
    sentence = " ".join(m.value for m in at.markdown)
    assert f"{usd(unused)} (" in sentence and "went unused" in sentence
    assert helps(at)["Unused commitment"] == f"{usd(unused)} exactly"


def test_unused_gpu_commitments_are_ai_spend_on_the_overview(served) -> None:
    root, truth = served
    views.register_all(Settings())
    con = connect(root)
    rows = con.execute(
        "SELECT strftime(BillingPeriodStart, '%Y-%m'), CommitmentDiscountId, x_AiClass, "
        "x_AiClassRule, sum(EffectiveCost) FROM classified_costs "
        "WHERE CommitmentDiscountStatus = 'Unused' GROUP BY ALL"
    ).fetchall()
    gpu = {k: c for k, c in planted(truth).items() if c["gpu"] and Decimal(c["unused"])}
    assert gpu
    assert {(m, i): (cls, rule) for m, i, cls, rule, _ in rows} == {
        k: ("gpu_compute", "commitment.unused_gpu") for k in gpu
    }
    assert {(m, i): cents(v) for m, i, _, _, v in rows} == {
        k: cents(c["unused"]) for k, c in gpu.items()
    }
    # Unused rows never count as GPU-hours
    ((hours,),) = con.execute(
        "SELECT count(*) FROM gpu_hours g JOIN classified_costs c ON g.resource_id = c.ResourceId "
        "WHERE c.CommitmentDiscountStatus = 'Unused'"
    ).fetchall()
    assert hours == 0
    ((ai,),) = con.execute(
        "SELECT sum(EffectiveCost) FROM classified_costs WHERE BillingCurrency = 'USD' "
        "AND x_AiClass NOT IN ('cpu_compute', 'other')"
    ).fetchall()
    overview = app()
    no_errors(overview)
    assert helps(overview)["AI spend"] == f"{usd(ai)} exactly"
