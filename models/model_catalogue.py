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
from decimal import Decimal
from importlib import resources
from typing import Any

from models.errors import ConfigError, InputError, did_you_mean
from models.rules import _check_regex
from models.sections import parse_section

COUNTS = ("input_tokens", "output_tokens", "tokens", "requests")


@dataclass(frozen=True)
class Meter:
    model: str
    pattern: str  # regex over meter_text() of a cost line
    counts: str  # one of COUNTS

    def __post_init__(self) -> None:
        if self.counts not in COUNTS:
            raise ConfigError(
                f"unknown counts {self.counts!r}{did_you_mean(self.counts, COUNTS)}",
                expected=f"one of {', '.join(COUNTS)}",
            )
        _check_regex(self.pattern, f"meter {self.model!r}", "")


@dataclass(frozen=True)
class Comparable:
    model: str  # regex over the self-hosted model's name
    api: str  # key of an ApiPrice

    def __post_init__(self) -> None:
        _check_regex(self.model, f"comparable {self.api!r}", "")


@dataclass(frozen=True)
class Endpoint:
    """A SageMaker endpoint and the model it serves (the endpoint's name is the model
    otherwise)."""

    endpoint: str  # the endpoint's name, as CloudWatch's EndpointName gives it (any case)
    model: str


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

    def __post_init__(self) -> None:
        if self.input_per_1m < 0 or self.output_per_1m < 0:
            raise ConfigError(
                f"price {self.key!r}: not a price",
                expected="a number >= 0",
                found=f"{self.input_per_1m} / {self.output_per_1m}",
            )
        if not self.source.strip():
            raise ConfigError(f"price {self.key!r}: a price needs its source")
        if not isinstance(self.as_of, date):
            raise ConfigError(f"price {self.key!r}: as_of is not a date", found=repr(self.as_of))


@dataclass(frozen=True)
class Catalogue:
    meters: tuple[Meter, ...]
    comparables: tuple[Comparable, ...]
    prices: dict[str, ApiPrice]
    endpoints: tuple[Endpoint, ...] = ()

    def endpoint_model(self, endpoint: str) -> str:
        """The model a SageMaker endpoint serves: as [[endpoints]] maps it, else its name
        (endpoint names are unique in a region whatever their case, as their ARNs are)."""
        key = endpoint.lower()
        return next((e.model for e in self.endpoints if e.endpoint.lower() == key), endpoint)

    def comparable(self, model: str) -> ApiPrice | None:
        """The API price a self-hosted `model` competes with, if the catalogue names one."""
        for c in self.comparables:
            if re.search(c.model, model):
                return self.prices[c.api]
        return None


def parse_prices(doc: dict[str, Any], origin: str = "api_prices.toml") -> dict[str, ApiPrice]:
    """`["key"]` tables -> prices, strictly (models/sections.py: unknown keys, types)."""
    return {
        key: parse_section(ApiPrice, {**spec, "key": key}, key, origin)
        if isinstance(spec, dict)
        else parse_section(ApiPrice, spec, key, origin)
        for key, spec in doc.items()
    }


@dataclass(frozen=True)
class _CatalogueFile:
    meters: tuple[Meter, ...] = ()
    comparables: tuple[Comparable, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


def parse_catalogue(
    doc: dict[str, Any], prices: dict[str, ApiPrice], origin: str = "model_catalogue.toml"
) -> Catalogue:
    """[[meters]], [[comparables]] and [[endpoints]], strictly (models/sections.py), each
    comparable naming a price of `prices`."""
    parsed = parse_section(_CatalogueFile, doc, "model catalogue", origin)
    for n, c in enumerate(parsed.comparables, 1):
        if c.api not in prices:
            raise ConfigError(
                f"[[comparables]] #{n}: no API price {c.api!r}{did_you_mean(c.api, prices)}",
                file=origin,
                expected=f"a key of api_prices.toml: {', '.join(sorted(prices))}",
            )
    return Catalogue(parsed.meters, parsed.comparables, prices, parsed.endpoints)


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
