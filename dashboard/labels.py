"""Column labels and number formats for people: the one definition the dashboard's tables, its
CSV downloads, the CLI's tables and the finance pack share.

A column is known by its name (`idle_hours`, `x_Team`, `cost_per_gb`); `label` gives its words
with their unit ("Idle GPU-hours", "Cost per GB (USD)") and `kind_of` what it holds, which says
how it is shown: money at the currency's minor units, counts whole with thousands separators,
shares as percentages with one decimal, gigabytes with one decimal, months as 2026-10.
A name that is already words ("Amortised cost (USD)") is kept as it is.

Text cells that are codes (`gpu_compute`, `hard_idle`, `on_demand`) read as words
(`value_words`); identifiers (resource ids, SKUs, line ids) are shown as they are.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

import polars as pl

from dashboard.palette import AI_CLASSES, WORKLOADS
from models.currency import minor_units, to_minor_units


class Kind(StrEnum):
    MONEY = "money"  # an amount in the table's currency
    PRICE = "price"  # money per unit (per GPU-hour, per GB, per seat, per day)
    UNIT_COST = "unit_cost"  # money per 1k requests or 1M tokens: cents would hide it
    COUNT = "count"  # whole things: hours, GPUs, lines, seats
    SHARE = "share"  # a fraction (0.581), shown as 58.1%
    GB = "gb"  # gigabytes moved or stored
    NUMBER = "number"  # any other number (a z-score, a quantity)
    MONTH = "month"
    DATE = "date"
    TIME = "time"
    TEXT = "text"
    ID = "id"  # an identifier: shown exactly, never turned into words


_AMOUNTS = (Kind.MONEY, Kind.PRICE, Kind.UNIT_COST)  # in a currency: headed with it

# Known columns: name -> (words, kind). Money and prices get the currency after their words.
_KNOWN: dict[str, tuple[str, Kind]] = {
    # GPUs
    "resource": ("Resource", Kind.TEXT),
    "resource_id": ("Resource ID", Kind.ID),
    "ResourceId": ("Resource ID", Kind.ID),
    "idle_cost": ("Idle cost", Kind.MONEY),
    "idle_hours": ("Idle GPU-hours", Kind.COUNT),
    "idle_gpus": ("Idle GPUs", Kind.COUNT),
    "longest_episode_h": ("Longest idle (h)", Kind.COUNT),
    "unmonitored_hours": ("Unmonitored GPU-hours", Kind.COUNT),
    "monitored_hours": ("Monitored GPU-hours", Kind.COUNT),
    "useful_hours": ("Useful GPU-hours", Kind.COUNT),
    "unsampled_hours": ("Hours without samples", Kind.COUNT),
    "gpu_hours": ("GPU-hours", Kind.COUNT),
    "gpus": ("GPUs", Kind.COUNT),
    "gpu_model": ("GPU model", Kind.TEXT),
    "mean_activity": ("Mean GPU activity", Kind.SHARE),
    "deployment": ("Deployment", Kind.TEXT),
    "option": ("Option", Kind.TEXT),
    "assumption": ("Assumption", Kind.TEXT),
    "unit": ("Unit", Kind.TEXT),
    "change_pct": ("Change", Kind.SHARE),
    "used_pct": ("Used", Kind.SHARE),
    "cost_centre": ("Cost centre", Kind.TEXT),
    "anomaly": ("Anomaly in", Kind.TEXT),
    "hours": ("Hours", Kind.COUNT),
    "state": ("State", Kind.TEXT),
    # unit costs (per model served)
    "served_by": ("Served by", Kind.TEXT),
    "served_in_full": ("Served by, in full", Kind.TEXT),
    "how": ("How", Kind.TEXT),
    "requests": ("Requests", Kind.COUNT),
    "tokens": ("Tokens", Kind.COUNT),
    "tokens_served": ("Tokens served", Kind.COUNT),
    "per_1k_requests": ("Per 1k requests", Kind.UNIT_COST),
    "per_1m_tokens": ("Per 1M tokens", Kind.UNIT_COST),
    "per_1m_output_tokens": ("Per 1M output tokens", Kind.UNIT_COST),
    "api_model": ("Comparable API", Kind.TEXT),
    "self_hosted_cost": ("Self-hosted cost", Kind.MONEY),
    "api_cost_at_this_volume": ("API cost at this volume", Kind.MONEY),
    "break_even_tokens_a_month": ("Break-even tokens a month", Kind.COUNT),
    "cheaper": ("Cheaper", Kind.TEXT),
    # spend
    "cost": ("Cost", Kind.MONEY),
    "spend": ("Spend", Kind.MONEY),
    "key": ("Name", Kind.TEXT),
    "lines": ("Lines", Kind.COUNT),
    "change": ("Change", Kind.MONEY),
    "excess": ("Above expected", Kind.MONEY),
    "expected": ("Expected", Kind.MONEY),
    "during": ("Spend during", Kind.MONEY),
    "baseline_per_day": ("Usual spend per day", Kind.PRICE),
    "peak_z": ("Peak z-score", Kind.NUMBER),
    "lo80": ("80% low", Kind.MONEY),
    "hi80": ("80% high", Kind.MONEY),
    "lo95": ("95% low", Kind.MONEY),
    "hi95": ("95% high", Kind.MONEY),
    "method": ("Method", Kind.TEXT),
    "measure": ("Measure", Kind.TEXT),
    "dimension": ("Dimension", Kind.TEXT),
    "days": ("Days", Kind.COUNT),
    "start": ("Start", Kind.TIME),  # a day, or an hour of an idle episode: by its values
    "end": ("End", Kind.TIME),
    # movement and tools
    "gb": ("Data moved (GB)", Kind.GB),
    "cost_per_gb": ("Cost per GB", Kind.PRICE),
    # a dedicated link against the transfer it replaces (the Data movement page)
    # (a month each: the table's caption says so; short, so that the table fits the page)
    "gb_a_month": ("GB", Kind.GB),
    "billed_a_month": ("Billed today", Kind.MONEY),
    "link_a_month": ("Link", Kind.MONEY),
    "saving_a_month": ("Saving", Kind.MONEY),
    "break_even_gb_a_month": ("Break-even GB", Kind.GB),
    "busiest_hour_gbps": ("Busiest hour (Gbps)", Kind.NUMBER),
    # workload placement (the Own vs rent page)
    "moving_data_once": ("Moving data once", Kind.MONEY),
    "family": ("Family", Kind.TEXT),
    "tool": ("Tool", Kind.TEXT),
    "tools": ("Tools", Kind.COUNT),
    "teams": ("Teams", Kind.COUNT),
    "seats": ("Seats", Kind.COUNT),
    "active_seats": ("Active seats", Kind.COUNT),
    "keep": ("Keep", Kind.TEXT),
    "best_per_seat": ("Best price per active seat", Kind.PRICE),
    "saving": ("Saving", Kind.MONEY),
    # own vs rent
    "sku": ("SKU", Kind.ID),
    "pricing_model": ("Pricing", Kind.TEXT),
    "committed": ("Committed", Kind.TEXT),
    "price_per_gpu_hour": ("Price per GPU-hour", Kind.PRICE),
    "cost_per_useful_gpu_hour": ("Per useful GPU-hour", Kind.PRICE),
    "break_even_utilisation": ("Break-even utilisation", Kind.SHARE),
    "annual_cost_per_node": ("Annual cost per node", Kind.MONEY),
    "as_of": ("As of", Kind.DATE),
    "confidence": ("Confidence", Kind.TEXT),
    # commitments
    "commitment_id": ("Commitment ID", Kind.ID),
    "utilisation": ("Utilisation", Kind.SHARE),
    "coverage": ("Coverage", Kind.SHARE),
    "commitment": ("Commitment", Kind.TEXT),
    "purchase": ("Billed", Kind.MONEY),
    "used": ("Used", Kind.MONEY),
    "unused": ("Unused", Kind.MONEY),
    "savings": ("Saved vs on-demand", Kind.MONEY),
    # budgets
    "budget_name": ("Budget", Kind.TEXT),
    "covers": ("Covers", Kind.TEXT),
    "period": ("Period", Kind.TEXT),
    "owner": ("Owner", Kind.TEXT),
    "budget": ("Budget", Kind.MONEY),
    "actual": ("Actual to date", Kind.MONEY),
    "forecast": ("Forecast to period end", Kind.MONEY),
    "forecast_low": ("Forecast 80% low", Kind.MONEY),
    "forecast_high": ("Forecast 80% high", Kind.MONEY),
    "first_breach": ("First breach", Kind.DATE),
    # health and reports
    "dataset": ("Dataset", Kind.TEXT),
    "source": ("Source", Kind.TEXT),
    "billing_account": ("Billing account", Kind.ID),
    "billing_period": ("Billing period", Kind.TEXT),
    "currency": ("Currency", Kind.TEXT),
    "rows": ("Rows", Kind.COUNT),
    "loads": ("Loads", Kind.COUNT),
    "source_total": ("Source total", Kind.MONEY),
    "invoice_total": ("Invoice total", Kind.MONEY),
    "warehouse_total": ("Warehouse total", Kind.MONEY),
    "difference": ("Difference", Kind.MONEY),
    "invoice_difference": ("Difference to invoice", Kind.MONEY),
    "status": ("Status", Kind.TEXT),
    "check": ("Check", Kind.TEXT),
    "finished_at": ("Finished", Kind.TIME),
    "last_load": ("Last load", Kind.TIME),
    "newest_period": ("Newest period", Kind.TEXT),
    "data_until": ("Data until", Kind.TIME),
    "table_version": ("Table version", Kind.ID),
    "load_id": ("Load ID", Kind.ID),
    # line items (FOCUS columns and ours)
    "x_LineId": ("Line ID", Kind.ID),
    "x_Team": ("Team", Kind.TEXT),
    "x_Project": ("Project", Kind.TEXT),
    "x_Environment": ("Environment", Kind.TEXT),
    "x_AiClass": ("AI class", Kind.TEXT),
    "x_Workload": ("Workload", Kind.TEXT),
    "x_UsageType": ("Usage type", Kind.ID),
    "ChargePeriodStart": ("Charge start", Kind.TIME),
    "ServiceName": ("Service", Kind.TEXT),
    "RegionId": ("Region", Kind.TEXT),
    "ConsumedQuantity": ("Quantity", Kind.NUMBER),
    "ConsumedUnit": ("Unit", Kind.TEXT),
    "BilledCost": ("Billed cost", Kind.MONEY),
    "EffectiveCost": ("Amortised cost", Kind.MONEY),
    "ai_class": ("AI class", Kind.TEXT),
    "env": ("Environment", Kind.TEXT),
}
_ABBREVIATIONS = {
    "gpu": "GPU", "gpus": "GPUs", "gb": "GB", "ai": "AI", "id": "ID", "sku": "SKU",
    "saas": "SaaS", "cpu": "CPU", "aws": "AWS", "gcp": "GCP", "usd": "USD", "kw": "kW",
    "kwh": "kWh", "pue": "PUE", "wacc": "WACC", "frac": "fraction", "nd": "ND",
}  # fmt: skip

# By name, for columns not listed above (the first that matches decides).
_COUNTS = re.compile(r"hours|_h$|gpus$|lines|rows|resources|seats|count|^n$", re.I)
_PRICES = re.compile(r"per_|price", re.I)
_MONEY = re.compile(r"cost|saving|spend|excess|expected|baseline|during|total|purchase", re.I)
_SHARES = re.compile(r"activity|coverage|share|utilisation|fraction", re.I)
_IDS = re.compile(r"(^|_)id$|Id$|ID$", re.I)
# A name already in words: spaces or an upper-case first letter that is not a FOCUS name.
_WORDS = re.compile(r"\s|\(")
# A text value that is a code, not words: lower-case parts joined by underscores.
_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


# Times whose hour is the point (an idle episode starts at 00:00 as at 13:00): never shown as
# bare dates, whatever their values.
_HOURS_MATTER = frozenset({"start", "end", "finished_at", "last_load", "data_until"})


def as_days(name: str, values: pl.Series) -> bool:
    """Whether a column of times reads as dates: every value at midnight (a daily charge),
    unless its hours matter."""
    if values.dtype == pl.Date:
        return True
    if name in _HOURS_MATTER or not isinstance(values.dtype, pl.Datetime):
        return False
    present = values.drop_nulls()
    return present.len() > 0 and bool((present.dt.truncate("1d") == present).all())


def words(name: str) -> str:
    """A code as words: `x_AiClass` -> 'AI class', `gpu_compute` -> 'GPU compute',
    `BilledCost` -> 'Billed cost'."""
    text = re.sub(r"^x_", "", name)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text).replace("_", " ").strip()
    parts = [_ABBREVIATIONS.get(p.lower(), p.lower()) for p in text.split()]
    if not parts:
        return name
    first = parts[0]
    parts[0] = first if first in _ABBREVIATIONS.values() else first.capitalize()
    return " ".join(parts)


def kind_of(name: str, dtype: pl.DataType | None = None) -> Kind:
    """What a column holds, by its name and (when given) its type."""
    if name in _KNOWN:
        return _KNOWN[name][1]
    if dtype is not None:
        if dtype == pl.Date:
            return Kind.MONTH if name == "month" else Kind.DATE
        if isinstance(dtype, pl.Datetime):
            return Kind.MONTH if name == "month" else Kind.TIME
        if not dtype.is_numeric():
            return Kind.ID if _IDS.search(name) else Kind.TEXT
    if name == "month":
        return Kind.MONTH
    if _IDS.search(name):
        return Kind.ID
    for pattern, kind in (
        (_COUNTS, Kind.COUNT),
        (_SHARES, Kind.SHARE),
        (_PRICES, Kind.PRICE),
        (_MONEY, Kind.MONEY),
    ):
        if pattern.search(name):
            return kind
    if dtype is not None and isinstance(dtype, pl.Decimal):
        return Kind.MONEY  # decimal columns of ours are money
    return Kind.NUMBER if dtype is None or dtype.is_numeric() else Kind.TEXT


def label(name: str, currency: str | None = None) -> str:
    """A column's heading: its words, then its unit: 'Idle cost (USD)', 'Mean GPU activity (%)'.
    A name already in words keeps them (it says its own unit)."""
    if _WORDS.search(name) and name not in _KNOWN:
        return name[0].upper() + name[1:]
    text, kind = _KNOWN.get(name, (words(name), kind_of(name)))
    if kind in _AMOUNTS and currency:
        return f"{text} ({currency})"
    if kind is Kind.SHARE:
        return f"{text} (%)"
    return text


NONE = "–"  # an empty text cell, not the word "None"
# Codes without an underscore that still read as code.
_VALUES = {"onprem": "On-prem", "cloud": "Cloud"}
_CLASSES = {*AI_CLASSES, *WORKLOADS}  # AI classes and workloads, one word or more


def value_words(value: object) -> object:
    """A code shown in a table or a legend as words; anything else as it is."""
    if isinstance(value, str) and _CODE.match(value):
        return words(value)
    if isinstance(value, str) and value in _VALUES:
        return _VALUES[value]
    if isinstance(value, str) and value in _CLASSES:
        return words(value)  # "egress" beside "GPU compute" reads as a code: "Egress"
    return value


def decimals(kind: Kind, currency: str | None) -> int | None:
    """Digits after the point a number of `kind` is shown with (None: not a number)."""
    if kind in _AMOUNTS:
        digits = minor_units(currency)
        return (2 if digits is None else digits) + (2 if kind is Kind.UNIT_COST else 0)
    return {Kind.COUNT: 0, Kind.SHARE: 1, Kind.GB: 1, Kind.NUMBER: 2}.get(kind)


def money_cell(value: object, currency: str | None) -> Decimal | None:
    """An amount at its currency's minor units (half-even), as the totals are rounded."""
    if value is None:
        return None
    amount = Decimal(str(value))
    return to_minor_units(amount, currency) if minor_units(currency) is not None else amount


def _at(value: Decimal, digits: int) -> Decimal:
    """`value` at `digits` after the point, half-even (the currency's minor units, or 2 in a
    table whose rows each say their currency)."""
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)


def shown(
    frame: pl.DataFrame, currency: str | None, exact: bool = False, empty: str | None = NONE
) -> pl.DataFrame:
    """`frame` with the values people read: money at minor units, shares as percentages with
    one decimal, counts whole, other numbers at two decimals, codes as words. The column
    names stay (a page still finds its columns); `label` heads them. With `exact`, money
    keeps every digit (a CSV of line items, where a request costs USD 0.0000004)."""
    out = []
    for name, dtype in frame.schema.items():
        col, kind = pl.col(name), kind_of(name, dtype)
        digits = decimals(kind, currency)
        if dtype.is_numeric() and digits is not None:
            if kind in _AMOUNTS and exact:
                out.append(col)
            elif kind in _AMOUNTS and isinstance(dtype, pl.Decimal):
                out.append(
                    col.map_elements(
                        lambda v, d=digits: _at(v, d), return_dtype=pl.Decimal(38, digits)
                    )
                )
            elif kind is Kind.SHARE:
                out.append((col.cast(pl.Float64) * 100).round(1))
            elif kind is Kind.COUNT and dtype.is_integer():
                out.append(col)
            else:
                out.append(col.cast(pl.Float64).round(digits))
        elif dtype == pl.String and kind is Kind.TEXT:
            as_words = col.map_elements(value_words, return_dtype=pl.String)
            out.append(as_words if empty is None else as_words.fill_null(empty))
        elif dtype == pl.String and empty is not None:
            out.append(col.fill_null(empty))
        else:
            out.append(col)
    return frame.select(out) if out else frame


def number_text(value: object, kind: Kind, currency: str | None) -> str:
    """A number as a table shows it (after `shown`): '1,234.50', '58.1%', '1,235'; no number
    is a dash."""
    if value is None:
        return NONE
    digits = decimals(kind, currency)
    text = f"{float(value):,.{2 if digits is None else digits}f}"
    return f"{text}%" if kind is Kind.SHARE else text


def csv_frame(frame: pl.DataFrame, currency: str | None, exact: bool = False) -> pl.DataFrame:
    """A table as a downloaded CSV carries it: headings in words with units, values as
    `shown`, and a Currency column wherever there is money (a file read on its own says what
    its amounts are)."""
    money = [n for n, t in frame.schema.items() if kind_of(n, t) in _AMOUNTS]
    out = shown(frame, currency, exact, empty=None)  # an empty field stays empty
    if money and currency and "currency" not in frame.columns:
        out = out.with_columns(pl.lit(currency).alias("currency"))
    return out.rename({n: label(n, currency) for n in out.columns})


def csv_bytes(frame: pl.DataFrame, currency: str | None, exact: bool = False) -> bytes:
    """A table as the CSV a download button serves (`csv_frame`), written the one way the
    product writes CSV; exact money without the zeros the storage type pads it with
    (0.0000004, not 0.000000400000)."""
    from dashboard.report.csv_cells import Figure, csv_text

    out = csv_frame(frame, currency, exact)
    padded = {i for i, t in enumerate(out.dtypes) if exact and isinstance(t, pl.Decimal)}
    rows = (
        [Figure(_plain(v)) if i in padded and v is not None else v for i, v in enumerate(row)]
        for row in out.iter_rows()
    )
    return csv_text(out.columns, rows).encode("utf-8")


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
