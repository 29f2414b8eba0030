"""Team allocation: tag coverage, shared-cost splitting, and a result that reconciles.

`[allocation]` in finops.toml names shared costs with rules in the classification condition
syntax, each split `even`ly among the teams with direct spend in the same billing period and
currency, or in `proportional` to that direct spend:

    [[allocation.shared]]
    id = "shared.platform"
    match.x_Team = "platform"
    method = "proportional"

Money stays Decimal. Splits are rounded to 12 decimals and the rounding remainder goes to the
team with the largest share, so for every period and currency
allocated + unallocated = total exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

from models.classify import CLASS_COLUMNS
from models.errors import ConfigError, did_you_mean
from models.rules import Condition, _condition
from models.schema import MONEY
from models.sections import parse_section

METHODS = ("even", "proportional")
Q12 = Decimal("1E-12")


@dataclass(frozen=True)
class SharedRule:
    """One `[[allocation.shared]]`: which costs are shared, and how they are split."""

    id: str
    match: dict[str, Any] = field(default_factory=dict, compare=False)  # as in a rule file
    method: str = "proportional"
    description: str = ""
    conditions: tuple[Condition, ...] = field(init=False, default=())  # `match`, parsed

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"method {self.method!r} is not known{did_you_mean(self.method, METHODS)}",
                expected=f"one of {list(METHODS)}",
                found=repr(self.method),
            )
        if not self.match:
            raise ConfigError("match must name at least one condition")
        # no file yet: parse_section names it (and the entry) for every error raised here
        conds = tuple(
            _condition(f, v, "match", "", tuple(CLASS_COLUMNS)) for f, v in self.match.items()
        )
        object.__setattr__(self, "conditions", conds)

    def expr(self) -> pl.Expr:
        cond = pl.lit(True)
        for c in self.conditions:
            cond = cond & c.expr(pl.col(c.field))
        return cond


@dataclass(frozen=True)
class AllocationSettings:
    """`[allocation]` in finops.toml."""

    shared: tuple[SharedRule, ...] = ()
    unallocated: str = "unallocated"


def parse_allocation(data: Any, origin: str = "finops.toml") -> AllocationSettings:
    return parse_section(AllocationSettings, data, "allocation", origin)


def coverage(classified: pl.LazyFrame, unallocated: str = "unallocated") -> pl.DataFrame:
    """Per billing period and currency: total, spend with a team, % of spend with a team."""
    return (
        classified.group_by(
            pl.col("BillingPeriodStart").dt.strftime("%Y-%m").alias("billing_period"),
            pl.col("BillingCurrency").alias("currency"),
        )
        .agg(
            pl.col("EffectiveCost").sum().alias("total"),
            pl.col("EffectiveCost")
            .filter(pl.col("x_Team") != unallocated)
            .sum()
            .alias("with_team"),
            pl.col("EffectiveCost")
            .filter(pl.col("x_TeamRule").str.starts_with("tag:"))
            .sum()
            .alias("tagged"),
        )
        .with_columns(
            pl.when(pl.col("total") != 0)
            .then(pl.col("with_team").cast(pl.Float64) / pl.col("total").cast(pl.Float64) * 100)
            .alias("team_coverage_pct"),
            pl.when(pl.col("total") != 0)
            .then(pl.col("tagged").cast(pl.Float64) / pl.col("total").cast(pl.Float64) * 100)
            .alias("tag_coverage_pct"),
        )
        .sort("billing_period", "currency")
        .collect()
    )


def _split(
    amount: Decimal, weights: dict[str, Decimal], rank: dict[str, Decimal]
) -> dict[str, Decimal]:
    """Shares of `amount` by weight; the rounding remainder goes to the top of `rank`."""
    total = sum(weights.values(), Decimal(0))
    names = sorted(weights)
    if total == 0:
        weights = dict.fromkeys(names, Decimal(1))
        total = Decimal(len(names))
    parts = {
        n: (amount * weights[n] / total).quantize(Q12, rounding=ROUND_HALF_EVEN) for n in names
    }
    biggest = max(names, key=lambda n: (rank.get(n, Decimal(0)), n))
    parts[biggest] += amount - sum(parts.values(), Decimal(0))
    return parts


def allocate(classified: pl.LazyFrame, settings: AllocationSettings) -> pl.DataFrame:
    """Per billing period, currency and team: direct, shared and total EffectiveCost.

    The team `settings.unallocated` carries lines without a team (and shared pools no team
    could take). Summing `total` over all rows of a period and currency gives its total.
    """
    un = settings.unallocated
    shared_id: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(settings.shared):
        shared_id = pl.when(rule.expr()).then(pl.lit(rule.id)).otherwise(shared_id)
    agg = (
        classified.with_columns(
            pl.col("BillingPeriodStart").dt.strftime("%Y-%m").alias("billing_period"),
            pl.col("BillingCurrency").alias("currency"),
            shared_id.alias("_shared"),
        )
        .group_by("billing_period", "currency", "x_Team", "_shared")
        .agg(pl.col("EffectiveCost").sum().alias("cost"))
        .collect()
    )
    methods = {r.id: r.method for r in settings.shared}
    out: dict[tuple[str, str, str], list[Decimal]] = {}
    for (period, cur), grp in agg.group_by("billing_period", "currency", maintain_order=True):
        direct: dict[str, Decimal] = {}
        pools: dict[str, Decimal] = {}
        for team, sid, cost in grp.select("x_Team", "_shared", "cost").iter_rows():
            if sid is not None:
                pools[sid] = pools.get(sid, Decimal(0)) + cost
            else:
                direct[team] = direct.get(team, Decimal(0)) + cost
        teams = {t: c for t, c in direct.items() if t != un}
        rows = {t: [c, Decimal(0)] for t, c in direct.items()}
        for sid, amount in sorted(pools.items()):
            if not teams:
                rows.setdefault(un, [Decimal(0), Decimal(0)])[1] += amount
                continue
            weights = teams if methods[sid] == "proportional" else dict.fromkeys(teams, Decimal(1))
            for t, part in _split(amount, weights, teams).items():
                rows[t][1] += part
        for t, (d, s) in rows.items():
            out[(str(period), str(cur), t)] = [d, s]
    data = [
        {"billing_period": p, "currency": c, "team": t, "direct": d, "shared": s, "total": d + s}
        for (p, c, t), (d, s) in sorted(out.items())
    ]
    schema = {
        "billing_period": pl.String,
        "currency": pl.String,
        "team": pl.String,
        "direct": MONEY,
        "shared": MONEY,
        "total": MONEY,
    }
    return pl.DataFrame(data, schema=schema) if data else pl.DataFrame(schema=schema)
