"""Dedicated-link prices: AWS Direct Connect, Google Cloud Interconnect, as the providers
publish them, each with the URL it comes from, the date and the regions it holds for.

The shipped table is `link_prices.toml` beside this module; a table is parsed strictly
(unknown fields refused, url/as_of/scope required), so a price that cannot be checked never
reaches a verdict.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from models.errors import ConfigError, did_you_mean

_REQUIRED = ("provider", "product", "gbps", "port_usd_per_hour", "transfer_usd_per_gb")
_SOURCE = ("url", "as_of", "scope")
_OPTIONAL = ("attachment_usd_per_hour",)
_FIELDS = _REQUIRED + _SOURCE + _OPTIONAL
PROVIDERS = ("aws", "gcp", "azure")


@dataclass(frozen=True)
class LinkPrice:
    """One dedicated link of one size from one provider, USD."""

    key: str
    provider: str
    product: str
    gbps: int
    port_usd_per_hour: Decimal
    attachment_usd_per_hour: Decimal
    transfer_usd_per_gb: Decimal  # data transfer out over the link, billed by the source
    url: str
    as_of: date
    scope: str

    @property
    def hourly_usd(self) -> Decimal:
        return self.port_usd_per_hour + self.attachment_usd_per_hour

    @property
    def label(self) -> str:
        return f"{self.gbps} Gbps {self.product}"


@dataclass(frozen=True)
class LinkPrices:
    links: tuple[LinkPrice, ...]

    def for_provider(self, provider: str, gbps: int) -> LinkPrice | None:
        return next((x for x in self.links if x.provider == provider and x.gbps == gbps), None)

    def sizes(self) -> list[int]:
        return sorted({x.gbps for x in self.links})

    @property
    def as_of(self) -> date:
        """The oldest date among the prices: the date the table as a whole is good for."""
        return min(x.as_of for x in self.links)


def parse_link_prices(doc: Mapping[str, Any], origin: str = "link prices") -> LinkPrices:
    table = doc.get("link")
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(
            "the link price table has no [link.<name>] entries",
            file=origin,
            expected="[link.aws_direct_connect_10g] with provider, gbps, prices, url, as_of, scope",
        )
    extra = sorted(set(doc) - {"link"})
    if extra:
        raise ConfigError(f"unknown table {extra[0]!r}", file=origin, expected="[link.<name>]")
    return LinkPrices(tuple(_link(f"link.{k}", v, origin) for k, v in sorted(table.items())))


@functools.cache
def default_link_prices() -> LinkPrices:
    """The shipped table (package data, read on first use, never at import)."""
    text = resources.files("models").joinpath("link_prices.toml").read_text(encoding="utf-8")
    return parse_link_prices(tomllib.loads(text), origin="models/link_prices.toml")


def _link(key: str, raw: Any, origin: str) -> LinkPrice:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key} must be a table", file=origin, found=repr(raw))
    for name in raw:
        if name not in _FIELDS:
            raise ConfigError(
                f"unknown field {name!r} in {key}{did_you_mean(name, _FIELDS)}",
                file=origin,
                expected=f"one of {list(_FIELDS)}",
                found=name,
            )
    for name in _REQUIRED + _SOURCE:
        if raw.get(name) in (None, ""):
            raise ConfigError(
                f"{key} has no {name}",
                file=origin,
                expected=f"every link to give {', '.join(_REQUIRED + _SOURCE)}",
                hint="a price without its URL, date and region scope cannot be checked or "
                "refreshed: add them from the provider's pricing page",
            )
    url = _text(key, "url", raw["url"], origin)
    if not url.startswith("https://"):
        raise ConfigError(f"{key}: url must be an https:// address", file=origin, found=url)
    as_of = raw["as_of"]
    if not isinstance(as_of, date):
        raise ConfigError(
            f"{key}: as_of must be a date", file=origin, expected="YYYY-MM-DD", found=repr(as_of)
        )
    provider = _text(key, "provider", raw["provider"], origin)
    if provider not in PROVIDERS:
        raise ConfigError(
            f"{key}: unknown provider {provider!r}", file=origin, expected=f"one of {PROVIDERS}"
        )
    gbps = raw["gbps"]
    if isinstance(gbps, bool) or not isinstance(gbps, int) or gbps <= 0:
        raise ConfigError(f"{key}: gbps must be a whole number > 0", file=origin, found=repr(gbps))
    return LinkPrice(
        key=key,
        provider=provider,
        product=_text(key, "product", raw["product"], origin),
        gbps=gbps,
        port_usd_per_hour=_usd(key, "port_usd_per_hour", raw["port_usd_per_hour"], origin),
        attachment_usd_per_hour=_usd(
            key, "attachment_usd_per_hour", raw.get("attachment_usd_per_hour", 0), origin
        ),
        transfer_usd_per_gb=_usd(key, "transfer_usd_per_gb", raw["transfer_usd_per_gb"], origin),
        url=url,
        as_of=as_of,
        scope=_text(key, "scope", raw["scope"], origin),
    )


def _text(key: str, name: str, value: Any, origin: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: {name} must be non-empty text", file=origin, found=repr(value))
    return value.strip()


def _usd(key: str, name: str, value: Any, origin: str) -> Decimal:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise ConfigError(
            f"{key}: {name} must be a number >= 0", file=origin, expected="USD", found=repr(value)
        )
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
