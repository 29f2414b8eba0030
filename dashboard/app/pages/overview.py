"""Overview (CIO): the period's story in one line, AI spend this month and last, trend by
provider and AI class, the KPI tiles (tool consolidation and own-vs-rent among them)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import palette
from dashboard.app import charts, session, url, verdicts
from dashboard.app.session import money, money_tile, share, short_money
from dashboard.labels import value_words, words
from dashboard.queries import alerts as queries_alerts
from dashboard.queries import forecast as queries_forecast
from dashboard.queries import gpu as queries_gpu
from dashboard.queries import movement as queries_movement
from dashboard.queries import providers as queries_providers
from dashboard.queries import spend as queries
from dashboard.queries import unit_costs as queries_unit


def read() -> dict:
    f = session.filters()
    cur = session.currency()
    out = {
        "cur": cur,
        "head": session.ask(queries.headline, f, cur),
        "by_provider": session.ask(queries.monthly, f, "provider", cur),
        "provider_kinds": session.ask(queries_providers.kinds),
        "by_class": session.ask(queries.monthly, f, "AI class", cur),
        "movers": session.ask(queries.movers, f, cur, "service"),
        "classified": session.has("classified_costs"),
        "anomalies": session.ask(queries_forecast.anomalies, f, cur),
        "tools": session.ask(queries_movement.tools, f, cur),  # tools_monthly: small
        "alerts": session.ask(queries_alerts.open_conditions),  # alert_state: small
        "gpu": None,
    }
    if session.has("gpu_hours"):
        gpu_cur = session.gpu_currency()
        out["gpu"] = session.ask(queries_gpu.utilisation, f, gpu_cur)
        out["gpu_cur"] = gpu_cur or ""
        out["costliest_idle"] = session.ask(queries_gpu.costliest_idle, f, gpu_cur)
    return out


def render(d: dict) -> None:
    h, cur = d["head"], d["cur"]
    label = session.cost_label(cur)
    told = story(d)
    if told:
        st.markdown(told)
    _open_alerts(d["alerts"])
    st.caption(f"Tiles and charts show {label} (Filters: Cost basis).")
    month = h["month"].strftime("%B %Y") if h["month"] else "–"
    a, b, c, e = st.columns(4)
    money_tile(a, "Spend in the period", h["total"], cur)
    money_tile(b, f"This month ({month})", h["this_month"], cur, _delta(h))
    money_tile(c, "Last month", h["last_month"], cur)
    _untagged_tile(e, h, cur)
    url.page_link(a, "explorer.py", "Spend explorer")
    url.page_link(b, "forecast.py", "Forecast")
    url.page_link(e, "explorer.py", "Spend by team", by="team")
    a, b, c, e = st.columns(4)
    if d["classified"]:
        money_tile(a, "AI spend", h["ai"], cur)
        b.metric("Egress share of AI spend", share(h["egress"], h["ai"]))
    else:
        a.metric("AI spend", "–")
        b.metric("Egress share of AI spend", "–")
    _gpu_tiles(d["gpu"], c, e, d.get("gpu_cur", cur))
    url.page_link(a, "workloads.py", "Workloads")
    url.page_link(b, "movement.py", "Data movement")
    if d.get("costliest_idle"):  # one click to the resource that idles the most money away
        top, idle = d["costliest_idle"]
        costliest = f"{session.short_name(top)}: {short_money(idle, d['gpu_cur'])} idle"
        url.page_link(c, "idle.py", costliest, resource=top)
    url.page_link(e, "own_vs_rent.py", "Own vs rent")
    if not d["classified"]:
        session.not_yet("AI classes", "run `finops classify` after ingesting billing data.")
    _answer_tiles(d, cur)
    left, right = st.columns(2)
    with left:
        _providers(d["by_provider"], d["provider_kinds"], label, cur)
    right.plotly_chart(charts.stacked_monthly(d["by_class"], f"Spend by AI class — {label}", cur))
    left, right = st.columns([2, 3])  # the anomalies' table needs the wider half
    left.plotly_chart(
        charts.movers(d["movers"], f"Biggest movers (service, month on month) — {label}", cur)
    )
    with right:
        st.subheader("Anomalies")
        top = d["anomalies"].head(5)
        if top.height:
            st.caption(label)
            # what it is in ("Team: research"), the excess, then the days
            what = pl.concat_str(
                pl.col("dimension").map_elements(words, return_dtype=pl.String),
                pl.lit(": "),
                pl.col("key").map_elements(value_words, return_dtype=pl.String),
            )
            shown = top.select(what.alias("anomaly"), "excess", "start", "end")
            session.table(shown, cur)
        else:
            st.write("No spend anomaly in the period.")
        url.page_link(st, "forecast.py", "Anomalies with drivers")
    if d["gpu"] is not None and d["gpu"].height:
        st.subheader("GPU utilisation by environment")
        session.table(d["gpu"], d.get("gpu_cur", cur))


def story(d: dict) -> str | None:
    """The period in one line, every figure as its tile shows it: AI spend, this month
    against last, idle GPUs' cost and share of GPU cost, the biggest mover."""
    h, cur = d["head"], d["cur"]
    if h["total"] is None:
        return None
    what, amount = ("AI spend", h["ai"]) if d["classified"] else ("Spend", h["total"])
    parts = [f"**{what} {short_money(amount, cur)}** in the period"]
    delta = _delta(h)
    if delta:
        parts.append(f"this month {short_money(h['this_month'], cur)}, {delta}")
    gpu = d["gpu"]
    if gpu is not None and gpu.height:
        gpu_cur = d.get("gpu_cur", cur)
        idle, cost = gpu["idle_cost"].sum(), gpu["cost"].sum()
        parts.append(f"idle GPUs {short_money(idle, gpu_cur)} = {share(idle, cost)} of GPU cost")
    movers = d["movers"]
    if movers.height:
        top = movers.row(0, named=True)
        change = top["change"]
        sign = "+" if change >= 0 else "−"
        parts.append(
            f"biggest mover: {value_words(top['key'])}, {sign}{short_money(abs(change), cur)} "
            "on last month"
        )
    return "; ".join(parts) + "."


def alerts_line(open_: pl.DataFrame) -> str | None:
    """The alert conditions `finops watch` found holding, in one line (None: none)."""
    if not open_.height:
        return None
    first = open_.row(0, named=True)
    n = open_.height
    more = f" and {n - 1:,} more" if n > 1 else ""
    return f"**{n:,} open alert{'s' if n > 1 else ''}**: {first['title']}{more}."


def _open_alerts(open_: pl.DataFrame) -> None:
    line = alerts_line(open_)
    if line:
        st.warning(line, icon=":material/notifications:")
        url.page_link(st, "alerts.py", "Alerts")


def saving(tools: pl.DataFrame) -> object:
    """What consolidating each tool family onto its cheapest tool per active seat saves (the
    Tools & SaaS page's figure)."""
    if tools.height == 0:
        return None
    return queries_movement.consolidation(tools)["saving"].sum()


def _answer_tiles(d: dict, cur: str) -> None:
    """Tool consolidation savings and the own-vs-rent verdict, each a link to its page. The
    verdict is read from the GPU demand rollups (two small tables); a warehouse without them
    would read every GPU-hour, so there it is drawn when asked for."""
    a, t, b = st.columns(3)
    with t:
        _served_tile()
    with a:
        money_tile(
            st,
            "Tool consolidation savings",
            saving(d["tools"]),
            cur,
            about="Every active seat of a tool family moved to its cheapest tool per seat.",
        )
        url.page_link(st, "tools.py", "Tools & SaaS")
    with b:
        told = st.session_state.get(verdicts.OWN_VS_RENT_KEY)
        if told is None and "gpu_demand" in session.ask(queries.relations):
            told = _own_vs_rent_verdict()
        st.markdown(f"**Own vs rent**: {told}" if told else "**Own vs rent**")
        if not told:
            st.caption("The verdict reads a year of GPU-hours: opened on request.")
            if st.button("Show the own-vs-rent verdict", key="ov_own_vs_rent"):
                _own_vs_rent_verdict()
                st.rerun()
        url.page_link(st, "own_vs_rent.py", "Own vs rent")


def _served_tile() -> None:
    """Cost per 1M tokens served by our own model servers in the latest month (the small
    unit_costs table; never cost lines or GPU-hours)."""
    tile = session.ask(queries_unit.served_tile)
    if tile is None:
        st.metric("Cost per 1M tokens served", "–", help="No self-hosted model serving yet")
        st.caption("Ingest model-server metrics: `finops ingest serving prometheus ...`")
    else:
        st.metric(
            "Cost per 1M tokens served",
            money(tile["per_1m"], tile["currency"]),
            help=f"Self-hosted models, {tile['month']}: the GPU-hours of their hosts over "
            f"{tile['tokens']:,.0f} input and output tokens",
        )
        st.caption(f"Self-hosted, {tile['month']}")
    url.page_link(st, "unit_costs.py", "Unit costs")


def _own_vs_rent_verdict() -> str | None:
    """The Own vs rent page's verdict at its defaults (what the page stores when visited)."""
    from dashboard.queries import own_vs_rent as queries_own
    from models.errors import FinopsError
    from models.recommendation import to_dict

    if not session.has("gpu_hours"):
        st.caption("Needs GPU billing and telemetry.")
        return None
    settings = session.settings().own_vs_rent
    try:
        rec = session.ask(queries_own.recommendation, settings, settings.gpu, settings.months, ())
    except FinopsError as exc:
        st.caption(exc.render())
        return None
    told = verdicts.own_vs_rent(to_dict(rec), rec.node)
    st.session_state[verdicts.OWN_VS_RENT_KEY] = told
    return told


def grouped(by_provider: pl.DataFrame, kinds: dict[str, str]) -> pl.DataFrame:
    """Spend by provider with the SaaS vendors as one "SaaS & tools" series."""
    saas = [p for p, k in kinds.items() if k == queries_providers.SAAS]
    return (
        by_provider.with_columns(
            pl.when(pl.col("key").is_in(saas))
            .then(pl.lit(palette.SAAS))
            .otherwise(pl.col("key"))
            .alias("key")
        )
        .group_by("month", "key", maintain_order=True)
        .agg(pl.col("cost").sum())
        .sort("month")
    )


def _providers(by_provider: pl.DataFrame, kinds: dict[str, str], label: str, cur: str) -> None:
    """The clouds and on-prem at a glance; the SaaS vendors one click below."""
    sites = {p: palette.ON_PREM for p, k in kinds.items() if k == queries_providers.ON_PREM}
    st.plotly_chart(
        charts.stacked_monthly(
            grouped(by_provider, kinds), f"Spend by provider — {label}", cur, groups=sites
        )
    )
    vendors = by_provider.filter(
        pl.col("key").is_in([p for p, k in kinds.items() if k == queries_providers.SAAS])
    )
    if vendors.height:
        with st.expander(f"{palette.SAAS}: {vendors['key'].n_unique()} vendors"):
            st.plotly_chart(
                charts.stacked_monthly(vendors, f"{palette.SAAS} by vendor — {label}", cur),
                key="overview_saas_vendors",
            )


def _delta(h: dict) -> str | None:
    if not h["last_month"] or h["this_month"] is None:
        return None
    return f"{float(h['this_month']) / float(h['last_month']) - 1:+.1%} on last month"


def _untagged_tile(col, h: dict, cur: str) -> None:
    """Untagged spend (`queries.UNTAGGED` says what it is). When the untagged lines' credits
    outweigh their charges the net is not spend: the tile says so in words."""
    untagged, tagged, total = h["untagged"], h["tagged"], h["total"]
    if untagged is not None and untagged < 0:
        col.metric(
            "Untagged spend",
            "net credit",
            f"credits exceed charges by {short_money(-untagged, cur)}",
            delta_color="off",
            delta_arrow="off",
            help=f"{money(untagged, cur)} exactly. {queries.UNTAGGED}",
        )
        return
    # a share of spend only when both parts are spend (credits can outweigh either)
    coverage = share(tagged, total) if tagged is not None and 0 <= tagged <= total else "–"
    money_tile(
        col,
        "Untagged spend",
        untagged,
        cur,
        about=queries.UNTAGGED,
        note=f"Tag coverage {coverage}",
    )


def _gpu_tiles(gpu, c, e, cur: str) -> None:
    if gpu is None or gpu.height == 0:
        c.metric("Idle GPU cost", "–")
        e.metric("Cost per useful GPU-hour", "–")
        session.not_yet("GPU utilisation", "ingest GPU telemetry (`finops ingest telemetry ...`).")
        return
    idle, cost = gpu["idle_cost"].sum(), gpu["cost"].sum()
    useful = int(gpu["useful_hours"].sum())
    money_tile(c, "Idle GPU cost", idle, cur, note=f"{share(idle, cost)} of GPU cost")
    st.caption(session.FIXED_BASIS.format(what="Idle GPU cost"))
    e.metric("Cost per useful GPU-hour", money(float(cost) / useful, cur) if useful else "–")
    parts = [
        f"{value_words(r['deployment'])}: {float(r['mean_activity'] or 0):.0%}"
        for r in gpu.iter_rows(named=True)
    ]
    st.caption("Mean GPU activity (monitored hours) — " + ", ".join(parts))


if session.ready():
    st.title("Overview")  # before read(): its currency note goes under the title
    render(read())
