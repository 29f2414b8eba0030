"""Settings: `finops.toml` parsed strictly into frozen dataclasses.

One section per concern (DESIGN §8). Parsing takes a plain dict (the caller reads the file),
so this module stays pure. An unknown section or key is an error that lists the valid ones
with a "did you mean"; a value of the wrong type names the key, the expected and the found.
Every field has a default that works for the sample enterprise.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from models.errors import ConfigError, did_you_mean
from models.shrink import DEFAULT_MAX_SHRINK


@dataclass(frozen=True)
class WarehouseSettings:
    path: str = "data/warehouse"
    # DuckDB memory for reading (dashboard, reports, `finops query`); beyond it DuckDB spills.
    # Without a limit it caches up to 80% of RAM: 4.1 GB at 10M lines, against 2.1 GB here
    # for the same page times (bench/RESULTS.md).
    memory_limit: str = "2GB"
    # A reload may shrink a committed period's lines or a currency's total by at most this
    # share; beyond it (or a total gone to zero or of the other sign) ingest refuses unless
    # --allow-shrink (models/shrink.py): a truncated export must not replace a good month.
    max_shrink: float = DEFAULT_MAX_SHRINK

    def __post_init__(self) -> None:
        if not 0 <= self.max_shrink <= 1:
            raise ConfigError(
                "[warehouse] max_shrink is out of range",
                expected="a share between 0 and 1 (0.5 refuses a reload with under half "
                "the lines or cost)",
                found=repr(self.max_shrink),
            )


@dataclass(frozen=True)
class AwsSourceSettings:
    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class AzureSourceSettings:
    """`[sources.azure]`: where exports and the Cost Management API are reached.

    Credentials come only from azure-identity's DefaultAzureCredential chain, or from a
    storage connection string held in the environment variable named here (never the file).
    """

    connection_string_env: str = "AZURE_STORAGE_CONNECTION_STRING"
    blob_endpoint: str | None = None  # default https://<account>.blob.core.windows.net
    scope: str | None = None  # e.g. /providers/Microsoft.Billing/billingAccounts/<id>
    management_endpoint: str | None = None  # default https://management.azure.com


@dataclass(frozen=True)
class GcpSourceSettings:
    """`[sources.gcp]`: BigQuery billing export access through Google ADC."""

    project: str | None = None  # project that runs (and pays for) the query
    location: str | None = None
    api_endpoint: str | None = None  # default https://bigquery.googleapis.com


PROMETHEUS_AUTH_MODES = ("none", "bearer", "basic", "sigv4", "azure")


@dataclass(frozen=True)
class PrometheusSourceSettings:
    """`[sources.prometheus]`: how a Prometheus-compatible query API is reached.

    The file names where secrets are (an environment variable or a file), never the secrets:
    finops.toml is often kept in version control. SigV4 takes AWS credentials from boto3's
    default chain (the profile of `[sources.aws]`), `azure` from DefaultAzureCredential.
    """

    auth: str | None = None  # one of PROMETHEUS_AUTH_MODES; default inferred from the host
    user: str | None = None  # basic auth user (Grafana Cloud: the instance id)
    token_env: str = "FINOPS_PROMETHEUS_TOKEN"
    token_file: str | None = None  # e.g. a mounted Kubernetes secret
    password_env: str = "FINOPS_PROMETHEUS_PASSWORD"
    password_file: str | None = None
    ca_bundle: str | None = None  # PEM file of the CA that signed the server's certificate
    org_id: str | None = None  # X-Scope-OrgID: the Mimir/Cortex/Loki tenant
    region: str | None = None  # SigV4 region when the URL does not say it

    def __post_init__(self) -> None:
        if self.auth is not None and self.auth not in PROMETHEUS_AUTH_MODES:
            close = did_you_mean(self.auth, PROMETHEUS_AUTH_MODES)
            raise ConfigError(
                f"[sources.prometheus] auth is not a known mode{close}",
                expected=f"one of {', '.join(PROMETHEUS_AUTH_MODES)}",
                found=repr(self.auth),
            )


@dataclass(frozen=True)
class IdleSettings:
    """Per GPU-hour states (DESIGN §6, gpu_economics.md B3)."""

    idle_below: float = 0.05  # mean activity under this is idle
    hard_idle_max_below: float = 0.01  # and max activity under this with little memory: hard idle
    hard_idle_mem_mib: float = 1024.0
    underutilised_below: float = 0.30
    min_samples: int = 1  # fewer samples in an hour than this: unmonitored
    episode_min_hours: int = 1

    def __post_init__(self) -> None:
        # an empty underutilised band (idle_below >= underutilised_below) is allowed: the
        # dashboard's slider moves idle_below up to 50%
        for name, ok, expected in (
            ("idle_below", 0 < self.idle_below <= 1, "a fraction of activity in (0, 1]"),
            ("hard_idle_max_below", 0 <= self.hard_idle_max_below <= 1, "a fraction in [0, 1]"),
            ("underutilised_below", 0 <= self.underutilised_below <= 1, "a fraction in [0, 1]"),
            ("hard_idle_mem_mib", self.hard_idle_mem_mib >= 0, "MiB, 0 or more"),
            ("min_samples", self.min_samples >= 1, "a whole number of samples, 1 or more"),
            ("episode_min_hours", self.episode_min_hours >= 1, "whole hours, 1 or more"),
        ):
            if not ok:
                raise ConfigError(
                    f"[idle] {name} is out of range",
                    expected=expected,
                    found=repr(getattr(self, name)),
                    hint="the README's Settings section lists each default",
                )


@dataclass(frozen=True)
class Settings:
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    sources: dict[str, Any] = field(default_factory=dict)
    classify: dict[str, Any] = field(default_factory=dict)
    allocation: dict[str, Any] = field(default_factory=dict)
    idle: IdleSettings = field(default_factory=IdleSettings)
    own_vs_rent: Any = field(default_factory=dict)  # OwnVsRentSettings once parsed
    anomaly: Any = field(default_factory=dict)  # AnomalySettings once parsed
    budgets: dict[str, Any] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def aws(self) -> AwsSourceSettings:
        return parse_section(AwsSourceSettings, self.sources.get("aws", {}), "sources.aws")

    @property
    def azure(self) -> AzureSourceSettings:
        return parse_section(AzureSourceSettings, self.sources.get("azure", {}), "sources.azure")

    @property
    def gcp(self) -> GcpSourceSettings:
        return parse_section(GcpSourceSettings, self.sources.get("gcp", {}), "sources.gcp")

    @property
    def prometheus(self) -> PrometheusSourceSettings:
        return parse_section(
            PrometheusSourceSettings, self.sources.get("prometheus", {}), "sources.prometheus"
        )


# Sections whose values are dataclasses are checked here; sections still held as dicts are
# checked by the module that owns them (classify rules, price book, budgets), each strictly.
_SOURCE_SECTIONS = {
    "aws": AwsSourceSettings,
    "azure": AzureSourceSettings,
    "gcp": GcpSourceSettings,
    "prometheus": PrometheusSourceSettings,
}

# Sections parsed by the module that owns them: section -> "module:Class" with a strict
# `from_dict(data, origin)`. Imported only when the section is present.
_OWNED_SECTIONS = {
    "own_vs_rent": "models.recommendation:OwnVsRentSettings",
    "anomaly": "models.anomaly:AnomalySettings",
}


def parse_settings(data: dict[str, Any], origin: str = "finops.toml") -> Settings:
    """Build Settings from a parsed TOML document; unknown keys are errors."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(
                f"unknown section [{key}]{did_you_mean(key, list(fields))}",
                file=origin,
                expected=f"one of {sorted(fields)}",
                found=key,
            )
        if not isinstance(value, dict):
            raise ConfigError(
                f"[{key}] must be a table", file=origin, expected="a table", found=repr(value)
            )
        ftype = _resolve(Settings, fields[key])
        if key in _OWNED_SECTIONS:
            import importlib

            module, cls = _OWNED_SECTIONS[key].split(":")
            kwargs[key] = getattr(importlib.import_module(module), cls).from_dict(value, origin)
        elif dataclasses.is_dataclass(ftype):
            kwargs[key] = parse_section(ftype, value, key, origin)
        else:
            kwargs[key] = value
    for name, value in kwargs.get("sources", {}).items():
        if name in _SOURCE_SECTIONS:
            parse_section(_SOURCE_SECTIONS[name], value, f"sources.{name}", origin)
    if "warehouse" in kwargs and not _MEMORY_SIZE.match(kwargs["warehouse"].memory_limit):
        raise ConfigError(
            "[warehouse] memory_limit is not a memory size",
            file=origin,
            expected='a number and a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. "2GB"',
            found=repr(kwargs["warehouse"].memory_limit),
        )
    return Settings(**kwargs)


_MEMORY_SIZE = re.compile(r"(?i)^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")


def parse_section(cls: type, data: dict[str, Any], section: str, origin: str = "finops.toml"):
    """Strictly build dataclass `cls` from `data` (unknown keys and wrong types rejected)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(
                f"unknown key {key!r} in [{section}]{did_you_mean(key, list(fields))}",
                file=origin,
                expected=f"one of {sorted(fields)}",
                found=key,
            )
        kwargs[key] = _coerce(value, _resolve(cls, fields[key]), f"[{section}] {key}", origin)
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a range check of the section: name the file it came from
        exc.file = exc.file or origin
        raise


def _resolve(cls: type, f: dataclasses.Field) -> Any:
    return typing.get_type_hints(cls)[f.name]


def _coerce(value: Any, tp: Any, where: str, origin: str) -> Any:
    origin_tp = typing.get_origin(tp)
    if origin_tp in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, origin)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _type_error(where, origin, "a table", value)
        return parse_section(tp, value, where.strip("[]"), origin)
    if origin_tp in (list, tuple):
        if not isinstance(value, list):
            raise _type_error(where, origin, "a list", value)
        (inner, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, inner, where, origin) for v in value]
        return items if origin_tp is list else tuple(items)
    if origin_tp is dict:
        if not isinstance(value, dict):
            raise _type_error(where, origin, "a table", value)
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(where, origin, "true or false", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(where, origin, "an integer", value)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _type_error(where, origin, "a number", value)
    if tp is Decimal:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise _type_error(where, origin, "a decimal number", value) from None
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(where, origin, "a string", value)
    return value


def _type_error(where: str, origin: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(
        f"{where} has the wrong type", file=origin, expected=expected, found=repr(value)
    )
