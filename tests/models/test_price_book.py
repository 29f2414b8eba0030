"""The price book: shipped defaults are complete and dated; overrides are strict."""

from __future__ import annotations

from datetime import date

import pytest

from models.errors import ConfigError
from models.price_book import (
    CONFIDENCE,
    PRICING_MODELS,
    RentOption,
    default_price_book,
    parse_price_book,
)

GOOD = {
    "facility": {
        "pue": {"value": 1.4, "unit": "ratio", "source": "Uptime", "as_of": date(2024, 1, 1)},
    }
}


def _entry(**kw):
    e = {"value": 1.0, "unit": "ratio", "source": "s", "as_of": date(2024, 1, 1), "confidence": "B"}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def test_every_default_entry_is_sourced_dated_and_rated():
    book = default_price_book()
    for e in book.entries.values():
        assert e.source and isinstance(e.as_of, date) and e.confidence in CONFIDENCE[:3], e.key
        assert e.value >= 0


@pytest.mark.parametrize("gpu", ["H100", "H200", "A100"])
def test_defaults_cover_each_node_and_the_three_clouds(gpu):
    book = default_price_book()
    assert gpu in book.gpu_models()
    opts = book.rent_options(gpu)
    assert all(isinstance(o, RentOption) and o.pricing_model in PRICING_MODELS for o in opts)
    providers = {o.provider for o in opts}
    assert {"AWS", "Google Cloud"} <= providers
    assert providers - {"AWS", "Microsoft", "Google Cloud"}, "a specialist GPU cloud"
    assert [o.value for o in opts] == sorted(o.value for o in opts)
    aws = {o.pricing_model for o in opts if o.provider == "AWS"}
    assert {"on_demand", "commit_1y", "commit_3y", "spot"} <= aws


def test_h100_defaults_match_the_reference_table():
    book = default_price_book()
    assert book.value("rent.H100.aws_p5_on_demand") == 6.88
    assert book.entry("rent.H100.aws_p5_on_demand").as_of == date(2025, 11, 30)
    assert book.value("rent.H100.azure_nd_h100_v5_on_demand") == 12.29
    assert book.value("rent.H100.lambda_on_demand") == 3.99
    assert book.value("facility.colo_usd_per_kw_month") == 184.06
    assert book.entry("node.H100.server_capex").confidence == "B"


def test_override_replaces_value_source_and_date():
    book = default_price_book().with_overrides(
        {"facility": {"usd_per_kwh": {"value": 0.12, "source": "PPA", "as_of": "2026-02-01"}}}
    )
    e = book.entry("facility.usd_per_kwh")
    assert (e.value, e.source, e.as_of, e.confidence, e.unit) == (
        0.12,
        "PPA",
        date(2026, 2, 1),
        "user",
        "USD/kWh",
    )
    assert default_price_book().value("facility.usd_per_kwh") == 0.09  # defaults untouched


def test_override_by_dotted_key_and_a_new_rent_option():
    book = default_price_book().with_overrides(
        {
            "rent.H100.aws_p5_on_demand": {"value": 6.0, "source": "EDP", "as_of": "2026-01-01"},
            "rent.H100.our_contract": {
                "value": 1.9,
                "source": "signed contract",
                "as_of": "2026-03-01",
                "provider": "Acme GPU",
                "sku": "8xH100",
                "region": "us",
                "pricing_model": "commit_1y",
            },
        }
    )
    assert book.value("rent.H100.aws_p5_on_demand") == 6.0
    new = book.entry("rent.H100.our_contract")
    assert isinstance(new, RentOption) and new.committed and new.confidence == "user"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"facility.usd_per_kwh": {"value": 0.1}}, "has no source"),
        ({"facility.usd_per_kwh": {"value": 0.1, "source": "x"}}, "has no as_of"),
        ({"facility.usd_per_kwh": 0.1}, "must be a table"),
        (
            {"facility.usd_per_kwh": {"value": -0.1, "source": "x", "as_of": "2026-01-01"}},
            ">= 0",
        ),
        ({"facility.pue": {"value": 0.9, "source": "x", "as_of": "2026-01-01"}}, "out of range"),
        (
            {"finance.life_years": {"value": 0, "source": "x", "as_of": "2026-01-01"}},
            "out of range",
        ),
        ({"facility.usd_per_kwh": {"value": 0.1, "source": "x", "as_of": "soon"}}, "as_of"),
        (
            {"facility.usd_per_kwhr": {"value": 0.1, "source": "x", "as_of": "2026-01-01"}},
            "unknown",
        ),
        (
            {"facility.usd_per_kwh": {"value": 0.1, "source": "x", "as_of": "2026-01-01", "u": 1}},
            "unknown field",
        ),
        (
            {
                "facility.usd_per_kwh": {
                    "value": 1,
                    "unit": "EUR",
                    "source": "x",
                    "as_of": "2026-01-01",
                }
            },
            "changes its unit",
        ),
    ],
)
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        default_price_book().with_overrides(overrides)


def test_unknown_key_names_valid_keys_and_did_you_mean():
    with pytest.raises(ConfigError) as err:
        default_price_book().with_overrides(
            {"facility.usd_per_kwhr": {"value": 0.1, "source": "x", "as_of": "2026-01-01"}}
        )
    text = str(err.value)
    assert 'did you mean "facility.usd_per_kwh"' in text
    assert "facility.pue" in text


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry(source=None), "has no source"),
        (_entry(as_of=None), "has no as_of"),
        (_entry(source="  "), "source must be non-empty"),
        (_entry(unit="furlongs"), "unknown unit"),
        (_entry(confidence="Z"), "unknown confidence"),
        (_entry(value="1.4"), "must be a number"),
        (_entry(value=-3), ">= 0"),
    ],
)
def test_bad_entries_in_a_price_book_are_clear_errors(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_price_book({"facility": {"pue_x": entry}})


def test_rent_entries_must_be_per_gpu_hour_and_complete():
    rent = {
        "value": 3.0,
        "unit": "USD/GPU-hour",
        "source": "s",
        "as_of": date(2025, 1, 1),
        "confidence": "A",
        "provider": "X",
        "sku": "y",
        "region": "r",
        "pricing_model": "on_demand",
    }
    book = parse_price_book({"rent": {"H100": {"x": rent}}})
    assert book.rent_options("h100")[0].provider == "X"
    with pytest.raises(ConfigError, match="per GPU-hour"):
        parse_price_book({"rent": {"H100": {"x": {**rent, "unit": "USD"}}}})
    with pytest.raises(ConfigError, match="unknown pricing_model"):
        parse_price_book({"rent": {"H100": {"x": {**rent, "pricing_model": "ondemand"}}}})
    with pytest.raises(ConfigError, match="has no provider"):
        parse_price_book({"rent": {"H100": {"x": {**rent, "provider": ""}}}})


def test_an_empty_price_book_is_an_error():
    with pytest.raises(ConfigError, match="no entries"):
        parse_price_book({})
