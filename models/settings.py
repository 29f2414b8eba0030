"""Settings: `finops.toml` parsed strictly into frozen dataclasses, one per section.

One section per concern (DESIGN §8). Parsing takes a plain dict (the caller reads the file),
so this module stays pure. Every section goes through the one strict parser,
models/sections.py: an unknown section or key is an error that lists the valid ones with a
"did you mean"; a value of the wrong type names the key, the expected and the found.
Every field has a default that works for the sample enterprise.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from models.errors import ConfigError, did_you_mean
from models.sections import parse_section, section_label
from models.shrink import DEFAULT_MAX_SHRINK

if TYPE_CHECKING:
    from models.alert_rules import AlertSettings
    from models.allocate import AllocationSettings
    from models.anomaly import AnomalySettings
    from models.flows import FlowSettings
    from models.recommendation import OwnVsRentSettings
    from models.report_settings import BudgetSettings, ReportSection
    from models.rules import ClassifySettings


_MEMORY_SIZE = re.compile(r"(?i)^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")


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
        if not _MEMORY_SIZE.match(self.memory_limit):
            raise ConfigError(
                "[warehouse] memory_limit is not a memory size",
                expected='a number and a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. "2GB"',
                found=repr(self.memory_limit),
            )
        if not 0 <= self.max_shrink <= 1:
            raise ConfigError(
                "[warehouse] max_shrink is out of range",
                expected="a share between 0 and 1 (0.5 refuses a reload with under half "
                "the lines or cost)",
                found=repr(self.max_shrink),
            )


ENGINES = ("duckdb", "spark")
# What a Spark master URL starts with (Spark 4's submission guide); a bare "host:7077" is
# the usual mistake, told at once rather than by the JVM minutes later.
_SPARK_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://.+|yarn|k8s://.+)$")


@dataclass(frozen=True)
class EngineSettings:
    """`[engine]`: what runs the heavy per-line steps. `duckdb` (the default) on this machine;
    `spark` on a Spark session: `spark_master` (e.g. spark://host:7077, yarn, k8s://...) or
    `spark_remote` (Spark Connect, sc://host:15002), neither for a local session."""

    name: str = "duckdb"
    spark_master: str | None = None
    spark_remote: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(
                f"[engine] name is not a known engine{did_you_mean(self.name, ENGINES)}",
                expected=f"one of {', '.join(ENGINES)}",
                found=repr(self.name),
            )
        if self.spark_master is not None and self.spark_remote is not None:
            raise ConfigError(
                "a Spark master URL and a Spark Connect URL were both given",
                expected="--spark-master (spark_master) or --spark-remote (spark_remote), not both",
                found=f"{self.spark_master!r} and a sc:// URL",
            )
        if self.spark_master is not None and not _SPARK_MASTER.match(self.spark_master):
            raise ConfigError(
                "the Spark master URL has no scheme Spark knows",
                expected="local[*], local[N], spark://HOST:PORT, yarn or k8s://https://HOST",
                found=repr(self.spark_master),
                hint="a Spark Connect server (Databricks, Spark 4) is --spark-remote "
                "sc://HOST:15002",
            )
        if self.spark_remote is not None and not self.spark_remote.startswith("sc://"):
            raise ConfigError(
                "the Spark Connect URL does not start with sc://",
                expected="sc://HOST[:PORT][/;param=value...]",
                found=repr(self.spark_remote.split(";")[0]),  # parameters may hold a token
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
class SourcesSettings:
    """`[sources.*]`: how each remote source is reached (a source without a table: defaults)."""

    aws: AwsSourceSettings = field(default_factory=AwsSourceSettings)
    azure: AzureSourceSettings = field(default_factory=AzureSourceSettings)
    gcp: GcpSourceSettings = field(default_factory=GcpSourceSettings)
    prometheus: PrometheusSourceSettings = field(default_factory=PrometheusSourceSettings)


@dataclass(frozen=True)
class AuthSettings:
    """`[auth]`: the dashboard's OIDC login (dashboard/cli/auth.py turns it into Streamlit's).

    The secret may stay out of the file: `client_secret_env` names the variable holding it.
    """

    client_id: str | None = None
    server_metadata_url: str | None = None  # the provider's .well-known/openid-configuration
    client_secret: str | None = None
    client_secret_env: str | None = None
    redirect_uri: str | None = None
    cookie_secret: str | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) == "":
                raise ConfigError(
                    f"[auth] {f.name} must be a non-empty string",
                    expected="a non-empty string, or no such key",
                    found="''",
                )

    @property
    def configured(self) -> bool:
        """An `[auth]` table with anything in it asks for a login (an empty one does not)."""
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))


# Section -> "module:Class" of its settings. Sections owned by another module are imported
# only when used: models.rules and models.recommendation pull in polars and numpy, which
# `finops --help` need not pay for.
SECTIONS = {
    "warehouse": "models.settings:WarehouseSettings",
    "engine": "models.settings:EngineSettings",
    "sources": "models.settings:SourcesSettings",
    "classify": "models.rules:ClassifySettings",
    "allocation": "models.allocate:AllocationSettings",
    "idle": "models.settings:IdleSettings",
    "own_vs_rent": "models.recommendation:OwnVsRentSettings",
    "flows": "models.flows:FlowSettings",
    "anomaly": "models.anomaly:AnomalySettings",
    "budgets": "models.report_settings:BudgetSettings",
    "alerts": "models.alert_rules:AlertSettings",
    "auth": "models.settings:AuthSettings",
    "report": "models.report_settings:ReportSection",
}


def section_class(section: str) -> type:
    module, name = SECTIONS[section].split(":")
    return getattr(importlib.import_module(module), name)


def _default(section: str) -> Callable[[], Any]:
    return lambda: section_class(section)()


@dataclass(frozen=True)
class Settings:
    """Every section, always typed: a section missing from the file holds its defaults."""

    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    classify: ClassifySettings = field(default_factory=_default("classify"))
    allocation: AllocationSettings = field(default_factory=_default("allocation"))
    idle: IdleSettings = field(default_factory=IdleSettings)
    own_vs_rent: OwnVsRentSettings = field(default_factory=_default("own_vs_rent"))
    flows: FlowSettings = field(default_factory=_default("flows"))
    anomaly: AnomalySettings = field(default_factory=_default("anomaly"))
    budgets: BudgetSettings = field(default_factory=_default("budgets"))
    alerts: AlertSettings = field(default_factory=_default("alerts"))
    auth: AuthSettings = field(default_factory=AuthSettings)
    report: ReportSection = field(default_factory=_default("report"))

    @property
    def aws(self) -> AwsSourceSettings:
        return self.sources.aws

    @property
    def azure(self) -> AzureSourceSettings:
        return self.sources.azure

    @property
    def gcp(self) -> GcpSourceSettings:
        return self.sources.gcp

    @property
    def prometheus(self) -> PrometheusSourceSettings:
        return self.sources.prometheus


def parse_settings(data: dict[str, Any], origin: str = "finops.toml") -> Settings:
    """Build Settings from a parsed TOML document; unknown sections and keys are errors."""
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in SECTIONS:
            raise ConfigError(
                f"unknown section {section_label(key)}{did_you_mean(key, list(SECTIONS))}",
                file=origin,
                expected=f"one of {sorted(SECTIONS)}",
                found=key,
            )
        kwargs[key] = parse_section(section_class(key), value, key, origin)
    return Settings(**kwargs)
