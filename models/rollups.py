"""Contracts of the rollups: the cost lines summed by what the pages filter and break down by.

Each is a derived Delta table partitioned like cost_lines (source, billing account, billing
period), so a load rebuilds only its partitions (ingest/derive/rollups.py builds them). A page
sums over partitions, so a group split across two partitions still sums right; `max_cost` is a
max, and `top_lines_parts` keeps the costliest lines of each partition, from which the reader
view `top_lines` takes the costliest overall. Money columns are one per cost basis, named by it
(`amortised`, `billed`): a page switches basis without another rollup.
"""

from __future__ import annotations

from models.schema import COST_LINES, Column, Table

# The costliest lines kept (per partition; the reader view keeps as many): the explorer's
# first 100 pages of 100. Deeper pages read the lines, pruned by the cost their page reaches.
# 100,000 a partition made a month's rollups cost ten times its classification.
TOP_LINES = 10_000

_MONEY = (
    Column("amortised", "decimal", doc="sum of EffectiveCost"),
    Column("billed", "decimal", doc="sum of BilledCost"),
)
_WHERE = (
    Column("provider", "string", False, doc="ProviderName (on-prem: with its site)"),
    Column("team", "string", False, doc="x_Team, or (not set)"),
    Column("env", "string", False, doc="x_Environment, or (not set)"),
)


def _line(name: str) -> Column:
    """A cost_lines column as it is there (same type and nullability)."""
    return COST_LINES.column(name)


def _s(name: str, doc: str = "") -> Column:
    return Column(name, "string", False, doc=doc)


SPEND_DAILY = Table(
    "spend_daily",
    (
        Column("day", "date", False, doc="day of ChargePeriodStart"),
        _WHERE[0],
        Column("provider_name", "string", doc="ProviderName"),
        Column("service", "string", doc="ServiceName"),
        _WHERE[1],
        _s("project"),
        _WHERE[2],
        _s("region"),
        _s("ai_class"),
        _s("workload"),
        Column("account", "string", doc="SubAccountName, else its id, else the billing account"),
        _s("currency", "BillingCurrency"),
        Column("tagged", "bool", False, doc="the line's tags give `team` a value"),
        Column("days", "int", False, doc="days the charge covers (at least 1)"),
        *_MONEY,
        Column("lines", "int", False),
        Column("max_cost", "decimal", doc="largest EffectiveCost of the group's lines"),
    ),
)

EGRESS_DAILY = Table(
    "egress_daily",
    (
        Column("day", "date", False),
        *_WHERE,
        _s("kind", "x_EgressKind, or (not set)"),
        _s("region"),
        _s("region_pair", "from → to"),
        _s("resource"),
        _s("currency"),
        *_MONEY,
        Column("gb_amortised", "decimal", doc="amortised cost of the lines billed by volume"),
        Column("gb_billed", "decimal", doc="billed cost of the lines billed by volume"),
        Column("gb", "float", doc="gigabytes moved (lines billed by volume)"),
    ),
)

TOOLS_MONTHLY = Table(
    "tools_monthly",
    (
        Column("month", "date", False),
        *_WHERE,
        _s("family", "x_ToolFamily, or (not set)"),
        Column("tool", "string", doc="ServiceName, else ProviderName"),
        _s("currency"),
        *_MONEY,
        Column("seats", "int"),
        Column("active_seats", "int"),
    ),
)

TAG_DAILY = Table(
    "tag_daily",
    (
        Column("day", "date", False),
        *_WHERE,
        _s("currency"),
        _s("tag_key"),
        Column("tag_value", "string"),
        *_MONEY,
        Column("lines", "int", False),
    ),
)

BILLED_PERIODS = Table(
    "billed_periods",
    (
        _s("source", "x_Source"),
        _s("billing_account", "BillingAccountId"),
        _s("period", "YYYY-MM of BillingPeriodStart"),
        Column("billed", "decimal"),
        Column("data_until", "datetime", doc="latest ChargePeriodEnd"),
    ),
)

# The costliest lines of each partition, with what a drill-down page shows or filters on.
TOP_LINES_PARTS = Table(
    "top_lines_parts",
    (
        *(
            _line(n)
            for n in (
                "ChargePeriodStart", "ServiceName", "RegionId", "ResourceId", "x_UsageType",
                "ChargeDescription", "ConsumedQuantity", "ConsumedUnit", "BilledCost",
                "EffectiveCost", "x_LineId", "BillingCurrency", "SubAccountName",
            )
        ),
        _WHERE[0],
        *(Column(n, "string") for n in ("x_Team", "x_Environment", "x_Project", "x_AiClass",
                                        "x_Workload")),
    ),
)  # fmt: skip

# The commitment lines and the compute usage beside them (models/commitments.py LINES_SQL),
# summed per the columns `summarise` groups by: a few hundred rows a month, where the lines
# are millions (nearly every GPU-hour line is compute usage).
COMMITMENT_MONTHS = Table(
    "commitment_months",
    (
        *(
            _line(n)
            for n in (
                "ProviderName", "BillingCurrency", "BillingPeriodStart", "ChargeCategory",
                "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountType",
                "CommitmentDiscountCategory", "CommitmentDiscountStatus", "ServiceCategory",
                "PricingCategory", "x_InstanceType",
            )
        ),
        Column("x_AiClass", "string"),
        *(
            Column(n, "decimal", doc=f"sum of {n}")
            for n in ("BilledCost", "EffectiveCost", "ListCost")
        ),
        Column("lines", "int", False),
    ),
)  # fmt: skip

ROLLUPS: tuple[Table, ...] = (
    SPEND_DAILY,
    EGRESS_DAILY,
    TOOLS_MONTHLY,
    TAG_DAILY,
    BILLED_PERIODS,
    TOP_LINES_PARTS,
    COMMITMENT_MONTHS,
)
