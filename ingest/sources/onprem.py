"""On-prem GPU inventory (CSV or TOML) -> `assets` and daily owned-cost lines in `cost_lines`.

One inventory row per server. Each day a server is in service becomes one cost line priced
by models/onprem_cost.py (gpu_economics.md §A4); the lines of one (site, month) are one load,
billing account = the site. Energy above idle uses the power that `gpu_util` measured on the
server's hosts when there is any, else the load estimate — so running `finops ingest onprem`
again after telemetry has been ingested refines the energy part (the telemetry used is part
of the load's fingerprint, so such a re-run commits while an identical one does not).
A line's `Tags` are the server's `team` and its inventory `tags` (e.g. `workload=training`).
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl

from ingest.sources.inventory import Inventory, InventoryRow, read_inventory
from ingest.warehouse.load_contract import AssetsLoad, PeriodLoad, SourceFile
from models.errors import InputError, ReconciliationError
from models.onprem_cost import PARTS, day_cost, gpu_hour_rate, period_cost
from models.schema import ASSETS, MONEY

CENT = Decimal("0.01")
__all__ = ["Inventory", "assets_load", "period_loads", "plan", "read_inventory"]


# ---- the assets table -------------------------------------------------------------------


def assets_frame(inv: Inventory) -> pl.DataFrame:
    """The inventory as rows of `assets` (the writer adds x_LoadId)."""

    def ts(d: date | None) -> datetime | None:
        return None if d is None else datetime(d.year, d.month, d.day, tzinfo=UTC)

    records = []
    for r in inv.rows:
        s = r.server
        records.append(
            {
                "asset_id": s.asset_id,
                "site": r.site,
                "hostnames": ";".join(r.hostnames),
                "gpu_model": r.gpu_model,
                "gpu_model_known": r.watts is not None,
                "gpus": s.gpus,
                "purchase_date": ts(s.purchase_date),
                "retired_date": ts(s.retired_date),
                "server_capex": s.server_capex,
                "network_capex": s.network_capex,
                "life_years": s.life_years,
                "residual_fraction": s.residual_fraction,
                "wacc": s.wacc,
                "power_idle_kw": s.power_idle_kw,
                "power_load_kw": s.power_load_kw,
                "provisioned_kw": s.provisioned_kw,
                "pue": s.pue,
                "usd_per_kwh": s.usd_per_kwh,
                "colo_usd_per_kw_month": s.colo_usd_per_kw_month,
                "ops_usd_per_year": s.ops_usd_per_year,
                "team": r.team,
                "currency": r.currency,
                "gpu_hour_rate": gpu_hour_rate(s),
                "x_SourceFile": str(inv.path),
            }
        )
    schema = {k: v for k, v in ASSETS.polars_schema.items() if k != "x_LoadId"}
    return pl.DataFrame(records, schema=schema)


def assets_load(inv: Inventory) -> AssetsLoad:
    """The inventory's servers, replacing the assets of its sites."""
    files = [SourceFile.of(inv.path)]
    return AssetsLoad(assets_frame(inv), list(inv.sites), files, str(inv.path))


# ---- measured energy --------------------------------------------------------------------


def measured_load(
    inv: Inventory, gpu_util: pl.DataFrame
) -> dict[str, dict[date, tuple[int, Decimal]]]:
    """asset_id -> day -> (GPU-hours with measured power, sum of their load fractions).

    `gpu_util` holds rows of the inventory's hosts (columns host, hour, avg_power_w,
    energy_kwh). A fraction is measured energy over the board power for the hour, capped at 1.
    """
    host_asset = {h: r for r in inv.rows if r.watts for h in r.hostnames}
    out: dict[str, dict[date, list]] = defaultdict(lambda: defaultdict(lambda: [0, Decimal(0)]))
    if gpu_util.height == 0 or not host_asset:
        return {}
    rows = gpu_util.filter(
        pl.col("host").is_in(list(host_asset))
        & (pl.col("energy_kwh").is_not_null() | pl.col("avg_power_w").is_not_null())
    )
    for host, hour, power, energy in rows.select(
        "host", "hour", "avg_power_w", "energy_kwh"
    ).iter_rows():
        r = host_asset[host]
        kwh = energy if energy is not None else power / 1000.0
        frac = min(max(Decimal(repr(kwh)) * 1000 / r.watts, Decimal(0)), Decimal(1))  # type: ignore[operator]
        cell = out[r.server.asset_id][hour.date()]
        cell[0] += 1
        cell[1] += frac.quantize(Decimal("1E-6"), ROUND_HALF_EVEN)
    return {a: {d: (n, f) for d, (n, f) in days.items()} for a, days in out.items()}


def fingerprint(measured: dict[str, dict[date, tuple[int, Decimal]]]) -> SourceFile:
    """A stand-in 'file' for the telemetry a load used, so new telemetry makes a new load."""
    text = json.dumps(
        {
            a: {d.isoformat(): [n, str(f)] for d, (n, f) in sorted(v.items())}
            for a, v in sorted(measured.items())
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    return SourceFile("gpu_util (measured energy above idle)", digest, len(text))


# ---- cost lines -------------------------------------------------------------------------


def month_days(month: str) -> tuple[date, date]:
    y, m = (int(x) for x in month.split("-"))
    return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]) + timedelta(days=1)


def months_between(first: str, last: str) -> list[str]:
    out, (y, m) = [], (int(x) for x in first.split("-"))
    while f"{y}-{m:02d}" <= last:
        out.append(f"{y}-{m:02d}")
        y, m = y + (m == 12), m % 12 + 1
    return out


def period_loads(
    inv: Inventory,
    months: list[str],
    measured: dict[str, dict[date, tuple[int, Decimal]]],
    until: date | None = None,
) -> Iterator[PeriodLoad]:
    """One PeriodLoad per (site, month) with any server in service; days before `until`."""
    files = [SourceFile.of(inv.path), fingerprint(measured)]
    for site in inv.sites:
        rows = [r for r in inv.rows if r.site == site]
        currencies = sorted({r.currency for r in rows})
        if len(currencies) > 1:
            raise InputError(
                f"site {site!r} has servers in more than one currency",
                file=str(inv.path),
                expected="one currency per site",
                found=", ".join(currencies),
                hint="costs are never summed across currencies; convert the inputs first",
            )
        for month in months:
            start, end = month_days(month)
            if until is not None:
                end = min(end, until)
            if end <= start:
                continue
            lines, model_total = [], Decimal(0)
            for r in rows:
                m = measured.get(r.server.asset_id, {})
                d = start
                while d < end:
                    n, load = m.get(d, (0, Decimal(0)))
                    cost = day_cost(r.server, d, n, load)
                    if cost is not None:
                        lines.append(_line(r, cost, month, str(inv.path)))
                    d += timedelta(days=1)
                model_total += period_cost(r.server, start, end, m)
            if not lines:
                continue
            total = sum((ln["EffectiveCost"] for ln in lines), Decimal(0))
            if abs(total - model_total) >= CENT / 2:
                raise ReconciliationError(
                    f"on-prem {site} {month}: daily lines differ from the model's period cost",
                    file=str(inv.path),
                    expected=str(model_total.quantize(CENT)),
                    found=str(total.quantize(CENT)),
                    hint="nothing was committed; this is a bug in the cost model",
                )
            yield PeriodLoad(
                source="onprem",
                billing_account=site,
                billing_period=month,
                currency=currencies[0],
                files=files,
                lines=_frame(lines),
                source_total=total,
                label=str(inv.path),
            )


def _line(r: InventoryRow, cost, month: str, source_file: str) -> dict:
    s = r.server
    day0 = datetime(cost.day.year, cost.day.month, cost.day.day, tzinfo=UTC)
    p0, p1 = month_days(month)
    parts = {p: format(getattr(cost, p), "f") for p in PARTS}
    model = {
        **parts,
        "method": s.method,
        "energy_basis": cost.energy_basis,
        "measured_gpu_hours": cost.measured_gpu_hours,
    }
    total = cost.total
    return {
        "BilledCost": total,
        "EffectiveCost": total,
        "ListCost": total,
        "ContractedCost": total,
        "ContractedUnitPrice": (total / cost.gpu_hours).quantize(Decimal("1E-12")),
        "BillingAccountId": r.site,
        "BillingAccountName": r.site,
        "BillingCurrency": r.currency,
        "BillingPeriodStart": datetime(p0.year, p0.month, 1, tzinfo=UTC),
        "BillingPeriodEnd": datetime(p1.year, p1.month, 1, tzinfo=UTC),
        "ChargePeriodStart": day0,
        "ChargePeriodEnd": day0 + timedelta(days=1),
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargeDescription": f"Owned {s.gpus}x {r.gpu_model} server {s.asset_id}, one day",
        "ConsumedQuantity": Decimal(cost.gpu_hours),
        "ConsumedUnit": "GPU-Hours",
        "PricingQuantity": Decimal(cost.gpu_hours),
        "PricingUnit": "GPU-Hours",
        "PricingCategory": "Standard",
        "InvoiceIssuerName": r.site,
        "ProviderName": r.site,
        "PublisherName": r.site,
        "ResourceId": s.asset_id,
        "ResourceName": r.hostnames[0] if r.hostnames else s.asset_id,
        "ResourceType": "GPU server",
        "ServiceCategory": "Compute",
        "ServiceName": "On-prem GPU servers",
        "ServiceSubcategory": "Other (Compute)",
        "SkuId": r.gpu_model,
        "SkuPriceDetails": json.dumps({"GpuCount": s.gpus, "x_GpuModel": r.gpu_model}),
        "Tags": json.dumps(r.tags, sort_keys=True),  # the inventory's tags, team included
        "x_SourceFile": source_file,
        "x_UsageType": "OwnedGpuHours",
        "x_InstanceType": f"{s.gpus}x {r.gpu_model}",
        "x_GpuModel": r.gpu_model,
        "x_GpuCount": s.gpus,
        "x_CostModel": json.dumps(model),
    }


_MONEY_LINE = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ContractedUnitPrice")


def _frame(lines: list[dict]) -> pl.LazyFrame:
    frame = pl.DataFrame(
        lines,
        schema_overrides={
            **{c: MONEY for c in _MONEY_LINE},
            "ConsumedQuantity": MONEY,
            "PricingQuantity": MONEY,
            "x_SourceFile": pl.String,
        },
        infer_schema_length=None,
    )
    return frame.lazy()


# ---- planning a load --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    months: list[str]
    until: date | None  # days before this only (today when the window is open-ended)
    measured: dict[str, dict[date, tuple[int, Decimal]]]
    window_from: str  # how the months were chosen, for the user


def plan(root: Path, inv: Inventory, start: str | None, end: str | None, today: date) -> Plan:
    """Which months to price and what telemetry to use.

    Without --start/--end the months are those the clouds' bills in the warehouse cover (so
    owned and rented months compare like for like); with no cloud bills, from the first
    purchase to today.
    """
    for name, value in (("--start", start), ("--end", end)):
        if value is not None and not _is_month(value):
            raise InputError(f"{name} is not a month", expected="YYYY-MM", found=value)
    cloud_first = cloud_last = None
    hosts = sorted({h for r in inv.rows for h in r.hostnames})
    util = pl.DataFrame(
        schema={"host": pl.String, "hour": pl.Datetime("us", "UTC"),
                "avg_power_w": pl.Float64, "energy_kwh": pl.Float64}
    )  # fmt: skip
    if root.exists():
        from ingest.warehouse.connection import connect

        con = connect(root, derived=False)
        cloud_first, cloud_last = con.execute(
            "select strftime(min(BillingPeriodStart), '%Y-%m'), "
            "strftime(max(BillingPeriodStart), '%Y-%m') from cost_lines "
            "where x_Source not in ('onprem', 'saas')"
        ).fetchall()[0]
        if hosts:
            found = pl.from_arrow(
                con.sql(
                    # one row per GPU-hour even when two collectors watched the same GPU
                    "select distinct on (host, gpu_uuid, gpu_index, hour) host, hour, "
                    "avg_power_w, energy_kwh from gpu_util where list_contains($hosts, host) "
                    "order by host, gpu_uuid, gpu_index, hour, source",
                    params={"hosts": hosts},
                ).to_arrow_table()
            )
            assert isinstance(found, pl.DataFrame)
            util = found
    first_buy = min(r.server.purchase_date for r in inv.rows).strftime("%Y-%m")
    until: date | None = None
    if start and end:
        how = "--start/--end"
    elif cloud_first:
        how = "the months of the cloud bills in the warehouse"
    else:
        how = "first purchase to today"
    first = start or cloud_first or first_buy
    last = end or cloud_last or today.strftime("%Y-%m")
    if not (end or cloud_last):
        until = today
    if last < first:
        raise InputError("--end is before --start", found=f"{first} .. {last}")
    return Plan(months_between(first, last), until, measured_load(inv, util), how)


def _is_month(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m")
    except ValueError:
        return False
    return len(text) == 7
