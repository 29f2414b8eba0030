"""The link price table: every price sourced (URL, date, region scope) or refused."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from importlib import resources

import pytest

from models.errors import ConfigError
from models.link_prices import default_link_prices, parse_link_prices


def _shipped() -> dict:
    text = resources.files("models").joinpath("link_prices.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_every_shipped_price_names_its_url_date_and_scope():
    prices = default_link_prices()
    assert len(prices.links) >= 4
    for link in prices.links:
        assert link.url.startswith("https://"), link.key
        assert isinstance(link.as_of, date) and link.as_of.year >= 2025, link.key
        assert len(link.scope) > 20, link.key


def test_the_published_direct_connect_10g_port_and_transfer_rates():
    dx = default_link_prices().for_provider("aws", 10)
    assert dx is not None
    assert (dx.port_usd_per_hour, dx.transfer_usd_per_gb) == (Decimal("2.25"), Decimal("0.02"))
    gcp = default_link_prices().for_provider("gcp", 10)
    assert gcp.hourly_usd == Decimal("2.428")  # 2.328 circuit + 0.10 VLAN attachment


@pytest.mark.parametrize("missing", ["url", "as_of", "scope"])
def test_a_price_without_its_source_is_refused(missing):
    doc = _shipped()
    del doc["link"]["aws_direct_connect_10g"][missing]
    with pytest.raises(ConfigError) as err:
        parse_link_prices(doc, origin="prices.toml")
    text = str(err.value)
    assert "prices.toml" in text and "aws_direct_connect_10g" in text and missing in text


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("url", "aws.amazon.com/directconnect/pricing", "https://"),
        ("as_of", "last week", "YYYY-MM-DD"),
        ("gbps", 0, "whole number"),
        ("port_usd_per_hour", -1, ">= 0"),
        ("provider", "oracle", "one of"),
        ("port_usd_per_houre", 1.0, "did you mean"),
    ],
)
def test_a_malformed_price_is_refused_with_what_was_expected(field, value, words):
    doc = _shipped()
    doc["link"]["aws_direct_connect_10g"][field] = value
    with pytest.raises(ConfigError, match=words):
        parse_link_prices(doc)
