"""The model catalogue: which billed meters count tokens or requests of which API model, which
API model a self-hosted one competes with, and the dated, sourced API prices.

Shipped defaults are models/model_catalogue.toml and models/api_prices.toml (editable); both
are parsed strictly here, an unknown key or a bad value named with the file.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from models.errors import ConfigError, InputError, did_you_mean
from models.rules import _check_regex

COUNTS = ("input_tokens", "output_tokens", "tokens", "requests")


@dataclass(frozen=True)
class Meter:
    model: str
    pattern: str
    counts: str  # one of COUNTS


@dataclass(frozen=True)
class Comparable:
    model: str  # regex over the self-hosted model's name
    api: str  # key of an ApiPrice


@dataclass(frozen=True)
class ApiPrice:
    key: str
    model: str
    provider: str
    region: str
    tier: str
    currency: str
    input_per_1m: Decimal
    output_per_1m: Decimal
    source: str
    as_of: date
    confidence: str


@dataclass(frozen=True)
class Catalogue:
    meters: tuple[Meter, ...]
    comparables: tuple[Comparable, ...]
    prices: dict[str, ApiPrice]

    def comparable(self, model: str) -> ApiPrice | None:
        """The API price a self-hosted `model` competes with, if the catalogue names one."""
        for c in self.comparables:
            if re.search(c.model, model):
                return self.prices[c.api]
        return None


def _exact_keys(spec: Any, keys: tuple[str, ...], where: str, origin: str) -> dict:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table", file=origin, found=repr(spec))
    for k in spec:
        if k not in keys:
            raise ConfigError(
                f"{where}: unknown key {k!r}{did_you_mean(k, keys)}",
                file=origin,
                expected=f"keys {', '.join(keys)}",
            )
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}", file=origin)
    return spec


def _money(text: Any, where: str, origin: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise ConfigError(
            f"{where}: not a price", file=origin, expected="a number >= 0", found=repr(text)
        )
    return value


_PRICE_KEYS = (
    "model", "provider", "region", "tier", "currency", "input_per_1m", "output_per_1m",
    "source", "as_of", "confidence",
)  # fmt: skip


def parse_prices(doc: dict[str, Any], origin: str = "api_prices.toml") -> dict[str, ApiPrice]:
    out = {}
    for key, spec in doc.items():
        s = _exact_keys(spec, _PRICE_KEYS, f"price {key!r}", origin)
        if not isinstance(s["as_of"], date):
            raise ConfigError(
                f"price {key!r}: as_of is not a date", file=origin, found=repr(s["as_of"])
            )
        if not str(s["source"]).strip():
            raise ConfigError(f"price {key!r}: a price needs its source", file=origin)
        out[key] = ApiPrice(
            key=key,
            model=str(s["model"]),
            provider=str(s["provider"]),
            region=str(s["region"]),
            tier=str(s["tier"]),
            currency=str(s["currency"]),
            input_per_1m=_money(s["input_per_1m"], f"price {key!r} input_per_1m", origin),
            output_per_1m=_money(s["output_per_1m"], f"price {key!r} output_per_1m", origin),
            source=str(s["source"]),
            as_of=s["as_of"],
            confidence=str(s["confidence"]),
        )
    return out


def parse_catalogue(
    doc: dict[str, Any], prices: dict[str, ApiPrice], origin: str = "model_catalogue.toml"
) -> Catalogue:
    for key in doc:
        if key not in ("meters", "comparables"):
            raise ConfigError(
                f"unknown key {key!r}{did_you_mean(key, ['meters', 'comparables'])}",
                file=origin,
                expected="[[meters]] and [[comparables]]",
            )
    meters = []
    for i, spec in enumerate(doc.get("meters", [])):
        where = f"meter #{i + 1}"
        s = _exact_keys(spec, ("model", "pattern", "counts"), where, origin)
        if s["counts"] not in COUNTS:
            raise ConfigError(
                f"{where}: unknown counts {s['counts']!r}{did_you_mean(str(s['counts']), COUNTS)}",
                file=origin,
                expected=f"one of {', '.join(COUNTS)}",
            )
        pattern = _check_regex(s["pattern"], where, origin)
        meters.append(Meter(str(s["model"]), pattern, str(s["counts"])))
    comparables = []
    for i, spec in enumerate(doc.get("comparables", [])):
        where = f"comparable #{i + 1}"
        s = _exact_keys(spec, ("model", "api"), where, origin)
        if s["api"] not in prices:
            raise ConfigError(
                f"{where}: no API price {s['api']!r}{did_you_mean(str(s['api']), prices)}",
                file=origin,
                expected=f"a key of api_prices.toml: {', '.join(sorted(prices))}",
            )
        comparables.append(Comparable(_check_regex(s["model"], where, origin), str(s["api"])))
    return Catalogue(tuple(meters), tuple(comparables), prices)


@functools.cache
def default_catalogue() -> Catalogue:
    """The shipped catalogue and prices (packaged beside this module)."""

    def packaged(name: str) -> dict:
        return tomllib.loads(resources.files("models").joinpath(name).read_text(encoding="utf-8"))

    prices = parse_prices(packaged("api_prices.toml"), "models/api_prices.toml")
    return parse_catalogue(packaged("model_catalogue.toml"), prices, "models/model_catalogue.toml")


_UNIT = re.compile(
    r"^\s*(?P<n>\d+(?:\.\d+)?)?\s*(?P<mult>[KkMm])?\s*(?P<word>tokens?|count|requests?)?\s*$",
    re.IGNORECASE,
)
_MULT = {"k": 1_000, "m": 1_000_000}


def unit_scale(unit: str | None, counts: str, where: str) -> int:
    """How many tokens (or requests) one unit of a billed quantity is: "1K tokens" -> 1000,
    "1M" -> 1,000,000, "count" -> 1. Anything else (hours, characters, GB) is refused."""
    m = _UNIT.match(unit or "")
    word = (m.group("word") or "").lower() if m else ""
    kind = "request" if counts == "requests" else "token"
    fits = m is not None and (unit or "").strip() and word in ("", "count", kind, kind + "s")
    if not fits or m is None:
        raise InputError(
            f"unknown unit for {counts.replace('_', ' ')}",
            file=where,
            expected='a unit of tokens or requests such as "1K tokens", "1M", "count"',
            found=repr(unit),
            hint="fix the meter's pattern in the model catalogue so it matches only token or "
            "request meters",
        )
    n = Decimal(m.group("n") or "1") * _MULT.get((m.group("mult") or "").lower(), 1)
    return int(n)
