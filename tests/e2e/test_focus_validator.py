"""FOCUS 1.2 conformance of cost_lines, judged by the FinOps Foundation's focus-validator.

Every billing month of the sample enterprise (AWS, Azure, GCP, on-prem and SaaS lines, built
from sample_data/ as `finops demo` builds it) is exported with `finops export` and validated
as a whole. No MUST rule may fail, apart from the README's "Rules the validator gets wrong".
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dashboard.cli.export import write_focus_csv
from ingest.warehouse.connection import connect
from tests.conformance import validator

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

README = validator.REPO / "README.md"

# Commitment purchases still carry their amortised unused part as EffectiveCost; FOCUS wants
# EffectiveCost 0 on a purchase that covers future charges and the unused part as its own
# Usage row (CommitmentDiscountStatus "Unused"). Remove once the normalisers model that.


@pytest.fixture(scope="module")
def verdicts(
    sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, dict[str, str]]]:
    """Month -> (lines exported, the validator's status of each rule)."""
    if problem := validator.installed():
        pytest.fail(problem)
    con = connect(sample_warehouse, derived=False)
    months = [
        m
        for (m,) in con.execute(
            "SELECT DISTINCT strftime(BillingPeriodStart, '%Y-%m') FROM cost_lines ORDER BY 1"
        ).fetchall()
    ]
    root = tmp_path_factory.mktemp("focus")
    lines = {}
    for month in months:
        with (root / f"{month}.csv").open("w", encoding="utf-8", newline="") as out:
            lines[month] = write_focus_csv(con, month, out)
    con.close()

    def judge(month: str) -> dict[str, str]:
        return validator.run(root / f"{month}.csv", root / month)

    with ThreadPoolExecutor(max_workers=2) as pool:  # the machine's two cores
        found = dict(zip(months, pool.map(judge, months), strict=True))
    return {m: (lines[m], found[m]) for m in months}


@pytest.fixture(scope="module")
def model() -> dict[str, validator.Rule]:
    return validator.rule_model()


def test_every_month_is_judged(verdicts: dict, sample_truth: dict) -> None:
    assert list(verdicts) == [f"{y}-{m:02d}" for y, m in [(2025, 11), (2025, 12)]] + [
        f"2026-{m:02d}" for m in range(1, 11)
    ]
    for month, (lines, found) in verdicts.items():
        assert lines > 5_000, month
        passed = [r for r, s in found.items() if s == "passed"]
        # The rules that apply to our columns run and pass; a file the validator could not
        # read would pass none of them.
        assert len(passed) >= 120, (month, len(passed))
        for rule in ("BilledCost-C-005-C", "ChargeDescription-C-003-O", "PricingUnit-C-006-C"):
            assert found[rule] == "passed", (month, rule)


def test_no_must_rule_fails(verdicts: dict, model: dict[str, validator.Rule]) -> None:
    excused = validator.allowed(README)
    failing = {}
    for month, (_, found) in verdicts.items():
        for rule_id in validator.must_failures(found, model):
            if rule_id not in excused:
                failing.setdefault(rule_id, []).append(month)
    assert not failing, "\n".join(
        f"{rule_id} ({model[rule_id].keyword}) fails in {', '.join(months)}: "
        f"{model[rule_id].text} — see the violations with: "
        + " ".join(validator.command(Path(f"<{months[0]}.csv>"), "--show-violations"))
        for rule_id, months in failing.items()
    )


def test_every_excused_rule_still_fails(verdicts: dict, model: dict[str, validator.Rule]) -> None:
    """An excuse that is no longer needed goes: the README stays true."""
    excused = validator.allowed(README)
    assert {"InvoiceId-C-003-C", "EffectiveCost-C-005-C"} <= set(excused)
    failing = {r for _, found in verdicts.values() for r in validator.must_failures(found, model)}
    assert not set(excused) - failing, f"these rules pass now: drop them {set(excused) - failing}"


def test_invoice_ids_within_each_source(sample_warehouse: Path) -> None:
    """The InvoiceId rule as FOCUS means it, for each data generator: the lines of an invoiced
    source carry their invoice id, the others (on-prem; the sample's Azure files, whose
    InvoiceId is empty; GCP's export, which names no invoice) have none. Never a mix within
    one source and month."""
    con = connect(sample_warehouse, derived=False)
    rows = con.execute(
        "SELECT x_Source, strftime(BillingPeriodStart, '%Y-%m') AS month, "
        "count(InvoiceId) AS invoiced, count(*) AS n FROM cost_lines GROUP BY ALL"
    ).fetchall()
    mixed = [r for r in rows if 0 < r[2] < r[3]]
    assert not mixed, mixed
    invoiced = {source for source, _, k, _ in rows if k}
    assert invoiced == {"aws-cur2", "saas"}
    assert json.dumps(sorted({r[0] for r in rows})) == json.dumps(
        ["aws-cur2", "azure-cost-details", "gcp-bq", "onprem", "saas"]
    )


def test_commitment_purchases_cover_future_charges(sample_warehouse: Path) -> None:
    """EffectiveCost-C-005-C as FOCUS states it: a commitment purchase (it covers future
    charges) is at EffectiveCost 0, its cost reaching the usage it covers and its Unused line;
    a subscription purchase covers nothing else, so its amortised cost is its billed cost."""
    con = connect(sample_warehouse, derived=False)
    rows = con.execute(
        "SELECT CommitmentDiscountId IS NOT NULL AS commitment, count(*) AS n, "
        "count(*) FILTER (WHERE EffectiveCost <> 0) AS not_zero, "
        "count(*) FILTER (WHERE EffectiveCost <> BilledCost) AS not_billed "
        "FROM cost_lines WHERE ChargeCategory = 'Purchase' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    by_kind = {row[0]: row[1:] for row in rows}
    assert set(by_kind) == {False, True}  # the sample has both kinds
    assert by_kind[True][0] > 0 and by_kind[True][1] == 0  # commitments: EffectiveCost 0
    assert by_kind[False][2] == 0  # subscriptions: amortised = billed
