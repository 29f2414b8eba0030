"""Reading focus-validator's verdict: which failed rules are MUST failures; the README's excuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.validator import REPO, Rule, allowed, must_failures, statuses

MODEL = {
    r.id: r
    for r in (
        Rule("Cost-C-000-M", "MUST", "Cost adheres to:", "AND", ("Cost-C-001-M", "Cost-C-002-O")),
        Rule("Cost-C-001-M", "MUST", "Cost MUST be a decimal.", None, ()),
        Rule("Cost-C-002-O", "SHOULD", "Cost SHOULD be positive.", None, ()),
        Rule("Id-C-003-C", "MUST", "Id nullability:", "OR", ("Id-C-004-C", "Id-C-005-C")),
        Rule("Id-C-004-C", "MUST", "Id MUST be null when ...", None, ()),
        Rule("Id-C-005-C", "MUST NOT", "Id MUST NOT be null when ...", None, ()),
        Rule("Unit-C-006-C", "MUST NOT", "Unit MUST NOT be null when ...", None, ()),
    )
}


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        # A SHOULD fails: its AND parent fails with it, yet no MUST is broken.
        ({"Cost-C-000-M": "failed", "Cost-C-001-M": "passed", "Cost-C-002-O": "failed"}, []),
        # A MUST part fails: the part is the failure, not the AND that holds it.
        ({"Cost-C-000-M": "failed", "Cost-C-001-M": "failed"}, ["Cost-C-001-M"]),
        # One alternative of an OR holds: the other failing is no failure.
        ({"Id-C-003-C": "passed", "Id-C-004-C": "passed", "Id-C-005-C": "failed"}, []),
        # No alternative holds: the OR is the failure.
        ({"Id-C-003-C": "failed", "Id-C-004-C": "failed", "Id-C-005-C": "failed"}, ["Id-C-003-C"]),
        # A MUST NOT the validator could not run counts; skipped rules do not.
        ({"Unit-C-006-C": "errored", "Cost-C-001-M": "skipped"}, ["Unit-C-006-C"]),
    ],
)
def test_must_failures(found: dict[str, str], expected: list[str]) -> None:
    assert must_failures(found, MODEL) == expected


def test_statuses_from_the_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="FOCUS Validations" tests="3" failures="1" errors="0" skipped="1">
  <testsuite name="Cost-C-Cost" time="0">
    <testcase name="Cost-C-001-M :: Type" time="0" />
    <testcase name="Cost-C-002-O :: Validation" time="0">
      <failure name="Cost-C-002-O" message="..." type="AssertionError">Failed</failure>
    </testcase>
    <testcase name="Cost-C-003-C :: Validation" time="0"><skipped message="..." /></testcase>
  </testsuite>
</testsuites>""",
        encoding="utf-8",
    )
    assert statuses(report) == {
        "Cost-C-001-M": "passed",
        "Cost-C-002-O": "failed",
        "Cost-C-003-C": "skipped",
    }


def test_the_readme_gives_a_reason_for_each_excused_rule() -> None:
    excused = allowed(REPO / "README.md")
    assert set(excused) == {"InvoiceId-C-003-C", "EffectiveCost-C-005-C"}
    assert all(len(reason) > 40 for reason in excused.values())


def test_a_readme_without_the_section_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no '### Rules the validator gets wrong' section"):
        allowed(readme)
