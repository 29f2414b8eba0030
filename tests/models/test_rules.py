"""Rule files are parsed strictly: every mistake is one clear ConfigError."""

from __future__ import annotations

import pytest

from models.errors import ConfigError
from tests.fixtures.rule_files import GOOD, parse


def test_a_good_rule_file_parses() -> None:
    (rule,) = parse(GOOD)
    assert (rule.id, rule.priority, rule.sets) == (
        "acme.egress.vpn",
        700,
        {"ai_class": "egress", "egress_kind": "interconnect"},
    )
    assert [(c.field, c.op) for c in rule.conditions] == [
        ("x_UsageType", "regex"),
        ("ProviderName", "eq"),
    ]


BAD = [
    ('[[rules]]\nid = "a"\npriority = 1\nmatch.x_UsageType = { regex = "(" }\n'
     'set = { ai_class = "egress" }', "invalid regex — expected a pattern in Rust regex syntax "
     "(no look-around), found '(' — unclosed group"),
    ('[[rules]]\nid = "a"\npriority = 1\nmatch.x_UsageType = { regex = "(?<=x)y" }\n'
     'set = { ai_class = "egress" }', "found '(?<=x)y' — look-around"),
    ('[[rules]]\nid = "a"\nprioirty = 1\nset = { ai_class = "egress" }', 'did you mean "priority"'),
    ('[[rules]]\nid = "a"\npriority = 1\nmatch.x_UsageTyp = "x"\nset = { ai_class = "egress" }',
     'did you mean "x_UsageType"'),
    ('[[rules]]\nid = "a"\npriority = 1\nmatch.x_UsageType = { regexp = "x" }\n'
     'set = { ai_class = "egress" }', 'did you mean "regex"'),
    ('[[rules]]\nid = "a"\npriority = 1\nset = { ai_class = "egres" }', 'did you mean "egress"'),
    ('[[rules]]\nid = "a"\npriority = 1\nset = { workload = "trainig" }',
     'did you mean "training"'),
    ('[[rules]]\nid = "a"\npriority = 1\nset = { aiclass = "egress" }', 'did you mean "ai_class"'),
    ('[[rules]]\nid = "a"\npriority = 1\nset = { ai_class = "other", egress_kind = "cdn" }',
     "only meaningful"),
    ('[[rules]]\nid = "a"\npriority = "high"\nset = { ai_class = "other" }',
     "priority must be an integer"),
    ('[[rules]]\npriority = 1\nset = { ai_class = "other" }', "needs an id"),
    ('[[rules]]\nid = "a"\npriority = 1\nset = {}', "set must name"),
    ('[[rules]]\nid = "a"\npriority = 1\nmatch.x_GpuCount = { gt = "8" }\n'
     'set = { ai_class = "gpu_compute" }', "needs a number"),
    ('[[rules]]\nid = "a"\npriority = 1\nmatch.ResourceId = { in = [] }\n'
     'set = { ai_class = "other" }', "non-empty list"),
    ('[[rules]]\nid = "a"\npriority = 1\nset = { ai_class = "other" }\n'
     '[[rules]]\nid = "a"\npriority = 2\nset = { ai_class = "other" }', "duplicate rule id"),
    ('[[rule]]\nid = "a"', 'did you mean "rules"'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_rule_files_are_rejected_with_one_clear_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert message in info.value.render()
    assert info.value.file == "mine.toml"
