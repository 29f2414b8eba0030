"""The price book: every own-vs-rent input as a dated, sourced value.

Prices move (AWS cut p5 by 44% in June 2025), so no price is a constant: each entry carries
value, unit, source, as_of and confidence (A vendor/catalog, B secondary, C placeholder,
"user" for an override). The shipped defaults live in `price_book.toml` beside this module
(gpu_economics.md §A2, §A6); users override entries from `finops.toml` or the dashboard.

Keys are dotted paths: `finance.life_years`, `facility.pue`, `node.H100.server_capex`,
`rent.H100.aws_p5_on_demand`. An override of a known key needs value, source and as_of; a
new key is accepted only as a new rent option (`rent.<GPU>.<name>`) that describes itself
fully. Anything else is rejected with the valid keys and a "did you mean".
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from importlib import resources
from typing import Any

from models.errors import ConfigError, did_you_mean

CURRENCY = "USD"  # every price in the book; measured costs in another currency are not compared
CONFIDENCE = ("A", "B", "C", "user")
PRICING_MODELS = ("on_demand", "spot", "commit_1y", "commit_3y", "capacity_block")
COMMITTED_MODELS = ("commit_1y", "commit_3y", "capacity_block")
UNITS = (
    "USD",
    "USD/GPU-hour",
    "USD/kW-month",
    "USD/kWh",
    "USD/year",
    "kW",
    "ratio",
    "fraction",
    "years",
    "GPUs",
)
_ENTRY_FIELDS = ("value", "unit", "source", "as_of", "confidence")
_RENT_FIELDS = ("provider", "sku", "region", "pricing_model")

# Domain limits by the last part of the key: (test, what is expected).
_LIMITS: dict[str, tuple[Any, str]] = {
    "life_years": (lambda v: v > 0, "a life greater than 0 years"),
    "residual_frac": (lambda v: 0 <= v < 1, "a fraction from 0 up to (not including) 1"),
    "wacc": (lambda v: 0 <= v < 1, "a rate from 0 up to (not including) 1, e.g. 0.08"),
    "pue": (lambda v: v >= 1, "a PUE of at least 1.0 (facility power over IT power)"),
    "gpus_per_node": (lambda v: v >= 1 and float(v).is_integer(), "a whole number of GPUs >= 1"),
}


@dataclass(frozen=True)
class PriceEntry:
    key: str
    value: float
    unit: str
    source: str
    as_of: date
    confidence: str


@dataclass(frozen=True)
class RentOption(PriceEntry):
    """A price per GPU-hour for renting one GPU model."""

    gpu: str
    name: str
    provider: str
    sku: str
    region: str
    pricing_model: str

    @property
    def committed(self) -> bool:
        """Billed whether used or not: compared with owning by annual cost."""
        return self.pricing_model in COMMITTED_MODELS


@dataclass(frozen=True)
class PriceBook:
    entries: Mapping[str, PriceEntry]

    def entry(self, key: str) -> PriceEntry:
        if key not in self.entries:
            raise ConfigError(
                f"no price book entry {key!r}{did_you_mean(key, list(self.entries))}",
                expected=f"one of {_same_group(key, self.entries)}",
                found=key,
            )
        return self.entries[key]

    def value(self, key: str) -> float:
        return self.entry(key).value

    def gpu_models(self) -> list[str]:
        return sorted({k.split(".")[1] for k in self.entries if k.startswith("node.")})

    def rent_options(self, gpu: str) -> list[RentOption]:
        """Rent options for `gpu` (case-insensitive), cheapest first."""
        opts = [
            e
            for e in self.entries.values()
            if isinstance(e, RentOption) and e.gpu.upper() == gpu.upper()
        ]
        return sorted(opts, key=lambda o: (o.value, o.key))

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "override") -> PriceBook:
        """A new book with `overrides` applied (nested tables or dotted keys)."""
        entries = dict(self.entries)
        for key, raw in _flatten(overrides, origin).items():
            base = entries.get(key)
            if base is None:
                entries[key] = _new_rent_option(key, raw, entries, origin)
            else:
                entries[key] = _override(base, raw, origin)
        return PriceBook(entries)


def parse_price_book(doc: Mapping[str, Any], origin: str = "price book") -> PriceBook:
    """Validate a price book document (the TOML structure) into a PriceBook."""
    entries: dict[str, PriceEntry] = {}
    for key, raw in _flatten(doc, origin).items():
        entries[key] = _parse_entry(key, raw, origin)
    if not entries:
        raise ConfigError("the price book has no entries", file=origin)
    return PriceBook(entries)


@functools.cache
def default_price_book() -> PriceBook:
    """The shipped defaults (package data, read on first use, never at import)."""
    text = resources.files("models").joinpath("price_book.toml").read_text(encoding="utf-8")
    return parse_price_book(tomllib.loads(text), origin="models/price_book.toml")


def _flatten(doc: Mapping[str, Any], origin: str, prefix: str = "") -> dict[str, dict]:
    """Dotted key -> entry table; a table holding `value` is an entry."""
    out: dict[str, dict] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and "value" in v:
            out[key] = dict(v)
        elif isinstance(v, Mapping):
            out.update(_flatten(v, origin, prefix=f"{key}."))
        else:
            raise ConfigError(
                f"price book entry {key!r} must be a table with value, source and as_of",
                file=origin,
                expected='{ value = 0.12, source = "where it comes from", as_of = 2026-01-01 }',
                found=repr(v),
            )
    return out


def _parse_entry(key: str, raw: dict, origin: str) -> PriceEntry:
    is_rent = key.startswith("rent.")
    allowed = _ENTRY_FIELDS + (_RENT_FIELDS if is_rent else ())
    _reject_unknown_fields(key, raw, allowed, origin)
    for name in ("unit", "source", "as_of", "confidence") + (_RENT_FIELDS if is_rent else ()):
        if raw.get(name) in (None, ""):
            raise ConfigError(
                f"price book entry {key!r} has no {name}",
                file=origin,
                expected=f"every entry to give {', '.join(allowed)}",
                hint="a price without a source and a date cannot be checked or refreshed",
            )
    common = dict(
        key=key,
        value=_check_value(key, raw["value"], origin),
        unit=_check_choice(key, "unit", raw["unit"], UNITS, origin),
        source=_check_text(key, "source", raw["source"], origin),
        as_of=_check_date(key, raw["as_of"], origin),
        confidence=_check_choice(key, "confidence", raw["confidence"], CONFIDENCE, origin),
    )
    if not is_rent:
        return PriceEntry(**common)
    parts = key.split(".")
    if len(parts) != 3:
        raise ConfigError(
            f"rent option key {key!r} must be rent.<GPU>.<name>", file=origin, found=key
        )
    if common["unit"] != "USD/GPU-hour":
        raise ConfigError(
            f"rent option {key!r} must be priced per GPU-hour",
            file=origin,
            expected="unit = 'USD/GPU-hour'",
            found=common["unit"],
        )
    return RentOption(
        **common,
        gpu=parts[1],
        name=parts[2],
        provider=_check_text(key, "provider", raw["provider"], origin),
        sku=_check_text(key, "sku", raw["sku"], origin),
        region=_check_text(key, "region", raw["region"], origin),
        pricing_model=_check_choice(
            key, "pricing_model", raw["pricing_model"], PRICING_MODELS, origin
        ),
    )


def _override(base: PriceEntry, raw: dict, origin: str) -> PriceEntry:
    key = base.key
    allowed = ("value", "source", "as_of", "confidence", "unit")
    _reject_unknown_fields(key, raw, allowed, origin)
    for name in ("source", "as_of"):
        if raw.get(name) in (None, ""):
            raise ConfigError(
                f"override of {key!r} has no {name}",
                file=origin,
                expected='{ value = ..., source = "your quote or invoice", as_of = 2026-01-01 }',
                hint="every price carries where it came from and when",
            )
    if "unit" in raw and raw["unit"] != base.unit:
        raise ConfigError(
            f"override of {key!r} changes its unit",
            file=origin,
            expected=base.unit,
            found=str(raw["unit"]),
        )
    return replace(
        base,
        value=_check_value(key, raw["value"], origin),
        source=_check_text(key, "source", raw["source"], origin),
        as_of=_check_date(key, raw["as_of"], origin),
        confidence=_check_choice(
            key, "confidence", raw.get("confidence", "user"), CONFIDENCE, origin
        ),
    )


def _new_rent_option(key: str, raw: dict, entries: Mapping[str, PriceEntry], origin: str):
    if not key.startswith("rent.") or not all(f in raw for f in _RENT_FIELDS):
        raise ConfigError(
            f"unknown price book key {key!r}{did_you_mean(key, list(entries))}",
            file=origin,
            expected=f"one of {_same_group(key, entries)}",
            found=key,
            hint="to add a rent option give rent.<GPU>.<name> with value, unit, source, as_of, "
            "provider, sku, region and pricing_model",
        )
    return _parse_entry(key, {"confidence": "user", "unit": "USD/GPU-hour", **raw}, origin)


def _reject_unknown_fields(key: str, raw: dict, allowed: tuple[str, ...], origin: str) -> None:
    for name in raw:
        if name not in allowed:
            raise ConfigError(
                f"unknown field {name!r} in price book entry {key!r}{did_you_mean(name, allowed)}",
                file=origin,
                expected=f"one of {list(allowed)}",
                found=name,
            )


def _check_value(key: str, value: Any, origin: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{key} must be a number", file=origin, expected="a number", found=repr(value)
        )
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ConfigError(
            f"{key} must be a finite number >= 0", file=origin, expected=">= 0", found=repr(value)
        )
    leaf = key.rsplit(".", 1)[-1]
    if leaf in _LIMITS and not _LIMITS[leaf][0](v):
        raise ConfigError(
            f"{key} is out of range", file=origin, expected=_LIMITS[leaf][1], found=repr(value)
        )
    return v


def _check_text(key: str, name: str, value: Any, origin: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: {name} must be non-empty text", file=origin, found=repr(value))
    return value.strip()


def _check_choice(key: str, name: str, value: Any, choices: tuple[str, ...], origin: str) -> str:
    if value not in choices:
        raise ConfigError(
            f"{key}: unknown {name} {value!r}{did_you_mean(str(value), choices)}",
            file=origin,
            expected=f"one of {list(choices)}",
            found=repr(value),
        )
    return value


def _check_date(key: str, value: Any, origin: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f"{key}: as_of must be a date", file=origin, expected="YYYY-MM-DD", found=repr(value)
        ) from None


def _same_group(key: str, entries: Mapping[str, Any]) -> list[str]:
    """Valid keys sharing the longest prefix with `key` (the full list is long)."""
    parts = key.split(".")
    for n in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:n]) + "."
        group = sorted(k for k in entries if k.startswith(prefix))
        if group:
            return group
    return sorted({k.split(".")[0] + ".*" for k in entries})
