"""Tool sprawl: capability families bought more than once, and what consolidating would save.

The catalogue (models/sprawl_catalogue.toml, editable) maps vendors/products to families;
classification tags each SaaS / marketplace / managed-AI line with `x_ToolFamily` and `x_Tool`.
`sprawl()` then reports, per family and currency with two or more tools: the tools, the
teams buying them, spend, seats where invoices carry them, and an estimated saving with the
assumption stated next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from models.classify import Tool
from models.errors import ConfigError, did_you_mean
from models.rules import _check_regex
from models.schema import MONEY


@dataclass(frozen=True)
class Family:
    id: str
    label: str
    consolidation_rate: Decimal


def parse_tool_catalogue(
    doc: dict[str, Any], origin: str = "sprawl_catalogue.toml"
) -> tuple[list[Tool], dict[str, Family]]:
    for key in doc:
        if key not in ("families", "tools"):
            raise ConfigError(
                f"unknown key {key!r}{did_you_mean(key, ['families', 'tools'])}",
                file=origin,
                expected="[families.<id>] and [[tools]]",
            )
    families: dict[str, Family] = {}
    for fid, spec in doc.get("families", {}).items():
        if not isinstance(spec, dict) or set(spec) - {"label", "consolidation_rate"}:
            raise ConfigError(
                f"family {fid!r}: only label and consolidation_rate are allowed",
                file=origin,
                found=repr(spec),
            )
        rate = Decimal(str(spec.get("consolidation_rate", 0.5)))
        if not Decimal(0) <= rate <= Decimal(1):
            raise ConfigError(
                f"family {fid!r}: consolidation_rate must be within 0..1",
                file=origin,
                found=str(rate),
            )
        families[fid] = Family(fid, str(spec.get("label", fid)), rate)
    tools: list[Tool] = []
    for i, spec in enumerate(doc.get("tools", [])):
        where = f"tool #{i + 1}"
        if not isinstance(spec, dict) or set(spec) != {"name", "family", "pattern"}:
            raise ConfigError(
                f"{where}: needs exactly name, family and pattern", file=origin, found=repr(spec)
            )
        if spec["family"] not in families:
            raise ConfigError(
                f"{where} ({spec['name']}): unknown family {spec['family']!r}"
                f"{did_you_mean(spec['family'], families)}",
                file=origin,
                expected=f"one of {sorted(families)}",
            )
        pattern = _check_regex(spec["pattern"], f"{where} ({spec['name']})", origin)
        tools.append(Tool(str(spec["name"]), str(spec["family"]), pattern))
    return tools, families


def sprawl(classified: pl.LazyFrame, families: dict[str, Family]) -> pl.DataFrame:
    """One row per (family, currency) for families bought from two or more tools (in any
    currency); `tools` and `teams` are the family's, spend and saving are per currency.

    Columns: family, label, currency, tools, teams, n_tools, spend, primary_tool,
    other_tools_spend, seats, active_seats, estimated_saving, assumption.
    Seats are those of each tool's latest invoiced month (summing months would count a seat
    once per month).
    """
    lines = classified.filter(pl.col("x_ToolFamily").is_not_null()).select(
        pl.col("x_ToolFamily").alias("family"),
        pl.col("x_Tool").alias("tool"),
        pl.col("x_Team").alias("team"),
        pl.col("BillingCurrency").alias("currency"),
        pl.col("EffectiveCost").cast(MONEY).alias("cost"),
        pl.col("BillingPeriodStart").alias("period"),
        pl.col("x_Seats").alias("seats"),
        pl.col("x_ActiveSeats").alias("active_seats"),
    )
    per_tool = (
        lines.group_by("family", "currency", "tool")
        .agg(
            pl.col("cost").sum().alias("spend"),
            pl.col("team").unique().sort().alias("teams"),
            pl.col("seats").filter(pl.col("period") == pl.col("period").max()).sum(),
            pl.col("active_seats").filter(pl.col("period") == pl.col("period").max()).sum(),
            pl.col("seats").is_not_null().any().alias("has_seats"),
        )
        .collect()
    )
    rows = []
    for (fam,), fgrp in per_tool.group_by("family", maintain_order=True):
        all_tools = sorted(set(fgrp["tool"].to_list()))
        if len(all_tools) < 2:
            continue
        # money is never summed across currencies: one row per currency of the family; the
        # primary tool is the biggest one in the currency with the most tools
        by_cur = fgrp.group_by("currency").agg(pl.len().alias("n"))
        main_cur = sorted(by_cur.rows(), key=lambda r: (-r[1], r[0] != "USD", r[0]))[0][0]
        main = fgrp.filter(pl.col("currency") == main_cur).sort(
            ["spend", "tool"], descending=[True, False]
        )
        primary = main["tool"][0]
        family = families.get(str(fam)) or Family(str(fam), str(fam), Decimal("0.5"))
        for (cur,), grp in fgrp.group_by("currency", maintain_order=True):
            spend = sum(grp["spend"].to_list(), Decimal(0))
            kept = (
                grp.filter(pl.col("tool") == primary)["spend"].sum()
                if primary in set(grp["tool"])
                else Decimal(0)
            )
            others = spend - Decimal(kept)
            saving = (others * family.consolidation_rate).quantize(Decimal("0.01"))
            seated = grp.filter(pl.col("has_seats"))
            rows.append(
                {
                    "family": fam,
                    "label": family.label,
                    "currency": cur,
                    "tools": all_tools,
                    "teams": sorted({t for ts in fgrp["teams"].to_list() for t in ts}),
                    "n_tools": len(all_tools),
                    "spend": spend,
                    "primary_tool": primary,
                    "other_tools_spend": others,
                    "seats": int(seated["seats"].sum()) if seated.height else None,
                    "active_seats": int(seated["active_seats"].sum()) if seated.height else None,
                    "estimated_saving": saving,
                    "assumption": (
                        f"consolidating onto {primary} (largest spend) saves "
                        f"{family.consolidation_rate:.0%} of the other tools' spend; the rest "
                        f"buys extra capacity on {primary}"
                    ),
                }
            )
    schema = {
        "family": pl.String,
        "label": pl.String,
        "currency": pl.String,
        "tools": pl.List(pl.String),
        "teams": pl.List(pl.String),
        "n_tools": pl.Int64,
        "spend": MONEY,
        "primary_tool": pl.String,
        "other_tools_spend": MONEY,
        "seats": pl.Int64,
        "active_seats": pl.Int64,
        "estimated_saving": MONEY,
        "assumption": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
