"""The column contracts: `cost_lines` (FOCUS 1.2 + our `x_` columns), `gpu_util`, `loads`.

One declared table per dataset — name, type, nullability, allowed values — from which the
polars schema, the DuckDB types and `validate()` are all derived, so they cannot drift apart.
FOCUS columns follow the 1.2 specification (reference: focus_1.2_cost_and_usage_columns.csv);
`BillingAccountType` is left out because none of our sources has more than one account type
and FOCUS forbids nulls in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

MONEY = pl.Decimal(38, 12)
UTC_TS = pl.Datetime("us", "UTC")

# Logical type -> (polars dtype, DuckDB type)
_TYPES: dict[str, tuple[pl.DataType, str]] = {
    "string": (pl.String(), "VARCHAR"),
    "json": (pl.String(), "VARCHAR"),
    "decimal": (MONEY, "DECIMAL(38,12)"),
    "datetime": (UTC_TS, "TIMESTAMPTZ"),
    "date": (pl.Date(), "DATE"),
    "int": (pl.Int64(), "BIGINT"),
    "float": (pl.Float64(), "DOUBLE"),
    "bool": (pl.Boolean(), "BOOLEAN"),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # a key of _TYPES
    nullable: bool = True
    allowed: tuple[str, ...] = ()
    focus: str | None = None  # FOCUS feature level (Mandatory/Conditional/Recommended) or None
    doc: str = ""

    @property
    def dtype(self) -> pl.DataType:
        return _TYPES[self.kind][0]

    @property
    def sql_type(self) -> str:
        return _TYPES[self.kind][1]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    checks: tuple[str, ...] = field(default=())  # names of cross-column rules in _CHECKS

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)


SERVICE_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "AI and Machine Learning": (
        "AI Platforms", "Bots", "Generative AI", "Machine Learning",
        "Natural Language Processing", "Other (AI and Machine Learning)",
    ),
    "Analytics": (
        "Analytics Platforms", "Business Intelligence", "Data Processing", "Search",
        "Streaming Analytics", "Other (Analytics)",
    ),
    "Business Applications": ("Productivity and Collaboration", "Other (Business Applications)"),
    "Compute": (
        "Containers", "End User Computing", "Quantum Compute", "Serverless Compute",
        "Virtual Machines", "Other (Compute)",
    ),
    "Databases": (
        "Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases",
        "Relational Databases", "Time Series Databases", "Other (Databases)",
    ),
    "Developer Tools": (
        "Developer Platforms", "Continuous Integration and Deployment",
        "Development Environments", "Source Code Management", "Quality Assurance",
        "Other (Developer Tools)",
    ),
    "Identity": ("Identity and Access Management", "Other (Identity)"),
    "Integration": ("API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"),
    "Internet of Things": ("IoT Analytics", "IoT Platforms", "Other (Internet of Things)"),
    "Management and Governance": (
        "Architecture", "Compliance", "Cost Management", "Data Governance",
        "Disaster Recovery", "Endpoint Management", "Observability", "Support",
        "Other (Management and Governance)",
    ),
    "Media": (
        "Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)",
    ),
    "Migration": ("Data Migration", "Resource Migration", "Other (Migration)"),
    "Mobile": ("Other (Mobile)",),
    "Multicloud": ("Multicloud Integration", "Other (Multicloud)"),
    "Networking": (
        "Application Networking", "Content Delivery", "Network Connectivity",
        "Network Infrastructure", "Network Routing", "Network Security", "Other (Networking)",
    ),
    "Security": (
        "Secret Management", "Security Posture Management", "Threat Detection and Response",
        "Other (Security)",
    ),
    "Storage": (
        "Backup Storage", "Block Storage", "File Storage", "Object Storage",
        "Storage Platforms", "Other (Storage)",
    ),
    "Web": ("Application Platforms", "Other (Web)"),
    "Other": ("Other (Other)",),
}  # fmt: skip

SOURCES = (
    "aws-cur2",
    "aws-cur-legacy",
    "azure-cost-details",
    "azure-cost-api",
    "gcp-bq",
    "focus",
    "onprem",
    "saas",
)

M, C, R = "Mandatory", "Conditional", "Recommended"


def _f(name: str, kind: str, level: str, nullable: bool, allowed: tuple[str, ...] = ()) -> Column:
    return Column(name, kind, nullable=nullable, allowed=allowed, focus=level)


COST_LINES = Table(
    "cost_lines",
    (
        _f("AvailabilityZone", "string", R, True),
        _f("BilledCost", "decimal", M, False),
        _f("BillingAccountId", "string", M, False),
        _f("BillingAccountName", "string", M, True),
        _f("BillingCurrency", "string", M, False),
        _f("BillingPeriodEnd", "datetime", M, False),
        _f("BillingPeriodStart", "datetime", M, False),
        _f("CapacityReservationId", "string", C, True),
        _f("CapacityReservationStatus", "string", C, True, ("Used", "Unused")),
        _f(
            "ChargeCategory",
            "string",
            M,
            False,
            ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
        ),
        _f("ChargeClass", "string", M, True, ("Correction",)),
        _f("ChargeDescription", "string", M, True),
        _f("ChargeFrequency", "string", R, False, ("One-Time", "Recurring", "Usage-Based")),
        _f("ChargePeriodEnd", "datetime", M, False),
        _f("ChargePeriodStart", "datetime", M, False),
        _f("CommitmentDiscountCategory", "string", C, True, ("Spend", "Usage")),
        _f("CommitmentDiscountId", "string", C, True),
        _f("CommitmentDiscountName", "string", C, True),
        _f("CommitmentDiscountQuantity", "decimal", C, True),
        _f("CommitmentDiscountStatus", "string", C, True, ("Used", "Unused")),
        _f("CommitmentDiscountType", "string", C, True),
        _f("CommitmentDiscountUnit", "string", C, True),
        _f("ConsumedQuantity", "decimal", C, True),
        _f("ConsumedUnit", "string", C, True),
        _f("ContractedCost", "decimal", M, False),
        _f("ContractedUnitPrice", "decimal", C, True),
        _f("EffectiveCost", "decimal", M, False),
        _f("InvoiceId", "string", R, True),
        _f("InvoiceIssuerName", "string", M, False),
        _f("ListCost", "decimal", M, False),
        _f("ListUnitPrice", "decimal", C, True),
        _f("PricingCategory", "string", C, True, ("Standard", "Dynamic", "Committed", "Other")),
        _f("PricingCurrency", "string", C, True),
        _f("PricingCurrencyContractedUnitPrice", "decimal", C, True),
        _f("PricingCurrencyEffectiveCost", "decimal", C, True),
        _f("PricingCurrencyListUnitPrice", "decimal", C, True),
        _f("PricingQuantity", "decimal", M, True),
        _f("PricingUnit", "string", M, True),
        _f("ProviderName", "string", M, False),
        _f("PublisherName", "string", M, False),
        _f("RegionId", "string", C, True),
        _f("RegionName", "string", C, True),
        _f("ResourceId", "string", C, True),
        _f("ResourceName", "string", C, True),
        _f("ResourceType", "string", C, True),
        _f("ServiceCategory", "string", M, False, tuple(SERVICE_SUBCATEGORIES)),
        _f("ServiceName", "string", M, False),
        _f(
            "ServiceSubcategory",
            "string",
            R,
            False,
            tuple(s for subs in SERVICE_SUBCATEGORIES.values() for s in subs),
        ),
        _f("SkuId", "string", C, True),
        _f("SkuMeter", "string", C, True),
        _f("SkuPriceDetails", "json", C, True),
        _f("SkuPriceId", "string", C, True),
        _f("SubAccountId", "string", C, True),
        _f("SubAccountName", "string", C, True),
        _f("SubAccountType", "string", C, True),
        _f("Tags", "json", C, True),
        # Our own columns (FOCUS: custom columns carry the x_ prefix and come last).
        Column("x_Source", "string", False, SOURCES, doc="which reader produced the line"),
        Column("x_SourceFile", "string", doc="file or URI the line came from"),
        Column("x_LoadId", "string", False, doc="the load (see `loads`) that wrote the line"),
        Column("x_LineId", "int", False, doc="stable id of the line, for `finops explain`"),
        Column("x_UsageType", "string", doc="native usage type / meter"),
        Column("x_Operation", "string", doc="native operation (AWS lineItem/Operation)"),
        Column("x_ServiceCode", "string", doc="native service code (AmazonEC2, Microsoft.Compute)"),
        Column("x_SkuMeterCategory", "string", doc="Azure MeterCategory, GCP service description"),
        Column("x_SkuMeterSubcategory", "string", doc="Azure MeterSubCategory (GPU series)"),
        Column("x_InstanceType", "string", doc="instance type / VM size / machine type"),
        Column("x_GpuModel", "string", doc="GPU model when the line pays for GPUs"),
        Column("x_GpuCount", "int", doc="GPUs per instance/node when the line pays for GPUs"),
        Column("x_Marketplace", "bool", False, doc="sold through a cloud marketplace"),
        Column("x_CostModel", "json", doc="on-prem: the parts of EffectiveCost"),
        Column("x_Seats", "int", doc="SaaS: seats invoiced"),
        Column("x_ActiveSeats", "int", doc="SaaS: seats in use"),
    ),
    checks=("service_subcategory_parent", "purchase_not_usage_based", "tax_has_no_pricing"),
)

GPU_UTIL = Table(
    "gpu_util",
    (
        Column("hour", "datetime", False, doc="start of the UTC hour"),
        Column("host", "string", False),
        Column("gpu_uuid", "string"),
        Column("gpu_index", "int"),
        Column("gpu_model", "string"),
        Column("resource_id", "string", doc="billed resource the host maps to"),
        Column("avg_active", "float", doc="mean activity 0-1 over the samples of the hour"),
        Column("max_active", "float"),
        Column("active_metric", "string", allowed=("gr_engine_active", "gpu_util")),
        Column("max_mem_used_mib", "float"),
        Column("avg_power_w", "float"),
        Column("energy_kwh", "float"),
        Column("samples", "int", False, doc="samples seen in the hour; 0 = unmonitored"),
        Column("namespace", "string", doc="Kubernetes namespace holding the GPU (most samples)"),
        Column("pod", "string", doc="Kubernetes pod holding the GPU (most samples)"),
        Column("source", "string", False, allowed=("prometheus", "nvidia-smi", "cloudwatch")),
        Column("x_LoadId", "string", False),
    ),
)

ASSETS = Table(
    "assets",
    (
        Column("asset_id", "string", False),
        Column("site", "string", False),
        Column("hostnames", "string", False, doc="`;`-separated host names telemetry reports"),
        Column("gpu_model", "string", False),
        Column("gpu_model_known", "bool", False, doc="false: not in the GPU catalogue (flagged)"),
        Column("gpus", "int", False),
        Column("purchase_date", "datetime", False),
        Column("retired_date", "datetime", doc="exclusive; null while in service"),
        Column("server_capex", "decimal", False),
        Column("network_capex", "decimal", False),
        Column("life_years", "decimal", False),
        Column("residual_fraction", "decimal", False),
        Column("wacc", "decimal", doc="cost of capital; null = straight line"),
        Column("power_idle_kw", "decimal", False),
        Column("power_load_kw", "decimal", False),
        Column("provisioned_kw", "decimal", False),
        Column("pue", "decimal", False),
        Column("usd_per_kwh", "decimal", False),
        Column("colo_usd_per_kw_month", "decimal", False),
        Column("ops_usd_per_year", "decimal", False),
        Column("team", "string"),
        Column("currency", "string", False),
        Column("gpu_hour_rate", "decimal", False, doc="amortised fixed cost per GPU-hour"),
        Column("x_SourceFile", "string"),
        Column("x_LoadId", "string", False),
    ),
)

LOADS = Table(
    "loads",
    (
        Column("load_id", "string", False),
        Column(
            "dataset",
            "string",
            False,
            allowed=("cost_lines", "gpu_util", "assets", "training_runs", "serving_usage"),
        ),
        Column("source", "string", False),
        Column("billing_account", "string", False),
        Column("billing_period", "string", False, doc="YYYY-MM (gpu_util: the month)"),
        Column("currency", "string"),
        Column("files", "json", False, doc='[{"path": ..., "sha256": ..., "bytes": ...}]'),
        Column("rows", "int", False),
        Column("source_total", "decimal"),
        Column("warehouse_total", "decimal"),
        Column("status", "string", False, allowed=("committed", "unchanged")),
        Column("message", "string"),
        Column("started_at", "datetime", False),
        Column("finished_at", "datetime", False),
        Column("table_version", "int", doc="Delta version of the dataset the load produced"),
    ),
)

LOAD_ERRORS = Table(
    "load_errors",
    (
        Column("load_id", "string", False),
        Column("dataset", "string", False),
        Column("source", "string", False),
        Column("target", "string", False, doc="file, folder or URI named on the command line"),
        Column("error", "string", False, doc="error type"),
        Column("message", "string", False),
        Column("at", "datetime", False),
    ),
)


# ---- validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    column: str
    rule: str
    count: int
    row: int | None = None  # 0-based row index of the first offending row
    sample: dict[str, object] | None = None

    def __str__(self) -> str:
        at = f" (first at row {self.row}: {self.sample})" if self.row is not None else ""
        return f"{self.column}: {self.rule} in {self.count} row(s){at}"


def _first_row(mask: pl.Expr) -> pl.Expr:
    return pl.int_range(pl.len(), dtype=pl.Int64).filter(mask).first()


def _cross_checks(names: set[str]) -> dict[str, tuple[str, pl.Expr]]:
    """Cross-column rules of FOCUS 1.2 that our data can break: name -> (column, bad mask)."""
    parent = pl.col("ServiceCategory")
    ok_pair = pl.lit(False)
    for cat, subs in SERVICE_SUBCATEGORIES.items():
        ok_pair = ok_pair | ((parent == cat) & pl.col("ServiceSubcategory").is_in(list(subs)))
    rules = {
        "service_subcategory_parent": (
            "ServiceSubcategory",
            pl.col("ServiceSubcategory").is_not_null() & ~ok_pair,
        ),
        "purchase_not_usage_based": (
            "ChargeFrequency",
            (pl.col("ChargeCategory") == "Purchase") & (pl.col("ChargeFrequency") == "Usage-Based"),
        ),
        "tax_has_no_pricing": (
            "PricingQuantity",
            (pl.col("ChargeCategory") == "Tax") & pl.col("PricingQuantity").is_not_null(),
        ),
    }
    return {k: v for k, v in rules.items() if v[0] in names}


def validate(frame: pl.DataFrame | pl.LazyFrame, table: Table = COST_LINES) -> list[Violation]:
    """Every violation of the table's contract, each with its column and a sample row.

    Checks presence and type of every declared column, nulls where none are allowed, values
    outside the allowed set, and the table's cross-column rules. Runs as one lazy query, so
    it streams over large frames.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    out: list[Violation] = []
    for col in table.columns:
        if col.name not in schema:
            out.append(Violation(col.name, "missing column", 0))
        elif schema[col.name] != col.dtype:
            out.append(Violation(col.name, f"type {schema[col.name]}, expected {col.dtype}", 0))
    extra = [n for n in schema.names() if n not in table.names]
    out.extend(Violation(n, "undeclared column", 0) for n in extra)
    if out:
        return out

    masks: dict[tuple[str, str], pl.Expr] = {}
    for col in table.columns:
        if not col.nullable:
            masks[(col.name, "null not allowed")] = pl.col(col.name).is_null()
        if col.allowed:
            masks[(col.name, f"value not in {list(col.allowed)}")] = pl.col(
                col.name
            ).is_not_null() & ~pl.col(col.name).is_in(list(col.allowed))
        if col.kind == "json":
            text = pl.col(col.name).str.strip_chars()
            masks[(col.name, "not a JSON object")] = pl.col(col.name).is_not_null() & ~(
                text.str.starts_with("{") & text.str.ends_with("}")
            )
    for rule in table.checks:
        checks = _cross_checks(set(schema.names()))
        if rule in checks:
            column, mask = checks[rule]
            masks[(column, rule)] = mask
    if not masks:
        return out

    keys = list(masks)
    # Counts in one streaming pass (bounded memory on files of any size); where a row comes
    # first is only looked for in the rules that failed.
    counts = lf.select(masks[k].sum().alias(f"n{i}") for i, k in enumerate(keys))
    stats = counts.collect(engine="streaming").row(0)
    failed = [i for i, n in enumerate(stats) if n]
    if not failed:
        return out
    rows = lf.select(_first_row(masks[keys[i]]).alias(f"r{i}") for i in failed).collect().row(0)
    for i, row in zip(failed, rows, strict=True):
        column, rule = keys[i]
        sample = _sample(lf, row, column)
        out.append(Violation(column, rule, int(stats[i]), int(row), sample))
    return out


def _sample(lf: pl.LazyFrame, row: int, column: str) -> dict[str, object]:
    keep = [c for c in ("x_SourceFile", "x_LineId", "ChargeCategory", column) if c]
    names = lf.collect_schema().names()
    keep = [c for c in dict.fromkeys(keep) if c in names]
    return lf.select(keep).slice(row, 1).collect().to_dicts()[0]


def conform(frame: pl.LazyFrame, table: Table = COST_LINES) -> pl.LazyFrame:
    """Select the table's columns in declared order with declared types, nulls for absent ones.

    Readers build what their source has and call this; casting is strict so a value that
    does not fit is an error, never a silent null.
    """
    have = frame.collect_schema()
    exprs = []
    for col in table.columns:
        if col.name in have:
            expr = pl.col(col.name)
            if have[col.name] != col.dtype:
                expr = expr.cast(col.dtype, strict=True)
            exprs.append(expr.alias(col.name))
        elif col.kind == "bool" and not col.nullable:
            exprs.append(pl.lit(False).alias(col.name))
        else:
            exprs.append(pl.lit(None, dtype=col.dtype).alias(col.name))
    return frame.select(exprs)


def sql_list(values: tuple[str, ...]) -> str:
    """('a', 'b'): domain values (ours, never user text) as a SQL list, for `x IN ...`."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"
