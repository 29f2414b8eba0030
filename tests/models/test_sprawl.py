"""Tool sprawl: families bought from two or more tools, spend, seats and the saving."""

from __future__ import annotations

import pytest

from models.errors import ConfigError
from models.sprawl import parse_tool_catalogue


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"families": {"x": {"label": "X"}}, "tools": [{"name": "A", "family": "y",
          "pattern": "a"}]}, "unknown family"),
        ({"families": {"x": {}}, "tools": [{"name": "A", "family": "x", "pattern": "("}]},
         "invalid regex"),
        ({"families": {"x": {"consolidation_rate": 1.5}}}, "within 0..1"),
        ({"familes": {}}, 'did you mean "families"'),
        ({"families": {"x": {}}, "tools": [{"name": "A", "family": "x"}]}, "exactly name"),
    ],
)  # fmt: skip
def test_bad_catalogues_are_rejected(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tool_catalogue(doc, "cat.toml")
