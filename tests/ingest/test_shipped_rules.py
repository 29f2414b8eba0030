"""The rule files shipped with the product, read as ingest reads them."""

from __future__ import annotations

import pytest

from ingest.derive.classified import shipped_rules
from models.errors import ConfigError
from models.rules import ClassifySettings, build_ruleset
from tests.fixtures.rule_files import GOOD, parse


def test_every_shipped_rule_parses_and_has_a_unique_id() -> None:
    rules = shipped_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids)) > 60
    assert {"fallback.other", "workload.fallback"} <= set(ids)


def test_user_rules_override_and_disable_shipped_ones() -> None:
    shipped = shipped_rules()
    mine = parse(GOOD.replace("acme.egress.vpn", "aws.egress.internet"))
    rs = build_ruleset(shipped, [mine], ClassifySettings(disable=["aws.egress.cdn"]))
    assert rs.by_id("aws.egress.internet").priority == 700
    assert rs.by_id("aws.egress.cdn") is None
    with pytest.raises(ConfigError, match=r'did you mean "aws\.egress\.cdn"'):
        build_ruleset(shipped, [], ClassifySettings(disable=["aws.egress.cnd"]))
