"""A repeated fleet (the scale benchmark's GPU count) buys commitments for its copies: AWS
never applies a commitment beyond what was bought, so no month uses more than its purchase and
no unused part is negative (a negative one became an Unused line of negative cost, and the
Overview's untagged spend went below zero at scale)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ingest.sample.generator import generate
from tests.sample.file_sums import commitment_sums

SP = "savingsplan/"
RI = "reserved-instances/"


def _aws(root: Path, fleet: int) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    truth = generate(root, months=2, scale=1, fleet=fleet, providers=("aws",), telemetry=False)
    stated = {(c["billing_period"], c["commitment_id"]): c for c in truth["commitments"]}
    files = commitment_sums(root)  # read from the CUR files alone
    assert files.keys() == stated.keys()
    for key, (purchase, unused) in files.items():
        assert Decimal(0) <= unused <= purchase, key
        used = Decimal(stated[key]["used"])
        assert Decimal(0) <= used <= Decimal(stated[key]["purchase"]), key
    return files


def test_a_repeated_fleet_never_uses_more_than_it_committed(tmp_path: Path) -> None:
    one = _aws(tmp_path / "one", 1)
    three = _aws(tmp_path / "three", 3)
    plans = {k: v for k, v in three.items() if SP in k[1]}
    assert sorted(p for p, _ in plans) == ["2026-09", "2026-10"]  # one plan, sized for 3 copies
    for key, (purchase, _) in plans.items():
        assert purchase == 3 * one[key][0], key
    reservations = {arn for _, arn in three if RI in arn}
    assert len(reservations) == 3  # one per copy of the reserved instance
    assert len({arn for _, arn in one if RI in arn}) == 1
