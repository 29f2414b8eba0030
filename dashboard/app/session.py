"""What every page needs: the warehouse, its cached connection and answers, the chosen filters,
formatting and messages. The login gate is dashboard/app/login.py; the filter widgets are
dashboard/app/sidebar.py.

Connections and answers are cached per warehouse snapshot (`queries.snapshot_key`): a new
load changes the key, so the next rerun reads the new state while an ingest never waits for
the dashboard. Each query runs on its own cursor, so sessions do not share a statement.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import streamlit as st

from dashboard import labels
from dashboard.app import login
from dashboard.queries import gpu as queries_gpu
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from ingest.warehouse.connection import location
from ingest.warehouse.location import Location
from models.cost_basis import CostBasis
from models.settings import Settings, parse_settings

FILTERS_KEY = "finops_filters"
CURRENCY_KEY = "f_currency"


def root() -> Location:
    return location(os.environ.get("FINOPS_WAREHOUSE", "data/warehouse"))


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    path = os.environ.get("FINOPS_CONFIG")
    if not path or not Path(path).exists():
        return Settings()
    return parse_settings(tomllib.loads(Path(path).read_text(encoding="utf-8")), origin=path)


@st.cache_resource(max_entries=2, show_spinner=False)
def _tables(root_: str, key: tuple) -> dict:
    """The snapshot's tables, guarded (a damaged warehouse is refused by name) and opened
    once: the connection and the staleness check read their logs from these."""
    from ingest.warehouse.health_check import guard

    return guard(root_)


@st.cache_resource(max_entries=2, show_spinner="Reading the warehouse ...")
def _connection(root_: str, key: tuple) -> duckdb.DuckDBPyConnection:
    from ingest.warehouse import connection as warehouse
    from ingest.warehouse import views

    views.register_all(settings())
    con = warehouse.connect(
        root_, memory_limit=settings().warehouse.memory_limit, checked=_tables(root_, key)
    )
    queries.prepare(con)
    return con


def connection() -> duckdb.DuckDBPyConnection:
    """A cursor over the current snapshot (cheap; the prepared connection is cached)."""
    r = root()
    return _connection(str(r.resolve()), queries.snapshot_key(r)).cursor()


@st.cache_data(max_entries=512, show_spinner=False)
def _answer(_query: Callable[..., Any], name: str, root_: str, key: tuple, args: tuple) -> Any:
    # Cached by the query's dotted name (`name`), the snapshot and the arguments; the function
    # itself is not hashed (a leading underscore tells Streamlit so).
    con = _connection(root_, key).cursor()
    try:
        return _query(con, *args)
    finally:
        con.close()


def ask(query: Callable[..., Any], *args: Any) -> Any:
    """Run `query(con, *args)`, a function of dashboard.queries, once per snapshot and
    arguments."""
    r = root()
    name = f"{query.__module__}.{query.__qualname__}"
    return _answer(query, name, str(r.resolve()), queries.snapshot_key(r), args)


def has(relation: str) -> bool:
    """Whether a derived dataset (classified_costs, gpu_hours) is built and holds rows."""
    return relation in ask(queries.available)


def not_yet(what: str, how: str) -> None:
    st.info(f"**{what}** is not available yet: {how}")


def empty_warehouse() -> None:
    st.info(
        "The warehouse has no billing data yet. Ingest an export, for example\n\n"
        "```\nfinops ingest aws PATH_TO_CUR_EXPORT\nfinops ingest azure PATH\n"
        "finops ingest gcp PATH\n```\n\nor build the sample enterprise with `finops demo`."
    )


def ready() -> bool:
    """False when the page must not render: a login is required (every page checks, not only
    the app), there is nothing to show yet (then it says how to ingest), or derived data is
    stale (then it says so rather than show wrong figures)."""
    if login.login_needed(settings()):
        login.login_page()
        st.stop()
    if not queries.has_data(root()):
        empty_warehouse()
        return False
    if not queries.rollups_built(root()):
        # written before the ingest kept them, or a refresh that never ran: nothing to total
        not_yet(
            "Spend rollups",
            "the cost lines are loaded but not summed for the dashboard yet; run "
            "`finops vacuum` (or ingest again) to build them.",
        )
        return False
    return derived_current()


@st.cache_data(max_entries=8, show_spinner=False)
def _stale(root_: str, key: tuple) -> list:
    from ingest.derive.lineage import stale_of

    tables = _tables(root_, key)
    return [s for s in stale_of(tables.get, settings()) if s.recorded]


@st.fragment(run_every=2)
def _until_written(r: Path) -> None:
    """Say a load is finishing, and look again every 2 s: the page comes back by itself once
    the writer lets go (a refresh of a large month takes seconds)."""
    from ingest.warehouse.store import writing

    if not writing(r):
        st.rerun(scope="app")
    st.info("A load is finishing; figures will refresh in a moment.")


def derived_current() -> bool:
    """False (and one message instead of figures) when classifications or GPU-hours were not
    rebuilt after the last load: a load still finishing, or one that was killed."""
    from ingest.derive.lineage import REPAIR, explain
    from ingest.warehouse.store import writing

    r = root()
    found = _stale(str(r.resolve()), queries.snapshot_key(r))
    if not found:
        return True
    if writing(r):
        _until_written(r)
        return False
    st.error(
        f"**Derived data is out of date**, so figures would be wrong: {explain(found)}. "
        f"To repair it, {REPAIR}."
    )
    return False


def filters() -> Filters:
    return st.session_state.get(FILTERS_KEY, Filters())


def _chosen(listed: list) -> object:
    """The currency chosen under Filters when `listed` has it, else the first listed."""
    picked = st.session_state.get(CURRENCY_KEY)
    return picked if picked in listed else listed[0]


def basis() -> CostBasis:
    """The cost basis chosen under Filters (amortised unless the user or the link said)."""
    return filters().basis


def cost_label(cur: str) -> str:
    """What the page's money figures are: 'Amortised cost (USD)' or 'Billed cost (USD)'."""
    return basis().label(cur)


def labelled(frame: pl.DataFrame, cur: str, column: str = "cost") -> pl.DataFrame:
    """`frame` with its money column headed by its basis: 'Amortised cost (USD)'."""
    return frame.rename({column: cost_label(cur)}) if column in frame.columns else frame


FIXED_BASIS = (
    "{what} is amortised cost whatever the Cost basis filter says: a GPU-hour costs what "
    "its instance or asset costs with commitments spread over the hours they cover."
)


def currency() -> str:
    """The currency pages total in: the one chosen under Filters, else the largest; mixed
    currencies are never summed."""
    listed = ask(queries.currencies, filters())["currency"].to_list()
    if not listed:
        return "USD"
    cur = _chosen(listed)
    if len(listed) > 1:
        others = ", ".join(c for c in listed if c != cur)
        st.caption(
            f"Totals in {cur}; spend in {others} is totalled on its own (Filters: Currency)."
        )
    return str(cur)


def gpu_currency() -> str | None:
    """The one currency GPU-hour costs are totalled in: the page's (Filters: Currency) when
    GPU compute is billed in it, else the one most GPU cost is billed in. GPU-hours billed in
    another currency are totalled on their own, never added in."""
    listed = ask(queries_gpu.currencies)
    if not listed:
        return None
    picked = st.session_state.get(CURRENCY_KEY)
    cur = _chosen(listed)
    if cur is None:
        st.caption(
            "gpu_hours was built before it kept each GPU-hour's currency: "
            "`finops classify` rebuilds it."
        )
    elif len(listed) > 1:
        others = ", ".join(str(c) for c in listed if c != cur)
        st.caption(f"GPU-hours in {cur}; those billed in {others} are totalled on their own "
                   "(Filters: Currency).")  # fmt: skip
    elif picked and picked != cur:
        st.caption(f"No GPU compute is billed in {picked}: GPU-hours are in {cur}.")
    return cur


def money(value: object, cur: str = "USD") -> str:
    """'USD 1,234.57': at the currency's minor units, rounded half-even as the totals are
    rounded everywhere else (JPY 1,235)."""
    if value is None:
        return "–"
    return f"{cur} {labels.money_cell(value, cur):,f}"


def share(part: object, whole: object) -> str:
    if not whole or part is None:
        return "–"
    return f"{float(part) / float(whole):.1%}"


def table(
    frame: pl.DataFrame,
    cur: str | None = None,
    exact: bool = False,
    csv: tuple[str, str] | None = None,
    show: list[str] | None = None,
    **options: Any,
) -> None:
    """`st.dataframe` for people (dashboard/labels.py says how): headings in words with their
    units, money in `cur` at its minor units, counts whole, shares as 58.1%, codes as words.
    `csv` = (what, file name) adds a "Download <what> (CSV)" button: the same headings, a
    currency column beside the money, and with `exact` (line items, where a request costs
    USD 0.0000004) money with every digit. `show` lists the columns drawn, so that a wide
    table fits the page at 1440 px; the CSV keeps every column."""
    shown = _no_none(labels.shown(frame, cur), cur)
    if show is not None:
        options["column_order"] = [c for c in show if c in shown.columns]
    st.dataframe(shown, hide_index=True, column_config=column_config(shown, cur), **options)
    if csv is not None:
        what, name = csv
        data = labels.csv_bytes(frame, cur, exact=exact)
        st.download_button(f"Download {what} (CSV)", data, file_name=name, mime="text/csv")


def _no_none(frame: pl.DataFrame, cur: str | None) -> pl.DataFrame:
    """A number column with empty cells as text ('1,234.50', '–'): the table would print an
    empty number as the word None."""
    blanks = [
        pl.col(n).map_elements(
            lambda v, k=labels.kind_of(n, t): labels.number_text(v, k, cur),
            return_dtype=pl.String,
            skip_nulls=False,
        )
        for n, t in frame.schema.items()
        if t.is_numeric() and frame[n].null_count()
    ]
    return frame.with_columns(blanks) if blanks else frame


def column_config(frame: pl.DataFrame, cur: str | None) -> dict[str, Any]:
    """Each column's heading and number format (`labels.shown` has rounded the values)."""
    config: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        kind, text = labels.kind_of(name, dtype), labels.label(name, cur)
        digits = labels.decimals(kind, cur)
        if dtype.is_temporal():
            config[name] = _when(name, frame[name], kind, text)
        elif dtype.is_numeric() and digits is not None:
            if kind is labels.Kind.SHARE:
                fmt = "%.1f%%"  # `labels.shown` made 0.581 58.1
            elif kind is labels.Kind.COUNT and dtype.is_integer():
                fmt = "%,d"
            else:
                fmt = f"%,.{digits}f"
            config[name] = st.column_config.NumberColumn(text, format=fmt)
        elif kind not in (labels.Kind.TEXT, labels.Kind.ID):  # numbers as text (`_no_none`)
            config[name] = st.column_config.TextColumn(text, alignment="right")
        elif kind is labels.Kind.ID:
            # long ids (an Azure path) are cut inside their cell, not push money off the side
            config[name] = st.column_config.TextColumn(text, width="medium")
        else:
            config[name] = st.column_config.Column(text)
    return config


def _when(name: str, values: pl.Series, kind: labels.Kind, text: str) -> Any:
    """Months as 2026-10, days as dates (not their 00:00 instant), times to the minute."""
    dated = values.dtype == pl.Date
    if kind is labels.Kind.MONTH:
        fmt = "YYYY-MM"
    elif kind is labels.Kind.DATE or labels.as_days(name, values):
        fmt = "YYYY-MM-DD"
    else:
        fmt = "YYYY-MM-DD HH:mm"
    column = st.column_config.DateColumn if dated else st.column_config.DatetimeColumn
    return column(text, format=fmt)


def file_name(stem: str, suffix: str) -> str:
    """A download's file name from text a user typed (a tag key): letters, digits, - and _."""
    return re.sub(r"[^\w-]+", "_", stem) + suffix


def short_name(resource: str) -> str:
    """A resource's last path segment (the VM of an Azure id, the instance of a GCP self link
    or an ARN); an id without a path as it is."""
    return resource.rstrip("/").rsplit("/", 1)[-1] or resource


def money_tile(
    col: Any,
    label: str,
    value: object,
    cur: str = "USD",
    delta: str | None = None,
    about: str = "",
    note: str | None = None,
    **kw: Any,
) -> None:
    """A metric tile of money: whole units from 100,000 up and millions as 3.32M, so a
    tile's figure is never cut off; the exact amount is the tile's help, then `about`.

    `delta` is a change of spend: an increase is bad, so it is drawn red ("inverse") unless
    the caller says otherwise (a saving grown is good: delta_color="normal"). A figure that
    is not a change (a share, a count) is a `note` under the tile, with no arrow."""
    exact = f"{money(value, cur)} exactly" + (f". {about}" if about else "")
    if delta is not None:
        kw.setdefault("delta_color", "inverse")
    col.metric(label, short_money(value, cur), delta, help=exact, **kw)
    if note:
        col.caption(note)


def short_money(value: object, cur: str = "USD") -> str:
    """Money as a tile shows it (see `money_tile`)."""
    if value is None:
        return money(value, cur)
    v = Decimal(str(value))
    if abs(v) >= 1_000_000:
        return f"{cur} {v / 1_000_000:,.2f}M"
    if abs(v) >= 100_000:
        return f"{cur} {v:,.0f}"
    return money(value, cur)
